/**
 * The client's side of an account's device list (docs/PROTOCOL.md §11.8): signing an entry with
 * this device's identity key, checking a chain (@nullroom/protocol's rules with SHA-256 and Ed25519
 * from here), and the approval code that lets an existing device add a new one through a relay it
 * does not trust.
 *
 * Approval: the new device shows a code of 12 Crockford base32 characters (60 random bits), typed
 * on an existing device. Both derive
 *
 *   K       = HKDF-SHA-256(ikm = code, salt = "", info = "nullroom/v1/device-approval" || name, 32)
 *   request = HMAC-SHA-256(K, "request" || new identity key)   sent by the new device with its key
 *   confirm = HMAC-SHA-256(K, "approve" || SHA-256(entry))      sent by the approving device
 *
 * The approving device adds only a key whose `request` tag verifies, so the relay cannot slip its
 * own key in; the new device trusts only a device list whose entry carries a valid `confirm`, so
 * the relay cannot show it a list of its own making. The relay sees both tags and could search the
 * 2^60 codes for one that fits, which takes years at a billion tries a second, against a request
 * that lives ten minutes.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  type ChainCrypto,
  DEVICE_LIST_SIGNATURE_BYTES,
  type DeviceListBody,
  decodeDeviceListEntry,
  deviceListSigningInput,
  encodeDeviceListBody,
} from '@nullroom/protocol';
import { concat, equalBytes, randomBytes, utf8 } from './bytes.js';
import { type IdentitySigner, verifyIdentitySignature } from './identity.js';

export const deviceListCrypto: ChainCrypto = { sha256: (b) => sha256(b), verify: verifyIdentitySignature };

/** The entry `body` describes, signed by `signer` (which must be a device of the previous entry, or the only device of a first one). */
export async function signDeviceList(signer: IdentitySigner, body: Omit<DeviceListBody, 'signer'>): Promise<Uint8Array> {
  const unsigned = encodeDeviceListBody({ ...body, signer: signer.publicKey });
  const signature = await signer.sign(deviceListSigningInput(unsigned));
  if (signature.byteLength !== DEVICE_LIST_SIGNATURE_BYTES) throw new Error('an Ed25519 signature is 64 bytes');
  const entry = concat(unsigned, signature);
  decodeDeviceListEntry(entry); // what we send must be what others accept
  return entry;
}

export const deviceListHash = (entry: Uint8Array): Uint8Array => sha256(entry);

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const APPROVAL_CODE_CHARS = 12;

/** A fresh code, as shown: `XXXX-XXXX-XXXX`. */
export function newApprovalCode(): string {
  const r = randomBytes(APPROVAL_CODE_CHARS);
  const chars = [...r].map((b) => ALPHABET[b & 31]);
  return [chars.slice(0, 4), chars.slice(4, 8), chars.slice(8)].map((g) => g.join('')).join('-');
}

/**
 * The code as typed, in its canonical form (12 characters, no separators), or undefined when it
 * cannot be one. Case, spaces and hyphens do not matter; I and L are read as 1, O as 0 (Crockford).
 */
export function normalizeApprovalCode(text: string): string | undefined {
  const s = text.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (s.length !== APPROVAL_CODE_CHARS || [...s].some((c) => !ALPHABET.includes(c))) return undefined;
  return s;
}

export interface ApprovalTags {
  /** The new device's tag over its identity key. */
  request(identityKey: Uint8Array): Uint8Array;
  /** The approving device's tag over the entry that adds the new device. */
  confirm(entry: Uint8Array): Uint8Array;
  /** Constant-time checks of a received tag. */
  checkRequest(identityKey: Uint8Array, tag: Uint8Array): boolean;
  checkConfirm(entry: Uint8Array, tag: Uint8Array): boolean;
}

/** The tags of one approval: `code` as shown or typed (normalised here), for the account `name`. */
export function approvalTags(code: string, name: string): ApprovalTags {
  const canonical = normalizeApprovalCode(code);
  if (canonical === undefined) throw new Error('not an approval code');
  const key = hkdf(
    sha256,
    utf8.encode(canonical),
    new Uint8Array(0),
    concat(utf8.encode('nullroom/v1/device-approval'), utf8.encode(name)),
    32,
  );
  const request = (k: Uint8Array) => hmac(sha256, key, concat(utf8.encode('request'), k));
  const confirm = (entry: Uint8Array) => hmac(sha256, key, concat(utf8.encode('approve'), sha256(entry)));
  return {
    request,
    confirm,
    checkRequest: (k, tag) => tag.byteLength === 32 && equalBytes(request(k), tag),
    checkConfirm: (entry, tag) => tag.byteLength === 32 && equalBytes(confirm(entry), tag),
  };
}
