/**
 * The blob store's quotas and budgets (docs/PROTOCOL.md §9, §9.1): bytes of the whole store, blobs
 * and bytes per room, per ticket and per address, and the upload bodies held in memory, in all
 * and per address and ticket. Every check is made on a PUT's headers, before its body is read.
 */
import { MIN_CHUNK_CHARGE, type ResolvedBlobOptions } from './blobOptions.js';
import { isAccountKey } from './accountTickets.js';
import { BlobError } from './errors.js';
import type { Ticket } from './tickets.js';

/** What a chunk of `n` bytes counts against the byte quotas: at least MIN_CHUNK_CHARGE. */
export const charge = (n: number): number => Math.max(n, MIN_CHUNK_CHARGE);

/** What one room or one address holds in the store. */
interface Use {
  blobs: number;
  /** Charged bytes of its stored chunks (as for maxTotalBytes). */
  charged: number;
  /** Charged bytes of its uploads in flight. */
  reserved: number;
}

/** Uses by key (a room's locator key, or an address key); an entry lives while it holds something. */
class Uses {
  private readonly byKey = new Map<string, Use>();

  get(key: string): Use {
    let u = this.byKey.get(key);
    if (u === undefined) this.byKey.set(key, (u = { blobs: 0, charged: 0, reserved: 0 }));
    return u;
  }

  tidy(key: string): void {
    const u = this.byKey.get(key);
    if (u !== undefined && u.blobs === 0 && u.charged === 0 && u.reserved === 0) this.byKey.delete(key);
  }
}

/** One PUT, as the quotas see it. */
export interface Put {
  /** The room and address its blob is charged to (a new blob's: the ticket's room, the request's address). */
  readonly room: string;
  readonly ip: string;
  /** The request's own address (the upload-body share). */
  readonly address: string;
  readonly ticket: Ticket;
  /** The declared body length. */
  readonly len: number;
  /** It creates a blob. */
  readonly fresh: boolean;
}

export class BlobQuotas {
  private readonly rooms = new Uses();
  private readonly ips = new Uses();
  private totalCharged = 0;
  private reservedCharge = 0;
  /** Declared lengths of the bodies being read now, in all and per address. */
  private buffering = 0;
  private readonly ipBuffering = new Map<string, number>();

  constructor(private readonly o: ResolvedBlobOptions) {}

  /** Refuses the first quota or budget the PUT would break (STORE_FULL … SHARE), in the documented order. */
  check(p: Put, liveBlobs: number): void {
    const c = charge(p.len);
    // Peak disk use: the old chunk stays until the new one is renamed over it.
    if (this.totalCharged + this.reservedCharge + c > this.o.maxTotalBytes) throw new BlobError('STORE_FULL');
    const room = this.rooms.get(p.room);
    const from = this.ips.get(p.ip);
    // An account's blobs (§9.3) count against the account's quotas where a room's count against the room's.
    const [maxBlobs, maxBytes, quota] = isAccountKey(p.room)
      ? [this.o.maxBlobsPerAccount, this.o.maxBytesPerAccount, 'ACCOUNT_QUOTA' as const]
      : [this.o.maxBlobsPerRoom, this.o.maxBytesPerRoom, 'ROOM_QUOTA' as const];
    try {
      if (p.fresh) {
        if (liveBlobs >= this.o.maxBlobs) throw new BlobError('STORE_FULL');
        if (room.blobs >= maxBlobs) throw new BlobError(quota);
        if (p.ticket.blobs >= this.o.maxBlobsPerTicket) throw new BlobError('TICKET_QUOTA');
        if (from.blobs >= this.o.maxBlobsPerIp) throw new BlobError('IP_QUOTA');
      }
      if (room.charged + room.reserved + c > maxBytes) throw new BlobError(quota);
      if (p.ticket.bytes + p.len > this.o.maxBytesPerTicket) throw new BlobError('TICKET_QUOTA');
      if (from.charged + from.reserved + c > this.o.maxBytesPerIp) throw new BlobError('IP_QUOTA');
      // Bodies are read into memory whole: bounded in all, and shared so that one client, or one
      // address, cannot hold all of it (slow bodies are cut by the pacer besides).
      if (this.buffering + p.len > this.o.maxUploadBufferBytes) throw new BlobError('BUSY');
      if ((this.ipBuffering.get(p.address) ?? 0) + p.len > this.o.maxUploadBufferBytesPerIp) throw new BlobError('SHARE');
      if (p.ticket.buffering + p.len > this.o.maxUploadBufferBytesPerTicket) throw new BlobError('SHARE');
    } catch (e) {
      this.rooms.tidy(p.room);
      this.ips.tidy(p.ip);
      throw e;
    }
  }

  /** What the blobs charged to `room` (a room or an account) hold: how many, and their charged bytes, stored or in flight. */
  usage(room: string): { blobs: number; bytes: number } {
    const u = this.rooms.get(room);
    const out = { blobs: u.blobs, bytes: u.charged + u.reserved };
    this.rooms.tidy(room);
    return out;
  }

  /** A new blob: it counts against its room, ticket and address until it is removed. */
  created(p: Put): void {
    this.rooms.get(p.room).blobs++;
    this.ips.get(p.ip).blobs++;
    p.ticket.blobs++;
  }

  /** More is stored than the store may hold (a restart under a smaller maxTotalBytes). */
  overBudget(): boolean {
    return this.totalCharged > this.o.maxTotalBytes;
  }

  /** A blob kept from before a restart (blobKept.ts): it counts against its room and `ip` as stored. */
  adopted(room: string, ip: string, charged: number): void {
    this.rooms.get(room).blobs++;
    this.ips.get(ip).blobs++;
    this.stored(room, ip, charged);
  }

  /** The PUT's body is being read: its bytes count as held (and, charged, as stored) until `release`. */
  hold(p: Put): void {
    const c = charge(p.len);
    p.ticket.bytes += p.len;
    p.ticket.buffering += p.len;
    this.ipBuffering.set(p.address, (this.ipBuffering.get(p.address) ?? 0) + p.len);
    this.buffering += p.len;
    this.reservedCharge += c;
    this.rooms.get(p.room).reserved += c;
    this.ips.get(p.ip).reserved += c;
  }

  release(p: Put): void {
    const c = charge(p.len);
    p.ticket.buffering -= p.len;
    const left = (this.ipBuffering.get(p.address) ?? p.len) - p.len;
    if (left > 0) this.ipBuffering.set(p.address, left);
    else this.ipBuffering.delete(p.address);
    this.buffering -= p.len;
    this.reservedCharge -= c;
    this.rooms.get(p.room).reserved -= c;
    this.ips.get(p.ip).reserved -= c;
    this.rooms.tidy(p.room);
    this.ips.tidy(p.ip);
  }

  /** A chunk landed (or was replaced): `delta` charged bytes more for the store, its room and address. */
  stored(room: string, ip: string, delta: number): void {
    this.totalCharged += delta;
    this.rooms.get(room).charged += delta;
    this.ips.get(ip).charged += delta;
  }

  /** A blob with `charged` bytes was removed. */
  removed(room: string, ip: string, charged: number): void {
    this.totalCharged -= charged;
    for (const [uses, key] of [
      [this.rooms, room],
      [this.ips, ip],
    ] as const) {
      const u = uses.get(key);
      u.blobs--;
      u.charged -= charged;
      uses.tidy(key);
    }
  }
}
