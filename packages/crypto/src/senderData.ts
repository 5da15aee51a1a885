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
import { concat, readU32be, u32be } from './bytes.js';
import { kdfLabel, mlsVector, uint64 } from './_mlsCodec.js';
import { senderDataPrimitives } from './primitives.js';
import { openedBefore, recordOpened, rememberExpansion } from './receiveMemo.js';

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

/** A SenderData's fields (RFC 9420 §6.3.2) but the reuse guard. */
export interface SenderDataFields {
  leafIndex: number;
  generation: number;
}

/** The KDFLabels of the SenderData key and nonce for `ciphertext` (RFC 9420 §6.3.2, below). */
function labels(cs: CiphersuiteImpl, ciphertext: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  // A ciphertext shorter than KDF.Nh is sampled whole (RFC 9420 §6.3.2).
  const sample = ciphertext.subarray(0, Math.min(cs.kdf.size, ciphertext.byteLength));
  return { key: kdfLabel('key', sample, cs.hpke.keyLength), nonce: kdfLabel('nonce', sample, cs.hpke.nonceLength) };
}

/**
 * RFC 9420 §6.3.2: the key and nonce that protect a PrivateMessage's SenderData.
 *   ciphertext_sample = ciphertext[0..KDF.Nh-1]
 *   sender_data_key   = ExpandWithLabel(sender_data_secret, "key", ciphertext_sample, AEAD.Nk)
 *   sender_data_nonce = ExpandWithLabel(sender_data_secret, "nonce", ciphertext_sample, AEAD.Nn)
 * Synchronous where our primitives are under `cs` (primitives.ts `senderDataPrimitives`).
 */
export function senderDataKeyAndNonce(
  cs: CiphersuiteImpl,
  senderDataSecret: Uint8Array,
  ciphertext: Uint8Array,
): Promise<{ key: Uint8Array; nonce: Uint8Array }> {
  return derive(cs, senderDataSecret, labels(cs, ciphertext));
}

async function derive(cs: CiphersuiteImpl, secret: Uint8Array, info: { key: Uint8Array; nonce: Uint8Array }) {
  const fast = senderDataPrimitives(cs);
  if (fast !== undefined)
    return { key: fast.expand(secret, info.key, cs.hpke.keyLength), nonce: fast.expand(secret, info.nonce, cs.hpke.nonceLength) };
  return {
    key: await cs.kdf.expand(secret, info.key, cs.hpke.keyLength),
    nonce: await cs.kdf.expand(secret, info.nonce, cs.hpke.nonceLength),
  };
}

/**
 * RFC 9420 §6.3.2: returns the sender's leaf index and generation, or undefined if it does not
 * decrypt. `reuse`: `msg` was just accepted by ts-mls under this secret, so what our AEAD opened
 * for it then is its SenderData (receiveMemo.ts `openedBefore`); without `reuse` it is opened here.
 * `keepFor`: when it holds for what was read, `msg` goes to ts-mls next, which derives the same key
 * and nonce and opens the same SenderData again: all three are kept for it (receiveMemo.ts).
 */
export async function readSenderData(
  cs: CiphersuiteImpl,
  senderDataSecret: Uint8Array,
  msg: PrivateMessage,
  reuse = false,
  keepFor?: (sd: SenderDataFields) => boolean,
): Promise<SenderDataFields | undefined> {
  const before = reuse ? openedBefore(msg.encryptedSenderData) : undefined;
  if (before !== undefined) return fields(before);
  const info = labels(cs, msg.ciphertext);
  const { key, nonce } = await derive(cs, senderDataSecret, info);
  const aad = senderDataAad(msg);
  const open = senderDataPrimitives(cs)?.open;
  let pt: Uint8Array | undefined;
  if (open !== undefined) pt = open(key, nonce, aad, msg.encryptedSenderData);
  else pt = await cs.hpke.decryptAead(key, nonce, aad, msg.encryptedSenderData).catch(() => undefined);
  const sd = pt === undefined ? undefined : fields(pt);
  if (sd !== undefined && keepFor?.(sd) === true) {
    if (open !== undefined) recordOpened(key, nonce, aad, msg.encryptedSenderData, pt!); // decryptAead recorded it otherwise
    rememberExpansion(senderDataSecret, info.key, cs.hpke.keyLength, key);
    rememberExpansion(senderDataSecret, info.nonce, cs.hpke.nonceLength, nonce);
  }
  return sd;
}

function fields(pt: Uint8Array): SenderDataFields | undefined {
  if (pt.byteLength !== SENDER_DATA_BYTES) return undefined;
  return { leafIndex: readU32be(pt, 0), generation: readU32be(pt, 4) };
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
  pt.set(u32be(sd.leafIndex), 0);
  pt.set(u32be(sd.generation), 4);
  pt.set(sd.reuseGuard, 8);
  const { key, nonce } = await senderDataKeyAndNonce(cs, senderDataSecret, ciphertext);
  return cs.hpke.encryptAead(key, nonce, senderDataAad(framing), pt);
}
