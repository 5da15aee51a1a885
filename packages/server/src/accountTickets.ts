/**
 * Blob upload tickets of account devices (docs/PROTOCOL.md §9.3). A device whose session is bound
 * to it asks `POST /api/blobs/ticket`; the ticket it gets works with the blob endpoint exactly as a
 * room's (§9.1), but what it creates is charged to the *account* (`account:<user id>`, the blob
 * store's quotas and retention for accounts) instead of a room, and it lasts a fixed time instead
 * of a stay: an hour, then the device asks again (a PUT with an expired ticket is BAD_TICKET, which
 * clients answer by asking again). Removing the device or deleting the account ends its tickets.
 *
 * A ticket names a device, never a file or a conversation: the relay learns that this device
 * uploads this much, as it learns that a connection in a room does.
 *
 * Here, one relay's tickets in its memory; relay nodes share them through Redis
 * (cluster/accountBlobTickets.ts), so that a ticket issued by one node is good on every other (the
 * blob store itself, and so each ticket's per-ticket counts, stays each node's).
 */
import { randomBytes } from 'node:crypto';
import { TICKET_BYTES } from '@nullroom/protocol';
import type { AccountTicketStore } from './accounts/accountShared.js';
import type { BlobTicketSource } from './accounts/blobTicketHttp.js';
import type { BlobHttp } from './blobHttp.js';
import type { Ticket } from './tickets.js';

/** The charge key of an account's blobs (a room's is the hex of its locator: never with a colon). */
export const accountKey = (userId: string): string => `account:${userId}`;
export const isAccountKey = (key: string): boolean => key.startsWith('account:');

/** How long one account ticket is valid. */
export const ACCOUNT_TICKET_MS = 60 * 60 * 1000;
const TICKET = /^[A-Za-z0-9_-]{43}$/;

interface Entry extends Ticket {
  readonly value: string;
  readonly user: string;
  readonly device: string;
  readonly expiresAt: number;
}

export class AccountTickets implements AccountTicketStore {
  private readonly byValue = new Map<string, Entry>();
  private readonly byDevice = new Map<string, Entry>();
  private lastPrune = 0;

  constructor(private readonly lifetimeMs = ACCOUNT_TICKET_MS) {}

  /**
   * The ticket of `device` (of account `user`): the same one while it is valid (its per-ticket
   * quotas go on), a new one once it expired.
   */
  async issue(user: string, device: string, now = Date.now()): Promise<{ ticket: string; expiresAt: number }> {
    return this.issueNow(user, device, now);
  }

  private issueNow(user: string, device: string, now: number): { ticket: string; expiresAt: number } {
    this.prune(now);
    let e = this.byDevice.get(device);
    if (e === undefined || e.expiresAt <= now || e.user !== user) {
      if (e !== undefined) this.byValue.delete(e.value);
      const value = randomBytes(TICKET_BYTES).toString('base64url');
      e = { value, user, device, expiresAt: now + this.lifetimeMs, room: accountKey(user), blobs: 0, bytes: 0, buffering: 0 };
      this.byDevice.set(device, e);
      this.byValue.set(value, e);
    }
    return { ticket: e.value, expiresAt: e.expiresAt };
  }

  /** The ticket a request header names, if it is well-formed, was issued and has not expired. */
  async check(header: string | string[] | undefined, now = Date.now()): Promise<Ticket | undefined> {
    if (typeof header !== 'string' || !TICKET.test(header)) return undefined;
    const e = this.byValue.get(header);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      this.forget(e);
      return undefined;
    }
    return e;
  }

  /** The device was removed from its account: its ticket ends. */
  async dropDevice(device: string): Promise<void> {
    const e = this.byDevice.get(device);
    if (e !== undefined) this.forget(e);
  }

  /** The account was deleted: every ticket of its devices ends. */
  async dropUser(user: string): Promise<void> {
    for (const e of [...this.byDevice.values()]) if (e.user === user) this.forget(e);
  }

  get size(): number {
    return this.byValue.size;
  }

  private forget(e: Entry): void {
    this.byValue.delete(e.value);
    if (this.byDevice.get(e.device) === e) this.byDevice.delete(e.device);
  }

  /** Expired tickets, once a minute at most: memory holds one ticket per device that asked within the hour. */
  private prune(now: number): void {
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    for (const e of [...this.byValue.values()]) if (e.expiresAt <= now) this.forget(e);
  }
}

/** The blob store and the account tickets, as the relay joins them. */
export interface AccountFiles {
  readonly blobs: BlobHttp;
  readonly tickets: AccountTicketStore;
}

/** What `POST /api/blobs/ticket` and account deletion need of them (accounts/blobTicketHttp.ts). */
export function accountBlobTickets(
  tickets: AccountTicketStore,
  blobs: BlobHttp,
  deleted?: (userId: string) => Promise<void>,
): BlobTicketSource {
  return {
    issue: (userId, device) => tickets.issue(userId, device),
    usage: (userId) => blobs.usage(accountKey(userId)),
    accountDeleted: async (userId) => {
      await tickets.dropUser(userId);
      await blobs.removeAll(accountKey(userId));
      // The other nodes' blob stores hold the account's blobs uploaded there (a shared bus tells them).
      await deleted?.(userId);
    },
  };
}
