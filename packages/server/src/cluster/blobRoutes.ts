/**
 * Files across relay nodes (docs/PROTOCOL.md §12 "Files across nodes"): each node keeps its own
 * blob store (blobStore.ts), and a blob request that reaches a node which does not hold the blob
 * is forwarded to the node that does (blobForward.ts). What the nodes share, in Redis under the
 * cluster's prefix P (never an id, a token or a ticket, only their SHA-256):
 *
 *   Purl:<node>            the node's internal base URL, as long as it lives (4 ping intervals, refreshed at each)
 *   Psecret                32 random bytes, made once (SET NX): the key of the forwarded-address HMAC (forwardAuth.ts)
 *   Pbt:<sha256(ticket)>   "<node> <room key>": a room upload ticket (§9.1) and the node whose connection holds it,
 *                          for as long as its stay (removed within one ping interval of its end)
 *   Pbo:<sha256(blob id)>  "<node>": the node that stored the blob's first chunk, for the blob's TTL after its last
 *                          write; after its removal, for one TTL more, so that the other nodes answer 410 as it does
 *
 * A PUT of a new blob goes to the node that issued its ticket (that node checks the stay and counts
 * the ticket's quotas); every other request for a blob goes to its owner. A forwarded request
 * carries the client's address, signed, and is served where it arrives: never forwarded again.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { BLOB_TICKET_HEADER, type ResolvedBlobOptions } from '../blobOptions.js';
import type { BlobHttp } from '../blobHttp.js';
import { BlobError } from '../errors.js';
import type { RelayLogger } from '../logger.js';
import { parseTarget } from '../target.js';
import type { Ticket, Tickets } from '../tickets.js';
import { BlobForwarder } from './blobForward.js';
import { CLUSTER_SECRET_BYTES, FORWARD_HEADER, verifyForward } from './forwardAuth.js';

const ID = /^[A-Za-z0-9_-]{22}$/;
const TICKET = /^[A-Za-z0-9_-]{43}$/;
const WAIT = /^[0-9]{1,10}$/;
const LENGTH = /^[0-9]{1,16}$/;
/** A ticket's entry lives this long in Redis, renewed while its stay lasts. */
const TICKET_TTL_MS = 60 * 60 * 1000;
/** Tickets of other nodes used here, kept for their per-ticket counts (bounded). */
const MAX_FOREIGN_TICKETS = 10_000;

/** One round trip: the blob's owner and its URL, the ticket's node, room and URL ('' for none or dead). */
const ROUTE = `
local P = ARGV[1]
local function url(n) if n == '' then return '' end return redis.call('GET', P .. 'url:' .. n) or '' end
local owner = ''
if ARGV[2] ~= '' then owner = redis.call('GET', P .. 'bo:' .. ARGV[2]) or '' end
local tnode, troom = '', ''
if ARGV[3] ~= '' then
  local t = redis.call('GET', P .. 'bt:' .. ARGV[3])
  if t then
    local sp = string.find(t, ' ', 1, true)
    if sp then tnode = string.sub(t, 1, sp - 1); troom = string.sub(t, sp + 1) end
  end
end
return {owner, url(owner), tnode, troom, url(tnode)}
`;

interface Route {
  readonly owner: string;
  readonly ownerUrl: string;
  readonly ticketNode: string;
  readonly ticketRoom: string;
  readonly ticketUrl: string;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** The bytes of a canonical base64url value of that shape, else undefined. */
function decode(s: string | undefined, re: RegExp): Buffer | undefined {
  if (s === undefined || !re.test(s)) return undefined;
  const b = Buffer.from(s, 'base64url');
  return b.toString('base64url') === s ? b : undefined;
}

export interface BlobRoutesOptions {
  readonly redis: Redis;
  readonly prefix: string;
  /** This node's id (ClusterRooms.node: the one its heartbeat and slots carry). */
  readonly node: string;
  readonly blobs: BlobHttp;
  readonly tickets: Tickets;
  /** The address key a client request counts against (the relay's own: the socket, or the proxy's hop). */
  readonly addressOf: (req: IncomingMessage) => string;
  readonly pingIntervalMs: number;
  readonly log: RelayLogger;
}

export class BlobRoutes {
  private readonly forwarder: BlobForwarder;
  private readonly trusted = new WeakMap<IncomingMessage, string>();
  /** Room tickets this node issued and registered: ticket -> when registered. */
  private readonly registered = new Map<string, { key: string; room: string; at: number }>();
  private readonly foreign = new Map<string, Ticket>();
  private readonly o: ResolvedBlobOptions;
  private url: string | undefined;
  private polls = 0;
  private readonly pollsPer = new Map<string, number>();
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly opts: BlobRoutesOptions,
    private readonly secret: Buffer,
  ) {
    this.forwarder = new BlobForwarder(secret);
    this.o = opts.blobs.options;
    opts.blobs.events = {
      written: (id, ttlMs) => this.own(id, ttlMs),
      removed: (id) => void this.own(id, this.o.ttlMs),
    };
  }

  /** Reads (or makes, once for the cluster) the secret, and registers the blobs this node kept across a restart. */
  static async open(opts: BlobRoutesOptions): Promise<BlobRoutes> {
    const { redis, prefix } = opts;
    redis.defineCommand('nrBlobRoute', { numberOfKeys: 0, lua: ROUTE });
    await redis.set(`${prefix}secret`, randomBytes(CLUSTER_SECRET_BYTES), 'NX');
    const secret = await redis.getBuffer(`${prefix}secret`);
    if (secret === null || secret.length !== CLUSTER_SECRET_BYTES) throw new Error('the cluster secret in Redis is not 32 bytes');
    const routes = new BlobRoutes(opts, secret);
    const kept = opts.blobs.held();
    for (let i = 0; i < kept.length; i += 1000) {
      const p = redis.pipeline();
      for (const { id, leftMs } of kept.slice(i, i + 1000)) p.set(routes.ownerKey(id), opts.node, 'PX', Math.max(1, leftMs));
      await p.exec();
    }
    return routes;
  }

  /** Advertises this node at `url` (the other nodes forward to it) from now on, refreshed at each ping interval. */
  async start(url: string): Promise<void> {
    this.url = url;
    this.timer = setInterval(() => void this.tick(), this.opts.pingIntervalMs);
    this.timer.unref();
    await this.tick();
  }

  /** At each ping interval: this node's URL lives on; the tickets whose stay ended go, the others are renewed. */
  async tick(): Promise<void> {
    if (this.stopped || this.url === undefined) return;
    const { redis, prefix, node, pingIntervalMs, tickets } = this.opts;
    const p = redis.pipeline().set(`${prefix}url:${node}`, this.url, 'PX', 4 * pingIntervalMs);
    const now = Date.now();
    for (const [value, r] of this.registered) {
      if (tickets.check(value) === undefined) {
        this.registered.delete(value);
        p.del(r.key);
      } else if (now - r.at > TICKET_TTL_MS / 2) {
        r.at = now;
        p.set(r.key, `${node} ${r.room}`, 'PX', TICKET_TTL_MS);
      }
    }
    await p.exec().catch((e: unknown) => this.warn('tick', e));
  }

  /** The node stops: it is no longer advertised (its blobs answer 404 elsewhere until it is back), its tickets end. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    const { redis, prefix, node } = this.opts;
    const p = redis.pipeline().del(`${prefix}url:${node}`);
    for (const r of this.registered.values()) p.del(r.key);
    this.registered.clear();
    await p.exec().catch((e: unknown) => this.warn('stop', e));
  }

  /** After the server has closed: the connections to the other nodes go. */
  close(): void {
    this.forwarder.close();
  }

  /** A room ticket was issued (or asked for again): registered before the relay grants it, so that every node knows it. */
  async ticketIssued(ticket: Uint8Array, room: string): Promise<void> {
    const value = Buffer.from(ticket).toString('base64url');
    if (this.registered.has(value)) return;
    const key = `${this.opts.prefix}bt:${sha(ticket)}`;
    try {
      await this.opts.redis.set(key, `${this.opts.node} ${room}`, 'PX', TICKET_TTL_MS);
      this.registered.set(value, { key, room, at: Date.now() });
    } catch (e) {
      this.warn('ticket', e); // it works through this node; asked again, it is registered then
    }
  }

  /**
   * A ticket another node issued, as a Ticket of this node (its per-ticket counts are this node's):
   * valid while its stay lasts there (its entry) and that node lives (its URL). Redis unreachable: BUSY.
   */
  async remoteTicket(header: string | string[] | undefined): Promise<Ticket | undefined> {
    const raw = decode(typeof header === 'string' ? header : undefined, TICKET);
    if (raw === undefined) return undefined;
    const h = sha(raw);
    const r = await this.lookup('', h);
    if (r.ticketNode === '' || r.ticketNode === this.opts.node || r.ticketUrl === '') return undefined;
    let t = this.foreign.get(h);
    if (t === undefined || t.room !== r.ticketRoom) {
      this.foreign.set(h, (t = { room: r.ticketRoom, blobs: 0, bytes: 0, buffering: 0 }));
      for (const [k, v] of this.foreign) {
        if (this.foreign.size <= MAX_FOREIGN_TICKETS) break;
        if (v.buffering === 0) this.foreign.delete(k);
      }
    }
    return t;
  }

  /** The address a forwarded request vouched for (undefined for a client's own request). */
  trustedAddress(req: IncomingMessage): string | undefined {
    return this.trusted.get(req);
  }

  /** The HTTP handler for /blobs in a cluster: serves here what is here, forwards the rest. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.route(req, res).catch((e: unknown) => {
      if (!(e instanceof BlobError)) this.warn('route', e);
      this.opts.blobs.answer(req, res, e instanceof BlobError ? e : new BlobError('BUSY'));
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { blobs } = this.opts;
    const method = req.method ?? '';
    if (req.headers[FORWARD_HEADER] !== undefined) {
      // Forwarded by another node: served here whatever it holds (a loop is impossible), for the address it vouches for.
      const address = verifyForward(this.secret, req.headers[FORWARD_HEADER], method, req.url ?? '');
      if (address === undefined) {
        this.opts.log.warn('blob forward refused', { why: 'signature' });
        throw new BlobError('BAD_FORWARD');
      }
      this.trusted.set(req, address);
      return blobs.handle(req, res);
    }
    const target = parseTarget(req.url);
    const parts = target?.pathname.split('/') ?? [];
    const id = parts[2];
    const key = decode(id, ID);
    const chunk = parts.length === 4;
    const shaped = parts.length === 3 ? method === 'HEAD' || method === 'DELETE' : chunk && (method === 'GET' || method === 'PUT');
    // Malformed, or a blob this node holds (or removed): answered here as by one relay.
    if (target === undefined || key === undefined || !shaped || blobs.holds(id!)) return blobs.handle(req, res);
    const waitParam = target.searchParams.get('wait');
    if (method === 'GET' && waitParam !== null && !WAIT.test(waitParam)) return blobs.handle(req, res);
    const wait = method === 'GET' && waitParam !== null ? Math.min(Number(waitParam), this.o.maxWaitMs) : 0;
    const isPut = method === 'PUT';
    const ticket = isPut ? decode(req.headers[BLOB_TICKET_HEADER] as string | undefined, TICKET) : undefined;
    let r = await this.lookup(sha(key), ticket === undefined ? '' : sha(ticket));
    let left = wait;
    if (r.owner === '' && wait > 0) {
      // A receiver may ask before the sender's first chunk is anywhere: wait for an owner to appear.
      const found = await this.awaitOwner(req, res, id!, sha(key), wait);
      if (found === undefined) return;
      [r, left] = found;
    }
    const path = left === wait ? req.url! : `${target.pathname}?wait=${left}`;
    if (r.owner !== '' && r.owner !== this.opts.node) {
      if (r.ownerUrl === '') throw new BlobError(isPut ? 'NODE_DOWN' : 'NOT_FOUND');
      return this.forward(req, res, r.ownerUrl, path, left, isPut);
    }
    // A new blob is stored by the node that issued its ticket.
    if (r.owner === '' && isPut && r.ticketNode !== '' && r.ticketNode !== this.opts.node && r.ticketUrl !== '') {
      return this.forward(req, res, r.ticketUrl, path, 0, true);
    }
    req.url = path;
    return blobs.handle(req, res);
  }

  /**
   * Polls Redis (50 ms, doubling to 500 ms) until the blob has an owner, within `wait`; counted
   * against the waiting GETs' caps. Undefined when answered (404 at the end, the client left).
   */
  private async awaitOwner(req: IncomingMessage, res: ServerResponse, id: string, idHash: string, wait: number) {
    const address = this.opts.addressOf(req);
    if (this.polls >= this.o.maxWaiters) throw new BlobError('WAITERS_BUSY');
    if ((this.pollsPer.get(address) ?? 0) >= this.o.maxWaitersPerIp) throw new BlobError('WAITERS_SHARE');
    this.polls++;
    this.pollsPer.set(address, (this.pollsPer.get(address) ?? 0) + 1);
    try {
      const end = Date.now() + wait;
      for (let delay = 50; ; delay = Math.min(2 * delay, 500)) {
        const left = end - Date.now();
        if (left <= 0) throw new BlobError('NOT_FOUND');
        await sleep(Math.min(delay, left));
        if (res.destroyed || this.stopped) return undefined;
        const r: Route = this.opts.blobs.holds(id) ? { ...none, owner: this.opts.node } : await this.lookup(idHash, '');
        if (r.owner !== '') return [r, Math.max(1, end - Date.now())] as const;
      }
    } finally {
      this.polls--;
      const n = (this.pollsPer.get(address) ?? 1) - 1;
      if (n > 0) this.pollsPer.set(address, n);
      else this.pollsPer.delete(address);
    }
  }

  private async forward(req: IncomingMessage, res: ServerResponse, url: string, path: string, wait: number, put: boolean) {
    if (put) {
      // The lengths are checked here (the nodes share their limits): a body the owner would refuse
      // unread is never sent to it, so that it need not end the connection under a body in flight.
      const declared = req.headers['content-length'];
      if (declared === undefined || !LENGTH.test(declared)) throw new BlobError('LENGTH_REQUIRED');
      if (Number(declared) > this.o.maxChunkBytes) throw new BlobError('CHUNK_TOO_LARGE');
    }
    const failed = await this.forwarder.forward(req, res, new URL(url), path, this.opts.addressOf(req), wait);
    if (failed !== undefined) {
      this.opts.log.warn('blob forward failed', { method: req.method ?? '?', why: 'unreachable' });
      throw new BlobError(put ? 'NODE_DOWN' : 'NOT_FOUND');
    }
  }

  /** What Redis knows of the blob and the ticket; Redis unreachable: BUSY (clients retry), never a guess. */
  private async lookup(idHash: string, ticketHash: string): Promise<Route> {
    const run = (this.opts.redis as unknown as Record<string, (...a: string[]) => Promise<string[]>>).nrBlobRoute!;
    const answer = await run.call(this.opts.redis, this.opts.prefix, idHash, ticketHash).catch((e: unknown) => {
      this.warn('lookup', e);
      throw new BlobError('BUSY');
    });
    const [owner, ownerUrl, ticketNode, ticketRoom, ticketUrl] = answer;
    return {
      owner: owner ?? '',
      ownerUrl: ownerUrl ?? '',
      ticketNode: ticketNode ?? '',
      ticketRoom: ticketRoom ?? '',
      ticketUrl: ticketUrl ?? '',
    };
  }

  private ownerKey(id: string): string {
    return `${this.opts.prefix}bo:${sha(Buffer.from(id, 'base64url'))}`;
  }

  /** This node owns the blob for `ttlMs` from now (written; or removed, for its tombstone). */
  private async own(id: string, ttlMs: number): Promise<void> {
    await this.opts.redis.set(this.ownerKey(id), this.opts.node, 'PX', ttlMs).catch((e: unknown) => this.warn('owner', e));
  }

  private warn(what: string, e: unknown): void {
    this.opts.log.warn('cluster blobs failed', { what, error: (e instanceof Error ? e.message : String(e)).slice(0, 200) });
  }
}

const none: Route = { owner: '', ownerUrl: '', ticketNode: '', ticketRoom: '', ticketUrl: '' };
