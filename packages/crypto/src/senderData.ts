/**
 * Recovers the authenticated sender of a PrivateMessage that ts-mls has already accepted.
 *
 * ts-mls verifies the sender's signature with the key of the leaf named in the encrypted
 * SenderData, but does not return that leaf. We decrypt SenderData again with the same epoch
 * secret, exactly as RFC 9420 §6.3.2 specifies, and read the leaf index. We call this only after
 * ts-mls accepted the message, so the leaf is the one whose signature key verified the content.
 */
import type { CiphersuiteImpl, PrivateMessage } from 'ts-mls';
import { concat, utf8 } from './_bytes.js';

/** RFC 9420 §2.1.2: variable-size length prefix (the QUIC varint, at most 4 bytes). */
function varint(n: number): Uint8Array {
  if (n < 0x40) return Uint8Array.of(n);
  if (n < 0x4000) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  return Uint8Array.of(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}
/** RFC 9420 §2.1.2: opaque data<V> (also used by roomFingerprint.ts). */
export const vec = (b: Uint8Array) => concat(varint(b.byteLength), b);

/** RFC 9420 §8: ExpandWithLabel(Secret, Label, Context, Length) = KDF.Expand(Secret, KDFLabel, Length). */
async function expandWithLabel(cs: CiphersuiteImpl, secret: Uint8Array, label: string, context: Uint8Array, length: number) {
  const len = Uint8Array.of(length >> 8, length & 0xff);
  return cs.kdf.expand(secret, concat(len, vec(utf8.encode(`MLS 1.0 ${label}`)), vec(context)), length);
}

/** RFC 9420 §6.3.2: returns the sender's leaf index and generation, or undefined if it does not decrypt. */
export async function readSenderData(
  cs: CiphersuiteImpl,
  senderDataSecret: Uint8Array,
  msg: PrivateMessage,
): Promise<{ leafIndex: number; generation: number } | undefined> {
  // ciphertext_sample = ciphertext[0..KDF.Nh-1]
  const sample = msg.ciphertext.subarray(0, Math.min(cs.kdf.size, msg.ciphertext.byteLength));
  const key = await expandWithLabel(cs, senderDataSecret, 'key', sample, cs.hpke.keyLength);
  const nonce = await expandWithLabel(cs, senderDataSecret, 'nonce', sample, cs.hpke.nonceLength);
  // SenderDataAAD { opaque group_id<V>; uint64 epoch; ContentType content_type; }
  const epoch = new Uint8Array(8);
  new DataView(epoch.buffer).setBigUint64(0, msg.epoch);
  const aad = concat(vec(msg.groupId), epoch, Uint8Array.of(msg.contentType));
  let pt: Uint8Array;
  try {
    pt = await cs.hpke.decryptAead(key, nonce, aad, msg.encryptedSenderData);
  } catch {
    return undefined;
  }
  // SenderData { uint32 leaf_index; uint32 generation; opaque reuse_guard[4]; }
  if (pt.byteLength !== 12) return undefined;
  const dv = new DataView(pt.buffer, pt.byteOffset, pt.byteLength);
  return { leafIndex: dv.getUint32(0), generation: dv.getUint32(4) };
}
