/**
 * Nullroom's room rules (docs/PROTOCOL.md §3.6) and the one strict MLS decoder
 * (mlsMessage.ts): tests that attack our own code with commits and bytes an insider can make.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mls from 'ts-mls';
import {
  CryptoError,
  type CryptoErrorCode,
  MAX_NICK_CHARS,
  PrivateGroup,
  RoomGroup,
  type RoomKeys,
  decodeMlsMessage,
  deriveRoomKeys,
  framedEpoch,
  nickKey,
  privateMessageGroupId,
  randomRoomSecret,
  uniqueNick,
} from '../src/index.js';

const enc = new TextEncoder();
const code = (c: CryptoErrorCode) => (e: unknown) => e instanceof CryptoError && e.code === c;
const withTrailing = (b: Uint8Array, extra = [0]) => new Uint8Array([...b, ...extra]);

/** alice (slot 1) creates, bob (slot 2) joins. */
async function twoMembers(keys?: RoomKeys) {
  keys ??= await deriveRoomKeys(randomRoomSecret());
  const [a, b] = await Promise.all([RoomGroup.create(keys), RoomGroup.create(keys)]);
  const created = await a.createGroup({ nick: 'alice', slot: 1 });
  const jb = await b.joinExternal(await b.readGroupInfo(created.groupInfo), { nick: 'bob', slot: 2 });
  const A = (await a.process(created.state, jb.message, 2)).state;
  return { keys, a, b, A, B: jb.state, groupInfo: jb.groupInfo };
}

test('trailing bytes after an MLS message are refused in rooms: application message, commit, GroupInfo', async () => {
  const { keys, a, b, A, B, groupInfo } = await twoMembers();
  const m = await b.encrypt(B, enc.encode('hi'));
  await assert.rejects(a.process(A, withTrailing(m.message), 2), code('BAD_MESSAGE'));
  await assert.rejects(a.process(A, withTrailing(m.message, [1, 2, 3, 4]), 2), code('BAD_MESSAGE'));
  // The same bytes without the tail are fine: the refusal was about the tail alone.
  assert.equal((await a.process(A, m.message, 2)).kind, 'app');

  const up = await b.remove(B, []);
  await assert.rejects(a.process(A, withTrailing(up.message), 2), code('BAD_MESSAGE'));
  assert.equal((await a.process(A, up.message, 2)).kind, 'commit');

  // A GroupInfo with a trailing byte inside a valid seal (only a room member can make one).
  const c = await RoomGroup.create(keys);
  const { open, seal } = await import('../src/sealed.js');
  const { concat, utf8 } = await import('../src/bytes.js');
  const aad = concat(utf8.encode('nullroom/v1/group-info'), keys.locator);
  const plain = await open(keys.groupInfoKey, groupInfo, aad);
  assert.ok(plain);
  await c.readGroupInfo(await seal(keys.groupInfoKey, plain, aad));
  await assert.rejects(c.readGroupInfo(await seal(keys.groupInfoKey, withTrailing(plain), aad)), code('BAD_GROUP_INFO'));
});

test('trailing bytes after an MLS message are refused in private chats (decrypt and the group id reader)', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const [ra, rb] = await Promise.all([RoomGroup.create(keys), RoomGroup.create(keys)]);
  const [ca, cb] = await Promise.all([PrivateGroup.forRoom(ra), PrivateGroup.forRoom(rb)]);
  const offer = await cb.offerKeyPackage({ nick: 'bob', slot: 2 });
  const created = await ca.create({ nick: 'alice', slot: 1 }, offer.keyPackage, rb.identity.publicKey);
  const B = await cb.accept(offer.pending, created.welcome, ra.identity.publicKey);
  const m = await ca.encrypt(created.state, enc.encode('hi'));
  assert.equal(privateMessageGroupId(withTrailing(m.message)), undefined);
  await assert.rejects(cb.decrypt(B, withTrailing(m.message)), code('BAD_MESSAGE'));
  assert.equal((await cb.decrypt(B, m.message)).kind, 'message');
});

test('decodeMlsMessage: size cap before parsing, MLS 1.0 only, expected wireformats only, every byte consumed', async () => {
  const { b, B } = await twoMembers();
  const m = (await b.encrypt(B, enc.encode('x'))).message;
  const wf = mls.wireformats;
  assert.ok(decodeMlsMessage(m, [wf.mls_private_message]));
  assert.equal(decodeMlsMessage(m, [wf.mls_public_message]), undefined);
  assert.equal(decodeMlsMessage(m, [wf.mls_private_message], m.byteLength - 1), undefined);
  assert.equal(decodeMlsMessage(withTrailing(m), [wf.mls_private_message]), undefined);
  assert.equal(decodeMlsMessage(m.subarray(0, m.byteLength - 1), [wf.mls_private_message]), undefined);
  assert.equal(decodeMlsMessage(new Uint8Array(0), [wf.mls_private_message]), undefined);
  const v2 = m.slice();
  v2[1] = 2; // version = 2 (RFC 9420 §6: mls10 = 1)
  assert.equal(decodeMlsMessage(v2, [wf.mls_private_message]), undefined);
  assert.equal(framedEpoch(m), 1n);
  assert.equal(framedEpoch(withTrailing(m)), undefined);
});

test('a joiner whose credential names another slot than the one the relay says sent it is void (BROKEN_ROOM_RULE), and the state stays live', async () => {
  const { keys, a, A, groupInfo: gi } = await twoMembers();
  const c = await RoomGroup.create(keys);
  const ghost = await c.joinExternal(await c.readGroupInfo(gi), { nick: 'carol', slot: 7 });
  await assert.rejects(a.process(A, ghost.message, 3), code('BROKEN_ROOM_RULE'));
  // The void commit left A untouched (its secrets were not wiped): an honest join still processes.
  const d = await RoomGroup.create(keys);
  const honest = await d.joinExternal(await d.readGroupInfo(gi), { nick: 'dave', slot: 4 });
  const r = await a.process(A, honest.message, 4);
  assert.deepEqual(r.kind === 'commit' && r.added.map((m) => [m.nick, m.slot]), [['dave', 4]]);
  assert.deepEqual(
    (await a.members(r.state)).map((m) => m.nick),
    ['alice', 'bob', 'dave'],
  );
});

test('a joiner that takes a nickname another identity holds (any case) is void; the same identity may keep its nickname', async () => {
  const { keys, a, A, b, groupInfo } = await twoMembers();
  const mallory = await RoomGroup.create(keys);
  for (const nick of ['bob', 'BOB', 'Bob']) {
    const imp = await mallory.joinExternal(await mallory.readGroupInfo(groupInfo), { nick, slot: 3 });
    await assert.rejects(a.process(A, imp.message, 3), code('BROKEN_ROOM_RULE'));
  }
  // bob reconnects (same identity key, new leaf) while his old leaf lingers: accepted as "bob".
  const b2 = await RoomGroup.create(keys, undefined, b.identity);
  const again = await b2.joinExternal(await b2.readGroupInfo(groupInfo), { nick: 'bob', slot: 3 });
  const r = await a.process(A, again.message, 3);
  assert.deepEqual(
    (await a.members(r.state)).map((m) => m.nick),
    ['alice', 'bob', 'bob'],
  );
});

test('an honest member commit (self-update) passes the room rules: it adds no leaf and keeps every credential', async () => {
  const { a, b, A, B } = await twoMembers();
  const up = await b.remove(B, []);
  const r = await a.process(A, up.message, 2);
  assert.equal(r.kind === 'commit' && r.added.length + r.removed.length, 0);
});

test('uniqueNick: the suffix rule, case-insensitive, at the 32-code-point limit, with non-ASCII', () => {
  const taken = (...n: string[]) => new Set(n.map(nickKey));
  assert.equal(uniqueNick('sam', taken()), 'sam');
  assert.equal(uniqueNick('sam', taken('SAM')), 'sam-2');
  assert.equal(uniqueNick('Sam', taken('sam', 'sam-2', 'SAM-3')), 'Sam-4');
  const long = 'x'.repeat(MAX_NICK_CHARS);
  assert.equal(uniqueNick(long, taken(long)), `${'x'.repeat(30)}-2`);
  const k9 = taken(long, ...[2, 3, 4, 5, 6, 7, 8, 9].map((k) => `${'x'.repeat(30)}-${k}`));
  assert.equal(uniqueNick(long, k9), `${'x'.repeat(29)}-10`);
  // Code points, not UTF-16 units: 32 emoji (64 units) become 30 emoji and "-2".
  const emoji = '😀'.repeat(MAX_NICK_CHARS);
  assert.equal(uniqueNick(emoji, taken(emoji)), `${'😀'.repeat(30)}-2`);
  assert.equal([...uniqueNick(emoji, taken(emoji))].length, MAX_NICK_CHARS);
  // NFC first: a decomposed é is the same nickname as a composed one.
  assert.equal(uniqueNick('re\u0301', taken('r\u00e9')), 'r\u00e9-2');
  // toLowerCase is locale-independent: "I" keys as "i" everywhere.
  assert.equal(nickKey('INDIGO'), 'indigo');
});

test('checkGroupInfo: ours when it matches our state, other for a later state of our group, foreign for another group, bad for garbage', async () => {
  const { keys, a, A, b, B, groupInfo } = await twoMembers();
  const profile = { nick: 'alice', slot: 1 };
  assert.equal(await a.checkGroupInfo(A, groupInfo, profile), 'ours');
  const up = await b.remove(B, []);
  assert.equal(await a.checkGroupInfo(A, up.groupInfo, profile), 'other');
  const { seal } = await import('../src/sealed.js');
  assert.equal(await a.checkGroupInfo(A, await seal(keys.groupInfoKey, new Uint8Array(64), new Uint8Array(0)), profile), 'bad');
  assert.equal(await a.checkGroupInfo(A, new Uint8Array(100), profile), 'bad');
  const elsewhere = await RoomGroup.create(keys);
  const otherGroup = await elsewhere.createGroup({ nick: 'zed', slot: 9 });
  assert.equal(await a.checkGroupInfo(A, otherGroup.groupInfo, profile), 'foreign');
});

test("groupInfoMatches: the committer's GroupInfo of our state matches; the same one with a bad signature, another signer, or an older state does not", async () => {
  const { keys, a, A, b, B, groupInfo } = await twoMembers();
  assert.equal(await a.groupInfoMatches(A, groupInfo), true); // signed by bob's leaf
  assert.equal(await b.groupInfoMatches(B, groupInfo), true);
  const { open, seal } = await import('../src/sealed.js');
  const { concat, utf8 } = await import('../src/bytes.js');
  const aad = concat(utf8.encode('nullroom/v1/group-info'), keys.locator);
  const plain = (await open(keys.groupInfoKey, groupInfo, aad))!;
  const msg = mls.decode(mls.mlsMessageDecoder, plain)!;
  assert.equal(msg.wireformat, mls.wireformats.mls_group_info);
  if (msg.wireformat !== mls.wireformats.mls_group_info) return;
  const reseal = async (gi: typeof msg.groupInfo) =>
    seal(keys.groupInfoKey, mls.encode(mls.mlsMessageEncoder, { ...msg, groupInfo: gi }), aad);
  const sig = msg.groupInfo.signature.slice();
  sig[5]! ^= 1;
  assert.equal(await a.groupInfoMatches(A, await reseal({ ...msg.groupInfo, signature: sig })), false);
  assert.equal(await a.groupInfoMatches(A, await reseal({ ...msg.groupInfo, signer: msg.groupInfo.signer === 0 ? 1 : 0 })), false);
  assert.equal(
    await a.groupInfoMatches(
      A,
      await reseal({ ...msg.groupInfo, confirmationTag: new Uint8Array(msg.groupInfo.confirmationTag.byteLength) }),
    ),
    false,
  );
  const up = await a.remove(A, []);
  assert.equal(await b.groupInfoMatches(B, up.groupInfo), false); // a later state
  assert.equal(await a.groupInfoMatches(up.state, up.groupInfo), true);
});

test("one strict decoder: no source file but mlsMessage.ts calls ts-mls's MLSMessage decoder or its lenient decode()", async () => {
  const { readdir, readFile } = await import('node:fs/promises');
  const dir = new URL('../../src/', import.meta.url); // dist/test -> package root's src
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('mlsMessage.ts') && files.includes('roomGroup.ts') && files.includes('privateGroup.ts'));
  for (const f of files) {
    if (f === 'mlsMessage.ts') continue;
    const src = await readFile(new URL(f, dir), 'utf8');
    assert.doesNotMatch(src, /\bmlsMessageDecoder\b/, f);
    assert.doesNotMatch(src, /^\s*(decode,|import \{[^}]*\bdecode\b)/m, f);
  }
});
