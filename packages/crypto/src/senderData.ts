/**
 * Recovers the authenticated sender of a PrivateMessage that ts-mls has already accepted.
 *
 * ts-mls verifies the sender's signature with the key of the leaf named in the encrypted
 * SenderData, but does not return that leaf. We decrypt SenderData again with the same epoch
 * secret, exactly as RFC 9420 §6.3.2 specifies, and read the leaf index. We call this only after
 * ts-mls accepted the message, so the leaf is the one whose signature key verified the content.
 * The derivation and the decryption are checked against the MLS working group's published vectors
 * (test/rfc9420SenderData.test.ts).
 */
import type { CiphersuiteImpl, PrivateMessage } from 'ts-mls';
import { concat } from './bytes.js';
import { expandWithLabel, mlsVector, uint64 } from './_mlsCodec.js';

/** RFC 9420 §6.3.2: SenderData { uint32 leaf_index; uint32 generation; opaque reuse_guard[4]; }. */
const SENDER_DATA_BYTES = 12;

/**
 * RFC 9420 §6.3.2: the key and nonce that protect a PrivateMessage's SenderData.
 *   ciphertext_sample = ciphertext[0..KDF.Nh-1]
 *   sender_data_key   = ExpandWithLabel(sender_data_secret, "key", ciphertext_sample, AEAD.Nk)
 *   sender_data_nonce = ExpandWithLabel(sender_data_secret, "nonce", ciphertext_sample, AEAD.Nn)
 */
export async function senderDataKeyAndNonce(
  cs: CiphersuiteImpl,
  senderDataSecret: Uint8Array,
  ciphertext: Uint8Array,
): Promise<{ key: Uint8Array; nonce: Uint8Array }> {
  // A ciphertext shorter than KDF.Nh is sampled whole (RFC 9420 §6.3.2).
  const sample = ciphertext.subarray(0, Math.min(cs.kdf.size, ciphertext.byteLength));
  const key = await expandWithLabel(cs, senderDataSecret, 'key', sample, cs.hpke.keyLength);
  const nonce = await expandWithLabel(cs, senderDataSecret, 'nonce', sample, cs.hpke.nonceLength);
  return { key, nonce };
}

/** RFC 9420 §6.3.2: returns the sender's leaf index and generation, or undefined if it does not decrypt. */
export async function readSenderData(
  cs: CiphersuiteImpl,
  senderDataSecret: Uint8Array,
  msg: PrivateMessage,
): Promise<{ leafIndex: number; generation: number } | undefined> {
  const { key, nonce } = await senderDataKeyAndNonce(cs, senderDataSecret, msg.ciphertext);
  // SenderDataAAD { opaque group_id<V>; uint64 epoch; ContentType content_type; }
  const aad = concat(mlsVector(msg.groupId), uint64(msg.epoch), Uint8Array.of(msg.contentType));
  let pt: Uint8Array;
  try {
    pt = await cs.hpke.decryptAead(key, nonce, aad, msg.encryptedSenderData);
  } catch {
    return undefined;
  }
  if (pt.byteLength !== SENDER_DATA_BYTES) return undefined;
  const dv = new DataView(pt.buffer, pt.byteOffset, pt.byteLength);
  return { leafIndex: dv.getUint32(0), generation: dv.getUint32(4) };
}
