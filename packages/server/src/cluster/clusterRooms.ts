/**
 * Rooms shared by several relay nodes through Redis (docs/PROTOCOL.md §12): the same rules as
 * rooms.ts, decided once for all nodes by the scripts of roomScripts.ts, and each room's stream
 * fanned out to the nodes that hold a slot in it by Redis pub/sub. A node keeps only its own
 * connections' stays (localRoom.ts); the rooms themselves (slots, tokens, epochs, GroupInfos, logs,
 * held DIRECTs, per-address counts) live in Redis, so a node that dies loses nothing acknowledged:
 * its members RESUME on another node.
 *
 * A connection's frames are handled one after the other (each waits for its script), so a JOIN
 * is in Redis before the APP that follows it.
 */
import { randomBytes } from 'node:crypto';
import {
  type ClientFrame,
  type ErrorName,
  ErrorCodes,
  GroupStatus,
  RESUME_TOKEN_BYTES,
  type ReqId,
  type RoomLocator,
  type Slot,
  asEpoch,
  asSeq,
  asSlot,
  encodeFrame,
  locatorKey,
} from '@nullroom/protocol';
import type { RelayLimits } from '../limits.js';
import { type RelayLogger, silentLogger } from '../logger.js';
import type { RoomService } from '../roomService.js';
import { AddressLeases } from './addressLeases.js';
import type { Peer } from '../roomState.js';
import { tokenHash } from '../roomResume.js';
import { LocalRoom, type RoomNode, Stay } from './localRoom.js';
import { parseRoomEvent, type RoomEvent } from './roomEvents.js';
import type { RedisLink } from './redisLink.js';

const STATUS = { r: GroupStatus.READY, c: GroupStatus.CREATE, w: GroupStatus.WAIT } as const;
const str = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v));
const int = (v: unknown): number => Number(str(v));
/** What went wrong, for the log: Redis's or the network's message (never a frame's content). */
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e)).slice(0, 200);

export class ClusterRooms implements RoomService, RoomNode {
  private readonly rooms = new Map<string, LocalRoom>();
  private readonly byChannel = new Map<string, LocalRoom>();
  private readonly subscribing = new Map<string, Promise<unknown>>();
  private readonly stays = new WeakMap<Peer, Map<string, Stay>>();
  private readonly chains = new WeakMap<Peer, Promise<void>>();
  private readonly gone = new WeakSet<Peer>();
  private readonly keep: number;
  private stopped = false;
  private sweeping = false;
  readonly node: string;

  constructor(
    private readonly limits: RelayLimits,
    readonly wrap: (f: Uint8Array) => Uint8Array,
    private readonly link: RedisLink,
    private readonly tickets?: { issue(peer: Peer, stay: object, room: string): Uint8Array | Promise<Uint8Array> },
    private readonly log: RelayLogger = silentLogger,
  ) {
    this.node = randomBytes(8).toString('hex');
    this.connections = new AddressLeases(link, this.node, limits);
    this.keep = limits.resumeGraceMs + 2 * limits.pingIntervalMs;
    link.onMessage((channel, message) => this.message(channel, message));
    link.onReconnect(() => {
      for (const room of this.rooms.values()) if (room.seen > 0) room.catchUp();
    });
  }

  /** WebSocket connections and the frame bucket per address, in Redis for all nodes. */
  readonly connections: AddressLeases;

  get size(): number {
    return this.rooms.size;
  }
  readonly groupInfoBytes = 0;
  readonly logBytes = 0;

  ready(): boolean {
    return !this.stopped && this.link.ready();
  }

  restore(): void {
    this.sweep();
  }

  stayOf(peer: Peer, key: string): object | undefined {
    return this.stays.get(peer)?.get(key);
  }

  handle(peer: Peer, f: ClientFrame): void {
    const before = this.chains.get(peer) ?? Promise.resolve();
    const next = before.then(async () => void (await this.process(peer, f))).catch((e: unknown) => this.failed(peer, f, e));
    this.chains.set(peer, next);
  }

  drop(peer: Peer): void {
    this.gone.add(peer);
    const mine = this.stays.get(peer);
    if (mine === undefined) return;
    this.stays.delete(peer);
    for (const stay of mine.values()) {
      this.unplace(stay);
      if (stay.slot !== undefined && !this.stopped) this.dropSlot(stay.room.key, stay.slot);
    }
  }

  expire(): void {
    this.sweep();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // The node's last sweep: its heartbeat ends and its slots are away for every other node.
    await this.link.run('SWEEP', [this.node, 0, this.limits.resumeGraceMs, this.limits.createTimeoutMs, 1000, '0']).catch(() => undefined);
  }

  close(): void {
    this.link.close();
  }

  // RoomNode: what the local rooms ask of the node.
  hold(room: LocalRoom, e: Extract<RoomEvent, { type: 'X' }>): void {
    void this.link.run('HOLD', [room.key, e.to, e.from, e.data, this.limits.maxLogBytesPerRoom]).catch(() => undefined);
  }

  taken(stay: Stay): void {
    this.unplace(stay);
    this.stays.get(stay.peer)?.delete(stay.room.key);
  }

  private async process(peer: Peer, f: ClientFrame): Promise<unknown> {
    if (this.gone.has(peer)) return;
    if (f.type === 'JOIN') return this.join(peer, f.reqId, f.room);
    if (f.type === 'RESUME') return this.resume(peer, f);
    const key = locatorKey(f.room);
    const stay = this.stays.get(peer)?.get(key);
    if (stay === undefined || stay.slot === undefined) return this.error(peer, f.reqId, 'NOT_IN_ROOM');
    const slot = stay.slot;
    const { limits } = this;
    switch (f.type) {
      case 'CREATE':
        return this.ask(stay, f.reqId, 'CREATE', [
          key,
          slot,
          this.node,
          f.groupInfo,
          this.address(peer),
          limits.maxGroupInfoBytes,
          limits.maxGroupInfoBytesPerAddress,
        ]);
      case 'COMMIT': {
        // The connection's commit token here, the address's in the script (after the epoch check).
        if (peer.takeCommit !== undefined && !peer.takeCommit(false)) return this.error(peer, f.reqId, 'RATE_LIMITED');
        const code = await this.ask(stay, f.reqId, 'COMMIT', [
          key,
          slot,
          this.node,
          f.epoch,
          f.commit,
          f.groupInfo,
          this.address(peer),
          limits.maxGroupInfoBytes,
          limits.maxGroupInfoBytesPerAddress,
          this.keep,
          limits.maxLogBytesPerRoom,
          limits.commitBurstPerAddress,
          limits.commitIntervalPerAddressMs,
        ]);
        // As rooms.ts: a commit refused before the address's bucket, or by it, costs no token.
        if (code !== 'OK' && code !== 'OVER_BUDGET') peer.refundCommit?.();
        return;
      }
      case 'APP':
        return this.ask(stay, f.reqId, 'APP', [key, slot, this.node, f.epoch, f.data, this.keep, limits.maxLogBytesPerRoom]);
      case 'DIRECT':
        return this.ask(stay, f.reqId, 'DIRECT', [key, slot, this.node, f.to, f.data, limits.maxLogBytesPerRoom]);
      case 'LEAVE':
        await this.ask(stay, f.reqId, 'LEAVE', [key, slot, this.node, limits.createTimeoutMs]);
        return this.taken(stay);
      case 'SYNC':
        return this.sync(stay, key, slot);
      case 'TICKET':
        if (this.tickets === undefined) return this.error(peer, f.reqId, 'NO_BLOB_STORE');
        peer.send(
          encodeFrame({ type: 'TICKET_GRANT', reqId: f.reqId, room: stay.room.locator, ticket: await this.tickets.issue(peer, stay, key) }),
        );
        return;
    }
  }

  /** A request whose answer is an ACK with the room's seq, or the script's refusal. */
  private async ask(stay: Stay, reqId: ReqId, script: 'CREATE' | 'COMMIT' | 'APP' | 'DIRECT' | 'LEAVE', args: unknown[]): Promise<string> {
    stay.pause();
    let r: unknown[];
    try {
      r = await this.link.run(script, args);
    } catch (e) {
      this.log.warn('cluster request failed', { request: script, error: errorText(e) });
      stay.answer(stay.room.seen, [this.errorFrame(reqId, 'INTERNAL')]);
      return 'INTERNAL';
    }
    const code = str(r[0]);
    const seq = int(r[1]);
    stay.answer(seq, [code === 'OK' ? encodeFrame({ type: 'ACK', reqId, seq: asSeq(seq) }) : this.errorFrame(reqId, code as ErrorName)]);
    return code;
  }

  private async sync(stay: Stay, key: string, slot: Slot): Promise<void> {
    // A SYNC while one is in flight is answered by that one (as rooms.ts answers it by a queued GROUP_STATE).
    if (stay.syncing) return;
    stay.syncing = true;
    stay.pause();
    try {
      const r = await this.link.run('STATE', [key, slot, this.node]);
      const [seq, epoch, status] = [int(r[1]), int(r[2]), str(r[3]) as keyof typeof STATUS];
      const frames = str(r[0]) === 'OK' ? [stay.room.stateFrame(STATUS[status], epoch, seq, r[4] as Buffer)] : [];
      stay.answer(seq, frames);
    } catch (e) {
      this.log.warn('cluster request failed', { request: 'STATE', error: errorText(e) });
      stay.answer(stay.room.seen, []);
    } finally {
      stay.syncing = false;
    }
  }

  private async join(peer: Peer, reqId: ReqId, locator: RoomLocator): Promise<void> {
    const key = locatorKey(locator);
    const mine = this.mine(peer);
    if (mine.has(key)) return this.error(peer, reqId, 'ALREADY_IN_ROOM');
    if (mine.size >= this.limits.maxRoomsPerConnection) return this.error(peer, reqId, 'TOO_MANY_ROOMS');
    const stay = await this.place(peer, key, locator);
    const token = randomBytes(RESUME_TOKEN_BYTES);
    const { limits } = this;
    const r = await this.link
      .run('JOIN', [
        key,
        locator,
        tokenHash(token),
        this.node,
        this.address(peer),
        limits.maxMembersPerRoom,
        limits.maxRoomsPerAddress,
        limits.newRoomBurst,
        limits.newRoomIntervalMs,
        limits.createTimeoutMs,
      ])
      .catch((e: unknown) => this.unplaced(stay, e));
    if (str(r[0]) !== 'OK') {
      this.unplace(stay);
      mine.delete(key);
      return this.error(peer, reqId, str(r[0]) as ErrorName);
    }
    const [seq, slot, members, epoch, status] = [int(r[1]), asSlot(int(r[2])), int(r[3]), int(r[4]), str(r[5]) as keyof typeof STATUS];
    if (!this.settle(stay, slot)) return;
    if (status === 'c') this.armDeadline();
    const joined = encodeFrame({ type: 'JOINED', reqId, room: stay.room.locator, slot, members, resume: token });
    stay.answer(seq, [joined, stay.room.stateFrame(STATUS[status], epoch, seq, r[6] as Buffer)], true);
  }

  private async resume(peer: Peer, f: Extract<ClientFrame, { type: 'RESUME' }>): Promise<void> {
    const key = locatorKey(f.room);
    const mine = this.mine(peer);
    if (mine.has(key)) return this.error(peer, f.reqId, 'ALREADY_IN_ROOM');
    if (mine.size >= this.limits.maxRoomsPerConnection) return this.error(peer, f.reqId, 'TOO_MANY_ROOMS');
    const stay = await this.place(peer, key, f.room);
    const args = [key, f.slot, this.node, tokenHash(f.token), f.seq, this.address(peer), this.limits.maxRoomsPerAddress];
    const r = await this.link.run('RESUME', args).catch((e: unknown) => this.unplaced(stay, e));
    if (str(r[0]) !== 'OK') {
      this.unplace(stay);
      mine.delete(key);
      return this.error(peer, f.reqId, str(r[0]) as ErrorName);
    }
    const old = stay.room.stays.get(f.slot);
    if (old !== undefined) this.taken(old);
    if (!this.settle(stay, f.slot)) return;
    const [seq, epoch] = [int(r[1]), int(r[2])];
    const frames = stay.room.replay(r[3] as unknown[], r[4] as Buffer[], f.seq);
    frames.push(encodeFrame({ type: 'RESUMED', reqId: f.reqId, room: stay.room.locator, epoch: asEpoch(epoch), seq: asSeq(seq) }));
    stay.answer(seq, frames, true);
  }

  /** The local room, subscribed to, with a stay for `peer` being placed in it. */
  private async place(peer: Peer, key: string, locator: RoomLocator): Promise<Stay> {
    let room = this.rooms.get(key);
    if (room === undefined) {
      room = new LocalRoom(key, locator.slice() as RoomLocator, this.link.channel(key), this);
      this.rooms.set(key, room);
      this.byChannel.set(room.channel, room);
      this.subscribing.set(key, this.link.subscribe(room.channel));
    }
    const stay = new Stay(peer, room);
    room.placing.add(stay);
    this.mine(peer).set(key, stay);
    await this.subscribing.get(key);
    return stay;
  }

  /** The slot is this stay's; false if the connection went meanwhile (the slot is then dropped). */
  private settle(stay: Stay, slot: Slot): boolean {
    stay.slot = slot;
    stay.room.placing.delete(stay);
    if (this.gone.has(stay.peer) || this.stopped) {
      if (!this.stopped) this.dropSlot(stay.room.key, slot);
      this.release(stay.room);
      return false;
    }
    stay.room.stays.set(slot, stay);
    return true;
  }

  private unplaced(stay: Stay, e: unknown): never {
    this.unplace(stay);
    this.stays.get(stay.peer)?.delete(stay.room.key);
    throw e;
  }

  private unplace(stay: Stay): void {
    const room = stay.room;
    room.placing.delete(stay);
    if (stay.slot !== undefined && room.stays.get(stay.slot) === stay) room.stays.delete(stay.slot);
    this.release(room);
  }

  /** A room with no stay left on this node: unsubscribed. */
  private release(room: LocalRoom): void {
    if (!room.empty || this.rooms.get(room.key) !== room) return;
    this.rooms.delete(room.key);
    this.byChannel.delete(room.channel);
    this.subscribing.delete(room.key);
    void this.link.unsubscribe(room.channel).catch(() => undefined);
  }

  private dropSlot(key: string, slot: Slot): void {
    void this.link.run('DROP', [key, slot, this.node, this.limits.resumeGraceMs, this.limits.createTimeoutMs]).catch((e: unknown) => {
      this.log.warn('cluster request failed', { request: 'DROP', error: errorText(e) });
    });
  }

  private message(channel: string, message: Buffer): void {
    const e = parseRoomEvent(message);
    if (e !== undefined) this.byChannel.get(channel)?.receive(e);
  }

  // RoomNode
  range(key: string, from: number): Promise<unknown[]> {
    return this.link.range(key, from);
  }

  warn(line: string): void {
    this.log.warn('cluster', { what: line });
  }

  private sweep(): void {
    if (this.sweeping || this.stopped) return;
    this.sweeping = true;
    const { limits } = this;
    const heartbeat = 4 * limits.pingIntervalMs;
    this.link
      .run('SWEEP', [this.node, heartbeat, limits.resumeGraceMs, limits.createTimeoutMs, 1000, '1'])
      .catch((e: unknown) => this.log.warn('cluster request failed', { request: 'SWEEP', error: errorText(e) }))
      .finally(() => {
        this.sweeping = false;
      });
  }

  /** A creator's deadline: the sweep after it opens creation (every node sweeps each ping interval too). */
  private armDeadline(): void {
    const t = setTimeout(() => this.sweep(), this.limits.createTimeoutMs + 5);
    t.unref?.();
  }

  private mine(peer: Peer): Map<string, Stay> {
    let m = this.stays.get(peer);
    if (m === undefined) this.stays.set(peer, (m = new Map()));
    return m;
  }

  /** The address a peer is charged to, as Redis keeps it (addressHash). */
  private address(peer: Peer): string {
    return peer.account === undefined ? '' : this.connections.hash(peer.account);
  }

  private failed(peer: Peer, f: ClientFrame, e: unknown): void {
    this.log.warn('cluster request failed', { request: f.type, error: errorText(e) });
    if ('reqId' in f && !this.gone.has(peer)) this.error(peer, f.reqId, 'INTERNAL');
  }

  private errorFrame(reqId: ReqId, code: ErrorName): Uint8Array {
    return encodeFrame({ type: 'ERROR', reqId, code: ErrorCodes[code] ?? ErrorCodes.INTERNAL });
  }

  private error(peer: Peer, reqId: ReqId, code: ErrorName): void {
    peer.send(this.errorFrame(reqId, code));
  }
}
