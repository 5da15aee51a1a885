/** The membership decisions (src/membership.ts) as pure functions: no relay, no MLS, no timers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Member } from '@nullroom/crypto';
import { CryptoError } from '@nullroom/crypto';
import {
  DisruptionLedger,
  addSlot,
  checksGroupInfo,
  decideBadGroupInfo,
  decideJoinRefusal,
  decideRemoval,
  selfUpdateDelay,
  voidCode,
  voidReason,
} from '../src/membership.js';

const m = (leaf: number, slot: number, self = false): Member => ({
  leaf,
  slot,
  nick: `m${slot}`,
  signaturePublicKey: new Uint8Array([leaf]),
  identityKey: new Uint8Array([slot]),
  self,
});
const view = (members: Member[], o: { gone?: number[]; culprits?: number[]; repairNeeded?: boolean } = {}) => ({
  members,
  gone: new Set(o.gone ?? []),
  culprits: new Set(o.culprits ?? []),
  repairNeeded: o.repairNeeded ?? false,
});

test('removal: nothing to do without departed members, culprits or a needed repair', () => {
  assert.deepEqual(decideRemoval(view([m(0, 1, true), m(1, 2)]), false), { kind: 'none' });
});

test('removal: the lowest staying leaf commits at once, the others wait for the grace period unless forced', () => {
  const members = [m(0, 1), m(1, 2, true), m(2, 3)];
  // slot 1 (leaf 0) is gone: we (leaf 1) are now the lowest staying leaf.
  const d = decideRemoval(view(members, { gone: [1] }), false);
  assert.equal(d.kind, 'commit');
  assert.deepEqual(d.kind === 'commit' ? d.targets.map((x) => x.slot) : [], [1]);
  // slot 3 (leaf 2) is gone: leaf 0 is designated, we wait...
  assert.deepEqual(decideRemoval(view(members, { gone: [3] }), false), { kind: 'grace' });
  // ...and step in after the grace period.
  const forced = decideRemoval(view(members, { gone: [3] }), true);
  assert.deepEqual(forced.kind === 'commit' ? forced.targets.map((x) => x.slot) : forced, [3]);
});

test('removal: culprits go with departed members in one commit; a repair with nobody to remove is a self-update', () => {
  const members = [m(0, 1, true), m(1, 2), m(2, 3)];
  const d = decideRemoval(view(members, { gone: [2], culprits: [3] }), false);
  assert.deepEqual(d.kind === 'commit' ? d.targets.map((x) => x.slot) : d, [2, 3]);
  assert.deepEqual(decideRemoval(view(members, { repairNeeded: true }), false), { kind: 'commit', targets: [] });
});

test('GroupInfo check: the lowest staying leaf, the committer excluded, checks', () => {
  const members = [m(0, 1), m(1, 2, true), m(2, 3)];
  assert.equal(checksGroupInfo(view(members), 3), false, 'leaf 0 checks');
  assert.equal(checksGroupInfo(view(members), 1), true, 'the committer (leaf 0) is excluded: we check');
  assert.equal(checksGroupInfo(view(members, { gone: [1] }), 3), true, 'a departed member does not check');
  assert.equal(checksGroupInfo(view(members, { culprits: [1] }), 3), true, 'a culprit does not check');
});

test('self-update delay: jittered ±20% around selfUpdateMs, spaced out in big rooms', () => {
  const t = { selfUpdateMs: 600_000, selfUpdatePerMemberMs: 2000 };
  assert.equal(selfUpdateDelay(t, 3, 0), 480_000);
  assert.equal(selfUpdateDelay(t, 3, 0.5), 600_000);
  assert.ok(Math.abs(selfUpdateDelay(t, 3, 0.999999) - 720_000) < 1);
  assert.equal(selfUpdateDelay(t, 1000, 0.5), 2_000_000, '1000 members x 2 s');
});

test('a refused join: lost races retry after a short random delay (growing, capped) until maxJoinAttempts, other refusals fail', () => {
  assert.deepEqual(decideJoinRefusal('STALE_EPOCH', 0, 60, 0.5), { kind: 'retry', delayMs: 10 });
  assert.deepEqual(decideJoinRefusal('NOT_CREATOR', 20, 60, 0.5), { kind: 'retry', delayMs: 100 });
  assert.deepEqual(decideJoinRefusal('RATE_LIMITED', 59, 60, 1), { kind: 'retry', delayMs: 200 });
  assert.deepEqual(decideJoinRefusal('STALE_EPOCH', 60, 60, 0.5), { kind: 'fail', why: 'lost-races' });
  assert.deepEqual(decideJoinRefusal('BAD_FRAME', 0, 60, 0.5), { kind: 'fail', why: 'refused' });
});

test('a GroupInfo the joiner cannot use: backoff 0.1 s doubling to 2 s, re-founding only at commit count 0 when it does not open, then fail', () => {
  const base = { now: 1000, since: 1000, attempts: 0, commits: 5, opens: true, random: 1 };
  assert.deepEqual(decideBadGroupInfo(base, 30_000), { kind: 'retry', delayMs: 100, refound: false });
  assert.deepEqual(decideBadGroupInfo({ ...base, attempts: 3 }, 30_000), { kind: 'retry', delayMs: 800, refound: false });
  assert.deepEqual(decideBadGroupInfo({ ...base, attempts: 10 }, 30_000), { kind: 'retry', delayMs: 2000, refound: false });
  assert.deepEqual(decideBadGroupInfo({ ...base, attempts: 10, random: 0 }, 30_000), { kind: 'retry', delayMs: 1000, refound: false });
  assert.deepEqual(decideBadGroupInfo({ ...base, commits: 0, opens: false, random: 0.5 }, 30_000), {
    kind: 'retry',
    delayMs: 250,
    refound: true,
  });
  assert.deepEqual(decideBadGroupInfo({ ...base, commits: 0, opens: true }, 30_000).kind, 'retry');
  assert.deepEqual(decideBadGroupInfo({ ...base, now: 31_000 }, 30_000), { kind: 'fail' });
});

test('void commits: the reason and code follow the crypto error', () => {
  assert.equal(voidReason(new CryptoError('FORBIDDEN_PROPOSAL', 'x')), 'forbidden-proposal');
  assert.equal(voidReason(new CryptoError('BROKEN_ROOM_RULE', 'x')), 'broken-room-rule');
  assert.equal(voidReason(new CryptoError('BAD_MESSAGE', 'x')), 'bad-commit');
  assert.equal(voidReason(new Error('x')), 'bad-commit');
  assert.equal(voidCode['broken-room-rule'], 'BROKEN_ROOM_RULE');
});

test('disruptions are counted per identity key while a member, per slot otherwise, and a removed member keeps its former nickname', () => {
  const l = new DisruptionLedger();
  assert.deepEqual(l.record(7, 'bad-commit', { nick: 'mallory', key: 'aa' }), { slot: 7, nick: 'mallory', count: 1, reason: 'bad-commit' });
  // The repair removed mallory's leaf: slot 7 is no member now, but its key is remembered.
  assert.deepEqual(l.record(7, 'bad-group-info', undefined), { slot: 7, formerNick: 'mallory', count: 2, reason: 'bad-group-info' });
  // Back with a new slot and the same key: counted together.
  assert.deepEqual(l.record(9, 'bad-commit', { nick: 'mallory-2', key: 'aa' }), {
    slot: 9,
    nick: 'mallory-2',
    count: 3,
    reason: 'bad-commit',
  });
  // A connection that never was a member: per slot.
  assert.deepEqual(l.record(11, 'broken-room-rule', undefined), { slot: 11, count: 1, reason: 'broken-room-rule' });
  assert.deepEqual(l.record(11, 'broken-room-rule', undefined), { slot: 11, count: 2, reason: 'broken-room-rule' });
});

test('bounded slot sets drop the oldest entry past 4096', () => {
  const s = new Set<number>();
  for (let i = 0; i < 4097; i++) addSlot(s, i);
  assert.equal(s.size, 4096);
  assert.equal(s.has(0), false);
  assert.equal(s.has(4096), true);
});
