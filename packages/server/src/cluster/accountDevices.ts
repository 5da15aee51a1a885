/**
 * Bind challenges (accounts/deviceBinding.ts) and device approval requests (accounts/deviceApproval.ts)
 * shared by relay nodes through Redis (docs/PROTOCOL.md §12): a challenge fetched from one node is
 * answered on another, and taken once for all; a request made on one node is listed, approved and
 * read on any. Redis keys a session by an HMAC of its hash, and holds the hash a request binds on
 * approval sealed; a request's identity key and tag are what the relay hands the approving device.
 */
import { randomBytes } from 'node:crypto';
import { CHALLENGE_BYTES } from '@nullroom/protocol';
import type { ApprovalStore, BindChallengeStore, DeviceRequest, RequestOutcome } from '../accounts/accountShared.js';
import { type ApprovalLimits, defaultApprovalLimits } from '../accounts/deviceApproval.js';
import { type BindLimits, defaultBindLimits } from '../accounts/deviceBinding.js';
import type { AccountKeys, AccountRedis } from './accountRedis.js';

const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
const raw = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));

export class RedisChallenges implements BindChallengeStore {
  constructor(
    private readonly redis: AccountRedis,
    private readonly keys: AccountKeys,
    private readonly limits: BindLimits = defaultBindLimits,
  ) {}

  async issue(tokenHash: Uint8Array): Promise<{ nonce: Uint8Array; expiresAt: number } | undefined> {
    const nonce = new Uint8Array(randomBytes(CHALLENGE_BYTES));
    const r = await this.redis.run('CHALLENGE', [this.keys.tag('bind', tokenHash), b64(nonce), this.limits.ttlMs, this.limits.total]);
    const expiresAt = Number(r);
    return expiresAt > 0 ? { nonce, expiresAt } : undefined;
  }

  async take(tokenHash: Uint8Array): Promise<Uint8Array | undefined> {
    const r = await this.redis.run('UNCHALLENGE', [this.keys.tag('bind', tokenHash)]);
    return typeof r === 'string' ? raw(r) : undefined;
  }

  /** Challenges expire in Redis. */
  expire(): void {}
}

interface Held extends DeviceRequest {
  /** The tag of the session that asked. */
  readonly session: string;
}

export class RedisRequests implements ApprovalStore {
  constructor(
    private readonly redis: AccountRedis,
    private readonly keys: AccountKeys,
    private readonly limits: ApprovalLimits = defaultApprovalLimits,
  ) {}

  async add(userId: string, tokenHash: Uint8Array, identityKey: Uint8Array, tag: Uint8Array): Promise<DeviceRequest | undefined> {
    const id = randomBytes(16).toString('base64url');
    const l = this.limits;
    const session = this.keys.tag('asker', tokenHash);
    const asker = this.keys.sealed(tokenHash, `request ${id}`);
    const r = await this.redis.run('REQUEST', [userId, id, session, asker, b64(identityKey), b64(tag), l.ttlMs, l.perAccount, l.total]);
    if (!Array.isArray(r)) return undefined;
    const held: Held = {
      id,
      userId,
      session,
      asker: tokenHash,
      identityKey,
      tag,
      createdAt: Number(r[0]),
      expiresAt: Number(r[1]),
    };
    return held;
  }

  async of(userId: string): Promise<DeviceRequest[]> {
    const rows = (await this.redis.run('REQUESTS', [userId])) as string[][];
    return rows.flatMap((row) => this.request(userId, row) ?? []);
  }

  async get(userId: string, id: string): Promise<DeviceRequest | undefined> {
    const row = await this.redis.run('REQUEST_GET', [userId, id]);
    return Array.isArray(row) ? this.request(userId, row as string[]) : undefined;
  }

  async settle(userId: string, id: string, outcome: RequestOutcome): Promise<boolean> {
    const o = outcome.state === 'declined' ? 'd' : `a ${outcome.device} ${b64(outcome.confirm)}`;
    return Number(await this.redis.run('SETTLE', [userId, id, o])) === 1;
  }

  askedBy(r: DeviceRequest, tokenHash: Uint8Array): boolean {
    return (r as Held).session === this.keys.tag('asker', tokenHash);
  }

  async forget(userId: string): Promise<void> {
    await this.redis.run('FORGET', [userId]);
  }

  /** Requests expire in Redis. */
  expire(): void {}

  /** A row {id, session tag, sealed asker, key, tag, created, ends, outcome}; undefined when the asker does not open. */
  private request(userId: string, [id, session, sealed, key, tag, created, ends, o]: string[]): Held | undefined {
    const asker = this.keys.opened(sealed ?? '', `request ${id}`);
    if (id === undefined || session === undefined || asker === undefined) return undefined;
    const parts = (o ?? '').split(' ');
    const outcome: RequestOutcome | undefined =
      parts[0] === 'd'
        ? { state: 'declined' }
        : parts[0] === 'a' && parts.length === 3
          ? { state: 'approved', device: parts[1]!, confirm: raw(parts[2]!) }
          : undefined;
    return {
      id,
      userId,
      session,
      asker: new Uint8Array(asker),
      identityKey: raw(key ?? ''),
      tag: raw(tag ?? ''),
      createdAt: Number(created),
      expiresAt: Number(ends),
      ...(outcome === undefined ? {} : { outcome }),
    };
  }
}
