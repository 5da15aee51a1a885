/**
 * The rooms' logs (docs/PROTOCOL.md §4.5 "The log"): each room keeps the encoded DELIVER frames it
 * sequenced (the very buffer its recipients got, never a copy per recipient) for resumeGraceMs +
 * 2 x pingIntervalMs, and the DIRECT_DELIVER frames held for its away slots, so that a member that
 * lost its connection can be given what it missed. Opaque ciphertext only.
 *
 * Bounded per room (maxLogBytesPerRoom) and in total (maxLogBytes): past a bound the oldest
 * deliveries are dropped, in that room or in the room with the largest log. Held DIRECT frames
 * count towards the same bounds but are never dropped to make room: one that does not fit is
 * refused (OVER_BUDGET) instead, so a frame the relay acknowledged is never silently lost.
 */
import type { RelayLimits } from './limits.js';

/** One logged delivery. `at`: when it was sequenced (Date.now() ms). */
export interface LogEntry {
  readonly seq: number;
  at: number;
  readonly frame: Uint8Array;
}

/** A DIRECT_DELIVER held for away slot `slot`, written after the room's delivery `afterSeq` on RESUME. */
export interface HeldDirect {
  readonly slot: number;
  readonly afterSeq: number;
  readonly at: number;
  readonly frame: Uint8Array;
}

type LogLimits = Pick<RelayLimits, 'resumeGraceMs' | 'pingIntervalMs' | 'maxLogBytesPerRoom' | 'maxLogBytes'>;

/** One room's log. Its entries have consecutive `seq`s: only the oldest are ever dropped. */
export class RoomLog {
  private entries: LogEntry[] = [];
  private head = 0;
  /** Held DIRECT frames, oldest first. */
  private held: HeldDirect[] = [];
  entryBytes = 0;
  directBytes = 0;

  constructor(
    /** The room's locator key. */
    readonly key: string,
    /** The highest `seq` dropped from the log (0: none); a RESUME must have read at least that far. */
    public dropped = 0,
  ) {}

  get bytes(): number {
    return this.entryBytes + this.directBytes;
  }

  get oldest(): LogEntry | undefined {
    return this.entries[this.head];
  }

  get size(): number {
    return this.entries.length - this.head;
  }

  push(e: LogEntry): void {
    this.entries.push(e);
    this.entryBytes += e.frame.byteLength;
  }

  /** Drops the oldest entry; its bytes. */
  shift(): number {
    const e = this.entries[this.head];
    if (e === undefined) return 0;
    this.entries[this.head++] = undefined as never;
    // Emptied (a room gone quiet whose entries expired): its slots, up to ~2,000, are not kept idle.
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    this.dropped = e.seq;
    this.entryBytes -= e.frame.byteLength;
    return e.frame.byteLength;
  }

  /** The entries with `seq` greater than `after`, in order. */
  since(after: number): LogEntry[] {
    const first = this.oldest;
    if (first === undefined) return [];
    return this.entries.slice(this.head + Math.max(0, after + 1 - first.seq));
  }

  hold(d: HeldDirect): void {
    this.held.push(d);
    this.directBytes += d.frame.byteLength;
  }

  /** The frames held for `slot`, oldest first. */
  directsFor(slot: number): HeldDirect[] {
    return this.held.filter((d) => d.slot === slot);
  }

  hasDirects(slot: number): boolean {
    return this.held.some((d) => d.slot === slot);
  }

  /** Forgets the frames held for `slot`; the bytes freed. */
  release(slot: number): number {
    let freed = 0;
    this.held = this.held.filter((d) => {
      if (d.slot !== slot) return true;
      freed += d.frame.byteLength;
      return false;
    });
    this.directBytes -= freed;
    return freed;
  }
}

/** Every room's log, and the budgets they share. */
export class Logs {
  /** Logs holding something (the candidates for the global budget). */
  private readonly logs = new Set<RoomLog>();
  private entryTotal = 0;
  private directTotal = 0;

  constructor(
    private readonly limits: LogLimits,
    /** Entries were dropped from `log` (its `dropped` moved): for the store and the away slots. */
    private readonly trimmed: (log: RoomLog) => void,
  ) {}

  /** How long an entry is kept: a member that drops may have missed up to two ping intervals. */
  get keepMs(): number {
    return this.limits.resumeGraceMs + 2 * this.limits.pingIntervalMs;
  }

  /** Bytes held by all logs. */
  get bytes(): number {
    return this.entryTotal + this.directTotal;
  }

  /** Logs a delivery; then the budgets drop what no longer fits (the new entry itself, if need be). */
  append(log: RoomLog, e: LogEntry): void {
    log.push(e);
    this.entryTotal += e.frame.byteLength;
    this.logs.add(log);
    this.enforce(log);
  }

  /** Holds a DIRECT for an away slot if the held frames fit the budgets; false: refuse (OVER_BUDGET). */
  hold(log: RoomLog, d: HeldDirect): boolean {
    const n = d.frame.byteLength;
    if (log.directBytes + n > this.limits.maxLogBytesPerRoom || this.directTotal + n > this.limits.maxLogBytes) return false;
    log.hold(d);
    this.directTotal += n;
    this.logs.add(log);
    this.enforce(log);
    return true;
  }

  /** Forgets the frames held for `slot` (it resumed, or left). */
  release(log: RoomLog, slot: number): void {
    this.directTotal -= log.release(slot);
    if (log.bytes === 0) this.logs.delete(log);
  }

  /** Drops `log`'s entries older than keepMs. */
  expire(log: RoomLog, now: number): void {
    const before = log.dropped;
    while (log.oldest !== undefined && log.oldest.at + this.keepMs <= now) this.entryTotal -= log.shift();
    if (log.bytes === 0) this.logs.delete(log);
    if (log.dropped !== before) this.trimmed(log);
  }

  /** The room is gone: its log with it. */
  forget(log: RoomLog): void {
    this.entryTotal -= log.entryBytes;
    this.directTotal -= log.directBytes;
    this.logs.delete(log);
  }

  /** The room's bound first, then the global one, dropping the oldest entries. */
  private enforce(log: RoomLog): void {
    const before = log.dropped;
    while (log.bytes > this.limits.maxLogBytesPerRoom && log.size > 0) this.entryTotal -= log.shift();
    if (log.dropped !== before) this.trimmed(log);
    const touched = new Set<RoomLog>();
    while (this.bytes > this.limits.maxLogBytes) {
      const largest = this.largest();
      if (largest === undefined) break;
      this.entryTotal -= largest.shift();
      touched.add(largest);
      if (largest.bytes === 0) this.logs.delete(largest);
    }
    for (const l of touched) this.trimmed(l);
    if (log.bytes === 0) this.logs.delete(log);
  }

  /** The log with the most entry bytes (held frames are never dropped to make room). */
  private largest(): RoomLog | undefined {
    let best: RoomLog | undefined;
    for (const l of this.logs) if (l.size > 0 && (best === undefined || l.bytes > best.bytes)) best = l;
    return best;
  }
}
