/**
 * The MLS Delivery Service rules (docs/PROTOCOL.md §4.2, §4.5), independent of the transport.
 * A room lives while it has a subscriber or an away slot (a lost connection, resumable for
 * resumeGraceMs); every change is written to the store before the frame it belongs to. Payloads
 * are opaque bytes. The records are in roomState.ts, the log in roomLog.ts, RESUME in roomResume.ts.
 */
import {
  type ClientFrame,
  DeliveryKind,
  type DeliveryKindValue,
  type ErrorName,
  ErrorCodes,
  type RelayEpoch,
  type ReqId,
  type RoomLocator,
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
import { takeNewRoom } from './budget.js';
import { type RelayLimits, defaultRelayLimits } from './limits.js';
import { Logs, type RoomLog } from './roomLog.js';
import { resume, restore, tokenHash, tokenKey } from './roomResume.js';
import {
  GroupInfos,
  type Membership,
  type Peer,
  type RoomLimits,
  type RoomRecord,
  deleteAway,
  newRoom,
  setAway,
  slotCount,
} from './roomState.js';
import type { RoomService } from './roomService.js';
import { type RoomStore, type StoredCommit, noRoomStore } from './roomStore.js';

export type { Peer } from './roomState.js';

export class Rooms implements RoomService {
  private readonly rooms = new Map<string, RoomRecord>();
  private readonly limits: RoomLimits;
  private readonly groupInfos: GroupInfos;
  private readonly logs: Logs;
  /** The relay is stopping: its connections closing leave their slots as they are (and stored). */
  private stopped = false;

  /**
   * @param wrap turns an encoded frame into what the transport sends without converting it again
   *   per recipient (the relay wraps it in a Node Buffer once, so `ws` need not do so 100 times).
   * @param store where every change is written before the frame it belongs to (roomStore.ts).
   */
  constructor(
    limits: Pick<RelayLimits, 'maxMembersPerRoom' | 'maxRoomsPerConnection'> & Partial<RoomLimits>,
    private readonly wrap: (frame: Uint8Array) => Uint8Array = (f) => f,
    /** Issues blob upload tickets (tickets.ts); without it TICKET is refused with NO_BLOB_STORE. */
    private readonly tickets?: { issue(peer: Peer, stay: object, room: string): Uint8Array },
    private readonly now: () => number = () => performance.now(),
    private readonly store: RoomStore = noRoomStore,
  ) {
    this.limits = { ...defaultRelayLimits, ...limits };
    this.groupInfos = new GroupInfos(this.limits, wrap);
    this.logs = new Logs(this.limits, (log) => this.trimmed(log));
  }

  get size(): number {
    return this.rooms.size;
  }

  /** Bytes charged for stored GroupInfos (each counted twice: the stored copy and its encoded answer). */
  get groupInfoBytes(): number {
    return this.groupInfos.total;
  }

  /** Bytes held by the rooms' logs (deliveries and held DIRECT frames). */
  get logBytes(): number {
    return this.logs.bytes;
  }

  /** Takes the store's rooms back (the relay is starting): every slot is away from `now` (Date.now()). */
  restore(now = Date.now()): void {
    const { rooms, limits, logs, store, groupInfos, wrap } = this;
    restore({ rooms, limits, logs, store, groupInfos, wrap }, store.load(), now);
  }

  stop(): Promise<void> {
    this.dispose();
    return Promise.resolve();
  }

  close(): void {}

  stayOf(peer: Peer, key: string): object | undefined {
    return peer.memberships.get(key);
  }

  ready(): boolean {
    return true;
  }

  /** Stops every creator deadline (the relay is closing); from now on a lost connection changes nothing. */
  dispose(): void {
    this.stopped = true;
    for (const room of this.rooms.values()) this.disarm(room);
  }

  handle(peer: Peer, f: ClientFrame): void {
    if (f.type === 'JOIN') return this.join(peer, f.reqId, f.room);
    if (f.type === 'RESUME') {
      const { rooms, limits, logs, store } = this;
      const why = resume({ rooms, limits, logs, store }, peer, f);
      return why === undefined ? undefined : this.error(peer, f.reqId, why);
    }
    const key = locatorKey(f.room);
    const m = peer.memberships.get(key);
    if (m === undefined) return this.error(peer, f.reqId, 'NOT_IN_ROOM');
    const room = m.room;
    switch (f.type) {
      case 'CREATE':
        if ((room.creator !== m.slot && !room.createOpen) || room.groupInfo !== undefined) return this.error(peer, f.reqId, 'NOT_CREATOR');
        if (!this.groupInfos.set(room, f.groupInfo, peer.account)) return this.error(peer, f.reqId, 'OVER_BUDGET');
        this.store.setGroupInfo(room.key, room.groupInfo!, room.epoch);
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
        if (!this.groupInfos.set(room, f.groupInfo, peer.account)) return this.error(peer, f.reqId, 'OVER_BUDGET');
        this.deliver(room, m.slot, DeliveryKind.COMMIT, f.epoch, f.commit, { groupInfo: room.groupInfo!, epoch: room.epoch + 1 });
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
      case 'DIRECT':
        return this.direct(peer, m, f.reqId, f.to, f.data);
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

  /**
   * The connection is gone: each of its slots becomes away (docs/PROTOCOL.md §4.5), still charged
   * to its address; nobody is told. A room with no group yet has nothing to resume, and with
   * resumeGraceMs 0 nothing is: then the slot leaves at once, as on LEAVE.
   */
  drop(peer: Peer): void {
    if (this.stopped) return peer.memberships.clear();
    for (const m of [...peer.memberships.values()]) {
      const { room, slot } = m;
      if (room.groupInfo === undefined || this.limits.resumeGraceMs <= 0) {
        this.remove(peer, m);
        continue;
      }
      room.subscribers.delete(slot);
      peer.memberships.delete(room.key);
      setAway(room, slot, { until: Date.now() + this.limits.resumeGraceMs, account: peer.account, seq: room.seq });
    }
  }

  /**
   * Once per ping interval (relay.ts): away slots whose grace period ended leave (PEER_GONE), and
   * log entries older than the log keeps them are dropped. `now`: Date.now().
   */
  expire(now: number): void {
    for (const room of [...this.rooms.values()]) {
      for (const [slot, a] of [...room.away]) {
        if (a.until > now) continue;
        deleteAway(room, slot);
        if (a.account !== undefined) a.account.memberships--;
        this.depart(room, slot);
      }
      if (this.rooms.get(room.key) === room) this.logs.expire(room.log, now);
    }
  }

  private join(peer: Peer, reqId: ReqId, locator: RoomLocator): void {
    const key = locatorKey(locator);
    const account = peer.account;
    if (peer.memberships.has(key)) return this.error(peer, reqId, 'ALREADY_IN_ROOM');
    if (peer.memberships.size >= this.limits.maxRoomsPerConnection) return this.error(peer, reqId, 'TOO_MANY_ROOMS');
    if (account !== undefined && account.memberships >= this.limits.maxRoomsPerAddress) return this.error(peer, reqId, 'ADDRESS_LIMIT');
    let room = this.rooms.get(key);
    if (room !== undefined && slotCount(room) >= this.limits.maxMembersPerRoom) return this.error(peer, reqId, 'ROOM_FULL');
    if (room === undefined) {
      // A JOIN on a locator nobody is in: a new room, or a wrong guess at a room's name and
      // password. Rate limited per address, so online guessing costs the guesser (docs/SECURITY.md).
      if (account !== undefined && !takeNewRoom(account, this.limits, this.now())) return this.error(peer, reqId, 'TOO_MANY_NEW_ROOMS');
      room = newRoom(key, locator);
      this.rooms.set(key, room);
      this.store.createRoom(key, room.locator);
    }
    const slot = asSlot(room.nextSlot++);
    const token = randomBytes(RESUME_TOKEN_BYTES);
    const hash = tokenHash(token);
    room.tokens.set(slot, tokenKey(hash));
    this.store.addSlot(key, slot, hash, room.nextSlot);
    room.subscribers.set(slot, peer);
    const m: Membership = { room, slot, statePending: false };
    peer.memberships.set(room.key, m); // the room's own string: one per room, not one per member
    if (account !== undefined) account.memberships++;
    if (room.groupInfo === undefined && room.creator === undefined && !room.createOpen) {
      room.creator = slot;
      this.arm(room);
    }
    peer.send(encodeFrame({ type: 'JOINED', reqId, room: room.locator, slot, members: slotCount(room), resume: token }));
    this.sendState(peer, m);
  }

  /** DIRECT (docs/PROTOCOL.md §4.4): to another live slot of the room, or held for an away one (§4.5). */
  private direct(peer: Peer, m: Membership, reqId: ReqId, to: Slot, data: Uint8Array): void {
    const room = m.room;
    if (room.groupInfo === undefined) return this.error(peer, reqId, 'NO_GROUP');
    // Only to another slot of this same room: the relay learns the two slots and the size.
    const target = to === m.slot ? undefined : room.subscribers.get(to);
    const away = to === m.slot ? undefined : room.away.get(to);
    // Not sequenced (no `seq`): it is not part of the room's stream.
    const frame = this.wrap(encodeFrame({ type: 'DIRECT_DELIVER', room: room.locator, from: m.slot, data }));
    // Written to the target's socket before the ACK is written to the sender's, so an ACK means
    // "handed to the peer's live connection", or held for it: a slot away that can still resume
    // with all it missed, or one whose connection is closing (its 'close' event still to come: it
    // turns away then, or leaves for good and what is held for it goes with it).
    if (target === undefined || !target.send(frame)) {
      const closing = target !== undefined && this.limits.resumeGraceMs > 0;
      const resumable = room.tokens.has(to) && (closing || (away !== undefined && away.seq >= room.log.dropped));
      if (!resumable) return this.error(peer, reqId, 'NO_SUCH_PEER');
      const held = { slot: to, afterSeq: room.seq, at: Date.now(), frame };
      if (!this.logs.hold(room.log, held)) return this.error(peer, reqId, 'OVER_BUDGET');
      this.store.holdDirect(room.key, held);
    }
    peer.send(encodeFrame({ type: 'ACK', reqId, seq: room.seq }));
  }

  /** The peer leaves the room for good (LEAVE, or a lost connection with nothing to resume). */
  private remove(peer: Peer, m: Membership): void {
    const { room, slot } = m;
    room.subscribers.delete(slot);
    peer.memberships.delete(room.key);
    if (peer.account !== undefined) peer.account.memberships--;
    this.depart(room, slot);
  }

  /** A slot, no longer held nor away, is gone: stored so, then PEER_GONE, or the room goes with it. */
  private depart(room: RoomRecord, slot: Slot): void {
    room.tokens.delete(slot);
    this.logs.release(room.log, slot);
    if (slotCount(room) === 0) {
      // The last member left: forget the room completely.
      this.rooms.delete(room.key);
      this.disarm(room);
      this.groupInfos.release(room);
      this.logs.forget(room.log);
      this.store.deleteRoom(room.key);
      return;
    }
    this.store.removeSlot(room.key, slot);
    const gone = encodeFrame({ type: 'PEER_GONE', room: room.locator, slot });
    for (const p of room.subscribers.values()) p.send(gone);
    if (room.creator === slot && !room.createOpen && room.subscribers.size > 0) {
      // The creator left before creating: the lowest remaining slot creates instead.
      const next = Math.min(...room.subscribers.keys()) as Slot;
      room.creator = next;
      this.arm(room);
      this.tellState(room, next);
    }
  }

  /**
   * Entries were dropped from a room's log: stored so, and an away slot that can no longer be given
   * all it missed (it had read at most `away.seq`) cannot resume: its held frames are let go.
   */
  private trimmed(log: RoomLog): void {
    this.store.trim(log.key, log.dropped);
    const room = this.rooms.get(log.key);
    if (room === undefined) return;
    for (const [slot, a] of room.away) {
      if (a.seq >= log.dropped || !log.hasDirects(slot)) continue;
      this.logs.release(log, slot);
      this.store.releaseDirects(log.key, slot);
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
    if (!peer.send(this.groupInfos.stateFrame(m.room, m.slot), () => (m.statePending = false))) m.statePending = false;
  }

  /** Sequences a delivery: logged (and stored) first, then written to every other subscriber. */
  private deliver(room: RoomRecord, from: Slot, kind: DeliveryKindValue, epoch: RelayEpoch, data: Uint8Array, commit?: StoredCommit): void {
    room.seq = asSeq(room.seq + 1);
    // Encoded once; the same buffer goes to every recipient and into the log.
    const entry = {
      seq: room.seq,
      at: Date.now(),
      frame: this.wrap(encodeFrame({ type: 'DELIVER', room: room.locator, seq: room.seq, kind, epoch, from, data })),
    };
    this.store.append(room.key, entry, commit);
    this.logs.append(room.log, entry);
    for (const [slot, p] of room.subscribers) if (slot !== from) p.send(entry.frame);
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
