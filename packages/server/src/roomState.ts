/**
 * What the relay keeps per room (docs/PROTOCOL.md §4.2, §4.5): the record, who holds which slot,
 * the away slots, and the stored GroupInfos with their budget and their encoded GROUP_STATE.
 * Split from rooms.ts, which applies the delivery-service rules to these records.
 */
import { GroupStatus, type RelayEpoch, type RoomLocator, type Seq, type Slot, asEpoch, asSeq, encodeFrame } from '@nullroom/protocol';
import type { Account } from './budget.js';
import type { RelayLimits } from './limits.js';
import type { MembershipTable } from './memberships.js';
import { RoomLog } from './roomLog.js';

/** One connection, as the room logic sees it. */
export interface Peer {
  readonly id: number;
  /**
   * Sends one encoded frame. The same buffer may be handed to many peers: it must not be modified.
   * False when the connection is no longer open (closing or closed): nothing was written.
   * `onWritten` runs once the bytes have left for the network (never, if the connection closes first).
   */
  send(bytes: Uint8Array, onWritten?: () => void): boolean;
  /** Rooms this peer is in: locator key -> membership (a Map, or Memberships in less memory). */
  readonly memberships: MembershipTable;
  /** What its address holds (per-address caps); absent: no per-address accounting. */
  readonly account?: Account;
  /**
   * Takes a token from the connection's and its address's commit buckets (limits.commitBurst...);
   * false: refuse the COMMIT with RATE_LIMITED. Absent: commits are not rate limited. With
   * `address` false, only the connection's (relay nodes take the address's in Redis).
   */
  takeCommit?(address?: boolean): boolean;
  /** Gives the connection's commit token back (the address's bucket, taken after it, was empty). */
  refundCommit?(): void;
}

/** One connection's stay in one room (a RESUME starts a new stay on the slot). */
export interface Membership {
  room: RoomRecord;
  slot: Slot;
  /** A GROUP_STATE for this room is queued for the peer and not yet written: it answers a SYNC too. */
  statePending: boolean;
}

/** A slot whose connection was lost without LEAVE (docs/PROTOCOL.md §4.5). */
export interface AwaySlot {
  /** When its grace period ends (Date.now() ms). */
  readonly until: number;
  /** The address its membership is still charged to (released at expiry or RESUME). */
  readonly account: Account | undefined;
  /** The room's `seq` when it went away: the most it can have read. */
  readonly seq: number;
}

export interface RoomRecord {
  readonly key: string;
  readonly locator: RoomLocator;
  /** Slots held by a connection now. */
  readonly subscribers: Map<Slot, Peer>;
  /** Slots whose connection was lost, resumable until their grace period ends (changed by setAway, deleteAway). */
  away: ReadonlyMap<Slot, AwaySlot>;
  /**
   * SHA-256 of the resume token of every live or away slot, as a latin1 string (one byte per
   * character, tokenKey in roomResume.ts): ~50 bytes a slot, against ~250 for a Uint8Array.
   */
  readonly tokens: Map<Slot, string>;
  readonly log: RoomLog;
  nextSlot: number;
  epoch: RelayEpoch;
  seq: Seq;
  groupInfo: Uint8Array | undefined;
  /** Who is charged for `groupInfo` (the address that uploaded it), and how much. */
  groupInfoOwner: Account | undefined;
  groupInfoCharge: number;
  /** The encoded READY GROUP_STATE for `seq`, handed as the same buffer to every asker. */
  ready: Uint8Array | undefined;
  readySeq: Seq;
  creator: Slot | undefined;
  /** The creator's deadline (limits.createTimeoutMs); when it passes, creation is open. */
  createTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * The creator missed its deadline: every subscriber, present or to come, is told CREATE, and the
   * first CREATE wins (the others get NOT_CREATOR, as in any lost race). A locator holder that
   * never creates thus delays a room by one deadline, however many connections it holds there.
   */
  createOpen: boolean;
}

export type RoomLimits = Pick<
  RelayLimits,
  | 'maxMembersPerRoom'
  | 'maxRoomsPerConnection'
  | 'maxRoomsPerAddress'
  | 'maxGroupInfoBytes'
  | 'maxGroupInfoBytesPerAddress'
  | 'newRoomBurst'
  | 'newRoomIntervalMs'
  | 'createTimeoutMs'
  | 'resumeGraceMs'
  | 'pingIntervalMs'
  | 'maxLogBytesPerRoom'
  | 'maxLogBytes'
>;

/**
 * A real copy. Frames arrive as views into the socket's read buffer (a Node Buffer, whose `slice`
 * is a view too): what the relay keeps must not alias, nor pin, that buffer.
 */
export const copy = (b: Uint8Array): Uint8Array => new Uint8Array(b);

/** A room record with no slot and no group yet; `dropped`: its log's trim point (see RoomLog). */
export function newRoom(key: string, locator: Uint8Array, dropped = 0): RoomRecord {
  return {
    key,
    locator: copy(locator) as RoomLocator,
    subscribers: new Map(),
    away: NO_AWAY,
    tokens: new Map(),
    log: new RoomLog(key, dropped),
    nextSlot: 1,
    epoch: asEpoch(0),
    seq: asSeq(0),
    groupInfo: undefined,
    groupInfoOwner: undefined,
    groupInfoCharge: 0,
    ready: undefined,
    readySeq: asSeq(0),
    creator: undefined,
    createTimer: undefined,
    createOpen: false,
  };
}

/** The away slots of a room that has none: one empty table for all (most rooms have none, most of the time). */
const NO_AWAY: ReadonlyMap<Slot, AwaySlot> = new Map();

/** A slot goes away (or is restored away): the room's own table is made for its first one. */
export function setAway(room: RoomRecord, slot: Slot, a: AwaySlot): void {
  if (room.away === NO_AWAY) room.away = new Map();
  (room.away as Map<Slot, AwaySlot>).set(slot, a);
}

/** An away slot resumed or expired: the table goes with the last one. */
export function deleteAway(room: RoomRecord, slot: Slot): void {
  if (!room.away.has(slot)) return;
  const away = room.away as Map<Slot, AwaySlot>;
  away.delete(slot);
  if (away.size === 0) room.away = NO_AWAY;
}

/** Slots in the room, held or away: what ROOM_FULL and JOINED.members count. */
export const slotCount = (room: RoomRecord): number => room.subscribers.size + room.away.size;

const EMPTY = new Uint8Array(0);

/** The stored GroupInfos of all rooms, their budget (docs/PROTOCOL.md §4.1) and their READY frames. */
export class GroupInfos {
  /** Bytes charged for stored GroupInfos, all rooms together (see set). */
  total = 0;

  constructor(
    private readonly limits: Pick<RelayLimits, 'maxGroupInfoBytes' | 'maxGroupInfoBytesPerAddress'>,
    private readonly wrap: (frame: Uint8Array) => Uint8Array,
  ) {}

  /**
   * Stores a room's new GroupInfo if the budgets allow it: charged twice its size (the stored copy,
   * and the READY answer encoded from it), to the global budget and to the uploader's address,
   * whose charge for the room's previous GroupInfo is released. False: refuse (OVER_BUDGET).
   * `force`: charged even past the budgets (a room restored from the store).
   */
  set(room: RoomRecord, gi: Uint8Array, owner: Account | undefined, force = false): boolean {
    const charge = 2 * gi.byteLength;
    const old = room.groupInfoCharge;
    if (!force && this.total - old + charge > this.limits.maxGroupInfoBytes) return false;
    if (
      !force &&
      owner !== undefined &&
      owner.groupInfoBytes - (room.groupInfoOwner === owner ? old : 0) + charge > this.limits.maxGroupInfoBytesPerAddress
    )
      return false;
    this.release(room);
    room.groupInfo = copy(gi); // the frame is a view into a buffer we do not own
    room.groupInfoOwner = owner;
    room.groupInfoCharge = charge;
    this.total += charge;
    if (owner !== undefined) owner.groupInfoBytes += charge;
    return true;
  }

  release(room: RoomRecord): void {
    this.total -= room.groupInfoCharge;
    if (room.groupInfoOwner !== undefined) room.groupInfoOwner.groupInfoBytes -= room.groupInfoCharge;
    room.groupInfo = undefined;
    room.groupInfoOwner = undefined;
    room.groupInfoCharge = 0;
    room.ready = undefined;
  }

  /** The room's GROUP_STATE for `slot`, as it is now. */
  stateFrame(room: RoomRecord, slot: Slot): Uint8Array {
    if (room.groupInfo !== undefined) {
      // READY carries the GroupInfo (up to ~2 MiB): encoded once per (GroupInfo, seq) and the same
      // buffer handed to every JOIN and SYNC, never a copy per asker.
      if (room.ready === undefined || room.readySeq !== room.seq) {
        room.ready = this.wrap(
          encodeFrame({
            type: 'GROUP_STATE',
            room: room.locator,
            status: GroupStatus.READY,
            epoch: room.epoch,
            seq: room.seq,
            groupInfo: room.groupInfo,
          }),
        );
        room.readySeq = room.seq;
      }
      return room.ready;
    }
    const status = room.createOpen || room.creator === slot ? GroupStatus.CREATE : GroupStatus.WAIT;
    return encodeFrame({ type: 'GROUP_STATE', room: room.locator, status, epoch: room.epoch, seq: room.seq, groupInfo: EMPTY });
  }
}
