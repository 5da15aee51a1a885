/**
 * Identity keys (issue #3: verified marking and key-change warnings): safety numbers survive a
 * reconnect (a new MLS leaf, the same identity), and a member who comes back under the same
 * nickname with another identity is reported as a key change, dropping the verification.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { GONE_AT_ONCE, closeAll, converged, member, randomRoomSecret, relay, until } from './_harness.js';

afterEach(closeAll);

test('safety numbers match on both sides and survive a reconnect (new leaf, same identity)', async (t) => {
  const r = await relay({ limits: GONE_AT_ONCE });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  const before = a.room.safetyNumber('bob');
  assert.match(before ?? '', /^\d{60}$/);
  assert.equal(b.room.safetyNumber('alice'), before);
  const leafKey = a.room.members().find((m) => m.nick === 'bob')!.signaturePublicKey;

  (b.socket() as unknown as { terminate(): void }).terminate();
  await until(() => b.room.state === 'reconnecting' || a.room.members().length === 1, 'drop noticed');
  await until(() => converged([a, b], ['alice', 'bob']) && b.room.state === 'joined', 'bob is back', 15_000);
  const newLeafKey = a.room.members().find((m) => m.nick === 'bob')!.signaturePublicKey;
  assert.notDeepEqual(newLeafKey, leafKey, 'a fresh MLS leaf key');
  assert.equal(a.room.safetyNumber('bob'), before, 'the same identity, so the same safety number');
  assert.equal(a.events.filter((e) => e.type === 'key-changed').length, 0);
});

test('a member back under the same nickname with another identity: key-changed, verification dropped until re-verified', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  assert.deepEqual(a.room.trust('bob'), { verified: false, changed: false });
  await a.room.setVerified('bob', true);
  assert.deepEqual(a.room.trust('bob'), { verified: true, changed: false });
  const oldNumber = a.room.safetyNumber('bob');

  await b.client.close();
  await until(() => converged([a], ['alice']), 'bob gone');
  const impostor = await member(r.url, secret, 'bob'); // another client: another identity key
  await until(() => converged([a, impostor], ['alice', 'bob']), 'the new bob is in');
  await until(() => a.events.some((e) => e.type === 'key-changed'), 'alice is warned');
  assert.deepEqual(
    a.events.filter((e) => e.type === 'key-changed').map((e) => e.e),
    [{ nick: 'bob', wasVerified: true }],
  );
  assert.deepEqual(a.room.trust('bob'), { verified: false, changed: true });
  assert.notEqual(a.room.safetyNumber('bob'), oldNumber);
  // The newcomer has never seen alice: nothing to warn about on its side.
  assert.equal(impostor.events.filter((e) => e.type === 'key-changed').length, 0);

  await a.room.setVerified('bob', true);
  assert.deepEqual(a.room.trust('bob'), { verified: true, changed: false });
});
