/**
 * Account conversations (src/accountGroup.ts, src/accountCredential.ts): devices of accounts added
 * from their KeyPackages while offline and joining from one Welcome, messages among them with the
 * sender named by the tree, removal; and every leaf that is not a listed device of its account,
 * or whose binding is forged, refused; replays, tampering and foreign Welcomes refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPackageWithKey } from 'ts-mls';
import {
  AccountGroups,
  type AccountPendingKeyPackage,
  CryptoError,
  type CryptoErrorCode,
  type ConversationState,
  accountCredential,
  ephemeralIdentity,
  type IdentitySigner,
  toHex,
} from '../src/index.js';
import { suiteImpl } from '../src/suite.js';
import { utf8 } from '../src/bytes.js';

/** The device lists the caller "verified": name -> identity keys. */
const lists = new Map<string, Set<string>>();
const isDevice = (name: string, key: Uint8Array) => lists.get(name)?.has(toHex(key)) ?? false;
async function deviceOf(name: string): Promise<IdentitySigner> {
  const id = await ephemeralIdentity();
  lists.set(name, (lists.get(name) ?? new Set()).add(toHex(id.publicKey)));
  return id;
}
const fails = (p: Promise<unknown>, code: CryptoErrorCode) =>
  assert.rejects(p, (e: unknown) => e instanceof CryptoError && e.code === code, code);

test('a conversation of devices added offline: one Welcome, messages both ways, the sender named, a removal', async () => {
  const g = await AccountGroups.open(isDevice);
  const [a1, a2, b1] = [await deviceOf('alice'), await deviceOf('alice'), await deviceOf('bob')];
  const kpA2 = await g.newKeyPackage('alice', a2);
  const kpB1 = await g.newKeyPackage('bob', b1);
  const spare = await g.newKeyPackage('bob', b1);
  let sA1 = await g.create('alice', a1);
  assert.equal(g.epoch(sA1), 0);
  const added = await g.add(sA1, [kpA2.keyPackage, kpB1.keyPackage]);
  assert.deepEqual(
    added.added.map((m) => m.name),
    ['alice', 'bob'],
  );
  sA1 = added.state;
  const pendingB: AccountPendingKeyPackage[] = [spare.pending, kpB1.pending];
  let { state: sB1, used } = await g.join(added.welcome!, pendingB);
  assert.equal(used, kpB1.pending, 'the KeyPackage the Welcome was for');
  let sA2 = (await g.join(added.welcome!, [kpA2.pending])).state;
  assert.equal(g.epoch(sB1), 1);
  assert.deepEqual(
    (await g.members(sB1)).map((m) => [m.name, toHex(m.identityKey)]),
    [
      ['alice', toHex(a1.publicKey)],
      ['alice', toHex(a2.publicKey)],
      ['bob', toHex(b1.publicKey)],
    ],
  );
  // bob writes; both alice devices read it, with bob named as its sender.
  const out = await g.encrypt(sB1, utf8.encode('hello from bob'));
  sB1 = out.state;
  for (const [who, s] of [
    ['a1', sA1],
    ['a2', sA2],
  ] as const) {
    const r = await g.process(s, out.message);
    assert.equal(r.kind, 'message', who);
    if (r.kind !== 'message') continue;
    assert.equal(new TextDecoder().decode(r.plaintext), 'hello from bob');
    assert.deepEqual([r.sender.name, toHex(r.sender.identityKey)], ['bob', toHex(b1.publicKey)]);
    if (who === 'a1') sA1 = r.state;
    else sA2 = r.state;
  }
  await fails(g.process(sA1, out.message), 'BAD_MESSAGE'); // a replay
  const tampered = new Uint8Array(out.message);
  tampered[tampered.length - 3]! ^= 1;
  await fails(g.process(sA2, tampered), 'BAD_MESSAGE');

  // alice's second device removes bob: bob learns he was removed, a1 who was removed.
  const rm = await g.remove(sA2, [b1.publicKey]);
  sA2 = rm.state;
  const atBob = await g.process(sB1, rm.commit);
  assert.deepEqual([atBob.kind, atBob.kind === 'commit' && atBob.removedUs], ['commit', true]);
  const atA1 = await g.process(sA1, rm.commit);
  assert.ok(atA1.kind === 'commit');
  assert.deepEqual(
    atA1.removed.map((m) => m.name),
    ['bob'],
  );
  sA1 = atA1.state;
  const after = await g.encrypt(sA1, utf8.encode('bob is gone'));
  const got = await g.process(sA2, after.message);
  assert.ok(got.kind === 'message' && got.sender.name === 'alice');
  // A saved KeyPackage reads back; one with a byte more, or cut short, does not.
  const saved = g.exportPending(spare.pending);
  assert.deepEqual(g.importPending(saved).keyPackage.leafNode.signaturePublicKey, spare.pending.keyPackage.leafNode.signaturePublicKey);
  for (const bad of [new Uint8Array([...saved, 0]), saved.subarray(0, saved.length - 1), new Uint8Array(3)]) {
    assert.throws(
      () => g.importPending(bad),
      (e: unknown) => e instanceof CryptoError && e.code === 'BAD_SAVED_STATE',
    );
  }
  // A saved state reads back.
  assert.equal(g.epoch(g.importState(g.exportState(got.state))), 2);
  await assert.rejects(
    async () => g.importState(new Uint8Array(10)),
    (e: unknown) => e instanceof CryptoError && e.code === 'BAD_SAVED_STATE',
  );
});

test('only listed devices enter: an unlisted key, a forged binding, a foreign Welcome are refused', async () => {
  const g = await AccountGroups.open(isDevice);
  const a1 = await deviceOf('carol');
  const s = await g.create('carol', a1);
  // A KeyPackage the relay made for "dave" with a key of its own: valid binding, not in dave's list.
  await deviceOf('dave');
  const relayKey = await ephemeralIdentity();
  const unlisted = await g.newKeyPackage('dave', relayKey);
  await fails(g.add(s, [unlisted.keyPackage]), 'GROUP_BAD_KEY_PACKAGE');
  // A credential naming dave's real identity key with a binding the relay signed: refused.
  const daveKey = [...(lists.get('dave') ?? [])][0]!;
  const impl = await suiteImpl();
  const sig = await impl.signature.keygen();
  const liar: IdentitySigner = { publicKey: Uint8Array.from(Buffer.from(daveKey, 'hex')), sign: (m) => relayKey.sign(m) };
  const forged = await generateKeyPackageWithKey({
    credential: await accountCredential('dave', liar, sig.publicKey),
    signatureKeyPair: sig,
    cipherSuite: impl,
  });
  const { encode, mlsMessageEncoder, wireformats, protocolVersions } = await import('ts-mls');
  const forgedBytes = encode(mlsMessageEncoder, {
    wireformat: wireformats.mls_key_package,
    version: protocolVersions.mls10,
    keyPackage: forged.publicPackage,
  });
  await fails(g.add(s, [forgedBytes]), 'GROUP_BAD_KEY_PACKAGE');
  await fails(g.add(s, [new Uint8Array(50)]), 'GROUP_BAD_KEY_PACKAGE');
  // A Welcome made for another device's KeyPackage does not open with ours.
  const e1 = await deviceOf('erin');
  const f1 = await deviceOf('frank');
  const forErin = await g.newKeyPackage('erin', e1);
  const frankPending = await g.newKeyPackage('frank', f1);
  const w = await g.add(s, [forErin.keyPackage]);
  await fails(g.join(w.welcome!, [frankPending.pending]), 'GROUP_BAD_WELCOME');
  // A joiner whose own view of the lists does not name a leaf of the tree refuses the Welcome.
  const strict = await AccountGroups.open((name, key) => name !== 'carol' && isDevice(name, key));
  await fails(strict.join(w.welcome!, [forErin.pending]), 'GROUP_BAD_WELCOME');
});

test('200 devices added in one commit join from one Welcome', async () => {
  const g = await AccountGroups.open(isDevice);
  const owner = await deviceOf('owner');
  let s: ConversationState = await g.create('owner', owner);
  const devices = await Promise.all(Array.from({ length: 200 }, (_, i) => deviceOf(`member-${i}`)));
  const kps = await Promise.all(devices.map((d, i) => g.newKeyPackage(`member-${i}`, d)));
  const r = await g.add(
    s,
    kps.map((k) => k.keyPackage),
  );
  s = r.state;
  const last = await g.join(r.welcome!, [kps[199]!.pending]);
  assert.equal((await g.members(last.state)).length, 201);
  const m = await g.encrypt(s, utf8.encode('welcome all'));
  const got = await g.process(last.state, m.message);
  assert.ok(got.kind === 'message' && got.sender.name === 'owner');
});
