/**
 * What stands between a guesser and an account (docs/SECURITY.md §13.3). OPAQUE makes every
 * password guess an online exchange with the relay (a copy of the store cannot be tested offline),
 * so the relay counts those exchanges:
 *   - per account name: `loginBurst` login starts, then one every `loginIntervalMs` (a guesser gets
 *     about 1,440 tries a day at the defaults, whatever addresses they come from); a login that
 *     completes fills the name's bucket again, so the owner's devices are not locked out by their
 *     own use. Names that do not exist are counted alike (the answer must not tell them apart);
 *   - per address: `addressBurst` starts (login, registration, password change) then one every
 *     `addressIntervalMs`;
 *   - pending logins (the server's OPAQUE state between start and finish) live `pendingTtlMs`, at
 *     most `maxPending` in all and `maxPendingPerAddress` per address: bounded memory.
 * Buckets are forgotten once full again, so memory follows current activity. The buckets and the
 * pending logins are one relay's memory (below) or shared by relay nodes through Redis
 * (cluster/accountGate.ts): a guesser gets no more tries by spreading them over nodes.
 */
import { randomBytes } from 'node:crypto';
import { type Bucket, fullBucket, takeToken } from '../budget.js';
import type { BucketSpace, Buckets, PendingLogin, PendingLogins } from './accountShared.js';

export type { PendingLogin };

export interface LoginLimits {
  readonly loginBurst: number;
  readonly loginIntervalMs: number;
  readonly addressBurst: number;
  readonly addressIntervalMs: number;
  readonly pendingTtlMs: number;
  readonly maxPending: number;
  readonly maxPendingPerAddress: number;
  /** KeyPackage claims per signed-in account (each hands out one KeyPackage per device of someone). */
  readonly claimBurst: number;
  readonly claimIntervalMs: number;
}

export const defaultLoginLimits: LoginLimits = {
  loginBurst: 10,
  loginIntervalMs: 60_000,
  addressBurst: 30,
  addressIntervalMs: 2_000,
  pendingTtlMs: 60_000,
  maxPending: 10_000,
  maxPendingPerAddress: 20,
  claimBurst: 30,
  claimIntervalMs: 2_000,
};

export type GateRefusal = 'ADDRESS' | 'ACCOUNT' | 'PENDING';

export class LoginGate {
  constructor(
    private readonly limits: LoginLimits,
    readonly buckets: Buckets,
    private readonly logins: PendingLogins,
  ) {}

  /** One request from `address` that costs an OPAQUE evaluation: false when its bucket is empty. */
  async takeAddress(address: string): Promise<boolean> {
    const l = this.limits;
    return (await this.buckets.take('address', address, l.addressBurst, l.addressIntervalMs)) === 0;
  }

  /** One KeyPackage claim by the user: false when its bucket is empty. */
  async takeClaim(userId: string): Promise<boolean> {
    const l = this.limits;
    return (await this.buckets.take('claim', userId, l.claimBurst, l.claimIntervalMs)) === 0;
  }

  /** A login start for `name`: a refusal, or undefined when it may go on. */
  async startLogin(name: string, address: string): Promise<GateRefusal | undefined> {
    const l = this.limits;
    if (!(await this.takeAddress(address))) return 'ADDRESS';
    if (!(await this.logins.room(address, l.maxPending, l.maxPendingPerAddress))) return 'PENDING';
    if ((await this.buckets.take('name', name, l.loginBurst, l.loginIntervalMs)) !== 0) return 'ACCOUNT';
    return undefined;
  }

  /** Keeps the server's state of a started login; its id (base64url of 16 random bytes). */
  hold(login: PendingLogin): Promise<string> {
    return this.logins.hold(login, this.limits.pendingTtlMs);
  }

  /** Takes a pending login out (it can be finished once); undefined when unknown or expired. */
  take(id: string): Promise<PendingLogin | undefined> {
    return this.logins.take(id);
  }

  /** A login finished: the name's bucket is full again. */
  succeeded(name: string): Promise<void> {
    return this.buckets.fill('name', name);
  }

  /** Forgets expired logins and full buckets (the relay's timer calls it). */
  expire(): void {
    this.logins.expire();
    this.buckets.expire();
  }
}

/** One relay's buckets, in its memory: a bucket is forgotten once full again. */
export class MemoryBuckets implements Buckets {
  private readonly spaces = new Map<BucketSpace, { map: Map<string, Bucket>; burst: number; intervalMs: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  async take(space: BucketSpace, key: string, burst: number, intervalMs: number): Promise<number> {
    let s = this.spaces.get(space);
    if (s === undefined) this.spaces.set(space, (s = { map: new Map(), burst, intervalMs }));
    const now = this.now();
    let b = s.map.get(key);
    if (b === undefined) s.map.set(key, (b = fullBucket(burst, now)));
    if (takeToken(b, burst, intervalMs, now)) return 0;
    // The bucket refilled as of now: the next token is (1 - tokens) intervals away.
    return Math.max(1, Math.ceil((1 - b.tokens) * intervalMs));
  }

  async fill(space: BucketSpace, key: string): Promise<void> {
    this.spaces.get(space)?.map.delete(key);
  }

  expire(): void {
    const now = this.now();
    for (const { map, burst, intervalMs } of this.spaces.values()) {
      for (const [k, b] of map) if (b.tokens + (now - b.at) / intervalMs >= burst) map.delete(k);
    }
  }
}

/** One relay's pending logins, in its memory. */
export class MemoryPendingLogins implements PendingLogins {
  private readonly pending = new Map<string, PendingLogin & { readonly expires: number }>();
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  async room(address: string, max: number, maxPerAddress: number): Promise<boolean> {
    const full = () => this.pending.size >= max || (this.perAddress.get(address) ?? 0) >= maxPerAddress;
    if (!full()) return true;
    this.expire();
    return !full();
  }

  async hold(login: PendingLogin, ttlMs: number): Promise<string> {
    const id = randomBytes(16).toString('base64url');
    this.pending.set(id, { ...login, expires: this.now() + ttlMs });
    this.perAddress.set(login.address, (this.perAddress.get(login.address) ?? 0) + 1);
    return id;
  }

  async take(id: string): Promise<PendingLogin | undefined> {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.drop(id, p);
    if (p.expires <= this.now()) return undefined;
    return { name: p.name, userId: p.userId, state: p.state, address: p.address };
  }

  expire(): void {
    const now = this.now();
    for (const [id, p] of this.pending) if (p.expires <= now) this.drop(id, p);
  }

  private drop(id: string, p: PendingLogin): void {
    this.pending.delete(id);
    const n = (this.perAddress.get(p.address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(p.address);
    else this.perAddress.set(p.address, n);
  }
}
