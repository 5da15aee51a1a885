/** The shared byte helpers: round trips, and decoders that refuse text that is not their encoding. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { equalBytes, fromBase64, fromBase64Url, fromHex, randomBytes, randomHex, toBase64, toBase64Url, toHex } from '../src/bytes.js';

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
