/**
 * A member's long-term identity key (Ed25519, RFC 8032), kept apart from its MLS leaf keys.
 *
 * MLS needs a fresh signature key for every leaf (RFC 9420 §7.3 requires them unique in a tree,
 * and a member who reconnects takes a new leaf before the old one is removed). Safety numbers and
 * "this member's key changed" warnings need a key that survives that, so each credential carries
 * the member's identity key and its signature over the leaf key (docs/PROTOCOL.md §3.3):
 *
 *   binding = Ed25519-Sign(identity, "nullroom/v1/leaf-binding" || locator || leaf_signature_key)
 *
 * The identity key is generated through Web Crypto as a non-extractable key where the platform
 * offers Ed25519 (Chromium, Firefox, Safari, Node); its private half never exists as bytes in
 * JavaScript, so script running in the page can use it but cannot copy it out. Clients use one
 * identity per room, so members of different rooms cannot tell that two of their peers are one device.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { RoomLocator } from '@nullroom/protocol';
import { concat, own, utf8 } from './bytes.js';
import { nodeEd25519Verify } from './primitives.js';

const BINDING_LABEL = utf8.encode('nullroom/v1/leaf-binding');
export const IDENTITY_KEY_BYTES = 32;
export const BINDING_SIGNATURE_BYTES = 64;

export interface IdentitySigner {
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** An identity whose private key is a Web Crypto key: storable in IndexedDB as it is. */
export interface StoredIdentity {
  privateKey: CryptoKey;
  publicKey: Uint8Array;
}

/** Creates a non-extractable Ed25519 identity through Web Crypto. */
export async function generateIdentity(): Promise<StoredIdentity> {
  const pair = (await globalThis.crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await globalThis.crypto.subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey };
}

export function identitySigner(id: StoredIdentity): IdentitySigner {
  return {
    publicKey: id.publicKey,
    sign: async (message) => new Uint8Array(await globalThis.crypto.subtle.sign({ name: 'Ed25519' }, id.privateKey, own(message))),
  };
}

/** A fresh identity that lives as long as the object does (a terminal session, a test). */
export async function ephemeralIdentity(): Promise<IdentitySigner> {
  return identitySigner(await generateIdentity());
}

function bindingMessage(locator: RoomLocator, leafSignatureKey: Uint8Array): Uint8Array {
  return concat(BINDING_LABEL, locator, leafSignatureKey);
}

export function signBinding(identity: IdentitySigner, locator: RoomLocator, leafSignatureKey: Uint8Array): Promise<Uint8Array> {
  return identity.sign(bindingMessage(locator, leafSignatureKey));
}

/** Verifies a binding (a leaf signature key signed by an identity key for one room). */
export function verifyBinding(
  identityKey: Uint8Array,
  signature: Uint8Array,
  locator: RoomLocator,
  leafSignatureKey: Uint8Array,
): Promise<boolean> {
  return verifyIdentitySignature(identityKey, bindingMessage(locator, leafSignatureKey), signature);
}

/**
 * Verifies an identity key's Ed25519 signature through node:crypto in Node (primitives.ts: no key
 * import or thread-pool job per call), else Web Crypto (about 10x faster than pure JS, and every
 * credential in a tree is checked when joining), or @noble/curves where the platform lacks Ed25519
 * (strict RFC 8032).
 */
export async function verifyIdentitySignature(identityKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (identityKey.byteLength !== IDENTITY_KEY_BYTES || signature.byteLength !== BINDING_SIGNATURE_BYTES) return false;
  if (nodeEd25519Verify !== undefined) return nodeEd25519Verify(identityKey, message, signature);
  let key: CryptoKey | undefined;
  try {
    key = await globalThis.crypto.subtle.importKey('raw', own(identityKey), { name: 'Ed25519' }, false, ['verify']);
  } catch {
    key = undefined; // no Ed25519 in this Web Crypto, or not a valid point: let noble decide
  }
  if (key !== undefined) return globalThis.crypto.subtle.verify({ name: 'Ed25519' }, key, own(signature), own(message));
  try {
    return ed25519.verify(signature, message, identityKey, { zip215: false });
  } catch {
    return false;
  }
}
