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
 * Buckets are forgotten once full again, so memory follows current activity.
 */
import { randomBytes } from 'node:crypto';
import { type Bucket, fullBucket, takeToken } from '../budget.js';

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

export interface PendingLogin {
  /** The canonical name the login is for (its OPAQUE user identifier). */
  readonly name: string;
  /** The user, when the name exists (a login for a name that does not is finished as a failure). */
  readonly userId: string | undefined;
  /** The server's OPAQUE login state. */
  readonly state: string;
  readonly address: string;
  readonly expires: number;
}

export type GateRefusal = 'ADDRESS' | 'ACCOUNT' | 'PENDING';

export class LoginGate {
  private readonly names = new Map<string, Bucket>();
  private readonly addresses = new Map<string, Bucket>();
  private readonly claims = new Map<string, Bucket>();
  private readonly pending = new Map<string, PendingLogin>();
  private readonly pendingPerAddress = new Map<string, number>();

  constructor(
    private readonly limits: LoginLimits = defaultLoginLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** One request from `address` that costs an OPAQUE evaluation: false when its bucket is empty. */
  takeAddress(address: string): boolean {
    const l = this.limits;
    return take(this.addresses, address, l.addressBurst, l.addressIntervalMs, this.now());
  }

  /** One KeyPackage claim by the user: false when its bucket is empty. */
  takeClaim(userId: string): boolean {
    const l = this.limits;
    return take(this.claims, userId, l.claimBurst, l.claimIntervalMs, this.now());
  }

  /** A login start for `name`: a refusal, or undefined when it may go on. */
  startLogin(name: string, address: string): GateRefusal | undefined {
    const l = this.limits;
    if (!this.takeAddress(address)) return 'ADDRESS';
    if (this.pending.size >= l.maxPending || (this.pendingPerAddress.get(address) ?? 0) >= l.maxPendingPerAddress) {
      this.expire();
      if (this.pending.size >= l.maxPending || (this.pendingPerAddress.get(address) ?? 0) >= l.maxPendingPerAddress) return 'PENDING';
    }
    if (!take(this.names, name, l.loginBurst, l.loginIntervalMs, this.now())) return 'ACCOUNT';
    return undefined;
  }

  /** Keeps the server's state of a started login; its id (base64url of 16 random bytes). */
  hold(login: Omit<PendingLogin, 'expires'>): string {
    const id = randomBytes(16).toString('base64url');
    this.pending.set(id, { ...login, expires: this.now() + this.limits.pendingTtlMs });
    this.pendingPerAddress.set(login.address, (this.pendingPerAddress.get(login.address) ?? 0) + 1);
    return id;
  }

  /** Takes a pending login out (it can be finished once); undefined when unknown or expired. */
  take(id: string): PendingLogin | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.drop(id, p);
    return p.expires > this.now() ? p : undefined;
  }

  /** A login finished: the name's bucket is full again. */
  succeeded(name: string): void {
    this.names.delete(name);
  }

  /** Forgets expired logins and full buckets (the relay's timer calls it). */
  expire(): void {
    const now = this.now();
    for (const [id, p] of this.pending) if (p.expires <= now) this.drop(id, p);
    const l = this.limits;
    forgetFull(this.names, l.loginBurst, l.loginIntervalMs, now);
    forgetFull(this.addresses, l.addressBurst, l.addressIntervalMs, now);
    forgetFull(this.claims, l.claimBurst, l.claimIntervalMs, now);
  }

  private drop(id: string, p: PendingLogin): void {
    this.pending.delete(id);
    const n = (this.pendingPerAddress.get(p.address) ?? 1) - 1;
    if (n <= 0) this.pendingPerAddress.delete(p.address);
    else this.pendingPerAddress.set(p.address, n);
  }
}

function take(map: Map<string, Bucket>, key: string, burst: number, intervalMs: number, now: number): boolean {
  let b = map.get(key);
  if (b === undefined) {
    b = fullBucket(burst, now);
    map.set(key, b);
  }
  return takeToken(b, burst, intervalMs, now);
}

function forgetFull(map: Map<string, Bucket>, burst: number, intervalMs: number, now: number): void {
  for (const [k, b] of map) if (b.tokens + (now - b.at) / intervalMs >= burst) map.delete(k);
}
