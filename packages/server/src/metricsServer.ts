/**
 * Where /metrics is served (docs/OPERATING.md "Metrics"): never on the relay's public port, but on
 * a listener of its own, off unless asked for. On loopback (the default host) it needs nothing
 * more; on any other address it needs the relay's TLS (plain HTTP only on loopback, as for the
 * relay) and a bearer token, compared in constant time. Everything but GET/HEAD /metrics is 404.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isLoopback } from './address.js';
import { RelayConfigError } from './configError.js';
import { parseTarget } from './target.js';

export interface MetricsOptions {
  /** 0 picks a free port. */
  readonly port: number;
  /** Default 127.0.0.1. Anything else needs `token` and the relay's TLS. */
  readonly host?: string;
  /** When set, a scrape must carry `Authorization: Bearer <token>`. */
  readonly token?: string;
}

export interface MetricsListener {
  readonly url: string;
  close(): Promise<void>;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Checks the options (a RelayConfigError names the option, never the token). */
export function checkMetricsOptions(o: MetricsOptions, tls: boolean): void {
  const host = o.host ?? '127.0.0.1';
  if (o.token !== undefined && o.token.length < 16) throw new RelayConfigError('the metrics token must be at least 16 characters');
  if (isLoopback(host)) return;
  if (o.token === undefined)
    throw new RelayConfigError(`refusing to serve metrics on ${host} without a token: only loopback may go without one`);
  if (!tls) throw new RelayConfigError(`refusing to serve metrics over plain HTTP on ${host}: only loopback may go without TLS`);
}

export function serveMetrics(
  o: MetricsOptions,
  tls: { cert: string | Uint8Array; key: string | Uint8Array } | undefined,
  metrics: () => Promise<{ contentType: string; text: string }>,
): Promise<MetricsListener> {
  const host = o.host ?? '127.0.0.1';
  const want = o.token === undefined ? undefined : digest(`Bearer ${o.token}`);
  const answer = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
    res.end(body);
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const target = parseTarget(req.url);
    if (target?.pathname !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return answer(res, 404, 'not found\n');
    if (want !== undefined) {
      const got = digest(req.headers.authorization ?? '');
      if (!timingSafeEqual(got, want)) return answer(res, 401, 'unauthorized\n', { 'WWW-Authenticate': 'Bearer' });
    }
    metrics().then(
      (m) => answer(res, 200, req.method === 'HEAD' ? '' : m.text, { 'Content-Type': m.contentType }),
      () => answer(res, 500, 'internal error\n'),
    );
  };
  const server: Server = tls
    ? createHttpsServer({ cert: tls.cert as string, key: tls.key as string, maxHeaderSize: 8192 }, handler)
    : createHttpServer({ maxHeaderSize: 8192 }, handler);
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `${tls ? 'https' : 'http'}://${shown}:${port}/metrics`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
