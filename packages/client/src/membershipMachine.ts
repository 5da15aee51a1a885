/**
 * The membership of a conversation's MLS group (docs/PROTOCOL.md §4.3) as a pure state machine:
 * `step(state, event)` returns the next state and the effects the shell (roomMembership.ts) carries
 * out, in order. It does no I/O and keeps no timers: the clock and the random source are given
 * to it (`StepEnv`, a seeded one in tests), what MLS processing found is an event, and what needs crypto
 * (creating the group, an external join, a removal commit, checking a GroupInfo) is an effect whose
 * result comes back as the next event. The decisions themselves are membership.ts's.
 *
 * Two numbers are never mixed up: `commits` is the relay's commit count (what the relay's frames
 * call `epoch`), the MLS epoch is the group state's (kept by the shell with the MLS state).
 * The state and its events and effects are in membershipState.ts.
 */
import { GroupStatus, type RelayEpoch, asEpoch } from '@nullroom/protocol';
import { ClientError } from './errors.js';
import { toHex } from './encoding.js';
import { addSlot, checksGroupInfo, decideBadGroupInfo, decideJoinRefusal, decideRemoval, selfUpdateDelay, voidCode } from './membership.js';
import {
  type GroupInfoCheck,
  type GroupInfoVerdict,
  type MembershipEffect,
  type MembershipEvent,
  type MembershipState,
  type Pending,
  type Step,
  type StepEnv,
  initialMembership,
} from './membershipState.js';

/** After a refused repair or removal commit (RATE_LIMITED): about the relay's default commit interval (§4.1). */
const COMMIT_BACKOFF_MS = 2000;
/** After a refused SYNC (RATE_LIMITED). */
const SYNC_BACKOFF_MS = 1000;

/** `set` with `slot` added (a copy), bounded like every slot set (membership.ts `addSlot`). */
function withSlot(set: ReadonlySet<number>, slot: number): ReadonlySet<number> {
  if (set.has(slot)) return set;
  const out = new Set(set);
  addSlot(out, slot);
  return out;
}

function joinFailed(why: string, cause: unknown, relayCode?: string): ClientError {
  return new ClientError('JOIN_FAILED', why, relayCode === undefined ? { cause } : { cause, relayCode });
}

const none = (state: MembershipState): Step => ({ state, effects: [] });

/** The next state and what the shell does, in order, for one event. */
export function step(s: MembershipState, e: MembershipEvent, env: StepEnv): Step {
  switch (e.type) {
    case 'slot':
      return none({ ...s, slot: e.slot });
    case 'group-state':
      return s.phase === 'joined' ? syncAnswered(s, e, env) : joinAnswered(s, e);
    case 'group-info-unusable':
      return groupInfoUnusable(s, e, env);
    case 'repair-retry':
      if (s.phase !== 'joining' || s.pending !== undefined || s.slot === undefined) return none(s);
      // A lost re-founding race (STALE_EPOCH) SYNCs and joins the winner's group.
      return { state: s, effects: [e.refound ? { kind: 'found', refound: true, commits: e.commits } : { kind: 'sync' }] };
    case 'sync-due':
      return { state: s, effects: [{ kind: 'sync' }] };
    case 'commit-sent':
      return none({ ...s, pending: e.pending, badInfo: e.pending.kind === 'join' ? undefined : s.badInfo });
    case 'commit-acked':
      return acked(s);
    case 'members':
      return none({ ...s, members: e.members });
    case 'commit-adopted':
      return adopted(s, e.pending, env);
    case 'commit-refused':
      return refused(s, e.name, env);
    case 'sync-refused':
      // Over the relay's frame rate: ask again a little later; anything else (NOT_IN_ROOM for the
      // stay we just left) needs no answer.
      if (e.name !== 'RATE_LIMITED') return none(s);
      return { state: s, effects: [{ kind: 'after', ms: SYNC_BACKOFF_MS * (0.75 + env.random() * 0.5), event: { type: 'sync-due' } }] };
    case 'join-refused':
      return { state: s, effects: [{ kind: 'fail-join', error: joinFailed(`the relay refused to join (${e.why})`, undefined, e.name) }] };
    case 'commit-delivered':
      return delivered(s, e.commits);
    case 'commit-valid':
      return valid(s, e, env);
    case 'removed-self':
      return { state: s, effects: [{ kind: 'rejoin' }] };
    case 'commit-void':
      return voided(s, e, env);
    case 'group-info-checked':
      return checked(s, e.check, e.verdict, env);
    case 'member-gone':
      return removals({ ...s, gone: withSlot(s.gone, e.slot) }, false, env);
    case 'probe-failed':
      return none({ ...s, gone: withSlot(s.gone, e.slot) });
    case 'removal-check':
      return removals(s, false, env);
    case 'removal-due':
      return removals({ ...s, removalArmed: false }, true, env);
    case 'self-update-due':
      return selfUpdateDue(s, e.generation, env);
    case 'restored':
      return none({
        ...initialMembership('reconnecting'),
        slot: e.slot,
        commits: e.commits,
        members: e.members,
        selfUpdate: s.selfUpdate + 1,
      });
    case 'suspended':
      return suspended(s);
    case 'resumed':
      return s.phase === 'reconnecting'
        ? { state: { ...s, phase: 'joined' }, effects: [{ kind: 'phase-changed', phase: 'joined' }] }
        : none(s);
    case 'replayed':
      return replayed(s, env);
    case 'stay-ended':
      return none({ ...initialMembership(s.phase), selfUpdate: s.selfUpdate + 1 });
    case 'phase':
      return s.phase === e.phase ? none(s) : { state: { ...s, phase: e.phase }, effects: [{ kind: 'phase-changed', phase: e.phase }] };
  }
}

/**
 * The connection dropped while joined (§4.5): the stay is kept to be resumed. Timers of the stay
 * stop (the shell clears them), a SYNC in flight is lost with the connection; a commit of ours in
 * flight stays pending: the relay's replay says whether it was accepted.
 */
function suspended(s: MembershipState): Step {
  if (s.phase !== 'joined') return none(s);
  return {
    state: { ...s, phase: 'reconnecting', removalArmed: false, check: undefined, selfUpdate: s.selfUpdate + 1 },
    effects: [{ kind: 'phase-changed', phase: 'reconnecting' }],
  };
}

/**
 * The replay after RESUMED is read. A commit of ours still pending was not in it: the relay never
 * accepted it (its answer went with the old connection); look again (SYNC). The self-update timer
 * starts again, leaves are probed (members whose grace ran out while we were away were announced
 * to nobody), and removals and the outbox go on.
 */
function replayed(s: MembershipState, env: StepEnv): Step {
  if (s.phase !== 'joined') return none(s);
  const generation = s.selfUpdate + 1;
  const next: MembershipState = { ...s, pending: undefined, selfUpdate: generation };
  const effects: MembershipEffect[] = [
    { kind: 'after', ms: selfUpdateDelay(env.timings, s.members.length, env.random()), event: { type: 'self-update-due', generation } },
    { kind: 'probe-leaves' },
  ];
  if (s.pending !== undefined) effects.push({ kind: 'sync' });
  return pumped(then({ state: next, effects }, removals(next, false, env)));
}

/** While joining, GROUP_STATE says how: wait, create the group, or join it through an external commit. */
function joinAnswered(s: MembershipState, e: Extract<MembershipEvent, { type: 'group-state' }>): Step {
  if (s.phase !== 'joining' || s.slot === undefined || s.pending !== undefined) return none(s);
  if (e.status === GroupStatus.WAIT) return none(s);
  if (e.status === GroupStatus.CREATE) return { state: s, effects: [{ kind: 'found', refound: false, commits: e.commits }] };
  return { state: s, effects: [{ kind: 'join-external', groupInfo: e.groupInfo, commits: e.commits }] };
}

/**
 * Answer to a SYNC while joined: after a lost commit race (learn the relay's commit count, then
 * retry removals), or to check the GroupInfo the relay stores for joiners (§4.3).
 */
function syncAnswered(s: MembershipState, e: Extract<MembershipEvent, { type: 'group-state' }>, env: StepEnv): Step {
  const check = s.check;
  const current = e.commits === s.commits; // no commit reached us since: the GroupInfo is the latest one
  const next = { ...s, check: undefined, commits: e.commits };
  if (check !== undefined && current && e.status === GroupStatus.READY && s.slot !== undefined) {
    return { state: next, effects: [{ kind: 'check-group-info', check, groupInfo: e.groupInfo }] };
  }
  return removals(next, false, env);
}

/** What a GroupInfo check found: we are out of step (rejoin), or someone disrupted the room (repair). */
function checked(s: MembershipState, check: GroupInfoCheck, verdict: GroupInfoVerdict, env: StepEnv): Step {
  const effects: MembershipEffect[] = [];
  if (check.why === 'out-of-step') {
    // If the relay holds a joinable GroupInfo of our group in another state, we are the ones out of step: rejoin.
    if (verdict === 'other') return { state: s, effects: [{ kind: 'rejoin' }] };
    effects.push({ kind: 'disrupted', slot: check.culprit, reason: check.reason }); // otherwise it was a disruption after all
  } else if (verdict !== 'ours') {
    const error = new ClientError('BAD_GROUP_INFO', 'the relay holds group information joiners cannot use: repairing');
    effects.push({ kind: 'report', code: 'BAD_GROUP_INFO', error }, { kind: 'disrupted', slot: check.culprit, reason: 'bad-group-info' });
  }
  const next = effects.length === 0 ? s : { ...s, culprits: withSlot(s.culprits, check.culprit), repairNeeded: true };
  return then({ state: next, effects }, removals(next, false, env));
}

/** The relay's GroupInfo does not open or cannot be joined through: wait for a repair, re-found, or give up (membership.ts). */
function groupInfoUnusable(s: MembershipState, e: Extract<MembershipEvent, { type: 'group-info-unusable' }>, env: StepEnv): Step {
  const since = s.badInfo?.since ?? env.now;
  const attempts = s.badInfo?.attempts ?? 0;
  const d = decideBadGroupInfo(
    { now: env.now, since, attempts, commits: e.commits, opens: e.opens, random: env.random() },
    env.timings.badGroupInfoWaitMs,
  );
  if (d.kind === 'fail') {
    const why = e.error instanceof Error ? e.error.message : 'join failed';
    return { state: { ...s, badInfo: { since, attempts } }, effects: [{ kind: 'fail-join', error: joinFailed(why, e.error) }] };
  }
  return {
    state: { ...s, badInfo: { since, attempts: d.refound ? attempts : attempts + 1 } },
    effects: [
      { kind: 'report', code: 'BAD_GROUP_INFO', error: e.error },
      { kind: 'emit', name: 'repair-wait', data: { since } },
      { kind: 'after', ms: d.delayMs, event: { type: 'repair-retry', refound: d.refound, commits: e.commits } },
    ],
  };
}

/** Since when the relay's GroupInfo has failed this join (now, if this is the first time). */
export function badInfoSince(s: MembershipState, now: number): number {
  return s.badInfo?.since ?? now;
}

/** Our pending commit was accepted: the relay's count moves (a join takes the count it committed at). */
function acked(s: MembershipState): Step {
  const p = s.pending;
  if (p === undefined) return none(s);
  if (p.kind === 'remove') {
    // Our commit stored a GroupInfo of our new state: no repair is due any more.
    return none({ ...s, pending: undefined, commits: asEpoch(s.commits + 1), repairNeeded: false });
  }
  return {
    state: { ...s, pending: undefined, commits: p.commits },
    effects: [{ kind: 'named', nick: p.kind === 'join' ? p.nick : undefined, created: p.kind === 'create' }],
  };
}

/** Our accepted commit's state is ours now: tell who left, or, joining, that we joined. */
function adopted(s: MembershipState, p: Pending, env: StepEnv): Step {
  if (p.kind === 'remove') {
    const effects: MembershipEffect[] = p.removed.map((m) => ({
      kind: 'emit',
      name: 'member-left',
      data: { nick: m.nick, identity: toHex(m.identityKey) },
    }));
    return pumped(then({ state: s, effects }, removals(s, false, env)));
  }
  const generation = s.selfUpdate + 1;
  const next: MembershipState = { ...s, phase: 'joined', selfUpdate: generation };
  const effects: MembershipEffect[] = [
    ...(s.phase === 'joined' ? [] : [{ kind: 'phase-changed', phase: 'joined' } as const]),
    { kind: 'after', ms: selfUpdateDelay(env.timings, s.members.length, env.random()), event: { type: 'self-update-due', generation } },
  ];
  if (p.kind === 'join') effects.push({ kind: 'probe-leaves' });
  effects.push({ kind: 'joined' });
  return pumped(then({ state: next, effects }, removals(next, false, env)));
}

/** Our commit (or CREATE) was refused: a removal looks again; a join retries after a lost race, or fails. */
function refused(s: MembershipState, name: string, env: StepEnv): Step {
  const p = s.pending;
  if (p === undefined) return none(s);
  const next = { ...s, pending: undefined };
  if (p.kind === 'remove') {
    // Over the relay's commit rate (§4.1): look again once a token is back. Else lost the race:
    // someone else committed first; learn the relay's commit count and look again.
    if (name !== 'RATE_LIMITED') return { state: next, effects: [{ kind: 'sync' }] };
    return { state: next, effects: [{ kind: 'after', ms: COMMIT_BACKOFF_MS * (0.75 + env.random() * 0.5), event: { type: 'sync-due' } }] };
  }
  const d = decideJoinRefusal(name, s.joinAttempts, env.timings.maxJoinAttempts, env.random());
  if (d.kind === 'fail') {
    const err = new ClientError('RELAY_ERROR', `the relay refused: ${name}`, { relayCode: name });
    const error =
      d.why === 'lost-races'
        ? joinFailed('gave up after repeated lost races', err, name)
        : joinFailed(`the relay refused to join: ${name}`, err, name);
    return { state: next, effects: [{ kind: 'fail-join', error }] };
  }
  // Not a sleep on the queue: other frames go on while we wait.
  return { state: { ...next, joinAttempts: s.joinAttempts + 1 }, effects: [{ kind: 'after', ms: d.delayMs, event: { type: 'sync-due' } }] };
}

/** A commit reached the room's stream: the relay's count moves, whatever it holds. */
function delivered(s: MembershipState, commits: RelayEpoch): Step {
  if (s.phase !== 'joined') return none(s);
  const count = asEpoch(commits + 1);
  // This commit stored its own GroupInfo: an answer to a check we sent for an earlier one would
  // describe this commit's, and blame the wrong member. Processing it may start a new check.
  const next: MembershipState = { ...s, commits: count, check: undefined };
  // Our unacknowledged messages were sequenced after this commit: re-sent in the new epoch.
  const effects: MembershipEffect[] = [{ kind: 'commit-sequenced', commits: count }];
  if (s.pending?.kind !== 'remove') return { state: next, effects };
  // Ours lost the race: its STALE_EPOCH follows and is expected. Look again once this one is applied.
  effects.push({ kind: 'abandon', reqId: s.pending.reqId });
  return { state: { ...next, pending: undefined }, effects };
}

/** Another member's valid commit: tell who came and went, check the GroupInfo it stored if it is our turn. */
function valid(s: MembershipState, e: Extract<MembershipEvent, { type: 'commit-valid' }>, env: StepEnv): Step {
  let next: MembershipState = { ...s, repairNeeded: false }; // a valid commit stored a new GroupInfo (checked below)
  const effects: MembershipEffect[] = [
    ...e.removed.map(
      (m): MembershipEffect => ({ kind: 'emit', name: 'member-left', data: { nick: m.nick, identity: toHex(m.identityKey) } }),
    ),
    ...e.added.map((m): MembershipEffect => ({ kind: 'emit', name: 'member-joined', data: { nick: m.nick } })),
    { kind: 'check-trust' },
  ];
  if (checksGroupInfo(view(next), e.from)) {
    next = { ...next, check: { why: 'after-commit', culprit: e.from, reason: 'bad-group-info' } };
    effects.push({ kind: 'sync' });
  }
  return pumped(then({ state: next, effects }, removals(next, false, env)));
}

/**
 * A void commit (§4.3): we keep our MLS state (only the relay's count moved), name the culprit,
 * and repair. One framed for another MLS epoch than ours may mean that we are the ones out of
 * step: check the relay's GroupInfo first.
 */
function voided(s: MembershipState, e: Extract<MembershipEvent, { type: 'commit-void' }>, env: StepEnv): Step {
  const report: MembershipEffect = { kind: 'report', code: voidCode[e.reason], error: e.error };
  // The first commit of the room may be a re-founding: if so, we (the creator) join the new group.
  if (e.foreign) return { state: s, effects: [report, { kind: 'rejoin' }] };
  if (e.outOfStep) {
    const next = { ...s, check: { why: 'out-of-step', culprit: e.from, reason: e.reason } as const };
    return { state: next, effects: [report, { kind: 'sync' }, { kind: 'pump' }] };
  }
  const next = { ...s, culprits: withSlot(s.culprits, e.from), repairNeeded: true };
  return pumped(
    then({ state: next, effects: [report, { kind: 'disrupted', slot: e.from, reason: e.reason }] }, removals(next, false, env)),
  );
}

/** A self-update is due: arm the next one, and commit one unless a commit of ours is in flight. */
function selfUpdateDue(s: MembershipState, generation: number, env: StepEnv): Step {
  if (generation !== s.selfUpdate || s.phase !== 'joined') return none(s);
  const next = { ...s, selfUpdate: generation + 1 };
  const ms = selfUpdateDelay(env.timings, s.members.length, env.random());
  const effects: MembershipEffect[] = [{ kind: 'after', ms, event: { type: 'self-update-due', generation: generation + 1 } }];
  if (s.pending === undefined) effects.push({ kind: 'commit', targets: [], commits: s.commits });
  return { state: next, effects };
}

/** Removes departed members and culprits (or repairs), at once or after the grace period (membership.ts). */
function removals(s: MembershipState, force: boolean, env: StepEnv): Step {
  if (s.phase !== 'joined' || s.pending !== undefined) return none(s);
  const d = decideRemoval(view(s), force);
  if (d.kind === 'commit') return { state: s, effects: [{ kind: 'commit', targets: d.targets, commits: s.commits }] };
  if (d.kind === 'none' || s.removalArmed) return none(s);
  const grace = env.timings.removalGraceMs;
  return {
    state: { ...s, removalArmed: true },
    effects: [{ kind: 'after', ms: grace + env.random() * grace, event: { type: 'removal-due' } }],
  };
}

/** `first`'s effects, then `second`'s, which was computed from `first`'s state: its state is the result. */
function then(first: Step, second: Step): Step {
  return { state: second.state, effects: [...first.effects, ...second.effects] };
}

/** `s`, then let the outbox send what waited. */
function pumped(s: Step): Step {
  return { state: s.state, effects: [...s.effects, { kind: 'pump' }] };
}

function view(s: MembershipState) {
  return { members: s.members, gone: s.gone, culprits: s.culprits, repairNeeded: s.repairNeeded };
}
