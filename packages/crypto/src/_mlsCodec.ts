/**
 * The few RFC 9420 encodings our glue computes itself, because ts-mls does not export them: the
 * variable-length vector (§2.1.2), uint64, ExpandWithLabel (§8) and SignContent (§5.1.2).
 * Checked against the MLS working group's test vectors (test/rfc9420SenderData.test.ts).
 */
import type { CiphersuiteImpl } from 'ts-mls';
import { concat, u32be, utf8 } from './bytes.js';

/** RFC 9420 §2.1.2: opaque data<V>, a 1-, 2- or 4-byte varint length (the QUIC varint), then the bytes. */
export function mlsVector(bytes: Uint8Array): Uint8Array {
  const n = bytes.byteLength;
  // Every input here is bounded by a decoded MLS message (at most a relay frame), far below 2^30.
  if (n >= 2 ** 30) throw new RangeError('too long for an MLS vector');
  const len =
    n < 0x40 ? [n] : n < 0x4000 ? [0x40 | (n >>> 8), n & 0xff] : [0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return concat(Uint8Array.from(len), bytes);
}

/** uint64, big-endian (RFC 9420 §2.1.1, TLS presentation language). */
export function uint64(n: bigint): Uint8Array {
  // Byte by byte (bytes.ts u32be says why); BigInt.asUintN wraps as DataView.setBigUint64 does.
  const v = BigInt.asUintN(64, n);
  const hi = Number(v >> 32n);
  const lo = Number(v & 0xffffffffn);
  const out = new Uint8Array(8);
  out.set(u32be(hi), 0);
  out.set(u32be(lo), 4);
  return out;
}

/** RFC 9420 §8: ExpandWithLabel(Secret, Label, Context, Length) = KDF.Expand(Secret, KDFLabel, Length). */
export function expandWithLabel(
  cs: CiphersuiteImpl,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  return cs.kdf.expand(secret, kdfLabel(label, context, length), length);
}

/** RFC 9420 §8: KDFLabel { uint16 length; opaque label<V> = "MLS 1.0 " + Label; opaque context<V>; }, ExpandWithLabel's info. */
export function kdfLabel(label: string, context: Uint8Array, length: number): Uint8Array {
  return concat(Uint8Array.of(length >> 8, length & 0xff), encodedLabel(label), mlsVector(context));
}

/** opaque label<V> = "MLS 1.0 " + Label, for the few labels there are (kept once encoded). */
const labelsEncoded = new Map<string, Uint8Array>();
function encodedLabel(label: string): Uint8Array {
  let v = labelsEncoded.get(label);
  if (v === undefined) {
    v = mlsVector(utf8.encode(`MLS 1.0 ${label}`));
    if (labelsEncoded.size < 64) labelsEncoded.set(label, v);
  }
  return v;
}

/** RFC 9420 §5.1.2: SignContent { opaque label<V> = "MLS 1.0 " + Label; opaque content<V>; }, what SignWithLabel signs. */
export function signContent(label: string, content: Uint8Array): Uint8Array {
  return concat(mlsVector(utf8.encode(`MLS 1.0 ${label}`)), mlsVector(content));
}
