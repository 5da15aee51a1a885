import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveRoomSecret } from '../src/index.js';
import { GONE_AT_ONCE, converged, member, nicks, randomRoomSecret, relay, until, closeAll } from './_harness.js';

afterEach(closeAll);

test('three clients in a room: created flag, member lists, messages both ways with authenticated senders', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  assert.equal(a.room.created, true);
  const b = await member(r.url, secret, 'bob');
  assert.equal(b.room.created, false);
  const c = await member(r.url, secret, 'carol');
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members converge');
  assert.ok(a.events.some((x) => x.type === 'member-joined' && (x.e as { nick: string }).nick === 'bob'));

  a.room.send('hi from alice');
  c.room.send('hi from carol');
  await until(() => b.messages.length === 2 && a.messages.length === 1 && c.messages.length === 1, 'messages delivered');
  assert.deepEqual(b.messages.map((m) => `${m.from}:${m.text}`).sort(), ['alice:hi from alice', 'carol:hi from carol']);
  assert.deepEqual(a.messages, [{ from: 'carol', text: 'hi from carol' }]);

  await c.room.leave();
  await until(() => converged([a, b], ['alice', 'bob']), 'carol removed everywhere');
  assert.ok(b.events.some((x) => x.type === 'member-left' && (x.e as { nick: string }).nick === 'carol'));
  await Promise.all([a, b, c].map((x) => x.client.close()));
  await until(() => r.stats().rooms === 0, 'the relay forgets the empty room');
});

test('a newcomer sees nothing said before it joined', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  a.room.send('before carol');
  await until(() => b.messages.length === 1, 'bob got it');
  const c = await member(r.url, secret, 'carol');
  a.room.send('after carol');
  await until(() => c.messages.length === 1, 'carol got the later one');
  assert.deepEqual(c.messages, [{ from: 'alice', text: 'after carol' }]);
  await Promise.all([a, b, c].map((x) => x.client.close()));
});

test('nicknames are unique: a clash gets a visible suffix', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const a2 = await member(r.url, secret, 'Alice');
  assert.equal(a2.room.nick, 'Alice-2');
  await until(() => converged([a, a2], ['alice', 'Alice-2']), 'both listed');
  await Promise.all([a, a2].map((x) => x.client.close()));
});

test('concurrent joins and leaves converge on one epoch and one member list', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const first = await member(r.url, secret, 'm0');
  const rest = await Promise.all(Array.from({ length: 7 }, (_, i) => member(r.url, secret, `m${i + 1}`)));
  const all = [first, ...rest];
  await until(
    () =>
      converged(
        all,
        all.map((c) => c.room.nick),
      ),
    'eight members converge',
    20_000,
  );
  // Three leave at once while two more join.
  const leaving = all.slice(2, 5);
  const [j1, j2] = await Promise.all([
    member(r.url, secret, 'late1'),
    member(r.url, secret, 'late2'),
    ...leaving.map((c) => c.client.close()),
  ]);
  const staying = [...all.slice(0, 2), ...all.slice(5), j1!, j2!];
  await until(
    () =>
      converged(
        staying,
        staying.map((c) => c.room.nick),
      ),
    'members converge after churn',
    20_000,
  );
  // And they can all still talk.
  staying[0]!.room.send('still here?');
  await until(() => staying.slice(1).every((c) => c.messages.some((m) => m.text === 'still here?')), 'everyone reads it');
  await Promise.all(staying.map((c) => c.client.close()));
});

test('a killed client is seen leaving within seconds', async (t) => {
  const r = await relay({ limits: GONE_AT_ONCE });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  const c = await member(r.url, secret, 'carol');
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
  // Simulate a dead process: the socket goes away without a LEAVE and without reconnecting.
  const sock = c.socket() as unknown as { terminate(): void };
  const started = Date.now();
  (c.client as unknown as { opts: { reconnect: boolean } }).opts.reconnect = false;
  sock.terminate();
  await until(() => converged([a, b], ['alice', 'bob']), 'carol removed', 8000);
  assert.ok(Date.now() - started < 8000);
  assert.ok(a.events.some((x) => x.type === 'member-left' && (x.e as { nick: string }).nick === 'carol'));
  await Promise.all([a, b].map((x) => x.client.close()));
});

test('a wrong password lands in a different, new room and reads nothing', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const right = await deriveRoomSecret('ops', 'correct horse battery staple');
  const wrong = await deriveRoomSecret('ops', 'correct horse battery stapler');
  const a = await member(r.url, right, 'alice');
  const b = await member(r.url, right, 'bob');
  const m = await member(r.url, wrong, 'mallory');
  assert.equal(m.room.created, true);
  assert.deepEqual(nicks(m), ['mallory']);
  a.room.send('secret plans');
  m.room.send('anyone?');
  await until(() => b.messages.length === 1, 'bob reads alice');
  await new Promise((res) => setTimeout(res, 200));
  assert.deepEqual(m.messages, []);
  assert.deepEqual(b.messages, [{ from: 'alice', text: 'secret plans' }]);
  assert.equal(r.stats().rooms, 2);
  await Promise.all([a, b, m].map((x) => x.client.close()));
});

test('reconnect: a client that loses its connection rejoins by itself and sends what was typed offline', async (t) => {
  const r = await relay({ limits: GONE_AT_ONCE });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  const phases: string[] = [];
  b.room.on('phase', (p) => phases.push(p.phase));
  (b.socket() as unknown as { terminate(): void }).terminate();
  await until(() => b.room.state !== 'joined', 'bob notices');
  b.room.send('typed while offline 1');
  b.room.send('typed while offline 2');
  await until(() => a.messages.length === 2, 'alice gets both after bob rejoins', 15_000);
  assert.deepEqual(
    a.messages.map((m) => m.text),
    ['typed while offline 1', 'typed while offline 2'],
  );
  assert.ok(phases.includes('reconnecting') && phases.at(-1) === 'joined');
  await until(() => converged([a, b], ['alice', 'bob']), 'old leaf removed, one bob');
  await b.room.flush();
  await Promise.all([a, b].map((x) => x.client.close()));
});

test('members heal the group with periodic self-updates (racing each other): the epoch moves on while membership stays, and chat goes on', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  // Every ~100 ms each: their commits often race for the same epoch. A loser must process the
  // winner with its live state (regression: it used to wipe that state's secrets too early).
  const fast = { selfUpdateMs: 100, selfUpdatePerMemberMs: 0 };
  const a = await member(r.url, secret, 'alice', fast);
  const b = await member(r.url, secret, 'bob', fast);
  const c = await member(r.url, secret, 'carol', fast);
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
  const joinedAt = a.room.epoch!;
  await until(
    () => converged([a, b, c], ['alice', 'bob', 'carol']) && a.room.epoch! >= joinedAt + 20,
    'many self-updates committed',
    15_000,
  );
  for (const who of [a, b, c]) who.room.send(`from ${who.room.nick}`);
  await until(() => [a, b, c].every((x) => x.messages.length === 2), 'everyone reads the other two');
  assert.deepEqual(
    [a, b, c].flatMap((x) =>
      x.events.filter((e) => e.type === 'error' || e.type === 'member-left').map((e) => `${x.room.nick}: ${e.type} ${JSON.stringify(e.e)}`),
    ),
    [],
  );
  await Promise.all([a, b, c].map((x) => x.client.close()));
});
