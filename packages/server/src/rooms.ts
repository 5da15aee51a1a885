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
} from '@nullroom/protocol';
import type { RelayLimits } from './limits.js';

/** One connection, as the room logic sees it. */
export interface Peer {
  readonly id: number;
  /**
   * Sends one encoded frame. The same buffer may be handed to many peers: it must not be modified.
   * False when the connection is no longer open (closing or closed): nothing was written.
   */
  send(bytes: Uint8Array): boolean;
  /** Rooms this peer is in: locator key -> membership. */
  readonly memberships: Map<string, Membership>;
}

interface Membership {
  room: RoomRecord;
  slot: Slot;
}

interface RoomRecord {
  readonly key: string;
  readonly locator: RoomLocator;
  readonly subscribers: Map<Slot, Peer>;
  nextSlot: number;
  epoch: RelayEpoch;
  seq: Seq;
  groupInfo: Uint8Array | undefined;
  creator: Slot | undefined;
}

const EMPTY = new Uint8Array(0);
/**
 * A real copy. Frames arrive as views into the socket's read buffer (a Node Buffer, whose `slice`
 * is a view too): what the relay keeps must not alias, nor pin, that buffer.
 */
const copy = (b: Uint8Array): Uint8Array => new Uint8Array(b);

export class Rooms {
  private readonly rooms = new Map<string, RoomRecord>();

  /**
   * @param wrap turns an encoded frame into what the transport sends without converting it again
   *   per recipient (the relay wraps it in a Node Buffer once, so `ws` need not do so 100 times).
   */
  constructor(
    private readonly limits: Pick<RelayLimits, 'maxMembersPerRoom' | 'maxRoomsPerConnection'>,
    private readonly wrap: (frame: Uint8Array) => Uint8Array = (f) => f,
    /** Issues blob upload tickets (tickets.ts); without it TICKET is refused with NO_BLOB_STORE. */
    private readonly tickets?: { issue(peer: Peer, stay: object, room: string): Uint8Array },
  ) {}

  get size(): number {
    return this.rooms.size;
  }

  handle(peer: Peer, f: ClientFrame): void {
    if (f.type === 'JOIN') return this.join(peer, f.reqId, f.room);
    const key = locatorKey(f.room);
    const m = peer.memberships.get(key);
    if (m === undefined) return this.error(peer, f.reqId, 'NOT_IN_ROOM');
    const room = m.room;
    switch (f.type) {
      case 'CREATE':
        if (room.creator !== m.slot || room.groupInfo !== undefined) return this.error(peer, f.reqId, 'NOT_CREATOR');
        room.groupInfo = copy(f.groupInfo); // the frame is a view into a buffer we do not own
        room.creator = undefined;
        peer.send(encodeFrame({ type: 'ACK', reqId: f.reqId, seq: room.seq }));
        this.broadcastState(room, m.slot);
        return;
      case 'COMMIT':
        if (room.groupInfo === undefined) return this.error(peer, f.reqId, 'NO_GROUP');
        // Exactly one commit per (room, epoch): the first one for the current epoch wins.
        if (f.epoch !== room.epoch) return this.error(peer, f.reqId, 'STALE_EPOCH');
        this.deliver(room, m.slot, DeliveryKind.COMMIT, f.epoch, f.commit);
        room.epoch = asEpoch(room.epoch + 1);
        room.groupInfo = copy(f.groupInfo);
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
        peer.send(this.stateFrame(room, m.slot));
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
    if (peer.memberships.has(key)) return this.error(peer, reqId, 'ALREADY_IN_ROOM');
    if (peer.memberships.size >= this.limits.maxRoomsPerConnection) return this.error(peer, reqId, 'TOO_MANY_ROOMS');
    let room = this.rooms.get(key);
    if (room !== undefined && room.subscribers.size >= this.limits.maxMembersPerRoom) return this.error(peer, reqId, 'ROOM_FULL');
    if (room === undefined) {
      room = {
        key,
        locator: copy(locator) as RoomLocator,
        subscribers: new Map(),
        nextSlot: 1,
        epoch: asEpoch(0),
        seq: asSeq(0),
        groupInfo: undefined,
        creator: undefined,
      };
      this.rooms.set(key, room);
    }
    const slot = asSlot(room.nextSlot++);
    room.subscribers.set(slot, peer);
    peer.memberships.set(key, { room, slot });
    if (room.groupInfo === undefined && room.creator === undefined) room.creator = slot;
    peer.send(encodeFrame({ type: 'JOINED', reqId, room: room.locator, slot, members: room.subscribers.size }));
    peer.send(this.stateFrame(room, slot));
  }

  private remove(peer: Peer, m: Membership): void {
    const { room, slot } = m;
    room.subscribers.delete(slot);
    peer.memberships.delete(room.key);
    if (room.subscribers.size === 0) {
      // The last member left: forget the room completely.
      this.rooms.delete(room.key);
      room.groupInfo = undefined;
      return;
    }
    const gone = encodeFrame({ type: 'PEER_GONE', room: room.locator, slot });
    for (const p of room.subscribers.values()) p.send(gone);
    if (room.creator === slot) {
      // The creator left before creating: the lowest remaining slot creates instead.
      const next = Math.min(...room.subscribers.keys()) as Slot;
      room.creator = next;
      room.subscribers.get(next)!.send(this.stateFrame(room, next));
    }
  }

  private deliver(room: RoomRecord, from: Slot, kind: DeliveryKindValue, epoch: RelayEpoch, data: Uint8Array): void {
    room.seq = asSeq(room.seq + 1);
    // Encoded once; the same buffer goes to every recipient.
    const bytes = this.wrap(encodeFrame({ type: 'DELIVER', room: room.locator, seq: room.seq, kind, epoch, from, data }));
    for (const [slot, p] of room.subscribers) if (slot !== from) p.send(bytes);
  }

  private stateFrame(room: RoomRecord, slot: Slot): Uint8Array {
    const status = room.groupInfo !== undefined ? GroupStatus.READY : room.creator === slot ? GroupStatus.CREATE : GroupStatus.WAIT;
    return encodeFrame({ type: 'GROUP_STATE', room: room.locator, status, epoch: room.epoch, seq: room.seq, groupInfo: room.groupInfo ?? EMPTY });
  }

  /** After CREATE: the group exists, so every waiting subscriber gets the same READY frame. */
  private broadcastState(room: RoomRecord, except: Slot): void {
    const ready = this.stateFrame(room, except);
    for (const [slot, p] of room.subscribers) if (slot !== except) p.send(ready);
  }

  private error(peer: Peer, reqId: ReqId, code: ErrorName): void {
    peer.send(encodeFrame({ type: 'ERROR', reqId, code: ErrorCodes[code] }));
  }
}

export const noRequest = asReqId(0);
