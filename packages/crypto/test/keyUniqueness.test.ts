// The ts-mls patch (patches/README.md) checks a commit's new keys against the tree in one pass
// instead of re-checking the uniqueness of every key already in it. These tests hand the patched
// checks a real room's tree and leaves that reuse its keys, and real joins and self-updates that
// must still pass (RFC 9420 §7.3: encryption and signature keys unique in the tree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as mls from 'ts-mls';
import { RoomGroup, deriveRoomKeys, randomRoomSecret, type RoomState } from '../src/index.js';

type Tree = mls.ClientState['ratchetTree'];
type LeafNode = mls.LeafNode;
type ParentNode = { hpkePublicKey: Uint8Array };

const inside = async (file: string) => import(new URL(`./${file}`, import.meta.resolve('ts-mls')).href);
const { validateLeafNodeCredentialAndKeyUniqueness: unique } = (await inside('clientState.js')) as {
  validateLeafNodeCredentialAndKeyUniqueness(tree: Tree, leaf: LeafNode, existingLeafIndex?: number): Promise<Error | undefined>;
};
const { applyUpdatePath } = (await inside('updatePath.js')) as {
  applyUpdatePath(tree: Tree, sender: number, path: unknown, h: unknown, isExternal?: boolean): Promise<unknown>;
};

const fresh = (n = 32) => crypto.getRandomValues(new Uint8Array(n));
const leafAt = (tree: Tree, leaf: number): LeafNode => {
  const node = tree[2 * leaf];
  assert.ok(node?.nodeType === 1, `leaf ${leaf} is a member`);
  return (node as { leaf: LeafNode }).leaf;
};
const parents = (tree: Tree): ParentNode[] =>
  tree.filter((n) => n?.nodeType === 2).map((n) => (n as unknown as { parent: ParentNode }).parent);

/** A room of four: the creator, then three external joins, everyone processing each. */
async function room(): Promise<{ g: RoomGroup; s: RoomState }[]> {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const first = await RoomGroup.create(keys);
  const created = await first.createGroup({ nick: 'm0', slot: 0 });
  const members = [{ g: first, s: created.state }];
  let groupInfo = created.groupInfo;
  for (let slot = 1; slot <= 3; slot++) {
    const g = await RoomGroup.create(keys);
    const out = await g.joinExternal(await g.readGroupInfo(groupInfo), { nick: `m${slot}`, slot });
    for (const m of members) m.s = (await m.g.process(m.s, out.message, slot)).state;
    members.push({ g, s: out.state });
    groupInfo = out.groupInfo;
  }
  return members;
}

test("a new leaf's keys are checked against every key of the tree; its own signature key may stay", async () => {
  const members = await room();
  const tree = members[0]!.s.mls.ratchetTree;
  assert.ok(parents(tree).length > 0, 'the tree has parent nodes to compare with');
  const other = leafAt(tree, 2);
  const own = leafAt(tree, 1);
  const newLeaf = (change: Partial<LeafNode>): LeafNode =>
    ({ ...own, hpkePublicKey: fresh(), signaturePublicKey: fresh(), ...change }) as LeafNode;

  assert.equal(await unique(tree, newLeaf({}), 1), undefined, 'fresh keys pass');
  assert.equal(
    await unique(tree, newLeaf({ signaturePublicKey: own.signaturePublicKey }), 1),
    undefined,
    'a leaf keeps its own signature key',
  );
  const refused = async (leaf: LeafNode, at: number | undefined, what: string, message: RegExp) => {
    const err = await unique(tree, leaf, at);
    assert.ok(err instanceof Error, `${what}: refused`);
    assert.match(err.message, message, what);
  };
  await refused(newLeaf({ hpkePublicKey: other.hpkePublicKey }), 1, "another member's encryption key", /hpke keys not unique/);
  await refused(newLeaf({ hpkePublicKey: own.hpkePublicKey }), 1, 'its own current encryption key', /hpke keys not unique/);
  await refused(newLeaf({ hpkePublicKey: parents(tree)[0]!.hpkePublicKey }), 1, "a parent node's key", /hpke keys not unique/);
  await refused(
    newLeaf({ signaturePublicKey: other.signaturePublicKey }),
    1,
    "another member's signature key",
    /signature keys not unique/,
  );
  await refused(
    newLeaf({ signaturePublicKey: own.signaturePublicKey }),
    undefined,
    'a new member with a member’s signature key',
    /signature keys not unique/,
  );
  // Keys that share only their first byte with one in the tree are not taken for it.
  const near = fresh();
  near[0] = other.hpkePublicKey[0]!;
  assert.equal(await unique(tree, newLeaf({ hpkePublicKey: near }), 1), undefined, 'a first byte in common is not a match');
  const foreign = newLeaf({ credential: { ...own.credential, credentialType: 0x7777 } as LeafNode['credential'] });
  await refused(foreign, 1, 'a credential type no member supports', /credential that is not supported/);
});

test("an UpdatePath key already in the tree is refused, a leaf's included; real self-updates and joins still pass", async () => {
  const members = await room();
  const tree = members[0]!.s.mls.ratchetTree;
  const leaf = { ...leafAt(tree, 1), hpkePublicKey: fresh() };
  const path = (keys: Uint8Array[]) => ({
    leafNode: leaf,
    nodes: keys.map((hpkePublicKey) => ({ hpkePublicKey, encryptedPathSecret: [] })),
  });
  const h = { digest: async () => new Uint8Array(32) };
  for (const [key, what] of [
    [leafAt(tree, 3).hpkePublicKey, "a leaf's"],
    [parents(tree)[0]!.hpkePublicKey, "a parent's"],
  ] as const) {
    await assert.rejects(applyUpdatePath(tree.slice(), 1, path([fresh(), key]), h), /Public keys in the UpdatePath may not appear/, what);
  }

  // Real commits keep passing the checks: self-updates by each member, a removal, and a further join.
  let live = members;
  for (const [by, removed] of [
    [1, []],
    [3, []],
    [0, [2]],
    [2, []],
  ] as const) {
    const committer = live[by]!;
    const out = await committer.g.remove(committer.s, [...removed]);
    live = live.filter((m) => !(removed as readonly number[]).includes(m.g.selfLeaf(m.s)));
    for (const m of live) m.s = m === committer ? out.state : (await m.g.process(m.s, out.message, 0)).state;
  }
  const epochs = new Set(live.map((m) => m.g.epochOf(m.s)));
  assert.equal(epochs.size, 1, 'every member is in the same epoch');
});
