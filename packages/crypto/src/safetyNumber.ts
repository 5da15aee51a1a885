/**
 * Safety numbers: the numeric fingerprint scheme Signal publishes ("NumericFingerprintGenerator"),
 * applied to two MLS signature keys. For each member:
 *   h_0 = 0x0000 || key || id ;  h_{i+1} = SHA-512(h_i || key)  for i < 5200
 *   digits = six 5-digit groups, each the big-endian value of 5 bytes of h mod 100000 (first 30 bytes)
 * The two 30-digit halves are sorted and concatenated, so both sides compute the same 60 digits.
 */
import { sha512 } from '@noble/hashes/sha2.js';
import { concat } from './bytes.js';

const ITERATIONS = 5200;
const VERSION = Uint8Array.of(0, 0);

function half(key: Uint8Array, id: Uint8Array): string {
  let h = concat(VERSION, key, id);
  for (let i = 0; i < ITERATIONS; i++) h = sha512(concat(h, key));
  let out = '';
  for (let i = 0; i < 30; i += 5) {
    const v = (((h[i]! * 256 + h[i + 1]!) * 256 + h[i + 2]!) * 256 + h[i + 3]!) * 256 + h[i + 4]!;
    out += String(v % 100000).padStart(5, '0');
  }
  return out;
}

/** 60 digits, identical on both sides. `id` defaults to empty (rooms have no stable account id). */
export function safetyNumber(ourKey: Uint8Array, theirKey: Uint8Array, ourId = new Uint8Array(0), theirId = new Uint8Array(0)): string {
  const a = half(ourKey, ourId);
  const b = half(theirKey, theirId);
  return a < b ? a + b : b + a;
}

/** "12345 67890 ..." in 12 groups of five, for display. */
export function formatSafetyNumber(digits: string): string {
  return digits.match(/.{5}/g)?.join(' ') ?? digits;
}

/**
 * The safety number of two accounts (docs/PROTOCOL.md §11.12): the same scheme over each account's
 * whole device list (its identity keys sorted bytewise and concatenated, with the canonical name as
 * the id), so that it changes whenever either account adds or removes a device. 60 digits, the same
 * on both sides and in every client.
 */
export function accountSafetyNumber(
  a: { name: string; devices: readonly Uint8Array[] },
  b: { name: string; devices: readonly Uint8Array[] },
): string {
  const keyOf = (devices: readonly Uint8Array[]) => concat(...[...devices].sort(compareBytes));
  const enc = new TextEncoder();
  return safetyNumber(keyOf(a.devices), keyOf(b.devices), enc.encode(a.name), enc.encode(b.name));
}

function compareBytes(x: Uint8Array, y: Uint8Array): number {
  for (let i = 0; i < x.length && i < y.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}
