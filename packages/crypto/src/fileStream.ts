/**
 * File encryption over byte streams (the format and the chunk ciphers are fileCrypto.ts): a
 * plaintext stream of any piece sizes is cut into chunks, sealed with up to `concurrency` chunks in
 * flight and hashed (SHA-256) on the way; a payload stream is opened the same way and ends only once
 * the final chunk verified and the plaintext hash matched.
 *
 * Memory is bounded: the stream helpers never hold the file, only about `concurrency` chunks in
 * flight, the one being assembled, and the input piece being cut.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from './bytes.js';
import { CryptoError } from './errors.js';
import { DEFAULT_FILE_CONCURRENCY, FILE_TAG_BYTES, FileDecryptor, FileEncryptor, type FileHeader } from './fileCrypto.js';

export interface FileStreamOptions {
  /** Chunks in flight at once (default DEFAULT_FILE_CONCURRENCY); memory is about this many chunks. */
  concurrency?: number;
}

export interface EncryptedFileStream {
  readonly header: FileHeader;
  /** The payload: sealed chunks back to back, as `sealedFileSize` says. */
  readonly readable: ReadableStream<Uint8Array>;
  /** SHA-256 of the plaintext, once `readable` has been read to its end. */
  readonly sha256: Promise<Uint8Array>;
}

type Hasher = ReturnType<typeof sha256.create>;

/**
 * Cuts a byte stream into blocks of exactly `size` bytes, the final one 0..size bytes, and runs
 * `op` on up to `depth` blocks at once, emitting results in order. A full block is held until the
 * next byte or the end arrives, because only then is it known whether it is the final one.
 */
function blockTransform(
  size: number,
  depth: number,
  op: (block: Uint8Array<ArrayBuffer>, last: boolean) => Promise<Uint8Array>,
  emitted: (out: Uint8Array) => void,
  end: () => void,
): TransformStream<Uint8Array, Uint8Array> {
  if (!Number.isInteger(depth) || depth < 1) throw new RangeError('concurrency must be a positive integer');
  let buf = new Uint8Array(size);
  let fill = 0;
  const queue: Promise<Uint8Array>[] = [];
  const submit = (block: Uint8Array<ArrayBuffer>, last: boolean) => {
    const p = op(block, last);
    p.catch(() => {}); // awaited in order below; this only keeps a later failure from being reported unhandled
    queue.push(p);
  };
  const drainTo = async (n: number, c: TransformStreamDefaultController<Uint8Array>) => {
    while (queue.length > n) {
      const out = await queue.shift()!;
      emitted(out);
      c.enqueue(out);
    }
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(piece, c) {
      let off = 0;
      while (off < piece.byteLength) {
        if (fill === size) {
          submit(buf, false);
          buf = new Uint8Array(size);
          fill = 0;
          await drainTo(depth - 1, c);
        }
        const n = Math.min(size - fill, piece.byteLength - off);
        buf.set(piece.subarray(off, off + n), fill);
        fill += n;
        off += n;
      }
    },
    async flush(c) {
      submit(buf.subarray(0, fill), true);
      await drainTo(0, c);
      end();
    },
  });
}

/**
 * Encrypts a plaintext byte stream of any piece sizes (a File's `stream()`, a Node stream through
 * `Readable.toWeb`) into the payload, hashing the plaintext on the way.
 */
export async function encryptStream(
  input: ReadableStream<Uint8Array>,
  key: Uint8Array,
  opts: FileStreamOptions & { chunkSize?: number } = {},
): Promise<EncryptedFileStream> {
  const enc = await FileEncryptor.create(key, opts.chunkSize === undefined ? {} : { chunkSize: opts.chunkSize });
  const hash: Hasher = sha256.create();
  let resolve!: (d: Uint8Array) => void;
  let reject!: (e: unknown) => void;
  const digest = new Promise<Uint8Array>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  digest.catch(() => {}); // a caller that never asks for the hash must not see an unhandled rejection
  const t = blockTransform(
    enc.chunkSize,
    opts.concurrency ?? DEFAULT_FILE_CONCURRENCY,
    (block, last) => {
      hash.update(block);
      return enc.sealChunk(block, last);
    },
    () => {},
    () => resolve(hash.digest()),
  );
  const readable = input.pipeThrough(t);
  return { header: enc.header, readable: tapError(readable, reject), sha256: digest };
}

/** Rejects `onError` when the stream errors or is cancelled before its end. */
function tapError(readable: ReadableStream<Uint8Array>, onError: (e: unknown) => void): ReadableStream<Uint8Array> {
  const reader = readable.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        try {
          const r = await reader.read();
          if (r.done) c.close();
          else c.enqueue(r.value);
        } catch (e) {
          onError(e);
          throw e;
        }
      },
      async cancel(reason) {
        onError(new CryptoError('FILE_TRUNCATED', 'file stream cancelled'));
        await reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Decrypts a payload stream (any piece sizes) to the plaintext. The stream errors with a
 * CryptoError on any failure, and ends only after the final chunk verified and, when `sha256` is
 * given, the plaintext hash matched; a consumer must not treat the data as complete before that.
 */
export async function decryptStream(
  input: ReadableStream<Uint8Array>,
  key: Uint8Array,
  header: FileHeader,
  opts: FileStreamOptions & { sha256?: Uint8Array } = {},
): Promise<ReadableStream<Uint8Array>> {
  const dec = await FileDecryptor.create(key, header);
  const expected = opts.sha256;
  if (expected !== undefined && expected.byteLength !== 32) throw new CryptoError('FILE_BAD_HEADER', 'file hash has the wrong length');
  const hash: Hasher = sha256.create();
  let index = 0;
  const t = blockTransform(
    header.chunkSize + FILE_TAG_BYTES,
    opts.concurrency ?? DEFAULT_FILE_CONCURRENCY,
    (block, last) => dec.openChunk(index++, block, last),
    (pt) => hash.update(pt),
    () => {
      dec.finish();
      if (expected !== undefined && !equalBytes(hash.digest(), expected)) {
        throw new CryptoError('FILE_HASH_MISMATCH', 'file hash does not match');
      }
    },
  );
  return input.pipeThrough(t);
}
