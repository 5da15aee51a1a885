/**
 * Approving a new device from an existing one (docs/PROTOCOL.md §11.8). The new device, signed in
 * with the password, asks (`request`) with its identity key and a tag made with the code it shows;
 * an existing device lists the requests, finds the one whose tag fits the code typed into it, and
 * approves it with the signed list entry that adds the key and a `confirm` tag; the new device
 * reads the outcome (`status`) and trusts the list only if `confirm` fits its code. The relay
 * relays the tags and never learns the code.
 *
 * Requests live in memory, like pending logins: ten minutes, three per account (a fourth replaces
 * the oldest), 10,000 in all. A relay restart drops them and the new device asks again.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface ApprovalLimits {
  readonly ttlMs: number;
  readonly perAccount: number;
  readonly total: number;
}

export const defaultApprovalLimits: ApprovalLimits = { ttlMs: 10 * 60_000, perAccount: 3, total: 10_000 };

export interface DeviceRequest {
  readonly id: string;
  readonly userId: string;
  /** SHA-256 of the session that asked: only it may read the outcome. */
  readonly session: string;
  /** The asking session's token hash, as the store keys it: bound to the device when it is approved. */
  readonly asker: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly tag: Uint8Array;
  readonly createdAt: number;
  readonly expiresAt: number;
  outcome?: { readonly state: 'approved'; readonly device: string; readonly confirm: Uint8Array } | { readonly state: 'declined' };
}

const sessionKey = (tokenHash: Uint8Array) => createHash('sha256').update(tokenHash).digest('base64url');

export class DeviceRequests {
  private readonly byId = new Map<string, DeviceRequest>();

  constructor(private readonly limits: ApprovalLimits = defaultApprovalLimits) {}

  /** A new request (replacing the account's oldest when it has `perAccount`); undefined when the relay holds `total`. */
  add(userId: string, tokenHash: Uint8Array, identityKey: Uint8Array, tag: Uint8Array, now = Date.now()): DeviceRequest | undefined {
    this.expire(now);
    const mine = this.of(userId, now);
    for (const old of mine.slice(0, Math.max(0, mine.length - this.limits.perAccount + 1))) this.byId.delete(old.id);
    if (this.byId.size >= this.limits.total) return undefined;
    const r: DeviceRequest = {
      id: randomBytes(16).toString('base64url'),
      userId,
      session: sessionKey(tokenHash),
      asker: tokenHash,
      identityKey,
      tag,
      createdAt: now,
      expiresAt: now + this.limits.ttlMs,
    };
    this.byId.set(r.id, r);
    return r;
  }

  /** The account's live requests without an outcome, oldest first. */
  of(userId: string, now = Date.now()): DeviceRequest[] {
    return [...this.byId.values()].filter((r) => r.userId === userId && r.expiresAt > now && r.outcome === undefined);
  }

  /** The account's live request `id` (any outcome). */
  get(userId: string, id: string, now = Date.now()): DeviceRequest | undefined {
    const r = this.byId.get(id);
    return r !== undefined && r.userId === userId && r.expiresAt > now ? r : undefined;
  }

  /** Whether this session asked for `r`. */
  askedBy(r: DeviceRequest, tokenHash: Uint8Array): boolean {
    return r.session === sessionKey(tokenHash);
  }

  /** Forgets expired requests. */
  expire(now = Date.now()): void {
    for (const [id, r] of this.byId) if (r.expiresAt <= now) this.byId.delete(id);
  }

  /** Forgets every request of an account (deleted). */
  forget(userId: string): void {
    for (const [id, r] of this.byId) if (r.userId === userId) this.byId.delete(id);
  }
}
