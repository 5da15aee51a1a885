/**
 * The relay's blob store as the client sees it (docs/PROTOCOL.md §9): sealed file chunks go up
 * with PUT and come down with GET, named by a random 128-bit blob id that only the file's MLS
 * message reveals, and written only by the holder of a 256-bit token, with an upload ticket the
 * relay grants a connection that is in the room (§9.1). `fetchBlobTransport` works in browsers and
 * Node; the Node adapter adds one with custom TLS trust (CA file or pinned key).
 */
import { ClientError } from './errors.js';

export type BlobRead = Uint8Array | 'missing' | 'gone';

export interface BlobTransport {
  /**
   * Stores one chunk. `ticket`: the upload ticket (Room.blobTicket). Throws BlobTicketRefused when
   * the relay no longer knows the ticket (ask for a new one), BlobRefused when retrying cannot help,
   * BlobStatusError (408 cut for pace, 429, 5xx) or a network error when it can.
   */
  put(id: string, index: number, token: string, ticket: string, body: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** The chunk, or 'missing' after waiting up to `waitMs` for it, or 'gone' once it was deleted (its sender cancelled) or expired. */
  get(id: string, index: number, waitMs: number, signal?: AbortSignal): Promise<BlobRead>;
  /** How many chunks from index 0 are stored without a gap. */
  head(id: string): Promise<number | 'missing' | 'gone'>;
  delete(id: string, token: string): Promise<void>;
  /** Optional: the caller is done with a buffer `get` returned, which may be reused for a later `get`. */
  recycle?(buf: Uint8Array): void;
}

export const blobPath = (id: string, index?: number) => (index === undefined ? `/blobs/${id}` : `/blobs/${id}/${index}`);

/** A refusal the relay will repeat (4xx but 404/408/429): retrying cannot help. */
export class BlobRefused extends ClientError {
  constructor(
    readonly status: number,
    /** The relay's code (BLOB_ERROR_HEADER), when it gave one: ACCOUNT_QUOTA, STORE_FULL, … */
    readonly blobCode?: string,
  ) {
    super('FILE_TRANSFER', `the relay refused a file chunk (HTTP ${status})`);
  }
}

/** The relay refused the upload ticket (the connection it was granted to left the room or closed): get a new one and retry. */
export class BlobTicketRefused extends ClientError {
  constructor() {
    super('FILE_TRANSFER', 'the relay refused the upload ticket');
  }
}

/** A refusal that a retry may cure (404, 408, 429, 5xx), with its status and the relay's code (BLOB_ERROR_HEADER). */
export class BlobStatusError extends ClientError {
  constructor(
    readonly status: number,
    readonly blobCode: string | undefined,
  ) {
    super('FILE_TRANSFER', `the relay's blob store answered HTTP ${status}`);
  }
}

export const BLOB_TICKET_HEADER = 'X-Nullroom-Blob-Ticket';
export const BLOB_ERROR_HEADER = 'X-Nullroom-Blob-Error';

/** Turns a refusal (status >= 400) into the error the transfer code acts on (docs/PROTOCOL.md §9). */
export function blobFailure(status: number, code: string | null | undefined): ClientError {
  if (status === 403 && code === 'BAD_TICKET') return new BlobTicketRefused();
  if (status >= 400 && status < 500 && status !== 404 && status !== 408 && status !== 429)
    return new BlobRefused(status, code ?? undefined);
  return new BlobStatusError(status, code ?? undefined);
}

/** Largest body read into a reusable buffer (a chunk is about 4 MiB). */
const MAX_POOLED_BODY = 16 * 1024 * 1024;

/**
 * A chunk's body, read straight into a buffer the receiver gave back (`recycle`) when the stream
 * allows it (a byte stream with a BYOB reader, as fetch bodies are in browsers), else a fresh one:
 * every chunk-sized buffer less is garbage the page does not wait to collect.
 */
async function readBody(res: Response, take: (n: number) => Uint8Array): Promise<Uint8Array> {
  const declared = Number(res.headers.get('Content-Length') ?? NaN);
  if (res.body === null || !Number.isSafeInteger(declared) || declared <= 0 || declared > MAX_POOLED_BODY)
    return new Uint8Array(await res.arrayBuffer());
  let reader: ReadableStreamBYOBReader;
  try {
    reader = res.body.getReader({ mode: 'byob' });
  } catch {
    return new Uint8Array(await res.arrayBuffer()); // not a byte stream
  }
  let buf = take(declared);
  let got = 0;
  try {
    while (got < declared) {
      // The read takes the buffer and hands it back (the same memory) with the bytes it filled.
      const { done, value } = await reader.read(buf.subarray(got));
      if (value === undefined) throw new ClientError('FILE_TRANSFER', 'the relay sent a chunk body that could not be read');
      buf = new Uint8Array(value.buffer, 0, declared);
      if (done) break;
      got += value.byteLength;
    }
    // Nothing may follow the declared length.
    const end = await reader.read(new Uint8Array(1));
    if (got !== declared || !end.done) throw new ClientError('FILE_TRANSFER', 'a chunk body did not match its Content-Length');
    return buf;
  } finally {
    reader.releaseLock();
  }
}

/**
 * Chunk bodies are the same size over and over: the buffers a receiver gives back (`recycle`) are
 * reused for the next bodies of that size, sparing an allocation per chunk and the garbage
 * collections that big allocations force. Whole buffers only (not views), about one transfer's worth.
 */
export function bodyPool(): { take(n: number): Uint8Array; recycle(buf: Uint8Array): void } {
  const spare: Uint8Array[] = [];
  return {
    take(n) {
      const i = spare.findIndex((b) => b.byteLength === n);
      return i < 0 ? new Uint8Array(n) : spare.splice(i, 1)[0]!;
    },
    recycle(buf) {
      if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && spare.length < 16 && !spare.includes(buf)) spare.push(buf);
    },
  };
}

export function fetchBlobTransport(relayUrl: string, fetchFn: typeof fetch = globalThis.fetch.bind(globalThis)): BlobTransport {
  const base = new URL(relayUrl);
  const pool = bodyPool();
  const url = (path: string) => new URL(path, base).toString();
  const check = (status: number, headers?: Headers) => {
    if (status >= 400) throw blobFailure(status, headers?.get(BLOB_ERROR_HEADER));
  };
  return {
    async put(id, index, token, ticket, body, signal) {
      const res = await fetchFn(url(blobPath(id, index)), {
        method: 'PUT',
        headers: { 'X-Nullroom-Blob-Token': token, [BLOB_TICKET_HEADER]: ticket, 'Content-Type': 'application/octet-stream' },
        body: body as Uint8Array<ArrayBuffer>,
        ...(signal ? { signal } : {}),
      });
      await res.body?.cancel();
      check(res.status, res.headers);
    },
    async get(id, index, waitMs, signal) {
      const res = await fetchFn(url(`${blobPath(id, index)}?wait=${waitMs}`), signal ? { signal } : {});
      if (res.status === 404 || res.status === 410) {
        await res.body?.cancel();
        return res.status === 404 ? 'missing' : 'gone';
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        check(res.status, res.headers);
      }
      return readBody(res, pool.take);
    },
    async head(id) {
      const res = await fetchFn(url(blobPath(id)), { method: 'HEAD' });
      if (res.status === 404) return 'missing';
      if (res.status === 410) return 'gone';
      check(res.status);
      return Number(res.headers.get('X-Nullroom-Blob-Chunks') ?? '0');
    },
    async delete(id, token) {
      const res = await fetchFn(url(blobPath(id)), { method: 'DELETE', headers: { 'X-Nullroom-Blob-Token': token } });
      await res.body?.cancel();
      if (res.status !== 404 && res.status !== 410) check(res.status);
    },
    recycle: pool.recycle,
  };
}
