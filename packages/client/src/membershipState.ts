/**
 * The data of the membership state machine (membershipMachine.ts): its state, the events it
 * steps on and the effects it asks its shell (roomMembership.ts) to carry out. All of it is plain
 * data; MLS states ride along in `Pending` as values the machine never looks into.
 */
import type { Member, RoomState } from '@nullroom/crypto';
import { type GroupStatusValue, type RelayEpoch, type ReqId, type Slot, asEpoch } from '@nullroom/protocol';
import type { ClientError, ClientErrorCode } from './errors.js';
import type { DisruptionReason, RoomEvents, RoomPhase, RoomTimings } from './roomTypes.js';

/** A commit of ours in flight: applied on ACK. */
export type Pending =
  | { kind: 'create'; reqId: ReqId; state: RoomState; commits: RelayEpoch }
  | { kind: 'join'; reqId: ReqId; state: RoomState; commits: RelayEpoch; nick: string }
  | { kind: 'remove'; reqId: ReqId; state: RoomState; removed: Member[]; consumed: Uint8Array[]; message: Uint8Array };

/** A SYNC sent to check the relay's GroupInfo (§4.3), and why: its GROUP_STATE answers it. */
export type GroupInfoCheck = { why: 'after-commit' | 'out-of-step'; culprit: number; reason: DisruptionReason };

/** What `checkGroupInfo` found (crypto): ours, another state of our group, foreign, or unusable. */
export type GroupInfoVerdict = 'ours' | 'other' | 'foreign' | 'bad';

export interface MembershipState {
  readonly phase: RoomPhase;
  /** Our connection's slot in the room, from JOINED. */
  readonly slot: Slot | undefined;
  /** The relay's commit count: the `epoch` the next commit must name. */
  readonly commits: RelayEpoch;
  /** The members of our group state, us included. */
  readonly members: readonly Member[];
  readonly pending: Pending | undefined;
  /** Refused joins (lost races) in a row. */
  readonly joinAttempts: number;
  /** Slots whose connection the relay reported gone. */
  readonly gone: ReadonlySet<number>;
  /** Slots that disrupted the room: removed by the next repair if members. */
  readonly culprits: ReadonlySet<number>;
  /** The relay stores a GroupInfo joiners cannot use: commit a repair. */
  readonly repairNeeded: boolean;
  readonly check: GroupInfoCheck | undefined;
  /** Joining: when the relay's GroupInfo first failed us, and the retries since. */
  readonly badInfo: { since: number; attempts: number } | undefined;
  /** A removal grace timer is running. */
  readonly removalArmed: boolean;
  /** The self-update timer's generation: an older one that fires is ignored. */
  readonly selfUpdate: number;
}

export type MembershipEvent =
  /** The relay's JOINED: our slot. */
  | { type: 'slot'; slot: Slot }
  /** The relay's GROUP_STATE (an answer to JOIN or SYNC). */
  | { type: 'group-state'; status: GroupStatusValue; commits: RelayEpoch; groupInfo: Uint8Array }
  /** Joining: the relay's GroupInfo could not be used (`opens`: whether it opens at all). */
  | { type: 'group-info-unusable'; error: unknown; commits: RelayEpoch; opens: boolean }
  /** Joining: the wait before asking again for a GroupInfo (or re-founding) is over. */
  | { type: 'repair-retry'; refound: boolean; commits: RelayEpoch }
  /** A commit (or CREATE) of ours went to the relay. */
  | { type: 'commit-sent'; pending: Pending }
  /** The relay acknowledged our pending commit (the shell adopts its MLS state). */
  | { type: 'commit-acked' }
  /** The members of the group state we now hold (read by the shell from the MLS state). */
  | { type: 'members'; members: readonly Member[] }
  /** Our acknowledged commit's state is adopted (and, joining, its members' keys checked). */
  | { type: 'commit-adopted'; pending: Pending }
  /** The relay refused our pending commit (or CREATE). */
  | { type: 'commit-refused'; name: string }
  /** The relay refused one of our SYNCs. */
  | { type: 'sync-refused'; name: string }
  /** The relay refused the JOIN of this stay. */
  | { type: 'join-refused'; name: string; why: string }
  /** A commit delivered in the room's stream at relay commit count `commits` (before processing). */
  | { type: 'commit-delivered'; commits: RelayEpoch }
  /** The delivered commit was valid (processed by the shell). */
  | { type: 'commit-valid'; from: number; added: readonly Member[]; removed: readonly Member[] }
  /** The delivered commit removed us. */
  | { type: 'removed-self' }
  /** The delivered commit is void; `foreign`: it re-founded the room; `outOfStep`: framed for another MLS epoch than ours. */
  | { type: 'commit-void'; from: number; reason: DisruptionReason; error: unknown; foreign: boolean; outOfStep: boolean }
  /** What a GroupInfo check found (crypto). */
  | { type: 'group-info-checked'; check: GroupInfoCheck; verdict: GroupInfoVerdict }
  /** The relay reported a member's connection gone (PEER_GONE): remove it. */
  | { type: 'member-gone'; slot: number }
  /** A leaf probe was answered NO_SUCH_PEER: its member is gone (recorded at once; `removal-check` follows on the queue). */
  | { type: 'probe-failed'; slot: number }
  /** Look whether a removal is due. */
  | { type: 'removal-check' }
  /** A wait before asking the relay again (SYNC) is over. */
  | { type: 'sync-due' }
  /** The removal grace period is over. */
  | { type: 'removal-due' }
  /** A self-update timer fired. */
  | { type: 'self-update-due'; generation: number }
  /** A saved stay was taken up (Room.restore): suspended at this slot, count and members, to be resumed. */
  | { type: 'restored'; slot: Slot; commits: RelayEpoch; members: readonly Member[] }
  /** The connection dropped while joined: keep the stay (group state, slot, pending commit) to resume it (§4.5). */
  | { type: 'suspended' }
  /** The relay gave our slot back (RESUMED): joined again, its missed deliveries follow. */
  | { type: 'resumed' }
  /** The missed deliveries were read: a commit of ours not among them was not accepted; look again. */
  | { type: 'replayed' }
  /** The stay ended (left, disconnected, rejoining): forget it, keep the phase until `phase` says otherwise. */
  | { type: 'stay-ended' }
  /** The phase changed (leave requested and done, disconnected, joining again). */
  | { type: 'phase'; phase: RoomPhase };

type Emit = { [K in keyof RoomEvents]: { kind: 'emit'; name: K; data: RoomEvents[K] } }[keyof RoomEvents];

export type MembershipEffect =
  /** Create the group: CREATE, or re-founding, COMMIT{epoch `commits`}; then `commit-sent`. */
  | { kind: 'found'; refound: boolean; commits: RelayEpoch }
  /** Join through an external commit on this GroupInfo; then `commit-sent` or `group-info-unusable`. */
  | { kind: 'join-external'; groupInfo: Uint8Array; commits: RelayEpoch }
  /** Commit the removal of `targets` (none: a self-update or repair) at `commits`; then `commit-sent`. */
  | { kind: 'commit'; targets: Member[]; commits: RelayEpoch }
  /** Check the relay's GroupInfo; then `group-info-checked`. */
  | { kind: 'check-group-info'; check: GroupInfoCheck; groupInfo: Uint8Array }
  /** Ask the relay for the room's state (SYNC). */
  | { kind: 'sync' }
  /** Step `event` after `ms` (on the queue, unless the room was left). */
  | { kind: 'after'; ms: number; event: MembershipEvent }
  /** Joined: under this nickname (undefined: the one we have), as the creator or not. */
  | { kind: 'named'; nick: string | undefined; created: boolean }
  /** Joined: tell the app, resolve the join waiters. */
  | { kind: 'joined' }
  /** Check the members' identity keys against the key store (trust.ts). */
  | { kind: 'check-trust' }
  /** Probe every other leaf for departures nobody told us of (§4.3 "Departures"). */
  | { kind: 'probe-leaves' }
  /** Our messages not yet acknowledged were sequenced after a commit: re-sent at `commits`. */
  | { kind: 'commit-sequenced'; commits: RelayEpoch }
  /** Forget the frame `reqId` (a commit of ours that lost the race). */
  | { kind: 'abandon'; reqId: ReqId }
  /** Let the outbox send what waited. */
  | { kind: 'pump' }
  /** Record a disruption by `slot` and tell the app. */
  | { kind: 'disrupted'; slot: number; reason: DisruptionReason }
  /** Leave our leaf behind and join again with a fresh one. */
  | { kind: 'rejoin' }
  | { kind: 'fail-join'; error: ClientError }
  | { kind: 'report'; code: ClientErrorCode; error: unknown; relayCode?: string }
  | { kind: 'phase-changed'; phase: RoomPhase }
  | Emit;

export type Step = { state: MembershipState; effects: MembershipEffect[] };

/** What a step may read besides the state and the event: the timings, the clock and a random source in [0, 1). */
export interface StepEnv {
  readonly timings: RoomTimings;
  readonly now: number;
  readonly random: () => number;
}

/** The state of a room that has not joined yet (or whose stay ended). */
export function initialMembership(phase: RoomPhase = 'joining'): MembershipState {
  return {
    phase,
    slot: undefined,
    commits: asEpoch(0),
    members: [],
    pending: undefined,
    joinAttempts: 0,
    gone: new Set(),
    culprits: new Set(),
    repairNeeded: false,
    check: undefined,
    badInfo: undefined,
    removalArmed: false,
    selfUpdate: 0,
  };
}
