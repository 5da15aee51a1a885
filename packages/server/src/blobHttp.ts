/**
 * The blob endpoint over HTTP (docs/PROTOCOL.md §9): routing under /blobs, request parsing (ids,
 * tokens, tickets, lengths, `?wait=`), reading upload bodies at their pace, and the answers. What
 * is stored and counted is blobStore.ts; long-poll GETs are blobWaiters.ts; refusals are the
 * BlobErrors table (errors.ts). It never logs or echoes an id, a token or a ticket.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { addressKey } from './address.js';
import {
  BLOB_CHUNKS_HEADER,
  BLOB_ERROR_HEADER,
  BLOB_TICKET_HEADER,
  BLOB_TOKEN_HEADER,
  type BlobOptions,
  MAX_CHUNK_INDEX,
  type ResolvedBlobOptions,
  resolveBlobOptions,
} from './blobOptions.js';
import type { QuotaShare } from './blobQuotas.js';
import { BlobStore, type StoredChunk } from './blobStore.js';
import { BlobWaiters } from './blobWaiters.js';
import type { RelayCounters } from './counters.js';
import { BlobError } from './errors.js';
import { type RelayLogger, silentLogger } from './logger.js';
import { parseTarget } from './target.js';
import type { Ticket } from './tickets.js';
import { UploadPacer } from './uploadPace.js';

const ID = /^[A-Za-z0-9_-]{22}$/;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const INDEX = /^(0|[1-9][0-9]{0,9})$/;
const WAIT = /^[0-9]{1,10}$/;
const LENGTH = /^[0-9]{1,16}$/;

/** A base64url string that decodes to exactly `bytes` bytes and is that value's only encoding. */
function canonical(s: string, re: RegExp): Buffer | undefined {
  if (!re.test(s)) return undefined;
  const b = Buffer.from(s, 'base64url');
  return b.toString('base64url') === s ? b : undefined;
}

function parseIndex(s: string): number {
  if (!INDEX.test(s)) throw new BlobError('BAD_CHUNK_INDEX');
  const n = Number(s);
  if (n > MAX_CHUNK_INDEX) throw new BlobError('BAD_CHUNK_INDEX');
  return n;
}

/** sha256 of the decoded token, or undefined when the header is missing or not a canonical 256-bit base64url value. */
function tokenHash(req: IncomingMessage): Buffer | undefined {
  const t = req.headers[BLOB_TOKEN_HEADER];
  if (typeof t !== 'string') return undefined;
  const raw = canonical(t, TOKEN);
  return raw === undefined ? undefined : createHash('sha256').update(raw).digest();
}

const noStore = { 'Cache-Control': 'no-store' } as const;

/** Where a PUT's ticket is looked up: the rooms' (tickets.ts) and the accounts' (accountTickets.ts). */
export interface TicketCheck {
  check(header: string | string[] | undefined): Ticket | undefined | Promise<Ticket | undefined>;
}

/** What a node of a cluster is told of its store (cluster/blobRoutes.ts: the blobs' owners in Redis). */
export interface BlobEvents {
  /** A chunk was stored: the blob lives `ttlMs` from now. Awaited before the PUT is answered. */
  written(id: string, ttlMs: number): Promise<void>;
  /** The blob was deleted or expired. */
  removed(id: string): void;
}

/** The blob endpoint: its store, its waiting GETs and its upload pacer, behind one HTTP handler. */
export class BlobHttp {
  private closing = false;
  /** Set by a cluster node (cluster/blobRoutes.ts). */
  events: BlobEvents | undefined;
  /** The relay's metrics counters (counters.ts), set by the relay: refusals by BlobErrors name. */
  counters: RelayCounters | undefined = undefined;

  private constructor(
    private readonly store: BlobStore,
    private readonly waiters: BlobWaiters,
    private readonly pacer: UploadPacer,
    private readonly o: ResolvedBlobOptions,
    private readonly headers: Record<string, string>,
    private readonly log: RelayLogger,
    private readonly tickets: TicketCheck,
    private readonly addressOf: (req: IncomingMessage) => string,
  ) {}

  /**
   * Opens the store (blobStore.ts: a directory that is not ours and not empty is refused).
   * @param addressOf the key a request's per-address quotas count against: the relay's own (the
   *   socket's address, or with trustProxy the proxy's X-Forwarded-For hop; IPv6 by /64, address.ts).
   */
  static async open(
    opts: BlobOptions,
    headers: Record<string, string>,
    log: RelayLogger = silentLogger,
    tickets: TicketCheck,
    addressOf: (req: IncomingMessage) => string = (req) => addressKey(req.socket.remoteAddress ?? ''),
  ): Promise<BlobHttp> {
    const o = resolveBlobOptions(opts);
    const waiters = new BlobWaiters(o.maxWaiters, o.maxWaitersPerIp);
    let http: BlobHttp | undefined;
    const store = await BlobStore.open(o, log, (id) => {
      waiters.wake(id, undefined, 'gone');
      http?.events?.removed(id);
    });
    http = new BlobHttp(store, waiters, new UploadPacer(o), o, headers, log, tickets, addressOf);
    return http;
  }

  get options(): ResolvedBlobOptions {
    return this.o;
  }

  /** The blob is here, or was removed here within one TTL (BlobStore.known). */
  holds(id: string): boolean {
    return this.store.known(id);
  }

  /** Every live blob here and how long it has left. */
  held(): { id: string; leftMs: number }[] {
    return this.store.held();
  }

  stats(): { blobs: number; bytes: number } {
    return this.store.stats();
  }

  /** The store's limits on all blobs together (--blob-quota, maxBlobs). */
  limits(): { maxBlobs: number; maxBytes: number } {
    return { maxBlobs: this.o.maxBlobs, maxBytes: this.o.maxTotalBytes };
  }

  /** What the blobs charged to `key` (a room, or an account: accountTickets.ts) hold, and their limits. */
  usage(key: string): { blobs: number; bytes: number; maxBlobs: number; maxBytes: number; maxBlobBytes: number } {
    return {
      ...this.store.usage(key),
      maxBlobs: this.o.maxBlobsPerAccount,
      maxBytes: this.o.maxBytesPerAccount,
      maxBlobBytes: this.o.maxBlobBytes,
    };
  }

  /** On a node of a cluster: the room, account and address quotas hold across all nodes (cluster/blobQuotaShare.ts). */
  shareQuotas(share: QuotaShare): Promise<void> {
    return this.store.shareQuotas(share);
  }

  /** Removes every blob charged to `key` (an account that was deleted); their waiting GETs end with 410. */
  removeAll(key: string): Promise<void> {
    return this.store.removeAll(key);
  }

  /** Stops the timers, ends every waiting GET (503) and refuses new requests. */
  stop(): void {
    this.closing = true;
    this.store.stop();
    this.pacer.stop();
    this.waiters.closeAll();
  }

  /** After the server has closed: waits for uploads to clean up, then wipes the store. */
  async dispose(): Promise<void> {
    this.stop();
    await this.store.dispose();
  }

  /** The HTTP handler for everything under /blobs. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const p = this.route(req, res).catch((e: unknown) => {
      if (e instanceof BlobError) return this.refuse(req, res, e);
      this.log.error('blob internal error', { method: method(req), code: (e as { code?: string }).code });
      if (!res.headersSent) this.refuse(req, res, new BlobError('INTERNAL'));
      else res.destroy();
    });
    this.store.track(p);
  };

  /** Answers a refusal as the blob endpoint does (a cluster node's router refuses with it too). */
  answer(req: IncomingMessage, res: ServerResponse, e: BlobError): void {
    this.refuse(req, res, e);
  }

  private refuse(req: IncomingMessage, res: ServerResponse, e: BlobError): void {
    if (res.headersSent) return void res.destroy();
    const body = `${e.message}\n`;
    // A refused upload's body is left unread: Node drains it to keep the connection alive, which is
    // fine up to one chunk; anything larger or of unknown length ends the connection instead.
    const declared = Number(req.headers['content-length'] ?? NaN);
    const small = Number.isSafeInteger(declared) && declared <= this.o.maxChunkBytes;
    const close = req.method === 'PUT' && !req.readableEnded && !small ? { Connection: 'close' } : {};
    res.writeHead(e.status, {
      ...this.headers,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      ...noStore,
      ...close,
      ...e.headers,
      ...(e.wire === undefined ? {} : { [BLOB_ERROR_HEADER]: e.wire }),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    this.counters?.refused('blobs', e.code, e.status);
    this.log.debug('blob refused', { method: method(req), status: e.status, code: e.code });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.closing) throw new BlobError('SHUTTING_DOWN');
    const url = parseTarget(req.url) ?? { pathname: '/', searchParams: new URLSearchParams() }; // http.ts refused bad targets (400)
    const parts = url.pathname.split('/');
    // ['', 'blobs', id] or ['', 'blobs', id, index]
    if (parts[1] !== 'blobs' || parts.length < 3 || parts.length > 4) throw new BlobError('NOT_FOUND');
    const id = parts[2]!;
    const key = canonical(id, ID);
    if (key === undefined) throw new BlobError('BAD_BLOB_ID');
    this.store.expireIfDue(id);
    if (parts.length === 3) {
      if (req.method === 'HEAD') return this.head(res, id);
      if (req.method === 'DELETE') return this.remove(req, res, id);
      throw new BlobError('METHOD_NOT_ALLOWED', { Allow: 'HEAD, DELETE' });
    }
    const index = parseIndex(parts[3]!);
    if (req.method === 'GET') return this.get(req, res, id, index, url.searchParams.get('wait'));
    if (req.method === 'PUT') return this.put(req, res, id, key, index);
    throw new BlobError('METHOD_NOT_ALLOWED', { Allow: 'GET, PUT' });
  }

  private head(res: ServerResponse, id: string): void {
    if (this.store.isGone(id)) throw new BlobError('GONE');
    const n = this.store.contiguousChunks(id);
    res.writeHead(200, { ...this.headers, ...noStore, [BLOB_CHUNKS_HEADER]: String(n) });
    res.end();
    this.log.debug('blob', { method: 'HEAD', status: 200 });
  }

  private async remove(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    if (this.store.isGone(id)) throw new BlobError('GONE');
    await this.store.remove(id, tokenHash(req));
    res.writeHead(204, { ...this.headers, ...noStore });
    res.end();
    this.log.debug('blob', { method: 'DELETE', status: 204 });
  }

  /** Every check on the headers, before a byte of the body is read (§9): ticket, token, length, then the store's. */
  private async put(req: IncomingMessage, res: ServerResponse, id: string, key: Buffer, index: number): Promise<void> {
    if (this.store.isGone(id)) throw new BlobError('GONE');
    // §9.1: a ticket of a connection that is in a room now, before anything else is looked at.
    const checked = this.tickets.check(req.headers[BLOB_TICKET_HEADER]);
    // A room's ticket is checked at once; an account's shared by relay nodes is looked up in Redis.
    const ticket = checked instanceof Promise ? await checked : checked;
    if (ticket === undefined) throw new BlobError('BAD_TICKET');
    const hash = tokenHash(req);
    if (hash === undefined) throw new BlobError('BAD_TOKEN');
    const declared = req.headers['content-length'];
    if (declared === undefined || !LENGTH.test(declared)) throw new BlobError('LENGTH_REQUIRED');
    const len = Number(declared);
    if (len > this.o.maxChunkBytes) throw new BlobError('CHUNK_TOO_LARGE');
    const held = this.store.reserve({ id, key, index, tokenHash: hash, len, ticket, address: this.addressOf(req) });
    // On a node of a cluster, the room, account and address quotas are weighed with the other nodes' (one Redis script).
    if (held.admitted !== undefined) await held.admitted;
    const pace = this.pacer.watch((why) => {
      if (held.released) return;
      release();
      // The answer, then the connection: the rest of this body is not wanted.
      res.once('finish', () => req.destroy());
      setTimeout(() => req.destroy(), 1000).unref();
      this.refuse(req, res, new BlobError(why));
    });
    /** Gives back what this upload reserved; at once when the pacer cuts it, else when it ends. */
    const release = () => {
      this.pacer.forget(pace);
      held.release();
    };
    try {
      const pieces = await this.readBody(req, res, pace, len, () => held.released);
      this.pacer.forget(pace);
      if (pieces === undefined) return; // the client went away, or the pacer cut it (and answered)
      await held.commit(pieces);
      this.waiters.wake(id, index, 'ready');
      await this.events?.written(id, this.store.ttlOf(ticket.room));
      res.writeHead(204, { ...this.headers, ...noStore });
      res.end();
      this.log.debug('blob', { method: 'PUT', status: 204, bytes: len });
    } finally {
      release();
    }
  }

  /**
   * The body is at most maxChunkBytes and is kept anyway for the recent-chunk cache: read it whole
   * (it is then written with one writev; a write stream per chunk cost more CPU than the disk did).
   * Undefined when the client went away or the upload was cut.
   */
  private async readBody(
    req: IncomingMessage,
    res: ServerResponse,
    pace: { received: number },
    len: number,
    cut: () => boolean,
  ): Promise<Buffer[] | undefined> {
    const pieces: Buffer[] = [];
    try {
      for await (const piece of req as AsyncIterable<Buffer>) {
        if (cut()) break;
        pace.received += piece.length;
        // Count what arrives instead of trusting the header (Node's parser enforces it too).
        if (pace.received > len) throw new BlobError('CHUNK_TOO_LARGE');
        pieces.push(piece);
      }
    } catch (e) {
      if (e instanceof BlobError) throw e;
      // The client went away, or the pacer cut it: nothing to answer, nothing kept.
      if (!cut()) res.destroy();
      return undefined;
    }
    if (cut()) return undefined; // cut by the pacer: it has answered
    if (pace.received !== len) throw new BlobError('SHORT_BODY');
    return pieces;
  }

  private async get(req: IncomingMessage, res: ServerResponse, id: string, index: number, waitParam: string | null): Promise<void> {
    let wait = 0;
    if (waitParam !== null) {
      if (!WAIT.test(waitParam)) throw new BlobError('BAD_WAIT');
      wait = Math.min(Number(waitParam), this.o.maxWaitMs);
    }
    if (this.store.isGone(id)) throw new BlobError('GONE');
    if (!this.store.has(id, index)) {
      if (wait === 0) throw new BlobError('NOT_FOUND');
      const ip = this.addressOf(req);
      this.waiters.admit(ip);
      const r = await this.waiters.wait(id, index, wait, res, ip);
      if (r === 'gone') throw new BlobError('GONE');
      if (r === 'timeout') throw new BlobError('NOT_FOUND');
      if (r === 'closing') throw new BlobError('SHUTTING_DOWN');
      if (r === 'closed' || res.destroyed) return;
    }
    await this.send(res, await this.store.read(id, index));
  }

  private async send(res: ServerResponse, chunk: StoredChunk): Promise<void> {
    res.writeHead(200, { ...this.headers, 'Content-Type': 'application/octet-stream', 'Content-Length': chunk.size, ...noStore });
    if ('pieces' in chunk) {
      res.cork();
      for (const piece of chunk.pieces) res.write(piece);
      res.end();
    } else {
      await pipeline(chunk.file.createReadStream({ highWaterMark: 1024 * 1024 }), res).catch(() => res.destroy());
    }
    this.log.debug('blob', { method: 'GET', status: 200, bytes: chunk.size });
  }
}

/** The request's method for a log line: one of HTTP's, never whatever a client sent. */
const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH']);
const method = (req: IncomingMessage) => (METHODS.has(req.method ?? '') ? req.method : 'other');
