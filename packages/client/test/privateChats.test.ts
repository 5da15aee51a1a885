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
import { type PrivateChat, PrivateChats, RoomFiles } from '../src/index.js';
import { fileSource, folderSink, nodeBlobTransport, nodeSha256 } from '../src/node/index.js';
import { closeAll, converged, member, randomRoomSecret, relay, type TestClient, until } from './_harness.js';

afterEach(closeAll);

const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).includes(Buffer.from(needle));

test('alice and bob chat privately: carol and the relay read nothing; both sides see it open; either can close it', async (t) => {
  const wire: Uint8Array[] = [];
  const r = await relay({ hooks: { onWire: (_dir, _conn, bytes) => void wire.push(new Uint8Array(bytes)) } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const [a, b, c] = [await member(r.url, secret, 'alice'), await member(r.url, secret, 'bob'), await member(r.url, secret, 'carol')] as TestClient[] as [TestClient, TestClient, TestClient];
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
  const [pa, pb, pc] = [new PrivateChats(a.room), new PrivateChats(b.room), new PrivateChats(c.room)];
  const seen: Record<string, string[]> = { alice: [], bob: [], carol: [] };
  for (const [name, p] of [['alice', pa], ['bob', pb], ['carol', pc]] as const) {
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

  // bob closes it; alice is told.
  pb.with('alice')!.close();
  await until(() => seen['alice']!.includes('closed:bob:false'), 'alice sees it closed');
  assert.equal(pa.with('bob'), undefined);
  await assert.rejects(chat.send('too late'));
});

test('a member cannot answer an offer meant for someone else, and cannot read a chat it was not part of', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const [a, b, c] = [await member(r.url, secret, 'alice'), await member(r.url, secret, 'bob'), await member(r.url, secret, 'mallory')] as TestClient[] as [TestClient, TestClient, TestClient];
  await until(() => converged([a, b, c], ['alice', 'bob', 'mallory']), 'three members');
  const pa = new PrivateChats(a.room);
  const pb = new PrivateChats(b.room);
  // mallory answers every offer she sees, pretending to be its addressee, with a chat of her own.
  const pm = new PrivateChats(c.room);
  const mc = await pm.crypto();
  let tried = 0;
  c.room.on('private', async (e) => {
    if (e.payload.type !== 'dm-offer') return;
    tried++;
    const made = await mc.create(c.room.profile()!, Uint8Array.from(atob(e.payload.kp), (x) => x.charCodeAt(0)), e.identityKey);
    c.room.sendPayload({ type: 'dm-welcome', to: e.payload.to === undefined ? '' : Array.from(e.identityKey, (x) => x.toString(16).padStart(2, '0')).join(''), offer: e.payload.offer, welcome: btoa(String.fromCharCode(...made.welcome)) });
  });
  const chat: PrivateChat = await pa.open('bob');
  assert.equal(tried, 1);
  assert.equal(chat.peer, 'bob', "alice's chat is with bob, not with whoever answered first");
  let heard = '';
  pb.on('message', (e) => (heard = e.text));
  await chat.send('for bob');
  await until(() => heard === 'for bob', 'bob reads it');
});

test('a file sent in a private chat reaches the peer only', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const [a, b, c] = [await member(r.url, secret, 'alice'), await member(r.url, secret, 'bob'), await member(r.url, secret, 'carol')] as TestClient[] as [TestClient, TestClient, TestClient];
  await until(() => converged([a, b, c], ['alice', 'bob', 'carol']), 'three members');
  const blobs = nodeBlobTransport(r.url);
  const [pa, pb] = [new PrivateChats(a.room), new PrivateChats(b.room)];
  const chatA = await pa.open('bob');
  await until(() => pb.with('alice') !== undefined, 'bob has the chat');
  const filesB = new RoomFiles(pb.with('alice')!, { blobs, hash: nodeSha256 });
  const roomFilesC = new RoomFiles(c.room, { blobs, hash: nodeSha256 });
  let carolOffers = 0;
  roomFilesC.on('offer', () => carolOffers++);
  c.room.on('file-offer', () => carolOffers++);
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
});
