export const utf8 = new TextEncoder();
export const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Copies into a fresh ArrayBuffer-backed array (Web Crypto rejects views over shared buffers in some runtimes). */
export function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(b.byteLength);
  out.set(b);
  return out;
}

export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

/** Constant-time comparison of equal-length arrays (@noble/ciphers; false at once on a length mismatch). */
export { equalBytes } from '@noble/ciphers/utils.js';
