/**
 * A connection's memberships (memberships.ts): its first room held inline, more in a Map; what the
 * room logic sees is a Map's behaviour, whatever the sequence of joins and leaves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Memberships } from '../src/memberships.js';
import type { Membership } from '../src/roomState.js';

const stay = (slot: number) => ({ slot }) as unknown as Membership;

test('behaves as a Map: size, get, has, set (again), delete, clear, values in the order set', () => {
  let seed = 7;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let run = 0; run < 50; run++) {
    const map = new Map<string, Membership>();
    const small = new Memberships();
    for (let i = 0; i < 40; i++) {
      const key = `room${random(4)}`;
      const op = random(10);
      if (op < 5) {
        const m = stay(i);
        assert.equal(small.set(key, m), small);
        map.set(key, m);
      } else if (op < 9) assert.equal(small.delete(key), map.delete(key));
      else {
        small.clear();
        map.clear();
      }
      assert.equal(small.size, map.size);
      for (const k of ['room0', 'room1', 'room2', 'room3']) {
        assert.equal(small.get(k), map.get(k));
        assert.equal(small.has(k), map.has(k));
      }
      assert.deepEqual([...small.values()], [...map.values()]);
    }
  }
});
