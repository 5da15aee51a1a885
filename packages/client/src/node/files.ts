/**
 * Node adapters for file transfer: a file on disk as a source, a download folder as a sink, the
 * blob store over node:http(s) with the same TLS trust as the WebSocket (CA file or pinned
 * certificate), and node:crypto's SHA-256.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { type FileHandle, link, open, unlink } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { basename, extname, join } from 'node:path';
import tls from 'node:tls';
// The file-crypto entry, not the MLS code: this module also runs in the transfer worker.
import { type AesGcmFactory, FILE_TAG_BYTES } from '@nullroom/crypto/files';
import { BLOB_ERROR_HEADER, BLOB_TICKET_HEADER, type BlobRead, type BlobTransport, blobFailure, blobPath, bodyPool } from '../blobs.js';
import type { IncrementalHash } from '@nullroom/crypto'; // a type: loads nothing
import type { FileSink, FileSource } from '../chunks.js';
import { ClientError } from '../errors.js';
import { safeFileName } from '../fileSafety.js';
import { type NodeTlsOptions, parsePin, pinnedTlsConnect } from './tls.js';

/** The one rule for saved names, shared with the browser app (fileSafety.ts). */
export { safeFileName };

export function nodeSha256(): Promise<IncrementalHash> {
  const h = createHash('sha256');
  return Promise.resolve({ update: (d) => void h.update(d), digest: () => new Uint8Array(h.digest()) });
}

/**
 * AES-256-GCM through node:crypto (OpenSSL), synchronous: for 1 MiB file chunks it costs about a
 * sixth of the CPU of Node's Web Crypto, which copies and schedules every call (bench/transfer.mjs).
 * Same bytes as webCryptoAesGcm (packages/client/test/files.test.ts checks both ways). Results land
 * in buffers the caller gave back (`recycle`) where it can: OpenSSL's output is a fresh buffer that
 * dies young, while a chunk waiting for its upload or its write would otherwise live long enough to
 * reach the old generation and cost full garbage collections.
 */
export const nodeAesGcm: AesGcmFactory = (raw) => {
  const key = Buffer.from(raw); // our own copy: the caller wipes `raw`
  const view = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const pool = bodyPool();
  return Promise.resolve({
    seal(nonce, aad, plain) {
      const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: FILE_TAG_BYTES });
      c.setAAD(aad);
      const out = pool.take(plain.byteLength + FILE_TAG_BYTES);
      out.set(c.update(view(plain)), 0);
      c.final();
      out.set(c.getAuthTag(), plain.byteLength);
      return Promise.resolve(out);
    },
    open(nonce, aad, sealed) {
      if (sealed.byteLength < FILE_TAG_BYTES) return Promise.resolve(undefined);
      const n = sealed.byteLength - FILE_TAG_BYTES;
      const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: FILE_TAG_BYTES });
      d.setAAD(aad);
      d.setAuthTag(view(sealed.subarray(n)));
      const body = d.update(view(sealed.subarray(0, n)));
      try {
        d.final(); // throws unless the tag verifies; the plaintext is dropped then
      } catch {
        body.fill(0);
        return Promise.resolve(undefined);
      }
      const plain = pool.take(n);
      plain.set(body);
      return Promise.resolve(plain);
    },
    recycle: pool.recycle,
  });
};

const MIME: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.pdf': 'application/pdf',
  '.txt': 'text/plain',
  '.zip': 'application/zip',
  '.json': 'application/json',
  '.mp4': 'video/mp4',
  '.mp3': 'audio/mpeg',
};

/** Where the sources and sinks made here live on disk, for the transfer worker (node/pipe.ts). */
const sourcePaths = new WeakMap<FileSource, string>();
const sinkParts = new WeakMap<FileSink, string>();
export const sourcePath = (s: FileSource): string | undefined => sourcePaths.get(s);
export const sinkPart = (s: FileSink): string | undefined => sinkParts.get(s);

/** A file on disk, read chunk by chunk (never whole). */
export async function fileSource(path: string): Promise<FileSource & { close(): Promise<void> }> {
  const fh: FileHandle = await open(path, 'r');
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new ClientError('FILE_TRANSFER', 'not a regular file');
  }
  const pool = bodyPool();
  const source: FileSource & { close(): Promise<void> } = {
    name: basename(path),
    size: st.size,
    mime: MIME[extname(path).toLowerCase()] ?? '',
    async read(offset, length) {
      // A buffer the sender is done with, else a fresh one.
      const buf = pool.take(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    },
    recycle: pool.recycle,
    close: () => fh.close(),
  };
  sourcePaths.set(source, path);
  return source;
}

/** Writes all of `chunk` at `position` (null: where the file is), however many writes it takes. */
export async function writeFully(fh: FileHandle, chunk: Uint8Array, position: number | null): Promise<void> {
  let off = 0;
  while (off < chunk.byteLength)
    off += (await fh.write(chunk, off, chunk.byteLength - off, position === null ? null : position + off)).bytesWritten;
}

/**
 * Writes into `dir/.<random>.part` and, once the whole file verified, links it under its name
 * (adding " (1)", " (2)"... rather than overwriting anything), so a file is never seen half-written
 * under its final name and an existing file is never replaced.
 */
export async function folderSink(dir: string, name: string): Promise<FileSink> {
  const part = join(dir, `.nullroom-${randomBytes(8).toString('hex')}.part`);
  const fh = await open(part, 'wx', 0o600);
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await fh.close();
    }
  };
  const sink: FileSink = {
    write: (chunk) => writeFully(fh, chunk, null),
    async commit() {
      await fh.sync();
      await close();
      const safe = safeFileName(name);
      const ext = extname(safe);
      const stem = safe.slice(0, safe.length - ext.length);
      for (let i = 0; ; i++) {
        const target = join(dir, i === 0 ? safe : `${stem} (${i})${ext}`);
        try {
          await link(part, target); // fails if target exists: never overwrite
          await unlink(part);
          return target;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i > 9999) throw e;
        }
      }
    },
    async abort() {
      await close();
      await unlink(part).catch(() => undefined);
    },
  };
  sinkParts.set(sink, part);
  return sink;
}

/** An HTTPS agent whose connections accept exactly the pinned certificate (pinnedTlsConnect). */
function pinnedAgent(pin: string): https.Agent {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
  (agent as unknown as { createConnection: (o: tls.ConnectionOptions) => tls.TLSSocket }).createConnection = (options) =>
    pinnedTlsConnect(options, pin);
  return agent;
}

type BlobResponse = { status: number; headers: http.IncomingHttpHeaders; body: Uint8Array };

/** Reads a response with one copy, straight into a buffer of the announced size (chunks are at most ~1 MiB). */
function readResponse(
  res: http.IncomingMessage,
  pool: ReturnType<typeof bodyPool>,
  resolve: (r: BlobResponse) => void,
  reject: (e: Error) => void,
): void {
  const declared = Number(res.headers['content-length'] ?? NaN);
  const sized = Number.isSafeInteger(declared) && declared >= 0 && declared <= 16 * 1024 * 1024;
  let body = sized && declared > 0 ? pool.take(declared) : new Uint8Array(0);
  let got = 0;
  res.on('data', (d: Buffer) => {
    if (got + d.byteLength > body.byteLength) {
      const bigger = new Uint8Array(Math.max(body.byteLength * 2, got + d.byteLength));
      bigger.set(body.subarray(0, got));
      body = bigger;
    }
    body.set(d, got);
    got += d.byteLength;
  });
  res.on('end', () =>
    resolve({ status: res.statusCode ?? 0, headers: res.headers, body: got === body.byteLength ? body : body.subarray(0, got) }),
  );
  res.on('error', reject);
}

/** The relay's blob store over node:http(s), keep-alive, with the client's TLS trust. */
export function nodeBlobTransport(relayUrl: string, opts: NodeTlsOptions = {}): BlobTransport {
  const base = new URL(relayUrl);
  const secure = base.protocol === 'https:' || base.protocol === 'wss:';
  const pin = opts.pin === undefined ? undefined : parsePin(opts.pin);
  const agent = secure
    ? pin !== undefined
      ? pinnedAgent(pin)
      : new https.Agent({ keepAlive: true, maxSockets: 16, ...(opts.ca !== undefined ? { ca: opts.ca } : {}) })
    : new http.Agent({ keepAlive: true, maxSockets: 16 });
  const pool = bodyPool();
  const request = (method: string, path: string, headers: Record<string, string>, body: Uint8Array | undefined, signal?: AbortSignal) =>
    new Promise<BlobResponse>((resolve, reject) => {
      const req = (secure ? https : http).request(
        {
          host: base.hostname,
          port: base.port || (secure ? 443 : 80),
          method,
          path,
          agent,
          headers: { ...headers, ...(body !== undefined ? { 'Content-Length': String(body.byteLength) } : {}) },
          ...(signal ? { signal } : {}),
        },
        (res) => readResponse(res, pool, resolve, reject),
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    });
  const fail = (status: number, headers?: http.IncomingHttpHeaders): never => {
    const code = headers?.[BLOB_ERROR_HEADER.toLowerCase()];
    throw blobFailure(status, typeof code === 'string' ? code : undefined);
  };
  return {
    async put(id, index, token, ticket, body, signal) {
      const r = await request(
        'PUT',
        blobPath(id, index),
        { 'X-Nullroom-Blob-Token': token, [BLOB_TICKET_HEADER]: ticket, 'Content-Type': 'application/octet-stream' },
        body,
        signal,
      );
      if (r.status !== 204 && r.status !== 201 && r.status !== 200) fail(r.status, r.headers);
    },
    async get(id, index, waitMs, signal): Promise<BlobRead> {
      const r = await request('GET', `${blobPath(id, index)}?wait=${waitMs}`, {}, undefined, signal);
      if (r.status === 404) return 'missing';
      if (r.status === 410) return 'gone';
      if (r.status !== 200) fail(r.status, r.headers);
      return r.body;
    },
    async head(id) {
      const r = await request('HEAD', blobPath(id), {}, undefined);
      if (r.status === 404) return 'missing';
      if (r.status === 410) return 'gone';
      if (r.status !== 200) fail(r.status);
      return Number(r.headers['x-nullroom-blob-chunks'] ?? '0');
    },
    async delete(id, token) {
      const r = await request('DELETE', blobPath(id), { 'X-Nullroom-Blob-Token': token }, undefined);
      if (r.status !== 204 && r.status !== 200 && r.status !== 404 && r.status !== 410) fail(r.status);
    },
    recycle: pool.recycle,
  };
}
