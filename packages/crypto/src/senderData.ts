/**
 * Recovers the authenticated sender of a PrivateMessage that ts-mls has already accepted.
 *
 * ts-mls verifies the sender's signature with the key of the leaf named in the encrypted
 * SenderData, but does not return that leaf. We read it from the SenderData our AEAD opened for
 * ts-mls, or decrypt SenderData again with the same epoch secret, exactly as RFC 9420 §6.3.2
 * specifies. We call this only after
 * ts-mls accepted the message, so the leaf is the one whose signature key verified the content.
 * The derivation and the decryption are checked against the MLS working group's published vectors
 * (test/rfc9420SenderData.test.ts).
 */
import type { CiphersuiteImpl, PrivateMessage } from 'ts-mls';
import { concat } from './bytes.js';
import { expandWithLabel, mlsVector, uint64 } from './_mlsCodec.js';
import { openedBefore, rememberingExpand } from './primitives.js';

/** RFC 9420 §6.3.2: SenderData { uint32 leaf_index; uint32 generation; opaque reuse_guard[4]; }. */
const SENDER_DATA_BYTES = 12;
/** Sealed SenderData: the 12 bytes and the AEAD's 16-byte tag (AES-GCM in both our suites). */
export const SEALED_SENDER_DATA_BYTES = SENDER_DATA_BYTES + 16;

/** The framing fields SenderDataAAD covers (RFC 9420 §6.3.2). */
export type SenderDataFraming = Pick<PrivateMessage, 'groupId' | 'epoch' | 'contentType'>;

/** SenderDataAAD { opaque group_id<V>; uint64 epoch; ContentType content_type; } */
function senderDataAad(msg: SenderDataFraming): Uint8Array {
  return concat(mlsVector(msg.groupId), uint64(msg.epoch), Uint8Array.of(msg.contentType));
}

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
  forLibrary = false,
): Promise<{ key: Uint8Array; nonce: Uint8Array }> {
  // A ciphertext shorter than KDF.Nh is sampled whole (RFC 9420 §6.3.2).
  const sample = ciphertext.subarray(0, Math.min(cs.kdf.size, ciphertext.byteLength));
  // `forLibrary`: ts-mls derives the same two next (primitives.ts `rememberingExpand`).
  const derive = (label: string, length: number) =>
    forLibrary
      ? rememberingExpand(() => expandWithLabel(cs, senderDataSecret, label, sample, length))
      : expandWithLabel(cs, senderDataSecret, label, sample, length);
  const key = await derive('key', cs.hpke.keyLength);
  const nonce = await derive('nonce', cs.hpke.nonceLength);
  return { key, nonce };
}

/**
 * RFC 9420 §6.3.2: returns the sender's leaf index and generation, or undefined if it does not
 * decrypt. `reuse`: `msg` was just accepted by ts-mls under this secret, so what our AEAD opened
 * for it then is its SenderData (primitives.ts `openedBefore`); without `reuse` it is opened here.
 */
export async function readSenderData(
  cs: CiphersuiteImpl,
  senderDataSecret: Uint8Array,
  msg: PrivateMessage,
  reuse = false,
  beforeLibrary = false,
): Promise<{ leafIndex: number; generation: number } | undefined> {
  let pt = reuse ? openedBefore(msg.encryptedSenderData) : undefined;
  if (pt === undefined) {
    const { key, nonce } = await senderDataKeyAndNonce(cs, senderDataSecret, msg.ciphertext, beforeLibrary);
    try {
      pt = await cs.hpke.decryptAead(key, nonce, senderDataAad(msg), msg.encryptedSenderData);
    } catch {
      return undefined;
    }
  }
  if (pt.byteLength !== SENDER_DATA_BYTES) return undefined;
  const dv = new DataView(pt.buffer, pt.byteOffset, pt.byteLength);
  return { leafIndex: dv.getUint32(0), generation: dv.getUint32(4) };
}

/**
 * The sealing counterpart of `readSenderData` (RFC 9420 §6.3.2): encrypted_sender_data for a
 * PrivateMessage with this framing and `ciphertext`, under `senderDataSecret`. `reuseGuard` is 4 bytes.
 */
export async function sealSenderData(
  cs: CiphersuiteImpl,
  senderDataSecret: Uint8Array,
  framing: SenderDataFraming,
  ciphertext: Uint8Array,
  sd: { leafIndex: number; generation: number; reuseGuard: Uint8Array },
): Promise<Uint8Array> {
  if (sd.reuseGuard.byteLength !== 4) throw new RangeError('a reuse guard is 4 bytes');
  const pt = new Uint8Array(SENDER_DATA_BYTES);
  const dv = new DataView(pt.buffer);
  dv.setUint32(0, sd.leafIndex);
  dv.setUint32(4, sd.generation);
  pt.set(sd.reuseGuard, 8);
  const { key, nonce } = await senderDataKeyAndNonce(cs, senderDataSecret, ciphertext);
  return cs.hpke.encryptAead(key, nonce, senderDataAad(framing), pt);
}
