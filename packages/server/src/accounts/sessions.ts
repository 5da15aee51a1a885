/**
 * Session credentials (docs/PROTOCOL.md §11.3): 32 random bytes, base64url (43 characters). A browser
 * holds one in the `__Host-nullroom-session` cookie (HttpOnly, Secure, SameSite=Strict, Path=/, no
 * Domain: the page's script never sees it, and no other site's request carries it); the terminal
 * sends it as `Authorization: Bearer`. The store keeps only its SHA-256.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const SESSION_COOKIE = '__Host-nullroom-session';
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export const newToken = (): string => randomBytes(32).toString('base64url');

export const tokenHash = (token: string): Uint8Array => new Uint8Array(createHash('sha256').update(token, 'utf8').digest());

export type Presented = { token: string; via: 'cookie' | 'bearer' } | undefined;

/**
 * The credential a request presents: a bearer token first (the terminal), else our cookie. Anything
 * not shaped like a token counts as none.
 */
export function presented(headers: IncomingHttpHeaders): Presented {
  const auth = headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(auth);
    return m === null ? undefined : { token: m[1]!, via: 'bearer' };
  }
  const cookie = headers.cookie;
  if (cookie === undefined) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return TOKEN.test(value) ? { token: value, via: 'cookie' } : undefined;
  }
  return undefined;
}

/** The Set-Cookie value that gives the browser its session (maxAge in seconds; 0 removes it). */
export function sessionCookie(token: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`;
}
