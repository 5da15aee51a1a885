/**
 * The relay's HTTP(S) server: Node's server with its time and size bounds, the caps on plain HTTP
 * connections at accept, and the answers to requests Node's parser refuses. What is served is
 * http.ts (pages, /healthz, /blobs); the WebSocket upgrade is upgrade.ts.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { addressKey } from './address.js';
import type { HttpRefusal, RelayCounters } from './counters.js';
import type { RelayLimits } from './limits.js';
import { type RelayLogger, silentLogger } from './logger.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
type PeerSocket = Duplex & { remoteAddress?: string | undefined; remotePort?: number | undefined };

/** Ends a socket with a bare status line, or with these headers and a plain-text body (no request of it is served). */
export function answerRaw(
  socket: Duplex,
  status: number,
  text: string,
  extra: { headers?: Record<string, string>; body?: string } = {},
): void {
  const body = extra.body ?? '';
  const headers = Object.entries(extra.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const type = body === '' ? '' : 'Content-Type: text/plain; charset=utf-8\r\n';
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${headers}${type}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** A bare 500 for a request whose handler failed (a connection that already sent its head is cut). */
function answerInternal(res: ServerResponse): void {
  if (res.headersSent) return void res.destroy();
  const body = 'internal error\n';
  res.writeHead(500, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/**
 * Plain HTTP connections (not, or not yet, WebSockets) are capped per address and in total at
 * accept: a slowloris head holds its socket until headersTimeoutMs, and 1,000 of them are cheap to
 * open. A connection leaves this count when it asks for a WebSocket ('upgrade'), where the
 * WebSocket caps take over, or when it closes.
 */
export class HttpConnections {
  private count = 0;
  private readonly perAddress = new Map<string, number>();
  /** Counted TCP sockets by "address|port" (under TLS, 'upgrade' hands us the TLS socket, not this one). */
  private readonly counted = new Map<string, { key: string | undefined; socket: PeerSocket; closed: () => void }>();
  /** TCP sockets answered 503 at accept: whatever request they send is not served. */
  private readonly refused = new WeakSet<object>();

  constructor(
    private readonly limits: Pick<RelayLimits, 'maxHttpConnections' | 'maxHttpConnectionsPerAddress'>,
    /** Behind a proxy every connection comes from it: only the total is capped. */
    private readonly trustProxy: boolean,
    private readonly log: RelayLogger = silentLogger,
    private readonly counters?: RelayCounters,
  ) {}

  get size(): number {
    return this.count;
  }

  isRefused(socket: object): boolean {
    return this.refused.has(socket);
  }

  /** A new TCP socket: counted, or answered 503 and dropped over a cap. */
  accept(socket: PeerSocket): void {
    const { limits } = this;
    const key = this.trustProxy ? undefined : addressKey(socket.remoteAddress ?? '');
    const n = key === undefined ? 0 : (this.perAddress.get(key) ?? 0);
    if (this.count >= limits.maxHttpConnections || (key !== undefined && n >= limits.maxHttpConnectionsPerAddress)) {
      const total = key === undefined || this.count >= limits.maxHttpConnections;
      if (this.counters !== undefined) this.counters.httpRefused.connections++;
      this.log.debug(
        'http connection refused',
        total
          ? { cap: 'total', max: limits.maxHttpConnections }
          : { cap: 'address', max: limits.maxHttpConnectionsPerAddress, address: key },
      );
      this.refused.add(socket);
      socket.on('error', () => socket.destroy());
      // Written before any request arrived; the client reads it as the answer to its first request.
      answerRaw(socket, 503, 'Service Unavailable');
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const id = peerId(socket);
    this.count++;
    if (key !== undefined) this.perAddress.set(key, n + 1);
    const closed = () => this.leaveId(id);
    this.counted.set(id, { key, socket, closed });
    socket.once('close', closed);
  }

  /**
   * The socket left plain HTTP (it upgraded, or closed): uncounted and forgotten, its 'close'
   * listener removed (a WebSocket then holds nothing of this class for its lifetime).
   */
  leave(socket: PeerSocket): void {
    this.leaveId(peerId(socket));
  }

  private leaveId(id: string): void {
    const e = this.counted.get(id);
    if (e === undefined) return;
    this.counted.delete(id);
    e.socket.off('close', e.closed);
    this.count--;
    if (e.key === undefined) return;
    const n = (this.perAddress.get(e.key) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(e.key);
    else this.perAddress.set(e.key, n);
  }
}

const peerId = (s: PeerSocket) => `${s.remoteAddress ?? '?'}|${s.remotePort ?? '?'}`;

export interface HttpServerOptions {
  readonly limits: RelayLimits;
  readonly tls: { cert: string | Uint8Array; key: string | Uint8Array } | undefined;
  readonly connections: HttpConnections;
  readonly handler: Handler;
  readonly counters?: RelayCounters;
}

/** The server, bounded in time and size, counting its connections; not yet listening. */
export function createRelayServer({ limits, tls, connections, handler, counters }: HttpServerOptions): Server {
  const serverOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    // How often Node checks headersTimeout and requestTimeout (its default, 30 s, would let a
    // slowloris head live 30 s whatever the timeout says).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeoutMs / 2)),
  };
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    if (connections.isRefused(req.socket)) return void req.socket.destroy();
    if (counters !== undefined) counters.httpRequests++;
    // Node does not look at what a request listener returns: a rejection (or a throw) of the
    // handler would be unhandled and end the process. It is answered 500 here instead.
    void Promise.resolve()
      .then(() => handler(req, res))
      .catch(() => answerInternal(res));
  };
  const server: Server = tls
    ? createHttpsServer(
        { ...serverOptions, handshakeTimeout: limits.headersTimeoutMs, cert: tls.cert as string, key: tls.key as string },
        serve,
      )
    : createHttpServer(serverOptions, serve);
  // Slow or endless request heads and idle connections cost a socket each: bounded in time.
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxHeadersCount = limits.maxHeadersCount;
  // 'connection' for plain HTTP; for HTTPS the TCP socket is counted before the TLS handshake.
  server.on('connection', (socket: PeerSocket) => connections.accept(socket));
  // A request Node's parser refuses (bad request line, header overflow, timeout): answered on that
  // socket only, which is then destroyed. Without a listener Node does much the same, but this way
  // the answer is ours and nothing is logged but a code.
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const [status, text, reason]: [number, string, HttpRefusal] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'header_overflow']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'request_timeout']
          : [400, 'Bad Request', 'bad_request'];
    if (counters !== undefined) counters.httpRefused[reason]++;
    answerRaw(socket, status, text);
    setTimeout(() => socket.destroy(), 1000).unref();
  });
  return server;
}
