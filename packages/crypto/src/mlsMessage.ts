/**
 * The one decoder for every untrusted MLSMessage (RFC 9420 §6) that reaches Nullroom: room
 * commits and application messages, stored GroupInfos, private chats' KeyPackages, Welcomes and
 * messages, and saved group states (sessions kept across a restart). Strict, unlike ts-mls's
 * `decode` (which ignores trailing bytes):
 *   - a size cap checked before any parsing (limits before allocation);
 *   - MLS 1.0 only (RFC 9420 §6: `version` = mls10);
 *   - one of the wireformats the caller expects, nothing else;
 *   - every byte consumed: trailing bytes are an error, so one message has exactly one encoding
 *     and nothing can ride along after it.
 * Returns undefined on any failure: callers turn that into their own typed error.
 */
import {
  type ClientState,
  type KeyPackage,
  type MlsMessage,
  type PrivateKeyPackage,
  clientStateDecoder,
  keyPackageDecoder,
  mlsMessageDecoder,
  privateKeyPackageDecoder,
  protocolVersions,
  wireformats as wf,
} from 'ts-mls';
import { defaultCodecLimits } from '@nullroom/protocol';

/** Room messages and GroupInfos are bounded by what one relay frame can carry (docs/PROTOCOL.md §4.1). */
export const MAX_MLS_MESSAGE_BYTES = defaultCodecLimits.maxPayloadBytes;

export type Wireformat = MlsMessage['wireformat'];

export function decodeMlsMessage<W extends Wireformat>(
  bytes: Uint8Array,
  wireformats: readonly W[],
  max: number = MAX_MLS_MESSAGE_BYTES,
): Extract<MlsMessage, { wireformat: W }> | undefined {
  if (bytes.byteLength === 0 || bytes.byteLength > max) return undefined;
  let r;
  try {
    r = mlsMessageDecoder(bytes, 0);
  } catch {
    return undefined;
  }
  // RFC 9420 §6: exactly one MLSMessage; a decoder that stops early must not hide what follows.
  if (r === undefined || r[1] !== bytes.byteLength) return undefined;
  const msg = r[0];
  if (msg.version !== protocolVersions.mls10 || !(wireformats as readonly Wireformat[]).includes(msg.wireformat)) return undefined;
  return msg as Extract<MlsMessage, { wireformat: W }>;
}

/**
 * A group state as RoomGroup.exportState wrote it (a saved session, sealed at rest by the app's
 * store), decoded as strictly: every byte consumed. Undefined on any failure.
 */
export function decodeClientState(bytes: Uint8Array, max = 64 * MAX_MLS_MESSAGE_BYTES): ClientState | undefined {
  if (bytes.byteLength === 0 || bytes.byteLength > max) return undefined;
  let r;
  try {
    r = clientStateDecoder(bytes, 0);
  } catch {
    return undefined;
  }
  return r === undefined || r[1] !== bytes.byteLength ? undefined : r[0];
}

/**
 * A KeyPackage and its private keys as AccountGroups.exportPending wrote them (`u32 length ||
 * KeyPackage || PrivateKeyPackage`, sealed at rest by the app's store), decoded as strictly: every
 * byte of each consumed. Undefined on any failure.
 */
export function decodePendingKeyPackage(
  bytes: Uint8Array,
  max = 64 * 1024,
): { keyPackage: KeyPackage; privateKeys: PrivateKeyPackage } | undefined {
  if (bytes.byteLength < 4 || bytes.byteLength > max) return undefined;
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  if (4 + n > bytes.byteLength) return undefined;
  const whole = <T>(decoder: (b: Uint8Array, at: number) => [T, number] | undefined, b: Uint8Array): T | undefined => {
    try {
      const r = decoder(b, 0);
      return r === undefined || r[1] !== b.byteLength ? undefined : r[0];
    } catch {
      return undefined;
    }
  };
  const keyPackage = whole(keyPackageDecoder, bytes.subarray(4, 4 + n));
  const privateKeys = whole(privateKeyPackageDecoder, bytes.subarray(4 + n));
  return keyPackage === undefined || privateKeys === undefined ? undefined : { keyPackage, privateKeys };
}

/**
 * The epoch an MLS handshake or application message names in its clear framing (RFC 9420 §6.2,
 * §6.3), or undefined when the bytes are not a strictly encoded PublicMessage or PrivateMessage.
 * Unauthenticated: used only to tell "made for a state we do not have" from "made for ours".
 */
export function framedEpoch(bytes: Uint8Array): bigint | undefined {
  const msg = decodeMlsMessage(bytes, [wf.mls_public_message, wf.mls_private_message]);
  if (msg === undefined) return undefined;
  return msg.wireformat === wf.mls_private_message ? msg.privateMessage.epoch : msg.publicMessage.content.epoch;
}
