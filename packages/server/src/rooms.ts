/**
 * The MLS Delivery Service rules (docs/PROTOCOL.md §4.2), independent of the transport.
 * Rooms live only in memory and vanish with their last subscriber. Payloads are opaque bytes.
 */
import {
  type ClientFrame,
  DeliveryKind,
  type DeliveryKindValue,
  type ErrorName,
  ErrorCodes,
  GroupStatus,
  type RelayEpoch,
  type ReqId,
  type RoomLocator,
  type Seq,
  type Slot,
  asEpoch,
  asReqId,
  asSeq,
  asSlot,
  encodeFrame,
  locatorKey,
  RESUME_TOKEN_BYTES,
} from '@nullroom/protocol';
import { randomBytes } from 'node:crypto';
import { type Account, takeNewRoom } from './budget.js';
import { type RelayLimits, defaultRelayLimits } from './limits.js';

/** One connection, as the room logic sees it. */
export interface Peer {
  readonly id: number;
  /**
   * Sends one encoded frame. The same buffer may be handed to many peers: it must not be modified.
   * False when the connection is no longer open (closing or closed): nothing was written.
   * `onWritten` runs once the bytes have left for the network (never, if the connection closes first).
   */
  send(bytes: Uint8Array, onWritten?: () => void): boolean;
  /** Rooms this peer is in: locator key -> membership. */
  readonly memberships: Map<string, Membership>;
  /** What its address holds (per-address caps); absent: no per-address accounting. */
  readonly account?: Account;
  /**
   * Takes a token from the connection's and its address's commit buckets (limits.commitBurst...);
   * false: refuse the COMMIT with RATE_LIMITED. Absent: commits are not rate limited.
   */
  takeCommit?(): boolean;
}

interface Membership {
  room: RoomRecord;
  slot: Slot;
  /** A GROUP_STATE for this room is queued for the peer and not yet written: it answers a SYNC too. */
  statePending: boolean;
}

interface RoomRecord {
  readonly key: string;
  readonly locator: RoomLocator;
  readonly subscribers: Map<Slot, Peer>;
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

type RoomLimits = Pick<
  RelayLimits,
  | 'maxMembersPerRoom'
  | 'maxRoomsPerConnection'
  | 'maxRoomsPerAddress'
  | 'maxGroupInfoBytes'
  | 'maxGroupInfoBytesPerAddress'
  | 'newRoomBurst'
  | 'newRoomIntervalMs'
  | 'createTimeoutMs'
>;

const EMPTY = new Uint8Array(0);
/**
 * A real copy. Frames arrive as views into the socket's read buffer (a Node Buffer, whose `slice`
 * is a view too): what the relay keeps must not alias, nor pin, that buffer.
 */
const copy = (b: Uint8Array): Uint8Array => new Uint8Array(b);

export class Rooms {
  private readonly rooms = new Map<string, RoomRecord>();
  private readonly limits: RoomLimits;
  /** Bytes charged for stored GroupInfos, all rooms together (see setGroupInfo). */
  private groupInfoTotal = 0;

  /**
   * @param wrap turns an encoded frame into what the transport sends without converting it again
   *   per recipient (the relay wraps it in a Node Buffer once, so `ws` need not do so 100 times).
   */
  constructor(
    limits: Pick<RelayLimits, 'maxMembersPerRoom' | 'maxRoomsPerConnection'> & Partial<RoomLimits>,
    private readonly wrap: (frame: Uint8Array) => Uint8Array = (f) => f,
    /** Issues blob upload tickets (tickets.ts); without it TICKET is refused with NO_BLOB_STORE. */
    private readonly tickets?: { issue(peer: Peer, stay: object, room: string): Uint8Array },
    private readonly now: () => number = () => performance.now(),
  ) {
    this.limits = { ...defaultRelayLimits, ...limits };
  }

  get size(): number {
    return this.rooms.size;
  }

  /** Bytes charged for stored GroupInfos (each counted twice: the stored copy and its encoded answer). */
  get groupInfoBytes(): number {
    return this.groupInfoTotal;
  }

  /** Stops every creator deadline (the relay is closing). */
  dispose(): void {
    for (const room of this.rooms.values()) this.disarm(room);
  }

  handle(peer: Peer, f: ClientFrame): void {
    if (f.type === 'JOIN') return this.join(peer, f.reqId, f.room);
    const key = locatorKey(f.room);
    const m = peer.memberships.get(key);
    if (m === undefined) return this.error(peer, f.reqId, 'NOT_IN_ROOM');
    const room = m.room;
    switch (f.type) {
      case 'CREATE':
        if ((room.creator !== m.slot && !room.createOpen) || room.groupInfo !== undefined) return this.error(peer, f.reqId, 'NOT_CREATOR');
        if (!this.setGroupInfo(room, f.groupInfo, peer.account)) return this.error(peer, f.reqId, 'OVER_BUDGET');
        room.creator = undefined;
        room.createOpen = false;
        this.disarm(room);
        peer.send(encodeFrame({ type: 'ACK', reqId: f.reqId, seq: room.seq }));
        this.broadcastState(room, m.slot);
        return;
      case 'COMMIT':
        if (room.groupInfo === undefined) return this.error(peer, f.reqId, 'NO_GROUP');
        // Exactly one commit per (room, epoch): the first one for the current epoch wins.
        if (f.epoch !== room.epoch) return this.error(peer, f.reqId, 'STALE_EPOCH');
        // Only a commit that would be accepted costs a token: a lost race (above) costs nothing.
        // Every accepted commit is work for every member (a garbage one: void it and repair, §4.3).
        if (peer.takeCommit !== undefined && !peer.takeCommit()) return this.error(peer, f.reqId, 'RATE_LIMITED');
        // Refused before anything is delivered: the commit and its GroupInfo are one unit.
        if (!this.setGroupInfo(room, f.groupInfo, peer.account)) return this.error(peer, f.reqId, 'OVER_BUDGET');
        this.deliver(room, m.slot, DeliveryKind.COMMIT, f.epoch, f.commit);
        room.epoch = asEpoch(room.epoch + 1);
        peer.send(encodeFrame({ type: 'ACK', reqId: f.reqId, seq: room.seq }));
        return;
      case 'APP':
        if (room.groupInfo === undefined) return this.error(peer, f.reqId, 'NO_GROUP');
        // Only for the current epoch: every member reading the stream in order is then in exactly
        // that epoch, and never needs keys of an epoch it has already left.
        if (f.epoch !== room.epoch) return this.error(peer, f.reqId, 'STALE_EPOCH');
        this.deliver(room, m.slot, DeliveryKind.APP, f.epoch, f.data);
        peer.send(encodeFrame({ type: 'ACK', reqId: f.reqId, seq: room.seq }));
        return;
      case 'DIRECT': {
        if (room.groupInfo === undefined) return this.error(peer, f.reqId, 'NO_GROUP');
        // Only to another connection of this same room: the relay learns the two slots and the size.
        const target = f.to === m.slot ? undefined : room.subscribers.get(f.to);
        if (target === undefined) return this.error(peer, f.reqId, 'NO_SUCH_PEER');
        // Not sequenced (no `seq`): it is not part of the room's stream. Written to the target's
        // socket before the ACK is written to the sender's, so an ACK means "handed to the peer's
        // live connection"; docs/PROTOCOL.md §4.4.
        // A connection already closing (its 'close' event, and PEER_GONE, still to come) gets nothing:
        // the sender is told, never acknowledged for a frame that was not written.
        if (!target.send(this.wrap(encodeFrame({ type: 'DIRECT_DELIVER', room: room.locator, from: m.slot, data: f.data })))) {
          return this.error(peer, f.reqId, 'NO_SUCH_PEER');
        }
        peer.send(encodeFrame({ type: 'ACK', reqId: f.reqId, seq: room.seq }));
        return;
      }
      case 'LEAVE':
        this.remove(peer, m);
        peer.send(encodeFrame({ type: 'ACK', reqId: f.reqId, seq: room.seq }));
        return;
      case 'SYNC':
        // Answered unless a GROUP_STATE for this room is still queued for the peer: that one is the
        // answer (docs/PROTOCOL.md §4.2), so SYNCs from a peer that does not read pin no memory.
        if (m.statePending) return;
        this.sendState(peer, m);
        return;
      case 'TICKET': {
        // For this stay in the room (`m`): it ends with LEAVE or the connection (docs/PROTOCOL.md §9.1).
        if (this.tickets === undefined) return this.error(peer, f.reqId, 'NO_BLOB_STORE');
        peer.send(encodeFrame({ type: 'TICKET_GRANT', reqId: f.reqId, room: room.locator, ticket: this.tickets.issue(peer, m, room.key) }));
        return;
      }
    }
  }

  /** The connection is gone: leave every room it was in. */
  drop(peer: Peer): void {
    for (const m of [...peer.memberships.values()]) this.remove(peer, m);
  }

  private join(peer: Peer, reqId: ReqId, locator: RoomLocator): void {
    const key = locatorKey(locator);
    const account = peer.account;
    if (peer.memberships.has(key)) return this.error(peer, reqId, 'ALREADY_IN_ROOM');
    if (peer.memberships.size >= this.limits.maxRoomsPerConnection) return this.error(peer, reqId, 'TOO_MANY_ROOMS');
    if (account !== undefined && account.memberships >= this.limits.maxRoomsPerAddress) return this.error(peer, reqId, 'ADDRESS_LIMIT');
    let room = this.rooms.get(key);
    if (room !== undefined && room.subscribers.size >= this.limits.maxMembersPerRoom) return this.error(peer, reqId, 'ROOM_FULL');
    if (room === undefined) {
      // A JOIN on a locator nobody is in: a new room, or a wrong guess at a room's name and
      // password. Rate limited per address, so online guessing costs the guesser (docs/SECURITY.md).
      if (account !== undefined && !takeNewRoom(account, this.limits, this.now())) return this.error(peer, reqId, 'TOO_MANY_NEW_ROOMS');
      room = {
        key,
        locator: copy(locator) as RoomLocator,
        subscribers: new Map(),
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
      this.rooms.set(key, room);
    }
    const slot = asSlot(room.nextSlot++);
    room.subscribers.set(slot, peer);
    const m: Membership = { room, slot, statePending: false };
    peer.memberships.set(key, m);
    if (account !== undefined) account.memberships++;
    if (room.groupInfo === undefined && room.creator === undefined && !room.createOpen) {
      room.creator = slot;
      this.arm(room);
    }
    peer.send(
      encodeFrame({
        type: 'JOINED',
        reqId,
        room: room.locator,
        slot,
        members: room.subscribers.size,
        resume: randomBytes(RESUME_TOKEN_BYTES),
      }),
    );
    this.sendState(peer, m);
  }

  private remove(peer: Peer, m: Membership): void {
    const { room, slot } = m;
    room.subscribers.delete(slot);
    peer.memberships.delete(room.key);
    if (peer.account !== undefined) peer.account.memberships--;
    if (room.subscribers.size === 0) {
      // The last member left: forget the room completely.
      this.rooms.delete(room.key);
      this.disarm(room);
      this.releaseGroupInfo(room);
      return;
    }
    const gone = encodeFrame({ type: 'PEER_GONE', room: room.locator, slot });
    for (const p of room.subscribers.values()) p.send(gone);
    if (room.creator === slot && !room.createOpen) {
      // The creator left before creating: the lowest remaining slot creates instead.
      const next = Math.min(...room.subscribers.keys()) as Slot;
      room.creator = next;
      this.arm(room);
      this.tellState(room, next);
    }
  }

  /** Starts the creator's deadline (docs/PROTOCOL.md §4.2). */
  private arm(room: RoomRecord): void {
    this.disarm(room);
    const t = setTimeout(() => this.createTimedOut(room), this.limits.createTimeoutMs);
    t.unref?.();
    room.createTimer = t;
  }

  private disarm(room: RoomRecord): void {
    if (room.createTimer !== undefined) clearTimeout(room.createTimer);
    room.createTimer = undefined;
  }

  /**
   * The subscriber asked to CREATE did not in time: creation opens to everyone in the room (and
   * everyone who joins it until a CREATE is accepted), so the first honest subscriber creates it;
   * docs/PROTOCOL.md §4.2.
   */
  private createTimedOut(room: RoomRecord): void {
    room.createTimer = undefined;
    if (room.groupInfo !== undefined || room.createOpen || this.rooms.get(room.key) !== room) return;
    room.createOpen = true;
    for (const slot of room.subscribers.keys()) if (slot !== room.creator) this.tellState(room, slot);
  }

  /** Sends a subscriber its current GROUP_STATE (outside of a request). */
  private tellState(room: RoomRecord, slot: Slot): void {
    const p = room.subscribers.get(slot);
    const m = p?.memberships.get(room.key);
    if (p !== undefined && m !== undefined) this.sendState(p, m);
  }

  private sendState(peer: Peer, m: Membership): void {
    m.statePending = true;
    if (!peer.send(this.stateFrame(m.room, m.slot), () => (m.statePending = false))) m.statePending = false;
  }

  /**
   * Stores a room's new GroupInfo if the budgets allow it: charged twice its size (the stored copy,
   * and the READY answer encoded from it), to the global budget and to the uploader's address,
   * whose charge for the room's previous GroupInfo is released. False: refuse (OVER_BUDGET).
   */
  private setGroupInfo(room: RoomRecord, gi: Uint8Array, owner: Account | undefined): boolean {
    const charge = 2 * gi.byteLength;
    const old = room.groupInfoCharge;
    if (this.groupInfoTotal - old + charge > this.limits.maxGroupInfoBytes) return false;
    if (
      owner !== undefined &&
      owner.groupInfoBytes - (room.groupInfoOwner === owner ? old : 0) + charge > this.limits.maxGroupInfoBytesPerAddress
    )
      return false;
    this.releaseGroupInfo(room);
    room.groupInfo = copy(gi); // the frame is a view into a buffer we do not own
    room.groupInfoOwner = owner;
    room.groupInfoCharge = charge;
    this.groupInfoTotal += charge;
    if (owner !== undefined) owner.groupInfoBytes += charge;
    return true;
  }

  private releaseGroupInfo(room: RoomRecord): void {
    this.groupInfoTotal -= room.groupInfoCharge;
    if (room.groupInfoOwner !== undefined) room.groupInfoOwner.groupInfoBytes -= room.groupInfoCharge;
    room.groupInfo = undefined;
    room.groupInfoOwner = undefined;
    room.groupInfoCharge = 0;
    room.ready = undefined;
  }

  private deliver(room: RoomRecord, from: Slot, kind: DeliveryKindValue, epoch: RelayEpoch, data: Uint8Array): void {
    room.seq = asSeq(room.seq + 1);
    // Encoded once; the same buffer goes to every recipient.
    const bytes = this.wrap(encodeFrame({ type: 'DELIVER', room: room.locator, seq: room.seq, kind, epoch, from, data }));
    for (const [slot, p] of room.subscribers) if (slot !== from) p.send(bytes);
  }

  private stateFrame(room: RoomRecord, slot: Slot): Uint8Array {
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

  /** After CREATE: the group exists, so every waiting subscriber gets the same READY frame. */
  private broadcastState(room: RoomRecord, except: Slot): void {
    for (const [slot, p] of room.subscribers) {
      if (slot === except) continue;
      const m = p.memberships.get(room.key);
      if (m !== undefined) this.sendState(p, m);
    }
  }

  private error(peer: Peer, reqId: ReqId, code: ErrorName): void {
    peer.send(encodeFrame({ type: 'ERROR', reqId, code: ErrorCodes[code] }));
  }
}

export const noRequest = asReqId(0);
