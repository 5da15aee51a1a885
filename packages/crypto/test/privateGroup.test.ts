import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as mls from 'ts-mls';
import {
  CryptoError,
  type CryptoErrorCode,
  MAX_KEY_PACKAGE_BYTES,
  PrivateGroup,
  type PrivateGroupState,
  RoomGroup,
  type RoomKeys,
  Suites,
  deriveRoomKeys,
  discardPending,
  privateMessageGroupId,
  randomRoomSecret,
  wipe,
} from '../src/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

const code = (c: CryptoErrorCode) => (e: unknown) => e instanceof CryptoError && e.code === c;

async function member(keys: RoomKeys, suite: (typeof Suites)[keyof typeof Suites] = Suites.default) {
  const room = await RoomGroup.create(keys, suite);
  return { room, chats: await PrivateGroup.forRoom(room), id: room.identity.publicKey };
}

/** alice, bob and carol in one room; mallory holds another room's secret. */
async function setup() {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const [alice, bob, carol, mallory] = await Promise.all([
    member(keys),
    member(keys),
    member(keys),
    member(await deriveRoomKeys(randomRoomSecret())),
  ]);
  return { keys, alice, bob, carol, mallory };
}

/** bob offers, alice creates, bob accepts. */
async function chat(alice: Awaited<ReturnType<typeof member>>, bob: Awaited<ReturnType<typeof member>>) {
  const offer = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  const created = await alice.chats.create({ nick: 'alice', slot: 1 }, offer.keyPackage, bob.id);
  const B = await bob.chats.accept(offer.pending, created.welcome, alice.id);
  return { A: created.state, B, created, offer };
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

test('bob offers a key package, alice opens a chat from it, bob accepts; messages flow both ways', async () => {
  const { alice, bob } = await setup();
  const c = await chat(alice, bob);
  const { created, offer } = c;
  let { A, B } = c;
  assert.equal(mls.decode(mls.mlsMessageDecoder, offer.keyPackage)?.wireformat, mls.wireformats.mls_key_package);
  assert.equal(mls.decode(mls.mlsMessageDecoder, created.welcome)?.wireformat, mls.wireformats.mls_welcome);
  assert.equal(created.groupId.byteLength, 16);
  assert.deepEqual(alice.chats.groupIdOf(A), bob.chats.groupIdOf(B));
  assert.equal(alice.chats.epochOf(A), 1);
  assert.equal(bob.chats.epochOf(B), 1);
  assert.deepEqual([alice.chats.peerOf(A).nick, alice.chats.peerOf(A).slot, alice.chats.peerOf(A).identityKey], ['bob', 2, bob.id]);
  assert.deepEqual([bob.chats.peerOf(B).nick, bob.chats.peerOf(B).slot, bob.chats.peerOf(B).identityKey], ['alice', 1, alice.id]);

  for (const [n, text] of ['hi bob', 'again'].entries()) {
    const m = await alice.chats.encrypt(A, enc.encode(text));
    A = m.state;
    const r = await bob.chats.decrypt(B, m.message);
    assert.equal(r.kind, 'message');
    if (r.kind !== 'message') return;
    assert.equal(dec.decode(r.plaintext), text);
    assert.equal(r.generation, n);
    B = r.state;
  }
  const back = await bob.chats.encrypt(B, enc.encode('hi alice'));
  B = back.state;
  const r = await alice.chats.decrypt(A, back.message);
  assert.equal(r.kind === 'message' && dec.decode(r.plaintext), 'hi alice');
});

test('carol, another member of the room, can neither accept the welcome nor read the chat', async () => {
  const { alice, bob, carol } = await setup();
  const { A, created } = await chat(alice, bob);
  const m = await alice.chats.encrypt(A, enc.encode('for bob only'));

  // She holds the room secret but not the private key of bob's key package.
  const hers = await carol.chats.offerKeyPackage({ nick: 'carol', slot: 3 });
  await assert.rejects(carol.chats.accept(hers.pending, created.welcome, alice.id), code('PRIVATE_BAD_WELCOME'));
  // Her own chat with alice is another group with other keys.
  const { B: C } = await chat(alice, carol);
  await assert.rejects(carol.chats.decrypt(C, m.message), code('BAD_MESSAGE'));
  // Even with the message relabelled as her group's, it does not decrypt.
  const msg = mls.decode(mls.mlsMessageDecoder, m.message);
  assert.ok(msg?.wireformat === mls.wireformats.mls_private_message);
  const relabelled = mls.encode(mls.mlsMessageEncoder, {
    ...msg,
    privateMessage: { ...msg.privateMessage, groupId: C.mls.groupContext.groupId, epoch: C.mls.groupContext.epoch },
  });
  await assert.rejects(carol.chats.decrypt(C, relabelled), code('BAD_MESSAGE'));
});

test('a key package or welcome from another member than the one expected is refused (PRIVATE_WRONG_PEER)', async () => {
  const { alice, bob, carol } = await setup();
  // The relay hands alice carol's key package when she asked for bob's.
  const carols = await carol.chats.offerKeyPackage({ nick: 'bob', slot: 2 }); // she even claims bob's nickname
  await assert.rejects(alice.chats.create({ nick: 'alice', slot: 1 }, carols.keyPackage, bob.id), code('PRIVATE_WRONG_PEER'));

  // The relay hands bob's key package to carol, and bob carol's welcome when he waits for alice's.
  const offer = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  const forged = await carol.chats.create({ nick: 'alice', slot: 1 }, offer.keyPackage, bob.id);
  await assert.rejects(bob.chats.accept(offer.pending, forged.welcome, alice.id), code('PRIVATE_WRONG_PEER'));
  // bob's pending key package survives the refusal: alice's real welcome still works.
  const real = await alice.chats.create({ nick: 'alice', slot: 1 }, offer.keyPackage, bob.id);
  const B = await bob.chats.accept(offer.pending, real.welcome, alice.id);
  assert.deepEqual(bob.chats.peerOf(B).identityKey, alice.id);

  // No chat with oneself.
  const own = await alice.chats.offerKeyPackage({ nick: 'alice', slot: 1 });
  await assert.rejects(alice.chats.create({ nick: 'alice', slot: 1 }, own.keyPackage, alice.id), code('PRIVATE_WRONG_PEER'));
});

test('someone without the room secret can make no key package or welcome a member accepts', async () => {
  const { alice, bob, mallory } = await setup();
  // A key package with our credential format, but sealed under another room's key.
  const hers = await mallory.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  await assert.rejects(alice.chats.create({ nick: 'alice', slot: 1 }, hers.keyPackage, mallory.id), code('PRIVATE_BAD_KEY_PACKAGE'));
  // Nor can she open a member's key package to start a chat with it.
  const offer = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  await assert.rejects(mallory.chats.create({ nick: 'mallory', slot: 9 }, offer.keyPackage, bob.id), code('PRIVATE_BAD_KEY_PACKAGE'));

  // Nor join a chat between members, nor read it.
  const { created, A } = await chat(alice, bob);
  await assert.rejects(mallory.chats.accept(hers.pending, created.welcome, alice.id), code('PRIVATE_BAD_WELCOME'));
  const { A: M } = await chat(mallory, await member(mallory.room.keys));
  await assert.rejects(mallory.chats.decrypt(M, (await alice.chats.encrypt(A, enc.encode('secret'))).message), code('BAD_MESSAGE'));

  // Worst case: the relay builds a group around bob's key package with plain ts-mls and a
  // credential of its own, skipping every check on its side. bob's AuthenticationService refuses it.
  const impl = await mls.getCiphersuiteImpl(Suites.default);
  const ctx = { cipherSuite: impl, authService: mls.unsafeTestingAuthenticationService };
  const relay = await mls.generateKeyPackage({
    credential: { credentialType: mls.defaultCredentialTypes.basic, identity: enc.encode('relay') },
    cipherSuite: impl,
  });
  const g = await mls.createGroup({
    context: ctx,
    groupId: crypto.getRandomValues(new Uint8Array(16)),
    keyPackage: relay.publicPackage,
    privateKeyPackage: relay.privatePackage,
  });
  const bobsKp = mls.decode(mls.mlsMessageDecoder, offer.keyPackage);
  assert.ok(bobsKp?.wireformat === mls.wireformats.mls_key_package);
  const c = await mls.createCommit({
    context: ctx,
    state: g,
    extraProposals: [{ proposalType: mls.defaultProposalTypes.add, add: { keyPackage: bobsKp.keyPackage } }],
    ratchetTreeExtension: true,
  });
  await assert.rejects(
    bob.chats.accept(offer.pending, mls.encode(mls.mlsMessageEncoder, c.welcome!), alice.id),
    code('PRIVATE_BAD_WELCOME'),
  );

  // A key package with a plain BasicCredential is refused before anything else.
  const plain = mls.encode(mls.mlsMessageEncoder, {
    wireformat: mls.wireformats.mls_key_package,
    version: mls.protocolVersions.mls10,
    keyPackage: relay.publicPackage,
  });
  await assert.rejects(alice.chats.create({ nick: 'alice', slot: 1 }, plain, bob.id), code('PRIVATE_BAD_KEY_PACKAGE'));
});

test('a key package of another suite, tampered or oversized, or not a key package at all, is refused', async () => {
  const { keys, alice, bob } = await setup();
  const pq = await member(keys, Suites.postQuantum);
  const pqOffer = await pq.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  await assert.rejects(alice.chats.create({ nick: 'alice', slot: 1 }, pqOffer.keyPackage, pq.id), code('PRIVATE_BAD_KEY_PACKAGE'));

  const offer = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  const create = (kp: Uint8Array) => alice.chats.create({ nick: 'alice', slot: 1 }, kp, bob.id);
  // An altered byte anywhere: in the keys, the credential, the signature.
  for (const at of [20, 60, Math.floor(offer.keyPackage.length / 2), offer.keyPackage.length - 10]) {
    const bad = offer.keyPackage.slice();
    bad[at]! ^= 0x01;
    await assert.rejects(create(bad), code('PRIVATE_BAD_KEY_PACKAGE'), `byte ${at}`);
  }
  await assert.rejects(create(Uint8Array.of(...offer.keyPackage, 0)), code('PRIVATE_BAD_KEY_PACKAGE')); // trailing byte
  await assert.rejects(create(offer.keyPackage.subarray(0, offer.keyPackage.length - 1)), code('PRIVATE_BAD_KEY_PACKAGE'));
  await assert.rejects(create(new Uint8Array(MAX_KEY_PACKAGE_BYTES + 1)), code('PRIVATE_BAD_KEY_PACKAGE'));
  const { created } = await chat(alice, bob);
  await assert.rejects(create(created.welcome), code('PRIVATE_BAD_KEY_PACKAGE')); // a welcome is no key package
  // The original still works.
  await create(offer.keyPackage);
});

test('a tampered, replayed or misdirected welcome is refused (PRIVATE_BAD_WELCOME)', async () => {
  const { alice, bob } = await setup();
  const offer = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  const { welcome } = await alice.chats.create({ nick: 'alice', slot: 1 }, offer.keyPackage, bob.id);
  for (const at of [4, 12, 40, 100, Math.floor(welcome.length / 2), welcome.length - 1]) {
    const bad = welcome.slice();
    bad[at]! ^= 0x01;
    await assert.rejects(bob.chats.accept(offer.pending, bad, alice.id), code('PRIVATE_BAD_WELCOME'), `byte ${at}`);
  }
  await assert.rejects(bob.chats.accept(offer.pending, Uint8Array.of(...welcome, 0), alice.id), code('PRIVATE_BAD_WELCOME'));
  await assert.rejects(bob.chats.accept(offer.pending, offer.keyPackage, alice.id), code('PRIVATE_BAD_WELCOME'));
  // Another key package of bob's: the welcome is not for it.
  const other = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  await assert.rejects(bob.chats.accept(other.pending, welcome, alice.id), code('PRIVATE_BAD_WELCOME'));
  discardPending(other.pending);
  assert.ok(other.pending.privateKeys.initPrivateKey.every((b) => b === 0));

  await bob.chats.accept(offer.pending, welcome, alice.id);
  assert.ok(offer.pending.privateKeys.initPrivateKey.every((b) => b === 0));
  // Single use: the init key is gone, so the same welcome cannot be opened twice.
  await assert.rejects(bob.chats.accept(offer.pending, welcome, alice.id), code('PRIVATE_BAD_WELCOME'));
});

test('a tampered, replayed, echoed or public message is refused (BAD_MESSAGE)', async () => {
  const { alice, bob } = await setup();
  let { A, B } = await chat(alice, bob);
  const m1 = await alice.chats.encrypt(A, enc.encode('one'));
  A = m1.state;
  for (const at of [m1.message.length - 3, m1.message.length - 40, 30]) {
    const bad = m1.message.slice();
    bad[at]! ^= 0x01;
    await assert.rejects(bob.chats.decrypt(B, bad), code('BAD_MESSAGE'), `byte ${at}`);
  }
  await assert.rejects(bob.chats.decrypt(B, Uint8Array.of(...m1.message, 0)), code('BAD_MESSAGE'));
  const ok = await bob.chats.decrypt(B, m1.message);
  B = ok.state;
  await assert.rejects(bob.chats.decrypt(B, m1.message), code('BAD_MESSAGE')); // replay
  await assert.rejects(alice.chats.decrypt(A, m1.message), code('BAD_MESSAGE')); // echoed to its sender

  // Handshake in the clear: refused before it is looked at.
  const impl = await mls.getCiphersuiteImpl(Suites.default);
  const ctx = { cipherSuite: impl, authService: mls.unsafeTestingAuthenticationService };
  const pub = await mls.createCommit({ context: ctx, state: A.mls, wireAsPublicMessage: true });
  await assert.rejects(bob.chats.decrypt(B, mls.encode(mls.mlsMessageEncoder, pub.commit)), code('BAD_MESSAGE'));
});

test('self-updates move both to a new epoch with a new leaf key; any other handshake is FORBIDDEN_PROPOSAL', async () => {
  const { alice, bob, carol } = await setup();
  let { A, B } = await chat(alice, bob);
  const leafKey = (s: PrivateGroupState) => {
    const node = s.mls.ratchetTree[s.mls.privatePath.leafIndex * 2];
    return node?.nodeType === mls.nodeTypes.leaf ? node.leaf.hpkePublicKey : undefined;
  };
  for (const [from, to] of [
    ['bob', 'alice'],
    ['alice', 'bob'],
  ] as const) {
    const [me, peer] = from === 'bob' ? [bob, alice] : [alice, bob];
    const st = from === 'bob' ? B : A;
    const up = await me.chats.update(st);
    assert.notDeepEqual(leafKey(up.state), leafKey(st));
    const r = await peer.chats.decrypt(to === 'alice' ? A : B, up.message);
    assert.equal(r.kind, 'update');
    wipe(up.consumed);
    if (from === 'bob') [B, A] = [up.state, r.state];
    else [A, B] = [up.state, r.state];
    assert.deepEqual(peer.chats.peerOf(r.state).identityKey, me.id);
  }
  assert.equal(alice.chats.epochOf(A), 3);
  assert.equal(bob.chats.epochOf(B), 3);
  const m = await bob.chats.encrypt(B, enc.encode('after updates'));
  B = m.state;
  const r = await alice.chats.decrypt(A, m.message);
  assert.equal(r.kind === 'message' && dec.decode(r.plaintext), 'after updates');
  A = r.state; // the old state's consumed secrets are wiped: it must not be used again

  // alice's client, built on plain ts-mls, tries to add carol, remove bob, or send a proposal.
  const impl = await mls.getCiphersuiteImpl(Suites.default);
  const ctx = { cipherSuite: impl, authService: mls.unsafeTestingAuthenticationService };
  const carols = mls.decode(mls.mlsMessageDecoder, (await carol.chats.offerKeyPackage({ nick: 'carol', slot: 3 })).keyPackage);
  assert.ok(carols?.wireformat === mls.wireformats.mls_key_package);
  const add = await mls.createCommit({
    context: ctx,
    state: A.mls,
    extraProposals: [{ proposalType: mls.defaultProposalTypes.add, add: { keyPackage: carols.keyPackage } }],
  });
  await assert.rejects(bob.chats.decrypt(B, mls.encode(mls.mlsMessageEncoder, add.commit)), code('FORBIDDEN_PROPOSAL'));
  const rm = await mls.createCommit({
    context: ctx,
    state: A.mls,
    extraProposals: [{ proposalType: mls.defaultProposalTypes.remove, remove: { removed: B.mls.privatePath.leafIndex } }],
  });
  await assert.rejects(bob.chats.decrypt(B, mls.encode(mls.mlsMessageEncoder, rm.commit)), code('FORBIDDEN_PROPOSAL'));
  const prop = await mls.createProposal({
    context: ctx,
    state: A.mls,
    proposal: { proposalType: mls.defaultProposalTypes.remove, remove: { removed: B.mls.privatePath.leafIndex } },
  });
  await assert.rejects(bob.chats.decrypt(B, mls.encode(mls.mlsMessageEncoder, prop.message)), code('FORBIDDEN_PROPOSAL'));
  // bob's state is untouched by the refusals.
  const after = await alice.chats.encrypt(A, enc.encode('still here'));
  const r2 = await bob.chats.decrypt(B, after.message);
  assert.equal(r2.kind === 'message' && dec.decode(r2.plaintext), 'still here');
});

test('neither nicknames nor identity keys appear in the clear in key packages, welcomes or messages', async () => {
  const { alice, bob } = await setup();
  const aliceNick = 'alice-canary-7Q';
  const bobNick = 'bob-canary-X3';
  const offer = await bob.chats.offerKeyPackage({ nick: bobNick, slot: 2 });
  const created = await alice.chats.create({ nick: aliceNick, slot: 1 }, offer.keyPackage, bob.id);
  const B = await bob.chats.accept(offer.pending, created.welcome, alice.id);
  assert.equal(bob.chats.peerOf(B).nick, aliceNick);
  const m = await alice.chats.encrypt(created.state, enc.encode('text'));
  const up = await bob.chats.update(B);
  const canaries = [enc.encode(aliceNick), enc.encode(bobNick), alice.id, bob.id, alice.id.subarray(0, 8), bob.id.subarray(8, 16)];
  for (const [what, bytes] of Object.entries({
    keyPackage: offer.keyPackage,
    welcome: created.welcome,
    message: m.message,
    update: up.message,
  })) {
    for (const c of canaries) assert.equal(contains(bytes, c), false, `${what} leaks a canary`);
  }
});

test('a nickname that is not allowed is refused before anything is made', async () => {
  const { alice, bob } = await setup();
  await assert.rejects(bob.chats.offerKeyPackage({ nick: ' bob', slot: 2 }), code('BAD_NICK'));
  const offer = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  await assert.rejects(alice.chats.create({ nick: 'a\u0007', slot: 1 }, offer.keyPackage, bob.id), code('BAD_NICK'));
});

test('a welcome into a group of three, or into an older group, is refused even from the expected peer', async () => {
  const { alice, bob, carol } = await setup();
  // alice's client, on plain ts-mls, first adds carol, then bob, so that bob's welcome names only him.
  const impl = await mls.getCiphersuiteImpl(Suites.default);
  const ctx = { cipherSuite: impl, authService: mls.unsafeTestingAuthenticationService };
  const kpOf = (bytes: Uint8Array) => {
    const m = mls.decode(mls.mlsMessageDecoder, bytes);
    assert.ok(m?.wireformat === mls.wireformats.mls_key_package);
    return m.keyPackage;
  };
  const own = (await alice.chats.offerKeyPackage({ nick: 'alice', slot: 1 })).pending;
  let g = await mls.createGroup({
    context: ctx,
    groupId: crypto.getRandomValues(new Uint8Array(16)),
    keyPackage: own.keyPackage,
    privateKeyPackage: own.privateKeys,
  });
  const carols = await carol.chats.offerKeyPackage({ nick: 'carol', slot: 3 });
  g = (
    await mls.createCommit({
      context: ctx,
      state: g,
      extraProposals: [{ proposalType: mls.defaultProposalTypes.add, add: { keyPackage: kpOf(carols.keyPackage) } }],
    })
  ).newState;
  const offer = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  const c = await mls.createCommit({
    context: ctx,
    state: g,
    extraProposals: [{ proposalType: mls.defaultProposalTypes.add, add: { keyPackage: kpOf(offer.keyPackage) } }],
    ratchetTreeExtension: true,
  });
  assert.equal(c.welcome?.welcome.secrets.length, 1);
  await assert.rejects(
    bob.chats.accept(offer.pending, mls.encode(mls.mlsMessageEncoder, c.welcome!), alice.id),
    code('PRIVATE_BAD_WELCOME'),
  );

  // A welcome naming bob and carol at once.
  const offer2 = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  const carols2 = await carol.chats.offerKeyPackage({ nick: 'carol', slot: 3 });
  const own2 = (await alice.chats.offerKeyPackage({ nick: 'alice', slot: 1 })).pending;
  const g2 = await mls.createGroup({
    context: ctx,
    groupId: crypto.getRandomValues(new Uint8Array(16)),
    keyPackage: own2.keyPackage,
    privateKeyPackage: own2.privateKeys,
  });
  const both = await mls.createCommit({
    context: ctx,
    state: g2,
    extraProposals: [offer2, carols2].map((o) => ({ proposalType: mls.defaultProposalTypes.add, add: { keyPackage: kpOf(o.keyPackage) } })),
    ratchetTreeExtension: true,
  });
  await assert.rejects(
    bob.chats.accept(offer2.pending, mls.encode(mls.mlsMessageEncoder, both.welcome!), alice.id),
    code('PRIVATE_BAD_WELCOME'),
  );
  await assert.rejects(
    carol.chats.accept(carols2.pending, mls.encode(mls.mlsMessageEncoder, both.welcome!), alice.id),
    code('PRIVATE_BAD_WELCOME'),
  );
  // The same, with carol's entry cut out so that the welcome looks like it is for bob alone.
  const bobsRef = await mls.makeKeyPackageRef(kpOf(offer2.keyPackage), impl.hash);
  const cut = {
    ...both.welcome!,
    welcome: {
      ...both.welcome!.welcome,
      secrets: both.welcome!.welcome.secrets.filter((x) => x.newMember.every((b, i) => b === bobsRef[i])),
    },
  };
  assert.equal(cut.welcome.secrets.length, 1);
  await assert.rejects(
    bob.chats.accept(offer2.pending, mls.encode(mls.mlsMessageEncoder, cut), alice.id),
    (e: unknown) => code('PRIVATE_BAD_WELCOME')(e) && /exactly us and one peer/.test((e as Error).message),
  );

  // Without the ratchet tree inside, there is nothing to join.
  const offer3 = await bob.chats.offerKeyPackage({ nick: 'bob', slot: 2 });
  const own3 = (await alice.chats.offerKeyPackage({ nick: 'alice', slot: 1 })).pending;
  const g3 = await mls.createGroup({
    context: ctx,
    groupId: crypto.getRandomValues(new Uint8Array(16)),
    keyPackage: own3.keyPackage,
    privateKeyPackage: own3.privateKeys,
  });
  const bare = await mls.createCommit({
    context: ctx,
    state: g3,
    extraProposals: [{ proposalType: mls.defaultProposalTypes.add, add: { keyPackage: kpOf(offer3.keyPackage) } }],
  });
  await assert.rejects(
    bob.chats.accept(offer3.pending, mls.encode(mls.mlsMessageEncoder, bare.welcome!), alice.id),
    code('PRIVATE_BAD_WELCOME'),
  );
});

test("privateMessageGroupId reads the chat id from a PrivateMessage's clear framing (RFC 9420 §6.3), and nothing else", async () => {
  const { alice, bob } = await setup();
  const { A, created, offer } = await chat(alice, bob);
  const m = await alice.chats.encrypt(A, enc.encode('which chat?'));
  assert.deepEqual(privateMessageGroupId(m.message), created.groupId);
  // Not a PrivateMessage: a key package, a welcome, junk, an empty buffer, trailing bytes, a truncation.
  for (const bytes of [
    offer.keyPackage,
    created.welcome,
    new Uint8Array(40).fill(7),
    new Uint8Array(0),
    Uint8Array.from([...m.message, 0]),
    m.message.subarray(0, 30),
  ]) {
    assert.equal(privateMessageGroupId(bytes), undefined);
  }
  // The group id it returns is a copy: changing it does not change the message.
  const id = privateMessageGroupId(m.message)!;
  id.fill(0);
  assert.deepEqual(privateMessageGroupId(m.message), created.groupId);
});

test('a chat state exported and imported again (a restart) goes on where it was, both ways; one that is not ours, or not with that peer, is BAD_SAVED_STATE', async () => {
  const { alice, bob, carol, mallory } = await setup();
  let { A, B } = await chat(alice, bob);
  const first = await alice.chats.encrypt(A, enc.encode('before'));
  A = first.state;
  const r1 = await bob.chats.decrypt(B, first.message);
  B = r1.state;
  // Exported after sending: the imported state never encrypts under generation 0 again.
  const saved = alice.chats.exportState(A);
  const A2 = await alice.chats.importState(saved, bob.id);
  assert.deepEqual(alice.chats.groupIdOf(A2), alice.chats.groupIdOf(A));
  assert.deepEqual(alice.chats.peerOf(A2).identityKey, bob.id);
  const next = await alice.chats.encrypt(A2, enc.encode('after'));
  const r2 = await bob.chats.decrypt(B, next.message);
  assert.ok(r2.kind === 'message' && dec.decode(r2.plaintext) === 'after' && r2.generation === 1, 'the next generation');
  const back = await bob.chats.encrypt(r2.state, enc.encode('answer'));
  const r3 = await alice.chats.decrypt(next.state, back.message);
  assert.equal(r3.kind === 'message' && dec.decode(r3.plaintext), 'answer');

  await assert.rejects(alice.chats.importState(saved, carol.id), code('BAD_SAVED_STATE'), 'another peer than the one expected');
  await assert.rejects(carol.chats.importState(saved, bob.id), code('BAD_SAVED_STATE'), "not carol's chat");
  await assert.rejects(mallory.chats.importState(saved, bob.id), code('BAD_SAVED_STATE'), 'another room');
  await assert.rejects(alice.chats.importState(saved.slice(0, -1), bob.id), code('BAD_SAVED_STATE'), 'truncated');
  await assert.rejects(alice.chats.importState(new Uint8Array([1, 2, 3]), bob.id), code('BAD_SAVED_STATE'), 'not a state');
  // A room group's state is not a chat's.
  const room = await alice.room.createGroup({ nick: 'alice', slot: 1 });
  await assert.rejects(alice.chats.importState(alice.room.exportState(room.state), bob.id), code('BAD_SAVED_STATE'), 'a room state');
});
