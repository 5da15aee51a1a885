/**
 * Byte helpers, one copy for every package that may depend on crypto (the client re-exports them
 * from its encoding.ts). Hex, concatenation, random bytes and UTF-8 come from `@noble/hashes/utils`
 * and the constant-time compare from `@noble/ciphers/utils`, both already dependencies of this
 * package. The protocol package stays dependency-free and the relay never imports crypto, so each
 * keeps its own hex for map keys and Node's Buffer.
 *
 * Base64 is the one codec written here: every supported runtime (browsers, Node >= 20) has
 * `btoa`/`atob`, the wrappers are a few lines, and a codec dependency would be one more package in
 * the supply chain of the crypto layer for no behaviour we lack. Decoders of text that came from
 * the network or the disk throw a SyntaxError on anything that is not their alphabet and length,
 * as the platform's `Uint8Array.fromHex` does; callers at a boundary turn that into their own code.
 */
import { bytesToHex, concatBytes, hexToBytes, randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';

export const utf8 = new TextEncoder();
export const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Constant-time comparison (@noble/ciphers; false at once on a length mismatch, which is not secret). */
export { equalBytes } from '@noble/ciphers/utils.js';

export const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(...parts);

export const toHex = (b: Uint8Array): string => bytesToHex(b);

/** The bytes of an even-length hex string (either case); a SyntaxError for anything else, never a guess. */
export function fromHex(hex: string): Uint8Array {
  try {
    return hexToBytes(hex);
  } catch {
    throw new SyntaxError('not a hex string of whole bytes');
  }
}

/** Fresh bytes from the platform's CSPRNG, in their own ArrayBuffer (Web Crypto accepts them as they are). */
export const randomBytes = (n: number): Uint8Array<ArrayBuffer> => own(nobleRandomBytes(n));

export const randomHex = (n: number): string => toHex(nobleRandomBytes(n));

/**
 * uint32, big-endian. Written byte by byte: a DataView over a small array's `.buffer` makes V8 move
 * the array off its heap, a cost out of all proportion on paths run per message.
 */
export function u32be(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** The uint32 at `at` in `b`, big-endian (read byte by byte: see u32be). */
export function readU32be(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Copies into a fresh ArrayBuffer-backed array (Web Crypto rejects views over shared buffers in some runtimes). */
export function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(b.byteLength);
  out.set(b);
  return out;
}

/** Standard base64 with padding (RFC 4648 §4), in slices so large inputs do not overflow the argument list. */
export function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Standard base64 (RFC 4648 §4); a SyntaxError for characters outside the alphabet or an impossible length. */
export function fromBase64(s: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    throw new SyntaxError('not base64');
  }
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** base64url without padding (RFC 4648 §5; docs/PROTOCOL.md §3.2). */
export const toBase64Url = (b: Uint8Array): string => toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** base64url with or without padding (RFC 4648 §5); a SyntaxError for the standard alphabet's `+` and `/` or a bad length. */
export function fromBase64Url(s: string): Uint8Array {
  if (/[+/]/.test(s)) throw new SyntaxError('not base64url');
  return fromBase64(s.replace(/-/g, '+').replace(/_/g, '/'));
}
