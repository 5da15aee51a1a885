/**
 * Private chats survive a restart (issue 13; docs/PROTOCOL.md §4.5 "Saved sessions"), with real
 * clients and a real relay: alice's room is written through a SessionStore with her open private
 * chat in it; her client goes away without a word (a page reload) and a new one takes the room up
 * from the snapshot. Her chat with bob is back, open, and both directions work, in both routings;
 * what bob wrote while she was away arrives, once; and every snapshot written while she talked
 * privately was written before the frame that carried her message reached the relay, holding the
 * chat's state after that message (a restored chat never encrypts twice under one key and nonce).
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ClientFrame, decodeFrame } from '@nullroom/protocol';
import { MemoryKeyStore, NullroomClient, type PrivateChat, PrivateChats, type PrivateRouting, type Room } from '../src/index.js';
import { nodeWebSocket } from '../src/node/index.js';
import { decodeSnapshot } from '../src/roomSession.js';
import type { WebSocketLike } from '../src/transport.js';
import { closeAll, member, memorySessions, randomRoomSecret, relay, until } from './_harness.js';

afterEach(closeAll);

for (const routing of ['hidden', 'direct'] as const satisfies readonly PrivateRouting[]) {
  test(`${routing} routing: a private chat is taken up with its room's saved session; both directions work, nothing is lost`, async (t) => {
    /** What happened, in order: frames reaching the relay (by connection) and session writes. */
    const log: ({ kind: 'in'; conn: number; f: ClientFrame } | { kind: 'save'; snapshot: Uint8Array })[] = [];
    const r = await relay({
      limits: { resumeGraceMs: 20_000 },
      hooks: { onWire: (dir, conn, bytes) => void (dir === 'in' && log.push({ kind: 'in', conn, f: decodeFrame(bytes) as ClientFrame })) },
    });
    t.after(() => r.close());
    const secret = randomRoomSecret();
    const b = await member(r.url, secret, 'bob');
    const pb = new PrivateChats(b.room, { routing });
    const bobGot: string[] = [];
    pb.on('message', (m) => bobGot.push(m.text));

    // Alice's client writes her room's session (a page's sealed IndexedDB).
    const saved = new Map<string, Uint8Array>();
    const sessions = {
      save: async (k: string, s: Uint8Array) => void (saved.set(k, s), log.push({ kind: 'save', snapshot: s })),
      remove: async (k: string) => void saved.delete(k),
      load: async () => [...saved.values()],
    };
    const keyStore = new MemoryKeyStore();
    let socket: WebSocketLike | undefined;
    const base = nodeWebSocket();
    const make = () =>
      new NullroomClient({ url: r.url, webSocket: (u, p) => (socket = base(u, p)), timings: { removalGraceMs: 300 }, keyStore, sessions });
    const first = make();
    await first.connect();
    const before = await first.join({ secret, nick: 'alice' });
    await until(() => before.members().length === 2 && b.room.members().length === 2, 'two members');
    const aliceConn = log.filter((e) => e.kind === 'in' && e.f.type === 'JOIN').at(-1)!;
    const conn = aliceConn.kind === 'in' ? aliceConn.conn : -1;
    const pa1 = new PrivateChats(before, { routing });
    const aliceBefore: string[] = [];
    pa1.on('message', (m) => aliceBefore.push(m.text));
    const chat1 = await pa1.open('bob');
    await until(() => pb.list().length === 1, 'bob has the chat');
    const bobChat = pb.list()[0]!;
    const opened = log.length;
    for (const text of ['a1', 'a2', 'a3']) chat1.send(text);
    bobChat.send('b1');
    await until(() => bobGot.length === 3 && aliceBefore.length === 1, 'both read each other');

    // Each private message of alice's reached the relay after a session write that holds the chat's
    // state after it (its counter at least that message's number): restored, it never encrypts it again.
    const carrier = routing === 'direct' ? 'DIRECT' : 'APP';
    let latest: Uint8Array | undefined;
    let count = 0;
    for (const e of log.slice(opened)) {
      if (e.kind === 'save') latest = e.snapshot;
      else if (e.conn === conn && e.f.type === carrier) {
        count++;
        assert.ok(latest !== undefined, 'a session was written before the message left');
        const chats = decodeSnapshot(latest).privateChats ?? [];
        assert.equal(chats.length, 1, 'the chat is in it');
        assert.equal(chats[0]!.id, chat1.id);
        assert.ok(chats[0]!.counter >= count, `message ${count}: written with the state after it (counter ${chats[0]!.counter})`);
      }
    }
    assert.equal(count, 3, 'three private messages left alice');

    // Wait until what bob sent is read and written down, then the page goes away: no LEAVE, no dm-close.
    await new Promise((res) => setTimeout(res, 400)); // the debounced save after alice read b1
    const snapshot = [...saved.values()][0]!;
    assert.equal(decodeSnapshot(snapshot).privateChats?.[0]?.lastN, 1, "bob's b1 is read in the snapshot");
    (first as unknown as { opts: { reconnect: boolean } }).opts.reconnect = false;
    (socket as unknown as { terminate(): void }).terminate();

    // Bob writes while alice is away: the relay holds it for her slot (room log, or held DIRECT).
    const away = bobChat.send('while you were away');
    await delivered(bobChat, away);

    const second = make();
    t.after(() => second.close());
    await second.connect();
    const room: Room = await second.restore(snapshot);
    const pa2 = new PrivateChats(room, { routing });
    assert.deepEqual([...pa2.restoring.keys()], [chat1.id], 'the chat is being taken up');
    const aliceGot: string[] = [];
    const restored = new Promise<{ chats: PrivateChat[]; lost: string[] }>((res) => pa2.on('restored', res));
    pa2.on('message', (m) => aliceGot.push(`${m.from}:${m.text}`));
    const back = await restored;
    assert.deepEqual(back.lost, []);
    assert.equal(back.chats.length, 1);
    const chat2 = back.chats[0]!;
    assert.equal(chat2.id, chat1.id);
    assert.equal(chat2.peer, 'bob');
    assert.equal(chat2.closed, false);
    assert.deepEqual(pa2.list(), [chat2]);
    await room.whenJoined();
    await until(() => aliceGot.includes('bob:while you were away'), 'alice reads what bob wrote while she was away', 15_000);

    // Both directions, after the reload.
    const after = chat2.send('a4 after the reload');
    await delivered(chat2, after);
    await until(() => bobGot.includes('a4 after the reload'), 'bob reads alice after her reload');
    bobChat.send('b3 after the reload');
    await until(() => aliceGot.includes('bob:b3 after the reload'), 'alice reads bob after her reload');
    assert.deepEqual(bobGot, ['a1', 'a2', 'a3', 'a4 after the reload'], 'bob read each of alice once, in order');
    assert.deepEqual(aliceGot, ['bob:while you were away', 'bob:b3 after the reload'], 'once each, nothing read before the reload again');
    assert.equal(bobChat.closed, false, 'bob was never told the chat closed');
    const errors: string[] = [];
    pa2.on('error', (e) => errors.push(e.code));
    pb.on('error', (e) => errors.push(e.code));
    chat2.send('a5');
    await until(() => bobGot.includes('a5'), 'bob reads a5');
    assert.deepEqual(errors, [], 'no counter gap nor unreadable message on either side');
  });
}

test('a snapshot without private chats (written before they were kept) still takes the room up, with none', async (t) => {
  const r = await relay({ limits: { resumeGraceMs: 20_000 } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  await member(r.url, secret, 'bob');
  const { saved, sessions } = memorySessions();
  const keyStore = new MemoryKeyStore();
  const first = new NullroomClient({ url: r.url, webSocket: nodeWebSocket(), keyStore, sessions });
  await first.connect();
  await first.join({ secret, nick: 'alice' });
  await until(() => saved.size === 1, 'saved');
  await new Promise((res) => setTimeout(res, 400));
  const j = JSON.parse(new TextDecoder().decode([...saved.values()][0]!)) as Record<string, unknown>;
  assert.deepEqual(j['privateChats'], []);
  delete j['privateChats'];
  const old = new TextEncoder().encode(JSON.stringify(j));
  (first as unknown as { opts: { reconnect: boolean } }).opts.reconnect = false;
  await first.close();
  const second = new NullroomClient({ url: r.url, webSocket: nodeWebSocket(), keyStore });
  t.after(() => second.close());
  await second.connect();
  const room = await second.restore(old);
  const pa = new PrivateChats(room);
  assert.equal(pa.restoring.size, 0);
  assert.deepEqual(pa.list(), []);
});

test('a saved chat whose state does not open is dropped when the room is taken up: reported lost, and its peer told it is closed', async (t) => {
  const r = await relay({ limits: { resumeGraceMs: 20_000 } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const b = await member(r.url, secret, 'bob');
  const pb = new PrivateChats(b.room);
  const { saved, sessions } = memorySessions();
  const keyStore = new MemoryKeyStore();
  let socket: WebSocketLike | undefined;
  const base = nodeWebSocket();
  const make = () => new NullroomClient({ url: r.url, webSocket: (u, p) => (socket = base(u, p)), keyStore, sessions });
  const first = make();
  await first.connect();
  const before = await first.join({ secret, nick: 'alice' });
  await until(() => before.members().length === 2 && b.room.members().length === 2, 'two members');
  const chat = await new PrivateChats(before).open('bob');
  await until(() => pb.list().length === 1, 'bob has the chat');
  await new Promise((res) => setTimeout(res, 400)); // the debounced save
  const j = JSON.parse(new TextDecoder().decode([...saved.values()][0]!)) as { privateChats: { id: string; mls: string }[] };
  assert.equal(j.privateChats[0]?.id, chat.id);
  j.privateChats[0]!.mls = Buffer.from('not a state').toString('base64');
  (first as unknown as { opts: { reconnect: boolean } }).opts.reconnect = false;
  (socket as unknown as { terminate(): void }).terminate();

  const second = make();
  t.after(() => second.close());
  await second.connect();
  const room = await second.restore(new TextEncoder().encode(JSON.stringify(j)));
  const pa = new PrivateChats(room);
  const back = await new Promise<{ chats: PrivateChat[]; lost: string[] }>((res) => pa.on('restored', res));
  assert.deepEqual(back, { chats: [], lost: [chat.id] });
  assert.deepEqual(pa.list(), []);
  await until(() => pb.list().length === 0, 'bob is told the chat is closed');
});

test('a hidden private message whose acknowledgement the restart cut off is reported sent by the chat taken up, and read once', async (t) => {
  const blackholed = new Set<number>();
  let aliceConn = -1;
  const r = await relay({
    limits: { resumeGraceMs: 20_000 },
    hooks: {
      onWire: (dir, conn, bytes) => void (dir === 'in' && (decodeFrame(bytes) as ClientFrame).type === 'JOIN' && (aliceConn = conn)),
      transformOut: (conn, bytes) => (blackholed.has(conn) ? [] : [bytes]),
    },
  });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const b = await member(r.url, secret, 'bob');
  const pb = new PrivateChats(b.room);
  const bobGot: string[] = [];
  pb.on('message', (m) => bobGot.push(m.text));
  const { saved, sessions } = memorySessions();
  const keyStore = new MemoryKeyStore();
  let socket: WebSocketLike | undefined;
  const base = nodeWebSocket();
  const make = () => new NullroomClient({ url: r.url, webSocket: (u, p) => (socket = base(u, p)), keyStore, sessions });
  const first = make();
  await first.connect();
  const before = await first.join({ secret, nick: 'alice' });
  await until(() => before.members().length === 2 && b.room.members().length === 2, 'two members');
  const chat1 = await new PrivateChats(before).open('bob');
  await until(() => pb.list().length === 1, 'bob has the chat');

  // Alice's link goes dark: her message reaches the relay (bob reads it), its ACK never reaches her.
  blackholed.add(aliceConn);
  const id = chat1.send('in flight at the restart');
  await until(() => bobGot.includes('in flight at the restart'), 'bob reads it');
  await new Promise((res) => setTimeout(res, 400)); // the debounced save
  const snapshot = [...saved.values()][0]!;
  assert.deepEqual(
    decodeSnapshot(snapshot).privateChats?.[0]?.pending?.map(([, p]) => p),
    [id],
    'saved as awaiting the relay',
  );
  (first as unknown as { opts: { reconnect: boolean } }).opts.reconnect = false;
  (socket as unknown as { terminate(): void }).terminate();

  const second = make();
  t.after(() => second.close());
  await second.connect();
  const pa = new PrivateChats(await second.restore(snapshot));
  assert.deepEqual(pa.restoring.get(chat1.id), [id], 'the chat coming back still awaits it');
  const sent: string[] = [];
  pa.on('sent', (e) => sent.push(e.id));
  await until(() => sent.includes(id), "the relay's replay acknowledges it", 15_000);
  const chat2 = pa.list()[0]!;
  chat2.send('after');
  await until(() => bobGot.includes('after'), 'bob reads alice again');
  assert.deepEqual(bobGot, ['in flight at the restart', 'after'], 'once each');
});

/** Resolves once the relay acknowledged our message `id` in `chat`; fails on `unsent`. */
function delivered(chat: PrivateChat, id: string): Promise<void> {
  return new Promise((resolve, reject) => {
    chat.on('sent', (e) => e.id === id && resolve());
    chat.on('unsent', (e) => e.id === id && reject(new Error(`unsent: ${e.code}`)));
  });
}
