/**
 * Approving a new device from an existing one (docs/PROTOCOL.md §11.8). The new device, signed in
 * with the password, asks (`request`) with its identity key and a tag made with the code it shows;
 * an existing device lists the requests, finds the one whose tag fits the code typed into it, and
 * approves it with the signed list entry that adds the key and a `confirm` tag; the new device
 * reads the outcome (`status`) and trusts the list only if `confirm` fits its code. The relay
 * relays the tags and never learns the code.
 *
 * Requests live in memory, like pending logins: ten minutes, three per account (a fourth replaces
 * the oldest), 10,000 in all. A relay restart drops them and the new device asks again. Relay
 * nodes share them through Redis (cluster/accountDevices.ts): a request made on one node is seen,
 * approved and read on any other.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ApprovalStore, DeviceRequest, RequestOutcome } from './accountShared.js';

export type { DeviceRequest };

export interface ApprovalLimits {
  readonly ttlMs: number;
  readonly perAccount: number;
  readonly total: number;
}

export const defaultApprovalLimits: ApprovalLimits = { ttlMs: 10 * 60_000, perAccount: 3, total: 10_000 };

const sessionKey = (tokenHash: Uint8Array) => createHash('sha256').update(tokenHash).digest('base64url');

interface Held extends DeviceRequest {
  /** SHA-256 of the session that asked: only it may read the outcome. */
  readonly session: string;
  outcome?: RequestOutcome;
}

/** One relay's requests, in its memory. */
export class DeviceRequests implements ApprovalStore {
  private readonly byId = new Map<string, Held>();

  constructor(
    private readonly limits: ApprovalLimits = defaultApprovalLimits,
    private readonly now: () => number = () => Date.now(),
  ) {}

  async add(userId: string, tokenHash: Uint8Array, identityKey: Uint8Array, tag: Uint8Array): Promise<DeviceRequest | undefined> {
    const now = this.now();
    this.expire();
    const mine = this.open(userId, now);
    for (const old of mine.slice(0, Math.max(0, mine.length - this.limits.perAccount + 1))) this.byId.delete(old.id);
    if (this.byId.size >= this.limits.total) return undefined;
    const r: Held = {
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

  async of(userId: string): Promise<DeviceRequest[]> {
    return this.open(userId, this.now());
  }

  async get(userId: string, id: string): Promise<DeviceRequest | undefined> {
    const r = this.byId.get(id);
    return r !== undefined && r.userId === userId && r.expiresAt > this.now() ? { ...r } : undefined;
  }

  async settle(userId: string, id: string, outcome: RequestOutcome): Promise<boolean> {
    const r = this.byId.get(id);
    if (r === undefined || r.userId !== userId || r.expiresAt <= this.now() || r.outcome !== undefined) return false;
    r.outcome = outcome;
    return true;
  }

  askedBy(r: DeviceRequest, tokenHash: Uint8Array): boolean {
    return this.byId.get(r.id)?.session === sessionKey(tokenHash);
  }

  async forget(userId: string): Promise<void> {
    for (const [id, r] of this.byId) if (r.userId === userId) this.byId.delete(id);
  }

  expire(): void {
    const now = this.now();
    for (const [id, r] of this.byId) if (r.expiresAt <= now) this.byId.delete(id);
  }

  private open(userId: string, now: number): Held[] {
    return [...this.byId.values()].filter((r) => r.userId === userId && r.expiresAt > now && r.outcome === undefined);
  }
}
