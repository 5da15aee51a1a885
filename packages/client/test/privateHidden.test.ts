/**
 * Hidden private messages (issue #14, docs/PROTOCOL.md §5.2): a chat's message travels in the
 * room's stream wrapped as a room PrivateMessage whose SenderData names no leaf. The peer reads it
 * once, in order, authenticated by the chat; the other members open its SenderData only (no room
 * MLS processing) and drop it without a word; the relay sees a room message.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeClientFrame, type ClientFrame } from '@nullroom/protocol';
import type { HiddenMessage, RoomGroup } from '@nullroom/crypto';
import { PrivateChats } from '../src/index.js';
import { fromHex } from '../src/encoding.js';
import { type RoomSnapshot, decodeSnapshot, encodeSnapshot } from '../src/roomSession.js';
import { closeAll, converged, member, randomRoomSecret, relay, type TestClient, until } from './_harness.js';

afterEach(closeAll);

const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).includes(Buffer.from(needle));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records what a member's room group made of each message it processed: for a hidden one, whether the state came back untouched. */
function spyProcess(crypto: RoomGroup): string[] {
  const kinds: string[] = [];
  const orig = crypto.process.bind(crypto);
  crypto.process = async (state, bytes, from) => {
    const r = await orig(state, bytes, from);
    kinds.push(r.kind === 'hidden' ? (r.state === state ? 'hidden-untouched' : 'hidden-moved') : r.kind);
    return r;
  };
  return kinds;
}

/** The room errors a member reported. */
const errorsOf = (c: TestClient) => c.events.filter((e) => e.type === 'error').map((e) => (e.e as { code: string }).code);

async function members(names: string[], wire?: Uint8Array[]) {
  const r = await relay(wire === undefined ? {} : { hooks: { onWire: (_d, _c, bytes) => void wire.push(new Uint8Array(bytes)) } });
  const secret = randomRoomSecret();
  const cs: TestClient[] = [];
  for (const n of names) cs.push(await member(r.url, secret, n));
  await until(() => converged(cs, names), 'all members');
  return { r, secret, cs };
}

/** alice's and bob's PrivateChats, a chat alice opened with bob (bob has it too), what bob reads and the errors either reports. */
async function aliceOpensToBob(a: TestClient, b: TestClient) {
  const [pa, pb] = [new PrivateChats(a.room), new PrivateChats(b.room)];
  const heard: string[] = [];
  const errs: string[] = [];
  pb.on('message', (e) => heard.push(e.text));
  for (const p of [pa, pb]) p.on('error', (e) => errs.push(e.code));
  const chat = await pa.open('bob');
  await until(() => pb.with('alice') !== undefined, 'bob has the chat');
  return { pa, pb, heard, errs, chat };
}

test('hidden routing: bob reads alice’s messages once, in order, authenticated; carol (with her own chat to alice) opens only their SenderData, reads and reports nothing', async (t) => {
  const wire: Uint8Array[] = [];
  const { r, cs } = await members(['alice', 'bob', 'carol'], wire);
  t.after(() => r.close());
  const [a, b, c] = cs as [TestClient, TestClient, TestClient];
  const [pa, pb, pc] = [new PrivateChats(a.room), new PrivateChats(b.room), new PrivateChats(c.room)];
  const heard: Record<string, string[]> = { bob: [], carol: [] };
  const privateErrors: string[] = [];
  pb.on('message', (e) => heard['bob']!.push(`${e.from}:${e.chat.peer}:${e.text}:${e.outOfOrder}:${e.direct}`));
  pc.on('message', (e) => heard['carol']!.push(`${e.from}:${e.text}`));
  for (const p of [pa, pb, pc]) p.on('error', (e) => privateErrors.push(e.code));
  const ab = await pa.open('bob');
  await pc.open('alice');
  await until(() => pa.with('carol') !== undefined && pb.with('alice') !== undefined, 'both chats open');
  const carolKinds = spyProcess(c.room.roomCrypto);

  const texts = ['HiddenCanary one', 'HiddenCanary two', 'HiddenCanary three', 'HiddenCanary four', 'HiddenCanary five'];
  for (const x of texts) ab.send(x);
  await until(() => heard['bob']!.length === texts.length, 'bob reads them all');
  assert.deepEqual(
    heard['bob'],
    texts.map((x) => `alice:alice:${x}:false:false`),
  );
  await until(() => pc.othersHidden === texts.length, 'carol dropped each of them');
  assert.deepEqual(carolKinds, Array(texts.length).fill('hidden-untouched'), "carol's room group processed none of them");
  assert.deepEqual(heard['carol'], []);

  // carol's own chat with alice still works, and bob does not take that one for his.
  pa.with('carol')!.send('HiddenCanary for carol');
  await until(() => heard['carol']!.includes('alice:HiddenCanary for carol'), 'carol reads hers');
  await until(() => pb.othersHidden === 1, 'bob dropped it');

  // Room messages after them: no room counter was taken by the hidden ones (no MISSING_MESSAGES).
  a.room.send('public after');
  await until(() => c.messages.some((m) => m.text === 'public after') && b.messages.some((m) => m.text === 'public after'), 'room message');
  assert.deepEqual([...errorsOf(a), ...errorsOf(b), ...errorsOf(c)], []);
  assert.deepEqual(privateErrors, []);

  // The relay saw no plaintext, and no chat id.
  assert.ok(!wire.some((w) => contains(w, new TextEncoder().encode('HiddenCanary'))), 'no plaintext on the wire');
  for (const id of [ab.id, pa.with('carol')!.id]) assert.ok(!wire.some((w) => contains(w, fromHex(id))), 'no chat id on the wire');
});

test('a commit sequenced before the ACK: the hidden message is wrapped again for the new epoch (the chat message itself kept) and read once', async (t) => {
  const { r, secret, cs } = await members(['alice', 'bob']);
  t.after(() => r.close());
  const [a, b] = cs as [TestClient, TestClient];
  const { heard, errs, chat } = await aliceOpensToBob(a, b);

  // alice's APP frames are held on her side until a joiner's commit is sequenced.
  const sock = a.socket()!;
  const send = sock.send.bind(sock);
  const held: Uint8Array[] = [];
  let hold = true;
  sock.send = (d: Uint8Array) => (hold && decodeClientFrame(d).type === 'APP' ? void held.push(new Uint8Array(d)) : send(d));
  const sent = new Promise<string>((res) => chat.on('sent', (e) => res(e.id)));
  const id = chat.send('across a commit');
  await until(() => held.length === 1, 'the first wrapping is held');
  await member(r.url, secret, 'dave');
  await until(() => a.room.members().length === 3 && held.length >= 2, 'alice read the commit and wrapped it again');
  hold = false;
  for (const d of held) send(d); // the stale one is refused (STALE_EPOCH, expected), the new one accepted
  assert.equal(await sent, id);
  await until(() => heard.length === 1, 'bob reads it');
  await sleep(200);
  assert.deepEqual(heard, ['across a commit'], 'once');
  const [f1, f2] = held.map((d) => decodeClientFrame(d)) as [Extract<ClientFrame, { type: 'APP' }>, Extract<ClientFrame, { type: 'APP' }>];
  assert.ok(f2.epoch > f1.epoch, 'the second names the new commit count');
  assert.equal(f2.data.byteLength, f1.data.byteLength, 'the same chat message, wrapped again');
  assert.notDeepEqual(f2.data, f1.data);
  assert.deepEqual([...errorsOf(a), ...errorsOf(b), ...errs], []);
});

test('reconnect with a hidden message in flight (its ACK lost): the relay’s replay acknowledges it; bob reads it once', async (t) => {
  let dropAcks = false;
  const r = await relay({ hooks: { transformOut: (_conn, bytes) => (dropAcks && bytes[0] === 0x44 ? [] : [bytes]) } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const [a, b] = [await member(r.url, secret, 'alice'), await member(r.url, secret, 'bob')] as [TestClient, TestClient];
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  const { heard, chat } = await aliceOpensToBob(a, b);
  dropAcks = true;
  const sent = new Promise<string>((res) => chat.on('sent', (e) => res(e.id)));
  const id = chat.send('in flight');
  await until(() => heard.length === 1, 'bob reads it');
  const slot = a.room.profile()!.slot;
  dropAcks = false;
  (a.socket() as unknown as { terminate(): void }).terminate();
  assert.equal(await sent, id, 'acknowledged by the replay after RESUME');
  assert.equal(a.room.profile()!.slot, slot, 'resumed, same slot');
  chat.send('after the reconnect');
  await until(() => heard.length === 2, 'bob reads the next');
  assert.deepEqual(heard, ['in flight', 'after the reconnect']);
  assert.deepEqual([...errorsOf(a), ...errorsOf(b)], []);
});

test('a member sending hidden messages that are nobody’s, or copies of others’: dropped, the copies said (WRONG_SENDER, as a direct one), no crash', async (t) => {
  const { r, cs } = await members(['alice', 'bob', 'carol']);
  t.after(() => r.close());
  const [a, b, c] = cs as [TestClient, TestClient, TestClient];
  const { pa, pb, heard, errs, chat } = await aliceOpensToBob(a, b);
  // carol keeps what passes, to send it again as her own.
  const seen: HiddenMessage[] = [];
  c.room.routeHidden((_from, h) => seen.push(h));
  chat.send('the real one');
  await until(() => heard.length === 1 && seen.length === 1, 'bob reads it, carol saw it pass');
  const inner = (h: HiddenMessage, groupId: Uint8Array) => privateMessage(groupId, h.encryptedSenderData, h.ciphertext);
  const copy = seen[0]!;
  const altered = { ...copy, ciphertext: copy.ciphertext.map((x, i) => (i > 40 ? x ^ 1 : x)) };
  const garbage = { encryptedSenderData: new Uint8Array(28).fill(7), ciphertext: new Uint8Array(120).fill(9) };
  for (let i = 0; i < 10; i++) for (const h of [copy, altered, garbage]) c.room.sendHidden(inner(h, new Uint8Array(16)));
  await c.room.flush();
  // The garbage opens for no chat: somebody else's, for all alice and bob can tell. The copies, and
  // the altered copies (their SenderData is the original's), open for their chat but come from
  // carol's slot, not the peer's: dropped unread, and said.
  await until(() => pb.othersHidden === 10 && pa.othersHidden === 10 && errs.length === 40, 'each dropped by alice and bob');
  chat.send('still fine');
  await until(() => heard.length === 2, 'bob reads the next');
  assert.deepEqual(heard, ['the real one', 'still fine']);
  assert.deepEqual(errs, Array(40).fill('WRONG_SENDER'), 'each copy, once to alice and once to bob');
  assert.deepEqual([...errorsOf(a), ...errorsOf(b)], []);
});

/** An MLSMessage PrivateMessage (RFC 9420 §6.3) with these fields, epoch 1, no authenticated data. */
function privateMessage(groupId: Uint8Array, esd: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const v = (b: Uint8Array) => (b.byteLength < 64 ? [b.byteLength, ...b] : [0x40 | (b.byteLength >> 8), b.byteLength & 0xff, ...b]);
  return Uint8Array.from([0, 1, 0, 2, ...v(groupId), 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, ...v(esd), ...v(ciphertext)]);
}

test('a saved session keeps a hidden message as the chat sealed it (with the wrapping in flight), and reads it back', () => {
  const inner = Uint8Array.from({ length: 50 }, (_, i) => i);
  const snapshot: RoomSnapshot = {
    secret: new Uint8Array(32).fill(1),
    suite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
    requestedNick: 'alice',
    nick: 'alice',
    created: true,
    slot: 1,
    token: new Uint8Array(32).fill(2),
    lastSeq: 3,
    commits: 0,
    mls: Uint8Array.of(1, 2, 3),
    counter: 4,
    outbox: [
      { body: { id: 'ab'.repeat(16), inner }, data: Uint8Array.of(9, 9) },
      { body: { id: 'cd'.repeat(16), inner }, data: undefined },
    ],
    lastN: [],
    privateChats: [],
    savedAt: 5,
  };
  const back = decodeSnapshot(encodeSnapshot(snapshot));
  assert.deepEqual(back.outbox, snapshot.outbox);
  const bad = JSON.parse(new TextDecoder().decode(encodeSnapshot(snapshot))) as { outbox: { i: string }[] };
  bad.outbox[0]!.i = 'not hex';
  assert.throws(() => decodeSnapshot(new TextEncoder().encode(JSON.stringify(bad))), /does not parse/);
});
