/**
 * The ping payloads of one sweep (connection.ts PingPayloads): drawn from the CSPRNG once per sweep,
 * each connection its own 12 bytes of them, never handed out twice, and new ones each sweep.
 * budget.test.ts and attack.test.ts check what they are for: only their echo proves a peer alive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PING_BYTES, PingPayloads } from '../src/connection.js';

test('a sweep hands each connection its own 12 bytes, and no more payloads than connections', () => {
  const p = new PingPayloads(3);
  const offsets = [p.take(), p.take(), p.take()];
  assert.deepEqual(offsets, [0, PING_BYTES, 2 * PING_BYTES]);
  assert.equal(p.bytes.length, 3 * PING_BYTES);
  assert.throws(() => p.take());
});

test('payloads are fresh random bytes: distinct within a sweep and from one sweep to the next', () => {
  const seen = new Set<string>();
  for (let sweep = 0; sweep < 3; sweep++) {
    const p = new PingPayloads(100);
    for (let i = 0; i < 100; i++) {
      const at = p.take();
      seen.add(p.bytes.subarray(at, at + PING_BYTES).toString('hex'));
    }
  }
  assert.equal(seen.size, 300);
});
