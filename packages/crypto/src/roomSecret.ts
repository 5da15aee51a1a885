/**
 * Room secrets and the keys derived from them (docs/PROTOCOL.md §3).
 *
 *   room_secret = Argon2id(password = NFC(password), salt = SHA-256("nullroom/v1/room-salt" || NFC(room name)),
 *                          m = 64 MiB, t = 3, p = 4, 32 bytes)          (RFC 9106 §4, second option)
 *              or 32 random bytes carried in an invite link's URL fragment
 *   locator     = HKDF-SHA-256(ikm = room_secret, salt = "", info = "nullroom/v1/locator", 32)   (RFC 5869)
 *   gi_key      = HKDF-SHA-256(room_secret, "", "nullroom/v1/group-info", 32) -> AES-256-GCM
 *   cred_key    = HKDF-SHA-256(room_secret, "", "nullroom/v1/credential", 32) -> AES-256-GCM
 *   label       = HKDF-SHA-256(room_secret, "", "nullroom/v1/room-label", 5) -> 8 Crockford base32 characters
 *
 * The relay only ever sees the locator; it cannot invert HKDF, and guessing a password costs an
 * Argon2id evaluation per guess.
 */
import { argon2id } from 'hash-wasm';
import { sha256 } from '@noble/hashes/sha2.js';
import { type RoomLocator, asLocator } from '@nullroom/protocol';
import { concat, fromBase64Url, randomBytes, toBase64Url, utf8 } from './bytes.js';
import { CryptoError } from './errors.js';

export interface Argon2Params {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}
/** RFC 9106 §4 second recommended option (64 MiB, t = 3, p = 4): ~280 ms here, in Node and in browsers alike. */
export const defaultArgon2Params: Readonly<Argon2Params> = Object.freeze({ memoryKiB: 65536, iterations: 3, parallelism: 4 });

export type RoomSecret = Uint8Array & { readonly __roomSecret: true };

export async function deriveRoomSecret(
  roomName: string,
  password: string,
  params: Argon2Params = defaultArgon2Params,
): Promise<RoomSecret> {
  const salt = sha256(concat(utf8.encode('nullroom/v1/room-salt'), utf8.encode(roomName.normalize('NFC'))));
  const out = await argon2id({
    password: utf8.encode(password.normalize('NFC')),
    salt,
    parallelism: params.parallelism,
    iterations: params.iterations,
    memorySize: params.memoryKiB,
    hashLength: 32,
    outputType: 'binary',
  });
  return out as RoomSecret;
}

export function randomRoomSecret(): RoomSecret {
  return randomBytes(32) as unknown as RoomSecret;
}

/**
 * Invite links carry a random room secret in the URL fragment, which browsers never send to a
 * server: `#k=` + base64url (RFC 4648 §5, no padding) of the 32 bytes.
 */
export function inviteFragment(secret: RoomSecret): string {
  return `#k=${toBase64Url(secret)}`; // §3.2: padding omitted
}

/** `#k=` and 43 characters of the base64url alphabet (RFC 4648 §5): 258 bits, of which 256 are the secret. */
const INVITE = /^#k=([A-Za-z0-9_-]{43})$/;

/**
 * The room secret in an invite fragment, or a `CryptoError` `BAD_INVITE`. Canonical only
 * (docs/PROTOCOL.md §3, §10.2): 43 characters carry 258 bits, and RFC 4648 §3.5 lets a decoder
 * ignore the 2 unused low bits of the last one, so four spellings would open one room. We decode,
 * re-encode and compare, as for every other base64url identifier of the protocol, and refuse any
 * spelling but the one `inviteFragment` writes. The message never contains the fragment.
 */
export function parseInvite(fragment: string): RoomSecret {
  const m = INVITE.exec(fragment);
  if (m === null) throw new CryptoError('BAD_INVITE', 'invite link is not "#k=" and 43 base64url characters');
  const text = m[1]!;
  // 43 characters of the alphabet are always valid unpadded base64url of 32 bytes (RFC 4648 §5).
  const secret = fromBase64Url(text);
  if (secret.byteLength !== 32 || toBase64Url(secret) !== text) {
    secret.fill(0);
    throw new CryptoError('BAD_INVITE', 'invite link is not the canonical base64url encoding of its secret');
  }
  return secret as unknown as RoomSecret;
}

/** The room secret in an invite fragment, or undefined when the fragment is not exactly one of ours (see `parseInvite`). */
export function secretFromInvite(fragment: string): RoomSecret | undefined {
  try {
    return parseInvite(fragment);
  } catch (e) {
    if (e instanceof CryptoError) return undefined;
    throw e;
  }
}

export interface RoomKeys {
  locator: RoomLocator;
  groupInfoKey: CryptoKey;
  credentialKey: CryptoKey;
}

async function hkdf(ikm: CryptoKey, info: string): Promise<Uint8Array<ArrayBuffer>> {
  const bits = await globalThis.crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8.encode(info) },
    ikm,
    256,
  );
  return new Uint8Array(bits);
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A short label that tells rooms apart before their members name them (invite rooms): 40 bits of
 * HKDF of the secret as 8 Crockford base32 characters, `XXXX-XXXX`. Every member derives the same
 * label; the relay, which never has the secret, cannot. Not a secret, and not a name: two rooms
 * share one with probability 2^-40.
 */
export async function roomLabel(secret: RoomSecret): Promise<string> {
  const ikm = await globalThis.crypto.subtle.importKey('raw', new Uint8Array(secret), 'HKDF', false, ['deriveBits']);
  const bits = await globalThis.crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8.encode('nullroom/v1/room-label') },
    ikm,
    40,
  );
  let n = 0n;
  for (const b of new Uint8Array(bits)) n = (n << 8n) | BigInt(b);
  let out = '';
  for (let i = 7; i >= 0; i--) out += CROCKFORD[Number((n >> BigInt(i * 5)) & 31n)];
  return `${out.slice(0, 4)}-${out.slice(4)}`;
}

export async function deriveRoomKeys(secret: RoomSecret): Promise<RoomKeys> {
  const subtle = globalThis.crypto.subtle;
  const ikm = await subtle.importKey('raw', new Uint8Array(secret), 'HKDF', false, ['deriveBits']);
  const aes = async (info: string) => subtle.importKey('raw', await hkdf(ikm, info), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  return {
    locator: asLocator(await hkdf(ikm, 'nullroom/v1/locator')),
    groupInfoKey: await aes('nullroom/v1/group-info'),
    credentialKey: await aes('nullroom/v1/credential'),
  };
}
