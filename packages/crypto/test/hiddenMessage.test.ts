/** Hidden private messages (src/hiddenMessage.ts; docs/PROTOCOL.md §5.2): the sealed SenderData, the wrapping, and who can read what. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as mls from 'ts-mls';
import {
  CryptoError,
  HIDDEN_LEAF,
  PrivateGroup,
  RoomGroup,
  type RoomKeys,
  type RoomState,
  deriveRoomKeys,
  randomBytes,
  randomRoomSecret,
} from '../src/index.js';
import { decodeMlsMessage } from '../src/mlsMessage.js';
import { SEALED_SENDER_DATA_BYTES, readSenderData, sealSenderData } from '../src/senderData.js';
import { suiteImpl } from '../src/suite.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

async function member(keys: RoomKeys) {
  const room = await RoomGroup.create(keys);
  return { room, chats: await PrivateGroup.forRoom(room), id: room.identity.publicKey };
}

/** alice and bob in one room (both states at the same epoch), and a private chat between them. */
async function setup() {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const [alice, bob, carol] = await Promise.all([member(keys), member(keys), member(keys)]);
  const created = await alice.room.createGroup({ nick: 'alice', slot: 1 });
  let A: RoomState = created.state;
  const jb = await bob.room.joinExternal(await bob.room.readGroupInfo(created.groupInfo), { nick: 'bob', slot: 2 });
  A = (await alice.room.process(A, jb.message, 2)).state;
  const offer = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  const chat = await alice.chats.create({ nick: 'alice', slot: 1 }, offer.keyPackage, bob.id);
  const chatB = await bob.chats.accept(offer.pending, chat.welcome, alice.id);
  return { alice, bob, carol, A, B: jb.state, chatA: chat.state, chatB };
}

test('sealSenderData seals what readSenderData opens, under that secret and framing only', async () => {
  const cs = await suiteImpl();
  const secret = randomBytes(32);
  const framing = { groupId: randomBytes(16), epoch: 7n, contentType: mls.contentTypes.application };
  const ciphertext = randomBytes(80);
  const esd = await sealSenderData(cs, secret, framing, ciphertext, {
    leafIndex: HIDDEN_LEAF,
    generation: 12345,
    reuseGuard: randomBytes(4),
  });
  assert.equal(esd.byteLength, SEALED_SENDER_DATA_BYTES);
  const pm = { ...framing, authenticatedData: new Uint8Array(0), encryptedSenderData: esd, ciphertext };
  assert.deepEqual(await readSenderData(cs, secret, pm), { leafIndex: HIDDEN_LEAF, generation: 12345 });
  assert.equal(await readSenderData(cs, randomBytes(32), pm), undefined, 'another secret');
  assert.equal(await readSenderData(cs, secret, { ...pm, epoch: 8n }), undefined, 'another epoch (SenderDataAAD)');
  assert.equal(await readSenderData(cs, secret, { ...pm, ciphertext: randomBytes(80) }), undefined, 'another ciphertext sample');
});

test('a hidden message: the room sees a room PrivateMessage 28 bytes longer than the chat message; members find the marker without MLS processing; only the chat reads it', async () => {
  const { alice, bob, carol, A, B, chatA, chatB } = await setup();
  const P = await alice.chats.encrypt(chatA, enc.encode('just between us'));
  const O = await alice.room.wrapHidden(A, P.message);
  assert.equal(O.byteLength, P.message.byteLength + 28);
  const o = decodeMlsMessage(O, [mls.wireformats.mls_private_message])!.privateMessage;
  assert.deepEqual(o.groupId, A.mls.groupContext.groupId);
  assert.equal(o.epoch, A.mls.groupContext.epoch);
  assert.equal(o.contentType, mls.contentTypes.application);
  assert.equal(o.authenticatedData.byteLength, 0);
  assert.notEqual(
    await alice.room.wrapHidden(A, P.message).then((x) => Buffer.from(x).toString('hex')),
    Buffer.from(O).toString('hex'),
    'fresh each time',
  );

  // bob (in the room): a hidden message, his state untouched.
  const before = bob.room.exportState(B);
  const r = await bob.room.process(B, O, 1);
  assert.equal(r.kind, 'hidden');
  assert.equal(r.state, B);
  assert.deepEqual(bob.room.exportState(B), before, 'no room secret consumed');
  if (r.kind !== 'hidden') return;
  // bob's chat finds its message, which it then reads (authenticated by the chat's group).
  const rebuilt = await bob.chats.openHidden(chatB, r.hidden);
  assert.deepEqual(rebuilt, P.message, 'the very message the chat sealed');
  const got = await bob.chats.decrypt(chatB, rebuilt!);
  assert.equal(got.kind === 'message' && dec.decode(got.plaintext), 'just between us');

  // Another chat (carol's with alice) does not take it for its own.
  const carolOffer = await carol.chats.offerKeyPackage({ nick: 'carol', slot: 3 });
  const chatAC = await alice.chats.create({ nick: 'alice', slot: 1 }, carolOffer.keyPackage, carol.id);
  const chatC = await carol.chats.accept(carolOffer.pending, chatAC.welcome, alice.id);
  assert.equal(await carol.chats.openHidden(chatC, r.hidden), undefined);
  // A room member forging a marker frame around garbage: a hidden message no chat opens.
  const p = decodeMlsMessage(P.message, [mls.wireformats.mls_private_message])!;
  const garbage = mls.encode(mls.mlsMessageEncoder, {
    ...p,
    privateMessage: { ...p.privateMessage, ciphertext: randomBytes(p.privateMessage.ciphertext.byteLength) },
  });
  const forged = await bob.room.wrapHidden(B, garbage);
  const rf = await alice.room.process(A, forged, 2);
  assert.equal(rf.kind, 'hidden');
  if (rf.kind === 'hidden') assert.equal(await alice.chats.openHidden(chatA, rf.hidden), undefined);
});

test("a marker is no member's message to ts-mls: its processMessage never accepts it (it aborts the process), so the room never hands it over", async () => {
  const { alice, bob, A, B, chatA } = await setup();
  const P = await alice.chats.encrypt(chatA, enc.encode('hidden'));
  const O = await alice.room.wrapHidden(A, P.message);
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const child = spawnSync(
    process.execPath,
    [fileURLToPath(new URL('./_tsmlsMarker.js', import.meta.url)), hex(bob.room.exportState(B)), hex(O)],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  assert.doesNotMatch(child.stdout, /accepted/);
  assert.ok(child.status !== 0 || /refused/.test(child.stdout), `ts-mls neither refused nor failed: ${child.status} ${child.stdout}`);
  // A wrapped message whose SenderData does not open under the room's keys is refused as before.
  const other = await setup();
  const foreign = await other.alice.room.wrapHidden(other.A, P.message);
  await assert.rejects(bob.room.process(B, foreign, 1), (e: unknown) => e instanceof CryptoError && e.code === 'BAD_MESSAGE');
});

test("a member's message naming a leaf beyond the tree is refused (BAD_MESSAGE) before ts-mls sees it", async () => {
  const { alice, bob, A, B } = await setup();
  const cs = await suiteImpl();
  const m = decodeMlsMessage((await alice.room.encrypt(A, enc.encode('x'))).message, [mls.wireformats.mls_private_message])!;
  for (const leafIndex of [HIDDEN_LEAF - 1, 5]) {
    const pm = m.privateMessage;
    const esd = await sealSenderData(cs, B.mls.keySchedule.senderDataSecret, pm, pm.ciphertext, {
      leafIndex,
      generation: 0,
      reuseGuard: randomBytes(4),
    });
    const forged = mls.encode(mls.mlsMessageEncoder, { ...m, privateMessage: { ...pm, encryptedSenderData: esd } });
    await assert.rejects(bob.room.process(B, forged, 1), (e: unknown) => e instanceof CryptoError && e.code === 'BAD_MESSAGE');
  }
});

test('an ordinary room message is read as before', async () => {
  const { alice, bob, A, B } = await setup();
  const m = await alice.room.encrypt(A, enc.encode('hello room'));
  const r = await bob.room.process(B, m.message, 1);
  assert.equal(r.kind, 'app');
  assert.equal(r.kind === 'app' && dec.decode(r.plaintext), 'hello room');
  assert.equal(r.kind === 'app' && r.sender.nick, 'alice');
});
