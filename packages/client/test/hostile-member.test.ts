/**
 * A member who knows the room secret attacks the room from inside (issue 11, points 5-7;
 * docs/PROTOCOL.md §4.3 "Void commits and repairs"). The attacker is a raw WebSocket client that
 * speaks the relay protocol with hand-built frames (and, where it needs one, a real external
 * commit made with the room secret); the honest members are real clients on a real relay.
 */
import { type TestContext, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupStatus, decodeFrame, encodeFrame } from '@nullroom/protocol';
import { RoomGroup, type RoomKeys, deriveRoomKeys } from '@nullroom/crypto';
import type { Relay } from '@nullroom/server';
import { type Insider, insider } from './_insider.js';
import {
  converged,
  member,
  nicks,
  randomRoomSecret,
  relay,
  twoMembers,
  until,
  closeAll,
  type RoomSecret,
  type TestClient,
} from './_harness.js';

afterEach(closeAll);

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const errors = (c: TestClient, code: string) => c.events.filter((e) => e.type === 'error' && (e.e as { code: string }).code === code);
const disruptions = (c: TestClient) =>
  c.events
    .filter((e) => e.type === 'disruption')
    .map((e) => e.e as { slot: number; nick?: string; formerNick?: string; count: number; reason: string });

/** A relay with honest alice and bob in one room, and mallory's raw insider connection to it; all closed after the test. */
async function twoHonestAndMallory(t: TestContext) {
  const { r, secret, a, b } = await twoMembers({}, t);
  const keys = await deriveRoomKeys(secret);
  const mallory = await insider(r.url, a.room.locator);
  t.after(() => mallory.close());
  return { r, secret, a, b, keys, mallory };
}

/** Mallory makes a real external commit with the room secret and becomes a listed member; resolves with her MLS state. */
async function malloryJoins(keys: RoomKeys, mallory: Insider, a: TestClient, b: TestClient) {
  const crypto = await RoomGroup.create(keys);
  const join = await crypto.joinExternal(await crypto.readGroupInfo(mallory.state().groupInfo), { nick: 'mallory', slot: mallory.slot });
  assert.equal(await mallory.commit(join.message, join.groupInfo), 'ACK');
  await until(() => converged([a, b], ['alice', 'bob', 'mallory']), 'mallory is a member');
  return { crypto, join };
}

/** Newcomer carol joins with the secret; resolves once alice, bob and carol all list the three of them. */
async function carolJoins(r: Relay, secret: RoomSecret, a: TestClient, b: TestClient, what: string): Promise<TestClient> {
  const c = await member(r.url, secret, 'carol');
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), what);
  return c;
}

/** Honest members chat both ways. */
async function chatGoesOn(a: TestClient, b: TestClient, tag: string) {
  a.room.send(`a ${tag}`);
  b.room.send(`b ${tag}`);
  await until(
    () => b.messages.some((m) => m.text === `a ${tag}`) && a.messages.some((m) => m.text === `b ${tag}`),
    `chat goes on (${tag})`,
  );
}

test('one garbage COMMIT with a garbage GroupInfo: void for every member, who keep chatting; the room repairs and a newcomer joins', async (t) => {
  const { r, secret, a, b, mallory } = await twoHonestAndMallory(t);
  const epochBefore = a.room.epoch;
  const start = Date.now();
  assert.equal(await mallory.commit(random(300), random(500)), 'ACK'); // the relay cannot judge MLS
  for (const x of [a, b]) await until(() => errors(x, 'BAD_COMMIT').length === 1, 'each member flags the commit');
  for (const x of [a, b])
    assert.deepEqual(
      disruptions(x).map((d) => [d.slot, d.reason, d.count]),
      [[mallory.slot, 'bad-commit', 1]],
    );
  // Nobody rejoined: the garbage was void, the members kept their group (the repair moved it one epoch on).
  assert.ok(![a, b].some((x) => x.events.some((e) => e.type === 'joined' && (e.e as { rejoin: boolean }).rejoin)));
  await chatGoesOn(a, b, 'after the garbage');
  const c = await carolJoins(r, secret, a, b, 'a newcomer joins the repaired room');
  t.diagnostic(`garbage commit -> newcomer converged in ${Date.now() - start} ms`);
  assert.ok(a.room.epoch! > epochBefore!);
  // The relay's stored GroupInfo is a good one again.
  const gs = await mallory.sync();
  assert.equal(gs.status, GroupStatus.READY);
  const probe = await RoomGroup.create(await deriveRoomKeys(secret));
  assert.equal((await probe.readGroupInfo(gs.groupInfo)).epoch, a.room.epoch);
  await chatGoesOn(a, c, 'with carol');
});

test('a valid join with a garbage GroupInfo: the checking member finds it, removes the joiner and stores a good one; a newcomer joins', async (t) => {
  const { r, secret, a, b, keys, mallory } = await twoHonestAndMallory(t);
  const crypto = await RoomGroup.create(keys);
  const snap = await crypto.readGroupInfo(mallory.state().groupInfo);
  const join = await crypto.joinExternal(snap, { nick: 'mallory', slot: mallory.slot });
  assert.equal(await mallory.commit(join.message, random(400)), 'ACK');
  for (const x of [a, b])
    await until(() => x.events.some((e) => e.type === 'member-joined' && (e.e as { nick: string }).nick === 'mallory'), 'mallory joined');
  await until(
    () => [a, b].some((x) => disruptions(x).some((d) => d.reason === 'bad-group-info' && d.slot === mallory.slot)),
    'the bad GroupInfo is found',
  );
  await until(() => converged([a, b], ['alice', 'bob']), 'mallory is removed by the repair');
  const c = await carolJoins(r, secret, a, b, 'a newcomer joins');
  await chatGoesOn(b, c, 'after repair');
});

test("a member's valid self-update with a garbage GroupInfo: found by the checking member, who removes it and stores a good one", async (t) => {
  const { r, secret, a, b, keys, mallory } = await twoHonestAndMallory(t);
  const { crypto, join } = await malloryJoins(keys, mallory, a, b);
  const update = await crypto.remove(join.state, []); // a real commit of the epoch everyone is in
  assert.equal(await mallory.commit(update.message, random(400), (await mallory.sync()).epoch), 'ACK');
  await until(
    () => [a, b].some((x) => disruptions(x).some((d) => d.reason === 'bad-group-info' && d.nick === 'mallory')),
    'the bad GroupInfo is found',
  );
  await until(() => converged([a, b], ['alice', 'bob']), 'the repair removes mallory');
  await carolJoins(r, secret, a, b, 'a newcomer joins');
});

test('a joiner whose credential claims a slot that is not its connection is void for every member (no ghost member)', async (t) => {
  const { r, secret, a, b, keys, mallory } = await twoHonestAndMallory(t);
  const crypto = await RoomGroup.create(keys);
  const snap = await crypto.readGroupInfo(mallory.state().groupInfo);
  const bobSlot = b.room.members().find((m) => m.nick === 'bob')!.slot;
  const ghost = await crypto.joinExternal(snap, { nick: 'ghost', slot: bobSlot + 1000 });
  assert.equal(await mallory.commit(ghost.message, ghost.groupInfo), 'ACK');
  for (const x of [a, b]) await until(() => errors(x, 'BROKEN_ROOM_RULE').length === 1, 'each member refuses the ghost');
  for (const x of [a, b])
    assert.deepEqual(
      disruptions(x).map((d) => [d.slot, d.reason]),
      [[mallory.slot, 'broken-room-rule']],
    );
  await chatGoesOn(a, b, 'after the ghost');
  for (const x of [a, b]) assert.ok(!x.events.some((e) => e.type === 'member-joined' && (e.e as { nick: string }).nick === 'ghost'));
  // The ghost's GroupInfo (valid for its own state, which nobody shares) was replaced: newcomers join the real group.
  const c = await carolJoins(r, secret, a, b, 'a newcomer joins');
  assert.deepEqual(nicks(c), ['alice', 'bob', 'carol']);
});

test('a joiner that takes a nickname another member holds (any case) is void: never listed as that member', async (t) => {
  const { r, secret, a, b, keys, mallory } = await twoHonestAndMallory(t);
  const crypto = await RoomGroup.create(keys);
  const snap = await crypto.readGroupInfo(mallory.state().groupInfo);
  const imp = await crypto.joinExternal(snap, { nick: 'Alice', slot: mallory.slot });
  assert.equal(await mallory.commit(imp.message, imp.groupInfo), 'ACK');
  for (const x of [a, b]) await until(() => errors(x, 'BROKEN_ROOM_RULE').length === 1, 'each member refuses the impersonation');
  await chatGoesOn(a, b, 'after the impersonation');
  assert.deepEqual(nicks(a), ['alice', 'bob']);
  assert.deepEqual(nicks(b), ['alice', 'bob']);
  assert.deepEqual(
    b.messages.filter((m) => m.from === 'alice').map((m) => m.text),
    ['a after the impersonation'],
  );
  await carolJoins(r, secret, a, b, 'a newcomer joins');
});

test('a 32-character nickname joins twice: the second takes the first 30 characters and "-2"', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const nick = 'n'.repeat(32);
  const a = await member(r.url, secret, nick);
  const b = await member(r.url, secret, nick.toUpperCase());
  assert.equal(b.room.nick, `${'N'.repeat(30)}-2`);
  await until(() => converged([a, b], [nick, `${'N'.repeat(30)}-2`]), 'both listed');
});

/** A relay that replaces the GroupInfo in the next `corrupt` READY GROUP_STATEs to the next connection that sends JOIN after `arm()`. */
async function corruptingRelay() {
  const ctl = { corrupt: 0, target: undefined as number | undefined };
  const r = await relay({
    hooks: {
      transformOut: (conn, bytes) => {
        if (conn !== ctl.target || ctl.corrupt === 0) return [bytes];
        const f = decodeFrame(bytes);
        if (f.type !== 'GROUP_STATE' || f.status !== GroupStatus.READY) return [bytes];
        ctl.corrupt--;
        return [encodeFrame({ ...f, groupInfo: random(f.groupInfo.byteLength) })];
      },
      onWire: (dir, conn, bytes) => {
        if (dir === 'in' && ctl.target === -1 && decodeFrame(bytes).type === 'JOIN') ctl.target = conn;
      },
    },
  });
  return { r, arm: (corrupt: number) => Object.assign(ctl, { corrupt, target: -1 }), ctl };
}

test('a joiner handed a GroupInfo it cannot use says so and retries; it gives up with JOIN_FAILED after badGroupInfoWaitMs', async (t) => {
  const { r, arm, ctl } = await corruptingRelay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  arm(1);
  const c = await member(r.url, secret, 'carol');
  assert.equal(ctl.corrupt, 0); // carol was handed a garbage GroupInfo first, and joined anyway
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'carol joined after a retry');
  arm(Number.MAX_SAFE_INTEGER);
  const started = Date.now();
  await assert.rejects(
    member(r.url, secret, 'dave', { badGroupInfoWaitMs: 600 }),
    (e: unknown) => (e as { code?: string }).code === 'JOIN_FAILED',
  );
  assert.ok(Date.now() - started >= 600);
});

test("the second joiner cannot open the creator's GroupInfo (a relay corrupted it): it founds the group anew, and the creator joins that group (no ping-pong)", async (t) => {
  const { r, arm } = await corruptingRelay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  arm(1);
  const b = await member(r.url, secret, 'bob');
  assert.equal(b.room.created, true);
  await until(() => converged([a, b], ['alice', 'bob']), "alice joined bob's new group");
  assert.ok(a.events.some((e) => e.type === 'joined' && (e.e as { rejoin: boolean }).rejoin));
  const epoch = a.room.epoch;
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(a.room.epoch, epoch); // settled: no repairs going back and forth
  await chatGoesOn(a, b, 'after re-founding');
});

test('a member that sends garbage commits is removed by the repair and counted under its identity key each time', async (t) => {
  const { r, secret, a, b, keys, mallory } = await twoHonestAndMallory(t);
  await malloryJoins(keys, mallory, a, b);
  const start = Date.now();
  assert.equal(await mallory.commit(random(300), random(300), (await mallory.sync()).epoch), 'ACK');
  await until(() => converged([a, b], ['alice', 'bob']), 'the repair removes mallory');
  await chatGoesOn(a, b, 'without mallory');
  const c = await carolJoins(r, secret, a, b, 'a newcomer joins');
  t.diagnostic(`member's garbage commit -> removed, newcomer converged in ${Date.now() - start} ms`);
  // Again, now as a removed member (still holding its connection): the count goes on for its identity.
  assert.equal(await mallory.commit(random(300), random(300), (await mallory.sync()).epoch), 'ACK');
  for (const x of [a, b]) {
    await until(() => disruptions(x).length === 2, 'the second disruption is reported');
    assert.deepEqual(
      disruptions(x).map((d) => [d.slot, d.count]),
      [
        [mallory.slot, 1],
        [mallory.slot, 2],
      ],
    );
    assert.equal(disruptions(x)[0]!.nick, 'mallory');
    // No longer a member, but known: the app can name a former member, not "someone".
    assert.equal(disruptions(x)[1]!.nick, undefined);
    assert.equal(disruptions(x)[1]!.formerNick, 'mallory');
  }
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'the room repairs again');
  await chatGoesOn(c, a, 'after the second');
});

test('a garbage CREATE: nobody can repair it, so the first joiner founds the group anew and the next one joins it', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const mallory = await insider(r.url, (await deriveRoomKeys(secret)).locator);
  t.after(() => mallory.close());
  assert.equal(mallory.state().status, GroupStatus.CREATE);
  assert.equal(await mallory.create(random(400)), 'ACK');
  const start = Date.now();
  const [a, b] = await Promise.all([member(r.url, secret, 'alice'), member(r.url, secret, 'bob')]);
  await until(() => converged([a, b], ['alice', 'bob']), 'alice and bob share one group');
  t.diagnostic(`garbage CREATE -> two joiners converged in ${Date.now() - start} ms`);
  assert.equal([a, b].filter((x) => x.room.created).length, 1); // exactly one re-founded
  await chatGoesOn(a, b, 'in the new group');
});

test('a burst of garbage commits (20, back to back): members keep their group, messages get through, and the room recovers once it stops', async (t) => {
  const { r, secret, a, b, mallory } = await twoHonestAndMallory(t);
  const start = Date.now();
  a.room.send('during the burst');
  let accepted = 0; // a repair that wins the race makes the next garbage commit stale
  for (let i = 0; i < 20; i++) if ((await mallory.commit(random(300), random(300), (await mallory.sync()).epoch)) === 'ACK') accepted++;
  await until(() => b.messages.some((m) => m.text === 'during the burst'), 'the message sent during the burst arrives');
  for (const x of [a, b]) await until(() => disruptions(x).length === accepted, 'every accepted garbage commit is reported');
  t.diagnostic(`${accepted} of 20 garbage commits accepted by the relay`);
  for (const x of [a, b]) assert.ok(disruptions(x).every((d) => d.slot === mallory.slot)); // no honest member blamed
  const c = await carolJoins(r, secret, a, b, 'a newcomer joins after the burst');
  t.diagnostic(`20 garbage commits -> newcomer converged in ${Date.now() - start} ms`);
  assert.ok(![a, b].some((x) => x.events.some((e) => e.type === 'joined' && (e.e as { rejoin: boolean }).rejoin)));
  await chatGoesOn(a, c, 'after the burst');
});
