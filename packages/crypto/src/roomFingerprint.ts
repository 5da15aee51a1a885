/**
 * Room-state fingerprints: what members read aloud to find out whether the relay split their room
 * (docs/PROTOCOL.md §8.1, docs/SECURITY.md §3).
 *
 * RFC 9420 §8.7: every member of the same epoch of the same group derives the same
 * epoch_authenticator; a member shown another commit for that epoch derives another one. It is a
 * secret of the epoch, so we never show it. We show a labelled HKDF (RFC 5869) of it instead:
 *
 *   info   = "nullroom/v1/room-fingerprint" || group_id<V> || uint64(epoch)      (RFC 9420 §2.1.2 <V>)
 *   okm    = HKDF-SHA256(salt = "" , IKM = epoch_authenticator, info, L = 15)
 *   digits = for i in 0, 1, 2: uint40_be(okm[5i .. 5i+5]) mod 10000, four digits each
 *
 * and display it as "epoch 12 · 4821 0937 5512".
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { CiphersuiteImpl, ClientState } from 'ts-mls';
import { contentTypes, wireformats } from 'ts-mls';
import { concat, equalBytes, utf8 } from './bytes.js';
import { decodeMlsMessage } from './mlsMessage.js';
import { mlsVector, uint64 } from './_mlsCodec.js';
import { readSenderData } from './senderData.js';

/** The fingerprint of one group state: the epoch it belongs to and twelve decimal digits. */
export interface RoomFingerprint {
  readonly epoch: number;
  /** Twelve digits, no spaces (`formatFingerprintDigits` groups them). */
  readonly digits: string;
}

export const ROOM_FINGERPRINT_LABEL = 'nullroom/v1/room-fingerprint';
/** Three groups of four digits (~39.9 bits; docs/SECURITY.md §3 explains why that is enough). */
export const ROOM_FINGERPRINT_DIGITS = 12;
const OKM_BYTES = 15;
const LABEL = utf8.encode(ROOM_FINGERPRINT_LABEL);

/**
 * Derives the fingerprint. `epochAuthenticator` is RFC 9420's epoch_authenticator of the group
 * state whose `groupId` and `epoch` are given (the caller takes all three from one state).
 */
export function roomFingerprint(epochAuthenticator: Uint8Array, groupId: Uint8Array, epoch: bigint): RoomFingerprint {
  if (epochAuthenticator.byteLength < 16) throw new RangeError('epoch authenticator: too short');
  if (epoch < 0n || epoch > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('epoch: out of range');
  const okm = hkdf(sha256, epochAuthenticator, new Uint8Array(0), concat(LABEL, mlsVector(groupId), uint64(epoch)), OKM_BYTES);
  let digits = '';
  for (let i = 0; i < OKM_BYTES; i += 5) {
    // 5 bytes < 2^40 < 2^53: exact in a double. Bias of mod 10^4: < 10^4 / 2^40, negligible.
    const v = (((okm[i]! * 256 + okm[i + 1]!) * 256 + okm[i + 2]!) * 256 + okm[i + 3]!) * 256 + okm[i + 4]!;
    digits += String(v % 10000).padStart(4, '0');
  }
  return { epoch: Number(epoch), digits };
}

/** "4821 0937 5512" */
export function formatFingerprintDigits(fp: RoomFingerprint): string {
  return fp.digits.match(/.{4}/g)?.join(' ') ?? fp.digits;
}

/** "epoch 12 · 4821 0937 5512" (the English form; the web app localises the word "epoch"). */
export function formatRoomFingerprint(fp: RoomFingerprint): string {
  return `epoch ${fp.epoch} · ${formatFingerprintDigits(fp)}`;
}

/** The fingerprint of a ts-mls state (what RoomGroup.fingerprint returns). */
export function fingerprintOfState(state: ClientState): RoomFingerprint {
  return roomFingerprint(state.keySchedule.epochAuthenticator, state.groupContext.groupId, state.groupContext.epoch);
}

/**
 * Fork evidence (docs/PROTOCOL.md §8.2): whether `bytes`, an application message that did not
 * decrypt, is an MLS PrivateMessage that names our group and our current epoch but whose SenderData
 * does not open with our epoch's sender_data_secret (RFC 9420 §6.3.2). Members of one epoch of one
 * group share that secret, so an honest sender's message always opens it (a replayed or altered
 * content still does: those fail later, and are not counted). Only keys of another history of the
 * same epoch, or bytes nobody in our epoch sealed, fail here.
 */
export async function sealedForAnotherHistory(cs: CiphersuiteImpl, state: ClientState, bytes: Uint8Array): Promise<boolean> {
  const msg = decodeMlsMessage(bytes, [wireformats.mls_private_message]); // the one strict decoder
  if (msg === undefined) return false;
  const pm = msg.privateMessage;
  if (pm.contentType !== contentTypes.application) return false;
  if (pm.epoch !== state.groupContext.epoch || !equalBytes(pm.groupId, state.groupContext.groupId)) return false;
  return (await readSenderData(cs, state.keySchedule.senderDataSecret, pm)) === undefined;
}
