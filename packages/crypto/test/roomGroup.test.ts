import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mls from 'ts-mls';
import { open } from '../src/sealed.js';
import { concat } from '../src/bytes.js';
import { RoomGroup, deriveRoomKeys, randomRoomSecret, CryptoError, type RoomState } from '../src/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

async function room() {
  return RoomGroup.create(await deriveRoomKeys(randomRoomSecret()));
}

test('three members: create, external joins, messages carry the authenticated sender, removal', async () => {
  const secret = randomRoomSecret();
  const keys = await deriveRoomKeys(secret);
  const [a, b, c] = await Promise.all([RoomGroup.create(keys), RoomGroup.create(keys), RoomGroup.create(keys)]);
  const created = await a.createGroup({ nick: 'alice', slot: 1 });
  let A: RoomState = created.state;
  const jb = await b.joinExternal(await b.readGroupInfo(created.groupInfo), { nick: 'bob', slot: 2 });
  let B = jb.state;
  const pa = await a.process(A, jb.message, 2);
  assert.equal(pa.kind, 'commit');
  A = pa.state;
  assert.deepEqual(pa.kind === 'commit' && pa.added.map((m) => [m.nick, m.slot]), [['bob', 2]]);
  const jc = await c.joinExternal(await c.readGroupInfo(jb.groupInfo), { nick: 'carol', slot: 3 });
  let C = jc.state;
  A = (await a.process(A, jc.message, 3)).state;
  B = (await b.process(B, jc.message, 3)).state;
  assert.deepEqual(
    (await c.members(C)).map((m) => [m.nick, m.self]),
    [
      ['alice', false],
      ['bob', false],
      ['carol', true],
    ],
  );

  const m1 = await b.encrypt(B, enc.encode('hello from bob'));
  B = m1.state;
  for (const [who, st] of [
    [a, A],
    [c, C],
  ] as const) {
    const r = await who.process(st, m1.message, 2);
    assert.equal(r.kind, 'app');
    if (r.kind !== 'app') return;
    assert.equal(dec.decode(r.plaintext), 'hello from bob');
    assert.equal(r.sender.nick, 'bob');
    if (who === a) A = r.state;
    else C = r.state;
  }
  // replay of the same ciphertext is refused
  await assert.rejects(a.process(A, m1.message, 2), (e: unknown) => e instanceof CryptoError && e.code === 'BAD_MESSAGE');
  // an altered byte is refused
  const m2 = await b.encrypt(B, enc.encode('second'));
  B = m2.state;
  const bad = m2.message.slice();
  bad[bad.length - 3]! ^= 1;
  await assert.rejects(a.process(A, bad, 2), CryptoError);
  const ok = await a.process(A, m2.message, 2);
  assert.equal(ok.kind === 'app' && dec.decode(ok.plaintext), 'second');
  A = ok.state;

  // alice removes carol
  const rm = await a.remove(A, [2]);
  A = rm.state;
  const pb = await b.process(B, rm.message, 1);
  assert.equal(pb.kind === 'commit' && pb.removed.map((m) => m.nick).join(), 'carol');
  const pc = await c.process(C, rm.message, 1);
  assert.equal(pc.kind === 'commit' && pc.removedSelf, true);
  assert.equal(a.epochOf(A), 3);
});

test('a GroupInfo sealed for one room does not open in another', async () => {
  const a = await room();
  const other = await room();
  const { groupInfo } = await a.createGroup({ nick: 'alice', slot: 1 });
  await assert.rejects(other.readGroupInfo(groupInfo), (e: unknown) => e instanceof CryptoError && e.code === 'BAD_GROUP_INFO');
});

test('a joiner without the room secret cannot be added: members reject its credential', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const a = await RoomGroup.create(keys);
  const { state, groupInfo } = await a.createGroup({ nick: 'alice', slot: 1 });
  // Worst case: the attacker (say, the relay) somehow holds the plaintext GroupInfo, but not the room secret.
  const plain = await open(keys.groupInfoKey, groupInfo, concat(new TextEncoder().encode('nullroom/v1/group-info'), keys.locator));
  const gi = mls.decode(mls.mlsMessageDecoder, plain!);
  assert.ok(gi && gi.wireformat === mls.wireformats.mls_group_info);
  const impl = await mls.getCiphersuiteImpl('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
  const kp = await mls.generateKeyPackage({
    credential: { credentialType: mls.defaultCredentialTypes.basic, identity: new TextEncoder().encode('mallory') },
    cipherSuite: impl,
  });
  const { publicMessage } = await mls.joinGroupExternal({
    context: { cipherSuite: impl, authService: mls.unsafeTestingAuthenticationService },
    groupInfo: gi.groupInfo,
    keyPackage: kp.publicPackage,
    privateKeys: kp.privatePackage,
    resync: false,
  });
  const commit = mls.encode(mls.mlsMessageEncoder, {
    wireformat: mls.wireformats.mls_public_message,
    version: mls.protocolVersions.mls10,
    publicMessage,
  });
  await assert.rejects(a.process(state, commit, 99), (e: unknown) => e instanceof CryptoError && e.code === 'BAD_MESSAGE');
  assert.deepEqual(
    (await a.members(state)).map((m) => m.nick),
    ['alice'],
  );
});

test('a self-update (remove of no one) replaces our leaf key and moves every member to the next epoch', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const [a, b] = await Promise.all([RoomGroup.create(keys), RoomGroup.create(keys)]);
  const created = await a.createGroup({ nick: 'alice', slot: 1 });
  const jb = await b.joinExternal(await b.readGroupInfo(created.groupInfo), { nick: 'bob', slot: 2 });
  const A = (await a.process(created.state, jb.message, 2)).state;
  const leafKey = (s: RoomState) => {
    const node = s.mls.ratchetTree[a.selfLeaf(s) * 2];
    return node?.nodeType === mls.nodeTypes.leaf ? node.leaf.hpkePublicKey : undefined;
  };
  const up = await a.remove(A, []);
  assert.notDeepEqual(leafKey(up.state), leafKey(A));
  const pb = await b.process(jb.state, up.message, 1);
  assert.equal(pb.kind === 'commit' && pb.added.length + pb.removed.length, 0);
  assert.equal(b.epochOf(pb.state), a.epochOf(up.state));
  assert.equal(a.epochOf(up.state), a.epochOf(A) + 1);
});
