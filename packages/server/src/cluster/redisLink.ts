/**
 * The connections of one relay node to Redis (ioredis): one for commands and the room scripts,
 * one subscribed to the channels of the rooms this node holds a slot in. Commands fail at once
 * while Redis is unreachable (no offline queue): the relay answers INTERNAL and /readyz says not
 * ready, rather than holding requests for an unknown time.
 */
import { Redis } from 'ioredis';
import { type RoomScript, roomScripts, scriptSource } from './roomScripts.js';

/**
 * The two connections each part of a node opens to one Redis: `cmd` for commands and scripts, which
 * fail at once while Redis is unreachable (no offline queue), and `sub` for pub/sub, which
 * reconnects and subscribes again by itself; what `onReconnect` gives runs each time it is back
 * after the first. Both connect on `connect()` (lazyConnect).
 */
export class RedisPair {
  protected readonly cmd: Redis;
  protected readonly sub: Redis;
  private again: () => void = () => undefined;

  protected constructor(url: string, name: string) {
    const common = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: name };
    this.cmd = new Redis(url, common);
    this.sub = new Redis(url, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null });
    for (const r of [this.cmd, this.sub]) r.on('error', () => undefined);
    let connectedOnce = false;
    this.sub.on('ready', () => {
      if (connectedOnce) this.again();
      connectedOnce = true;
    });
  }

  /** After the subscriber connection came back: what was published meanwhile is lost. */
  onReconnect(f: () => void): void {
    this.again = f;
  }

  close(): void {
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}

export interface RedisLinkOptions {
  /** redis://host:port/db (REDIS_URL). */
  readonly url: string;
  /** What every key and channel of this cluster starts with (several clusters, or tests, on one Redis). Default "nr:". */
  readonly prefix?: string;
}

type Runner = (...args: unknown[]) => Promise<unknown>;

export class RedisLink extends RedisPair {
  readonly prefix: string;
  private readonly runners = new Map<RoomScript, Runner>();
  private onMsg: (channel: string, message: Buffer) => void = () => undefined;

  private constructor(opts: RedisLinkOptions) {
    super(opts.url, 'nullroom-relay');
    this.prefix = opts.prefix ?? 'nr:';
    for (const name of Object.keys(roomScripts) as RoomScript[]) {
      this.cmd.defineCommand(`nr${name}`, { numberOfKeys: 0, lua: scriptSource(name) });
      const c = this.cmd as unknown as Record<string, Runner>;
      this.runners.set(name, (...args) => c[`nr${name}Buffer`]!.apply(this.cmd, args));
    }
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMsg(channel.toString('latin1'), message));
  }

  /** Both connections open (a Redis that cannot be reached rejects: a configuration error at start). */
  static async open(opts: RedisLinkOptions): Promise<RedisLink> {
    const link = new RedisLink(opts);
    try {
      await Promise.all([link.cmd.connect(), link.sub.connect()]);
    } catch (e) {
      link.close();
      throw e;
    }
    return link;
  }

  /** The command connection, for what the nodes share beside the rooms (blobRoutes.ts: files' owners, tickets, node URLs). */
  get commands(): Redis {
    return this.cmd;
  }

  ready(): boolean {
    return this.cmd.status === 'ready' && this.sub.status === 'ready';
  }

  /** Runs a room script with ARGV = [prefix, ...args]; its reply with bulk strings as Buffers. */
  run(name: RoomScript, args: readonly unknown[]): Promise<unknown[]> {
    return this.runners.get(name)!(this.prefix, ...args) as Promise<unknown[]>;
  }

  /** A room's logged deliveries from seq `from` on (XRANGE). */
  range(key: string, from: number): Promise<unknown[]> {
    return this.cmd.xrangeBuffer(`${this.prefix}{${key}}:log`, `${from}-0`, '+') as Promise<unknown[]>;
  }

  channel(key: string): string {
    return `${this.prefix}{${key}}:c`;
  }

  subscribe(channel: string): Promise<unknown> {
    return this.sub.subscribe(channel);
  }

  unsubscribe(channel: string): Promise<unknown> {
    return this.sub.unsubscribe(channel);
  }

  onMessage(f: (channel: string, message: Buffer) => void): void {
    this.onMsg = f;
  }
}
