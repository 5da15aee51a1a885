/**
 * What a room promises across a lost connection (docs/PROTOCOL.md §4.5), with real clients and a
 * real relay: a member whose connection dies resumes its slot and leaf, reads what it missed in
 * order and once (even what was lost in the dead connection's buffers), nobody sees it leave or
 * join, what it typed offline is pending and then sent once, a message whose ACK was lost is not
 * sent twice, and one that comes back after the grace period is told (RESUME_FAILED) and joins again.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ClientFrame, decodeFrame } from '@nullroom/protocol';
import type { RelayHooks } from '@nullroom/server/instrumented';
import { ClientError, MemoryKeyStore, NullroomClient } from '../src/index.js';
import { nodeWebSocket } from '../src/node/index.js';
import type { WebSocketLike } from '../src/transport.js';
import { type TestClient, closeAll, converged, member, memorySessions, randomRoomSecret, relay, until } from './_harness.js';

afterEach(closeAll);

/** Watches the relay's wire: which connection sent what, and a black hole for one connection's output. */
function wireWatch() {
  const sent: { conn: number; f: ClientFrame }[] = [];
  const blackholed = new Set<number>();
  const hooks: RelayHooks = {
    onWire(dir, conn, bytes) {
      if (dir === 'in') sent.push({ conn, f: decodeFrame(bytes) as ClientFrame });
    },
    transformOut: (conn, bytes) => (blackholed.has(conn) ? [] : [bytes]),
  };
  /** The connection that most recently sent a frame of this type. */
  const lastConn = (type: ClientFrame['type']) => sent.filter((s) => s.f.type === type).at(-1)!.conn;
  return { hooks, sent, blackholed, lastConn };
}

/** Events of these types a member saw since `mark` (an index into its events). */
function since(c: TestClient, mark: number, ...types: string[]) {
  return c.events.slice(mark).filter((x) => types.includes(x.type));
}

function terminate(c: TestClient): void {
  (c.socket() as unknown as { terminate(): void }).terminate();
}

test('a dropped member resumes its slot: it reads what it missed (even what died in its old buffers), in order and once; nobody sees it leave or join', async (t) => {
  const w = wireWatch();
  const r = await relay({ hooks: w.hooks, limits: { resumeGraceMs: 20_000 } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  const c = await member(r.url, secret, 'carol');
  const carolConn = w.lastConn('JOIN');
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
  const slot = c.room.profile()!.slot;
  const marks = [a, b, c].map((x) => x.events.length);

  // Carol's link goes dark: the relay writes into it, nothing arrives. Then the socket dies.
  w.blackholed.add(carolConn);
  for (let i = 1; i <= 5; i++) a.room.send(`missed ${i}`);
  await until(() => b.messages.length === 5, 'bob reads all five');
  terminate(c);
  await until(() => c.messages.length === 5, 'carol reads what she missed after resuming', 15_000);
  assert.deepEqual(
    c.messages.map((m) => m.text),
    [1, 2, 3, 4, 5].map((i) => `missed ${i}`),
  );
  assert.ok(
    w.sent.some((s) => s.f.type === 'RESUME'),
    'carol resumed',
  );
  assert.equal(c.room.profile()!.slot, slot, 'the same slot');
  assert.equal(c.room.state, 'joined');

  a.room.send('after');
  c.room.send('carol is back');
  await until(() => c.messages.length === 6 && a.messages.length === 1 && b.messages.length === 7, 'chat goes on');
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'one epoch, three members');
  for (const [i, x] of [a, b].entries()) assert.deepEqual(since(x, marks[i]!, 'member-left', 'member-joined'), [], 'nobody left or joined');
  assert.deepEqual(since(c, marks[2]!, 'joined', 'error'), [], 'carol did not join again and saw no error');
  assert.equal(w.sent.filter((s) => s.f.type === 'JOIN').length, 3, 'no JOIN after the drop');
});

test('typed while the connection is down: pending, then sent once after the resume; a message whose ACK was lost is not sent twice', async (t) => {
  const w = wireWatch();
  const r = await relay({ hooks: w.hooks, limits: { resumeGraceMs: 20_000 } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  const bobConn = w.lastConn('JOIN');
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  const sent: string[] = [];
  b.room.on('sent', ({ id }) => sent.push(id));

  // Bob's ACKs vanish: the relay accepts and delivers his message, bob never hears so.
  w.blackholed.add(bobConn);
  const lost = b.room.send('ack lost');
  await until(() => a.messages.length === 1, 'alice reads it');
  assert.equal(sent.length, 0, 'not shown as sent: no ACK reached bob');
  terminate(b);
  await until(() => b.room.state === 'reconnecting', 'bob notices');
  const offline = b.room.send('typed offline');
  assert.ok(!sent.includes(offline));
  await until(() => sent.includes(lost) && sent.includes(offline), 'both acknowledged after the resume', 15_000);
  await until(() => a.messages.length === 2, 'alice reads the offline one');
  assert.deepEqual(
    a.messages.map((m) => m.text),
    ['ack lost', 'typed offline'],
  );
  // The accepted one was recognised in the replay, not sent again.
  const bobNow = w.lastConn('RESUME');
  const apps = w.sent.filter((s) => s.f.type === 'APP' && s.conn === bobNow);
  assert.equal(apps.length, 1, 'after the resume bob sent one APP: the offline message');
});

test('back after the grace period: RESUME_FAILED, a fresh join, and the chat goes on', async (t) => {
  const r = await relay({ limits: { resumeGraceMs: 300, pingIntervalMs: 100 } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  // Bob's network can be cut: while `offline`, every connection attempt goes to a closed port.
  let offline = false;
  let current: WebSocketLike | undefined;
  const base = nodeWebSocket();
  const client = new NullroomClient({
    url: r.url,
    webSocket: (u, p) => (current = base(offline ? 'ws://127.0.0.1:9/ws' : u, p)),
    timings: { removalGraceMs: 300 },
  });
  t.after(() => client.close());
  await client.connect();
  const room = await client.join({ secret, nick: 'bob' });
  const errors: string[] = [];
  room.on('error', (e) => errors.push(e.code));
  await until(() => room.members().length === 2 && a.room.members().length === 2, 'two members');
  offline = true;
  (current as unknown as { terminate(): void }).terminate();
  await until(() => a.room.members().length === 1, 'alice removes bob after the grace period', 10_000);
  a.room.send('while bob was gone');
  offline = false;
  await until(() => errors.includes('RESUME_FAILED'), 'bob is told he could not resume', 15_000);
  await until(() => room.state === 'joined' && a.room.members().length === 2, 'bob joined again', 15_000);
  const got: string[] = [];
  room.on('message', (m) => got.push(m.text));
  a.room.send('welcome back');
  await until(() => got.includes('welcome back'), 'bob reads new messages');
  assert.ok(!got.includes('while bob was gone'), 'a newcomer reads nothing from before');
});

test('a restarted client takes up its saved session (a reload): same slot and leaf, reads what it missed, a line in flight is sent once; nobody sees it leave or join', async (t) => {
  const w = wireWatch();
  const r = await relay({ hooks: w.hooks, limits: { resumeGraceMs: 20_000 } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const { saved, sessions } = memorySessions();
  const keyStore = new MemoryKeyStore();
  let current: WebSocketLike | undefined;
  const base = nodeWebSocket();
  const make = () =>
    new NullroomClient({ url: r.url, webSocket: (u, p) => (current = base(u, p)), timings: { removalGraceMs: 300 }, keyStore, sessions });
  const first = make();
  await first.connect();
  const before = await first.join({ secret, nick: 'bob' });
  const bobConn = w.lastConn('JOIN');
  await until(() => before.members().length === 2 && a.room.members().length === 2, 'two members');
  const slot = before.profile()!.slot;
  const mark = a.events.length;
  a.room.send('read before');
  await until(() => saved.size === 1, 'a session is saved');

  // Bob's link goes dark: his line is accepted but its ACK never arrives, alice's lines never reach him.
  w.blackholed.add(bobConn);
  before.send('in flight at the reload');
  await until(() => a.messages.some((m) => m.text === 'in flight at the reload'), 'alice reads it');
  a.room.send('missed 1');
  a.room.send('missed 2');
  await new Promise((res) => setTimeout(res, 400)); // the debounced save
  const snapshot = [...saved.values()][0]!;
  // The page goes away: no LEAVE, the socket just dies.
  (first as unknown as { opts: { reconnect: boolean } }).opts.reconnect = false;
  (current as unknown as { terminate(): void }).terminate();

  const second = make();
  t.after(() => second.close());
  await second.connect();
  const room = await second.restore(snapshot);
  const got: string[] = [];
  const sent: string[] = [];
  room.on('message', (m) => got.push(m.text));
  room.on('sent', ({ id }) => sent.push(id));
  await room.whenJoined();
  await until(() => got.includes('missed 2'), 'bob reads what he missed');
  assert.equal(room.profile()!.slot, slot, 'the same slot');
  assert.deepEqual(
    got.filter((x) => x.startsWith('missed')),
    ['missed 1', 'missed 2'],
  );
  assert.equal(sent.length, 1, 'the line in flight is acknowledged by the replay');
  assert.equal(w.sent.filter((s) => s.f.type === 'APP' && s.conn === w.lastConn('RESUME')).length, 0, 'and not sent again');
  room.send('after the reload');
  await until(() => a.messages.some((m) => m.text === 'after the reload'), 'alice reads bob again');
  assert.equal(a.messages.filter((m) => m.text === 'in flight at the reload').length, 1, 'once');
  assert.deepEqual(since(a, mark, 'member-left', 'member-joined'), [], 'alice saw nobody leave or join');
  assert.deepEqual(
    a.room
      .members()
      .map((m) => m.nick)
      .sort(),
    ['alice', 'bob'],
  );
});

test('a saved session that does not parse is refused with SESSION_INVALID', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const c = new NullroomClient({ url: r.url, webSocket: nodeWebSocket() });
  t.after(() => c.close());
  await c.connect();
  for (const bad of [new Uint8Array([1, 2, 3]), new TextEncoder().encode('{"v":1}'), new TextEncoder().encode('{"v":2}')]) {
    await assert.rejects(c.restore(bad), (e: unknown) => e instanceof ClientError && e.code === 'SESSION_INVALID');
  }
});

test('a session saved while a line waits unsent (no connection) takes up again, and the line is sent once', async (t) => {
  const r = await relay({ limits: { resumeGraceMs: 20_000 } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const { saved, sessions } = memorySessions();
  const keyStore = new MemoryKeyStore();
  let current: WebSocketLike | undefined;
  let down = false;
  const base = nodeWebSocket();
  const first = new NullroomClient({
    url: r.url,
    webSocket: (u, p) => {
      if (down) throw new Error('the network is down');
      return (current = base(u, p));
    },
    keyStore,
    sessions,
  });
  t.after(() => first.close());
  await first.connect();
  const before = await first.join({ secret, nick: 'bob' });
  await until(() => before.members().length === 2 && a.room.members().length === 2, 'two members');
  await until(() => saved.size === 1, 'a session is saved');
  // The network goes and stays down: the room keeps its stay; the line is queued, never encrypted (its counter is still 0), and saved so.
  down = true;
  (current as unknown as { terminate(): void }).terminate();
  await until(() => !first.online(), 'the connection is down');
  const savedBefore = saved.get([...saved.keys()][0]!);
  before.send('typed while offline');
  await until(() => saved.get([...saved.keys()][0]!) !== savedBefore, 'the session is saved with the line');
  const snapshot = [...saved.values()][0]!;

  const second = new NullroomClient({ url: r.url, webSocket: base, keyStore, sessions });
  t.after(() => second.close());
  await second.connect();
  const room = await second.restore(snapshot);
  await room.whenJoined();
  await until(() => a.messages.some((m) => m.text === 'typed while offline'), 'alice reads the line typed offline');
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(a.messages.filter((m) => m.text === 'typed while offline').length, 1, 'once');
});
