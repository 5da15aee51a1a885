/**
 * Room names (issue 13; docs/PROTOCOL.md §5.3): chosen by members, told to each joiner by the
 * longest-present member, renamed by anyone, and carried only inside MLS: no byte of a name
 * reaches the relay. Invite rooms without a name get a label every member derives alike.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientError, RoomName, type RoomNameEvents, roomLabel } from '../src/index.js';
import { type RoomSecret, type TestClient, closeAll, converged, member, randomRoomSecret, relay, until } from './_harness.js';

afterEach(closeAll);

/** A member whose RoomName exists before it joins, as apps make it (`join`'s `onRoom`): it hears the answer that follows its join. */
async function named(url: string, secret: RoomSecret, nick: string, name?: string): Promise<{ m: TestClient; n: RoomName }> {
  let n: RoomName | undefined;
  const m = await member(url, secret, nick, {}, undefined, {}, (room) => (n = new RoomName(room, name)));
  return { m, n: n! };
}

const contains = (hay: Uint8Array, needle: string) =>
  Buffer.from(hay).includes(Buffer.from(needle, 'utf8')) || Buffer.from(hay).includes(Buffer.from(needle, 'utf16le'));

test('the creator names the room; each joiner is told it once, by the longest-present member; a rename reaches everyone; the relay sees no byte of either', async (t) => {
  const name = `Book club ${Math.random().toString(36).slice(2, 8)} 📚`;
  const renamed = `Reading group ${Math.random().toString(36).slice(2, 8)}`;
  const wire: Uint8Array[] = [];
  const r = await relay({ hooks: { onWire: (_dir, _conn, bytes) => wire.push(new Uint8Array(bytes)) } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const names: Record<string, RoomNameEvents['name'][]> = { alice: [], bob: [], carol: [] };
  const { m: a, n: na } = await named(r.url, secret, 'alice', name);
  na.on('name', (e) => names['alice']!.push(e));
  const { m: b, n: nb } = await named(r.url, secret, 'bob');
  nb.on('name', (e) => names['bob']!.push(e));
  await until(() => nb.name === name, 'bob is told the name');
  assert.deepEqual(names['bob'], [{ name, by: 'alice', self: false, told: true }]);
  const { m: c, n: nc } = await named(r.url, secret, 'carol');
  nc.on('name', (e) => names['carol']!.push(e));
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']) && nc.name === name, 'carol is told the name');
  assert.equal(names['carol']![0]!.by, 'alice', 'alice has the lowest slot: she answers, bob does not');
  assert.deepEqual(names['alice'], [], "alice's own name never changed");

  nb.rename(`  ${renamed} `);
  assert.equal(nb.name, renamed, 'trimmed, and ours at once');
  await until(() => na.name === renamed && nc.name === renamed, 'everyone has the new name');
  assert.deepEqual(names['alice'], [{ name: renamed, by: 'bob', self: false, told: false }]);
  assert.deepEqual(names['bob']!.at(-1), { name: renamed, by: 'bob', self: true, told: false });
  assert.deepEqual(names['carol']!.at(-1), { name: renamed, by: 'bob', self: false, told: false });

  // A later joiner learns the current name.
  const { m: d, n: nd } = await named(r.url, secret, 'dave');
  await until(() => nd.name === renamed, 'dave is told the new name');
  for (const x of [a, b, c, d]) await x.room.flush();
  assert.ok(wire.length > 20, 'the wire was captured');
  for (const bytes of wire)
    assert.ok(!contains(bytes, name) && !contains(bytes, renamed) && !contains(bytes, 'Book club'), 'a room name on the wire');
});

test('a bad room name is refused before sending (BAD_ROOM_NAME); a hostile member’s bad name is BAD_PAYLOAD and changes nothing', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const { m: a, n: na } = await named(r.url, secret, 'alice', 'Kept');
  const { m: b, n: nb } = await named(r.url, secret, 'bob');
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  await until(() => nb.name === 'Kept', 'bob is told');
  for (const bad of ['', '   ', 'x'.repeat(65), 'a\u0000b', 'line\nbreak', 'evil\u202eoverride']) {
    assert.throws(
      () => na.rename(bad),
      (e: unknown) => e instanceof ClientError && e.code === 'BAD_ROOM_NAME' && !e.message.includes(bad.trim() || '\u0001'),
      JSON.stringify(bad),
    );
  }
  na.rename('🦊'.repeat(64));
  await until(() => nb.name === '🦊'.repeat(64), '64 code points are fine');
  const errors: string[] = [];
  b.room.on('error', (e) => errors.push(e.code));
  // Alice's client, turned hostile, sends payloads our schema refuses.
  for (const name of ['', 'x'.repeat(65), ' padded', 'bell\u0007']) a.room.sendPayload({ type: 'room-name', name });
  a.room.sendPayload({ type: 'room-name', name: 'fine', to: 'NOT-HEX' });
  a.room.send('after the bad ones');
  await until(() => b.messages.some((m) => m.text === 'after the bad ones'), 'bob reads on');
  // Dropped payloads leave a gap in alice's counter: the next good one reports it.
  assert.deepEqual(errors, ['BAD_PAYLOAD', 'BAD_PAYLOAD', 'BAD_PAYLOAD', 'BAD_PAYLOAD', 'BAD_PAYLOAD', 'MISSING_MESSAGES']);
  assert.equal(nb.name, '🦊'.repeat(64), 'unchanged');
});

test('an answer meant for another joiner is ignored; a joiner that heard a rename ignores an older answer', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  const nb = new RoomName(b.room);
  // Nobody named the room: nobody answers bob. Alice (hostile) answers for carol's identity key instead.
  a.room.sendPayload({ type: 'room-name', name: 'for someone else', to: 'ab'.repeat(32) });
  a.room.sendPayload({ type: 'room-name', name: 'renamed' });
  const bobKey = Buffer.from(b.room.roomCrypto.identity.publicKey).toString('hex');
  a.room.sendPayload({ type: 'room-name', name: 'stale answer', to: bobKey });
  a.room.send('done');
  await until(() => b.messages.some((m) => m.text === 'done'), 'bob read all of it');
  assert.equal(nb.name, 'renamed');
});

test('invite rooms are told apart by a label every member derives from the secret alike', async () => {
  const s1 = randomRoomSecret();
  const s2 = randomRoomSecret();
  const [l1, l1again, l2] = [await roomLabel(s1), await roomLabel(new Uint8Array(s1) as typeof s1), await roomLabel(s2)];
  assert.match(l1, /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
  assert.equal(l1, l1again);
  assert.notEqual(l1, l2);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(await roomLabel(randomRoomSecret()));
  assert.equal(seen.size, 200, 'no two of 200 alike');
});

test('a known name a payload could not carry (a long password-room name) leaves the room unnamed instead of failing the join', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const long = 'a password room may have a name much longer than sixty-four characters, like this one';
  const { n } = await named(r.url, randomRoomSecret(), 'alice', long);
  assert.equal(n.name, undefined);
  assert.equal(new RoomName(n.room, ' Lobby ').name, 'Lobby');
});
