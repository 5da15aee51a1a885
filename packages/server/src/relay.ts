/**
 * The blind relay: HTTP(S) for the web app, and a WebSocket endpoint at /ws that decodes only the
 * envelope and applies the delivery-service rules in rooms.ts. It never parses a payload.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCodes, ErrorCodes, ProtocolError, SUBPROTOCOL, decodeClientFrame, encodeFrame } from '@nullroom/protocol';
import { type BlobOptions, BlobStore } from './blobs.js';
import { httpHandler, securityHeaders } from './http.js';
import { type RelayLimits, defaultRelayLimits } from './limits.js';
import { type Peer, Rooms, noRequest } from './rooms.js';
import { Tickets } from './tickets.js';

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
}

export interface Relay {
  readonly url: string;
  readonly port: number;
  stats(): { connections: number; rooms: number };
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

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

interface Conn extends Peer {
  readonly ws: WebSocket;
  /** The TCP/TLS socket under `ws`, corked while a batch of frames for it is being written. */
  readonly socket: { cork(): void; uncork(): void } | undefined;
  corked: boolean;
  alive: boolean;
  tokens: number;
  lastRefill: number;
  overLimit: number;
}

export async function startRelay(opts: RelayOptions = {}): Promise<Relay> {
  const host = opts.host ?? '127.0.0.1';
  const limits: RelayLimits = { ...defaultRelayLimits, ...opts.limits };
  const tls = opts.tls !== undefined;
  if (!tls && !isLoopback(host)) {
    throw new RelayConfigError(`refusing to serve plain HTTP on ${host}: only loopback may go without TLS`);
  }
  const log = opts.log;
  const hooks = opts.hooks;
  const codecLimits = { maxFrameBytes: limits.maxFrameBytes, maxPayloadBytes: limits.maxPayloadBytes };
  // Blob upload tickets (docs/PROTOCOL.md §9.1): only with a blob store.
  const tickets = opts.blobs !== false ? new Tickets() : undefined;
  const rooms = new Rooms(limits, (f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength), tickets);
  const conns = new Set<Conn>();
  let nextConn = 1;

  let blobs: BlobStore | undefined;
  if (tickets !== undefined) {
    try {
      blobs = await BlobStore.open(opts.blobs || {}, securityHeaders(tls), log, tickets);
    } catch (e) {
      throw new RelayConfigError(`blob store: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const handler = httpHandler({
    tls,
    ...(opts.staticDir !== undefined ? { staticDir: opts.staticDir } : {}),
    ...(blobs !== undefined ? { blobs: blobs.handle } : {}),
  });
  const server: Server = tls
    ? createHttpsServer({ cert: opts.tls!.cert as string, key: opts.tls!.key as string }, handler)
    : createHttpServer(handler);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (set) => (set.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });

  const reject = (socket: Duplex, status: number, text: string) => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const path = new URL(req.url ?? '/', 'http://relay').pathname;
    if (path !== '/ws') return reject(socket, 404, 'Not Found');
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    if (!protocols.includes(SUBPROTOCOL)) return reject(socket, 400, 'Bad Request');
    if (conns.size >= limits.maxConnections) return reject(socket, 503, 'Service Unavailable');
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req.socket.remoteAddress ?? '?'));
  });

  // Batched fan-out: the first frame written to a socket in this turn of the event loop corks it;
  // the socket is uncorked once the turn's work is done, so all the frames that one read of the
  // sender's socket produced leave in a single writev per recipient instead of one per frame.
  let corked: Conn[] = [];
  const uncorkAll = () => {
    const batch = corked;
    corked = [];
    for (const c of batch) {
      c.corked = false;
      c.socket!.uncork();
    }
  };

  function send(c: Conn, bytes: Uint8Array): boolean {
    if (c.ws.readyState !== 1) return false;
    if (!c.corked && c.socket !== undefined) {
      c.corked = true;
      c.socket.cork();
      if (corked.push(c) === 1) process.nextTick(uncorkAll);
    }
    if (hooks === undefined) {
      c.ws.send(bytes);
    } else {
      for (const b of hooks.transformOut ? hooks.transformOut(c.id, bytes) : [bytes]) {
        hooks.onWire?.('out', c.id, b);
        c.ws.send(b);
      }
    }
    // Backpressure: a reader that cannot keep up is cut off rather than buffered without bound.
    if (c.ws.bufferedAmount > limits.maxBufferedBytes) {
      log?.(`conn ${c.id} closed: slow consumer`);
      c.ws.close(CloseCodes.SLOW_CONSUMER, 'slow consumer');
      setTimeout(() => c.ws.terminate(), 1000).unref();
    }
    return true;
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
    if (!refill(c)) {
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

  function accept(ws: WebSocket, remote: string): void {
    const c: Conn = {
      id: nextConn++,
      ws,
      // `ws` keeps its socket in a private field; without it we simply do not batch.
      socket: (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket,
      corked: false,
      memberships: new Map(),
      send: (bytes) => send(c, bytes),
      alive: true,
      tokens: limits.rateBurst,
      lastRefill: performance.now(),
      overLimit: 0,
    };
    conns.add(c);
    log?.(`conn ${c.id} open from ${remote}`);
    ws.on('message', (data: Buffer, isBinary: boolean) => onMessage(c, data, isBinary));
    ws.on('pong', () => {
      c.alive = true;
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', (code) => {
      conns.delete(c);
      rooms.drop(c);
      tickets?.dropPeer(c);
      log?.(`conn ${c.id} closed ${code}`);
    });
  }

  // Dead peers: one ping per interval; a connection that did not answer the previous one is dropped.
  const pinger = setInterval(() => {
    for (const c of conns) {
      if (!c.alive) {
        log?.(`conn ${c.id} timed out`);
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }, limits.pingIntervalMs);
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
    stats: () => ({ connections: conns.size, rooms: rooms.size }),
    blobStats: () => blobs?.stats(),
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(pinger);
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
