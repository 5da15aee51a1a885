/**
 * One WebSocket connection of the relay: its frames in (decode, rate, then rooms.ts) and out
 * (batching, backpressure), its liveness (ping and echo), and why it is closed (CloseErrors).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
// Imported rather than the global, whose getter Node resolves on every access (on every frame here).
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { ErrorCodes, ProtocolError, decodeClientFrame, encodeFrame } from '@nullroom/protocol';
import { type Account, type AddressFrames, type Bucket, fullBucket, takeToken } from './budget.js';
import type { RelayCounters } from './counters.js';
import { writeDirect } from './directWrite.js';
import { CloseError } from './errors.js';
import type { RelayLimits } from './limits.js';
import type { RelayLogger } from './logger.js';
import { Memberships } from './memberships.js';
import { LARGE_FRAME, type Outlet, type Output } from './output.js';
import { releaseReadQueue } from './readQueue.js';
import { type Peer, noRequest } from './rooms.js';
import type { RoomService } from './roomService.js';
import type { Tickets } from './tickets.js';

/**
 * Where a connection's frames meet its socket. The relay writes straight to `ws` (socketWire); a
 * test decorates the wire to watch or rewrite frames (test/_instrumented.ts).
 */
export interface Wire {
  /** Hands one frame to `ws`; `done` runs once it is written. The bytes handed over (for progress). */
  write(ws: WebSocket, conn: number, bytes: Uint8Array, done?: (err?: Error | null) => void): number;
  /** One message from the peer, before it is decoded. */
  read(conn: number, bytes: Uint8Array): void;
}

export const socketWire: Wire = {
  write(ws, _conn, bytes, done) {
    // The relay's frames are Buffers (rooms.ts wraps what it fans out): written straight to the
    // socket (directWrite.ts); anything else, or a sender holding frames back, through `ws`.
    if (!(bytes instanceof Buffer) || !writeDirect(ws, bytes, done)) ws.send(bytes, done);
    return bytes.byteLength;
  },
  read() {},
};

/** What every connection shares: the relay's rooms, limits and output. */
export interface ConnectionContext {
  readonly limits: RelayLimits;
  readonly rooms: RoomService;
  readonly tickets: Tickets | undefined;
  readonly output: Output;
  readonly wire: Wire;
  readonly codecLimits: { readonly maxFrameBytes: number; readonly maxPayloadBytes: number };
  readonly log: RelayLogger;
  /** The metrics' counters (counters.ts): frames and bytes in and out, deliveries, ERROR codes, closes. */
  readonly counters: RelayCounters;
  /** The per-address frame buckets (one relay's, or leased from Redis by relay nodes). */
  readonly addressFrames: AddressFrames;
  /** Called once the connection has closed. */
  readonly closed: (c: Connection) => void;
}

/**
 * Bytes of the socket's in-flight write not yet taken by the kernel (libuv's write queue, which
 * shrinks as a large write goes out piece by piece); undefined where the handle does not say (then
 * only completed writes count as progress). Node has no public API for it.
 */
function writeQueue(socket: Socket): number | undefined {
  const q = (socket as unknown as { _handle?: { writeQueueSize?: unknown } | null })._handle?.writeQueueSize;
  return typeof q === 'number' ? q : undefined;
}

export class Connection implements Peer, Outlet {
  readonly memberships: Peer['memberships'] = new Memberships();
  private corked = false;
  private cut = false;
  /**
   * Where the payload of our last ping is (PING_BYTES at `pingAt` in a sweep's random bytes, see
   * PingPayloads) while it is not echoed: only a pong that echoes it proves the peer alive.
   * Undefined: alive (no ping yet, or the last one echoed).
   */
  private ping: PingPayloads | undefined;
  private pingAt = 0;
  /** The output backlog at the last check, if there was one (most connections have none: not held for them). */
  private backlog: Backlog | undefined;
  /** The connection's frame bucket (limits.ratePerSecond, rateBurst). */
  private tokens: number;
  private lastRefill = performance.now();
  private overLimit = 0;
  /** Accepted COMMITs (limits.commitBurst). */
  /**
   * Made full on the first COMMIT: the same as full at the start, as a bucket refills up to its
   * burst (most connections never commit; the bucket is not held for them).
   */
  private commits: Bucket | undefined;

  constructor(
    readonly id: number,
    private readonly ws: RelaySocket,
    /** The TCP/TLS socket under `ws` (the upgrade request's), corked while a batch of frames for it is written. */
    private readonly socket: Socket,
    readonly account: Account,
    private readonly ctx: ConnectionContext,
  ) {
    const { limits } = ctx;
    this.tokens = limits.rateBurst;
    // No listeners: the socket hands its events to its connection (RelaySocket.emit).
    ws.connection = this;
  }

  /**
   * The peer's pong: only the echo of our latest ping's random payload proves life; `ws` also
   * reports unsolicited pongs (RFC 6455 §5.5.3 allows them), which a peer could send to look alive
   * without reading.
   */
  pong(data: Buffer): void {
    const p = this.ping;
    if (p !== undefined && data.length === PING_BYTES && p.bytes.compare(data, 0, PING_BYTES, this.pingAt, this.pingAt + PING_BYTES) === 0)
      this.ping = undefined;
    // Most often the last thing an idle connection reads for a ping interval: what ws keeps of it goes.
    releaseReadQueue(this.ws);
  }

  /** The socket closed: the connection is gone from the relay, its slots away (rooms.drop). */
  closed(code: number): void {
    const { ctx } = this;
    ctx.closed(this);
    ctx.rooms.drop(this);
    this.account.connections--;
    ctx.tickets?.dropPeer(this);
    ctx.log.debug('connection closed', { conn: this.id, code });
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get isCut(): boolean {
    return this.cut;
  }

  send(bytes: Uint8Array, onWritten?: () => void): boolean {
    if (this.ws.readyState !== 1 || this.cut) return false;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      this.ctx.output.corkedThisTurn(this);
    }
    const done = onWritten === undefined ? undefined : (err?: Error | null) => void (err ? undefined : onWritten());
    const n = this.ctx.wire.write(this.ws, this.id, bytes, done);
    if (this.backlog !== undefined) this.backlog.sent += n;
    this.ctx.counters.roomFrameOut(bytes);
    if (bytes.byteLength >= LARGE_FRAME) this.ctx.output.queuedLarge();
    // Backpressure: a reader that cannot keep up is cut off rather than buffered without bound.
    if (this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes) {
      this.ctx.log.debug('connection cut', { conn: this.id, reason: 'SLOW_CONSUMER', why: 'buffered' });
      this.cut = true;
      this.close(new CloseError('SLOW_CONSUMER'));
      setTimeout(() => this.ws.terminate(), 1000).unref();
    }
    return true;
  }

  uncork(): void {
    this.corked = false;
    this.socket.uncork();
  }

  /**
   * Both buckets must have a token; the connection's is only spent if the address's is too. Without
   * `address` only the connection's: relay nodes take the address's in Redis (then refundCommit
   * gives the connection's back if that was refused).
   */
  takeCommit(address = true): boolean {
    const { limits } = this.ctx;
    const now = performance.now();
    this.commits ??= fullBucket(limits.commitBurst, now);
    if (!takeToken(this.commits, limits.commitBurst, limits.commitIntervalMs, now)) return false;
    if (!address || takeToken(this.account.commits, limits.commitBurstPerAddress, limits.commitIntervalPerAddressMs, now)) return true;
    this.refundCommit();
    return false;
  }

  refundCommit(): void {
    if (this.commits !== undefined) this.commits.tokens += 1;
  }

  /** Closes with the error's close code and reason (CloseErrors); one without a code drops the socket. */
  close(e: CloseError): void {
    this.ctx.counters.closed(e.code);
    if (e.closeCode === undefined) this.ws.terminate();
    else this.ws.close(e.closeCode, e.message);
  }

  /** Closes a connection that holds too much unsent output, and drops its socket (and backlog) at once. */
  cutOff(why: string): void {
    if (this.cut) return;
    this.cut = true;
    this.ctx.log.debug('connection cut', { conn: this.id, reason: 'SLOW_CONSUMER', why });
    this.close(new CloseError('SLOW_CONSUMER'));
    this.ws.terminate();
  }

  /** Says goodbye (the relay is stopping); `terminate` follows if the peer does not answer. */
  goAway(): void {
    this.close(new CloseError('GOING_AWAY'));
  }

  terminate(): void {
    this.ws.terminate();
  }

  receive(data: Buffer, isBinary: boolean): void {
    const { ctx } = this;
    ctx.counters.roomFramesIn++;
    ctx.counters.roomBytesIn += data.byteLength;
    ctx.wire.read(this.id, data);
    if (!isBinary) return this.malformed(new ProtocolError('BAD_VALUE', 'text frame'));
    let f;
    try {
      f = decodeClientFrame(data, ctx.codecLimits);
    } catch (e) {
      return this.malformed(e);
    }
    const now = performance.now();
    if (!this.refill(now) || !ctx.addressFrames.take(this.account, now)) {
      this.send(encodeFrame({ type: 'ERROR', reqId: f.reqId, code: ErrorCodes.RATE_LIMITED }));
      if (++this.overLimit > 10 * ctx.limits.rateBurst) {
        ctx.log.debug('connection closed by the relay', { conn: this.id, reason: 'RATE_LIMITED' });
        this.close(new CloseError('RATE_LIMITED'));
      }
      return;
    }
    try {
      ctx.rooms.handle(this, f);
    } catch {
      ctx.log.error('internal error on a frame', { conn: this.id });
      this.send(encodeFrame({ type: 'ERROR', reqId: f.reqId, code: ErrorCodes.INTERNAL }));
    }
  }

  private malformed(e: unknown): void {
    const code = e instanceof ProtocolError ? e.code : 'BAD_VALUE';
    this.ctx.log.debug('protocol error', { conn: this.id, code });
    this.send(encodeFrame({ type: 'ERROR', reqId: noRequest, code: ErrorCodes[code] }));
    this.close(new CloseError('MALFORMED'));
  }

  private refill(now: number): boolean {
    const { limits } = this.ctx;
    this.tokens = Math.min(limits.rateBurst, this.tokens + ((now - this.lastRefill) * limits.ratePerSecond) / 1000);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Once per ping interval: liveness and backlog, the checks that must not wait for the next send()
   * (a peer that stops reading may never be sent anything again). A ping with a fresh random
   * payload; a connection that did not echo the previous one is dropped.
   */
  check(payloads: PingPayloads): void {
    if (this.cut) return;
    const buffered = this.ws.bufferedAmount;
    const wq = writeQueue(this.socket);
    const last = this.backlog;
    // Our ping waits behind the connection's backlog: a slow link still draining a big one (a
    // 2 MiB GroupInfo at 1.6 Mbit/s takes ~10 s) cannot echo it in time. Output that left since
    // the last check, with more still queued, shows the peer is reading: alive for this check, and
    // the ping already on its way stays the one to echo. A peer that neither reads nor echoes is
    // cut; an unsolicited pong still proves nothing (see 'pong'). Progress is a write that
    // completed (less is buffered than was, plus what was sent since), or the in-flight write
    // shrinking: bufferedAmount only goes down when a whole write completes, and one write can be
    // a 2 MiB frame, or a batch of them.
    const draining = last !== undefined && (last.buffered + last.sent > buffered || (wq !== undefined && wq !== last.writeQueue));
    const stalls = buffered > 0 && last !== undefined && !draining ? last.stalls + 1 : 0;
    this.backlog = buffered > 0 ? { buffered, sent: 0, writeQueue: wq ?? 0, stalls } : undefined;
    const waiting = this.ping !== undefined;
    if (waiting && !draining) {
      this.ctx.log.debug('connection timed out', { conn: this.id });
      return this.close(new CloseError('TIMED_OUT'));
    }
    if (buffered > this.ctx.limits.maxBufferedBytes) return this.cutOff('backlog');
    if (stalls >= 2) return this.cutOff('no progress');
    if (waiting) return; // draining: the outstanding ping is not replaced
    this.ping = payloads;
    this.pingAt = payloads.take();
    this.ws.ping(payloads.bytes.subarray(this.pingAt, this.pingAt + PING_BYTES));
  }
}

/** A connection's output backlog at a check (Connection.check), kept until a check finds none. */
interface Backlog {
  /** bufferedAmount then. */
  readonly buffered: number;
  /** Bytes handed to ws since; with `buffered` and bufferedAmount now, what has left (progress). */
  sent: number;
  /** The socket's in-flight write then, in bytes not yet taken by the kernel (see writeQueue). */
  readonly writeQueue: number;
  /** Consecutive checks with a backlog and no progress, this one included. */
  readonly stalls: number;
}

/** Bytes of fresh randomness in each ping (docs/PROTOCOL.md §4.1). */
export const PING_BYTES = 12;

/**
 * The ping payloads of one sweep over the connections (relay.ts): fresh random bytes for all of
 * them drawn at once (one call to the CSPRNG per sweep, not one per connection), each connection's
 * payload its own PING_BYTES of them.
 */
export class PingPayloads {
  readonly bytes: Buffer;
  private next = 0;
  constructor(connections: number) {
    this.bytes = randomBytes(PING_BYTES * Math.max(1, connections));
  }

  /** The offset of a payload not handed out before. */
  take(): number {
    const at = this.next;
    if (at + PING_BYTES > this.bytes.length) throw new Error('more pings than connections in this sweep');
    this.next += PING_BYTES;
    return at;
  }
}

/**
 * The relay's WebSocket (webSocketServer in upgrade.ts makes these): its events go straight to its
 * connection instead of through listeners, so an idle connection holds no listener table
 * (`ws` keeps one per socket: ~250 bytes with four events in it) and no closures of its own.
 */
export class RelaySocket extends WebSocket {
  connection: Connection | undefined = undefined;

  // Every event `ws` emits on a server-side socket has at most two arguments.
  override emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
    const c = this.connection;
    if (event === 'error') {
      this.terminate();
      return true;
    }
    if (c === undefined) return super.emit(event, a, b);
    switch (event) {
      case 'message':
        c.receive(a as Buffer, b as boolean);
        return true;
      case 'pong':
        c.pong(a as Buffer);
        return true;
      case 'close':
        c.closed(a as number);
        return true;
      default:
        return super.emit(event, a, b);
    }
  }
}
