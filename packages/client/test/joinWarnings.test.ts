/**
 * Warnings found while joining reach the caller (issue #11, "a clear warning when a key changes"):
 * the room checks members' keys before `join()` resolves, so a listener attached afterwards, as
 * every app does, must still get the key change, once; and a key store that cannot read what it
 * knew is reported as KEY_STORE_CORRUPT, once, with nothing written over it.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RoomLocator } from '@nullroom/protocol';
import { Emitter } from '../src/emitter.js';
import { ClientError } from '../src/errors.js';
import { type KeyStore, type KnownKey, MemoryKeyStore } from '../src/keyStore.js';
import { closeAll, converged, member, randomRoomSecret, relay, twoMembers, until } from './_harness.js';

afterEach(closeAll);

class Held extends Emitter<{ warn: number; other: number }> {
  constructor(max?: number) {
    super();
    this.holdUnheard(['warn'], max);
  }
  fire<K extends 'warn' | 'other'>(type: K, n: number): void {
    this.emit(type, n);
  }
}

test('Emitter: held events go to the first listener, in order, once; others are not held; the hold is bounded', () => {
  const e = new Held(3);
  e.fire('other', 1); // not held: nobody ever hears it
  for (const n of [1, 2, 3, 4]) e.fire('warn', n);
  const first: number[] = [];
  const off = e.on('warn', (n) => first.push(n));
  assert.deepEqual(first, [2, 3, 4], 'the newest three, oldest first, before on() returns');
  const second: number[] = [];
  e.on('warn', (n) => second.push(n));
  assert.deepEqual(second, [], 'given once, not to every later listener');
  e.fire('warn', 5);
  assert.deepEqual([first, second], [[2, 3, 4, 5], [5]], 'live events reach every listener');
  const others: number[] = [];
  e.on('other', (n) => others.push(n));
  assert.deepEqual(others, []);
  off();
  e.fire('warn', 6);
  assert.deepEqual(second, [5, 6]);
});

test('a key change found while joining reaches a listener attached after join() resolved, once, with wasVerified', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const bobStore = new MemoryKeyStore(); // bob's device: what it remembers outlives his client
  const alice = await member(r.url, secret, 'alice');
  const bob = await member(r.url, secret, 'bob', {}, bobStore);
  await until(() => converged([alice, bob], ['alice', 'bob']), 'two members');
  await bob.room.setVerified('alice', true);
  await bob.client.close();
  await alice.client.close();

  // A different alice (another device, another key) makes the room again; bob comes back.
  const other = await member(r.url, secret, 'alice');
  const back = await member(r.url, secret, 'bob', {}, bobStore);
  await until(() => converged([other, back], ['alice', 'bob']), 'bob is back with the new alice');
  // member() attached its listeners after join() resolved: the warning found at join is there.
  assert.deepEqual(
    back.events.filter((e) => e.type === 'key-changed').map((e) => e.e),
    [{ nick: 'alice', wasVerified: true }],
  );
  assert.deepEqual(back.room.trust('alice'), { verified: false, changed: true });
  assert.equal(back.events.filter((e) => e.type === 'error').length, 0);
});

/** A store whose known keys do not read back (as IndexedDbKeyStore or FileKeyStore report a damaged record). */
class DamagedStore implements KeyStore {
  readonly inner = new MemoryKeyStore();
  remembered = 0;
  identity(room: RoomLocator, nick?: string) {
    return this.inner.identity(room, nick);
  }
  async known(): Promise<KnownKey | undefined> {
    throw new ClientError('KEY_STORE_CORRUPT', 'the key store is damaged (test)');
  }
  async remember(): Promise<void> {
    this.remembered++;
  }
}

test('a key store that cannot read what it knew: KEY_STORE_CORRUPT reaches the caller once, and nothing is written over it', async (t) => {
  const { r, secret, a, b } = await twoMembers({}, t);
  const store = new DamagedStore();
  const c = await member(r.url, secret, 'carol', {}, store);
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
  const errors = c.events.filter((e) => e.type === 'error').map((e) => (e.e as { code: string }).code);
  assert.deepEqual(errors, ['KEY_STORE_CORRUPT'], 'one report for the two members it could not check');
  assert.equal(store.remembered, 0, 'no member was remembered as new over the damaged record');
  assert.deepEqual(c.room.trust('alice'), { verified: false, changed: false });
});
