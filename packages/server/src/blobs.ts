/**
 * The relay's blob store (docs/PROTOCOL.md §9): opaque, already-encrypted file chunks kept on disk
 * for a while, so that a sender and its receivers need not be online at the same time. The relay
 * learns sizes and timing, nothing else: blob ids and write tokens are random capabilities chosen
 * by the uploader, and it never logs or echoes them.
 *
 * Disk layout under `dir`:
 *   .nullroom-blobs           marker: this directory is ours to wipe (we refuse a foreign non-empty one)
 *   .tmp/<random>             chunks being received; renamed into place only when complete
 *   .trash/<random>           a removed blob's directory, between its rename and its deletion
 *   <hex(id bytes)>/<index>   committed chunks (hex, not the base64url id: case-insensitive file
 *                             systems would otherwise merge ids that differ only in case)
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { addressKey } from './address.js';
import { parseTarget } from './target.js';
import { BLOB_TICKET_HEADER, type Tickets } from './tickets.js';

export interface BlobOptions {
  /** Where chunks are kept; wiped on start and on close. Default: a fresh directory under the OS temp dir (removed on close). */
  dir?: string;
  /** Largest chunk (request body), in bytes. */
  maxChunkBytes?: number;
  /** Largest blob (sum of its chunks), in bytes. */
  maxBlobBytes?: number;
  /** Largest store; every chunk counts at least MIN_CHUNK_CHARGE bytes against it. */
  maxTotalBytes?: number;
  /** A blob is removed this long after its last write. */
  ttlMs?: number;
  /** Cap on a GET's `?wait=`. */
  maxWaitMs?: number;
  /** Concurrent waiting GETs; 503 beyond. */
  maxWaiters?: number;
  /** Live blobs (and, separately, remembered deletions); 507 beyond. */
  maxBlobs?: number;
  /**
   * Upload bodies held in memory at once (each is read whole before it is written), by their
   * declared lengths; 503 beyond, which clients retry. At least maxChunkBytes.
   */
  maxUploadBufferBytes?: number;
  /** Of maxUploadBufferBytes, what the uploads from one address (IPv6: one /64) may hold at once; 429 beyond. */
  maxUploadBufferBytesPerIp?: number;
  /** Of maxUploadBufferBytes, what the uploads with one ticket may hold at once; 429 beyond. */
  maxUploadBufferBytesPerTicket?: number;
  /** Live blobs created through the tickets of one room; 507 beyond. */
  maxBlobsPerRoom?: number;
  /** Bytes of one room's blobs, stored or in flight (each chunk counted as for maxTotalBytes); 507 beyond. */
  maxBytesPerRoom?: number;
  /** Blobs one ticket (one connection's stay in a room) may create; 507 beyond. */
  maxBlobsPerTicket?: number;
  /** Body bytes one ticket may upload (declared lengths, re-sends included); 507 beyond. */
  maxBytesPerTicket?: number;
  /** Live blobs created from one address (IPv6: one /64); 507 beyond. */
  maxBlobsPerIp?: number;
  /** Bytes of the blobs created from one address, stored or in flight; 507 beyond. */
  maxBytesPerIp?: number;
  /** Waiting GETs from one address (IPv6: one /64); 429 beyond. */
  maxWaitersPerIp?: number;
  /**
   * The pace an upload body must keep: at least this many bytes per second, averaged over
   * uploadRateWindowMs (over the time since the body began while that is shorter), checked once
   * uploadGraceMs have passed; a body below it is cut (408, connection closed).
   */
  minUploadBytesPerSecond?: number;
  uploadRateWindowMs?: number;
  uploadGraceMs?: number;
  /** An upload body still arriving this long after its headers is cut (408, connection closed). */
  maxUploadMs?: number;
}

export type ResolvedBlobOptions = Required<Omit<BlobOptions, 'dir'>> & { dir: string | undefined };

export const defaultBlobOptions: Readonly<Required<Omit<BlobOptions, 'dir'>>> = Object.freeze({
  // The clients' 4 MiB chunks (DEFAULT_TRANSFER_CHUNK) with their tag, and room to spare.
  maxChunkBytes: 4 * 1024 * 1024 + 64 * 1024,
  maxBlobBytes: 4 * 1024 ** 3,
  maxTotalBytes: 16 * 1024 ** 3,
  ttlMs: 24 * 60 * 60 * 1000,
  maxWaitMs: 30_000,
  maxWaiters: 1024,
  maxBlobs: 100_000,
  maxUploadBufferBytes: 64 * 1024 * 1024,
  // A quarter of the budget each: a single client (or one address) cannot lock the others out.
  // Four chunks: two uploads in flight (the clients' concurrency) of two files at once.
  maxUploadBufferBytesPerIp: 4 * (4 * 1024 * 1024 + 64 * 1024),
  maxUploadBufferBytesPerTicket: 4 * (4 * 1024 * 1024 + 64 * 1024),
  maxBlobsPerRoom: 4096,
  maxBytesPerRoom: 8 * 1024 ** 3,
  maxBlobsPerTicket: 1024,
  maxBytesPerTicket: 8 * 1024 ** 3,
  maxBlobsPerIp: 4096,
  maxBytesPerIp: 8 * 1024 ** 3,
  maxWaitersPerIp: 128,
  // 16 KiB/s (128 kbit/s, a poor mobile link) over 10 s: a 4 MiB chunk at the floor takes ~4.4 min,
  // which maxUploadMs allows (docs/OPERATING.md "Blob store").
  minUploadBytesPerSecond: 16 * 1024,
  uploadRateWindowMs: 10_000,
  uploadGraceMs: 3_000,
  maxUploadMs: 300_000,
});

/**
 * Every chunk counts at least this many bytes against `maxTotalBytes` (its real size otherwise), so
 * that a flood of tiny chunks cannot exhaust the disk's inodes or the relay's memory within the quota.
 */
export const MIN_CHUNK_CHARGE = 64 * 1024;
export const BLOB_TOKEN_HEADER = 'x-nullroom-blob-token';
export const BLOB_CHUNKS_HEADER = 'X-Nullroom-Blob-Chunks';
/** On a refusal that a client may act on: a stable code (docs/PROTOCOL.md §9, e.g. BAD_TICKET: ask for a new ticket). */
export const BLOB_ERROR_HEADER = 'X-Nullroom-Blob-Error';
export { BLOB_TICKET_HEADER };
export const MAX_CHUNK_INDEX = 2 ** 31 - 1;

const MARKER = '.nullroom-blobs';
const TMP = '.tmp';
const TRASH = '.trash';
const ID = /^[A-Za-z0-9_-]{22}$/;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const INDEX = /^(0|[1-9][0-9]{0,9})$/;
const WAIT = /^[0-9]{1,10}$/;

/** Checks the options (a message naming the bad field, for a config error) and fills in defaults. */
export function resolveBlobOptions(o: BlobOptions = {}): ResolvedBlobOptions {
  const r: ResolvedBlobOptions = { ...defaultBlobOptions, dir: o.dir };
  for (const k of Object.keys(defaultBlobOptions) as (keyof typeof defaultBlobOptions)[]) {
    const v = o[k] ?? defaultBlobOptions[k];
    if (!Number.isSafeInteger(v) || v < (k === 'maxWaitMs' ? 0 : 1)) throw new RangeError(`blobs.${k} must be a ${k === 'maxWaitMs' ? 'non-negative' : 'positive'} integer`);
    r[k] = v;
  }
  if (r.maxUploadBufferBytes < r.maxChunkBytes) throw new RangeError('blobs.maxUploadBufferBytes must be at least blobs.maxChunkBytes');
  for (const k of ['maxUploadBufferBytesPerIp', 'maxUploadBufferBytesPerTicket'] as const) {
    // An explicit share must let one chunk through; a default one follows a smaller budget down.
    if (o[k] === undefined) r[k] = Math.max(r.maxChunkBytes, Math.min(r[k], r.maxUploadBufferBytes));
    if (r[k] < r.maxChunkBytes) throw new RangeError(`blobs.${k} must be at least blobs.maxChunkBytes`);
  }
  return r;
}

/** A base64url string that decodes to exactly `bytes` bytes and is that value's only encoding. */
function canonical(s: string, re: RegExp): Buffer | undefined {
  if (!re.test(s)) return undefined;
  const b = Buffer.from(s, 'base64url');
  return b.toString('base64url') === s ? b : undefined;
}

const charge = (n: number) => Math.max(n, MIN_CHUNK_CHARGE);

interface BlobRecord {
  readonly id: string;
  readonly dir: string;
  readonly tokenHash: Buffer;
  /** The room (locator key) whose ticket created it, and the address (addressOf) it came from: its quotas. */
  readonly room: string;
  readonly ip: string;
  /** index -> size of committed chunks. */
  readonly chunks: Map<number, number>;
  bytes: number;
  charged: number;
  /** Declared sizes of uploads in flight. */
  reserved: number;
  inflight: number;
  lastWrite: number;
  dead: boolean;
  /** Commits (rename + bookkeeping) run one at a time per blob, in order. */
  commits: Promise<unknown>;
}

/** What one room or one address holds in the store (its quotas). */
interface Use {
  blobs: number;
  /** Charged bytes of its stored chunks (as for maxTotalBytes). */
  charged: number;
  /** Charged bytes of its uploads in flight. */
  reserved: number;
}

/** An upload body being read, as the pacer sees it. */
interface Upload {
  readonly start: number;
  received: number;
  /** [time, received] over the last rate window, oldest first: the first one is the anchor. */
  samples: [number, number][];
  /** Answers 408, closes the connection and gives back the reservation at once. */
  cut(why: string): void;
}

type WaitResult = 'ready' | 'gone' | 'timeout' | 'closing' | 'closed';
interface Waiter {
  readonly index: number;
  done(r: WaitResult): void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Sent in BLOB_ERROR_HEADER. */
    readonly code?: string,
    readonly extra: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

/** Writes `pieces` (`len` bytes) to a new file at `path` with one writev; a short write is an error. */
async function writeAll(path: string, pieces: Buffer[], len: number): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  try {
    const { bytesWritten } = await fh.writev(pieces);
    if (bytesWritten !== len) throw new Error('short write');
  } finally {
    await fh.close();
  }
}

/** Memory for the chunks written last (see BlobStore.recent). */
const RECENT_BYTES = 32 * 1024 * 1024;

export class BlobStore {
  private readonly blobs = new Map<string, BlobRecord>();
  /** Removed blobs (deleted or expired) -> when to forget them; answered with 410 until then. */
  private readonly tombstones = new Map<string, number>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  /**
   * The chunks written last, kept in memory as well as on disk (FIFO, at most RECENT_BYTES): a
   * receiver that keeps up with the sender is served from here, without reading the disk again.
   */
  private readonly recent = new Map<string, Buffer[]>();
  private recentBytes = 0;
  private waiting = 0;
  /** Waiting GETs per address (maxWaitersPerIp). */
  private readonly ipWaiting = new Map<string, number>();
  /** Per room and per address: what their blobs hold (the quotas). */
  private readonly roomUse = new Map<string, Use>();
  private readonly ipUse = new Map<string, Use>();
  /** Declared lengths of the bodies being read now, per address (maxUploadBufferBytesPerIp). */
  private readonly ipBuffering = new Map<string, number>();
  /** Bodies being read now, checked by the pacer. */
  private readonly uploads = new Set<Upload>();
  private pacer: NodeJS.Timeout | undefined;
  /** Declared lengths of the upload bodies being read into memory now (maxUploadBufferBytes). */
  private buffering = 0;
  private totalCharged = 0;
  private totalBytes = 0;
  private reservedCharge = 0;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly sweeper: NodeJS.Timeout;
  private closing = false;

  private constructor(
    readonly root: string,
    private readonly ownRoot: boolean,
    private readonly o: ResolvedBlobOptions,
    private readonly headers: Record<string, string>,
    private readonly log: ((line: string) => void) | undefined,
    private readonly tickets: Tickets,
    private readonly addressOf: (req: IncomingMessage) => string,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, Math.max(20, Math.floor(o.ttlMs / 2))));
    this.sweeper.unref();
  }

  /**
   * Opens the store: creates (or wipes) its directory. A directory that exists, is not empty, and
   * does not carry our marker is refused rather than wiped: `--blob-dir ~` must not erase a home.
   */
  /**
   * @param addressOf the key a request's per-address quotas count against: the relay's own (the
   *   socket's address, or with trustProxy the proxy's X-Forwarded-For hop; IPv6 by /64, address.ts).
   */
  static async open(
    opts: BlobOptions,
    headers: Record<string, string>,
    log: ((line: string) => void) | undefined,
    tickets: Tickets,
    addressOf: (req: IncomingMessage) => string = (req) => addressKey(req.socket.remoteAddress ?? ''),
  ): Promise<BlobStore> {
    const o = resolveBlobOptions(opts);
    let root: string;
    const own = o.dir === undefined;
    if (o.dir === undefined) {
      root = await mkdtemp(join(tmpdir(), 'nullroom-blobs-'));
    } else {
      root = o.dir;
      await mkdir(root, { recursive: true, mode: 0o700 });
      const entries = await readdir(root);
      if (entries.length > 0 && !entries.includes(MARKER)) {
        throw new Error(`blob directory ${root} is not empty and was not made by nullroom; refusing to wipe it`);
      }
      await wipe(root);
    }
    await writeFile(join(root, MARKER), 'Nullroom blob store: wiped whenever the relay starts or stops.\n');
    await mkdir(join(root, TMP), { mode: 0o700 });
    await mkdir(join(root, TRASH), { mode: 0o700 });
    return new BlobStore(root, own, o, headers, log, tickets, addressOf);
  }

  stats(): { blobs: number; bytes: number } {
    return { blobs: this.blobs.size, bytes: this.totalBytes };
  }

  /** Stops the timer, ends every waiting GET (503) and refuses new requests. */
  stop(): void {
    this.closing = true;
    clearInterval(this.sweeper);
    clearInterval(this.pacer);
    this.pacer = undefined;
    for (const set of this.waiters.values()) for (const w of [...set]) w.done('closing');
  }

  /** After the server has closed: waits for uploads to clean up, then wipes the store (removes it if we made it). */
  async dispose(): Promise<void> {
    this.stop();
    await Promise.allSettled([...this.inflight]);
    await (this.ownRoot ? rm(this.root, { recursive: true, force: true }) : wipe(this.root)).catch(() => undefined);
    this.blobs.clear();
    this.tombstones.clear();
  }

  /** The HTTP handler for everything under /blobs. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const p = this.route(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) return this.reply(req, res, e.status, e.message, e.extra, e.code);
      this.log?.(`blob ${req.method ?? '?'} internal error ${(e as { code?: string }).code ?? ''}`.trimEnd());
      if (!res.headersSent) this.reply(req, res, 500, 'internal error');
      else res.destroy();
    });
    this.track(p);
  };

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    p.finally(() => this.inflight.delete(p)).catch(() => undefined);
  }

  private reply(req: IncomingMessage, res: ServerResponse, status: number, text: string, extra: Record<string, string | number> = {}, code?: string): void {
    if (res.headersSent) return void res.destroy();
    const body = `${text}\n`;
    // A refused upload's body is left unread: Node drains it to keep the connection alive, which is
    // fine up to one chunk; anything larger or of unknown length ends the connection instead.
    const declared = Number(req.headers['content-length'] ?? NaN);
    const small = Number.isSafeInteger(declared) && declared <= this.o.maxChunkBytes;
    const close = req.method === 'PUT' && !req.readableEnded && !small ? { Connection: 'close' } : {};
    res.writeHead(status, {
      ...this.headers,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      ...close,
      ...extra,
      ...(code === undefined ? {} : { [BLOB_ERROR_HEADER]: code }),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    this.log?.(`blob ${req.method ?? '?'} ${status}`);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.closing) return this.reply(req, res, 503, 'shutting down', { Connection: 'close' });
    const url = parseTarget(req.url) ?? { pathname: '/', searchParams: new URLSearchParams() }; // http.ts refused bad targets (400)
    const parts = url.pathname.split('/');
    // ['', 'blobs', id] or ['', 'blobs', id, index]
    if (parts[1] !== 'blobs' || parts.length < 3 || parts.length > 4) throw new HttpError(404, 'not found');
    const id = parts[2]!;
    const key = canonical(id, ID);
    if (key === undefined) throw new HttpError(400, 'bad blob id');
    this.expireIfDue(id);
    if (parts.length === 3) {
      if (req.method === 'HEAD') return this.head(req, res, id);
      if (req.method === 'DELETE') return this.remove(req, res, id);
      return this.reply(req, res, 405, 'method not allowed', { Allow: 'HEAD, DELETE' });
    }
    const index = parseIndex(parts[3]!);
    if (req.method === 'GET') return this.get(req, res, id, index, url.searchParams.get('wait'));
    if (req.method === 'PUT') return this.put(req, res, id, key, index);
    return this.reply(req, res, 405, 'method not allowed', { Allow: 'GET, PUT' });
  }

  private head(req: IncomingMessage, res: ServerResponse, id: string): void {
    if (this.tombstones.has(id)) throw new HttpError(410, 'gone');
    const b = this.blobs.get(id);
    if (b === undefined) throw new HttpError(404, 'not found');
    let n = 0;
    while (b.chunks.has(n)) n++;
    res.writeHead(200, { ...this.headers, 'Cache-Control': 'no-store', [BLOB_CHUNKS_HEADER]: String(n) });
    res.end();
    this.log?.(`blob HEAD 200`);
  }

  private authorize(req: IncomingMessage, b: BlobRecord): void {
    const h = tokenHash(req);
    if (h === undefined || !timingSafeEqual(h, b.tokenHash)) throw new HttpError(403, 'forbidden');
  }

  private async remove(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    if (this.tombstones.has(id)) throw new HttpError(410, 'gone');
    const b = this.blobs.get(id);
    if (b === undefined) throw new HttpError(404, 'not found');
    this.authorize(req, b);
    await this.drop(b);
    res.writeHead(204, { ...this.headers, 'Cache-Control': 'no-store' });
    res.end();
    this.log?.(`blob DELETE 204`);
  }

  private async put(req: IncomingMessage, res: ServerResponse, id: string, key: Buffer, index: number): Promise<void> {
    if (this.tombstones.has(id)) throw new HttpError(410, 'gone');
    // §9.1: a ticket of a connection that is in a room now, before anything else is looked at.
    const ticket = this.tickets.check(req.headers[BLOB_TICKET_HEADER]);
    if (ticket === undefined) throw new HttpError(403, 'bad ticket', 'BAD_TICKET');
    const hash = tokenHash(req);
    if (hash === undefined) throw new HttpError(403, 'forbidden', 'BAD_TOKEN');
    const declared = req.headers['content-length'];
    if (declared === undefined || !/^[0-9]{1,16}$/.test(declared)) throw new HttpError(411, 'length required');
    const len = Number(declared);
    if (len > this.o.maxChunkBytes) throw new HttpError(413, 'chunk too large');
    let b = this.blobs.get(id);
    if (b !== undefined && !timingSafeEqual(hash, b.tokenHash)) throw new HttpError(403, 'forbidden', 'BAD_TOKEN');
    const old = b?.chunks.get(index) ?? 0;
    // The blob's logical size after this chunk lands (uploads in flight count as if they had landed).
    if ((b?.bytes ?? 0) - old + (b?.reserved ?? 0) + len > this.o.maxBlobBytes) throw new HttpError(413, 'blob too large');
    // Peak disk use: the old chunk stays until the new one is renamed over it.
    const c = charge(len);
    if (this.totalCharged + this.reservedCharge + c > this.o.maxTotalBytes) throw new HttpError(507, 'store full', 'STORE_FULL');
    // Quotas: a new blob counts against its room, the ticket and the address that create it, and
    // stays charged to that room and address (stored or in flight) until it is removed.
    const addr = this.addressOf(req);
    const ip = b?.ip ?? addr;
    const room = this.use(this.roomUse, b?.room ?? ticket.room);
    const from = this.use(this.ipUse, ip);
    try {
      if (b === undefined) {
        if (this.blobs.size >= this.o.maxBlobs) throw new HttpError(507, 'store full', 'STORE_FULL');
        if (room.blobs >= this.o.maxBlobsPerRoom) throw new HttpError(507, 'room quota', 'ROOM_QUOTA');
        if (ticket.blobs >= this.o.maxBlobsPerTicket) throw new HttpError(507, 'ticket quota', 'TICKET_QUOTA');
        if (from.blobs >= this.o.maxBlobsPerIp) throw new HttpError(507, 'address quota', 'IP_QUOTA');
      }
      if (room.charged + room.reserved + c > this.o.maxBytesPerRoom) throw new HttpError(507, 'room quota', 'ROOM_QUOTA');
      if (ticket.bytes + len > this.o.maxBytesPerTicket) throw new HttpError(507, 'ticket quota', 'TICKET_QUOTA');
      if (from.charged + from.reserved + c > this.o.maxBytesPerIp) throw new HttpError(507, 'address quota', 'IP_QUOTA');
      // Bodies are read into memory whole: bounded in all, and shared so that one client, or one
      // address, cannot hold all of it (slow bodies are cut by the pacer besides).
      if (this.buffering + len > this.o.maxUploadBufferBytes) throw new HttpError(503, 'busy', 'BUSY');
      const ipBuffering = this.ipBuffering.get(addr) ?? 0;
      if (ipBuffering + len > this.o.maxUploadBufferBytesPerIp) throw new HttpError(429, 'busy', 'SHARE', { 'Retry-After': 1 });
      if (ticket.buffering + len > this.o.maxUploadBufferBytesPerTicket) throw new HttpError(429, 'busy', 'SHARE', { 'Retry-After': 1 });
    } catch (e) {
      this.tidy(this.roomUse, b?.room ?? ticket.room);
      this.tidy(this.ipUse, ip);
      throw e;
    }
    if (b === undefined) {
      const dir = join(this.root, key.toString('hex'));
      const made = mkdir(dir, { recursive: true, mode: 0o700 });
      made.catch(() => undefined);
      b = {
        id,
        dir,
        tokenHash: hash,
        room: ticket.room,
        ip,
        chunks: new Map(),
        bytes: 0,
        charged: 0,
        reserved: 0,
        inflight: 0,
        lastWrite: performance.now(),
        dead: false,
        // Later commits wait for the directory; a failure to make it fails them (500), nothing else.
        commits: made,
      };
      this.blobs.set(id, b);
      room.blobs++;
      from.blobs++;
      ticket.blobs++;
    }
    const blob = b;
    ticket.bytes += len;
    ticket.buffering += len;
    this.ipBuffering.set(addr, (this.ipBuffering.get(addr) ?? 0) + len);
    this.buffering += len;
    blob.reserved += len;
    blob.inflight++;
    blob.lastWrite = performance.now();
    this.reservedCharge += c;
    room.reserved += c;
    from.reserved += c;
    const tmp = join(this.root, TMP, randomBytes(12).toString('hex'));
    let renamed = false;
    let released = false;
    /** Gives back what this upload reserved; at once when the pacer cuts it, else when it ends. */
    const release = () => {
      if (released) return;
      released = true;
      this.uploads.delete(pace);
      ticket.buffering -= len;
      const left = (this.ipBuffering.get(addr) ?? len) - len;
      if (left > 0) this.ipBuffering.set(addr, left);
      else this.ipBuffering.delete(addr);
      this.buffering -= len;
      blob.reserved -= len;
      blob.inflight--;
      this.reservedCharge -= c;
      room.reserved -= c;
      from.reserved -= c;
      this.tidy(this.roomUse, blob.room);
      this.tidy(this.ipUse, ip);
    };
    const pace: Upload = {
      start: performance.now(),
      received: 0,
      samples: [],
      cut: (why) => {
        if (released) return;
        release();
        // The answer, then the connection: the rest of this body is not wanted.
        res.once('finish', () => req.destroy());
        setTimeout(() => req.destroy(), 1000).unref();
        this.reply(req, res, 408, why, { Connection: 'close' }, 'TOO_SLOW');
      },
    };
    pace.samples.push([pace.start, 0]);
    this.pace(pace);
    const pieces: Buffer[] = [];
    try {
      // The body is at most maxChunkBytes and is kept anyway for `recent`: read it whole, then write
      // it with one writev (a write stream per chunk cost the relay more CPU than the disk did).
      try {
        for await (const piece of req as AsyncIterable<Buffer>) {
          if (released) break;
          pace.received += piece.length;
          // Count what arrives instead of trusting the header (Node's parser enforces it too).
          if (pace.received > len) throw new HttpError(413, 'chunk too large');
          pieces.push(piece);
        }
      } catch (e) {
        if (e instanceof HttpError) throw e;
        // The client went away, or the pacer cut it: nothing to answer, nothing kept.
        if (!released) res.destroy();
        return;
      }
      if (released) return; // cut by the pacer: it has answered
      this.uploads.delete(pace);
      if (pace.received !== len) throw new HttpError(400, 'body shorter than Content-Length');
      await writeAll(tmp, pieces, len);
      // (A commit that failed does not stop the next one: each awaits and reports its own.)
      await (blob.commits = blob.commits.catch(() => undefined).then(async () => {
        if (blob.dead) return;
        try {
          await rename(tmp, join(blob.dir, String(index)));
        } catch (e) {
          if (blob.dead) return; // removed meanwhile: its directory went first
          throw e;
        }
        renamed = true;
        if (blob.dead) return; // the file moved to the trash with its directory
        const prev = blob.chunks.get(index);
        const delta = charge(len) - (prev === undefined ? 0 : charge(prev));
        if (prev !== undefined) {
          blob.bytes -= prev;
          this.totalBytes -= prev;
        }
        blob.chunks.set(index, len);
        blob.bytes += len;
        blob.charged += delta;
        this.totalBytes += len;
        this.totalCharged += delta;
        this.use(this.roomUse, blob.room).charged += delta;
        this.use(this.ipUse, blob.ip).charged += delta;
        blob.lastWrite = performance.now();
      }));
      if (blob.dead || !renamed) throw new HttpError(410, 'gone');
      this.remember(id, index, pieces, len);
      this.wake(id, index, 'ready');
      res.writeHead(204, { ...this.headers, 'Cache-Control': 'no-store' });
      res.end();
      this.log?.(`blob PUT 204 ${len} bytes`);
    } finally {
      release();
      if (!renamed) await unlink(tmp).catch(() => undefined);
    }
  }

  private async get(req: IncomingMessage, res: ServerResponse, id: string, index: number, waitParam: string | null): Promise<void> {
    let wait = 0;
    if (waitParam !== null) {
      if (!WAIT.test(waitParam)) throw new HttpError(400, 'bad wait');
      wait = Math.min(Number(waitParam), this.o.maxWaitMs);
    }
    if (this.tombstones.has(id)) throw new HttpError(410, 'gone');
    if (!this.blobs.get(id)?.chunks.has(index)) {
      if (wait === 0) throw new HttpError(404, 'not found');
      if (this.waiting >= this.o.maxWaiters) throw new HttpError(503, 'too many waiting requests', 'BUSY');
      // One address cannot take every place: the others keep theirs.
      const ip = this.addressOf(req);
      if ((this.ipWaiting.get(ip) ?? 0) >= this.o.maxWaitersPerIp) throw new HttpError(429, 'too many waiting requests', 'SHARE', { 'Retry-After': 1 });
      const r = await this.waitFor(id, index, wait, res, ip);
      if (r === 'gone') throw new HttpError(410, 'gone');
      if (r === 'timeout') throw new HttpError(404, 'not found');
      if (r === 'closing') return this.reply(req, res, 503, 'shutting down', { Connection: 'close' });
      if (r === 'closed' || res.destroyed) return;
    }
    const b = this.blobs.get(id);
    const size = b?.chunks.get(index);
    if (b === undefined || size === undefined) throw new HttpError(this.tombstones.has(id) ? 410 : 404, this.tombstones.has(id) ? 'gone' : 'not found');
    const cached = this.recent.get(`${id}/${index}`);
    if (cached !== undefined) {
      res.writeHead(200, { ...this.headers, 'Content-Type': 'application/octet-stream', 'Content-Length': size, 'Cache-Control': 'no-store' });
      res.cork();
      for (const piece of cached) res.write(piece);
      res.end();
      this.log?.(`blob GET 200 ${size} bytes`);
      return;
    }
    // Open first: the chunk may be replaced (rename) or removed meanwhile; an open handle keeps its bytes.
    const fh = await open(join(b.dir, String(index)), 'r').catch(() => undefined);
    if (fh === undefined) throw new HttpError(this.tombstones.has(id) ? 410 : 404, this.tombstones.has(id) ? 'gone' : 'not found');
    let st;
    try {
      st = await fh.stat();
    } catch (e) {
      await fh.close();
      throw e;
    }
    res.writeHead(200, {
      ...this.headers,
      'Content-Type': 'application/octet-stream',
      'Content-Length': st.size,
      'Cache-Control': 'no-store',
    });
    await pipeline(fh.createReadStream({ highWaterMark: 1024 * 1024 }), res).catch(() => res.destroy());
    this.log?.(`blob GET 200 ${st.size} bytes`);
  }

  private waitFor(id: string, index: number, ms: number, res: ServerResponse, ip: string): Promise<WaitResult> {
    return new Promise((resolve) => {
      let set = this.waiters.get(id);
      if (set === undefined) this.waiters.set(id, (set = new Set()));
      const s = set;
      this.waiting++;
      this.ipWaiting.set(ip, (this.ipWaiting.get(ip) ?? 0) + 1);
      const w: Waiter = {
        index,
        done: (r) => {
          if (!s.delete(w)) return;
          this.waiting--;
          const n = (this.ipWaiting.get(ip) ?? 1) - 1;
          if (n > 0) this.ipWaiting.set(ip, n);
          else this.ipWaiting.delete(ip);
          if (s.size === 0 && this.waiters.get(id) === s) this.waiters.delete(id);
          clearTimeout(timer);
          res.off('close', onClose);
          resolve(r);
        },
      };
      const onClose = () => w.done('closed');
      const timer = setTimeout(() => w.done('timeout'), ms);
      res.on('close', onClose);
      s.add(w);
    });
  }

  private wake(id: string, index: number | undefined, r: WaitResult): void {
    const set = this.waiters.get(id);
    if (set === undefined) return;
    for (const w of [...set]) if (index === undefined || w.index === index) w.done(r);
  }

  private remember(id: string, index: number, pieces: Buffer[], len: number): void {
    const key = `${id}/${index}`;
    this.forget(key);
    if (len > RECENT_BYTES) return;
    this.recent.set(key, pieces);
    this.recentBytes += len;
    for (const [k, v] of this.recent) {
      if (this.recentBytes <= RECENT_BYTES) break;
      this.recent.delete(k);
      this.recentBytes -= v.reduce((n, p) => n + p.length, 0);
    }
  }

  private forget(key: string): void {
    const old = this.recent.get(key);
    if (old === undefined) return;
    this.recent.delete(key);
    this.recentBytes -= old.reduce((n, p) => n + p.length, 0);
  }

  /** Removes a blob at once: bookkeeping first, then its directory is renamed away and deleted. */
  private async drop(b: BlobRecord): Promise<void> {
    if (b.dead) return;
    b.dead = true;
    for (const index of b.chunks.keys()) this.forget(`${b.id}/${index}`);
    this.blobs.delete(b.id);
    this.tombstones.set(b.id, performance.now() + this.o.ttlMs);
    // Bounded memory: past the cap, the oldest deletions are forgotten (they answer 404, not 410).
    for (const k of this.tombstones.keys()) {
      if (this.tombstones.size <= this.o.maxBlobs) break;
      this.tombstones.delete(k);
    }
    this.totalBytes -= b.bytes;
    this.totalCharged -= b.charged;
    for (const [map, key] of [[this.roomUse, b.room], [this.ipUse, b.ip]] as const) {
      const u = this.use(map, key);
      u.blobs--;
      u.charged -= b.charged;
      this.tidy(map, key);
    }
    this.wake(b.id, undefined, 'gone');
    const trash = join(this.root, TRASH, randomBytes(12).toString('hex'));
    const gone = rename(b.dir, trash)
      .then(() => rm(trash, { recursive: true, force: true }))
      .catch(() => rm(b.dir, { recursive: true, force: true }))
      .catch(() => this.log?.('blob store: cannot remove a blob directory'));
    this.track(gone);
    await gone;
  }

  private use(map: Map<string, Use>, key: string): Use {
    let u = map.get(key);
    if (u === undefined) map.set(key, (u = { blobs: 0, charged: 0, reserved: 0 }));
    return u;
  }

  private tidy(map: Map<string, Use>, key: string): void {
    const u = map.get(key);
    if (u !== undefined && u.blobs === 0 && u.charged === 0 && u.reserved === 0) map.delete(key);
  }

  /** Watches an upload body's pace; one timer for all of them, running only while there are any. */
  private pace(u: Upload): void {
    this.uploads.add(u);
    if (this.pacer !== undefined || this.closing) return;
    const tick = Math.max(20, Math.min(500, Math.floor(this.o.uploadRateWindowMs / 20)));
    this.pacer = setInterval(() => this.checkPace(), tick);
    this.pacer.unref();
  }

  /**
   * Cuts every body past its deadline, and every body that, once its grace is over, received less
   * than minUploadBytesPerSecond over the last window (the time since it began, while shorter).
   */
  private checkPace(): void {
    const now = performance.now();
    const { minUploadBytesPerSecond: floor, uploadRateWindowMs: window, uploadGraceMs: grace, maxUploadMs } = this.o;
    for (const u of [...this.uploads]) {
      const age = now - u.start;
      if (age > maxUploadMs) {
        u.cut('upload took too long');
        continue;
      }
      u.samples.push([now, u.received]);
      while (u.samples.length > 2 && u.samples[1]![0] <= now - window) u.samples.shift();
      if (age < grace) continue;
      const [t0, r0] = u.samples[0]!;
      if (((u.received - r0) * 1000) / Math.max(1, now - t0) < floor) u.cut('upload too slow');
    }
    if (this.uploads.size === 0) {
      clearInterval(this.pacer);
      this.pacer = undefined;
    }
  }

  private expireIfDue(id: string): void {
    const b = this.blobs.get(id);
    if (b !== undefined && b.inflight === 0 && performance.now() - b.lastWrite >= this.o.ttlMs) void this.drop(b);
    const t = this.tombstones.get(id);
    if (t !== undefined && performance.now() >= t) this.tombstones.delete(id);
  }

  private sweep(): void {
    const now = performance.now();
    let n = 0;
    for (const b of this.blobs.values()) {
      if (b.inflight === 0 && now - b.lastWrite >= this.o.ttlMs) {
        void this.drop(b);
        n++;
      }
    }
    for (const [id, until] of this.tombstones) if (now >= until) this.tombstones.delete(id);
    if (n > 0) this.log?.(`blob store: ${n} expired`);
  }
}

function parseIndex(s: string): number {
  if (!INDEX.test(s)) throw new HttpError(400, 'bad chunk index');
  const n = Number(s);
  if (n > MAX_CHUNK_INDEX) throw new HttpError(400, 'bad chunk index');
  return n;
}

/** sha256 of the decoded token, or undefined when the header is missing or not a canonical 256-bit base64url value. */
function tokenHash(req: IncomingMessage): Buffer | undefined {
  const t = req.headers[BLOB_TOKEN_HEADER];
  if (typeof t !== 'string') return undefined;
  const raw = canonical(t, TOKEN);
  return raw === undefined ? undefined : createHash('sha256').update(raw).digest();
}

/** Empties a store directory, keeping only its marker. */
async function wipe(root: string): Promise<void> {
  for (const name of await readdir(root)) {
    if (name !== MARKER) await rm(join(root, name), { recursive: true, force: true });
  }
}
