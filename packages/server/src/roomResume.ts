/**
 * Taking a slot back (docs/PROTOCOL.md §4.5): RESUME, which moves a slot that is away (or still
 * held by a connection the client has given up on) to the asking connection and replays what it
 * missed from the room's log; and, after a restart, the rooms the store kept, whose slots are all
 * away. Split from rooms.ts, which owns the records and calls these with its parts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type ErrorName, type ResumeFrame, asEpoch, asSeq, asSlot, encodeFrame, locatorKey } from '@nullroom/protocol';
import type { Logs } from './roomLog.js';
import {
  type GroupInfos,
  type Membership,
  type Peer,
  type RoomLimits,
  type RoomRecord,
  deleteAway,
  newRoom,
  setAway,
} from './roomState.js';
import type { RoomStore, StoredRoom } from './roomStore.js';

/** The SHA-256 of a resume token: all the relay keeps of it. */
export const tokenHash = (token: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(token).digest());

/** A token hash as RoomRecord.tokens keeps it, a byte per character; `tokenBytes` turns it back. */
export const tokenKey = (hash: Uint8Array): string => Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1');
const tokenBytes = (key: string): Buffer => Buffer.from(key, 'latin1');

export interface ResumeParts {
  readonly rooms: Map<string, RoomRecord>;
  readonly limits: RoomLimits;
  readonly logs: Logs;
  readonly store: RoomStore;
}

/**
 * Why RESUME is refused, or undefined: JOIN's refusals first, then CANNOT_RESUME (no such room or
 * slot, no group, a wrong token, a `seq` beyond the room's or before what the log still holds).
 */
function refusal(parts: ResumeParts, peer: Peer, f: ResumeFrame): ErrorName | undefined {
  const key = locatorKey(f.room);
  const account = peer.account;
  if (peer.memberships.has(key)) return 'ALREADY_IN_ROOM';
  if (peer.memberships.size >= parts.limits.maxRoomsPerConnection) return 'TOO_MANY_ROOMS';
  const room = parts.rooms.get(key);
  const away = room?.away.get(f.slot);
  const holder = room?.subscribers.get(f.slot);
  // The slot's membership moves from the address it is charged to: only another address grows.
  const charged = away !== undefined ? away.account : holder?.account;
  if (account !== undefined && account !== charged && account.memberships >= parts.limits.maxRoomsPerAddress) return 'ADDRESS_LIMIT';
  if (room === undefined || room.groupInfo === undefined || (away === undefined && holder === undefined)) return 'CANNOT_RESUME';
  const hash = room.tokens.get(f.slot);
  if (hash === undefined || !timingSafeEqual(tokenHash(f.token), tokenBytes(hash))) return 'CANNOT_RESUME';
  if (f.seq > room.seq || f.seq < room.log.dropped) return 'CANNOT_RESUME';
  return undefined;
}

/**
 * RESUME, in one turn: the slot leaves whoever held it (an away record, or a connection that stays
 * open for its other rooms), the asking connection is subscribed, every logged DELIVER after
 * `f.seq` is written (its own included) with each held DIRECT_DELIVER right after the delivery it
 * followed, then RESUMED. Returns the refusal to answer instead, with nothing changed.
 */
export function resume(parts: ResumeParts, peer: Peer, f: ResumeFrame): ErrorName | undefined {
  const why = refusal(parts, peer, f);
  if (why !== undefined) return why;
  const key = locatorKey(f.room);
  const room = parts.rooms.get(key)!;
  const holder = room.subscribers.get(f.slot);
  if (holder !== undefined) {
    holder.memberships.delete(key);
    if (holder.account !== undefined) holder.account.memberships--;
  } else {
    const away = room.away.get(f.slot)!;
    deleteAway(room, f.slot);
    if (away.account !== undefined) away.account.memberships--;
  }
  room.subscribers.set(f.slot, peer);
  const m: Membership = { room, slot: f.slot, statePending: false };
  peer.memberships.set(room.key, m);
  if (peer.account !== undefined) peer.account.memberships++;
  replay(parts, peer, room, f.slot, f.seq);
  peer.send(encodeFrame({ type: 'RESUMED', reqId: f.reqId, room: room.locator, epoch: room.epoch, seq: room.seq }));
  return undefined;
}

/** Writes what the slot missed after `after`: the log's deliveries, each held DIRECT after the one it followed. */
function replay(parts: ResumeParts, peer: Peer, room: RoomRecord, slot: number, after: number): void {
  const held = room.log.directsFor(slot);
  let i = 0;
  const directsUpTo = (seq: number) => {
    while (i < held.length && held[i]!.afterSeq <= seq) peer.send(held[i++]!.frame);
  };
  directsUpTo(after);
  for (const e of room.log.since(after)) {
    peer.send(e.frame);
    directsUpTo(e.seq);
  }
  directsUpTo(Number.MAX_SAFE_INTEGER);
  if (held.length > 0) {
    // Handed to the connection in this turn (nothing leaves a corked socket before it ends).
    parts.logs.release(room.log, slot);
    parts.store.releaseDirects(room.key, slot);
  }
}

/**
 * The rooms a store kept (a relay restart): every stored slot is away, its grace period starting
 * `now`, and the log and held frames are kept as if sequenced `now`. The GroupInfo is charged to
 * the budget with no owner address. A room with no group has nothing to resume: it is dropped.
 */
export function restore(
  parts: ResumeParts & { readonly groupInfos: GroupInfos; readonly wrap: (f: Uint8Array) => Uint8Array },
  stored: readonly StoredRoom[],
  now: number,
): void {
  for (const s of stored) {
    if (s.groupInfo === undefined || s.slots.length === 0) {
      parts.store.deleteRoom(s.key);
      continue;
    }
    const room = newRoom(s.key, s.locator, s.log.length > 0 ? s.log[0]!.seq - 1 : s.seq);
    room.epoch = asEpoch(s.epoch);
    room.seq = asSeq(s.seq);
    room.nextSlot = s.nextSlot;
    parts.groupInfos.set(room, s.groupInfo, undefined, true);
    const until = now + parts.limits.resumeGraceMs;
    for (const slot of s.slots) {
      room.tokens.set(asSlot(slot.slot), tokenKey(slot.tokenHash));
      setAway(room, asSlot(slot.slot), { until, account: undefined, seq: s.seq });
    }
    parts.rooms.set(s.key, room);
    for (const e of s.log) parts.logs.append(room.log, { seq: e.seq, at: now, frame: parts.wrap(e.frame) });
    for (const d of s.directs) {
      if (!room.tokens.has(asSlot(d.slot))) continue;
      if (parts.logs.hold(room.log, { slot: d.slot, afterSeq: d.afterSeq, at: now, frame: parts.wrap(d.frame) })) continue;
      // Past today's budgets: the slot cannot be given all it missed, so it may not resume.
      room.tokens.delete(asSlot(d.slot));
      parts.logs.release(room.log, d.slot);
      parts.store.releaseDirects(s.key, d.slot);
    }
  }
}
