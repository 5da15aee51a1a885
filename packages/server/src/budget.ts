/**
 * What one address (an IPv4 address or an IPv6 /64, see address.ts) holds on the relay, for the
 * per-address caps and budgets of docs/PROTOCOL.md §4.1. Accounts live while they hold something,
 * or while their new-room bucket is refilling (so reconnecting does not refill it).
 */
import type { RelayLimits } from './limits.js';

export interface Account {
  readonly key: string;
  connections: number;
  /** Room memberships of all its connections. */
  memberships: number;
  /** Bytes charged for the rooms whose current GroupInfo one of its connections uploaded. */
  groupInfoBytes: number;
  /** Token bucket for JOINs that create a room record. */
  newRoomTokens: number;
  newRoomRefilled: number;
}

type BucketLimits = Pick<RelayLimits, 'newRoomBurst' | 'newRoomIntervalMs'>;

/** Takes one new-room token if there is one (refilling first); false: refuse with TOO_MANY_NEW_ROOMS. */
export function takeNewRoom(a: Account, limits: BucketLimits, now: number): boolean {
  refill(a, limits, now);
  if (a.newRoomTokens < 1) return false;
  a.newRoomTokens -= 1;
  return true;
}

function refill(a: Account, limits: BucketLimits, now: number): void {
  const t = a.newRoomTokens + (now - a.newRoomRefilled) / Math.max(1, limits.newRoomIntervalMs);
  a.newRoomTokens = Math.min(limits.newRoomBurst, t);
  a.newRoomRefilled = now;
}

export class Accounts {
  private readonly map = new Map<string, Account>();
  constructor(private readonly limits: BucketLimits) {}

  get size(): number {
    return this.map.size;
  }

  /** The account for an address key, made on first use with a full bucket. */
  get(key: string, now: number): Account {
    let a = this.map.get(key);
    if (a === undefined) {
      a = { key, connections: 0, memberships: 0, groupInfoBytes: 0, newRoomTokens: this.limits.newRoomBurst, newRoomRefilled: now };
      this.map.set(key, a);
    }
    return a;
  }

  peek(key: string): Account | undefined {
    return this.map.get(key);
  }

  /** Forgets accounts that hold nothing and whose bucket is full again (called from the relay's timer). */
  prune(now: number): void {
    for (const [key, a] of this.map) {
      if (a.connections > 0 || a.memberships > 0 || a.groupInfoBytes > 0) continue;
      refill(a, this.limits, now);
      if (a.newRoomTokens >= this.limits.newRoomBurst) this.map.delete(key);
    }
  }
}
