/**
 * Ghost leaves (docs/PROTOCOL.md §4.3 "Departures"): a departed member's leaf is removed even when
 * no member that got its PEER_GONE is left to remove it. A joiner probes every leaf it found with
 * an empty DIRECT; the relay refuses one for a slot nobody holds, and the joiner treats that leaf
 * as departed.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame } from '@nullroom/protocol';
import { toHex } from '../src/encoding.js';
import { GONE_AT_ONCE, closeAll, member, randomRoomSecret, relay, until, type TestClient } from './_harness.js';

afterEach(closeAll);

const isPeerGone = (bytes: Uint8Array): boolean => {
  try {
    return decodeFrame(bytes).type === 'PEER_GONE';
  } catch {
    return false;
  }
};

/** Every client is joined, lists `n` leaves, one per identity key, and all are in one epoch. */
const settled = (cs: TestClient[], n: number): boolean =>
  cs.every(
    (c) =>
      c.room.state === 'joined' &&
      c.room.epoch === cs[0]!.room.epoch &&
      c.room.members().length === n &&
      new Set(c.room.members().map((m) => toHex(m.identityKey))).size === n,
  );

test("a leaf whose PEER_GONE nobody got (every witness gone) is found by the rejoiner's probe and removed", async (t) => {
  // The relay never tells anyone of a departure: as if every member that heard of it left too.
  const r = await relay({ limits: GONE_AT_ONCE, hooks: { transformOut: (_c, bytes) => (isPeerGone(bytes) ? [] : [bytes]) } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  await until(() => settled([a, b], 2), 'two members');
  const oldSlot = b.room.profile()!.slot;
  (b.socket() as unknown as { terminate(): void }).terminate();
  await until(() => b.room.state === 'joined' && b.room.profile()!.slot !== oldSlot, 'bob rejoined', 15_000);
  // Generous bound, no speed claim: the old leaf goes, although alice never got its PEER_GONE.
  await until(() => settled([a, b], 2) && a.room.members().every((m) => m.slot !== oldSlot), 'the ghost leaf is removed', 20_000);
  // Alice read bob-2's probe of her own (live) slot as nothing at all.
  assert.deepEqual(
    a.events.filter((e) => e.type === 'error'),
    [],
  );
  await Promise.all([a, b].map((x) => x.client.close()));
});

test('frequent self-updates and reconnects leave no ghost leaves behind', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  // Self-updates every ~0.6 s make removals race other commits again and again (the churn in
  // which ghosts were seen: about one run in six before probes).
  const timings = { selfUpdateMs: 600, selfUpdatePerMemberMs: 50 };
  const a = await member(r.url, secret, 'alice', timings);
  const b = await member(r.url, secret, 'bob', timings);
  const c = await member(r.url, secret, 'carol', timings);
  await until(() => settled([a, b, c], 3), 'three members');
  for (let round = 0; round < 3; round++) {
    for (const x of [a, b, c]) x.room.send(`${x.room.nick} ${round}`);
    // The next member drops as soon as the last one is back: often before it removed that one's old
    // leaf, which the rejoined members never heard leave.
    const victim = [a, b, c][round]!;
    (victim.socket() as unknown as { terminate(): void }).terminate();
    await until(() => victim.room.state === 'joined', 'rejoined', 15_000);
  }
  await until(() => settled([a, b, c], 3), 'every old leaf is removed', 30_000);
  await Promise.all([a, b, c].map((x) => x.client.close()));
});
