/**
 * Member credentials (docs/PROTOCOL.md §3.3). An MLS BasicCredential (RFC 9420 §5.3) whose identity is
 *
 *   identity = "NR2" || slot:u32 || AES-256-GCM(cred_key, identity_key(32) || binding(64) || nick, aad)
 *   aad      = "nullroom/v1/credential" || locator || signature_public_key || slot:u32
 *   binding  = Ed25519 signature by identity_key over the leaf's signature key (identity.ts)
 *
 * The relay sees credentials (external commits travel as PublicMessages) but learns no nickname and
 * no identity key (which would let it link one device across rooms and sessions).
 * Only someone who holds the room secret can produce a credential that opens, and the tag binds it
 * to one signature key and one relay slot, so our AuthenticationService can refuse any member the
 * relay (or anyone without the room secret) tried to add. This stands in for the external PSK of
 * DESIGN.md, which ts-mls cannot attach to external commits (see docs/SECURITY.md).
 */
import { type AuthenticationService, type Credential, type CredentialBasic, defaultCredentialTypes } from 'ts-mls';
import type { RoomLocator } from '@nullroom/protocol';
import { concat, fromUtf8, readU32be, toHex, u32be, utf8 } from './bytes.js';
import { CryptoError } from './errors.js';
import { BINDING_SIGNATURE_BYTES, IDENTITY_KEY_BYTES, type IdentitySigner, signBinding, verifyBinding } from './identity.js';
import { open, seal } from './sealed.js';

const MAGIC = utf8.encode('NR2');
const AAD_LABEL = utf8.encode('nullroom/v1/credential');
export const MAX_NICK_CHARS = 32;

export interface Profile {
  slot: number;
  nick: string;
}

/** What an opened credential proves: the profile, and the identity key that vouched for the leaf. */
export interface MemberProfile extends Profile {
  identityKey: Uint8Array;
}

/** Nicknames: NFC, 1..32 code points, no control, format or lone surrogate characters, no surrounding spaces. */
export function normalizeNick(nick: string): string {
  const n = nick.normalize('NFC');
  const chars = [...n];
  if (chars.length === 0 || chars.length > MAX_NICK_CHARS || n.trim() !== n || /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u.test(n)) {
    throw new CryptoError(
      'BAD_NICK',
      `a nickname must be 1 to ${MAX_NICK_CHARS} characters, without control characters or surrounding spaces`,
    );
  }
  return n;
}

/**
 * The key under which nicknames must be unique in a room (docs/PROTOCOL.md §3.3): NFC, then
 * String.prototype.toLowerCase (Unicode default case mapping, locale-independent; no case folding).
 */
export function nickKey(nick: string): string {
  return nick.normalize('NFC').toLowerCase();
}

/**
 * The nickname a joiner takes (docs/PROTOCOL.md §3.3): `requested` if its key is not in `taken`;
 * otherwise `${prefix}-${k}` for the smallest k >= 2 whose key is not taken, where `prefix` is the
 * longest leading run of the requested nickname's code points that keeps the result within
 * MAX_NICK_CHARS code points. `taken` holds nickKey() of the nicknames of every other leaf.
 */
export function uniqueNick(requested: string, taken: ReadonlySet<string>): string {
  const nick = normalizeNick(requested);
  if (!taken.has(nickKey(nick))) return nick;
  const chars = [...nick];
  for (let k = 2; ; k++) {
    const suffix = `-${k}`;
    // The suffix is ASCII, so its code points are its UTF-16 units; cutting a NFC string between
    // code points before an ASCII hyphen keeps it NFC (the hyphen composes with nothing).
    const candidate = chars.slice(0, MAX_NICK_CHARS - suffix.length).join('') + suffix;
    if (!taken.has(nickKey(candidate))) return normalizeNick(candidate);
  }
}

function aadFor(locator: RoomLocator, signaturePublicKey: Uint8Array, slot: number): Uint8Array {
  return concat(AAD_LABEL, locator, signaturePublicKey, u32be(slot));
}

export async function makeCredential(
  key: CryptoKey,
  locator: RoomLocator,
  signaturePublicKey: Uint8Array,
  profile: Profile,
  identity: IdentitySigner,
): Promise<Credential> {
  const nick = utf8.encode(normalizeNick(profile.nick));
  const binding = await signBinding(identity, locator, signaturePublicKey);
  const sealed = await seal(key, concat(identity.publicKey, binding, nick), aadFor(locator, signaturePublicKey, profile.slot));
  return { credentialType: defaultCredentialTypes.basic, identity: concat(MAGIC, u32be(profile.slot), sealed) };
}

/** Opens a credential; undefined when it is not ours, not for this room, not for this key, or not vouched for by its identity. */
export async function openCredential(
  key: CryptoKey,
  locator: RoomLocator,
  credential: Credential,
  signaturePublicKey: Uint8Array,
): Promise<MemberProfile | undefined> {
  if (credential.credentialType !== defaultCredentialTypes.basic) return undefined;
  const id = (credential as CredentialBasic).identity;
  if (id.byteLength < 7 || id[0] !== MAGIC[0] || id[1] !== MAGIC[1] || id[2] !== MAGIC[2]) return undefined;
  const slot = readU32be(id, 3);
  const pt = await open(key, id.subarray(7), aadFor(locator, signaturePublicKey, slot));
  if (pt === undefined || pt.byteLength <= IDENTITY_KEY_BYTES + BINDING_SIGNATURE_BYTES) return undefined;
  const identityKey = pt.slice(0, IDENTITY_KEY_BYTES);
  const binding = pt.subarray(IDENTITY_KEY_BYTES, IDENTITY_KEY_BYTES + BINDING_SIGNATURE_BYTES);
  if (!(await verifyBinding(identityKey, binding, locator, signaturePublicKey))) return undefined;
  try {
    return { slot, nick: normalizeNick(fromUtf8.decode(pt.subarray(IDENTITY_KEY_BYTES + BINDING_SIGNATURE_BYTES))), identityKey };
  } catch {
    return undefined;
  }
}

export const profileKey = (credential: Credential, signaturePublicKey: Uint8Array): string =>
  `${toHex(signaturePublicKey)}:${credential.credentialType === defaultCredentialTypes.basic ? toHex((credential as CredentialBasic).identity) : ''}`;

/**
 * Our AuthenticationService (RFC 9420 §5.3.1): a credential is valid only if it opens under this
 * room's credential key for exactly this signature key, and its identity key signed that key. Never "accept all". Opened profiles are
 * cached by (signature key, identity) so the member list can be read without decrypting again.
 */
export class RoomAuthenticationService implements AuthenticationService {
  readonly profiles = new Map<string, MemberProfile>();
  /**
   * The same profiles by leaf node object (mlsGroup.ts `profileOf`), so that reading the member list
   * of a large room does not re-encode every credential into a key. ts-mls never changes a leaf node
   * in place (a changed leaf is a new object), so an entry is right for as long as its node lives.
   */
  readonly byLeaf = new WeakMap<object, MemberProfile>();
  constructor(
    private readonly key: CryptoKey,
    private readonly locator: RoomLocator,
  ) {}
  async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
    const profile = await openCredential(this.key, this.locator, credential, signaturePublicKey);
    if (profile === undefined) return false;
    this.profiles.set(profileKey(credential, signaturePublicKey), profile);
    return true;
  }
}
