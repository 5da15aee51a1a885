/**
 * The per-byte half of a file transfer (files.ts holds the conversation half: offers, file-done,
 * cancel, progress): read, hash, seal and upload every chunk of a file; or fetch chunks ahead, open
 * them in order, hash and write them. Nothing here touches MLS or the room, so a Node client can
 * run it in a worker thread (node/transferWorker.ts) whose small heap the transfer's big buffers
 * churn instead of the client's.
 *
 * Only the file-crypto module of @nullroom/crypto is imported (its `./files` entry), not the MLS
 * code, for the same reason.
 */
import type { IncrementalHash } from '@nullroom/crypto'; // a type: loads nothing
import { type AesGcmFactory, CryptoError, FileDecryptor, FileEncryptor, type FileHeader, fileChunkCount } from '@nullroom/crypto/files';
import { type BlobTransport, BlobRefused, BlobStatusError, BlobTicketRefused } from './blobs.js';
import { ClientError, asClientError } from './errors.js';
import { toHex } from './encoding.js';

/**
 * Plaintext bytes per chunk. Every chunk costs a request, a file on the relay's disk and a round of
 * buffers on each side: 4 MiB chunks took about 15% less CPU over the three processes than 1 MiB
 * ones (bench/transfer.mjs), while a reconnect re-sends at most a few MiB.
 */
export const DEFAULT_TRANSFER_CHUNK = 4 * 1024 * 1024;
/**
 * Chunks in flight each way: 8 MiB, as many bytes per round trip as 8 chunks of 1 MiB were, which
 * hides a round trip of up to ~80 ms at 100 MB/s. More would only delay the first progress on a
 * slow link: the chunks in flight share it and complete together (bench/transfer.mjs: 2 and 4 in
 * flight gave the same speed between terminals).
 */
export const DEFAULT_TRANSFER_CONCURRENCY = 2;
/** How long one GET waits on the relay for a chunk not uploaded yet (ms). */
export const DEFAULT_WAIT_MS = 25_000;
/**
 * A transfer that makes no progress for this long fails (ms). Longer than one chunk may take on the
 * slowest link the relay accepts (4 MiB at its 16 KiB/s floor: ~4.4 min, within its 5 min deadline;
 * docs/PROTOCOL.md §9.2), so a slow but honest sender is not given up on between two chunks.
 */
export const DEFAULT_STALL_MS = 330_000;
/**
 * An upload whose PUT was cut for its pace (408), or failed after running this long, sends the rest
 * of its chunks one at a time: chunks in flight share the link, and each must keep the relay's floor.
 */
const SLOW_PUT_MS = 2_000;

/**
 * The upload ticket of the conversation's room (docs/PROTOCOL.md §9.1): the current one, or, given
 * the one the relay just refused, a new one (Room.blobTicket).
 */
export type TicketSource = (refused?: string) => Promise<string>;

/** Random access to the file being sent (a File in browsers, a file handle in Node). */
export interface FileSource {
  readonly name: string;
  readonly size: number;
  /** A MIME type, or '' when unknown. */
  readonly mime: string;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Optional: the caller is done with a buffer `read` returned, which may be reused for a later `read`. */
  recycle?(buf: Uint8Array): void;
}

/** Where a received file goes. Nothing may appear under the file's final name before `commit`. */
export interface FileSink {
  write(chunk: Uint8Array): Promise<void>;
  /** Every chunk verified and the hash matched: make the file visible; returns where it is, if anywhere. */
  commit(): Promise<string | undefined>;
  /** The transfer failed or was cancelled: throw away what was written. */
  abort(): Promise<void>;
}

/** How one transfer's chunk work reports and is stopped. */
export interface ChunkControl {
  readonly signal: AbortSignal;
  /** `n` more plaintext bytes are through: uploaded, or verified and written. */
  advance(n: number): void;
  /** When bytes last moved (ms since the epoch): a transfer stalled for `stallMs` fails. */
  lastProgress(): number;
}

export interface ChunkParams {
  blobs: BlobTransport;
  hash: () => Promise<IncrementalHash>;
  /** AES-256-GCM implementation (default: Web Crypto). */
  aead?: AesGcmFactory;
  /** Chunks sealed and uploaded, or fetched ahead, at once. */
  concurrency: number;
  /** How long one GET waits on the relay for a chunk the sender has not uploaded yet (ms). */
  waitMs: number;
  /** A transfer that makes no progress for this long fails (ms). */
  stallMs: number;
}

export interface UploadJob {
  /** The file key (sent to the room in the file offer). */
  key: Uint8Array;
  chunkSize: number;
  /** Blob id and write token (PROTOCOL.md §9). */
  blob: string;
  token: string;
}

export interface DownloadJob {
  key: Uint8Array;
  header: FileHeader;
  blob: string;
  /** Plaintext size the offer announced. */
  size: number;
}

/**
 * Runs the chunk work of transfers: here (`inlinePipe`), or elsewhere (the Node adapter's worker).
 * Both resolve to the plaintext's SHA-256 (hex) once every chunk is through.
 */
export interface ChunkPipe {
  /** `announce` gets the file's header before the first chunk goes up (it sends the offer). */
  upload(
    job: UploadJob,
    source: FileSource,
    ctl: ChunkControl,
    announce: (header: FileHeader) => Promise<void>,
    ticket: TicketSource,
  ): Promise<string>;
  /** Writes the verified plaintext into `sink` (never commits it: that waits for the sender's hash). */
  download(job: DownloadJob, sink: FileSink, ctl: ChunkControl): Promise<string>;
}

export const inlinePipe = (p: ChunkParams): ChunkPipe => ({
  upload: (job, source, ctl, announce, ticket) => uploadChunks(p, job, source, ctl, announce, ticket),
  download: (job, sink, ctl) => downloadChunks(p, job, sink, ctl),
});

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/** Retries what the network broke, with backoff, until the transfer stalls for `stallMs`. */
async function retry<T>(p: ChunkParams, ctl: ChunkControl, op: () => Promise<T>): Promise<T> {
  let delay = 250;
  for (;;) {
    if (ctl.signal.aborted) throw abortReason(ctl.signal);
    try {
      return await op();
    } catch (e) {
      if (ctl.signal.aborted) throw abortReason(ctl.signal);
      if (e instanceof BlobRefused) throw e;
      if (Date.now() - ctl.lastProgress() > p.stallMs)
        throw new ClientError('FILE_TRANSFER', 'the transfer made no progress for too long', { cause: e });
      // "Busy" (the relay's upload budget or our share of it is in use) clears as soon as a body
      // ends or is cut for its pace: asked again every second at most, not after a long backoff.
      const busy = e instanceof BlobStatusError && (e.status === 429 || e.status === 503);
      await sleep(busy ? Math.min(delay, 1000) : delay, ctl.signal);
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/**
 * Why a transfer stopped, from its aborted signal: the ClientError it was aborted with, or
 * FILE_CANCELLED (keeping the reason as cause) when something else aborted it.
 */
export function abortReason(signal: AbortSignal): ClientError {
  const r: unknown = signal.reason;
  return r instanceof ClientError ? r : new ClientError('FILE_CANCELLED', 'the transfer was cancelled', { cause: r });
}

export const senderCancelled = () => new ClientError('FILE_CANCELLED', 'the sender cancelled the transfer');
/**
 * The relay answered 410 for the blob: deleted (its sender cancelled, and its `file-cancel` may be
 * still on its way: files.ts waits a moment for it) or expired.
 */
export const blobGone = () => new ClientError('FILE_UNAVAILABLE', 'the relay no longer holds the file');

/** `ctl` with a signal of our own as well: a failed chunk stops the others at once. */
function stoppable(ctl: ChunkControl): { ctl: ChunkControl; stop(reason: unknown): void } {
  const own = new AbortController();
  const follow = () => own.abort(ctl.signal.reason);
  if (ctl.signal.aborted) follow();
  else ctl.signal.addEventListener('abort', follow, { once: true });
  return {
    ctl: { ...ctl, signal: own.signal },
    stop: (reason) => {
      ctl.signal.removeEventListener('abort', follow);
      own.abort(reason);
    },
  };
}

/**
 * Reads, hashes, seals and uploads every chunk of `source`, `concurrency` at a time (one at a time
 * once the link proved slow), each PUT with the room's upload ticket (a new one when refused).
 */
export async function uploadChunks(
  p: ChunkParams,
  job: UploadJob,
  source: FileSource,
  outer: ChunkControl,
  announce: (header: FileHeader) => Promise<void>,
  ticket: TicketSource,
): Promise<string> {
  const { ctl, stop } = stoppable(outer);
  const enc = await FileEncryptor.create(job.key, { chunkSize: job.chunkSize, ...(p.aead ? { aead: p.aead } : {}) });
  const hash = await p.hash();
  await announce(enc.header);
  const cs = job.chunkSize;
  const count = fileChunkCount(source.size, cs);
  const inflight = new Set<Promise<void>>();
  let failure: Error | undefined;
  let slow = false;
  /** The ticket the relay refused last (it is replaced before the next PUT). */
  let refused: string | undefined;
  const attempt = async (index: number, bytes: Uint8Array) => {
    const t = await ticket(refused);
    const started = Date.now();
    try {
      await p.blobs.put(job.blob, index, job.token, t, bytes, ctl.signal);
    } catch (e) {
      if (e instanceof BlobTicketRefused) refused = t;
      else if ((e instanceof BlobStatusError && e.status === 408) || Date.now() - started >= SLOW_PUT_MS) slow = true;
      throw e;
    }
  };
  /** Once slow, every PUT (retries of the chunks already in flight too) waits for the one before. */
  let lane: Promise<void> = Promise.resolve();
  const putChunk = async (index: number, bytes: Uint8Array) => {
    if (!slow) return attempt(index, bytes);
    const before = lane;
    let free!: () => void;
    lane = new Promise<void>((resolve) => (free = resolve));
    try {
      await before;
      return await attempt(index, bytes);
    } finally {
      free();
    }
  };
  try {
    for (let i = 0; i < count; i++) {
      if (ctl.signal.aborted) throw abortReason(ctl.signal);
      const len = Math.min(cs, source.size - i * cs);
      const plain = await source.read(i * cs, len);
      if (plain.byteLength !== len) throw new ClientError('FILE_TRANSFER', 'the file changed while it was being sent');
      hash.update(plain);
      // Both AES-GCM implementations take their copy of `plain` within this call.
      const sealed = enc.sealChunk(plain, i === count - 1);
      source.recycle?.(plain);
      const index = i;
      const put = sealed.then(async (bytes) => {
        await retry(p, ctl, () => putChunk(index, bytes));
        enc.recycle(bytes);
        ctl.advance(len);
      });
      put.catch((e: unknown) => (failure ??= e instanceof Error ? e : asClientError(e)));
      inflight.add(put);
      void put.finally(() => inflight.delete(put)).catch(() => undefined);
      while (inflight.size >= (slow ? 1 : p.concurrency) && failure === undefined) await Promise.race(inflight).catch(() => undefined);
      if (failure !== undefined) throw failure;
    }
    await Promise.all(inflight);
  } catch (e) {
    // Nothing of ours may still be writing once the caller cleans up (deletes the blob).
    stop(e);
    await Promise.allSettled(inflight);
    throw e;
  }
  return toHex(hash.digest());
}

/**
 * Fetches chunks `concurrency` ahead (long-polling those not uploaded yet), opens them in index
 * order, hashes and writes the plaintext; fails closed on anything altered, reordered, duplicated
 * or missing (FILE_REJECTED), and once the relay no longer holds the blob (FILE_UNAVAILABLE).
 */
export async function downloadChunks(
  p: ChunkParams,
  job: DownloadJob,
  sink: Pick<FileSink, 'write'>,
  outer: ChunkControl,
): Promise<string> {
  const { ctl, stop } = stoppable(outer);
  try {
    return await download(p, job, sink, ctl);
  } catch (e) {
    stop(e); // the fetches ahead
    throw e;
  }
}

async function download(p: ChunkParams, job: DownloadJob, sink: Pick<FileSink, 'write'>, ctl: ChunkControl): Promise<string> {
  const dec = await FileDecryptor.create(job.key, job.header, p.aead ? { aead: p.aead } : {});
  const hash = await p.hash();
  const count = fileChunkCount(job.size, job.header.chunkSize);
  const fetches = new Map<number, Promise<Uint8Array>>();
  const fetchChunk = (i: number) => {
    const f = retry(p, ctl, async () => {
      for (;;) {
        const r = await p.blobs.get(job.blob, i, p.waitMs, ctl.signal);
        if (r === 'gone') throw blobGone();
        if (r !== 'missing') return r;
        // Not uploaded yet: the sender is slower than us. Wait on, unless it stalled.
        if (Date.now() - ctl.lastProgress() > p.stallMs) throw new ClientError('FILE_TRANSFER', 'the sender stopped uploading');
      }
    });
    f.catch(() => undefined);
    fetches.set(i, f);
  };
  for (let i = 0; i < Math.min(p.concurrency, count); i++) fetchChunk(i);
  // Decrypt chunk i+1 (on Web Crypto's threads) while chunk i is hashed and written: openChunk
  // calls are made in index order, each as soon as its bytes are here.
  let opened: Promise<unknown> = Promise.resolve();
  const open = (i: number): Promise<Uint8Array> => {
    const o = opened.then(async () => {
      const sealed = await fetches.get(i)!;
      fetches.delete(i);
      if (i + p.concurrency < count) fetchChunk(i + p.concurrency);
      try {
        const plain = await dec.openChunk(i, sealed, i === count - 1);
        p.blobs.recycle?.(sealed);
        return plain;
      } catch (e) {
        throw new ClientError(
          'FILE_REJECTED',
          `the file failed verification (${e instanceof CryptoError ? e.code : 'error'}): nothing was saved`,
          { cause: e },
        );
      }
    });
    opened = o.catch(() => undefined);
    return o;
  };
  let next = count > 0 ? open(0) : undefined;
  for (let i = 0; i < count; i++) {
    const plain = await next!;
    next = i + 1 < count ? open(i + 1) : undefined;
    next?.catch(() => undefined);
    hash.update(plain);
    if (ctl.signal.aborted) throw abortReason(ctl.signal);
    await sink.write(plain);
    dec.recycle(plain);
    ctl.advance(plain.byteLength);
  }
  try {
    dec.finish();
  } catch (e) {
    throw new ClientError('FILE_REJECTED', 'the file is incomplete: nothing was saved', { cause: e });
  }
  return toHex(hash.digest());
}
