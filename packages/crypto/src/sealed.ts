/**
 * AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce, through Web Crypto (opened through
 * node:crypto in Node, with the same key):
 *   sealed = nonce(12) || ciphertext || tag(16)
 * Used for the GroupInfo the relay stores and for nicknames inside credentials. Every use binds
 * its context in the associated data, so a ciphertext cannot be moved from one use to another.
 */
import { own, randomBytes } from './bytes.js';
import { nodeAesGcmOpen } from './primitives.js';

const NONCE = 12;

export async function seal(key: CryptoKey, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const iv = randomBytes(NONCE);
  const ct = await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: own(aad) }, key, own(plaintext));
  const out = new Uint8Array(NONCE + ct.byteLength);
  out.set(iv);
  out.set(new Uint8Array(ct), NONCE);
  return out;
}

/** Returns the plaintext, or undefined when the tag does not verify (wrong key, altered bytes, wrong context). */
export async function open(key: CryptoKey, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined> {
  if (sealed.byteLength < NONCE + 16) return undefined;
  // In Node, node:crypto with the same key (primitives.ts): no thread-pool job per call.
  if (nodeAesGcmOpen !== undefined && key.algorithm.name === 'AES-GCM')
    return nodeAesGcmOpen(key, sealed.subarray(0, NONCE), aad, sealed.subarray(NONCE));
  try {
    const pt = await globalThis.crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: own(sealed.subarray(0, NONCE)), additionalData: own(aad) },
      key,
      own(sealed.subarray(NONCE)),
    );
    return new Uint8Array(pt);
  } catch {
    return undefined;
  }
}
