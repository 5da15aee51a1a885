/**
 * One node's side of a shared room: the connections on this node that hold a slot in it, and the
 * order in which each is written to. The room's stream comes from Redis (roomEvents.ts) in the
 * order the scripts ran; an answer to a request (an ACK, JOINED, a GROUP_STATE) comes back on
 * another connection and carries the room's seq when its script ran. A connection must see both as
 * one relay would write them: the answer right after the delivery with that seq. So while its
 * request is in flight a stay holds the room's events back, and an answer waits for its seq.
 */
import { DeliveryKind, GroupStatus, type RelayEpoch, type RoomLocator, type Seq, type Slot, encodeFrame } from '@nullroom/protocol';
import type { Peer } from '../roomState.js';
import { heldDirect, logEntryEvent, type RoomEvent } from './roomEvents.js';

const EMPTY = new Uint8Array(0);

/** An event with the frame it becomes (encoded once per node, the same buffer for every stay). */
interface Item {
  readonly e: RoomEvent;
  frame?: Uint8Array;
}

/** Frames to write once the stay has been given the room's stream up to `seq`. */
interface Answer {
  readonly seq: number;
  readonly frames: readonly Uint8Array[];
}

export interface RoomNode {
  readonly node: string;
  readonly wrap: (f: Uint8Array) => Uint8Array;
  /** A DIRECT for a slot of this node that could not be written: held in Redis for it. */
  hold(room: LocalRoom, e: Extract<RoomEvent, { type: 'X' }>): void;
  /** The slot was resumed on another node: this connection no longer holds it. */
  taken(stay: Stay): void;
  /** The room's logged deliveries from seq `from` on (XRANGE entries). */
  range(key: string, from: number): Promise<unknown[]>;
  warn(line: string): void;
}

/** One connection's stay in one room (a RESUME starts a new stay). */
export class Stay {
  /** Undefined until JOINED (or RESUMED) tells which. */
  slot: Slot | undefined;
  /** The room's stream up to here has been given to the connection (undefined: not yet placed). */
  private cursor: number | undefined;
  /** A request is in flight: the room's events wait in `held`. */
  private busy = false;
  private held: Item[] = [];
  private answers: Answer[] = [];
  /** A SYNC is in flight: another one is answered by it. */
  syncing = false;

  constructor(
    readonly peer: Peer,
    readonly room: LocalRoom,
  ) {}

  /** A request for this stay goes to Redis: hold the room's events until it is answered. */
  pause(): void {
    this.busy = true;
  }

  /** The room's next event. */
  take(item: Item): void {
    if (this.busy || this.cursor === undefined) this.held.push(item);
    else this.emit(item);
  }

  /**
   * The answer to the request in flight, placed after the delivery `seq`. `place`: the stay was not
   * placed yet (JOIN, RESUME): its stream starts after `seq`, with these frames.
   */
  answer(seq: number, frames: readonly Uint8Array[], place = false): void {
    this.busy = false;
    if (place || this.cursor === undefined) {
      this.cursor = seq;
      for (const f of frames) this.peer.send(f);
    } else this.answers.push({ seq, frames });
    const held = this.held;
    this.held = [];
    for (const item of held) this.emit(item, place ? seq : undefined);
    this.flush(Number.MAX_SAFE_INTEGER);
  }

  private emit(item: Item, startAfter?: number): void {
    const e = item.e;
    const cursor = this.cursor ?? 0;
    if (e.type === 'D') {
      if (e.seq <= cursor) return;
      this.flush(e.seq - 1);
      this.cursor = e.seq;
      if (e.from !== this.slot) this.peer.send(this.room.frameOf(item));
      this.flush(e.seq);
      return;
    }
    if (startAfter !== undefined && e.seq < startAfter) return;
    this.flush(e.seq);
    this.room.emitTo(this, item);
  }

  /** Writes the answers placed at or before the stream's position and `upTo`. */
  private flush(upTo: number): void {
    const cursor = this.cursor ?? 0;
    while (this.answers.length > 0 && this.answers[0]!.seq <= cursor && this.answers[0]!.seq <= upTo) {
      for (const f of this.answers.shift()!.frames) this.peer.send(f);
    }
  }
}

export class LocalRoom {
  /** Stays holding a slot here, by slot. */
  readonly stays = new Map<Slot, Stay>();
  /** Stays whose JOIN or RESUME is in flight. */
  readonly placing = new Set<Stay>();
  /** The last delivery seen (0: none yet). */
  seen = 0;
  /** While a gap in the stream is being fetched, what arrived meanwhile. */
  catching: RoomEvent[] | undefined;

  constructor(
    readonly key: string,
    readonly locator: RoomLocator,
    readonly channel: string,
    private readonly node: RoomNode,
  ) {}

  get empty(): boolean {
    return this.stays.size === 0 && this.placing.size === 0;
  }

  /** An event as published: a delivery after a gap first has the missed ones read from the log. */
  receive(e: RoomEvent): void {
    if (this.catching !== undefined) this.catching.push(e);
    else if (e.type === 'D' && this.seen > 0 && e.seq > this.seen + 1) this.catchUp(e);
    else this.event(e);
  }

  /** Deliveries were missed (Redis reconnected, or a gap): read from the log, then what came meanwhile. */
  catchUp(first?: RoomEvent): void {
    if (this.catching !== undefined) {
      if (first !== undefined) this.catching.push(first);
      return;
    }
    this.catching = first === undefined ? [] : [first];
    this.node
      .range(this.key, this.seen + 1)
      .then((entries) => {
        for (const entry of entries) {
          const e = logEntryEvent(entry);
          if (e !== undefined) this.event(e);
        }
      })
      .catch((e: unknown) => this.node.warn(`could not read a room's log: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => {
        const q = this.catching ?? [];
        this.catching = undefined;
        for (const e of q) this.event(e);
      });
  }

  /** An event of the room's stream, in order. */
  event(e: RoomEvent): void {
    if (e.type === 'D') {
      if (e.seq <= this.seen) return;
      this.seen = e.seq;
    }
    if (e.type === 'T') {
      const s = this.stays.get(e.slot);
      if (s !== undefined && e.oldNode === this.node.node && e.newNode !== this.node.node) this.node.taken(s);
      return;
    }
    if (e.type === 'X' && e.node === this.node.node && !this.stays.has(e.to)) {
      // For a slot of this node whose connection is gone (its DROP still on its way): held for it.
      this.node.hold(this, e);
      return;
    }
    const item: Item = { e };
    for (const s of this.stays.values()) s.take(item);
    for (const s of this.placing) s.take(item);
  }

  frameOf(item: Item): Uint8Array {
    const e = item.e;
    if (item.frame === undefined && e.type === 'D') {
      const f = {
        type: 'DELIVER',
        room: this.locator,
        seq: e.seq as Seq,
        kind: e.kind as 1 | 2,
        epoch: e.epoch as RelayEpoch,
        from: e.from,
        data: e.data,
      } as const;
      item.frame = this.node.wrap(encodeFrame(f));
    }
    return item.frame!;
  }

  /** Writes an event other than a delivery to one stay, as it concerns that stay's slot. */
  emitTo(stay: Stay, item: Item): void {
    const e = item.e;
    const slot = stay.slot;
    if (e.type === 'G' && e.slot !== slot) stay.peer.send(encodeFrame({ type: 'PEER_GONE', room: this.locator, slot: e.slot }));
    else if (e.type === 'S') {
      if (e.what === 'r' && e.slot !== slot) stay.peer.send(this.readyOf(item));
      else if ((e.what === 'o' && e.slot !== slot) || (e.what === 'c' && e.slot === slot))
        stay.peer.send(this.stateFrame(GroupStatus.CREATE, e.epoch, e.seq, EMPTY));
    } else if (e.type === 'X' && e.to === slot && e.node === this.node.node) {
      const frame = encodeFrame({ type: 'DIRECT_DELIVER', room: this.locator, from: e.from, data: e.data });
      if (!stay.peer.send(frame)) this.node.hold(this, e);
    }
  }

  /** What a resumed slot missed: the log's deliveries after `after` (its own too), each held DIRECT after the delivery it followed. */
  replay(entries: unknown[], held: Buffer[], after: number): Uint8Array[] {
    const directs = held.map(heldDirect).filter((d) => d !== undefined);
    const out: Uint8Array[] = [];
    let i = 0;
    const directsUpTo = (seq: number) => {
      while (i < directs.length && directs[i]!.afterSeq <= seq) {
        const d = directs[i++]!;
        out.push(encodeFrame({ type: 'DIRECT_DELIVER', room: this.locator, from: d.from, data: d.data }));
      }
    };
    directsUpTo(after);
    for (const entry of entries) {
      const e = logEntryEvent(entry);
      if (e === undefined) continue;
      out.push(this.frameOf({ e }));
      directsUpTo(e.seq);
    }
    directsUpTo(Number.MAX_SAFE_INTEGER);
    return out;
  }

  private readyOf(item: Item): Uint8Array {
    const e = item.e as Extract<RoomEvent, { type: 'S' }>;
    item.frame ??= this.stateFrame(GroupStatus.READY, e.epoch, e.seq, e.groupInfo);
    return item.frame;
  }

  stateFrame(status: number, epoch: number, seq: number, groupInfo: Uint8Array): Uint8Array {
    return this.node.wrap(
      encodeFrame({
        type: 'GROUP_STATE',
        room: this.locator,
        status: status as 0 | 1 | 2,
        epoch: epoch as RelayEpoch,
        seq: seq as Seq,
        groupInfo,
      }),
    );
  }
}

export { DeliveryKind };
