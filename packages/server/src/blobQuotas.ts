/**
 * The blob store's quotas and budgets (docs/PROTOCOL.md §9, §9.1): bytes of the whole store, blobs
 * and bytes per room, per ticket and per address, and the upload bodies held in memory, in all
 * and per address and ticket. Every check is made on a PUT's headers, before its body is read.
 *
 * On a node of a cluster, the room, account and address quotas hold across all nodes (a QuotaShare,
 * cluster/blobQuotaShare.ts): after this node's own checks pass, what it would then hold is weighed
 * with the other nodes' holdings in Redis. The store's total, the tickets' counts and the upload
 * bodies in memory guard this node's own disk and memory and stay its own.
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

  /** What `key` holds, stored or in flight (without making an entry). */
  holding(key: string): Holding {
    const u = this.byKey.get(key);
    return u === undefined ? { blobs: 0, bytes: 0 } : { blobs: u.blobs, bytes: u.charged + u.reserved };
  }

  *holdings(): Iterable<readonly [string, Holding]> {
    for (const [key, u] of this.byKey) yield [key, { blobs: u.blobs, bytes: u.charged + u.reserved }];
  }
}

/** What this node holds of one room's (or account's) or address's quota: blobs, and charged bytes stored or in flight. */
export interface Holding {
  readonly blobs: number;
  readonly bytes: number;
}

export type QuotaKind = 'room' | 'address';

/** One quota a PUT is weighed against across the nodes: this node's holding with the PUT, and the limits. */
export interface Weighed {
  readonly key: string;
  readonly held: Holding;
  readonly maxBlobs: number;
  readonly maxBytes: number;
}

/** A PUT this node checked and reserved, for the cluster to admit or refuse. */
export interface Admission {
  /** It creates a blob (the blob counts are weighed too). */
  readonly fresh: boolean;
  readonly room: Weighed & { readonly quota: 'ROOM_QUOTA' | 'ACCOUNT_QUOTA' };
  /** Undefined for a blob charged to no address (one kept across a restart). */
  readonly address: Weighed | undefined;
}

/**
 * The room, account and address quotas of the nodes of a cluster, held together
 * (cluster/blobQuotaShare.ts). A relay alone has none: its own counts are all the counts there
 * are, and its checks stay synchronous.
 */
export interface QuotaShare {
  /** Refuses the PUT (ROOM_QUOTA, ACCOUNT_QUOTA, IP_QUOTA; BUSY when the cluster cannot be asked) when all nodes together would pass a quota. */
  admit(a: Admission): Promise<void>;
  /** This node's holding of `key` is now `held` (after an upload ended, or a blob was removed). */
  changed(kind: QuotaKind, key: string, held: Holding): void;
  /** Resolves once every change told so far has reached the other nodes (or failed to). */
  flush(): Promise<void>;
  /** Tells the other nodes everything this node holds, now and from time to time (`all` recomputes it). */
  start(all: () => Iterable<readonly [QuotaKind, string, Holding]>): Promise<void>;
  stop(): void;
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
  /** Set on a node of a cluster. */
  private share: QuotaShare | undefined;

  constructor(private readonly o: ResolvedBlobOptions) {}

  /** From now on the room, account and address quotas are held with the other nodes (and this node's holdings are told them). */
  async shareWith(share: QuotaShare): Promise<void> {
    this.share = share;
    await share.start(() => this.holdings());
  }

  private *holdings(): Iterable<readonly [QuotaKind, string, Holding]> {
    for (const [key, h] of this.rooms.holdings()) yield ['room', key, h];
    for (const [key, h] of this.ips.holdings()) if (key !== '') yield ['address', key, h];
  }

  /**
   * After `check` and `hold`: undefined on a relay alone (its checks were all); on a node of a
   * cluster, the cluster's answer, which refuses the PUT when all nodes together pass a quota.
   */
  admit(p: Put): Promise<void> | undefined {
    if (this.share === undefined) return undefined;
    const account = isAccountKey(p.room);
    return this.share.admit({
      fresh: p.fresh,
      room: {
        key: p.room,
        held: this.rooms.holding(p.room),
        maxBlobs: account ? this.o.maxBlobsPerAccount : this.o.maxBlobsPerRoom,
        maxBytes: account ? this.o.maxBytesPerAccount : this.o.maxBytesPerRoom,
        quota: account ? 'ACCOUNT_QUOTA' : 'ROOM_QUOTA',
      },
      address:
        p.ip === ''
          ? undefined
          : { key: p.ip, held: this.ips.holding(p.ip), maxBlobs: this.o.maxBlobsPerIp, maxBytes: this.o.maxBytesPerIp },
    });
  }

  /** Once every change so far has reached the other nodes (a DELETE is answered then); undefined on a relay alone. */
  told(): Promise<void> | undefined {
    return this.share?.flush();
  }

  stop(): void {
    this.share?.stop();
  }

  /** Tells the other nodes what this node holds of `room` and `ip` now. */
  private tell(room: string, ip: string): void {
    if (this.share === undefined) return;
    this.share.changed('room', room, this.rooms.holding(room));
    if (ip !== '') this.share.changed('address', ip, this.ips.holding(ip));
  }

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
    // (Told when the upload ends, not when its chunk lands: what it holds is the same, unless it replaced a chunk.)
    this.tell(p.room, p.ip);
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
    this.tell(room, ip);
  }
}
