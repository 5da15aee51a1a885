/**
 * The account channels' bus (accounts/accountShared.ts AccountBus) of relay nodes that form one
 * service (docs/PROTOCOL.md §12): every event is published on one Redis channel that every node
 * reads, in the order Redis ran the publishes, and each node acts on its own channels
 * (accounts/channelHub.ts).
 *
 * Presence: Redis counts each account's authenticated channels per node; an account is online while
 * a node whose heartbeat lives (`heartbeatMs`, renewed every quarter of it) has one. A node that dies
 * without a word (kill -9) stops renewing: once its heartbeat ends, the next sweep of any node takes
 * its channels away and announces its users again, so they go offline for their contacts instead
 * of staying online. A node that finds its own heartbeat ended (it was paused, or cut off from
 * Redis) puts its channels back. What contacts were last told is kept in Redis too, so an
 * announcement made late, or by two nodes at once, is published once and only if still true.
 *
 * Events published while this node's subscriber was away are lost: when it is back, its channels
 * read their mailboxes again and its users' presence is announced again; a notice or a removal
 * missed meanwhile is not replayed (a removed device's sessions are gone from the store anyway).
 */
import type { RelayLogger } from '../logger.js';
import { randomBytes } from 'node:crypto';
import type { AccountBus, BusEvent, PublishedEvent } from '../accounts/accountShared.js';
import type { AccountRedis } from './accountRedis.js';

export interface AccountBusOptions {
  /** How long a node's heartbeat lives without being renewed (default 10 s). */
  readonly heartbeatMs?: number;
  readonly log?: RelayLogger;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const INT = /^\d{1,16}$/;

export class RedisAccountBus implements AccountBus {
  readonly node = randomBytes(8).toString('hex');
  private readonly listeners: ((e: BusEvent) => void)[] = [];
  /** This node's authenticated channels per user, and per device. */
  private readonly users = new Map<string, number>();
  private readonly devices = new Map<string, number>();
  private readonly heartbeatMs: number;
  private readonly timer: NodeJS.Timeout;
  private sweeping = false;
  private stopped = false;

  constructor(
    private readonly redis: AccountRedis,
    private readonly opts: AccountBusOptions = {},
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? 10_000;
    redis.onMessage((m) => {
      const e = parseEvent(m);
      if (e !== undefined) this.emit(e);
    });
    redis.onReconnect(() => this.caughtUp());
    this.timer = setInterval(() => void this.sweep(), Math.max(50, Math.floor(this.heartbeatMs / 4)));
    this.timer.unref();
    void this.sweep();
  }

  listen(f: (e: BusEvent) => void): void {
    this.listeners.push(f);
  }

  async publish(e: PublishedEvent): Promise<void> {
    await this.redis.publish(formatEvent(e));
  }

  async up(user: string, device: string): Promise<number> {
    count(this.users, user, 1);
    count(this.devices, device, 1);
    return Number(await this.redis.run('UP', [this.node, user, device, this.heartbeatMs]));
  }

  async down(user: string, device: string): Promise<boolean> {
    count(this.users, user, -1);
    count(this.devices, device, -1);
    return Number(await this.redis.run('DOWN', [this.node, user])) === 1;
  }

  async online(users: readonly string[]): Promise<Set<string>> {
    if (users.length === 0) return new Set();
    const flags = (await this.redis.run('ONLINE', users)) as number[];
    return new Set(users.filter((_, i) => Number(flags[i]) === 1));
  }

  async announce(user: string, to: readonly string[]): Promise<void> {
    await this.redis.run('ANNOUNCE', [user, to.join(' ')]);
  }

  /** The last sweep: this node's heartbeat ends, and its channels are gone for every node. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.redis.run('SWEEP', [this.node, this.heartbeatMs, 0, 0]).catch(() => undefined);
  }

  close(): void {
    clearInterval(this.timer);
    this.redis.close();
  }

  /** Renews the heartbeat, takes dead nodes' channels away, and has the users to announce again announced. */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopped) return;
    this.sweeping = true;
    try {
      const [lost, pending] = (await this.redis.run('SWEEP', [this.node, this.heartbeatMs, 1, 100])) as [number, string[]];
      if (Number(lost) === 1 && this.users.size > 0) await this.restore();
      for (const user of pending) this.emit({ type: 'recheck', user });
    } catch (e) {
      this.opts.log?.warn('cluster request failed', {
        request: 'accounts sweep',
        error: (e instanceof Error ? e.message : String(e)).slice(0, 200),
      });
    } finally {
      this.sweeping = false;
    }
  }

  /** Our heartbeat had ended and our channels were taken for gone: they are put back, and announced. */
  private async restore(): Promise<void> {
    const args: (string | number)[] = [this.node, this.heartbeatMs];
    for (const [user, n] of this.users) args.push(user, n);
    await this.redis.run('RESTORE', args);
    for (const user of this.users.keys()) this.emit({ type: 'recheck', user });
  }

  /** The subscriber is back: what was missed is read again (mailboxes) or announced again (presence). */
  private caughtUp(): void {
    if (this.devices.size > 0) this.emit({ type: 'mail', devices: [...this.devices.keys()].map((d) => [d, Number.MAX_SAFE_INTEGER]) });
    for (const user of this.users.keys()) this.emit({ type: 'recheck', user });
  }

  private emit(e: BusEvent): void {
    for (const f of this.listeners) f(e);
  }
}

function count(map: Map<string, number>, key: string, delta: number): void {
  const n = (map.get(key) ?? 0) + delta;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}

const bit = (b: boolean) => (b ? '1' : '0');

/** One line per event (accountScripts.ts lists them); names never go on the bus. */
export function formatEvent(e: PublishedEvent): string {
  switch (e.type) {
    case 'notify':
      return `N ${e.user} ${e.what}`;
    case 'related':
      return `R ${e.a} ${e.b} ${bit(e.aOnline)} ${bit(e.bOnline)} ${bit(e.contacts)} ${bit(e.blocked)}`;
    case 'removed':
      return `X ${e.device}`;
    case 'mail':
      return `M ${e.devices.map(([d, seq]) => `${d} ${seq}`).join(' ')}`;
    case 'deleted':
      return `A ${e.user}`;
  }
}

/** The event of a bus line; undefined for anything malformed (it is ignored). */
export function parseEvent(line: string): BusEvent | undefined {
  const [kind, ...f] = line.split(' ');
  const ids = (xs: string[]) => xs.every((x) => ID.test(x));
  const ints = (xs: string[]) => xs.every((x) => INT.test(x));
  const flags = (xs: string[]) => xs.every((x) => x === '0' || x === '1');
  switch (kind) {
    case 'N':
      return f.length === 2 && ids([f[0]!]) && ints([f[1]!]) ? { type: 'notify', user: f[0]!, what: Number(f[1]) } : undefined;
    case 'R':
      if (f.length !== 6 || !ids(f.slice(0, 2)) || !flags(f.slice(2))) return undefined;
      return {
        type: 'related',
        a: f[0]!,
        b: f[1]!,
        aOnline: f[2] === '1',
        bOnline: f[3] === '1',
        contacts: f[4] === '1',
        blocked: f[5] === '1',
      };
    case 'X':
      return f.length === 1 && ids(f) ? { type: 'removed', device: f[0]! } : undefined;
    case 'A':
      return f.length === 1 && ids(f) ? { type: 'deleted', user: f[0]! } : undefined;
    case 'D':
      return f.length === 2 && ids([f[0]!]) && ints([f[1]!]) ? { type: 'device', device: f[0]!, gen: Number(f[1]) } : undefined;
    case 'M':
      return parseMail(f);
    case 'P': {
      if (f.length < 3 || !ids([f[0]!]) || !flags([f[1]!]) || !ints([f[2]!]) || !ids(f.slice(3))) return undefined;
      return { type: 'presence', user: f[0]!, online: f[1] === '1', at: Number(f[2]), to: f.slice(3) };
    }
    default:
      return undefined;
  }
}

function parseMail(f: string[]): BusEvent | undefined {
  if (f.length === 0 || f.length % 2 !== 0) return undefined;
  const devices: [string, number][] = [];
  for (let i = 0; i < f.length; i += 2) {
    if (!ID.test(f[i]!) || !INT.test(f[i + 1]!)) return undefined;
    devices.push([f[i]!, Number(f[i + 1])]);
  }
  return { type: 'mail', devices };
}
