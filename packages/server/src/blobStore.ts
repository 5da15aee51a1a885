/**
 * The relay's blob store (docs/PROTOCOL.md §9): opaque, already-encrypted file chunks kept on disk
 * for a while, so that a sender and its receivers need not be online at the same time. It keeps
 * the disk layout, the blobs' records, the TTL sweep and the recent-chunk cache, and counts them
 * against the quotas (blobQuotas.ts); the HTTP side is blobHttp.ts. It never logs an id or a token.
 *
 * Disk layout under `dir`:
 *   .nullroom-blobs           marker: this directory is ours to wipe (we refuse a foreign non-empty one)
 *   .tmp/<random>             chunks being received; renamed into place only when complete
 *   .trash/<random>           a removed blob's directory, between its rename and its deletion
 *   <hex(id bytes)>/<index>   committed chunks (hex, not the base64url id: case-insensitive file
 *                             systems would otherwise merge ids that differ only in case)
 *   <hex(id bytes)>/.record   with `keep`: what taking the blob up after a restart needs (blobKept.ts)
 *
 * Size: near 500 lines since blobs are kept across restarts (`adopt`) and known to the other nodes
 * of a cluster (`known`, `held`, and a PUT's admission by the cluster's quotas: `admission`,
 * `unmake`); reading them back lives in blobKept.ts, the quotas in blobQuotas.ts.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type FileHandle, mkdir, mkdtemp, open, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedBlobOptions } from './blobOptions.js';
import { BlobQuotas, type Put, type QuotaShare, charge } from './blobQuotas.js';
import { BlobError } from './errors.js';
import { type KeptBlob, readKept, writeRecord } from './blobKept.js';
import { isAccountKey } from './accountTickets.js';
import { RecentChunks } from './recentChunks.js';
import type { Ticket } from './tickets.js';
import type { RelayLogger } from './logger.js';

const MARKER = '.nullroom-blobs';
const TMP = '.tmp';
const TRASH = '.trash';

interface BlobRecord {
  readonly id: string;
  readonly dir: string;
  readonly tokenHash: Buffer;
  /** The room (locator key) or account (accountTickets.ts) whose ticket created it, and the address it came from: its quotas. */
  readonly room: string;
  /** It is removed this long after its last write: the rooms' TTL, or the accounts' retention. */
  readonly ttlMs: number;
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
  /** On a node of a cluster: the cluster's answer to the PUT that created it (later PUTs wait for it). */
  admitting?: Promise<unknown>;
}

/** One PUT, as the store sees it. */
export interface ChunkWrite {
  readonly id: string;
  /** The id's bytes (the directory's name, in hex). */
  readonly key: Buffer;
  readonly index: number;
  /** SHA-256 of the write token's bytes. */
  readonly tokenHash: Buffer;
  /** The declared body length. */
  readonly len: number;
  readonly ticket: Ticket;
  /** The request's address key (per-address quotas). */
  readonly address: string;
}

/** The budgets one PUT holds while its body arrives; given back by `release`, at once or at the end. */
export interface Reservation {
  readonly released: boolean;
  /**
   * On a node of a cluster: resolves when the cluster's quotas admit the PUT; rejects (having
   * released it) with the quota it would pass. Undefined on a relay alone: `reserve` checked all.
   */
  readonly admitted: Promise<void> | undefined;
  release(): void;
  /** Writes the whole body and renames it into place; GONE when the blob was removed meanwhile. */
  commit(pieces: Buffer[]): Promise<void>;
}

/** A stored chunk to serve: from memory, or an open file (whose bytes survive a rename or removal). */
export type StoredChunk =
  | { readonly size: number; readonly pieces: readonly Buffer[] }
  | { readonly size: number; readonly file: FileHandle };

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

/** Empties a store directory, keeping only its marker. */
async function wipe(root: string): Promise<void> {
  for (const name of await readdir(root)) {
    if (name !== MARKER) await rm(join(root, name), { recursive: true, force: true });
  }
}

export class BlobStore {
  private readonly blobs = new Map<string, BlobRecord>();
  /** Removed blobs (deleted or expired) -> when to forget them; answered with 410 until then. */
  private readonly tombstones = new Map<string, number>();
  private readonly recent = new RecentChunks();
  private readonly quotas: BlobQuotas;
  private totalBytes = 0;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly sweeper: NodeJS.Timeout;

  private constructor(
    readonly root: string,
    private readonly ownRoot: boolean,
    private readonly o: ResolvedBlobOptions,
    private readonly log: RelayLogger,
    /** Called when a blob is removed (deleted or expired): its waiting GETs end. */
    private readonly removed: (id: string) => void,
  ) {
    this.quotas = new BlobQuotas(o);
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, Math.max(20, Math.floor(Math.min(o.ttlMs, o.accountTtlMs) / 2))));
    this.sweeper.unref();
  }

  /**
   * Opens the store: creates (or wipes) its directory. A directory that exists, is not empty, and
   * does not carry our marker is refused rather than wiped: `--blob-dir ~` must not erase a home.
   */
  static async open(o: ResolvedBlobOptions, log: RelayLogger, removed: (id: string) => void): Promise<BlobStore> {
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
      // Kept blobs stay (what was half received or half removed does not); otherwise all goes.
      if (o.keep) for (const d of [TMP, TRASH]) await rm(join(root, d), { recursive: true, force: true });
      else await wipe(root);
    }
    await writeFile(
      join(root, MARKER),
      o.keep
        ? 'Nullroom blob store: kept across restarts (encrypted chunks).\n'
        : 'Nullroom blob store: wiped whenever the relay starts or stops.\n',
    );
    await mkdir(join(root, TMP), { mode: 0o700 });
    await mkdir(join(root, TRASH), { mode: 0o700 });
    const store = new BlobStore(root, own, o, log, removed);
    if (o.keep) {
      const kept = await readKept(root, (room) => store.ttlOf(room), o.maxBlobs, new Set([MARKER, TMP, TRASH]));
      for (const k of kept) store.adopt(k);
      if (kept.length > 0) log.info('blob store: blobs kept from before the restart', { kept: kept.length });
    }
    return store;
  }

  /** A blob kept from before a restart: charged to its room and to no address (none is kept on disk); dropped past the byte budget. */
  private adopt(k: KeptBlob): void {
    const { id, dir, tokenHash, room, chunks, bytes, charged } = k;
    const lastWrite = performance.now() - Math.max(0, Date.now() - k.lastWriteWall);
    const b: BlobRecord = {
      id,
      dir,
      tokenHash,
      room,
      ttlMs: this.ttlOf(room),
      ip: '',
      chunks,
      bytes,
      charged,
      reserved: 0,
      inflight: 0,
      lastWrite,
      dead: false,
      commits: Promise.resolve(),
    };
    this.blobs.set(b.id, b);
    this.totalBytes += bytes;
    this.quotas.adopted(room, b.ip, charged);
    if (this.quotas.overBudget()) void this.drop(b);
  }

  stats(): { blobs: number; bytes: number } {
    return { blobs: this.blobs.size, bytes: this.totalBytes };
  }

  /** How long a blob charged to `room` lives after its last write (an account's: §9.3 retention). */
  ttlOf(room: string): number {
    return isAccountKey(room) ? this.o.accountTtlMs : this.o.ttlMs;
  }

  /** What the blobs charged to `room` hold (blobQuotas.ts `usage`). */
  usage(room: string): { blobs: number; bytes: number } {
    return this.quotas.usage(room);
  }

  /** Removes every blob charged to `room` (a deleted account's), uploads in flight included. */
  async removeAll(room: string): Promise<void> {
    await Promise.all([...this.blobs.values()].filter((b) => b.room === room).map((b) => this.drop(b)));
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.quotas.stop();
  }

  /** On a node of a cluster: the room, account and address quotas are held with the other nodes from now on. */
  shareQuotas(share: QuotaShare): Promise<void> {
    return this.quotas.shareWith(share);
  }

  /** Waits for `p` (an upload, a removal) before the store is wiped. */
  track(p: Promise<unknown>): void {
    this.inflight.add(p);
    p.finally(() => this.inflight.delete(p)).catch(() => undefined);
  }

  /** After the server has closed: waits for uploads to clean up, then wipes the store (removes it if we made it). */
  async dispose(): Promise<void> {
    this.stop();
    await Promise.allSettled([...this.inflight]);
    if (!this.o.keep) await (this.ownRoot ? rm(this.root, { recursive: true, force: true }) : wipe(this.root)).catch(() => undefined);
    this.blobs.clear();
    this.tombstones.clear();
  }

  /** The blob was removed within one TTL (410). */
  isGone(id: string): boolean {
    return this.tombstones.has(id);
  }

  /** The blob lives here, or was removed here within one TTL (a cluster node answers it itself). */
  known(id: string): boolean {
    return this.blobs.has(id) || this.tombstones.has(id);
  }

  /** Every live blob and how long it has left (a cluster node registers those it kept across a restart). */
  held(): { id: string; leftMs: number }[] {
    const now = performance.now();
    return [...this.blobs.values()].map((b) => ({ id: b.id, leftMs: Math.round(b.ttlMs - (now - b.lastWrite)) }));
  }

  has(id: string, index: number): boolean {
    return this.blobs.get(id)?.chunks.has(index) === true;
  }

  /** NOT_FOUND, or GONE for a blob removed within one TTL. */
  missing(id: string): BlobError {
    return new BlobError(this.tombstones.has(id) ? 'GONE' : 'NOT_FOUND');
  }

  /** Removes the blob if its TTL has passed, and forgets its tombstone once that has. */
  expireIfDue(id: string): void {
    const b = this.blobs.get(id);
    if (b !== undefined && b.inflight === 0 && performance.now() - b.lastWrite >= b.ttlMs) void this.drop(b);
    const t = this.tombstones.get(id);
    if (t !== undefined && performance.now() >= t) this.tombstones.delete(id);
  }

  /** The number of chunks stored contiguously from index 0 (HEAD). */
  contiguousChunks(id: string): number {
    const b = this.blobs.get(id);
    if (b === undefined) throw this.missing(id);
    let n = 0;
    while (b.chunks.has(n)) n++;
    return n;
  }

  /** Removes a blob for the holder of its token (DELETE). */
  async remove(id: string, tokenHash: Buffer | undefined): Promise<void> {
    const b = this.blobs.get(id);
    if (b === undefined) throw this.missing(id);
    if (tokenHash === undefined || !timingSafeEqual(tokenHash, b.tokenHash)) throw new BlobError('FORBIDDEN');
    await this.drop(b);
    // On a node of a cluster, answered once the other nodes see the quota freed.
    await this.quotas.told();
  }

  /** A stored chunk, opened first: it may be replaced (rename) or removed meanwhile. */
  async read(id: string, index: number): Promise<StoredChunk> {
    const b = this.blobs.get(id);
    const size = b?.chunks.get(index);
    if (b === undefined || size === undefined) throw this.missing(id);
    const pieces = this.recent.get(id, index);
    if (pieces !== undefined) return { size, pieces };
    const file = await open(join(b.dir, String(index)), 'r').catch(() => undefined);
    if (file === undefined) throw this.missing(id);
    try {
      return { size: (await file.stat()).size, file };
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  /**
   * Checks a PUT against the blob's token, the size limits, the quotas and the upload-body budgets,
   * on its headers alone, and reserves what it will hold. A new blob is registered at once (it
   * counts against its room, ticket and address from now on).
   */
  reserve(w: ChunkWrite): Reservation {
    const b = this.blobs.get(w.id);
    if (b !== undefined && !timingSafeEqual(w.tokenHash, b.tokenHash)) throw new BlobError('BAD_TOKEN');
    const old = b?.chunks.get(w.index) ?? 0;
    // The blob's logical size after this chunk lands (uploads in flight count as if they had landed).
    if ((b?.bytes ?? 0) - old + (b?.reserved ?? 0) + w.len > this.o.maxBlobBytes) throw new BlobError('BLOB_TOO_LARGE');
    // Quotas: a new blob counts against its room, the ticket and the address that create it, and
    // stays charged to that room and address (stored or in flight) until it is removed.
    const put: Put = {
      room: b?.room ?? w.ticket.room,
      ip: b?.ip ?? w.address,
      address: w.address,
      ticket: w.ticket,
      len: w.len,
      fresh: b === undefined,
    };
    this.quotas.check(put, this.blobs.size);
    const blob = b ?? this.register(w, put);
    this.quotas.hold(put);
    blob.reserved += w.len;
    blob.inflight++;
    blob.lastWrite = performance.now();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      blob.reserved -= w.len;
      blob.inflight--;
      this.quotas.release(put);
    };
    return {
      get released() {
        return released;
      },
      admitted: this.admission(blob, put, release),
      release,
      commit: (pieces) => this.commit(blob, w.index, pieces, w.len),
    };
  }

  /**
   * On a node of a cluster, the cluster's answer to a PUT reserved here (blobQuotas.ts `admit`). A
   * PUT to a blob whose creating PUT is still being weighed waits for that answer too, and shares a
   * refusal; a refused new blob is forgotten as if it had never been made.
   */
  private admission(blob: BlobRecord, put: Put, release: () => void): Promise<void> | undefined {
    const asked = this.quotas.admit(put);
    if (asked === undefined) return undefined;
    const first = blob.admitting;
    const answer = (first === undefined ? asked : Promise.all([first, asked])).then(
      () => undefined,
      (e: unknown) => {
        release();
        if (put.fresh) this.unmake(blob);
        throw e;
      },
    );
    if (put.fresh) blob.admitting = answer;
    return answer;
  }

  /** A new blob the cluster refused: forgotten with no tombstone (it never held a chunk), its directory removed. */
  private unmake(b: BlobRecord): void {
    if (b.dead || b.chunks.size > 0 || this.blobs.get(b.id) !== b) return;
    b.dead = true;
    this.blobs.delete(b.id);
    this.quotas.removed(b.room, b.ip, 0);
    const gone = b.commits.catch(() => undefined).then(() => rm(b.dir, { recursive: true, force: true }));
    this.track(gone.catch(() => this.log.warn('blob store: cannot remove a blob directory')));
  }

  private register(w: ChunkWrite, put: Put): BlobRecord {
    const dir = join(this.root, w.key.toString('hex'));
    const made = mkdir(dir, { recursive: true, mode: 0o700 }).then(() =>
      this.o.keep ? writeRecord(dir, w.tokenHash, w.ticket.room) : undefined,
    );
    made.catch(() => undefined);
    const b: BlobRecord = {
      id: w.id,
      dir,
      tokenHash: w.tokenHash,
      room: w.ticket.room,
      ttlMs: this.ttlOf(w.ticket.room),
      ip: w.address,
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
    this.blobs.set(w.id, b);
    this.quotas.created(put);
    return b;
  }

  private async commit(blob: BlobRecord, index: number, pieces: Buffer[], len: number): Promise<void> {
    const tmp = join(this.root, TMP, randomBytes(12).toString('hex'));
    let renamed = false;
    try {
      await writeAll(tmp, pieces, len);
      // (A commit that failed does not stop the next one: each awaits and reports its own.)
      await (blob.commits = blob.commits
        .catch(() => undefined)
        .then(async () => {
          if (blob.dead) return;
          try {
            await rename(tmp, join(blob.dir, String(index)));
          } catch (e) {
            if (blob.dead) return; // removed meanwhile: its directory went first
            throw e;
          }
          renamed = true;
          if (blob.dead) return; // the file moved to the trash with its directory
          this.account(blob, index, len);
        }));
      if (blob.dead || !renamed) throw new BlobError('GONE');
      this.recent.remember(blob.id, index, pieces, len);
    } finally {
      if (!renamed) await unlink(tmp).catch(() => undefined);
    }
  }

  /** Books a chunk that is now in place (replacing any earlier one of that index). */
  private account(blob: BlobRecord, index: number, len: number): void {
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
    this.quotas.stored(blob.room, blob.ip, delta);
    blob.lastWrite = performance.now();
  }

  /** Removes a blob at once: bookkeeping first, then its directory is renamed away and deleted. */
  private async drop(b: BlobRecord): Promise<void> {
    if (b.dead) return;
    b.dead = true;
    for (const index of b.chunks.keys()) this.recent.forget(b.id, index);
    this.blobs.delete(b.id);
    this.tombstones.set(b.id, performance.now() + this.o.ttlMs);
    // Bounded memory: past the cap, the oldest deletions are forgotten (they answer 404, not 410).
    for (const k of this.tombstones.keys()) {
      if (this.tombstones.size <= this.o.maxBlobs) break;
      this.tombstones.delete(k);
    }
    this.totalBytes -= b.bytes;
    this.quotas.removed(b.room, b.ip, b.charged);
    this.removed(b.id);
    const trash = join(this.root, TRASH, randomBytes(12).toString('hex'));
    const gone = rename(b.dir, trash)
      .then(() => rm(trash, { recursive: true, force: true }))
      .catch(() => rm(b.dir, { recursive: true, force: true }))
      .catch(() => this.log.warn('blob store: cannot remove a blob directory'));
    this.track(gone);
    await gone;
  }

  private sweep(): void {
    const now = performance.now();
    let n = 0;
    for (const b of this.blobs.values()) {
      if (b.inflight === 0 && now - b.lastWrite >= b.ttlMs) {
        void this.drop(b);
        n++;
      }
    }
    for (const [id, until] of this.tombstones) if (now >= until) this.tombstones.delete(id);
    if (n > 0) this.log.debug('blob store: blobs expired', { expired: n });
  }
}
