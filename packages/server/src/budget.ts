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
  /** Accepted COMMITs of all its connections (commitBurstPerAddress). */
  readonly commits: Bucket;
  /** Frames of all its connections (addressRatePerSecond). */
  readonly frames: Bucket;
}

/** A token bucket: `tokens` as of `at` (performance.now() milliseconds). */
export interface Bucket {
  tokens: number;
  at: number;
}

export const fullBucket = (burst: number, now: number): Bucket => ({ tokens: burst, at: now });

/** Refills the bucket (one token per `intervalMs`, at most `burst`) and takes a token if there is one. */
export function takeToken(b: Bucket, burst: number, intervalMs: number, now: number): boolean {
  refillBucket(b, burst, intervalMs, now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

function refillBucket(b: Bucket, burst: number, intervalMs: number, now: number): void {
  b.tokens = Math.min(burst, b.tokens + Math.max(0, now - b.at) / Math.max(1e-9, intervalMs));
  b.at = now;
}

/**
 * The frame bucket of each address (limits.addressRatePerSecond, addressRateBurst): one relay's,
 * below; relay nodes that share Redis lease it from a bucket in Redis (cluster/addressLeases.ts),
 * so spreading connections over nodes does not multiply it.
 */
export interface AddressFrames {
  /** Takes one frame's token for the address; false: refuse the frame (RATE_LIMITED). */
  take(a: Account, now: number): boolean;
}

/** One relay's address frame buckets: `Account.frames`. */
export function localAddressFrames(
  limits: Pick<RelayLimits, 'ratePerSecond' | 'rateBurst' | 'addressRatePerSecond' | 'addressRateBurst'>,
): AddressFrames {
  const { rate, burst } = addressFrameLimits(limits);
  const interval = 1000 / rate;
  return { take: (a, now) => takeToken(a.frames, burst, interval, now) };
}

/** The address frame bucket's rate and size (unset: 10 x a connection's). */
export function addressFrameLimits(
  limits: Pick<RelayLimits, 'ratePerSecond' | 'rateBurst' | 'addressRatePerSecond' | 'addressRateBurst'>,
): { rate: number; burst: number } {
  return { rate: limits.addressRatePerSecond ?? 10 * limits.ratePerSecond, burst: limits.addressRateBurst ?? 10 * limits.rateBurst };
}

type BucketLimits = Pick<RelayLimits, 'newRoomBurst' | 'newRoomIntervalMs'> &
  Partial<Pick<RelayLimits, 'commitBurstPerAddress' | 'commitIntervalPerAddressMs'>>;

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
      a = {
        key,
        connections: 0,
        memberships: 0,
        groupInfoBytes: 0,
        newRoomTokens: this.limits.newRoomBurst,
        newRoomRefilled: now,
        commits: fullBucket(this.limits.commitBurstPerAddress ?? Infinity, now),
        frames: fullBucket(Infinity, now), // capped at the burst on first use
      };
      this.map.set(key, a);
    }
    return a;
  }

  peek(key: string): Account | undefined {
    return this.map.get(key);
  }

  /** Forgets accounts that hold nothing and whose buckets are full again (called from the relay's timer). */
  prune(now: number): void {
    for (const [key, a] of this.map) {
      if (a.connections > 0 || a.memberships > 0 || a.groupInfoBytes > 0) continue;
      refill(a, this.limits, now);
      const commitBurst = this.limits.commitBurstPerAddress ?? 0;
      if (commitBurst > 0) refillBucket(a.commits, commitBurst, this.limits.commitIntervalPerAddressMs ?? 1, now);
      if (a.newRoomTokens >= this.limits.newRoomBurst && a.commits.tokens >= commitBurst) this.map.delete(key);
    }
  }
}
