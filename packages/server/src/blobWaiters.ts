/**
 * Long-poll GETs (`GET /blobs/{id}/{index}?wait=MS`, docs/PROTOCOL.md §9): requests that wait for
 * a chunk not yet stored, bounded in all and per address, woken when the chunk lands or the blob
 * goes, or when the relay stops.
 */
import type { ServerResponse } from 'node:http';
import { BlobError } from './errors.js';

/** How a wait ended: the chunk is stored, the blob was removed, time ran out, the relay is stopping, the client left. */
export type WaitResult = 'ready' | 'gone' | 'timeout' | 'closing' | 'closed';

interface Waiter {
  readonly index: number;
  done(r: WaitResult): void;
}

export class BlobWaiters {
  private readonly byBlob = new Map<string, Set<Waiter>>();
  private waiting = 0;
  /** Waiting GETs per address (maxWaitersPerIp). */
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly maxWaiters: number,
    private readonly maxWaitersPerAddress: number,
  ) {}

  /** Refuses a new wait over the caps: WAITERS_BUSY in all, WAITERS_SHARE for one address. */
  admit(address: string): void {
    if (this.waiting >= this.maxWaiters) throw new BlobError('WAITERS_BUSY');
    // One address cannot take every place: the others keep theirs.
    if ((this.perAddress.get(address) ?? 0) >= this.maxWaitersPerAddress) throw new BlobError('WAITERS_SHARE');
  }

  /** Waits up to `ms` for chunk `index` of blob `id`; ends early when `res` closes. */
  wait(id: string, index: number, ms: number, res: ServerResponse, address: string): Promise<WaitResult> {
    return new Promise((resolve) => {
      let set = this.byBlob.get(id);
      if (set === undefined) this.byBlob.set(id, (set = new Set()));
      const s = set;
      this.waiting++;
      this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
      const w: Waiter = {
        index,
        done: (r) => {
          if (!s.delete(w)) return;
          this.waiting--;
          const n = (this.perAddress.get(address) ?? 1) - 1;
          if (n > 0) this.perAddress.set(address, n);
          else this.perAddress.delete(address);
          if (s.size === 0 && this.byBlob.get(id) === s) this.byBlob.delete(id);
          clearTimeout(timer);
          res.off('close', onClose);
          resolve(r);
        },
      };
      const onClose = () => w.done('closed');
      const timer = setTimeout(() => w.done('timeout'), ms);
      res.on('close', onClose);
      s.add(w);
    });
  }

  /** Ends the waits for chunk `index` of blob `id` (every chunk of it when undefined) with `r`. */
  wake(id: string, index: number | undefined, r: WaitResult): void {
    const set = this.byBlob.get(id);
    if (set === undefined) return;
    for (const w of [...set]) if (index === undefined || w.index === index) w.done(r);
  }

  /** Ends every wait: the relay is stopping. */
  closeAll(): void {
    for (const set of [...this.byBlob.values()]) for (const w of [...set]) w.done('closing');
  }
}
