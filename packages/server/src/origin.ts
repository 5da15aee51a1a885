/**
 * Which web pages may talk to the relay. A browser sends `Origin` with every WebSocket handshake
 * and every cross-origin fetch; a page on another site must not open /ws or touch /blobs, or every
 * visitor's browser becomes a client an attacker drives (docs/SECURITY.md §6). Non-browser clients
 * (the terminal client, curl) send no Origin and are allowed.
 *
 * On plain HTTP (loopback only) a second check defends against DNS rebinding: a page on
 * evil.example whose name is made to resolve to 127.0.0.1 is same-origin with itself, so its
 * Origin matches its Host. The Host must therefore name loopback, or an operator-listed origin.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isLoopback } from './address.js';

export interface OriginPolicy {
  readonly tls: boolean;
  /** Serialized origins ("https://chat.example.com") allowed besides the relay's own. */
  readonly allowed: ReadonlySet<string>;
  /** Their host names, accepted as Host on plain HTTP (a reverse proxy forwarding the public name). */
  readonly allowedHosts: ReadonlySet<string>;
}

export class OriginConfigError extends Error {
  readonly code = 'NR_RELAY_CONFIG';
}

/** An operator's origin ("https://chat.example.com", a port allowed) in serialized form, or a config error. */
export function normalizeOrigin(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new OriginConfigError('an allowed origin must be a URL such as https://chat.example.com');
  }
  if (
    (u.protocol !== 'https:' && u.protocol !== 'http:') ||
    u.username !== '' ||
    u.password !== '' ||
    (u.pathname !== '/' && u.pathname !== '') ||
    u.search !== '' ||
    u.hash !== ''
  ) {
    throw new OriginConfigError('an allowed origin is a scheme and a host (and port), such as https://chat.example.com');
  }
  return u.origin;
}

export function originPolicy(tls: boolean, origins: readonly string[] = []): OriginPolicy {
  const allowed = new Set(origins.map(normalizeOrigin));
  return { tls, allowed, allowedHosts: new Set([...allowed].map((o) => new URL(o).hostname)) };
}

/** The host name of a Host header value, lower-cased, without port or brackets' content change. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.lastIndexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/** The Host header as a browser would serialize it in an Origin: lower case, default port dropped. */
function ownOrigin(host: string, tls: boolean): string {
  const h = host.trim().toLowerCase();
  const port = tls ? ':443' : ':80';
  return `${tls ? 'https' : 'http'}://${h.endsWith(port) ? h.slice(0, -port.length) : h}`;
}

/**
 * 'ok', 'forbidden' (403: a foreign Origin) or 'misdirected' (421: on plain HTTP, a Host that is
 * neither loopback nor an allowed origin's host: DNS rebinding).
 */
export function checkOrigin(headers: IncomingHttpHeaders, p: OriginPolicy): 'ok' | 'forbidden' | 'misdirected' {
  const host = headers.host;
  if (!p.tls && host !== undefined) {
    const name = hostName(host);
    if (!isLoopback(name) && !p.allowedHosts.has(name)) return 'misdirected';
  }
  const origin = headers.origin;
  if (origin === undefined) return 'ok';
  if (p.allowed.has(origin)) return 'ok';
  if (host !== undefined && origin.toLowerCase() === ownOrigin(host, p.tls)) return 'ok';
  return 'forbidden';
}
