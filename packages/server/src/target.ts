/**
 * The request target, parsed totally: every string either becomes a path and a query, or
 * `undefined` (answer 400). `new URL(target, base)` is not total: it throws on `//`, `///`, `//@`,
 * `//[` (it reads them as a scheme-relative URL with an authority), and one throw in the upgrade
 * handler used to end the process.
 *
 * Only the origin-form is accepted (RFC 9112 §3.2.1: absolute-path [ "?" query ]), and more
 * narrowly than RFC 3986 allows: the path must start with exactly one "/" (no empty first segment,
 * which some parsers take for an authority), and every character must be one RFC 3986 §3.3/§3.4
 * permits in a path or query (pchar, "/", "?"), with every "%" followed by two hex digits. No
 * fragment ("#"), no absolute-form (a proxy request), no asterisk-form.
 */
export interface Target {
  /** The path exactly as sent (still percent-encoded), starting with a single "/". */
  readonly pathname: string;
  /** The query without its "?", "" when there is none. */
  readonly query: string;
  /** The query's parameters (URLSearchParams never throws on a string). */
  readonly searchParams: URLSearchParams;
}

/** Longer targets are refused before they are scanned; Node's header limit bounds them anyway. */
export const MAX_TARGET_LENGTH = 8192;

// RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"; "/" separates segments,
// and §3.4 allows "/" and "?" in the query. '%' is checked separately.
const ALLOWED = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?") ALLOWED[ch.charCodeAt(0)] = 1;
const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

export function parseTarget(raw: string | undefined): Target | undefined {
  if (raw === undefined || raw.length === 0 || raw.length > MAX_TARGET_LENGTH) return undefined;
  if (raw.charCodeAt(0) !== 0x2f || raw.charCodeAt(1) === 0x2f) return undefined;
  let q = -1;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      if (!isHex(raw.charCodeAt(i + 1)) || !isHex(raw.charCodeAt(i + 2))) return undefined;
      i += 2;
      continue;
    }
    if (c >= 128 || ALLOWED[c] !== 1) return undefined;
    if (c === 0x3f && q < 0) q = i;
  }
  const pathname = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q + 1);
  return { pathname, query, searchParams: new URLSearchParams(query) };
}
