/**
 * Account blob tickets (accountTickets.ts, docs/PROTOCOL.md §9.3) shared by relay nodes through
 * Redis (§12): a ticket issued by one node is good on every node, the same one is handed out again
 * while it is valid, and removing a device or deleting an account ends its tickets everywhere.
 * Redis keys a ticket by an HMAC of its value and keeps the value itself only sealed.
 *
 * The blob store stays each node's (its files on that node's disk): a ticket's per-ticket counts
 * (blobs, bytes, what is being read) are counted by each node for what is uploaded to it.
 */
import { randomBytes } from 'node:crypto';
import { TICKET_BYTES } from '@nullroom/protocol';
import type { AccountTicketStore } from '../accounts/accountShared.js';
import { ACCOUNT_TICKET_MS, accountKey } from '../accountTickets.js';
import type { Ticket } from '../tickets.js';
import type { AccountKeys, AccountRedis } from './accountRedis.js';

const TICKET = /^[A-Za-z0-9_-]{43}$/;

interface Entry extends Ticket {
  readonly expiresAt: number;
}

export class RedisAccountTickets implements AccountTicketStore {
  /** This node's counts of each ticket used here, by tag; forgotten when Redis no longer has the ticket. */
  private readonly counted = new Map<string, Entry>();

  constructor(
    private readonly redis: AccountRedis,
    private readonly keys: AccountKeys,
    private readonly lifetimeMs = ACCOUNT_TICKET_MS,
  ) {}

  async issue(user: string, device: string): Promise<{ ticket: string; expiresAt: number }> {
    const fresh = randomBytes(TICKET_BYTES).toString('base64url');
    const tag = this.keys.tag('ticket', fresh);
    const r = (await this.redis.run('TICKET', [
      user,
      device,
      tag,
      this.keys.sealed(Buffer.from(fresh), `ticket ${device}`),
      this.lifetimeMs,
    ])) as [string, string];
    const value = this.keys.opened(r[0], `ticket ${device}`);
    if (value === undefined) throw new Error('a ticket in Redis does not open with this node’s key');
    return { ticket: value.toString(), expiresAt: Number(r[1]) };
  }

  async check(header: string | string[] | undefined): Promise<Ticket | undefined> {
    if (typeof header !== 'string' || !TICKET.test(header)) return undefined;
    const tag = this.keys.tag('ticket', header);
    const r = await this.redis.run('TICKET_CHECK', [tag]);
    if (!Array.isArray(r)) {
      this.counted.delete(tag);
      return undefined;
    }
    const [user, , ends] = r as string[];
    let e = this.counted.get(tag);
    if (e === undefined || e.room !== accountKey(user!)) {
      this.prune();
      e = { room: accountKey(user!), expiresAt: Number(ends), blobs: 0, bytes: 0, buffering: 0 };
      this.counted.set(tag, e);
    }
    return e;
  }

  async dropDevice(device: string): Promise<void> {
    await this.redis.run('TICKET_DROP', [device]);
  }

  async dropUser(user: string): Promise<void> {
    await this.redis.run('TICKET_DROP_USER', [user]);
  }

  /** Counts of expired tickets go: memory holds one entry per ticket used here within the hour. */
  private prune(): void {
    const now = Date.now();
    for (const [k, e] of this.counted) if (e.expiresAt <= now) this.counted.delete(k);
  }
}
