/**
 * The accounts' connections to Redis (ioredis) for relay nodes that form one service (docs/PROTOCOL.md
 * §12): one for commands and the scripts of accountScripts.ts, one subscribed to the accounts' bus
 * channel. Like the rooms' (redisLink.ts), commands fail at once while Redis is unreachable; keys and
 * the channel start with the cluster's prefix and `a:`, apart from the rooms'.
 *
 * And the keys every node derives from the OPAQUE server setup (which every node of one service
 * must share already, or no login would finish on another node than it started): a MAC key that
 * turns names, addresses and session hashes into the opaque tags Redis keys are made of (a
 * dictionary of usernames cannot be tried against them without the setup), and an AES-256-GCM key
 * that seals what Redis must hold but must not read (a pending login's OPAQUE state, a session
 * hash to bind, a blob ticket to hand out again).
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type AccountScript, accountScripts, accountScriptSource } from './accountScripts.js';

export interface AccountRedisOptions {
  readonly url: string;
  readonly prefix?: string;
}

type Runner = (...args: unknown[]) => Promise<unknown>;

export class AccountRedis {
  readonly prefix: string;
  readonly channel: string;
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly runners = new Map<AccountScript, Runner>();
  private onMsg: (message: string) => void = () => undefined;
  private onAgain: () => void = () => undefined;
  private connectedOnce = false;

  private constructor(opts: AccountRedisOptions) {
    this.prefix = opts.prefix ?? 'nr:';
    this.channel = `${this.prefix}a:bus`;
    const common = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: 'nullroom-accounts' };
    this.cmd = new Redis(opts.url, common);
    this.sub = new Redis(opts.url, { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null });
    for (const r of [this.cmd, this.sub]) r.on('error', () => undefined);
    for (const name of Object.keys(accountScripts) as AccountScript[]) {
      this.cmd.defineCommand(`nra${name}`, { numberOfKeys: 0, lua: accountScriptSource(name) });
      const c = this.cmd as unknown as Record<string, Runner>;
      this.runners.set(name, (...args) => c[`nra${name}`]!.apply(this.cmd, args));
    }
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.onMsg(message);
    });
    this.sub.on('ready', () => {
      if (this.connectedOnce) this.onAgain();
      this.connectedOnce = true;
    });
  }

  /** Both connections open and subscribed (a Redis that cannot be reached rejects). */
  static async open(opts: AccountRedisOptions): Promise<AccountRedis> {
    const r = new AccountRedis(opts);
    try {
      await Promise.all([r.cmd.connect(), r.sub.connect()]);
      await r.sub.subscribe(r.channel);
    } catch (e) {
      r.close();
      throw e;
    }
    return r;
  }

  ready(): boolean {
    return this.cmd.status === 'ready' && this.sub.status === 'ready';
  }

  /** Runs a script with ARGV = [prefix, ...args]. */
  run(name: AccountScript, args: readonly (string | number)[]): Promise<unknown> {
    return this.runners.get(name)!(this.prefix, ...args);
  }

  publish(message: string): Promise<unknown> {
    return this.cmd.publish(this.channel, message);
  }

  onMessage(f: (message: string) => void): void {
    this.onMsg = f;
  }

  /** After the subscriber came back: what was published meanwhile is lost. */
  onReconnect(f: () => void): void {
    this.onAgain = f;
  }

  close(): void {
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}

/** The MAC and sealing keys of a service, from its OPAQUE server setup (HKDF-SHA256, RFC 5869). */
export class AccountKeys {
  private readonly mac: Buffer;
  private readonly seal: Buffer;

  constructor(opaqueSetup: string) {
    const derive = (info: string) => Buffer.from(hkdfSync('sha256', opaqueSetup, 'nullroom/v1/cluster', info, 32));
    this.mac = derive('accounts tag');
    this.seal = derive('accounts seal');
  }

  /** The tag of `value` in `space`: 128 bits of HMAC-SHA256, base64url (what a Redis key holds instead of the value). */
  tag(space: string, value: string | Uint8Array): string {
    return createHmac('sha256', this.mac).update(`${space}\0`).update(value).digest().subarray(0, 16).toString('base64url');
  }

  /** AES-256-GCM of `plain` with a random nonce, bound to `context` (the key it is stored under): base64url. */
  sealed(plain: Uint8Array, context: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.seal, iv);
    c.setAAD(Buffer.from(context));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([iv, body, c.getAuthTag()]).toString('base64url');
  }

  /** What `sealed` sealed under `context`; undefined when it does not open (altered, or sealed elsewhere). */
  opened(text: string, context: string): Buffer | undefined {
    const b = Buffer.from(text, 'base64url');
    if (b.byteLength < 28) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', this.seal, b.subarray(0, 12));
      d.setAAD(Buffer.from(context));
      d.setAuthTag(b.subarray(b.byteLength - 16));
      return Buffer.concat([d.update(b.subarray(12, b.byteLength - 16)), d.final()]);
    } catch {
      return undefined;
    }
  }
}
