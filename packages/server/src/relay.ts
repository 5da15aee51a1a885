/**
 * The blind relay: HTTP(S) for the web app, and a WebSocket endpoint at /ws that decodes only the
 * envelope and applies the delivery-service rules in rooms.ts. It never parses a payload.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCodes, ErrorCodes, ProtocolError, SUBPROTOCOL, decodeClientFrame, encodeFrame } from '@nullroom/protocol';
import { addressKey, clientAddress, isLoopback } from './address.js';
import { type BlobOptions, BlobStore } from './blobs.js';
import { type Account, Accounts, type Bucket, fullBucket, takeToken } from './budget.js';
import { httpHandler, securityHeaders } from './http.js';
import { type RelayLimits, defaultRelayLimits } from './limits.js';
import { OriginConfigError, type OriginPolicy, checkOrigin, originPolicy } from './origin.js';
import { type Peer, Rooms, noRequest } from './rooms.js';
import { parseTarget } from './target.js';
import { Tickets } from './tickets.js';

export { isLoopback };

export interface RelayHooks {
  /** Sees every WebSocket message received ('in') and sent ('out'); for tests that search for plaintext. */
  onWire?(dir: 'in' | 'out', connId: number, bytes: Uint8Array): void;
  /** Rewrites what is sent to one connection; lets a test build a malicious relay. */
  transformOut?(connId: number, bytes: Uint8Array): Uint8Array[];
}

export interface RelayOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  tls?: { cert: string | Uint8Array; key: string | Uint8Array };
  limits?: Partial<RelayLimits>;
  log?: (line: string) => void;
  hooks?: RelayHooks;
  /** A directory served at / (the web app). */
  staticDir?: string;
  /** The blob store for encrypted file chunks (docs/PROTOCOL.md §9); on by default, `false` turns it off. */
  blobs?: BlobOptions | false;
  /**
   * Origins ("https://chat.example.com") whose pages may open /ws and use /blobs besides the
   * relay's own (scheme + the request's Host): the public name of a reverse proxy, for instance.
   */
  allowedOrigins?: readonly string[];
  /**
   * Behind a reverse proxy: take the client's address (for the per-address caps) from the last
   * X-Forwarded-For entry, the one the proxy appended. Only when every request comes through it.
   */
  trustProxy?: boolean;
}

export interface Relay {
  readonly url: string;
  readonly port: number;
  /** httpConnections: TCP connections counted against maxHttpConnections (not, or not yet, WebSockets). */
  stats(): { connections: number; rooms: number; outputBytes: number; groupInfoBytes: number; addresses: number; httpConnections: number };
  /** Live blobs and their bytes on disk; undefined when the blob store is off. */
  blobStats(): { blobs: number; bytes: number } | undefined;
  close(): Promise<void>;
}

export class RelayConfigError extends Error {
  readonly code = 'NR_RELAY_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'RelayConfigError';
  }
}

interface Conn extends Peer {
  readonly ws: WebSocket;
  /** The TCP/TLS socket under `ws`, corked while a batch of frames for it is being written. */
  readonly socket: { cork(): void; uncork(): void; _handle?: { writeQueueSize?: unknown } | null } | undefined;
  corked: boolean;
  readonly account: Account;
  /** The payload of our last ping: only a pong that echoes it proves the peer alive. */
  ping: Buffer | undefined;
  alive: boolean;
  /** Bytes handed to ws for this connection; minus bufferedAmount, what has left (progress). */
  queued: number;
  lastFlushed: number;
  lastBuffered: number;
  /** The socket's in-flight write, in bytes not yet taken by the kernel, at the last tick (see writeQueue). */
  lastWriteQueue: number;
  /** Consecutive timer ticks with a backlog and no progress. */
  stalls: number;
  /** Closed by us for its backlog: counted as gone for the output budget. */
  cut: boolean;
  tokens: number;
  lastRefill: number;
  overLimit: number;
  /** Accepted COMMITs (limits.commitBurst). */
  readonly commits: Bucket;
}

/** Frames at least this large trigger the global output-budget check in the turn they are queued. */
const LARGE_FRAME = 256 * 1024;

export async function startRelay(opts: RelayOptions = {}): Promise<Relay> {
  const host = opts.host ?? '127.0.0.1';
  const limits: RelayLimits = { ...defaultRelayLimits, ...opts.limits };
  const tls = opts.tls !== undefined;
  if (!tls && !isLoopback(host)) {
    throw new RelayConfigError(`refusing to serve plain HTTP on ${host}: only loopback may go without TLS`);
  }
  let origins: OriginPolicy;
  try {
    origins = originPolicy(tls, opts.allowedOrigins ?? []);
  } catch (e) {
    if (e instanceof OriginConfigError) throw new RelayConfigError(e.message);
    throw e;
  }
  const trustProxy = opts.trustProxy === true;
  const addressRate = limits.addressRatePerSecond ?? 10 * limits.ratePerSecond;
  const addressBurst = limits.addressRateBurst ?? 10 * limits.rateBurst;
  const log = opts.log;
  const hooks = opts.hooks;
  const codecLimits = { maxFrameBytes: limits.maxFrameBytes, maxPayloadBytes: limits.maxPayloadBytes };
  const accounts = new Accounts(limits);
  // Blob upload tickets (docs/PROTOCOL.md §9.1): only with a blob store.
  const tickets = opts.blobs !== false ? new Tickets() : undefined;
  const rooms = new Rooms(limits, (f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength), tickets);
  const conns = new Set<Conn>();
  let nextConn = 1;

  let blobs: BlobStore | undefined;
  if (tickets !== undefined) {
    try {
      blobs = await BlobStore.open(opts.blobs || {}, securityHeaders(tls), log, tickets, (req) => addressKey(clientAddress(req, trustProxy)));
    } catch (e) {
      throw new RelayConfigError(`blob store: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const handler = httpHandler({
    tls,
    origins,
    ...(opts.staticDir !== undefined ? { staticDir: opts.staticDir } : {}),
    ...(blobs !== undefined ? { blobs: blobs.handle } : {}),
  });
  const serverOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    // How often Node checks headersTimeout and requestTimeout (its default, 30 s, would let a
    // slowloris head live 30 s whatever the timeout says).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeoutMs / 2)),
  };
  /** TCP sockets answered 503 at accept (connection caps below): whatever request they send is not served. */
  const refused = new WeakSet<object>();
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    if (refused.has(req.socket)) return void req.socket.destroy();
    return handler(req, res);
  };
  const server: Server = tls
    ? createHttpsServer({ ...serverOptions, handshakeTimeout: limits.headersTimeoutMs, cert: opts.tls!.cert as string, key: opts.tls!.key as string }, serve)
    : createHttpServer(serverOptions, serve);
  // Slow or endless request heads and idle connections cost a socket each: bounded in time.
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxHeadersCount = limits.maxHeadersCount;
  // Plain HTTP connections (not, or not yet, WebSockets) are capped per address and in total at
  // accept: a slowloris head holds its socket until headersTimeoutMs, and 1,000 of them are cheap
  // to open. A connection leaves this count when it asks for a WebSocket ('upgrade'), where the
  // WebSocket caps take over, or when it closes.
  let httpConns = 0;
  const httpPerAddress = new Map<string, number>();
  /** Counted TCP sockets by "address|port" (under TLS, 'upgrade' hands us the TLS socket, not this one). */
  const counted = new Map<string, { key: string | undefined; left: boolean }>();
  const peerId = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) => `${s.remoteAddress ?? '?'}|${s.remotePort ?? '?'}`;
  const leaveHttp = (id: string) => {
    const e = counted.get(id);
    if (e === undefined || e.left) return;
    e.left = true;
    httpConns--;
    if (e.key === undefined) return;
    const n = (httpPerAddress.get(e.key) ?? 1) - 1;
    if (n <= 0) httpPerAddress.delete(e.key);
    else httpPerAddress.set(e.key, n);
  };
  const onConnection = (socket: Duplex & { remoteAddress?: string; remotePort?: number }) => {
    const key = trustProxy ? undefined : addressKey(socket.remoteAddress ?? '');
    const n = key === undefined ? 0 : (httpPerAddress.get(key) ?? 0);
    if (httpConns >= limits.maxHttpConnections || (key !== undefined && n >= limits.maxHttpConnectionsPerAddress)) {
      log?.(`connection refused: ${key === undefined || httpConns >= limits.maxHttpConnections ? `${limits.maxHttpConnections} HTTP connections` : `${limits.maxHttpConnectionsPerAddress} HTTP connections from ${key}`}`);
      refused.add(socket);
      socket.on('error', () => socket.destroy());
      // Written before any request arrived; the client reads it as the answer to its first request.
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const id = peerId(socket);
    httpConns++;
    if (key !== undefined) httpPerAddress.set(key, n + 1);
    counted.set(id, { key, left: false });
    socket.once('close', () => {
      leaveHttp(id);
      counted.delete(id);
    });
  };
  // 'connection' for plain HTTP; for HTTPS the TCP socket is counted before the TLS handshake.
  server.on('connection', onConnection);
  // A request Node's parser refuses (bad request line, header overflow, timeout): answered on that
  // socket only, which is then destroyed. Without a listener Node does much the same, but this way
  // the answer is ours and nothing is logged but a code.
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const [status, text] =
      err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (set) => (set.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });

  const reject = (socket: Duplex, status: number, text: string) => {
    if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
  };
  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node hands over any request with an Upgrade header, whatever it names ('chunked', 'h2c',
    // 'TLS/1.2'): only a WebSocket is spoken here (RFC 9110 §7.8; RFC 6455 §4.2.1 wants the token
    // "websocket", case-insensitive).
    const wanted = req.headers.upgrade;
    if (typeof wanted !== 'string' || wanted.trim().toLowerCase() !== 'websocket') return reject(socket, 400, 'Bad Request');
    const target = parseTarget(req.url);
    if (target === undefined) return reject(socket, 400, 'Bad Request');
    if (target.pathname !== '/ws') return reject(socket, 404, 'Not Found');
    const verdict = checkOrigin(req.headers, origins);
    if (verdict === 'misdirected') return reject(socket, 421, 'Misdirected Request');
    if (verdict === 'forbidden') return reject(socket, 403, 'Forbidden');
    const offered = req.headers['sec-websocket-protocol'];
    const protocols = (typeof offered === 'string' ? offered : '').split(',').map((s) => s.trim());
    if (!protocols.includes(SUBPROTOCOL)) return reject(socket, 400, 'Bad Request');
    if (conns.size >= limits.maxConnections) return reject(socket, 503, 'Service Unavailable');
    const key = addressKey(clientAddress(req, trustProxy));
    const account = accounts.get(key, performance.now());
    if (account.connections >= limits.maxConnectionsPerAddress) {
      log?.(`upgrade refused: ${limits.maxConnectionsPerAddress} connections from ${key}`);
      return reject(socket, 503, 'Service Unavailable');
    }
    // Counted from now, not once the handshake completes, so parallel handshakes cannot overshoot.
    account.connections++;
    let accepted = false;
    socket.once('close', () => {
      if (!accepted) account.connections--;
    });
    wss.handleUpgrade(req, socket, head, (ws) => {
      accepted = true;
      accept(ws, account, req.socket.remoteAddress ?? '?');
    });
  }
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (refused.has(socket)) return void socket.destroy();
    leaveHttp(peerId(req.socket));
    // No input may end the process: whatever throws answers this socket only.
    try {
      upgrade(req, socket, head);
    } catch {
      log?.('upgrade internal error');
      try {
        reject(socket, 500, 'Internal Server Error');
      } catch {
        socket.destroy();
      }
    }
  });

  // Batched fan-out: the first frame written to a socket in this turn of the event loop corks it;
  // the socket is uncorked once the turn's work is done, so all the frames that one read of the
  // sender's socket produced leave in a single writev per recipient instead of one per frame.
  let corked: Conn[] = [];
  let largeQueued = false;
  const uncorkAll = () => {
    const batch = corked;
    corked = [];
    for (const c of batch) {
      c.corked = false;
      c.socket!.uncork();
    }
    if (largeQueued) {
      largeQueued = false;
      enforceOutputBudget();
    }
  };

  /** Closes a connection that holds too much unsent output, and drops its socket (and backlog) at once. */
  function cut(c: Conn, why: string): void {
    if (c.cut) return;
    c.cut = true;
    log?.(`conn ${c.id} closed: slow consumer (${why})`);
    c.ws.close(CloseCodes.SLOW_CONSUMER, 'slow consumer');
    c.ws.terminate();
  }

  function send(c: Conn, bytes: Uint8Array, onWritten?: () => void): boolean {
    if (c.ws.readyState !== 1 || c.cut) return false;
    if (!c.corked && c.socket !== undefined) {
      c.corked = true;
      c.socket.cork();
      if (corked.push(c) === 1) process.nextTick(uncorkAll);
    }
    const done = onWritten === undefined ? undefined : (err?: Error | null) => void (err ? undefined : onWritten());
    if (hooks === undefined) {
      c.queued += bytes.byteLength;
      c.ws.send(bytes, done);
    } else {
      const out = hooks.transformOut ? hooks.transformOut(c.id, bytes) : [bytes];
      if (out.length === 0) onWritten?.(); // dropped by the hook: nothing stays queued
      out.forEach((b, i) => {
        hooks.onWire?.('out', c.id, b);
        c.queued += b.byteLength;
        c.ws.send(b, i === out.length - 1 ? done : undefined);
      });
    }
    if (bytes.byteLength >= LARGE_FRAME) largeQueued = true;
    // Backpressure: a reader that cannot keep up is cut off rather than buffered without bound.
    if (c.ws.bufferedAmount > limits.maxBufferedBytes) {
      log?.(`conn ${c.id} closed: slow consumer`);
      c.cut = true;
      c.ws.close(CloseCodes.SLOW_CONSUMER, 'slow consumer');
      setTimeout(() => c.ws.terminate(), 1000).unref();
    }
    return true;
  }

  /**
   * The global output budget: the backlogs of all connections together. Each backlog counts in full
   * even where several share one frame's buffer (a commit fanned out to 1000 members is one buffer,
   * counted 1000 times), so connections are cut only when the bytes the process really holds in
   * buffers (`arrayBuffers`, less the GroupInfos, which have their own budget) are over it too.
   * Then the largest backlogs are cut first, until the counted total is back under the budget.
   */
  function enforceOutputBudget(): number {
    let total = 0;
    const backlog: [Conn, number][] = [];
    for (const c of conns) {
      if (c.cut) continue;
      const b = c.ws.bufferedAmount;
      if (b === 0) continue;
      total += b;
      backlog.push([c, b]);
    }
    if (total <= limits.maxOutputBytes) return total;
    if (process.memoryUsage().arrayBuffers - rooms.groupInfoBytes <= limits.maxOutputBytes) return total;
    backlog.sort((x, y) => y[1] - x[1]);
    for (const [c, b] of backlog) {
      if (total <= limits.maxOutputBytes) break;
      cut(c, 'output budget');
      total -= b;
    }
    return total;
  }

  function refill(c: Conn): boolean {
    const now = performance.now();
    c.tokens = Math.min(limits.rateBurst, c.tokens + ((now - c.lastRefill) * limits.ratePerSecond) / 1000);
    c.lastRefill = now;
    if (c.tokens >= 1) {
      c.tokens -= 1;
      return true;
    }
    return false;
  }

  function protocolError(c: Conn, e: unknown): void {
    const code = e instanceof ProtocolError ? e.code : 'BAD_VALUE';
    log?.(`conn ${c.id} protocol error ${code}`);
    send(c, encodeFrame({ type: 'ERROR', reqId: noRequest, code: ErrorCodes[code] }));
    c.ws.close(CloseCodes.MALFORMED, 'malformed frame');
  }

  function onMessage(c: Conn, data: Buffer, isBinary: boolean): void {
    hooks?.onWire?.('in', c.id, data);
    if (!isBinary) return protocolError(c, new ProtocolError('BAD_VALUE', 'text frame'));
    let f;
    try {
      f = decodeClientFrame(data, codecLimits);
    } catch (e) {
      return protocolError(c, e);
    }
    if (!refill(c) || !takeToken(c.account.frames, addressBurst, 1000 / addressRate, performance.now())) {
      send(c, encodeFrame({ type: 'ERROR', reqId: f.reqId, code: ErrorCodes.RATE_LIMITED }));
      if (++c.overLimit > 10 * limits.rateBurst) {
        log?.(`conn ${c.id} closed: rate limit`);
        c.ws.close(CloseCodes.RATE_LIMITED, 'rate limited');
      }
      return;
    }
    try {
      rooms.handle(c, f);
    } catch {
      log?.(`conn ${c.id} internal error`);
      send(c, encodeFrame({ type: 'ERROR', reqId: f.reqId, code: ErrorCodes.INTERNAL }));
    }
  }

  function accept(ws: WebSocket, account: Account, remote: string): void {
    const c: Conn = {
      id: nextConn++,
      ws,
      // `ws` keeps its socket in a private field; without it we simply do not batch.
      socket: (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket,
      corked: false,
      memberships: new Map(),
      account,
      send: (bytes, onWritten) => send(c, bytes, onWritten),
      ping: undefined,
      alive: true,
      queued: 0,
      lastFlushed: 0,
      lastBuffered: 0,
      lastWriteQueue: 0,
      stalls: 0,
      cut: false,
      tokens: limits.rateBurst,
      lastRefill: performance.now(),
      overLimit: 0,
      commits: fullBucket(limits.commitBurst, performance.now()),
      takeCommit: () => {
        const now = performance.now();
        // Both buckets must have a token; the connection's is only spent if the address's is too.
        if (!takeToken(c.commits, limits.commitBurst, limits.commitIntervalMs, now)) return false;
        if (takeToken(account.commits, limits.commitBurstPerAddress, limits.commitIntervalPerAddressMs, now)) return true;
        c.commits.tokens += 1;
        return false;
      },
    };
    conns.add(c);
    log?.(`conn ${c.id} open from ${remote} (${account.connections} from ${account.key})`);
    ws.on('message', (data: Buffer, isBinary: boolean) => onMessage(c, data, isBinary));
    // Only the echo of our latest ping's random payload proves life; `ws` also reports unsolicited
    // pongs (RFC 6455 §5.5.3 allows them), which a peer could send to look alive without reading.
    ws.on('pong', (data: Buffer) => {
      if (c.ping !== undefined && data.equals(c.ping)) c.alive = true;
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', (code) => {
      conns.delete(c);
      rooms.drop(c);
      account.connections--;
      tickets?.dropPeer(c);
      log?.(`conn ${c.id} closed ${code}`);
    });
  }

  /**
   * Bytes of the socket's in-flight write not yet taken by the kernel (libuv's write queue, which
   * shrinks as a large write goes out piece by piece); undefined where the handle does not say
   * (then only completed writes count as progress).
   */
  function writeQueue(c: Conn): number | undefined {
    const q = c.socket?._handle?.writeQueueSize;
    return typeof q === 'number' ? q : undefined;
  }

  // One timer for liveness and output: a ping with a fresh random payload per interval (a
  // connection that did not echo the previous one is dropped), and the backlog checks that must
  // not wait for the next send() (a peer that stops reading may never be sent anything again).
  const tick = () => {
    for (const c of conns) {
      if (c.cut) continue;
      const buffered = c.ws.bufferedAmount;
      const flushed = c.queued - buffered;
      const wq = writeQueue(c);
      // Our ping waits behind the connection's backlog: a slow link still draining a big one (a
      // 2 MiB GroupInfo at 1.6 Mbit/s takes ~10 s) cannot echo it in time. Output that left since
      // the last tick, with more still queued, shows the peer is reading: alive for this tick, and
      // the ping already on its way stays the one to echo. A peer that neither reads nor echoes is
      // cut; an unsolicited pong still proves nothing (see 'pong'). Progress is a write that
      // completed (`flushed` grew), or the in-flight write shrinking: bufferedAmount only goes
      // down when a whole write completes, and one write can be a 2 MiB frame, or a batch of them.
      const progressed = flushed > c.lastFlushed || (wq !== undefined && wq !== c.lastWriteQueue);
      const draining = progressed && c.lastBuffered > 0;
      if (buffered > 0 && c.lastBuffered > 0 && !progressed) c.stalls++;
      else c.stalls = 0;
      c.lastFlushed = flushed;
      c.lastBuffered = buffered;
      c.lastWriteQueue = wq ?? 0;
      if (!c.alive && !draining) {
        log?.(`conn ${c.id} timed out`);
        c.ws.terminate();
        continue;
      }
      if (buffered > limits.maxBufferedBytes) {
        cut(c, 'backlog');
        continue;
      }
      if (c.stalls >= 2) {
        cut(c, 'no progress');
        continue;
      }
      if (!c.alive) continue; // draining: the outstanding ping is not replaced
      c.alive = false;
      c.ping = randomBytes(12);
      c.ws.ping(c.ping);
    }
    enforceOutputBudget();
    accounts.prune(performance.now());
  };
  const pinger = setInterval(tick, limits.pingIntervalMs);
  pinger.unref();

  await new Promise<void>((resolve, reject) => {
    const failed = (e: Error) => {
      clearInterval(pinger);
      void blobs?.dispose();
      reject(e);
    };
    server.once('error', failed);
    server.listen(opts.port ?? 8080, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : (opts.port ?? 8080);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `${tls ? 'https' : 'http'}://${shownHost}:${port}`;

  return {
    url,
    port,
    stats: () => {
      let outputBytes = 0;
      for (const c of conns) outputBytes += c.ws.bufferedAmount;
      return { connections: conns.size, rooms: rooms.size, outputBytes, groupInfoBytes: rooms.groupInfoBytes, addresses: accounts.size, httpConnections: httpConns };
    },
    blobStats: () => blobs?.stats(),
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(pinger);
        rooms.dispose();
        blobs?.stop();
        for (const c of conns) c.ws.close(CloseCodes.GOING_AWAY, 'relay shutting down');
        const force = setTimeout(() => {
          for (const c of conns) c.ws.terminate();
          server.closeAllConnections();
        }, 1000);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          if (blobs === undefined) resolve();
          else void blobs.dispose().then(resolve, resolve);
        });
        server.closeIdleConnections();
      }),
  };
}
