/**
 * What the relay writes, across its connections: batched fan-out (one writev per recipient per
 * turn of the event loop) and the global output budget (docs/PROTOCOL.md §4.1).
 */
import type { RelayLimits } from './limits.js';

/** A connection as the output side sees it. */
export interface Outlet {
  /** Unsent bytes `ws` holds for it. */
  readonly bufferedAmount: number;
  /** Closed by us for its backlog: counted as gone. */
  readonly isCut: boolean;
  cutOff(why: string): void;
  uncork(): void;
}

/** Frames at least this large trigger the global output-budget check in the turn they are queued. */
export const LARGE_FRAME = 256 * 1024;

export class Output {
  private corked: Outlet[] = [];
  private largeQueued = false;

  constructor(
    private readonly outlets: Iterable<Outlet>,
    private readonly limits: Pick<RelayLimits, 'maxOutputBytes'>,
    /** Bytes held for stored GroupInfos and the rooms' logs, which have their own budgets. */
    private readonly heldBytes: () => number,
  ) {}

  /**
   * Batched fan-out: the first frame written to a socket in this turn of the event loop corks it
   * (the caller did); the socket is uncorked once the turn's work is done, so all the frames that
   * one read of the sender's socket produced leave in a single writev per recipient.
   */
  corkedThisTurn(o: Outlet): void {
    if (this.corked.push(o) === 1) process.nextTick(() => this.uncorkAll());
  }

  /** A frame of LARGE_FRAME bytes or more was queued: the budget is checked at the end of the turn. */
  queuedLarge(): void {
    this.largeQueued = true;
  }

  private uncorkAll(): void {
    const batch = this.corked;
    this.corked = [];
    for (const o of batch) o.uncork();
    if (this.largeQueued) {
      this.largeQueued = false;
      this.enforceBudget();
    }
  }

  /** The unsent bytes of every connection. */
  backlog(): number {
    let n = 0;
    for (const o of this.outlets) n += o.bufferedAmount;
    return n;
  }

  /**
   * The global output budget: the backlogs of all connections together. Each backlog counts in full
   * even where several share one frame's buffer (a commit fanned out to 1000 members is one buffer,
   * counted 1000 times), so connections are cut only when the bytes the process really holds in
   * buffers (`arrayBuffers`, less the GroupInfos and the rooms' logs, which have their own budgets)
   * are over it too.
   * Then the largest backlogs are cut first, until the counted total is back under the budget.
   */
  enforceBudget(): number {
    let total = 0;
    const backlog: [Outlet, number][] = [];
    for (const o of this.outlets) {
      if (o.isCut) continue;
      const b = o.bufferedAmount;
      if (b === 0) continue;
      total += b;
      backlog.push([o, b]);
    }
    if (total <= this.limits.maxOutputBytes) return total;
    if (process.memoryUsage().arrayBuffers - this.heldBytes() <= this.limits.maxOutputBytes) return total;
    backlog.sort((x, y) => y[1] - x[1]);
    for (const [o, b] of backlog) {
      if (total <= this.limits.maxOutputBytes) break;
      o.cutOff('output budget');
      total -= b;
    }
    return total;
  }
}
