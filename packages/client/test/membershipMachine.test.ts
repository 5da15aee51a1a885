/**
 * The membership state machine (src/membershipMachine.ts) stepped through sequences of events: no
 * relay, no MLS, no timers. MLS states are opaque values here, the clock and the random source fixed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Member, RoomState } from '@nullroom/crypto';
import { GroupStatus, asEpoch, asReqId, asSlot } from '@nullroom/protocol';
import { ClientError } from '../src/errors.js';
import { step } from '../src/membershipMachine.js';
import { type MembershipEffect, type MembershipEvent, type MembershipState, initialMembership } from '../src/membershipState.js';
import { defaultRoomTimings } from '../src/roomTypes.js';

const env = { timings: { ...defaultRoomTimings, removalGraceMs: 1000, maxJoinAttempts: 2 }, now: 5000, random: () => 0.5 };
const mlsState = (n: number) => ({ n }) as unknown as RoomState;
const m = (leaf: number, slot: number, self = false): Member => ({
  leaf,
  slot,
  nick: `m${slot}`,
  signaturePublicKey: new Uint8Array([leaf]),
  identityKey: new Uint8Array([slot]),
  self,
});
const gi = new Uint8Array([1, 2, 3]);

/** Steps every event in turn; returns the last state and the effects of each step. */
function run(s: MembershipState, ...events: MembershipEvent[]): { state: MembershipState; effects: MembershipEffect[][] } {
  const effects: MembershipEffect[][] = [];
  for (const e of events) {
    const r = step(s, e, env);
    s = r.state;
    effects.push(r.effects);
  }
  return { state: s, effects };
}
const kinds = (fx: MembershipEffect[]) => fx.map((f) => f.kind);

/** A member joined at relay commit count 3 with these members. */
function joined(members: Member[]): MembershipState {
  return { ...initialMembership('joined'), slot: asSlot(members.find((x) => x.self)!.slot), commits: asEpoch(3), members };
}

test('a join that loses a commit race asks again after a short delay, then wins: joined at the count it committed at', () => {
  const joinPending = (reqId: number) => ({
    kind: 'join' as const,
    reqId: asReqId(reqId),
    state: mlsState(1),
    commits: asEpoch(5),
    nick: 'ann',
  });
  const ready = { type: 'group-state' as const, status: GroupStatus.READY, commits: asEpoch(4), groupInfo: gi };
  const lost = run(
    initialMembership(),
    { type: 'slot', slot: asSlot(7) },
    ready,
    { type: 'commit-sent', pending: joinPending(1) },
    {
      type: 'commit-refused',
      name: 'STALE_EPOCH',
    },
  );
  assert.deepEqual(lost.effects[1]!, [{ kind: 'join-external', groupInfo: gi, commits: asEpoch(4) }]);
  assert.deepEqual(lost.effects[3]!, [{ kind: 'after', ms: 10, event: { type: 'sync-due' } }], 'a timer, not a sleep');
  assert.equal(lost.state.pending, undefined);
  assert.equal(lost.state.joinAttempts, 1);
  const won = run(lost.state, { type: 'sync-due' }, ready, { type: 'commit-sent', pending: joinPending(2) }, { type: 'commit-acked' });
  assert.deepEqual(won.effects[0]!, [{ kind: 'sync' }]);
  assert.deepEqual(won.effects[3]!, [{ kind: 'named', nick: 'ann', created: false }]);
  assert.equal(won.state.commits, 5);
  const members = [m(0, 1), m(1, 7, true)];
  const done = run(won.state, { type: 'members', members }, { type: 'commit-adopted', pending: joinPending(2) });
  assert.equal(done.state.phase, 'joined');
  assert.deepEqual(kinds(done.effects[1]!), ['phase-changed', 'after', 'probe-leaves', 'joined', 'pump']);
  const timer = done.effects[1]![1]!;
  assert.deepEqual(timer.kind === 'after' && timer.event, { type: 'self-update-due', generation: done.state.selfUpdate });
});

test('lost races past maxJoinAttempts fail the join; another refusal fails it at once, with the relay code', () => {
  const create = { kind: 'create' as const, reqId: asReqId(1), state: mlsState(1), commits: asEpoch(0) };
  let s: MembershipState = { ...initialMembership(), slot: asSlot(1), joinAttempts: 2 };
  let r = step({ ...s, pending: create }, { type: 'commit-refused', name: 'NOT_CREATOR' }, env);
  const fail = r.effects[0]!;
  assert.ok(fail.kind === 'fail-join' && fail.error instanceof ClientError);
  assert.equal(fail.kind === 'fail-join' && fail.error.code, 'JOIN_FAILED');
  assert.equal(fail.kind === 'fail-join' && fail.error.relayCode, 'NOT_CREATOR');
  assert.match(fail.kind === 'fail-join' ? fail.error.message : '', /lost races/);
  s = { ...s, joinAttempts: 0 };
  r = step({ ...s, pending: create }, { type: 'commit-refused', name: 'BAD_FRAME' }, env);
  assert.deepEqual(kinds(r.effects), ['fail-join']);
  // The JOIN itself refused (before any slot): fails with the relay's reason.
  r = step(initialMembership(), { type: 'join-refused', name: 'ROOM_FULL', why: 'ROOM_FULL: the room is full' }, env);
  const refused = r.effects[0]!;
  assert.equal(refused.kind === 'fail-join' && refused.error.relayCode, 'ROOM_FULL');
});

test('a departed member is removed by the designated member at once, by the others only after the grace period', () => {
  // We hold leaf 1; leaf 0 (slot 1) is designated while it stays.
  const members = [m(0, 1), m(1, 2, true), m(2, 3)];
  const r = run(joined(members), { type: 'member-gone', slot: 3 }, { type: 'member-gone', slot: 3 }, { type: 'removal-due' });
  assert.deepEqual(r.effects[0]!, [{ kind: 'after', ms: 1500, event: { type: 'removal-due' } }], 'grace + random x grace');
  assert.deepEqual(r.effects[1]!, [], 'one grace timer at a time');
  const commit = r.effects[2]![0]!;
  assert.deepEqual(commit.kind === 'commit' && [commit.targets.map((x) => x.slot), commit.commits], [[3], 3]);
  assert.equal(r.state.removalArmed, false);
  // The designated member gone: we are the lowest staying leaf now, and commit at once.
  const at = run(joined(members), { type: 'member-gone', slot: 1 });
  assert.deepEqual(kinds(at.effects[0]!), ['commit']);
});

test('a removal commit that loses the race is abandoned when the winner is delivered, and removals look again afterwards', () => {
  const members = [m(0, 1, true), m(1, 2), m(2, 3)];
  const pending = {
    kind: 'remove' as const,
    reqId: asReqId(9),
    state: mlsState(2),
    removed: [members[2]!],
    consumed: [],
    message: new Uint8Array(0),
  };
  const s: MembershipState = { ...joined(members), gone: new Set([3]), pending };
  const r = run(s, { type: 'commit-delivered', commits: asEpoch(3) });
  assert.deepEqual(r.effects[0]!, [
    { kind: 'commit-sequenced', commits: 4 },
    { kind: 'abandon', reqId: 9 },
  ]);
  assert.equal(r.state.commits, 4);
  // The winner removed someone else: slot 3 is still gone, we commit its removal at the new count;
  // as the lowest leaf but the committer's, we also check the GroupInfo it stored (SYNC).
  const after = run(r.state, { type: 'members', members }, { type: 'commit-valid', from: 2, added: [], removed: [] });
  const fx = after.effects[1]!;
  assert.deepEqual(kinds(fx), ['check-trust', 'sync', 'commit', 'pump']);
  assert.deepEqual(after.state.check, { why: 'after-commit', culprit: 2, reason: 'bad-group-info' });
  assert.equal(fx[2]!.kind === 'commit' && fx[2]!.commits, 4);
});

test('self-updates: each timer arms the next and commits unless a commit is in flight; a stale timer is ignored', () => {
  const members = [m(0, 1, true), m(1, 2)];
  const s = { ...joined(members), selfUpdate: 4 };
  const r = step(s, { type: 'self-update-due', generation: 4 }, env);
  assert.deepEqual(kinds(r.effects), ['after', 'commit']);
  assert.deepEqual(r.effects[0]!, { kind: 'after', ms: 600_000, event: { type: 'self-update-due', generation: 5 } });
  assert.deepEqual(r.effects[1]!, { kind: 'commit', targets: [], commits: 3 });
  assert.deepEqual(step(r.state, { type: 'self-update-due', generation: 4 }, env).effects, [], 'superseded');
  const pending = { kind: 'remove' as const, reqId: asReqId(1), state: mlsState(1), removed: [], consumed: [], message: new Uint8Array(0) };
  assert.deepEqual(kinds(step({ ...r.state, pending }, { type: 'self-update-due', generation: 5 }, env).effects), ['after']);
  assert.deepEqual(step({ ...r.state, phase: 'reconnecting' }, { type: 'self-update-due', generation: 5 }, env).effects, []);
});

test('leave during a join: the stay ends, and what the relay answers later starts nothing', () => {
  const ready = { type: 'group-state' as const, status: GroupStatus.READY, commits: asEpoch(0), groupInfo: gi };
  const pending = { kind: 'join' as const, reqId: asReqId(2), state: mlsState(1), commits: asEpoch(1), nick: 'ann' };
  const r = run(
    initialMembership(),
    { type: 'slot', slot: asSlot(1) },
    { type: 'commit-sent', pending },
    { type: 'stay-ended' },
    { type: 'phase', phase: 'left' },
    ready,
    { type: 'commit-acked' },
    { type: 'repair-retry', refound: true, commits: asEpoch(0) },
  );
  assert.deepEqual(r.effects[3]!, [{ kind: 'phase-changed', phase: 'left' }]);
  assert.deepEqual(r.effects.slice(4), [[], [], []]);
  assert.equal(r.state.pending, undefined);
  assert.equal(r.state.slot, undefined);
});

test('a GroupInfo joiners cannot use: retries with backoff and a repair-wait, re-founds at count 0, fails after the wait', () => {
  const s: MembershipState = { ...initialMembership(), slot: asSlot(1) };
  const error = new Error('bad');
  const r = run(s, { type: 'group-info-unusable', error, commits: asEpoch(2), opens: true });
  assert.deepEqual(kinds(r.effects[0]!), ['report', 'emit', 'after']);
  assert.deepEqual(r.state.badInfo, { since: 5000, attempts: 1 });
  const refound = step(s, { type: 'group-info-unusable', error, commits: asEpoch(0), opens: false }, env);
  const timer = refound.effects[2]!;
  assert.deepEqual(timer.kind === 'after' && timer.event, { type: 'repair-retry', refound: true, commits: 0 });
  assert.deepEqual(step(s, timer.kind === 'after' ? timer.event : { type: 'sync-due' }, env).effects, [
    { kind: 'found', refound: true, commits: 0 },
  ]);
  const late = step(
    { ...s, badInfo: { since: 5000 - 30_000, attempts: 9 } },
    { type: 'group-info-unusable', error, commits: asEpoch(2), opens: true },
    env,
  );
  assert.deepEqual(kinds(late.effects), ['fail-join']);
});

test('a void commit names the culprit and repairs; out of step it checks the relay GroupInfo first, and rejoins if ours is the odd one', () => {
  const members = [m(0, 1, true), m(1, 2)];
  const error = new Error('void');
  const v = step(joined(members), { type: 'commit-void', from: 2, reason: 'bad-commit', error, foreign: false, outOfStep: false }, env);
  assert.deepEqual(kinds(v.effects), ['report', 'disrupted', 'commit', 'pump']);
  assert.equal(v.state.repairNeeded, true);
  assert.ok(v.state.culprits.has(2));
  const o = run(
    joined(members),
    { type: 'commit-void', from: 2, reason: 'bad-commit', error, foreign: false, outOfStep: true },
    { type: 'group-state', status: GroupStatus.READY, commits: asEpoch(3), groupInfo: gi },
  );
  assert.deepEqual(kinds(o.effects[0]!), ['report', 'sync', 'pump']);
  const check = o.effects[1]![0]!;
  assert.equal(check.kind, 'check-group-info');
  if (check.kind !== 'check-group-info') return;
  assert.deepEqual(kinds(step(o.state, { type: 'group-info-checked', check: check.check, verdict: 'other' }, env).effects), ['rejoin']);
  assert.deepEqual(kinds(step(o.state, { type: 'group-info-checked', check: check.check, verdict: 'bad' }, env).effects), [
    'disrupted',
    'commit',
  ]);
});

test('a dropped connection suspends the stay (§4.5): resumed, the replay read, a commit of ours not in it is given up and looked at again', () => {
  const members = [m(0, 1, true), m(1, 2), m(2, 3)];
  const pending = {
    kind: 'remove' as const,
    reqId: asReqId(4),
    state: mlsState(2),
    removed: [],
    consumed: [],
    message: new Uint8Array([9]),
  };
  const s: MembershipState = { ...joined(members), pending, removalArmed: true, selfUpdate: 2 };
  const r = run(s, { type: 'suspended' });
  assert.deepEqual(r.effects[0]!, [{ kind: 'phase-changed', phase: 'reconnecting' }]);
  assert.equal(r.state.phase, 'reconnecting');
  assert.equal(r.state.pending, pending, 'kept: the replay says whether it was accepted');
  assert.equal(r.state.slot, 1);
  assert.deepEqual(r.state.members, members);
  assert.equal(r.state.removalArmed, false, 'its timer went with the stay');
  assert.deepEqual(step(r.state, { type: 'self-update-due', generation: 2 }, env).effects, [], 'an old self-update timer starts nothing');
  const back = run(r.state, { type: 'resumed' }, { type: 'replayed' });
  assert.deepEqual(back.effects[0]!, [{ kind: 'phase-changed', phase: 'joined' }]);
  assert.deepEqual(kinds(back.effects[1]!), ['after', 'probe-leaves', 'sync', 'pump']);
  assert.equal(back.state.pending, undefined);
  assert.equal(back.state.phase, 'joined');
  // Nothing pending: no SYNC.
  const quiet = run({ ...s, pending: undefined }, { type: 'suspended' }, { type: 'resumed' }, { type: 'replayed' });
  assert.deepEqual(kinds(quiet.effects[2]!), ['after', 'probe-leaves', 'pump']);
  // Only a joined stay is suspended.
  assert.deepEqual(step(initialMembership('joining'), { type: 'suspended' }, env).effects, []);
});
