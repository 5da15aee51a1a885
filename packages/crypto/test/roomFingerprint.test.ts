/**
 * Room fingerprints (docs/PROTOCOL.md §8.1) and fork evidence (§8.2): members of one epoch of one
 * group read the same digits; a member shown another commit for that epoch reads other digits, and
 * the messages of the other history are recognised as sealed with keys of another history, while
 * honest failures (replays, altered bodies, other epochs, garbage) are not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hkdfSync } from 'node:crypto';
import {
  RoomGroup,
  type RoomState,
  ROOM_FINGERPRINT_LABEL,
  deriveRoomKeys,
  formatFingerprintDigits,
  formatRoomFingerprint,
  randomRoomSecret,
  roomFingerprint,
  Suites,
} from '../src/index.js';

const enc = new TextEncoder();

/** The test vector of docs/PROTOCOL.md §8.1. */
const VECTOR = {
  authenticator: Uint8Array.from({ length: 32 }, (_, i) => i), // 00 01 .. 1f
  groupId: Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i), // a0 a1 .. af
  epoch: 12n,
  info: '6e756c6c726f6f6d2f76312f726f6f6d2d66696e6765727072696e7410a0a1a2a3a4a5a6a7a8a9aaabacadaeaf000000000000000c',
  okm: '06d0cf40f4deb0e215aa418c1cb0c9',
  digits: '728464104745',
  shown: 'epoch 12 · 7284 6410 4745',
};

test('RFC 5869 HKDF-SHA256: the documented test vector, checked against node:crypto', () => {
  const fp = roomFingerprint(VECTOR.authenticator, VECTOR.groupId, VECTOR.epoch);
  assert.deepEqual(fp, { epoch: 12, digits: VECTOR.digits });
  assert.equal(formatRoomFingerprint(fp), VECTOR.shown);
  assert.equal(formatFingerprintDigits(fp), '7284 6410 4745');
  // An independent implementation of the documented construction.
  const epoch = Buffer.alloc(8);
  epoch.writeBigUInt64BE(VECTOR.epoch);
  const info = Buffer.concat([Buffer.from(ROOM_FINGERPRINT_LABEL), Buffer.from([VECTOR.groupId.length]), VECTOR.groupId, epoch]);
  assert.equal(info.toString('hex'), VECTOR.info);
  const okm = Buffer.from(hkdfSync('sha256', VECTOR.authenticator, new Uint8Array(0), info, 15));
  assert.equal(okm.toString('hex'), VECTOR.okm);
  const digits = [0, 5, 10].map((i) => String(okm.readUIntBE(i, 5) % 10000).padStart(4, '0')).join('');
  assert.equal(digits, VECTOR.digits);
});

test('every input matters: authenticator, group id and epoch each change the digits', () => {
  const base = roomFingerprint(VECTOR.authenticator, VECTOR.groupId, VECTOR.epoch).digits;
  const auth = VECTOR.authenticator.slice();
  auth[31]! ^= 1;
  const gid = VECTOR.groupId.slice();
  gid[0]! ^= 1;
  assert.notEqual(roomFingerprint(auth, VECTOR.groupId, VECTOR.epoch).digits, base);
  assert.notEqual(roomFingerprint(VECTOR.authenticator, gid, VECTOR.epoch).digits, base);
  assert.notEqual(roomFingerprint(VECTOR.authenticator, VECTOR.groupId, 13n).digits, base);
  assert.throws(() => roomFingerprint(new Uint8Array(8), VECTOR.groupId, 1n), RangeError);
  assert.throws(() => roomFingerprint(VECTOR.authenticator, VECTOR.groupId, -1n), RangeError);
  assert.throws(() => roomFingerprint(VECTOR.authenticator, VECTOR.groupId, 2n ** 60n), RangeError);
});

test('the digits are not read off the authenticator itself (a guard against showing the secret)', () => {
  // Not a proof (HKDF's PRF property is), but a guard against a regression that shows the secret.
  for (let i = 0; i < 50; i++) {
    const auth = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const { digits } = roomFingerprint(auth, VECTOR.groupId, 1n);
    assert.match(digits, /^\d{12}$/);
    const plain = [0, 5, 10].map((o) => String(auth.slice(o, o + 5).reduce((v, b) => v * 256 + b, 0) % 10000).padStart(4, '0')).join('');
    assert.notEqual(digits, plain);
  }
});

/** Three members at one epoch, then the relay forks: alice's removal of dave for alice and bob, carol's own removal of dave for carol. */
async function forkedRoom() {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const [a, b, c, d] = await Promise.all([0, 1, 2, 3].map(() => RoomGroup.create(keys)));
  const created = await a!.createGroup({ nick: 'alice', slot: 1 });
  let A: RoomState = created.state;
  let gi = created.groupInfo;
  let B: RoomState | undefined;
  let C: RoomState | undefined;
  for (const [who, nick, slot] of [
    [b!, 'bob', 2],
    [c!, 'carol', 3],
    [d!, 'dave', 4],
  ] as const) {
    const j = await who.joinExternal(await who.readGroupInfo(gi), { nick, slot });
    gi = j.groupInfo;
    A = (await a!.process(A, j.message, slot)).state;
    if (B !== undefined) B = (await b!.process(B, j.message, slot)).state;
    if (C !== undefined) C = (await c!.process(C, j.message, slot)).state;
    if (who === b) B = j.state;
    if (who === c) C = j.state;
  }
  const before = { A, B: B!, C: C! };
  const x = await a!.remove(A, [3]); // alice removes dave...
  const y = await c!.remove(C!, [3]); // ...and so does carol, for the same epoch: the relay should accept one
  A = x.state;
  B = (await b!.process(B!, x.message, 1)).state;
  C = y.state; // the forking relay acknowledges carol's commit to carol and never shows her alice's
  return { a: a!, b: b!, c: c!, A, B, C, before };
}

test('members of one epoch read the same fingerprint; a forked member reads another for the same epoch number', async () => {
  const { a, b, c, A, B, C, before } = await forkedRoom();
  // Before the fork: one history, one fingerprint.
  const f0 = a.fingerprint(before.A);
  assert.deepEqual(b.fingerprint(before.B), f0);
  assert.deepEqual(c.fingerprint(before.C), f0);
  // After: the same epoch number, the same members, but two histories.
  const [fa, fb, fc] = [a.fingerprint(A), b.fingerprint(B), c.fingerprint(C)];
  assert.equal(fa.epoch, f0.epoch + 1);
  assert.equal(fc.epoch, fa.epoch);
  assert.deepEqual(fb, fa);
  assert.notEqual(fc.digits, fa.digits);
  assert.deepEqual(
    (await a.members(A)).map((m) => m.nick),
    (await c.members(C)).map((m) => m.nick),
  );
  // It is the epoch authenticator, as documented.
  assert.deepEqual(fa, roomFingerprint(A.mls.keySchedule.epochAuthenticator, A.mls.groupContext.groupId, A.mls.groupContext.epoch));
});

test('fork evidence: a message of the other history is recognised; replays, altered bodies, other epochs and garbage are not', async () => {
  const { a, b, c, A, B, C, before } = await forkedRoom();
  const fromBob = await b.encrypt(B, enc.encode('hello'));
  const fromCarol = await c.encrypt(C, enc.encode('hi'));
  // Across the fork: sealed with keys of another history of this epoch.
  assert.equal(await c.sealedForAnotherHistory(C, fromBob.message), true);
  assert.equal(await a.sealedForAnotherHistory(A, fromCarol.message), true);
  await assert.rejects(c.process(C, fromBob.message, 2));
  // Within one history: it opens (and is not evidence, before or after it is read).
  assert.equal(await a.sealedForAnotherHistory(A, fromBob.message), false);
  const read = await a.process(A, fromBob.message, 2);
  assert.equal(read.kind, 'app');
  // A replay fails to decrypt, but its SenderData opens: not evidence.
  await assert.rejects(a.process(read.state, fromBob.message, 2));
  assert.equal(await a.sealedForAnotherHistory(read.state, fromBob.message), false);
  // An altered body (the last bytes: content AEAD) fails, SenderData still opens: not evidence.
  const altered = fromBob.message.slice();
  altered[altered.length - 3]! ^= 1;
  assert.equal(await a.sealedForAnotherHistory(read.state, altered), false);
  // A message of an earlier epoch: not evidence (a late message, not another history).
  const old = await b.encrypt(before.B, enc.encode('old'));
  assert.equal(await a.sealedForAnotherHistory(A, old.message), false);
  // Bytes that are not an MLS PrivateMessage at all: not evidence.
  assert.equal(await a.sealedForAnotherHistory(A, new Uint8Array(0)), false);
  assert.equal(await a.sealedForAnotherHistory(A, globalThis.crypto.getRandomValues(new Uint8Array(300))), false);
});

test('the post-quantum suite (SHA-512, a 64-byte authenticator) gives 12 digits too, equal for creator and joiner', async () => {
  const keys = await deriveRoomKeys(randomRoomSecret());
  const [a, b] = await Promise.all([RoomGroup.create(keys, Suites.postQuantum), RoomGroup.create(keys, Suites.postQuantum)]);
  const created = await a.createGroup({ nick: 'alice', slot: 1 });
  assert.equal(created.state.mls.keySchedule.epochAuthenticator.byteLength, 64);
  const j = await b.joinExternal(await b.readGroupInfo(created.groupInfo), { nick: 'bob', slot: 2 });
  const A = (await a.process(created.state, j.message, 2)).state;
  assert.match(a.fingerprint(A).digits, /^\d{12}$/);
  assert.deepEqual(b.fingerprint(j.state), a.fingerprint(A));
});
