/**
 * Safety numbers (docs/PROTOCOL.md §8): 60 digits, the same on both sides, different as soon as
 * either key (or identifier) differs, shown as twelve groups of five.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSafetyNumber, safetyNumber } from '../src/index.js';

const random = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));
const fromHex = (h: string) => Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16));
const flipBit = (b: Uint8Array, i: number) => {
  const out = b.slice();
  out[i % out.length]! ^= 1 << (i % 8);
  return out;
};

describe('safetyNumber', () => {
  const a = random(32);
  const b = random(32);
  const ab = safetyNumber(a, b);

  test('is 60 decimal digits', () => {
    assert.match(ab, /^\d{60}$/);
    assert.match(safetyNumber(a, a), /^\d{60}$/);
  });

  test('is symmetric: both sides compute the same number', () => {
    assert.equal(safetyNumber(b, a), ab);
    const idA = new TextEncoder().encode('alice');
    const idB = new TextEncoder().encode('bob');
    assert.equal(safetyNumber(a, b, idA, idB), safetyNumber(b, a, idB, idA));
  });

  test('is deterministic', () => {
    assert.equal(safetyNumber(a.slice(), b.slice()), ab);
  });

  test('changes when either key changes (a single bit is enough)', () => {
    for (const bit of [0, 7, 100, 255]) {
      assert.notEqual(safetyNumber(flipBit(a, bit), b), ab, `our key, bit ${bit}`);
      assert.notEqual(safetyNumber(a, flipBit(b, bit)), ab, `their key, bit ${bit}`);
    }
    assert.notEqual(safetyNumber(a, random(32)), ab);
    assert.notEqual(safetyNumber(random(32), b), ab);
  });

  test('each half belongs to one key: changing one key keeps the other half', () => {
    // The number is the two per-key halves sorted; the unchanged key's half survives.
    const halvesOf = (s: string) => [s.slice(0, 30), s.slice(30)];
    const changed = safetyNumber(a, random(32));
    const common = halvesOf(ab).filter((h) => halvesOf(changed).includes(h));
    assert.equal(common.length, 1);
  });

  test('changes when an identifier changes', () => {
    const id = new TextEncoder().encode('x');
    assert.notEqual(safetyNumber(a, b, id), ab);
    assert.notEqual(safetyNumber(a, b, undefined, id), ab);
  });

  // Signal's published vector (libsignal rust/protocol/src/fingerprint.rs, fingerprint_test_v1,
  // 5200 iterations): the first round hashes SHA-512(0x0000 || key || id || key), every later one
  // SHA-512(h || key), which is what safetyNumber.ts computes (h_0 = 0x0000 || key || id).
  test("matches Signal's NumericFingerprintGenerator test vector", () => {
    const alice = fromHex('0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868');
    const bob = fromHex('05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b');
    const enc = new TextEncoder();
    assert.equal(
      safetyNumber(alice, bob, enc.encode('+14152222222'), enc.encode('+14153333333')),
      '300354477692869396892869876765458257569162576843440918079131',
    );
  });
});

describe('formatSafetyNumber', () => {
  test('shows twelve groups of five digits separated by single spaces', () => {
    const digits = safetyNumber(random(32), random(32));
    const shown = formatSafetyNumber(digits);
    assert.match(shown, /^(\d{5} ){11}\d{5}$/);
    assert.equal(shown.split(' ').length, 12);
    assert.equal(shown.replaceAll(' ', ''), digits);
  });

  test('a fixed example', () => {
    const digits = '012345678901234567890123456789012345678901234567890123456789';
    assert.equal(formatSafetyNumber(digits), '01234 56789 01234 56789 01234 56789 01234 56789 01234 56789 01234 56789');
  });
});

test('account safety numbers: the same on both sides, over every device, whatever their order; a device more changes it', async () => {
  const { accountSafetyNumber } = await import('../src/index.js');
  const k = (n: number) => new Uint8Array(32).fill(n);
  const alice = { name: 'alice', devices: [k(1), k(2)] };
  const bob = { name: 'bob', devices: [k(3)] };
  const n = accountSafetyNumber(alice, bob);
  assert.match(n, /^\d{60}$/);
  assert.equal(accountSafetyNumber(bob, alice), n);
  assert.equal(accountSafetyNumber({ name: 'alice', devices: [k(2), k(1)] }, bob), n);
  assert.notEqual(accountSafetyNumber({ name: 'alice', devices: [k(1), k(2), k(4)] }, bob), n);
  assert.notEqual(accountSafetyNumber({ name: 'alice', devices: [k(1)] }, bob), n);
  assert.notEqual(accountSafetyNumber({ name: 'alicf', devices: [k(1), k(2)] }, bob), n, 'the name is bound');
});
