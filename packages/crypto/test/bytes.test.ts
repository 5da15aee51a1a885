/** The shared byte helpers: round trips, and decoders that refuse text that is not their encoding. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  equalBytes,
  fromBase64,
  fromBase64Url,
  fromHex,
  randomBytes,
  randomHex,
  readU32be,
  toBase64,
  toBase64Url,
  toHex,
  u32be,
} from '../src/bytes.js';
import { uint64 } from '../src/_mlsCodec.js';

test('hex round-trips and refuses odd lengths and non-hex characters with a SyntaxError', () => {
  const b = Uint8Array.from([0, 1, 0xab, 0xff]);
  assert.equal(toHex(b), '0001abff');
  assert.deepEqual(fromHex('0001abff'), b);
  assert.deepEqual(fromHex('0001ABFF'), b);
  assert.deepEqual(fromHex(''), new Uint8Array(0));
  for (const bad of ['0', 'abc', 'zz', '0g', ' 00', '00 ', '+1']) assert.throws(() => fromHex(bad), SyntaxError, bad);
});

test('base64 and base64url round-trip (RFC 4648 §10 vectors) and refuse other alphabets', () => {
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'Zg=='],
    ['fo', 'Zm8='],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg=='],
    ['fooba', 'Zm9vYmE='],
    ['foobar', 'Zm9vYmFy'],
  ];
  for (const [plain, b64] of vectors) {
    const bytes = new TextEncoder().encode(plain);
    assert.equal(toBase64(bytes), b64);
    assert.deepEqual(fromBase64(b64), bytes);
    assert.equal(toBase64Url(bytes), b64.replace(/=+$/, ''));
    assert.deepEqual(fromBase64Url(b64.replace(/=+$/, '')), bytes);
  }
  const high = Uint8Array.from([0xfb, 0xff, 0xfe]);
  assert.equal(toBase64(high), '+//+');
  assert.equal(toBase64Url(high), '-__-');
  assert.throws(() => fromBase64Url('+//+'), SyntaxError);
  assert.throws(() => fromBase64('Zm9v*'), SyntaxError);
  assert.throws(() => fromBase64('Z'), SyntaxError);
  const big = new Uint8Array(100_000).map((_, i) => i * 7);
  assert.deepEqual(fromBase64(toBase64(big)), big);
});

test('equalBytes compares contents and lengths; random helpers give the asked length', () => {
  assert.ok(equalBytes(Uint8Array.from([1, 2]), Uint8Array.from([1, 2])));
  assert.ok(!equalBytes(Uint8Array.from([1, 2]), Uint8Array.from([1, 3])));
  assert.ok(!equalBytes(Uint8Array.from([1, 2]), Uint8Array.from([1, 2, 3])));
  assert.equal(randomBytes(16).byteLength, 16);
  assert.match(randomHex(8), /^[0-9a-f]{16}$/);
});

test('u32be, readU32be and uint64 write and read what a DataView does, wrapping alike', () => {
  const viaView = (n: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    return b;
  };
  for (const n of [0, 1, 255, 256, 65_535, 65_536, 2 ** 24, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, -1]) {
    assert.deepEqual(u32be(n), viaView(n), `u32be(${n})`);
    const at = new Uint8Array(9);
    at.set(viaView(n), 3);
    assert.equal(readU32be(at, 3), new DataView(at.buffer).getUint32(3), `readU32be at 3 (${n})`);
  }
  for (const n of [0n, 1n, 255n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n, -1n]) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, n);
    assert.deepEqual(uint64(n), b, `uint64(${n})`);
  }
});
