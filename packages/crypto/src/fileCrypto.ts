/**
 * File encryption: STREAM (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption
 * and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015, §7) over AES-256-GCM (NIST SP 800-38D)
 * (Web Crypto, or node:crypto where the caller passes it: `AesGcm`), laid out as in age's payload (C2SP age.md, "Payload"):
 *
 *   file_key     = 32 random bytes, sent inside an MLS application message with the header
 *   header       = version(1) = 0x01 || file_id(16, random) || chunk_size (u32 big-endian)
 *   payload_key  = HKDF-SHA-256(ikm = file_key, salt = file_id, info = "nullroom/v1/file-payload", 32)
 *   nonce_i      = i as 11-byte big-endian counter || last flag (0x00, or 0x01 on the final chunk)
 *   chunk_i      = AES-256-GCM(payload_key, nonce_i, aad = header, plaintext_i) = ciphertext || tag(16)
 *   payload      = chunk_0 || chunk_1 || ... || chunk_n
 *
 * Every chunk but the final one holds exactly chunk_size plaintext bytes; the final one holds
 * 1..chunk_size bytes, or 0 only when it is the only chunk (an empty file), so each plaintext has
 * exactly one encoding. The flag in the nonce makes truncation at a chunk boundary fail, the
 * counter makes reordering, duplication and dropping fail, and the header in the associated data
 * binds the chunk size and the file id.
 *
 * Deliberate addition to the plain STREAM-with-raw-key layout: the AES key is derived per file id
 * (as age does with its payload nonce). The nonces are a counter from zero, so two files under one
 * raw AES-GCM key would reuse (key, nonce) pairs, which leaks the XOR of plaintexts and GHASH's
 * authentication key; associated data alone cannot prevent that. With the derivation, a file key
 * used twice by mistake still gives two unrelated AES keys (the file ids are random).
 *
 * This module holds the format and the chunk ciphers (FileEncryptor, FileDecryptor); fileStream.ts
 * runs them over byte streams.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes, readU32be, u32be, utf8 } from './bytes.js';
import { CryptoError, type CryptoErrorCode } from './errors.js';

// For importers of this module alone (the `@nullroom/crypto/files` entry, without the MLS code).
export { CryptoError };

export const FILE_KEY_BYTES = 32;
export const FILE_ID_BYTES = 16;
/** AES-GCM tag length (NIST SP 800-38D §5.2.1.2: 128 bits, the Web Crypto default). */
export const FILE_TAG_BYTES = 16;
export const FILE_HEADER_BYTES = 1 + FILE_ID_BYTES + 4;
export const FILE_FORMAT_VERSION = 1;
export const DEFAULT_FILE_CHUNK_SIZE = 64 * 1024;
export const MIN_FILE_CHUNK_SIZE = 16;
export const MAX_FILE_CHUNK_SIZE = 16 * 1024 * 1024;
/** Chunks encrypted or decrypted at once by the stream helpers (Web Crypto runs them on worker threads). */
export const DEFAULT_FILE_CONCURRENCY = 4;

const PAYLOAD_INFO = utf8.encode('nullroom/v1/file-payload');
const NONCE_BYTES = 12;

export type FileKey = Uint8Array & { readonly __fileKey: true };

/** Parameters of one encrypted file; they travel, encoded, beside the file key. */
export interface FileHeader {
  readonly fileId: Uint8Array;
  readonly chunkSize: number;
}

/** A fresh random 256-bit file key, as raw bytes so it can travel inside an MLS message. */
export function newFileKey(): FileKey {
  return randomBytes(FILE_KEY_BYTES) as unknown as FileKey;
}

function checkChunkSize(n: number): void {
  if (!Number.isInteger(n) || n < MIN_FILE_CHUNK_SIZE || n > MAX_FILE_CHUNK_SIZE) {
    throw new CryptoError('FILE_BAD_HEADER', 'file chunk size out of range');
  }
}

export function encodeFileHeader(h: FileHeader): Uint8Array<ArrayBuffer> {
  if (h.fileId.byteLength !== FILE_ID_BYTES) throw new CryptoError('FILE_BAD_HEADER', 'file id has the wrong length');
  checkChunkSize(h.chunkSize);
  const out = new Uint8Array(FILE_HEADER_BYTES);
  out[0] = FILE_FORMAT_VERSION;
  out.set(h.fileId, 1);
  out.set(u32be(h.chunkSize), 1 + FILE_ID_BYTES);
  return out;
}

/** Parses an encoded header; unknown versions, wrong lengths and out-of-range chunk sizes are errors. */
export function decodeFileHeader(b: Uint8Array): FileHeader {
  if (b.byteLength !== FILE_HEADER_BYTES) throw new CryptoError('FILE_BAD_HEADER', 'file header has the wrong length');
  if (b[0] !== FILE_FORMAT_VERSION) throw new CryptoError('FILE_BAD_HEADER', 'unknown file format version');
  const chunkSize = readU32be(b, 1 + FILE_ID_BYTES);
  checkChunkSize(chunkSize);
  return { fileId: b.slice(1, 1 + FILE_ID_BYTES), chunkSize };
}

/** Number of chunks a plaintext of `size` bytes is cut into (an empty file is one empty chunk). */
export function fileChunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize));
}

/** Total ciphertext length of a plaintext of `size` bytes. */
export function sealedFileSize(size: number, chunkSize: number): number {
  return size + fileChunkCount(size, chunkSize) * FILE_TAG_BYTES;
}

/**
 * AES-256-GCM under one payload key, as the file code needs it: `seal` returns ciphertext || tag,
 * `open` returns the plaintext, or undefined when the tag does not verify (it must never release
 * unverified plaintext). Two implementations give the same bytes: Web Crypto (`webCryptoAesGcm`,
 * the default, everywhere) and node:crypto (the Node adapter's, about six times cheaper in CPU than
 * Node's Web Crypto for 1 MiB chunks: bench/transfer.mjs).
 */
export interface AesGcm {
  seal(nonce: Uint8Array<ArrayBuffer>, aad: Uint8Array<ArrayBuffer>, plain: Uint8Array): Promise<Uint8Array>;
  open(nonce: Uint8Array<ArrayBuffer>, aad: Uint8Array<ArrayBuffer>, sealed: Uint8Array): Promise<Uint8Array | undefined>;
  /**
   * Optional: the caller is done with a buffer `seal` or `open` returned, which may be reused for a
   * later result. Big buffers that live for a while (a chunk waiting for its upload or its write)
   * otherwise pile up in the old generation and cost a full garbage collection every few of them.
   */
  recycle?(buf: Uint8Array): void;
}
/** Makes an AesGcm for a 32-byte key (the caller wipes its copy of the key afterwards). */
export type AesGcmFactory = (key: Uint8Array<ArrayBuffer>) => Promise<AesGcm>;

export const webCryptoAesGcm: AesGcmFactory = async (raw) => {
  const subtle = globalThis.crypto.subtle;
  const key = await subtle.importKey('raw', raw, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  return {
    seal: async (iv, additionalData, plain) =>
      new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData }, key, bufferSource(plain))),
    open: async (iv, additionalData, sealed) => {
      try {
        return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv, additionalData }, key, bufferSource(sealed)));
      } catch {
        return undefined;
      }
    },
  };
};

/** RFC 5869 HKDF-SHA-256 (L = 32) from the file key and id to the payload key, handed to `aead`. */
async function payloadKey(key: Uint8Array, fileId: Uint8Array, aead: AesGcmFactory): Promise<AesGcm> {
  if (key.byteLength !== FILE_KEY_BYTES) throw new CryptoError('FILE_BAD_KEY', 'file key has the wrong length');
  const k = hkdf(sha256, key, fileId, PAYLOAD_INFO, 32) as Uint8Array<ArrayBuffer>;
  try {
    return await aead(k);
  } finally {
    k.fill(0);
  }
}

/**
 * STREAM nonce for chunk `index` (age: 11-byte big-endian counter || last flag). A deterministic
 * IV in the sense of NIST SP 800-38D §8.2.1: unique per payload key because the counter only grows.
 */
function nonce(index: number, last: boolean): Uint8Array<ArrayBuffer> {
  const n = new Uint8Array(NONCE_BYTES);
  // Counter bytes 0..10 big-endian; indices stay below 2^53, so bytes 0..2 are zero.
  n.set(u32be(Math.floor(index / 2 ** 32)), 3);
  n.set(u32be(index >>> 0), 7);
  n[11] = last ? 1 : 0;
  return n;
}

/** Web Crypto takes ArrayBuffer-backed views; copies only what sits in a SharedArrayBuffer. */
function bufferSource(b: Uint8Array): Uint8Array<ArrayBuffer> {
  if (b.buffer instanceof ArrayBuffer) return b as Uint8Array<ArrayBuffer>;
  const out = new Uint8Array(b.byteLength);
  out.set(b);
  return out;
}

/**
 * Seals one file, chunk after chunk. Chunk i is the i-th call to `sealChunk`; calls may overlap
 * (the counter is taken when the call is made), and no call is accepted after the final chunk,
 * so a (key, nonce) pair is never used twice.
 */
export class FileEncryptor {
  readonly header: FileHeader;
  readonly #key: AesGcm;
  readonly #aad: Uint8Array<ArrayBuffer>;
  #next = 0;
  #done = false;

  private constructor(key: AesGcm, header: FileHeader, aad: Uint8Array<ArrayBuffer>) {
    this.#key = key;
    this.header = header;
    this.#aad = aad;
  }

  /** A new file under `key` with a fresh random file id. */
  static async create(key: Uint8Array, opts: { chunkSize?: number; aead?: AesGcmFactory } = {}): Promise<FileEncryptor> {
    const header: FileHeader = { fileId: randomBytes(FILE_ID_BYTES), chunkSize: opts.chunkSize ?? DEFAULT_FILE_CHUNK_SIZE };
    const aad = encodeFileHeader(header);
    return new FileEncryptor(await payloadKey(key, header.fileId, opts.aead ?? webCryptoAesGcm), header, aad);
  }

  get chunkSize(): number {
    return this.header.chunkSize;
  }

  /** True once the final chunk has been handed to `sealChunk`. */
  get done(): boolean {
    return this.#done;
  }

  /** `plain` must be exactly chunkSize bytes unless `last`; the final chunk is 1..chunkSize bytes (0 only for an empty file). */
  sealChunk(plain: Uint8Array, last: boolean): Promise<Uint8Array> {
    if (this.#done) return Promise.reject(new CryptoError('FILE_AFTER_LAST', 'file chunk after the final chunk'));
    const index = this.#next;
    const cs = this.header.chunkSize;
    const ok = last ? plain.byteLength <= cs && (plain.byteLength > 0 || index === 0) : plain.byteLength === cs;
    if (!ok) return Promise.reject(new CryptoError('FILE_BAD_CHUNK', 'file chunk has the wrong length'));
    if (!Number.isSafeInteger(index + 1)) return Promise.reject(new CryptoError('FILE_BAD_CHUNK', 'too many file chunks'));
    this.#next = index + 1;
    if (last) this.#done = true;
    return this.#key.seal(nonce(index, last), this.#aad, plain);
  }

  /** The caller is done with a sealed chunk (uploaded): its memory may hold a later one. */
  recycle(sealed: Uint8Array): void {
    this.#key.recycle?.(sealed);
  }
}

/**
 * Opens one file, chunk after chunk, and fails closed: indices must run 0, 1, 2, ... with no gap
 * or repeat, nothing is accepted after the final chunk, `finish` fails unless the final chunk
 * was verified, and after any failure every later call fails with the same code.
 */
export class FileDecryptor {
  readonly header: FileHeader;
  readonly #key: AesGcm;
  readonly #aad: Uint8Array<ArrayBuffer>;
  #next = 0;
  #lastTaken = false;
  #lastOpened = false;
  #inFlight = 0;
  #failed: CryptoError | undefined;

  private constructor(key: AesGcm, header: FileHeader, aad: Uint8Array<ArrayBuffer>) {
    this.#key = key;
    this.header = header;
    this.#aad = aad;
  }

  static async create(key: Uint8Array, header: FileHeader, opts: { aead?: AesGcmFactory } = {}): Promise<FileDecryptor> {
    const aad = encodeFileHeader(header);
    return new FileDecryptor(
      await payloadKey(key, header.fileId, opts.aead ?? webCryptoAesGcm),
      { fileId: header.fileId.slice(), chunkSize: header.chunkSize },
      aad,
    );
  }

  #fail(code: CryptoErrorCode, message: string): CryptoError {
    this.#failed ??= new CryptoError(code, message);
    return this.#failed;
  }

  #refuse(): CryptoError | undefined {
    return this.#failed === undefined ? undefined : new CryptoError(this.#failed.code, this.#failed.message);
  }

  /** Plaintext of chunk `index`, or a CryptoError. `last` says whether the sender marked it final. */
  openChunk(index: number, sealed: Uint8Array, last: boolean): Promise<Uint8Array> {
    const refused = this.#refuse();
    if (refused !== undefined) return Promise.reject(refused);
    if (this.#lastTaken) return Promise.reject(this.#fail('FILE_AFTER_LAST', 'file chunk after the final chunk'));
    if (index !== this.#next) return Promise.reject(this.#fail('FILE_OUT_OF_ORDER', 'file chunk out of order'));
    // Nothing at all where the final chunk should be: the payload was cut (or never sent).
    if (last && sealed.byteLength === 0) return Promise.reject(this.#fail('FILE_TRUNCATED', 'file ends before its final chunk'));
    const full = this.header.chunkSize + FILE_TAG_BYTES;
    // An empty final chunk only for an empty file (index 0), as the encryptor produces.
    const min = index === 0 ? FILE_TAG_BYTES : FILE_TAG_BYTES + 1;
    const ok = last ? sealed.byteLength >= min && sealed.byteLength <= full : sealed.byteLength === full;
    if (!ok) return Promise.reject(this.#fail('FILE_BAD_CHUNK', 'file chunk has the wrong length'));
    this.#next = index + 1;
    if (last) this.#lastTaken = true;
    this.#inFlight++;
    return this.#decrypt(index, sealed, last).then(
      async (pt) => {
        this.#inFlight--;
        if (pt !== undefined) {
          if (last) this.#lastOpened = true;
          return pt;
        }
        // A full-size chunk that fails as final but opens as non-final: the stream was cut at a
        // chunk boundary. Its plaintext is dropped; only the diagnosis differs.
        if (last && sealed.byteLength === full && (await this.#decrypt(index, sealed, false)) !== undefined) {
          throw this.#fail('FILE_TRUNCATED', 'file ends before its final chunk');
        }
        throw this.#fail('FILE_TAMPERED', 'file chunk failed authentication');
      },
      (e: unknown) => {
        this.#inFlight--;
        throw e;
      },
    );
  }

  async #decrypt(index: number, ct: Uint8Array, last: boolean): Promise<Uint8Array | undefined> {
    try {
      return await this.#key.open(nonce(index, last), this.#aad, ct);
    } catch {
      return undefined;
    }
  }

  /** The caller is done with an opened chunk (written): its memory may hold a later one. */
  recycle(plain: Uint8Array): void {
    this.#key.recycle?.(plain);
  }

  /** Throws unless every chunk up to and including the final one was verified. */
  finish(): void {
    const refused = this.#refuse();
    if (refused !== undefined) throw refused;
    if (!this.#lastOpened || this.#inFlight > 0) throw this.#fail('FILE_TRUNCATED', 'file ends before its final chunk');
  }
}
