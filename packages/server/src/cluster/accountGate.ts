/**
 * The login gate's buckets and pending logins (accounts/loginGate.ts) shared by relay nodes through
 * Redis (docs/PROTOCOL.md §12): a bucket is one for every node, so a guesser who spreads login
 * attempts over the nodes gets no more of them than from one; a login started on one node is
 * finished on any. Redis holds a bucket under an HMAC of its key (never a name or an address), and
 * a pending login sealed (its OPAQUE server state is a secret of that login).
 */
import { randomBytes } from 'node:crypto';
import type { BucketSpace, Buckets, PendingLogin, PendingLogins } from '../accounts/accountShared.js';
import type { AccountKeys, AccountRedis } from './accountRedis.js';

export class RedisBuckets implements Buckets {
  constructor(
    private readonly redis: AccountRedis,
    private readonly keys: AccountKeys,
  ) {}

  async take(space: BucketSpace, key: string, burst: number, intervalMs: number): Promise<number> {
    return Number(await this.redis.run('TAKE', [this.keys.tag(`bucket ${space}`, key), burst, intervalMs]));
  }

  async fill(space: BucketSpace, key: string): Promise<void> {
    await this.redis.run('FILL', [this.keys.tag(`bucket ${space}`, key)]);
  }

  /** Redis forgets a bucket once it would be full again (its key expires then). */
  expire(): void {}
}

export class RedisPendingLogins implements PendingLogins {
  constructor(
    private readonly redis: AccountRedis,
    private readonly keys: AccountKeys,
  ) {}

  async room(address: string, max: number, maxPerAddress: number): Promise<boolean> {
    return Number(await this.redis.run('ROOM', [this.keys.tag('address', address), max, maxPerAddress])) === 1;
  }

  async hold(login: PendingLogin, ttlMs: number): Promise<string> {
    const id = randomBytes(16).toString('base64url');
    const plain = Buffer.from(JSON.stringify({ n: login.name, u: login.userId ?? null, s: login.state, a: login.address }));
    await this.redis.run('HOLD', [id, this.keys.tag('address', login.address), this.keys.sealed(plain, `login ${id}`), ttlMs]);
    return id;
  }

  async take(id: string): Promise<PendingLogin | undefined> {
    const sealed = await this.redis.run('UNHOLD', [id]);
    if (typeof sealed !== 'string') return undefined;
    const plain = this.keys.opened(sealed, `login ${id}`);
    if (plain === undefined) return undefined;
    const p = JSON.parse(plain.toString()) as { n: string; u: string | null; s: string; a: string };
    return { name: p.n, userId: p.u ?? undefined, state: p.s, address: p.a };
  }

  /** Pending logins expire in Redis. */
  expire(): void {}
}
