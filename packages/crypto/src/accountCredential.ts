/**
 * The MLS credential of a device in account conversations (docs/PROTOCOL.md §11.9): a
 * BasicCredential (RFC 9420 §5.3) whose identity is
 *
 *   identity = "NRA1" || name_len:u8 || name (canonical username, UTF-8) || identity_key:32 || binding:64
 *   binding  = Ed25519(identity_key, "nullroom/v1/account-leaf" || name_len:u8 || name || leaf_signature_key)
 *
 * Unlike a room's credential it is not sealed: an account is a public name, and the relay already
 * holds every device's identity key in its signed list (§11.8). What makes a leaf trustworthy is
 * the chain from the leaf's signature key to the identity key (the binding) and from the identity
 * key to the account (its signed device list, which this module leaves to `isDevice`: the client
 * decides from the lists it verified). Our AuthenticationService refuses any leaf that fails
 * either, so a KeyPackage the relay made up, or a device an account never approved, never enters
 * a group.
 */
import { type AuthenticationService, type Credential, type CredentialBasic, defaultCredentialTypes } from 'ts-mls';
import { concat, fromUtf8, toHex, utf8 } from './bytes.js';
import { IDENTITY_KEY_BYTES, type IdentitySigner, verifyIdentitySignature } from './identity.js';

const MAGIC = utf8.encode('NRA1');
const BINDING_LABEL = utf8.encode('nullroom/v1/account-leaf');
const MAX_NAME_BYTES = 255;

/** Who a leaf is: a device (`identityKey`) of the account `name`. */
export interface AccountMember {
  readonly name: string;
  readonly identityKey: Uint8Array;
}

/** Whether `identityKey` is a device of `name` in the device list the caller verified (§11.8). */
export type IsDevice = (name: string, identityKey: Uint8Array) => boolean | Promise<boolean>;

function nameBytes(name: string): Uint8Array {
  const n = utf8.encode(name);
  if (n.byteLength === 0 || n.byteLength > MAX_NAME_BYTES) throw new RangeError('an account name is 1 to 255 bytes');
  return concat(Uint8Array.of(n.byteLength), n);
}

/** The credential for a leaf whose signature key is `leafSignatureKey`, vouched for by this device's identity. */
export async function accountCredential(name: string, identity: IdentitySigner, leafSignatureKey: Uint8Array): Promise<Credential> {
  const n = nameBytes(name);
  const binding = await identity.sign(concat(BINDING_LABEL, n, leafSignatureKey));
  return { credentialType: defaultCredentialTypes.basic, identity: concat(MAGIC, n, identity.publicKey, binding) };
}

/** The member a credential names when its binding verifies for `leafSignatureKey`; undefined otherwise (device list not checked here). */
export async function openAccountCredential(credential: Credential, leafSignatureKey: Uint8Array): Promise<AccountMember | undefined> {
  if (credential.credentialType !== defaultCredentialTypes.basic) return undefined;
  const id = (credential as CredentialBasic).identity;
  if (id.byteLength < MAGIC.length + 1 || MAGIC.some((b, i) => id[i] !== b)) return undefined;
  const len = id[MAGIC.length]!;
  const at = MAGIC.length + 1 + len;
  if (len === 0 || id.byteLength !== at + IDENTITY_KEY_BYTES + 64) return undefined;
  let name: string;
  try {
    name = fromUtf8.decode(id.subarray(MAGIC.length + 1, at));
  } catch {
    return undefined;
  }
  const identityKey = id.slice(at, at + IDENTITY_KEY_BYTES);
  const binding = id.subarray(at + IDENTITY_KEY_BYTES);
  const signed = concat(BINDING_LABEL, id.subarray(MAGIC.length, at), leafSignatureKey);
  return (await verifyIdentitySignature(identityKey, signed, binding)) ? { name, identityKey } : undefined;
}

/**
 * The AuthenticationService of account conversations: a leaf is valid when its credential's
 * binding verifies and `isDevice` says its identity key is a device of its account. What it
 * accepted is kept by credential and signature key, for `memberOf`.
 */
export class AccountAuthenticationService implements AuthenticationService {
  private readonly members = new Map<string, AccountMember>();
  constructor(private readonly isDevice: IsDevice) {}

  async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
    const m = await openAccountCredential(credential, signaturePublicKey);
    if (m === undefined || !(await this.isDevice(m.name, m.identityKey))) return false;
    this.members.set(key(credential, signaturePublicKey), m);
    return true;
  }

  /** The member a leaf is, checked now if it was not before. */
  async memberOf(credential: Credential, signaturePublicKey: Uint8Array): Promise<AccountMember | undefined> {
    const k = key(credential, signaturePublicKey);
    const seen = this.members.get(k);
    if (seen !== undefined) return seen;
    return (await this.validateCredential(credential, signaturePublicKey)) ? this.members.get(k) : undefined;
  }
}

const key = (c: Credential, sig: Uint8Array) =>
  `${toHex(sig)}/${c.credentialType === defaultCredentialTypes.basic ? toHex((c as CredentialBasic).identity) : 'x'}`;
