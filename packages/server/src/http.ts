/** HTTP side of the relay: security headers on every response, health and readiness, blobs, static web app. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { type HttpRefusal, HttpRefusals, type RelayCounters } from './counters.js';
import { type OriginPolicy, checkOrigin, originPolicy } from './origin.js';
import { parseTarget } from './target.js';

/**
 * @param inlineScriptHashes CSP hash sources ('sha256-...') of the inline scripts the app's own
 * index.html carries: only its import map, which pins every module's integrity.
 */
export function securityHeaders(tls: boolean, inlineScriptHashes: string[] = []): Record<string, string> {
  const hashes = inlineScriptHashes.map((h) => ` '${h}'`).join('');
  return {
    'Content-Security-Policy':
      // 'wasm-unsafe-eval' lets the page compile WebAssembly (Argon2id), and nothing else: no eval, and
      // no inline script but the import map whose exact hash is listed.
      `default-src 'self'; script-src 'self' 'wasm-unsafe-eval'${hashes}; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; ` +
      "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=()',
    ...(tls ? { 'Strict-Transport-Security': 'max-age=63072000' } : {}),
  };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.webmanifest': 'application/manifest+json',
};

const BUILTIN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nullroom relay</title></head>
<body><h1>Nullroom relay</h1>
<p>This relay is running. The web client is not built into this server yet.</p>
<p>Join a room from a terminal: <code>npx nullroom chat &lt;this URL&gt; --room NAME --nick NICK</code></p>
</body></html>
`;

/** CSP hash sources of the import maps in an HTML page. */
export function importMapHashes(html: string): string[] {
  return [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) => `sha256-${createHash('sha256').update(m[1]!, 'utf8').digest('base64')}`,
  );
}

const TEXT = 'text/plain; charset=utf-8';

/** /readyz: 200 `ready`, or 503 naming the failing checks (readiness.ts). */
function readyz(r: { ready: boolean; failing: string[] }, send: (status: number, body: string) => void): void {
  send(r.ready ? 200 : 503, r.ready ? 'ready\n' : `not ready: ${r.failing.join(', ')}\n`);
}

export function httpHandler(opts: {
  tls: boolean;
  origins?: OriginPolicy;
  staticDir?: string;
  blobs?: (req: IncomingMessage, res: ServerResponse) => void;
  /** The accounts API (accounts/accountsHttp.ts), answering every path under /api/. */
  api?: (req: IncomingMessage, res: ServerResponse, path: string, origin: 'ok' | 'forbidden') => Promise<void>;
  /** GET /readyz (readiness.ts): without it, /readyz answers as /healthz does. */
  ready?: () => Promise<{ ready: boolean; failing: string[] }>;
  counters?: RelayCounters;
}) {
  const root = opts.staticDir === undefined ? undefined : resolve(opts.staticDir);
  const origins = opts.origins ?? originPolicy(opts.tls);
  const headers = securityHeaders(opts.tls);
  const send = (res: ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, { ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(body);
  };
  const counters = opts.counters;
  /** A refusal: counted by reason (counters.ts), answered with its status and a fixed text. */
  const refuse = (res: ServerResponse, reason: HttpRefusal, text: string) => {
    if (counters !== undefined) counters.httpRefused[reason]++;
    send(res, HttpRefusals[reason], 'text/plain; charset=utf-8', `${text}\n`);
  };
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const target = parseTarget(req.url);
      if (target === undefined) return refuse(res, 'bad_target', 'bad request target');
      const path = target.pathname;
      // On plain HTTP, a Host that is not loopback (nor an allowed origin's) is DNS rebinding: 421.
      const verdict = checkOrigin(req.headers, origins);
      if (verdict === 'misdirected') return refuse(res, 'misdirected', 'misdirected request');
      if (opts.blobs !== undefined && (path === '/blobs' || path.startsWith('/blobs/'))) {
        // Blobs only for the relay's own pages (or none: the terminal client sends no Origin).
        if (verdict === 'forbidden') return refuse(res, 'forbidden_origin', 'forbidden origin');
        return opts.blobs(req, res);
      }
      if (opts.api !== undefined && path.startsWith('/api/')) return await opts.api(req, res, path, verdict);
      if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 'method_not_allowed', 'method not allowed');
      if (path === '/healthz') return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      if (path === '/readyz')
        return readyz(await (opts.ready?.() ?? { ready: true, failing: [] }), (st, body) => send(res, st, TEXT, body));
      if (root === undefined) {
        if (path === '/' || path === '/index.html') return send(res, 200, 'text/html; charset=utf-8', BUILTIN_PAGE);
        return refuse(res, 'not_found', 'not found');
      }
      let rel: string;
      try {
        rel = decodeURIComponent(path);
      } catch {
        return refuse(res, 'bad_path', 'bad path');
      }
      if (rel.includes('\0')) return refuse(res, 'bad_path', 'bad path');
      let file = resolve(join(root, normalize(rel)));
      if (file !== root && !file.startsWith(root + sep)) return refuse(res, 'not_found', 'not found');
      let st = await stat(file).catch(() => undefined);
      if (st?.isDirectory()) {
        file = join(file, 'index.html');
        st = await stat(file).catch(() => undefined);
      }
      if (st === undefined || !st.isFile()) return refuse(res, 'not_found', 'not found');
      if (extname(file) === '.html') {
        // Read on every request (pages are small), so the CSP always allows exactly the import map
        // of the page being served, even right after the web app was rebuilt.
        const html = await readFile(file);
        res.writeHead(200, {
          ...securityHeaders(opts.tls, importMapHashes(html.toString('utf8'))),
          'Content-Type': TYPES['.html']!,
          'Content-Length': html.byteLength,
          'Cache-Control': 'no-cache',
        });
        return void res.end(req.method === 'HEAD' ? undefined : html);
      }
      res.writeHead(200, {
        ...headers,
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Content-Length': st.size,
        'Cache-Control': 'public, max-age=3600',
      });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(file)
        .on('error', () => res.destroy())
        .pipe(res);
    } catch {
      if (!res.headersSent) refuse(res, 'internal', 'internal error');
      else res.destroy();
    }
  };
}
