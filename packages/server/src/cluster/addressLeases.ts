/**
 * What relay nodes share per address (docs/PROTOCOL.md §12): its WebSocket connections, counted in
 * Redis over all nodes (the CONN script), and its frame bucket (limits.addressRatePerSecond,
 * addressRateBurst), which lives in Redis too. A frame cannot wait for Redis, so each node leases
 * tokens: it spends what it holds for an address and, once that falls under half a lease, asks for
 * a new one (the FRAMES script) before it runs out; a connection's first lease comes with its CONN.
 * Every token is taken from the one bucket in Redis, so the nodes together never let an address
 * send more than one relay would; what a node holds and does not spend (at most a lease, a
 * quarter of the burst) is lost to the address until the bucket refills.
 */
import { createHash } from 'node:crypto';
import { type Account, type AddressFrames, addressFrameLimits } from '../budget.js';
import type { RelayLimits } from '../limits.js';
import type { SharedConnections } from '../roomService.js';
import type { RedisLink } from './redisLink.js';

/** An address key (address.ts) as Redis keeps it: the first 128 bits of its SHA-256, not the address. */
export const addressHash = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 32);

const int = (v: unknown): number => Number(Buffer.isBuffer(v) ? v.toString('latin1') : String(v));

export class AddressLeases implements SharedConnections {
  /** Tokens this node holds for an address (granted by Redis, not yet spent). */
  private readonly held = new WeakMap<Account, number>();
  /** Addresses with a lease asked for and not yet answered (one at a time). */
  private readonly asking = new WeakSet<Account>();
  private readonly hashes = new WeakMap<Account, string>();
  private readonly rate: number;
  private readonly burst: number;
  /** Tokens a node asks for at once, and the most it holds for one address. */
  readonly lease: number;

  constructor(
    private readonly link: RedisLink,
    private readonly node: string,
    limits: RelayLimits,
  ) {
    ({ rate: this.rate, burst: this.burst } = addressFrameLimits(limits));
    this.lease = Math.max(1, Math.ceil(this.burst / 4));
  }

  /** The address as Redis keeps it. */
  hash(a: Account): string {
    let h = this.hashes.get(a);
    if (h === undefined) this.hashes.set(a, (h = addressHash(a.key)));
    return h;
  }

  async take(a: Account, max: number): Promise<boolean> {
    const want = this.want(a);
    try {
      const r = int(await this.link.run('CONN', [this.node, this.hash(a), max, 1, this.burst, 1000 / this.rate, want]));
      if (r < 0) return false;
      this.grant(a, r);
      return true;
    } finally {
      if (want > 0) this.asking.delete(a);
    }
  }

  release(a: Account): void {
    void this.link.run('CONN', [this.node, this.hash(a), 0, -1]).catch(() => undefined);
  }

  readonly frames: AddressFrames = { take: (a) => this.spend(a) };

  /** Spends one token held for the address; asks for more once under half a lease. */
  private spend(a: Account): boolean {
    const tokens = this.held.get(a) ?? 0;
    if (tokens - 1 < this.lease / 2) this.ask(a);
    if (tokens < 1) return false;
    this.held.set(a, tokens - 1);
    return true;
  }

  private ask(a: Account): void {
    const want = this.want(a);
    if (want === 0) return;
    this.link
      .run('FRAMES', [this.hash(a), this.burst, 1000 / this.rate, want])
      .then((r) => this.grant(a, int(r)))
      .catch(() => undefined) // Redis is away: the frames wait for it as every other request does
      .finally(() => this.asking.delete(a));
  }

  /** What to ask for (and then marks the address as asking): a lease's worth, or 0 if a request is out. */
  private want(a: Account): number {
    if (this.asking.has(a)) return 0;
    const want = Math.max(0, this.lease - Math.floor(this.held.get(a) ?? 0));
    if (want > 0) this.asking.add(a);
    return want;
  }

  private grant(a: Account, n: number): void {
    if (n > 0) this.held.set(a, (this.held.get(a) ?? 0) + n);
  }
}
