/**
 * Private chats inside a room (issue #4): a two-member MLS group made from the peer's key package.
 * The third member reads nothing of it, the relay sees only room traffic (no plaintext, and no
 * frame addressed to anyone), a member cannot answer an offer meant for someone else, and either
 * side can close the chat.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, decodeClientFrame, decodeRelayFrame, encodeFrame, type RelayFrame } from '@nullroom/protocol';
import type { RelayOptions } from '@nullroom/server';
import type WebSocket from 'ws';
import { ClientError, PRIVATE_ROUTINGS, type PrivateChat, PrivateChats, RoomFiles } from '../src/index.js';
import { fileSource, folderSink, nodeBlobTransport, nodeSha256 } from '../src/node/index.js';
import { GONE_AT_ONCE, closeAll, converged, member, randomRoomSecret, relay, type TestClient, until } from './_harness.js';

afterEach(closeAll);

const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).includes(Buffer.from(needle));

/** What became of our message `id` in `chat`: its `sent`, or its `unsent` (code and message). */
function delivery(chat: PrivateChat, id: string): Promise<{ sent: true } | { sent: false; code: string; message: string }> {
  return new Promise((resolve) => {
    const offs = [
      chat.on('sent', (e) => e.id === id && done({ sent: true })),
      chat.on('unsent', (e) => e.id === id && done({ sent: false, code: e.code, message: e.message })),
    ];
    const done = (r: { sent: true } | { sent: false; code: string; message: string }) => {
      offs.forEach((off) => off());
      resolve(r);
    };
  });
}

/** Sends `text` in `chat` and waits for the relay's acknowledgement (fails on `unsent`). */
async function sendAndAck(chat: PrivateChat, text: string): Promise<string> {
  const id = chat.send(text);
  const r = await delivery(chat, id);
  assert.ok(r.sent, r.sent ? '' : `unsent: ${r.code}`);
  return id;
}

/** Every frame the relay sends to this client from now on, decoded from the raw bytes on its socket. */
function rawFrames(c: TestClient): RelayFrame[] {
  const frames: RelayFrame[] = [];
  (c.socket() as unknown as WebSocket).on('message', (data: Buffer) => frames.push(decodeRelayFrame(new Uint8Array(data))));
  return frames;
}

async function threeMembers(wire?: (dir: 'in' | 'out', conn: number, bytes: Uint8Array) => void, limits: RelayOptions['limits'] = {}) {
  const r = await relay(wire === undefined ? { limits } : { limits, hooks: { onWire: wire } });
  const secret = randomRoomSecret();
  const [a, b, c] = [
    await member(r.url, secret, 'alice'),
    await member(r.url, secret, 'bob'),
    await member(r.url, secret, 'carol'),
  ] as TestClient[] as [TestClient, TestClient, TestClient];
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
  return { r, a, b, c };
}

test('alice and bob chat privately: carol and the relay read nothing; both sides see it open; either can close it', async (t) => {
  const wire: Uint8Array[] = [];
  const r = await relay({ hooks: { onWire: (_dir, _conn, bytes) => void wire.push(new Uint8Array(bytes)) } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const [a, b, c] = [
    await member(r.url, secret, 'alice'),
    await member(r.url, secret, 'bob'),
    await member(r.url, secret, 'carol'),
  ] as TestClient[] as [TestClient, TestClient, TestClient];
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
  const [pa, pb, pc] = [new PrivateChats(a.room), new PrivateChats(b.room), new PrivateChats(c.room)];
  const seen: Record<string, string[]> = { alice: [], bob: [], carol: [] };
  for (const [name, p] of [
    ['alice', pa],
    ['bob', pb],
    ['carol', pc],
  ] as const) {
    p.on('message', (e) => seen[name]!.push(`${e.from}:${e.text}`));
    p.on('opened', (e) => seen[name]!.push(`opened:${e.chat.peer}:${e.byUs}`));
    p.on('closed', (e) => seen[name]!.push(`closed:${e.chat.peer}:${e.byUs}`));
  }
  const chat = await pa.open('bob');
  assert.equal(chat.peer, 'bob');
  await until(() => seen['bob']!.includes('opened:alice:false'), 'bob sees the chat appear');
  assert.ok(seen['alice']!.includes('opened:bob:true'));
  const secretText = 'PrivateCanary only bob may read this';
  await chat.send(secretText);
  await until(() => seen['bob']!.includes(`alice:${secretText}`), 'bob reads it');
  await pb.with('alice')!.send('PrivateCanary and only alice this');
  await until(() => seen['alice']!.includes('bob:PrivateCanary and only alice this'), 'alice reads the answer');
  // A room message still flows, to everyone, after the private traffic.
  a.room.send('public again');
  await until(() => c.messages.some((m) => m.text === 'public again'), 'carol reads the room');
  assert.deepEqual(seen['carol'], [], 'carol saw no private chat and no private message');
  assert.ok(!c.messages.some((m) => m.text.includes('PrivateCanary')));
  const canary = new TextEncoder().encode('PrivateCanary');
  assert.ok(!wire.some((w) => contains(w, canary)), 'no plaintext on the wire');
  // Hidden routing: not one frame addressed to a single member (DIRECT in, DIRECT_DELIVER out) but
  // the empty liveness probes every joiner sends to every leaf it found (docs/PROTOCOL.md §4.3
  // "Departures"), which say nothing of who chats with whom.
  const directData = (w: Uint8Array) => {
    const f = w[0] === 0x07 ? decodeClientFrame(w) : w[0] === 0x47 ? decodeRelayFrame(w) : undefined;
    return f !== undefined && (f.type === 'DIRECT' || f.type === 'DIRECT_DELIVER') ? f.data : undefined;
  };
  assert.ok(!wire.some((w) => (directData(w)?.length ?? 0) > 0), 'only room traffic');

  // bob closes it; alice is told.
  pb.with('alice')!.close();
  await until(() => seen['alice']!.includes('closed:bob:false'), 'alice sees it closed');
  assert.equal(pa.with('bob'), undefined);
  assert.throws(
    () => chat.send('too late'),
    (e: unknown) => e instanceof ClientError && e.code === 'NOT_JOINED',
  );
});

test('a member cannot answer an offer meant for someone else, and cannot read a chat it was not part of', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const [a, b, c] = [
    await member(r.url, secret, 'alice'),
    await member(r.url, secret, 'bob'),
    await member(r.url, secret, 'mallory'),
  ] as TestClient[] as [TestClient, TestClient, TestClient];
  await until(() => converged([a, b, c], ['alice', 'bob', 'mallory']), 'three members');
  const pa = new PrivateChats(a.room);
  const pb = new PrivateChats(b.room);
  // mallory answers every offer she sees, pretending to be its addressee, with a chat of her own.
  const pm = new PrivateChats(c.room);
  const mc = await pm.crypto();
  let tried = 0;
  // A route handler is synchronous: mallory's answer runs on its own (a failure fails the test).
  c.room.route('dm-offer', (payload, e) => void answer(payload, e));
  const answer = async (payload: { kp: string; to?: string; offer: string }, e: { identityKey: Uint8Array }) => {
    tried++;
    const made = await mc.create(
      c.room.profile()!,
      Uint8Array.from(atob(payload.kp), (x) => x.charCodeAt(0)),
      e.identityKey,
    );
    c.room.sendPayload({
      type: 'dm-welcome',
      to: payload.to === undefined ? '' : Array.from(e.identityKey, (x) => x.toString(16).padStart(2, '0')).join(''),
      offer: payload.offer,
      welcome: btoa(String.fromCharCode(...made.welcome)),
    });
  };
  const chat: PrivateChat = await pa.open('bob');
  assert.equal(tried, 1);
  assert.equal(chat.peer, 'bob', "alice's chat is with bob, not with whoever answered first");
  let heard = '';
  pb.on('message', (e) => (heard = e.text));
  await chat.send('for bob');
  await until(() => heard === 'for bob', 'bob reads it');
});

for (const routing of PRIVATE_ROUTINGS)
  test(`a file sent in a private chat reaches the peer only (${routing} routing)`, async (t) => {
    const r = await relay();
    t.after(() => r.close());
    const secret = randomRoomSecret();
    const [a, b, c] = [
      await member(r.url, secret, 'alice'),
      await member(r.url, secret, 'bob'),
      await member(r.url, secret, 'carol'),
    ] as TestClient[] as [TestClient, TestClient, TestClient];
    await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
    const blobs = nodeBlobTransport(r.url);
    const [pa, pb] = [new PrivateChats(a.room, { routing }), new PrivateChats(b.room, { routing })];
    const carolFrames = rawFrames(c);
    const chatA = await pa.open('bob');
    await until(() => pb.with('alice') !== undefined, 'bob has the chat');
    const filesB = new RoomFiles(pb.with('alice')!, { blobs, hash: nodeSha256 });
    const roomFilesC = new RoomFiles(c.room, { blobs, hash: nodeSha256 });
    let carolOffers = 0;
    roomFilesC.on('offer', () => carolOffers++);
    c.room.route('file', () => carolOffers++);
    const dir = mkdtempSync(join(tmpdir(), 'nullroom-dm-file-'));
    const data = randomBytes(3 * 1024 * 1024 + 5);
    writeFileSync(join(dir, 'secret.pdf'), data);
    const received = new Promise<string>((resolve, reject) => {
      filesB.on('offer', (offer) => {
        const out = mkdtempSync(join(tmpdir(), 'nullroom-dm-recv-'));
        void folderSink(out, offer.name).then((sink) => offer.accept(sink).done.then((res) => resolve(res.path!), reject));
      });
    });
    const src = await fileSource(join(dir, 'secret.pdf'));
    await new RoomFiles(chatA, { blobs, hash: nodeSha256 }).send(src).done;
    assert.ok(readFileSync(await received).equals(data));
    await src.close();
    a.room.send('after the file');
    await until(() => c.messages.some((m) => m.text === 'after the file'), 'carol is in step');
    assert.equal(carolOffers, 0, 'carol saw no file offer');
    if (routing === 'direct') assert.equal(carolFrames.filter((f) => f.type === 'DIRECT_DELIVER').length, 0);
  });

test("direct routing: alice and bob talk privately; carol's connection receives not one frame of it; no plaintext reaches the relay", async (t) => {
  const wire: { dir: 'in' | 'out'; bytes: Uint8Array }[] = [];
  const { r, a, b, c } = await threeMembers((dir, _conn, bytes) => void wire.push({ dir, bytes: new Uint8Array(bytes) }));
  t.after(() => r.close());
  const [pa, pb, pc] = [
    new PrivateChats(a.room, { routing: 'direct' }),
    new PrivateChats(b.room, { routing: 'direct' }),
    new PrivateChats(c.room, { routing: 'direct' }),
  ];
  const seen: Record<string, string[]> = { alice: [], bob: [], carol: [] };
  const errs: string[] = [];
  for (const [name, p] of [
    ['alice', pa],
    ['bob', pb],
    ['carol', pc],
  ] as const) {
    p.on('message', (e) => seen[name]!.push(`${e.from}:${e.text}:${e.direct ? 'direct' : 'hidden'}`));
    p.on('error', (e) => errs.push(`${name}:${e.code}`));
  }
  const chat = await pa.open('bob');
  await until(() => pb.with('alice') !== undefined, 'bob has the chat');
  // From here on, every frame carol's socket receives is recorded.
  const carolFrames = rawFrames(c);
  const wireFrom = wire.length;
  const texts = Array.from({ length: 5 }, (_, i) => `DirectCanary ${i} for bob only`);
  for (const text of texts) await sendAndAck(chat, text); // each `sent` once the relay handed it to bob's connection
  await until(() => seen['bob']!.length === texts.length, 'bob reads all five');
  assert.deepEqual(
    seen['bob'],
    texts.map((x) => `alice:${x}:direct`),
  );
  await pb.with('alice')!.send('DirectCanary back to alice');
  await until(() => seen['alice']!.includes('bob:DirectCanary back to alice:direct'), 'alice reads the answer');
  // A room message afterwards reaches carol: she is connected and in step, and heard nothing before it.
  a.room.send('public after');
  await until(() => c.messages.some((m) => m.text === 'public after'), 'carol reads the room');
  assert.deepEqual(seen['carol'], []);
  assert.deepEqual(errs, []);
  const delivered = carolFrames.filter((f) => f.type === 'DELIVER');
  assert.equal(carolFrames.filter((f) => f.type === 'DIRECT_DELIVER').length, 0, 'no direct frame for carol');
  assert.equal(delivered.length, 1, 'carol received exactly one delivery since the chat opened: the room message');
  // The relay: six DIRECT frames in, six DIRECT_DELIVER out; no room message carried any of it; no plaintext anywhere.
  const after = wire.slice(wireFrom);
  const ins = after.filter((w) => w.dir === 'in').map((w) => decodeClientFrame(w.bytes));
  assert.equal(ins.filter((f) => f.type === 'DIRECT').length, 6);
  assert.equal(ins.filter((f) => f.type === 'APP').length, 1);
  const canary = new TextEncoder().encode('DirectCanary');
  assert.ok(!wire.some((w) => contains(w.bytes, canary)), 'no plaintext on the wire');
});

test('each side picks its routing: alice sends direct, bob hidden; both read everything; either can switch', async (t) => {
  const { r, a, b } = await threeMembers();
  t.after(() => r.close());
  const [pa, pb] = [new PrivateChats(a.room, { routing: 'direct' }), new PrivateChats(b.room)];
  const got: string[] = [];
  for (const p of [pa, pb]) p.on('message', (e) => got.push(`${e.from}>${e.text}:${e.direct ? 'direct' : 'hidden'}`));
  const chat = await pa.open('bob');
  await chat.send('one');
  await until(() => got.length === 1, 'bob reads');
  await pb.with('alice')!.send('two');
  await until(() => got.length === 2, 'alice reads');
  pa.routing = 'hidden';
  pb.routing = 'direct';
  await chat.send('three');
  await until(() => got.length === 3, 'bob reads');
  await pb.with('alice')!.send('four');
  await until(() => got.length === 4, 'alice reads');
  assert.deepEqual(got, ['alice>one:direct', 'bob>two:hidden', 'alice>three:hidden', 'bob>four:direct']);
});

test('direct routing: a direct frame from a connection that is not the peer is dropped unread (WRONG_SENDER), a forged one fails MLS', async (t) => {
  const captured: Uint8Array[] = [];
  let tamper = false;
  const r = await relay({
    hooks: {
      onWire: (dir, _conn, bytes) => {
        if (dir !== 'in') return;
        const f = decodeClientFrame(new Uint8Array(bytes));
        if (f.type === 'DIRECT' && f.data.length > 0) captured.push(new Uint8Array(f.data)); // not the joiners' empty probes
      },
      // A relay that alters one ciphertext byte of a direct message, keeping its (true) sender slot.
      transformOut: (_conn, bytes) => {
        const f = decodeRelayFrame(new Uint8Array(bytes));
        if (!tamper || f.type !== 'DIRECT_DELIVER') return [bytes];
        tamper = false;
        const data = new Uint8Array(f.data);
        data[data.length - 5]! ^= 1;
        return [encodeFrame({ ...f, data })];
      },
    },
  });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const [a, b, c] = [
    await member(r.url, secret, 'alice'),
    await member(r.url, secret, 'bob'),
    await member(r.url, secret, 'carol'),
  ] as TestClient[] as [TestClient, TestClient, TestClient];
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
  const [pa, pb] = [new PrivateChats(a.room, { routing: 'direct' }), new PrivateChats(b.room, { routing: 'direct' })];
  const heard: string[] = [];
  const errs: string[] = [];
  pb.on('message', (e) => heard.push(e.text));
  pb.on('error', (e) => errs.push(e.code));
  const chat = await pa.open('bob');
  await chat.send('genuine');
  await until(() => heard.length === 1, 'bob reads it');
  // carol, a member of the room, sends alice's ciphertext to bob's connection as her own direct frame.
  const bobSlot = b.room.profile()!.slot;
  c.client.request(c.room, (reqId) => ({ type: 'DIRECT', reqId, room: c.room.locator, to: bobSlot as never, data: captured[0]! }));
  await until(() => errs.includes('WRONG_SENDER'), 'bob refuses it');
  // The relay alters the next one in transit: MLS refuses it, and the chat goes on (the gap is reported).
  tamper = true;
  await chat.send('altered');
  await until(() => errs.includes('BAD_MESSAGE'), 'bob flags the altered message');
  await chat.send('after');
  await until(() => heard.includes('after'), 'the chat goes on');
  assert.deepEqual(heard, ['genuine', 'after']);
  assert.deepEqual(errs, ['WRONG_SENDER', 'BAD_MESSAGE', 'MISSING_MESSAGES']);
});

test('direct routing: a message typed while reconnecting goes out from the new connection; a peer that is gone gets a typed PEER_UNAVAILABLE, never a silent loss', async (t) => {
  // Gone at once: a peer whose connection is lost within the grace period is away, and DIRECT frames wait for it (§4.5).
  const { r, a, b, c } = await threeMembers(undefined, GONE_AT_ONCE);
  t.after(() => r.close());
  const [pa, pb] = [new PrivateChats(a.room, { routing: 'direct' }), new PrivateChats(b.room, { routing: 'direct' })];
  const heard: string[] = [];
  pb.on('message', (e) => heard.push(e.text));
  const chat = await pa.open('bob');
  await chat.send('hello');
  await until(() => heard.length === 1, 'bob reads');

  // alice's connection drops; a message typed meanwhile goes once she is back (new slot, new leaf).
  const oldSlot = a.room.profile()!.slot;
  (a.socket() as unknown as WebSocket).terminate();
  await until(() => a.room.state !== 'joined', 'alice is reconnecting');
  await sendAndAck(chat, 'typed while away');
  assert.notEqual(a.room.profile()!.slot, oldSlot);
  await until(() => heard.includes('typed while away'), 'bob reads it, from her new connection');
  assert.deepEqual(heard, ['hello', 'typed while away']);

  // bob leaves: a direct message to him is reported unsent, with a typed code.
  await b.client.close();
  const err = await delivery(chat, chat.send('nobody there'));
  assert.ok(!err.sent);
  assert.equal(err.code, 'PEER_UNAVAILABLE');
  assert.ok(!err.message.includes('nobody there') && !err.message.includes('bob'));
  void c;
});

test('direct routing: a message whose ACK was lost is sealed and sent again after the reconnect, and read once', async (t) => {
  let dropAcks = false;
  const r = await relay({ hooks: { transformOut: (_conn, bytes) => (dropAcks && bytes[0] === 0x44 ? [] : [bytes]) } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const [a, b] = [await member(r.url, secret, 'alice'), await member(r.url, secret, 'bob')] as [TestClient, TestClient];
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  const [pa, pb] = [new PrivateChats(a.room, { routing: 'direct' }), new PrivateChats(b.room, { routing: 'direct' })];
  const heard: string[] = [];
  const errs: string[] = [];
  pb.on('message', (e) => heard.push(e.text));
  pb.on('error', (e) => errs.push(e.code));
  const bobFrames = rawFrames(b);
  const chat = await pa.open('bob');
  dropAcks = true;
  let settled = false;
  const sent = delivery(chat, chat.send('delivered, but alice never hears so')).then((r) => {
    settled = true;
    assert.ok(r.sent);
  });
  await until(() => heard.length === 1, 'bob reads it');
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(settled, false, 'not acknowledged: still pending');
  dropAcks = false;
  (a.socket() as unknown as WebSocket).terminate();
  await sent; // sent again from the new connection, and acknowledged this time
  await chat.send('next');
  await until(() => heard.includes('next'), 'bob reads the next one');
  // Not counting alice's empty liveness probe after her rejoin (docs/PROTOCOL.md §4.3 "Departures").
  assert.equal(bobFrames.filter((f) => f.type === 'DIRECT_DELIVER' && f.data.length > 0).length, 3, 'the first one reached bob twice');
  assert.deepEqual(heard, ['delivered, but alice never hears so', 'next'], 'and was shown once');
  assert.deepEqual(errs, []);
});

test('direct routing: the peer reconnects (new slot) while its old leaf lingers: the message goes to its new connection, and its answers are accepted', async (t) => {
  // A relay that never announces departures: nobody removes bob's old leaf, so alice sees two leaves with his identity key.
  // Counted for alice's connection (the first one) only: bob's rejoin probes his old slot too.
  let noSuchPeer = 0;
  let aliceConn: number | undefined;
  const r = await relay({
    limits: GONE_AT_ONCE,
    hooks: {
      transformOut: (_conn, bytes) => (bytes[0] === 0x45 ? [] : [bytes]),
      onWire: (dir, conn, bytes) => {
        if (dir === 'in') aliceConn ??= conn;
        const f = dir === 'out' && conn === aliceConn ? decodeRelayFrame(new Uint8Array(bytes)) : undefined;
        if (f?.type === 'ERROR' && f.code === ErrorCodes.NO_SUCH_PEER) noSuchPeer++;
      },
    },
  });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  // Bob's rejoin finds his old leaf gone by its probe, but alice (lowest leaf) would remove it: he
  // waits his long grace period instead, so the old leaf lingers for this test.
  const [a, b] = [await member(r.url, secret, 'alice'), await member(r.url, secret, 'bob', { removalGraceMs: 60_000 })] as [
    TestClient,
    TestClient,
  ];
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  const [pa, pb] = [new PrivateChats(a.room, { routing: 'direct' }), new PrivateChats(b.room, { routing: 'direct' })];
  const heardB: string[] = [];
  const heardA: string[] = [];
  const errs: string[] = [];
  pb.on('message', (e) => heardB.push(e.text));
  pa.on('message', (e) => heardA.push(e.text));
  for (const p of [pa, pb]) p.on('error', (e) => errs.push(e.code));
  const chat = await pa.open('bob');
  await chat.send('before');
  await until(() => heardB.length === 1, 'bob reads');
  const oldSlot = b.room.profile()!.slot;
  (b.socket() as unknown as WebSocket).terminate();
  await until(() => b.room.state === 'joined' && b.room.profile()!.slot !== oldSlot, 'bob is back with a new slot');
  const newSlot = b.room.profile()!.slot;
  await until(() => a.room.members().some((m) => m.slot === newSlot), 'alice sees his new leaf');
  assert.ok(
    a.room.members().some((m) => m.slot === oldSlot),
    'and his old one is still there',
  );
  await chat.send('after'); // first to the old slot (NO_SUCH_PEER), then to the new one
  await until(() => heardB.includes('after'), 'bob reads it on his new connection');
  assert.equal(noSuchPeer, 1, 'the old slot was tried once');
  await pb.with('alice')!.send('back from my new connection');
  await until(() => heardA.includes('back from my new connection'), 'alice accepts it from his new slot');
  await chat.send('and again');
  await until(() => heardB.includes('and again'), 'straight to the new slot now');
  assert.equal(noSuchPeer, 1, 'the chat now knows where bob is');
  assert.deepEqual(errs, []);
});

test('a peer who rejoins the room is announced to its private chat (files sent there tell their hashes again)', async (t) => {
  const { r, a, b } = await threeMembers(undefined, GONE_AT_ONCE);
  t.after(() => r.close());
  const [pa] = [new PrivateChats(a.room), new PrivateChats(b.room)];
  const chat = await pa.open('bob');
  const joined: string[] = [];
  chat.on('member-joined', (e) => joined.push(e.nick));
  (b.socket() as unknown as WebSocket).terminate();
  await until(() => joined.length > 0, 'the chat hears that bob is back');
  assert.deepEqual(joined, [chat.peer]);
});

test('delivery, hidden routing: send returns the id at once; `sent` comes with the room message that carries it, from the chat and from PrivateChats', async (t) => {
  let dropAcks = false;
  const r = await relay({ hooks: { transformOut: (_conn, bytes) => (dropAcks && bytes[0] === 0x44 ? [] : [bytes]) } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const [a, b] = [await member(r.url, secret, 'alice'), await member(r.url, secret, 'bob')] as [TestClient, TestClient];
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  const [pa, pb] = [new PrivateChats(a.room), new PrivateChats(b.room)];
  const heard: string[] = [];
  pb.on('message', (e) => heard.push(e.text));
  const reports: string[] = [];
  pa.on('sent', (e) => reports.push(`sent:${e.chat.peer}:${e.id}`));
  pa.on('unsent', (e) => reports.push(`unsent:${e.id}:${e.code}`));
  const chat = await pa.open('bob');
  const first = await sendAndAck(chat, 'acknowledged');
  assert.match(first, /^[0-9a-f]{32}$/);
  assert.deepEqual(reports, [`sent:bob:${first}`]);

  // The relay keeps its acknowledgements: bob reads the message, but it stays pending for alice.
  dropAcks = true;
  let settled = false;
  const second = chat.send('read, not acknowledged');
  const outcome = delivery(chat, second).then((x) => ((settled = true), x));
  await until(() => heard.includes('read, not acknowledged'), 'bob reads it');
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(settled, false, 'not acknowledged: still pending');
  // alice leaves before any acknowledgement comes (the relay acknowledges her LEAVE again): unsent, never silently lost.
  dropAcks = false;
  await a.room.leave(50);
  const o = await outcome;
  assert.ok(!o.sent);
  assert.equal(o.code, 'NOT_JOINED');
  assert.ok(!o.message.includes('acknowledged') && !o.message.includes('bob'));
  assert.deepEqual(reports, [`sent:bob:${first}`, `unsent:${second}:NOT_JOINED`]);
  assert.throws(
    () => chat.send(''),
    (e: unknown) => e instanceof ClientError && e.code === 'MESSAGE_TOO_LARGE',
  );
});

test('delivery, direct routing: `sent` once the relay handed the frame to the peer, also from PrivateChats; once the peer left the room, PEER_LEFT at once', async (t) => {
  const { r, a, b } = await threeMembers();
  t.after(() => r.close());
  const [pa, pb] = [new PrivateChats(a.room, { routing: 'direct' }), new PrivateChats(b.room, { routing: 'direct' })];
  const heard: string[] = [];
  pb.on('message', (e) => heard.push(e.text));
  const reports: string[] = [];
  pa.on('sent', (e) => reports.push(`sent:${e.id}`));
  pa.on('unsent', (e) => reports.push(`unsent:${e.chat.peer}:${e.id}:${e.code}`));
  const chat = await pa.open('bob');
  const id = await sendAndAck(chat, 'handed over');
  assert.ok(heard.length <= 1);
  await until(() => heard.includes('handed over'), 'bob reads it');
  await b.client.close();
  await until(() => !a.room.members().some((m) => m.nick === 'bob'), 'bob is gone from the room');
  // Out of the room: refused at once (PEER_LEFT), nothing sealed or sent.
  assert.throws(
    () => chat.send('nobody there'),
    (e: unknown) => e instanceof ClientError && e.code === 'PEER_LEFT',
  );
  assert.deepEqual(reports, [`sent:${id}`]);
});

test('the peer leaves the room: its chat says so and refuses to send with PEER_LEFT (it used to report a hidden message `sent` that nobody could read); it opens again when the peer is back', async (t) => {
  const { r, a, b, c } = await threeMembers(undefined, GONE_AT_ONCE);
  t.after(() => r.close());
  const [pa, pb] = [new PrivateChats(a.room), new PrivateChats(b.room)];
  const heard: string[] = [];
  pb.on('message', (e) => heard.push(e.text));
  const told: string[] = [];
  pa.on('peer-left', (e) => told.push(`left:${e.chat.peer}`));
  pa.on('peer-back', (e) => told.push(`back:${e.chat.peer}`));
  const chat = await pa.open('bob');
  await sendAndAck(chat, 'before');
  await until(() => heard.includes('before'), 'bob reads');

  // bob's connection is gone (past the relay's grace period: at once here): he is out of the room.
  (b.socket() as unknown as WebSocket).terminate();
  await until(() => told.length === 1, 'alice hears that bob left');
  assert.deepEqual(told, ['left:bob']);
  assert.equal(chat.peerLeft, true);
  assert.equal(chat.closed, false, 'not closed: the peer may come back');
  assert.throws(
    () => chat.send('nobody there'),
    (e: unknown) => e instanceof ClientError && e.code === 'PEER_LEFT' && !e.message.includes('bob') && !e.message.includes('nobody'),
  );
  await assert.rejects(
    chat.sendPayload({ type: 'file-cancel', fid: '00'.repeat(16) }),
    (e: unknown) => e instanceof ClientError && e.code === 'PEER_LEFT',
  );
  assert.equal(pa.with('bob'), undefined, 'no open chat with bob to send to');

  // bob's client reconnects (same identity key, same chat state): the chat sends again.
  await until(() => told.length === 2, 'alice hears that bob is back');
  assert.deepEqual(told, ['left:bob', 'back:bob']);
  await sendAndAck(chat, 'after');
  await until(() => heard.includes('after'), 'bob reads it');
  assert.deepEqual(heard, ['before', 'after'], 'nothing else reached him');

  // bob leaves for good: the same refusal, in direct routing as well.
  pa.routing = 'direct';
  await b.client.close();
  await until(() => told.length === 3, 'alice hears that bob left');
  assert.throws(
    () => chat.send('gone for good'),
    (e: unknown) => e instanceof ClientError && e.code === 'PEER_LEFT',
  );
  void c;
});
