/**
 * The blob store's options and defaults (docs/PROTOCOL.md §9, docs/OPERATING.md "Blob store"), and
 * the header names and limits the blob endpoint and its clients share.
 */
import { BLOB_TICKET_HEADER } from './tickets.js';

export interface BlobOptions {
  /** Where chunks are kept; wiped on start and on close (unless `keep`). Default: a fresh directory under the OS temp dir (removed on close). */
  dir?: string;
  /** Keep the blobs in `dir` across restarts (blobKept.ts): taken up on start, not wiped on close. Needs `dir`. */
  keep?: boolean;
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
  /**
   * Blobs of account conversations (uploaded with a ticket of `POST /api/blobs/ticket`, §9.3): kept
   * this long after their last write (retention, like the mailbox's), instead of `ttlMs`.
   */
  accountTtlMs?: number;
  /** Live blobs one account's devices created; 507 ACCOUNT_QUOTA beyond. */
  maxBlobsPerAccount?: number;
  /** Bytes of one account's blobs, stored or in flight (each chunk counted as for maxTotalBytes); 507 ACCOUNT_QUOTA beyond. */
  maxBytesPerAccount?: number;
}

export type ResolvedBlobOptions = Required<Omit<BlobOptions, 'dir' | 'keep'>> & { dir: string | undefined; keep: boolean };

export const defaultBlobOptions: Readonly<Required<Omit<BlobOptions, 'dir' | 'keep'>>> = Object.freeze({
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
  // Account files wait for devices that are offline for days: kept as long as their mail (30 days),
  // bounded per account so that one account cannot hold the store.
  accountTtlMs: 30 * 24 * 60 * 60 * 1000,
  maxBlobsPerAccount: 1000,
  maxBytesPerAccount: 2 * 1024 ** 3,
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

/** Checks the options (a message naming the bad field, for a config error) and fills in defaults. */
export function resolveBlobOptions(o: BlobOptions = {}): ResolvedBlobOptions {
  if (o.keep === true && o.dir === undefined) throw new RangeError('blobs.keep needs blobs.dir');
  const r: ResolvedBlobOptions = { ...defaultBlobOptions, dir: o.dir, keep: o.keep === true };
  for (const k of Object.keys(defaultBlobOptions) as (keyof typeof defaultBlobOptions)[]) {
    const v = o[k] ?? defaultBlobOptions[k];
    if (!Number.isSafeInteger(v) || v < (k === 'maxWaitMs' ? 0 : 1))
      throw new RangeError(`blobs.${k} must be a ${k === 'maxWaitMs' ? 'non-negative' : 'positive'} integer`);
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
