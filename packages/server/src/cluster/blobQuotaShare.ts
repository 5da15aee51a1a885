/**
 * The blob store's room, account and address quotas held across the nodes of a cluster
 * (docs/PROTOCOL.md §12 "Files across nodes"): each node keeps its own store and its own counts
 * (blobQuotas.ts), and tells Redis what it holds of each room, account and address, so that a PUT
 * is weighed against what all live nodes hold together. Spreading uploads over N nodes then gets no
 * more than one node gives. Keys, under the cluster's prefix P:
 *
 *   Pbr:<room key>        hash node -> "<blobs> <charged bytes>": a room's (its locator in hex, as
 *                         the rooms' keys hold it) or an account's (`account:<account id>`) blobs on
 *                         each node, stored or in flight
 *   Pba:<address hash>    the same for an address key, under addressHash (addressLeases.ts)
 *
 * Each node writes only its own field, always the whole of what it holds (never an increment), so a
 * lost write is mended by the next, and every node tells everything it holds again at start (its
 * kept blobs, read back from its disk) and every REPUBLISH_MS, which also renews the keys' TTL. A
 * node whose heartbeat (`Phb:<node>`, clusterRooms.ts) has ended counts for nothing: its blobs
 * cannot be read while it is down, and it tells them again when it is back (under a new node id).
 */
import type { Redis } from 'ioredis';
import type { Admission, Holding, QuotaKind, QuotaShare } from '../blobQuotas.js';
import { BlobError } from '../errors.js';
import type { RelayLogger } from '../logger.js';
import { addressHash } from './addressLeases.js';

/** How often a node tells everything it holds again; its keys live five times that without it. */
const REPUBLISH_MS = 60_000;
const KEY_TTL_MS = 5 * REPUBLISH_MS;
/** Fields per pipeline when everything is told again. */
const BATCH = 1000;

/**
 * Admits one PUT, atomically for all nodes. ARGV: P node ttlMs fresh, then per quota (the room's,
 * and the address's if any) key blobs bytes maxBlobs maxBytes, where blobs and bytes are what this
 * node holds of it with the PUT. Each quota counts this node's holding and every live node's field
 * (a dead node's field is removed); the first one passed is answered (1 or 2), nothing written.
 * Otherwise this node's fields are set, the keys' TTL renewed, and 0 answered.
 */
const ADMIT = `
local P, node, ttl, fresh = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'
local function others(key)
  local b, c = 0, 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if all[i] ~= node then
      if redis.call('EXISTS', P .. 'hb:' .. all[i]) == 1 then
        local x, y = string.match(all[i + 1], '^(%d+) (%d+)$')
        b = b + (tonumber(x) or 0)
        c = c + (tonumber(y) or 0)
      else
        redis.call('HDEL', key, all[i])
      end
    end
  end
  return b, c
end
for i = 5, #ARGV, 5 do
  local b, c = others(P .. ARGV[i])
  if (fresh and b + tonumber(ARGV[i + 1]) > tonumber(ARGV[i + 3])) or c + tonumber(ARGV[i + 2]) > tonumber(ARGV[i + 4]) then
    return (i - 5) / 5 + 1
  end
end
for i = 5, #ARGV, 5 do
  redis.call('HSET', P .. ARGV[i], node, ARGV[i + 1] .. ' ' .. ARGV[i + 2])
  redis.call('PEXPIRE', P .. ARGV[i], ttl)
end
return 0
`;

const value = (h: Holding): string => `${h.blobs} ${h.bytes}`;

export interface RedisQuotaShareOptions {
  readonly redis: Redis;
  readonly prefix: string;
  /** This node's id (ClusterRooms.node: the one its heartbeat carries). */
  readonly node: string;
  /** How long the node's heartbeat lives (ClusterRooms: 4 ping intervals). */
  readonly heartbeatMs: number;
  readonly log: RelayLogger;
}

export class RedisQuotaShare implements QuotaShare {
  /** What this node last sent for each key (so an unchanged holding is not sent again). */
  private readonly sent = new Map<string, string>();
  /** Changes not sent yet: key -> the latest holding. */
  private readonly dirty = new Map<string, Holding>();
  private scheduled = false;
  private last: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private all: () => Iterable<readonly [QuotaKind, string, Holding]> = () => [];

  constructor(private readonly o: RedisQuotaShareOptions) {
    o.redis.defineCommand('nrBlobAdmit', { numberOfKeys: 0, lua: ADMIT });
  }

  async start(all: () => Iterable<readonly [QuotaKind, string, Holding]>): Promise<void> {
    this.all = all;
    this.timer = setInterval(() => void this.republish(), REPUBLISH_MS);
    this.timer.unref();
    // A starting node's heartbeat comes with the rooms' first sweep, just after: written here if it
    // is not there yet (NX), so that its fields are not taken meanwhile for those of a dead node.
    const { redis, prefix, node, heartbeatMs } = this.o;
    await redis.set(`${prefix}hb:${node}`, 1, 'PX', heartbeatMs, 'NX');
    await this.republish();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async admit(a: Admission): Promise<void> {
    const quotas = [a.room, ...(a.address === undefined ? [] : [a.address])];
    const keys = [this.key('room', a.room.key), ...(a.address === undefined ? [] : [this.key('address', a.address.key)])];
    const args: (string | number)[] = [this.o.prefix, this.o.node, KEY_TTL_MS, a.fresh ? 1 : 0];
    quotas.forEach((q, i) => {
      args.push(keys[i]!.slice(this.o.prefix.length), q.held.blobs, q.held.bytes, q.maxBlobs, q.maxBytes);
      // Redis applies what this node sends in the order it is sent: the last sent is what it holds
      // (and a change waiting to be sent is older than this).
      this.sent.set(keys[i]!, value(q.held));
      this.dirty.delete(keys[i]!);
    });
    const run = (this.o.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<number>>).nrBlobAdmit!;
    let passed: number;
    try {
      passed = Number(await run.apply(this.o.redis, args));
    } catch (e) {
      this.unknown(keys, quotas);
      this.warn('admit', e);
      throw new BlobError('BUSY');
    }
    if (passed === 0) return;
    // Refused, nothing written: what Redis holds for this node is what was sent before.
    this.unknown(keys, quotas);
    throw new BlobError(passed === 1 ? a.room.quota : 'IP_QUOTA');
  }

  changed(kind: QuotaKind, key: string, held: Holding): void {
    this.dirty.set(this.key(kind, key), held);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  /** Sends the holdings that changed since they were last sent (one pipeline). */
  flush(): Promise<void> {
    this.scheduled = false;
    const { redis, node } = this.o;
    const p = redis.pipeline();
    const batch: string[] = [];
    for (const [key, held] of this.dirty) {
      const v = value(held);
      if (this.sent.get(key) === v) continue;
      batch.push(key);
      if (held.blobs === 0 && held.bytes === 0) {
        p.hdel(key, node);
        this.sent.delete(key);
      } else {
        p.hset(key, node, v).pexpire(key, KEY_TTL_MS);
        this.sent.set(key, v);
      }
    }
    this.dirty.clear();
    if (batch.length === 0) return this.last;
    this.last = p.exec().then(
      (r) => this.failed(batch, r?.find(([e]) => e !== null)?.[0] ?? (r === null ? 'aborted' : undefined)),
      (e: unknown) => this.failed(batch, e),
    );
    return this.last;
  }

  /** Everything this node holds, told again (its keys' TTL renewed), in pipelines of BATCH. */
  private async republish(): Promise<void> {
    const { redis, node } = this.o;
    let p = redis.pipeline();
    let batch: string[] = [];
    const send = async () => {
      const sent = batch;
      const r = await p.exec().catch((e: unknown) => e);
      if (!Array.isArray(r) || r.some(([e]) => e !== null)) this.failed(sent, Array.isArray(r) ? 'a command failed' : r);
      [p, batch] = [redis.pipeline(), []];
    };
    for (const [kind, k, held] of this.all()) {
      const key = this.key(kind, k);
      const v = value(held);
      p.hset(key, node, v).pexpire(key, KEY_TTL_MS);
      this.sent.set(key, v);
      batch.push(key);
      if (batch.length >= BATCH) await send();
    }
    if (batch.length > 0) await send();
  }

  private key(kind: QuotaKind, key: string): string {
    return kind === 'room' ? `${this.o.prefix}br:${key}` : `${this.o.prefix}ba:${addressHash(key)}`;
  }

  /** What Redis holds for these keys is not known: the next change (or the next republish) sends it. */
  private unknown(keys: string[], quotas: { held: Holding }[]): void {
    keys.forEach((k, i) => {
      if (this.sent.get(k) === value(quotas[i]!.held)) this.sent.delete(k);
    });
  }

  private failed(keys: string[], e: unknown): void {
    if (e === undefined) return;
    for (const k of keys) this.sent.delete(k);
    this.warn('tell', e);
  }

  private warn(what: string, e: unknown): void {
    this.o.log.warn('cluster blob quotas failed', { what, error: (e instanceof Error ? e.message : String(e)).slice(0, 200) });
  }
}
