/**
 * The membership decisions of a conversation's MLS group (docs/PROTOCOL.md §4.3), as pure
 * functions of its state and an event: who removes departed members and culprits (and when), who
 * checks a GroupInfo, what a refused join does next, how long a joiner waits for a repair, when the
 * next self-update is due, and how disruptions are counted. They do no I/O and keep no timers: the
 * state machine (membershipMachine.ts) asks them and turns the decision into effects (send the
 * commit, start the timer) that the Room shell carries out.
 *
 * Two numbers are never mixed up here: the *relay commit count* (`commits`, what the relay's frames
 * call `epoch`: how many commits the relay accepted) and the *MLS epoch* (`epoch`, of the group
 * state). A void commit moves the first and not the second (§4.3 "Void commits").
 */
import type { Member } from '@nullroom/crypto';
import { CryptoError } from '@nullroom/crypto';
import type { RoomTimings, DisruptionReason } from './roomTypes.js';

/** What a member knows of who should leave the group. */
export interface MembershipView {
  members: readonly Member[];
  /** Slots whose connection the relay reported gone (PEER_GONE, or a probe answered NO_SUCH_PEER). */
  gone: ReadonlySet<number>;
  /** Slots that disrupted the room (void commits, bad GroupInfos). */
  culprits: ReadonlySet<number>;
  /** The relay stores a GroupInfo joiners cannot use: a commit (a repair) is due even with nobody to remove. */
  repairNeeded: boolean;
}

export type RemovalDecision =
  /** Nothing to do. */
  | { kind: 'none' }
  /** Commit now, removing `targets` (none: a self-update that stores a fresh GroupInfo). */
  | { kind: 'commit'; targets: Member[] }
  /** Another member is designated: commit only if it has not after the grace period. */
  | { kind: 'grace' };

/**
 * Departed members and culprits are removed by one commit. The member with the lowest leaf among
 * those staying does it at once; the others after a grace period (`force` once it passed).
 */
export function decideRemoval(v: MembershipView, force: boolean): RemovalDecision {
  const out = (m: Member) => v.gone.has(m.slot) || v.culprits.has(m.slot);
  const targets = v.members.filter((m) => !m.self && out(m));
  if (targets.length === 0 && !v.repairNeeded) return { kind: 'none' };
  const staying = v.members.filter((m) => m.self || !out(m));
  const designated = staying.reduce((a, b) => (b.leaf < a.leaf ? b : a));
  return designated.self || force ? { kind: 'commit', targets } : { kind: 'grace' };
}

/**
 * After a valid commit by another member, one member checks the GroupInfo it stored: the member
 * with the lowest leaf among those staying, the committer excluded (it may be the culprit).
 */
export function checksGroupInfo(v: MembershipView, committer: number): boolean {
  const candidates = v.members.filter((m) => m.self || (m.slot !== committer && !v.gone.has(m.slot) && !v.culprits.has(m.slot)));
  const checker = candidates.reduce<Member | undefined>((a, b) => (a === undefined || b.leaf < a.leaf ? b : a), undefined);
  return checker?.self === true;
}

/**
 * The delay to the next self-update: `selfUpdateMs` jittered by ±20%, spaced out in big rooms so
 * that the room as a whole sees about one every `selfUpdatePerMemberMs` at most. `random` in [0, 1).
 */
export function selfUpdateDelay(
  t: Pick<RoomTimings, 'selfUpdateMs' | 'selfUpdatePerMemberMs'>,
  memberCount: number,
  random: number,
): number {
  const base = Math.max(t.selfUpdateMs, memberCount * t.selfUpdatePerMemberMs);
  return base * (0.8 + random * 0.4);
}

export type JoinRefusal =
  /** Lost a race (or over the commit rate): SYNC again after `delayMs` and use the newer GroupInfo. */
  | { kind: 'retry'; delayMs: number }
  /** Give up: JOIN_FAILED. */
  | { kind: 'fail'; why: 'lost-races' | 'refused' };

/** A join's commit (or CREATE) was refused with `relayCode`, after `attempts` earlier refusals. */
export function decideJoinRefusal(relayCode: string, attempts: number, maxAttempts: number, random: number): JoinRefusal {
  if (relayCode !== 'STALE_EPOCH' && relayCode !== 'NOT_CREATOR' && relayCode !== 'RATE_LIMITED') return { kind: 'fail', why: 'refused' };
  if (attempts + 1 > maxAttempts) return { kind: 'fail', why: 'lost-races' };
  return { kind: 'retry', delayMs: random * 20 * Math.min(attempts + 1, 10) };
}

export type BadGroupInfoDecision = { kind: 'fail' } | { kind: 'retry'; delayMs: number; refound: boolean };

/**
 * A joiner could not use the relay's GroupInfo: ask again with backoff (0.1 s doubling to 2 s,
 * jittered to 50-100%) until `badGroupInfoWaitMs` after the first failure (`since`), then fail. If
 * no commit was ever accepted and the GroupInfo does not even open (`opens` false at commit
 * count 0), nobody can repair it: found the group anew after a random 0-500 ms (§4.3 "Re-founding").
 */
export function decideBadGroupInfo(
  o: { now: number; since: number; attempts: number; commits: number; opens: boolean; random: number },
  waitMs: number,
): BadGroupInfoDecision {
  if (o.now - o.since >= waitMs) return { kind: 'fail' };
  const refound = o.commits === 0 && !o.opens;
  const delayMs = refound ? o.random * 500 : Math.min(2000, 100 * 2 ** o.attempts) * (0.5 + o.random / 2);
  return { kind: 'retry', delayMs, refound };
}

/** Why a commit is void, from what processing it threw (§4.3 "Void commits"). */
export function voidReason(e: unknown): DisruptionReason {
  if (e instanceof CryptoError && e.code === 'FORBIDDEN_PROPOSAL') return 'forbidden-proposal';
  if (e instanceof CryptoError && e.code === 'BROKEN_ROOM_RULE') return 'broken-room-rule';
  return 'bad-commit';
}

/** The error code a void commit of this reason is reported with. */
export const voidCode = {
  'bad-commit': 'BAD_COMMIT',
  'forbidden-proposal': 'FORBIDDEN_PROPOSAL',
  'broken-room-rule': 'BROKEN_ROOM_RULE',
  'bad-group-info': 'BAD_GROUP_INFO',
} as const;

const LIMIT = 4096;
/** Adds to a bounded set or map in insertion order: the oldest entry goes first. */
function bound<K>(c: Set<K> | Map<K, unknown>): void {
  if (c.size > LIMIT) c.delete(c.keys().next().value!);
}

/** Adds a slot to a bounded set of slots (gone, culprits). */
export function addSlot(set: Set<number>, slot: number): void {
  set.add(slot);
  bound(set);
}

/** A disruption as the Room reports it (the `disruption` event). */
export type Disruption = { slot: number; nick?: string; formerNick?: string; count: number; reason: DisruptionReason };

/**
 * Counts disruptions per identity key (hex) while the culprit is or was a member, else per slot,
 * and remembers the last nickname of each key that disrupted as a member (`formerNick`). Bounded
 * to 4096 entries each. Lives as long as its Room (not reset on rejoin).
 */
export class DisruptionLedger {
  readonly #keyOfSlot = new Map<number, string>();
  readonly #counts = new Map<string, number>();
  readonly #nicks = new Map<string, string>();

  /** Records one disruption by `slot`; `member` is the member holding it now, if any. */
  record(slot: number, reason: DisruptionReason, member: { nick: string; key: string } | undefined): Disruption {
    // Counted per identity key, also once the repair removed that member's leaf.
    const who = member === undefined ? (this.#keyOfSlot.get(slot) ?? `slot:${slot}`) : member.key;
    this.#keyOfSlot.set(slot, who);
    bound(this.#keyOfSlot);
    const count = (this.#counts.get(who) ?? 0) + 1;
    this.#counts.set(who, count);
    bound(this.#counts);
    if (member !== undefined) {
      this.#nicks.delete(who); // re-inserted: the most recent stays longest
      this.#nicks.set(who, member.nick);
      bound(this.#nicks);
      return { slot, nick: member.nick, count, reason };
    }
    const formerNick = this.#nicks.get(who);
    return formerNick === undefined ? { slot, count, reason } : { slot, formerNick, count, reason };
  }
}
