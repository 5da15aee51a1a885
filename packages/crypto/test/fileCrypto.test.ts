/**
 * File encryption (STREAM over AES-256-GCM, docs in src/fileCrypto.ts). The format is recomputed
 * here from its documented formula with Web Crypto alone (HKDF for the payload key, AES-GCM with a
 * hand-built nonce and the header as associated data); the rest pins the failure modes STREAM
 * exists for: truncation, reordering, duplication, splicing between files, tampering.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { concat } from '../src/bytes.js';
import {
  CryptoError,
  type CryptoErrorCode,
  DEFAULT_FILE_CHUNK_SIZE,
  FILE_HEADER_BYTES,
  FILE_TAG_BYTES,
  type FileHeader,
  FileDecryptor,
  FileEncryptor,
  decodeFileHeader,
  decryptStream,
  encodeFileHeader,
  encryptStream,
  fileChunkCount,
  newFileKey,
  sealedFileSize,
} from '../src/index.js';

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function random(n: number): Uint8Array {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65536 bytes per call.
  for (let off = 0; off < n; off += 65536) globalThis.crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  return out;
}

/** Deterministic pseudo-random piece sizes (xorshift), so a failure can be replayed. */
function oddSizes(seed: number, max: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return 1 + ((x >>> 0) % max);
  };
}

/** Seals `plain` chunk by chunk through the low-level API. */
async function sealAll(key: Uint8Array, plain: Uint8Array, chunkSize: number): Promise<{ header: FileHeader; chunks: Uint8Array[] }> {
  const enc = await FileEncryptor.create(key, { chunkSize });
  const n = fileChunkCount(plain.byteLength, chunkSize);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < n; i++) chunks.push(await enc.sealChunk(plain.subarray(i * chunkSize, (i + 1) * chunkSize), i === n - 1));
  assert.equal(enc.done, true);
  return { header: enc.header, chunks };
}

async function openAll(key: Uint8Array, header: FileHeader, chunks: Uint8Array[]): Promise<Uint8Array> {
  const dec = await FileDecryptor.create(key, header);
  const out: Uint8Array[] = [];
  for (let i = 0; i < chunks.length; i++) out.push(await dec.openChunk(i, chunks[i]!, i === chunks.length - 1));
  dec.finish();
  return concat(...out);
}

const isCode = (code: CryptoErrorCode) => (e: unknown) => e instanceof CryptoError && e.code === code;

function source(bytes: Uint8Array, next: () => number): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (off >= bytes.byteLength) return c.close();
      const n = Math.min(next(), bytes.byteLength - off);
      c.enqueue(bytes.slice(off, off + n));
      off += n;
    },
  });
}

async function collect(r: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = r.getReader();
  for (;;) {
    const x = await reader.read();
    if (x.done) return concat(...parts);
    parts.push(x.value);
  }
}

describe('file key and header', () => {
  test('newFileKey gives 32 fresh bytes', () => {
    const a = newFileKey();
    assert.equal(a.byteLength, 32);
    assert.notDeepEqual(a, newFileKey());
  });

  test('a key of any other length is refused', async () => {
    for (const n of [0, 16, 31, 33, 64]) {
      await assert.rejects(FileEncryptor.create(new Uint8Array(n)), isCode('FILE_BAD_KEY'));
    }
  });

  test('header codec: version || file id || u32be chunk size, round trip', async () => {
    const enc = await FileEncryptor.create(newFileKey(), { chunkSize: 70000 });
    const b = encodeFileHeader(enc.header);
    assert.equal(b.byteLength, FILE_HEADER_BYTES);
    assert.equal(b[0], 1);
    assert.deepEqual(b.subarray(1, 17), enc.header.fileId);
    assert.equal(new DataView(b.buffer).getUint32(17), 70000);
    assert.deepEqual(decodeFileHeader(b), { fileId: enc.header.fileId, chunkSize: 70000 });
    assert.equal((await FileEncryptor.create(newFileKey())).header.chunkSize, DEFAULT_FILE_CHUNK_SIZE);
  });

  test('each file gets a fresh random file id', async () => {
    const key = newFileKey();
    const a = await FileEncryptor.create(key);
    const b = await FileEncryptor.create(key);
    assert.equal(a.header.fileId.byteLength, 16);
    assert.notDeepEqual(a.header.fileId, b.header.fileId);
  });

  test('malformed headers are FILE_BAD_HEADER', async () => {
    const good = encodeFileHeader({ fileId: new Uint8Array(16), chunkSize: 65536 });
    const withSize = (n: number) => {
      const b = good.slice();
      new DataView(b.buffer).setUint32(17, n);
      return b;
    };
    const bad = [
      good.subarray(0, 20),
      concat(...[good, Uint8Array.of(0)]),
      Uint8Array.of(2, ...good.subarray(1)),
      Uint8Array.of(0, ...good.subarray(1)),
      withSize(0),
      withSize(15),
      withSize(16 * 1024 * 1024 + 1),
      withSize(0xffffffff),
    ];
    for (const b of bad) assert.throws(() => decodeFileHeader(b), isCode('FILE_BAD_HEADER'));
    assert.throws(() => encodeFileHeader({ fileId: new Uint8Array(15), chunkSize: 65536 }), isCode('FILE_BAD_HEADER'));
    assert.throws(() => encodeFileHeader({ fileId: new Uint8Array(16), chunkSize: 1.5 }), isCode('FILE_BAD_HEADER'));
    await assert.rejects(FileEncryptor.create(newFileKey(), { chunkSize: 8 }), isCode('FILE_BAD_HEADER'));
  });
});

describe('documented format (recomputed with Web Crypto alone)', () => {
  test('chunk_i = AES-256-GCM(HKDF-SHA-256(key, file_id, "nullroom/v1/file-payload"), counter(11) || flag, aad = header)', async () => {
    const key = newFileKey();
    const cs = 64;
    const plain = random(3 * cs + 5);
    const { header, chunks } = await sealAll(key, plain, cs);
    // RFC 5869 HKDF-SHA-256, L = 32, salt = file id.
    const ikm = await subtle.importKey('raw', new Uint8Array(key), 'HKDF', false, ['deriveKey']);
    const aes = await subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(header.fileId), info: utf8.encode('nullroom/v1/file-payload') },
      ikm,
      { name: 'AES-GCM', length: 256 },
      false,
      ['encrypt'],
    );
    const aad = encodeFileHeader(header);
    for (let i = 0; i < chunks.length; i++) {
      const iv = new Uint8Array(12);
      iv[10] = i; // 11-byte big-endian counter: small indices sit in byte 10
      iv[11] = i === chunks.length - 1 ? 1 : 0;
      const expected = new Uint8Array(
        await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, aes, plain.slice(i * cs, (i + 1) * cs)),
      );
      assert.equal(hex(chunks[i]!), hex(expected), `chunk ${i}`);
    }
  });

  test('sizes: every chunk but the last is chunkSize + 16 bytes; an empty file is one 16-byte chunk', async () => {
    const cs = 100;
    for (const size of [0, 1, 99, 100, 101, 305]) {
      const { chunks } = await sealAll(newFileKey(), random(size), cs);
      assert.equal(chunks.length, fileChunkCount(size, cs));
      assert.equal(concat(...chunks).byteLength, sealedFileSize(size, cs));
      for (const c of chunks.slice(0, -1)) assert.equal(c.byteLength, cs + FILE_TAG_BYTES);
    }
    assert.equal(fileChunkCount(0, cs), 1);
    assert.equal(sealedFileSize(0, cs), FILE_TAG_BYTES);
    assert.equal(fileChunkCount(100, cs), 1);
    assert.equal(fileChunkCount(101, cs), 2);
  });
});

describe('round trip', () => {
  const cs = DEFAULT_FILE_CHUNK_SIZE;
  for (const size of [0, 1, cs - 1, cs, cs + 1, 3 * cs + 5]) {
    test(`${size} bytes at the default chunk size`, async () => {
      const key = newFileKey();
      const plain = random(size);
      const { header, chunks } = await sealAll(key, plain, cs);
      assert.deepEqual(await openAll(key, header, chunks), plain);
      // The header also survives its encoding, as it will travel.
      assert.deepEqual(await openAll(key, decodeFileHeader(encodeFileHeader(header)), chunks), plain);
    });
  }

  test('overlapping sealChunk and openChunk calls give the same file as sequential ones', async () => {
    const key = newFileKey();
    const cs = 1024;
    const plain = random(10 * cs + 3);
    const enc = await FileEncryptor.create(key, { chunkSize: cs });
    const chunks = await Promise.all(Array.from({ length: 11 }, (_, i) => enc.sealChunk(plain.subarray(i * cs, (i + 1) * cs), i === 10)));
    const dec = await FileDecryptor.create(key, enc.header);
    const parts = await Promise.all(chunks.map((c, i) => dec.openChunk(i, c, i === 10)));
    dec.finish();
    assert.deepEqual(concat(...parts), plain);
    assert.deepEqual(await openAll(key, enc.header, chunks), plain);
  });
});

describe('encryptor guards', () => {
  test('refuses to seal after the final chunk (no nonce is used twice)', async () => {
    const enc = await FileEncryptor.create(newFileKey(), { chunkSize: 16 });
    await enc.sealChunk(new Uint8Array(5), true);
    await assert.rejects(enc.sealChunk(new Uint8Array(5), true), isCode('FILE_AFTER_LAST'));
    await assert.rejects(enc.sealChunk(new Uint8Array(16), false), isCode('FILE_AFTER_LAST'));
  });

  test('non-final chunks must be exactly chunkSize; the final one 1..chunkSize, or empty only as the only chunk', async () => {
    const enc = await FileEncryptor.create(newFileKey(), { chunkSize: 16 });
    await assert.rejects(enc.sealChunk(new Uint8Array(15), false), isCode('FILE_BAD_CHUNK'));
    await assert.rejects(enc.sealChunk(new Uint8Array(17), false), isCode('FILE_BAD_CHUNK'));
    await assert.rejects(enc.sealChunk(new Uint8Array(17), true), isCode('FILE_BAD_CHUNK'));
    await enc.sealChunk(new Uint8Array(16), false);
    await assert.rejects(enc.sealChunk(new Uint8Array(0), true), isCode('FILE_BAD_CHUNK'));
    await enc.sealChunk(new Uint8Array(16), true);
  });
});

describe('failures STREAM detects', () => {
  const cs = 64;

  async function fourChunks() {
    const key = newFileKey();
    const plain = random(3 * cs + 5);
    const { header, chunks } = await sealAll(key, plain, cs);
    assert.equal(chunks.length, 4);
    return { key, plain, header, chunks };
  }

  test('truncation: the final chunk dropped -> finish throws FILE_TRUNCATED', async () => {
    const { key, header, chunks } = await fourChunks();
    const dec = await FileDecryptor.create(key, header);
    for (let i = 0; i < 3; i++) await dec.openChunk(i, chunks[i]!, false);
    assert.throws(() => dec.finish(), isCode('FILE_TRUNCATED'));
    // Nothing at all is truncation too.
    const empty = await FileDecryptor.create(key, header);
    assert.throws(() => empty.finish(), isCode('FILE_TRUNCATED'));
    await assert.rejects((await FileDecryptor.create(key, header)).openChunk(0, new Uint8Array(0), true), isCode('FILE_TRUNCATED'));
  });

  test('truncation: a non-final chunk presented as final fails (FILE_TRUNCATED) and yields no plaintext', async () => {
    const { key, header, chunks } = await fourChunks();
    for (const cut of [1, 2, 3]) {
      const dec = await FileDecryptor.create(key, header);
      for (let i = 0; i < cut - 1; i++) await dec.openChunk(i, chunks[i]!, false);
      await assert.rejects(dec.openChunk(cut - 1, chunks[cut - 1]!, true), isCode('FILE_TRUNCATED'));
      assert.throws(() => dec.finish(), isCode('FILE_TRUNCATED'));
    }
  });

  test('the final chunk presented as non-final fails', async () => {
    // A full-size final chunk (the file is an exact multiple of the chunk size).
    const key = newFileKey();
    const { header, chunks } = await sealAll(key, random(2 * cs), cs);
    const dec = await FileDecryptor.create(key, header);
    await dec.openChunk(0, chunks[0]!, false);
    await assert.rejects(dec.openChunk(1, chunks[1]!, false), isCode('FILE_TAMPERED'));
    // A short final chunk cannot even be non-final.
    const f = await fourChunks();
    const dec2 = await FileDecryptor.create(f.key, f.header);
    for (let i = 0; i < 3; i++) await dec2.openChunk(i, f.chunks[i]!, false);
    await assert.rejects(dec2.openChunk(3, f.chunks[3]!, false), isCode('FILE_BAD_CHUNK'));
  });

  test('reordering: two chunks swapped', async () => {
    const { key, header, chunks } = await fourChunks();
    const dec = await FileDecryptor.create(key, header);
    await dec.openChunk(0, chunks[0]!, false);
    await assert.rejects(dec.openChunk(1, chunks[2]!, false), isCode('FILE_TAMPERED'));
    // Indices that skip ahead are refused before any decryption.
    const dec2 = await FileDecryptor.create(key, header);
    await dec2.openChunk(0, chunks[0]!, false);
    await assert.rejects(dec2.openChunk(2, chunks[2]!, false), isCode('FILE_OUT_OF_ORDER'));
    for (const bad of [-1, 0.5, NaN, 1e300]) {
      await assert.rejects((await FileDecryptor.create(key, header)).openChunk(bad, chunks[0]!, false), isCode('FILE_OUT_OF_ORDER'));
    }
  });

  test('duplication: a chunk repeated, under its own index or the next one', async () => {
    const { key, header, chunks } = await fourChunks();
    const dec = await FileDecryptor.create(key, header);
    await dec.openChunk(0, chunks[0]!, false);
    await assert.rejects(dec.openChunk(0, chunks[0]!, false), isCode('FILE_OUT_OF_ORDER'));
    const dec2 = await FileDecryptor.create(key, header);
    await dec2.openChunk(0, chunks[0]!, false);
    await assert.rejects(dec2.openChunk(1, chunks[0]!, false), isCode('FILE_TAMPERED'));
  });

  test('nothing is accepted after the final chunk', async () => {
    const { key, header, chunks } = await fourChunks();
    const dec = await FileDecryptor.create(key, header);
    for (let i = 0; i < 4; i++) await dec.openChunk(i, chunks[i]!, i === 3);
    dec.finish();
    await assert.rejects(dec.openChunk(4, chunks[3]!, true), isCode('FILE_AFTER_LAST'));
    await assert.rejects(dec.openChunk(4, chunks[0]!, false), isCode('FILE_AFTER_LAST'));
  });

  test('every single altered byte, in ciphertext or in tag, of every chunk -> FILE_TAMPERED', async () => {
    const { key, header, chunks } = await fourChunks();
    for (let c = 0; c < chunks.length; c++) {
      for (let b = 0; b < chunks[c]!.byteLength; b++) {
        const altered = chunks.map((x) => x.slice());
        altered[c]![b]! ^= 1 << (b % 8);
        await assert.rejects(openAll(key, header, altered), isCode('FILE_TAMPERED'), `chunk ${c} byte ${b}`);
      }
    }
  });

  test('a chunk from another file under the same key', async () => {
    const key = newFileKey();
    const a = await sealAll(key, random(3 * cs + 5), cs);
    const b = await sealAll(key, random(3 * cs + 5), cs);
    for (let i = 0; i < 4; i++) {
      const spliced = a.chunks.slice();
      spliced[i] = b.chunks[i]!;
      await assert.rejects(openAll(key, a.header, spliced), isCode('FILE_TAMPERED'), `chunk ${i}`);
    }
    // File B's header with file A's chunks, and the reverse.
    await assert.rejects(openAll(key, b.header, a.chunks), isCode('FILE_TAMPERED'));
    await assert.rejects(openAll(key, a.header, b.chunks), isCode('FILE_TAMPERED'));
  });

  test('a header with another chunk size fails', async () => {
    const { key, header, chunks } = await fourChunks();
    // Same chunk boundaries are impossible with another size: length checks or the tag catch it.
    await assert.rejects(openAll(key, { fileId: header.fileId, chunkSize: cs + 1 }, chunks), isCode('FILE_BAD_CHUNK'));
    const one = await sealAll(key, random(10), cs);
    await assert.rejects(openAll(key, { fileId: one.header.fileId, chunkSize: 32 }, one.chunks), isCode('FILE_TAMPERED'));
  });

  test('wrong key', async () => {
    const { header, chunks } = await fourChunks();
    await assert.rejects(openAll(newFileKey(), header, chunks), isCode('FILE_TAMPERED'));
  });

  test('a decryptor that failed stays failed, with the same code', async () => {
    const { key, header, chunks } = await fourChunks();
    const dec = await FileDecryptor.create(key, header);
    await assert.rejects(dec.openChunk(0, chunks[1]!, false), isCode('FILE_TAMPERED'));
    await assert.rejects(dec.openChunk(0, chunks[0]!, false), isCode('FILE_TAMPERED'));
    await assert.rejects(dec.openChunk(1, chunks[1]!, false), isCode('FILE_TAMPERED'));
    assert.throws(() => dec.finish(), isCode('FILE_TAMPERED'));
  });

  test('error messages are the fixed strings (no key, plaintext or ciphertext)', async () => {
    const { key, header, chunks } = await fourChunks();
    const err = await openAll(newFileKey(), header, chunks).catch((e: unknown) => e);
    assert.ok(err instanceof CryptoError);
    assert.equal(err.message, 'file chunk failed authentication');
    assert.ok(!err.message.includes(hex(key).slice(0, 8)));
  });
});

describe('encryptStream / decryptStream', () => {
  async function sha(b: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await subtle.digest('SHA-256', new Uint8Array(b)));
  }

  const cs = 1000;
  for (const size of [0, 1, cs - 1, cs, cs + 1, 3 * cs + 5, 20 * cs + 17]) {
    test(`${size} bytes in odd-sized pieces both ways, hash verified`, async () => {
      const key = newFileKey();
      const plain = random(size);
      for (const [seed, concurrency] of [
        [7, 1],
        [1234567, 4],
        [99, 8],
      ] as const) {
        const enc = await encryptStream(source(plain, oddSizes(seed, 2 * cs + 7)), key, { chunkSize: cs, concurrency });
        const sealed = await collect(enc.readable);
        assert.equal(sealed.byteLength, sealedFileSize(size, cs));
        const digest = await enc.sha256;
        assert.deepEqual(digest, await sha(plain));
        const header = decodeFileHeader(encodeFileHeader(enc.header));
        const out = await collect(
          await decryptStream(source(sealed, oddSizes(seed + 1, 3 * cs)), key, header, { sha256: digest, concurrency }),
        );
        assert.deepEqual(out, plain);
      }
    });
  }

  test('the stream payload is the same format as the chunk API', async () => {
    const key = newFileKey();
    const plain = random(3 * cs + 5);
    const enc = await encryptStream(source(plain, oddSizes(3, 700)), key, { chunkSize: cs });
    const sealed = await collect(enc.readable);
    const chunks = Array.from({ length: 4 }, (_, i) => sealed.subarray(i * (cs + 16), (i + 1) * (cs + 16)));
    assert.deepEqual(await openAll(key, enc.header, chunks), plain);
  });

  test('default chunk size, single large pieces', async () => {
    const key = newFileKey();
    const plain = random(5 * DEFAULT_FILE_CHUNK_SIZE + 12345);
    const enc = await encryptStream(
      source(plain, () => plain.byteLength),
      key,
    );
    const sealed = await collect(enc.readable);
    assert.equal(enc.header.chunkSize, DEFAULT_FILE_CHUNK_SIZE);
    assert.deepEqual(
      await collect(
        await decryptStream(
          source(sealed, () => sealed.byteLength),
          key,
          enc.header,
          { sha256: await enc.sha256 },
        ),
      ),
      plain,
    );
  });

  async function sealedFile(size: number) {
    const key = newFileKey();
    const plain = random(size);
    const enc = await encryptStream(source(plain, oddSizes(5, 900)), key, { chunkSize: cs });
    const sealed = await collect(enc.readable);
    return { key, plain, header: enc.header, sealed, digest: await enc.sha256 };
  }

  const decryptFails = async (
    f: { key: Uint8Array; header: FileHeader },
    bytes: Uint8Array,
    code: CryptoErrorCode,
    sha256?: Uint8Array,
  ) => {
    const r = await decryptStream(source(bytes, oddSizes(11, 1500)), f.key, f.header, sha256 === undefined ? {} : { sha256 });
    await assert.rejects(collect(r), isCode(code));
  };

  test('hash mismatch: the stream errors instead of ending', async () => {
    const f = await sealedFile(2 * cs + 3);
    const wrong = f.digest.slice();
    wrong[31]! ^= 1;
    await decryptFails(f, f.sealed, 'FILE_HASH_MISMATCH', wrong);
    await assert.rejects(
      decryptStream(
        source(f.sealed, () => 10),
        f.key,
        f.header,
        { sha256: new Uint8Array(31) },
      ),
      isCode('FILE_BAD_HEADER'),
    );
  });

  test('truncated payloads: at a chunk boundary, inside a chunk, and empty', async () => {
    const f = await sealedFile(3 * cs + 5);
    await decryptFails(f, f.sealed.subarray(0, 3 * (cs + 16)), 'FILE_TRUNCATED');
    await decryptFails(f, f.sealed.subarray(0, 1 * (cs + 16)), 'FILE_TRUNCATED');
    await decryptFails(f, f.sealed.subarray(0, f.sealed.byteLength - 1), 'FILE_TAMPERED');
    await decryptFails(f, f.sealed.subarray(0, 2 * (cs + 16) + 500), 'FILE_TAMPERED');
    await decryptFails(f, f.sealed.subarray(0, 3 * (cs + 16) + 10), 'FILE_BAD_CHUNK');
    await decryptFails(f, new Uint8Array(0), 'FILE_TRUNCATED');
  });

  test('altered, reordered and extended payloads', async () => {
    const f = await sealedFile(3 * cs + 5);
    const flipped = f.sealed.slice();
    flipped[cs + 16 + 7]! ^= 0x80;
    await decryptFails(f, flipped, 'FILE_TAMPERED');
    const swapped = concat(...[f.sealed.subarray(cs + 16, 2 * (cs + 16)), f.sealed.subarray(0, cs + 16), f.sealed.subarray(2 * (cs + 16))]);
    await decryptFails(f, swapped, 'FILE_TAMPERED');
    await decryptFails(f, concat(...[f.sealed, Uint8Array.of(0)]), 'FILE_TAMPERED');
    await decryptFails(f, concat(...[f.sealed, f.sealed.subarray(3 * (cs + 16))]), 'FILE_TAMPERED');
    await decryptFails({ key: newFileKey(), header: f.header }, f.sealed, 'FILE_TAMPERED');
  });

  test('bounded memory: a reader that stops pulling stops the source', async () => {
    const key = newFileKey();
    const piece = new Uint8Array(4096);
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          pulled += piece.byteLength;
          c.enqueue(piece.slice());
        },
      },
      { highWaterMark: 0 },
    );
    const enc = await encryptStream(endless, key, { chunkSize: cs, concurrency: 4 });
    const reader = enc.readable.getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 50));
    // Queues in flight, one block being filled, one input piece and the streams' own small buffers.
    assert.ok(pulled < 16 * piece.byteLength, `pulled ${pulled} bytes`);
    await reader.cancel();
    await assert.rejects(enc.sha256, isCode('FILE_TRUNCATED'));
  });

  test('a failing source fails the stream and the hash', async () => {
    const broken = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(3000));
        c.error(new Error('disk gone'));
      },
    });
    const enc = await encryptStream(broken, newFileKey(), { chunkSize: cs });
    await assert.rejects(collect(enc.readable), /disk gone/);
    await assert.rejects(enc.sha256, /disk gone/);
  });
});

describe('stream properties (fast-check)', () => {
  const fileCodes = new Set<CryptoErrorCode>(['FILE_TAMPERED', 'FILE_TRUNCATED', 'FILE_BAD_CHUNK']);
  const pieces = (sizes: number[]) => {
    let i = 0;
    return () => sizes[i++ % sizes.length]!;
  };
  const arbFile = fc.record({
    size: fc.nat({ max: 700 }),
    chunkSize: fc.integer({ min: 16, max: 200 }),
    encPieces: fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 8 }),
    decPieces: fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 8 }),
    concurrency: fc.integer({ min: 1, max: 6 }),
  });

  test('any size, chunk size, piece sizes and concurrency round-trip with the right hash', async () => {
    await fc.assert(
      fc.asyncProperty(arbFile, async (f) => {
        const key = newFileKey();
        const plain = random(f.size);
        const enc = await encryptStream(source(plain, pieces(f.encPieces)), key, { chunkSize: f.chunkSize, concurrency: f.concurrency });
        const sealed = await collect(enc.readable);
        assert.equal(sealed.byteLength, sealedFileSize(f.size, f.chunkSize));
        const dec = await decryptStream(source(sealed, pieces(f.decPieces)), key, enc.header, {
          sha256: await enc.sha256,
          concurrency: f.concurrency,
        });
        assert.deepEqual(await collect(dec), plain);
      }),
      { numRuns: 150 },
    );
  });

  test('any cut, flipped bit or inserted bytes: the stream errors with a file code, never ends cleanly', async () => {
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
    );
    await fc.assert(
      fc.asyncProperty(arbFile, edit, async (f, e) => {
        const key = newFileKey();
        const enc = await encryptStream(source(random(f.size), pieces(f.encPieces)), key, { chunkSize: f.chunkSize });
        const sealed = await collect(enc.readable);
        let bad: Uint8Array;
        if (e.kind === 'cut') bad = sealed.subarray(0, e.at % sealed.byteLength);
        else if (e.kind === 'flip') {
          bad = sealed.slice();
          bad[e.at % sealed.byteLength]! ^= 1 << e.bit;
        } else {
          const at = e.at % (sealed.byteLength + 1);
          bad = concat(...[sealed.subarray(0, at), e.bytes, sealed.subarray(at)]);
        }
        const dec = await decryptStream(source(bad, pieces(f.decPieces)), key, enc.header, { concurrency: f.concurrency });
        await assert.rejects(collect(dec), (err: unknown) => err instanceof CryptoError && fileCodes.has(err.code));
      }),
      { numRuns: 300 },
    );
  });
});
