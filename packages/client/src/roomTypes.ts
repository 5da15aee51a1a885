/**
 * The types a Room shares with its parts and its callers: its phases, its events and its timings.
 */
import type { ClientErrorCode } from './errors.js';
import type { ForkSuspected } from './forkWatch.js';
import type { ChatEvents } from './chatLog.js';

export type RoomPhase = 'joining' | 'joined' | 'reconnecting' | 'left';

/** `message`, `reaction`, `edited`, `deleted`, `typing`: everyday chat (chatLog.ts). */
export interface RoomEvents extends Record<string, unknown>, ChatEvents {
  joined: { created: boolean; nick: string; members: string[]; rejoin: boolean };
  'member-joined': { nick: string };
  /** A member left (or its connection was gone for good and it was removed); `identity`: its identity key (hex). */
  'member-left': { nick: string; identity: string };
  /** A member uses another identity key than the one we saw under this nickname before: warn the user. */
  'key-changed': { nick: string; wasVerified: boolean };
  /** A member's verification state changed (`trust(nick)`). */
  trust: { nick: string };
  /** The relay acknowledged our message `id` (it is in the room's stream now). */
  sent: { id: string };
  /**
   * Our message `id` will not be sent: SEND_TIMED_OUT (not acknowledged within `sendTimeoutMs`,
   * e.g. the relay was unreachable that long), NOT_JOINED (the room was left first), INTERNAL (it
   * could not be encrypted). `room.retry(id)` queues it again.
   */
  unsent: { id: string; code: ClientErrorCode; message: string };
  /**
   * A member (or a connection that never became one) disrupted the room: a void commit, a join
   * that broke a room rule, or a GroupInfo joiners cannot use (docs/PROTOCOL.md §4.3). The room
   * repaired itself (and removed the member, if it was one); `count` counts this identity key's (or,
   * for a non-member, this slot's) disruptions since this Room was made. `nick` only when it is a member;
   * `formerNick` when it is not, but its identity key was a member's that disrupted before (the
   * repair removed it): the last nickname that key had here.
   */
  disruption: { slot: number; nick?: string; formerNick?: string; count: number; reason: DisruptionReason };
  error: { code: ClientErrorCode; message: string; relayCode?: string };
  /**
   * Joining (or rejoining): the relay's group information does not open or cannot be joined
   * through, so the room waits for the members to repair it (docs/PROTOCOL.md §4.3), retrying
   * until `badGroupInfoWaitMs` after `since`. Once per retry, beside the BAD_GROUP_INFO `error`;
   * unlike `error` it is not held for a later listener, so an app can show the wait while joining.
   */
  'repair-wait': { since: number };
  phase: { phase: RoomPhase };
  /** Messages stopped decrypting in a way only a split room explains (forkWatch.ts): compare room fingerprints out of band. */
  'fork-suspected': ForkSuspected;
}

export type DisruptionReason = 'bad-commit' | 'forbidden-proposal' | 'broken-room-rule' | 'bad-group-info';

export interface RoomTimings {
  /** Application frames sent but not yet acknowledged, at most. */
  sendWindow: number;
  /** Application frames per second we send at most (kept under the relay's default limit of 100/s)... */
  sendRate: number;
  /** ...with this burst. */
  sendBurst: number;
  /** How long a member that is not the designated remover waits before removing a departed member itself. */
  removalGraceMs: number;
  /**
   * A member commits a self-update (fresh path keys) this often, jittered by ±20% and never more
   * often than once per (members × 2 s), so that a stolen key stops working even in a room whose
   * membership never changes (post-compromise security).
   */
  selfUpdateMs: number;
  /** ...and at most once per (members × this) in big rooms. */
  selfUpdatePerMemberMs: number;
  /**
   * A message not acknowledged this long after it was queued (the connection down, the room not
   * joined) is given up and reported `unsent`; one in flight then waits for its answer.
   */
  sendTimeoutMs: number;
  /** Lost commit races we tolerate in a row before giving up on a join. */
  maxJoinAttempts: number;
  /**
   * How long a joiner keeps retrying (SYNC, with backoff) while the relay's GroupInfo does not
   * open or cannot be joined through, waiting for the members to repair it, before JOIN_FAILED.
   */
  badGroupInfoWaitMs: number;
}
export const defaultRoomTimings: RoomTimings = {
  sendWindow: 32,
  sendRate: 80,
  sendBurst: 150,
  sendTimeoutMs: 120_000,
  removalGraceMs: 1500,
  selfUpdateMs: 10 * 60_000,
  selfUpdatePerMemberMs: 2000,
  maxJoinAttempts: 60,
  badGroupInfoWaitMs: 30_000,
};
