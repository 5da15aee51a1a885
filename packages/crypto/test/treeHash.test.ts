// The ts-mls patch (patches/README.md) memoizes tree hashes by node object and skips copies in the
// parent-hash checks. These tests compare what the patched library computes, on live trees whose
// nodes it has seen before, with a from-scratch RFC 9420 §7.8 tree hash written here (ts-mls's own
// node encoders, our recursion, SHA-256) over a decoded deep copy that shares no object with them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mls from 'ts-mls';
import { sha256 } from '@noble/hashes/sha2.js';
import { RoomGroup, deriveRoomKeys, randomRoomSecret, type RoomState } from '../src/index.js';
import { RoomAuthenticationService } from '../src/credential.js';
import { ephemeralIdentity } from '../src/identity.js';
import { newKeyPackage } from '../src/mlsGroup.js';
import { sealGroupInfo } from '../src/roomGroupInfo.js';
import { suiteImpl } from '../src/suite.js';

type Tree = mls.ClientState['ratchetTree'];
type Encoder = (value: unknown) => unknown;
type Hash = { digest(data: Uint8Array): Promise<Uint8Array> };

// ts-mls internals its index does not export: the node encoders and the (patched) tree hash.
const inside = async (file: string) => import(new URL(`./${file}`, import.meta.resolve('ts-mls')).href);
const { leafNodeEncoder } = (await inside('leafNode.js')) as { leafNodeEncoder: Encoder };
const { parentNodeEncoder } = (await inside('parentNode.js')) as { parentNodeEncoder: Encoder };
const patched = (await inside('treeHash.js')) as {
  treeHashRoot(tree: Tree, h: Hash): Promise<Uint8Array>;
};
const encode = (e: Encoder, v: unknown): Uint8Array => mls.encode(e as never, v as never);

// --- the reference (RFC 9420 §7.8, §4.1 for the tree math) ---
const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
/** RFC 9420 §2.1.2 variable-size vector length (1, 2 or 4 bytes). */
const varint = (n: number) => (n < 64 ? [n] : n < 16384 ? [0x40 | (n >> 8), n & 255] : [0x80 | ((n >>> 24) & 0x3f), ...u32(n).slice(1)]);
const opaque = (b: Uint8Array) => [...varint(b.byteLength), ...b];
const level = (x: number) => {
  let k = 0;
  while ((x >> k) & 1) k++;
  return k;
};

function referenceHash(tree: Tree, i: number): Uint8Array {
  const node = tree[i];
  if (i % 2 === 0) {
    if (node !== undefined && node.nodeType !== mls.nodeTypes.leaf) throw new Error('parent at a leaf position');
    const leaf = node === undefined ? [0] : [1, ...encode(leafNodeEncoder, node.leaf)];
    return sha256(Uint8Array.from([1, ...u32(i / 2), ...leaf]));
  }
  if (node !== undefined && node.nodeType !== mls.nodeTypes.parent) throw new Error('leaf at a parent position');
  const k = level(i);
  const l = referenceHash(tree, i ^ (1 << (k - 1)));
  const r = referenceHash(tree, i ^ (3 << (k - 1)));
  const parent = node === undefined ? [0] : [1, ...encode(parentNodeEncoder, node.parent)];
  return sha256(Uint8Array.from([2, ...parent, ...opaque(l), ...opaque(r)]));
}
const referenceRoot = (tree: Tree) => referenceHash(tree, 2 ** Math.floor(Math.log2(tree.length)) - 1);
const deepCopy = (state: mls.ClientState): mls.ClientState =>
  mls.decode(mls.clientStateDecoder, mls.encode(mls.clientStateEncoder, state)) as mls.ClientState;

/** Every member agrees, and ts-mls's hash of the live tree, of a deep copy and the reference match. */
async function checkTrees(states: RoomState[], what: string): Promise<void> {
  const h = (await suiteImpl()).hash;
  const expected = states[0]!.mls.groupContext.treeHash;
  for (const [i, s] of states.entries()) {
    const copy = deepCopy(s.mls).ratchetTree;
    assert.deepEqual(s.mls.groupContext.treeHash, expected, `${what}: member ${i} has the group's tree hash`);
    assert.deepEqual(referenceRoot(copy), expected, `${what}: member ${i}: the reference over a deep copy`);
    assert.deepEqual(await patched.treeHashRoot(s.mls.ratchetTree, h), expected, `${what}: member ${i}: the live tree`);
    assert.deepEqual(await patched.treeHashRoot(copy, h), expected, `${what}: member ${i}: the deep copy`);
  }
}

test('tree hashes stay right through joins, removals and self-updates (live trees against a from-scratch reference)', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const first = await RoomGroup.create(keys);
  const created = await first.createGroup({ nick: 'm0', slot: 0 });
  let members: { g: RoomGroup; s: RoomState }[] = [{ g: first, s: created.state }];
  let groupInfo = created.groupInfo;
  const check = (what: string) =>
    checkTrees(
      members.map((m) => m.s),
      what,
    );
  await check('created');

  /** Member `by` commits the removal of `leaves` (none: a self-update); every other member processes it. */
  const commit = async (by: number, leaves: number[], what: string) => {
    const committer = members[by]!;
    const out = await committer.g.remove(committer.s, leaves);
    members = members.filter((m) => !leaves.includes(m.g.selfLeaf(m.s)));
    for (const m of members) m.s = m === committer ? out.state : (await m.g.process(m.s, out.message, 0)).state;
    groupInfo = out.groupInfo;
    await check(what);
  };
  const join = async (slot: number) => {
    const g = await RoomGroup.create(keys);
    const out = await g.joinExternal(await g.readGroupInfo(groupInfo), { nick: `m${slot}`, slot });
    for (const m of members) m.s = (await m.g.process(m.s, out.message, slot)).state;
    members.push({ g, s: out.state });
    groupInfo = out.groupInfo;
    await check(`join ${slot}`);
  };

  for (let slot = 1; slot <= 6; slot++) await join(slot);
  await commit(0, [2, 5], 'two removed'); // blank leaves and blank parents
  await commit(2, [], 'self-update');
  await join(7); // fills a blank leaf
  await commit(members.length - 1, [], 'self-update by the newest');
  await commit(1, [6], 'the rightmost member removed (the tree shrinks)');
  await join(8);
  await join(9);
});

test('unmerged leaves: a tree with them verifies (parent hashes with leaves removed), and is hashed right', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const impl = await suiteImpl();
  const ctx = { cipherSuite: impl, authService: new RoomAuthenticationService(keys.credentialKey, keys.locator) };
  const a = await RoomGroup.create(keys);
  let A = (await a.createGroup({ nick: 'a', slot: 0 })).state;
  let info = await sealGroupInfo(impl, keys, A.mls);
  for (let slot = 1; slot <= 2; slot++) {
    const g = await RoomGroup.create(keys);
    const out = await g.joinExternal(await g.readGroupInfo(info), { nick: `j${slot}`, slot });
    A = (await a.process(A, out.message, slot)).state;
    info = out.groupInfo;
  }
  // Leaves 0-2 taken, leaf 3 blank and the root set. An Add-only commit has no UpdatePath: the new
  // leaf (3) is unmerged at its non-blank ancestor (the root); the next one (4) extends the tree.
  const kps = await Promise.all(
    [3, 4].map(async (slot) => newKeyPackage(impl, keys, await ephemeralIdentity(), { nick: `add${slot}`, slot })),
  );
  const adds = kps.map((kp) => ({ proposalType: mls.defaultProposalTypes.add, add: { keyPackage: kp.publicPackage } }));
  A = { mls: (await mls.createCommit({ context: ctx, state: A.mls, extraProposals: adds })).newState };
  const unmerged = A.mls.ratchetTree.flatMap((n) => (n?.nodeType === mls.nodeTypes.parent ? n.parent.unmergedLeaves : []));
  assert.ok(unmerged.length > 0, 'the tree has unmerged leaves');
  await checkTrees([A], 'after an Add-only commit');

  // A newcomer validates that tree (every parent hash, with the unmerged leaves taken out) and joins.
  const n = await RoomGroup.create(keys);
  const joined = await n.joinExternal(await n.readGroupInfo(await sealGroupInfo(impl, keys, A.mls)), { nick: 'newcomer', slot: 9 });
  A = (await a.process(A, joined.message, 9)).state;
  await checkTrees([A, joined.state], 'a newcomer joined a tree with unmerged leaves');

  // A tree with one parent hash altered is refused, memo or not.
  const tree = A.mls.ratchetTree.slice();
  const at = tree.findIndex((node) => node?.nodeType === mls.nodeTypes.parent && node.parent.parentHash.byteLength > 0);
  const node = tree[at];
  assert.ok(node !== undefined && node.nodeType === mls.nodeTypes.parent);
  const parentHash = Uint8Array.from(node.parent.parentHash);
  parentHash[0] = (parentHash[0] as number) ^ 1;
  tree[at] = { ...node, parent: { ...node.parent, parentHash } };
  const { verifyParentHashes } = (await inside('parentHash.js')) as { verifyParentHashes(t: Tree, h: Hash): Promise<boolean> };
  assert.equal(await verifyParentHashes(A.mls.ratchetTree, impl.hash), true);
  assert.equal(await verifyParentHashes(tree, impl.hash), false, 'an altered parent hash breaks its chain');
});

test('a changed or moved node is hashed anew: the memo never answers for another node', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const h = (await suiteImpl()).hash;
  const a = await RoomGroup.create(keys);
  const created = await a.createGroup({ nick: 'a', slot: 0 });
  let A = created.state;
  let info = created.groupInfo;
  for (let slot = 1; slot <= 4; slot++) {
    const g = await RoomGroup.create(keys);
    const out = await g.joinExternal(await g.readGroupInfo(info), { nick: `j${slot}`, slot });
    A = (await a.process(A, out.message, slot)).state;
    info = out.groupInfo;
  }
  const tree = A.mls.ratchetTree;
  const before = await patched.treeHashRoot(tree, h);
  assert.deepEqual(before, referenceRoot(tree));
  // A leaf replaced by a changed copy: a new object, a new hash.
  const changed = tree.slice();
  const leaf = changed[2];
  assert.ok(leaf !== undefined && leaf.nodeType === mls.nodeTypes.leaf);
  changed[2] = { ...leaf, leaf: { ...leaf.leaf, hpkePublicKey: globalThis.crypto.getRandomValues(new Uint8Array(32)) } };
  assert.deepEqual(await patched.treeHashRoot(changed, h), referenceRoot(changed));
  assert.notDeepEqual(await patched.treeHashRoot(changed, h), before);
  // The same leaf object at another index: its hash covers its index.
  const moved = tree.slice();
  moved[2] = tree[4];
  moved[4] = tree[2];
  assert.deepEqual(await patched.treeHashRoot(moved, h), referenceRoot(moved));
  // A parent blanked: the blank parent is hashed from its children, not taken from the old node.
  const blanked = tree.slice();
  const p = blanked.findIndex((n, i) => i % 2 === 1 && n !== undefined);
  blanked[p] = undefined;
  assert.deepEqual(await patched.treeHashRoot(blanked, h), referenceRoot(blanked));
  // And the original is still answered right after all that.
  assert.deepEqual(await patched.treeHashRoot(tree, h), before);
});

test('tree validation (leaves checked concurrently by the patch) refuses a bad leaf anywhere, and an AuthenticationService that throws', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const impl = await suiteImpl();
  const a = await RoomGroup.create(keys);
  const created = await a.createGroup({ nick: 'a', slot: 0 });
  let A = created.state;
  let info = created.groupInfo;
  for (let slot = 1; slot <= 5; slot++) {
    const g = await RoomGroup.create(keys);
    const out = await g.joinExternal(await g.readGroupInfo(info), { nick: `j${slot}`, slot });
    A = (await a.process(A, out.message, slot)).state;
    info = out.groupInfo;
  }
  const { validateRatchetTree } = (await inside('clientState.js')) as {
    validateRatchetTree(...args: unknown[]): Promise<Error | undefined>;
  };
  const { defaultClientConfig } = (await inside('clientConfig.js')) as { defaultClientConfig: { lifetimeConfig: unknown } };
  const auth = new RoomAuthenticationService(keys.credentialKey, keys.locator);
  const validate = async (tree: Tree, as: mls.AuthenticationService = auth) =>
    validateRatchetTree(
      tree,
      A.mls.groupContext,
      defaultClientConfig.lifetimeConfig,
      as,
      await patched.treeHashRoot(tree, impl.hash), // the tree's own hash: only the leaf checks can fail
      impl,
    );
  const tree = deepCopy(A.mls).ratchetTree;
  assert.equal(await validate(tree), undefined, 'the real tree is valid');
  for (const leaf of [0, 3, 5]) {
    const bad = tree.slice();
    const node = bad[2 * leaf];
    assert.ok(node !== undefined && node.nodeType === mls.nodeTypes.leaf);
    const signature = Uint8Array.from(node.leaf.signature);
    signature[10] = (signature[10] as number) ^ 1;
    bad[2 * leaf] = { ...node, leaf: { ...node.leaf, signature } };
    assert.ok((await validate(bad)) instanceof Error, `a bad signature at leaf ${leaf} is refused`);
  }
  const other = await deriveRoomKeys(randomRoomSecret());
  const foreign = new RoomAuthenticationService(other.credentialKey, other.locator);
  assert.ok((await validate(tree, foreign)) instanceof Error, 'credentials of another room are refused');
  let calls = 0;
  const throwing: mls.AuthenticationService = {
    validateCredential: async (c, k) => {
      if (++calls === 4) throw new Error('AS failure');
      return auth.validateCredential(c, k);
    },
  };
  await assert.rejects(validate(tree, throwing), /AS failure/, 'what the AuthenticationService throws is thrown');
});
