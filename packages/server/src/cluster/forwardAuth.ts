/**
 * The header a relay node adds to a blob request it forwards to another node of its cluster
 * (docs/PROTOCOL.md §12 "Files across nodes"): the client's address key, for the per-address quotas
 * of the node that serves the request, with an HMAC-SHA-256 (RFC 2104) under the cluster's secret
 * over the method, the request target, the address and a timestamp. A client does not know the
 * secret, so it cannot make a node count its uploads against another address; a header that does
 * not verify is refused (never ignored: the request would otherwise be counted against the
 * forwarding node's address), and a request that carries one is never forwarded again.
 *
 *   X-Nullroom-Forwarded: <ms since 1970>.<base64url(address key)>.<base64url(mac)>
 *   mac = HMAC-SHA-256(secret, "nullroom/v1/forward" || 0x0a || method || 0x0a || target || 0x0a || address || 0x0a || ms)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const FORWARD_HEADER = 'x-nullroom-forwarded';
/** How far a forwarded request's timestamp may be from the receiving node's clock (the nodes' clocks are kept by NTP). */
export const FORWARD_SKEW_MS = 60_000;
/** The cluster secret's length (created once in Redis, SET NX). */
export const CLUSTER_SECRET_BYTES = 32;
const LABEL = 'nullroom/v1/forward';
const HEADER = /^([0-9]{1,15})\.([A-Za-z0-9_-]{1,172})\.([A-Za-z0-9_-]{43})$/;

function mac(secret: Uint8Array, method: string, target: string, address: string, ms: string): Buffer {
  return createHmac('sha256', secret).update(`${LABEL}\n${method}\n${target}\n${address}\n${ms}`, 'utf8').digest();
}

/** The header's value for a request of `method` to `target` (path and query) from `address` (an address key, address.ts). */
export function signForward(secret: Uint8Array, method: string, target: string, address: string, now = Date.now()): string {
  const ms = String(now);
  return `${ms}.${Buffer.from(address, 'utf8').toString('base64url')}.${mac(secret, method, target, address, ms).toString('base64url')}`;
}

/** The address the header vouches for, or undefined when it is malformed, stale or not made with `secret`. */
export function verifyForward(
  secret: Uint8Array,
  header: string | string[] | undefined,
  method: string,
  target: string,
  now = Date.now(),
): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = HEADER.exec(header);
  if (m === null) return undefined;
  const [, ms, addr, tag] = m as unknown as [string, string, string, string];
  if (Math.abs(now - Number(ms)) > FORWARD_SKEW_MS) return undefined;
  const address = Buffer.from(addr, 'base64url').toString('utf8');
  const expected = mac(secret, method, target, address, ms);
  const given = Buffer.from(tag, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected) ? address : undefined;
}
