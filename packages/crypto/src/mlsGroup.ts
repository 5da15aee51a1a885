/**
 * The MLS glue that room groups (roomGroup.ts) and two-member private groups (privateGroup.ts)
 * share, over ts-mls (RFC 9420): a fresh KeyPackage under the room's credential, the walk over
 * the ratchet tree's leaves, a leaf's opened credential, the sender of an application message
 * (from its SenderData), and encrypting and processing with the consumed secrets wiped.
 *
 * Secrets. ts-mls shares secret buffers between a state and the state a transition makes from
 * it. `encryptApplication` wipes what it consumed (RFC 9420 §9.2), so the state passed in is
 * spent; `processStrict` leaves the wiping to its caller, which knows when a commit is accepted.
 */
import {
  type ClientState,
  type CiphersuiteImpl,
  type IncomingMessageCallback,
  type LeafNode,
  type MlsContext,
  type MlsFramedMessage,
  type PrivateMessage,
  type ProcessMessageResult,
  createApplicationMessage,
  encode,
  generateKeyPackageWithKey,
  mlsMessageEncoder,
  nodeTypes,
  processMessage,
} from 'ts-mls';
import {
  type MemberProfile,
  type Profile,
  type RoomAuthenticationService,
  makeCredential,
  normalizeNick,
  profileKey,
} from './credential.js';
import { CryptoError } from './errors.js';
import type { IdentitySigner } from './identity.js';
import type { RoomKeys } from './roomSecret.js';
import { readSenderData } from './senderData.js';

export type RatchetTree = ClientState['ratchetTree'];

/**
 * Zeroes secrets a transition consumed. A plain fill: ts-mls's `zeroOutUint8Array` first fills the
 * buffer from the system's random source (a guard against a compiler dropping the zeroing, which no
 * JavaScript engine does to a typed array), and that call was 3% of a member's time receiving.
 */
export function wipe(consumed: Uint8Array[]): void {
  for (const b of consumed) b.fill(0);
}

/** The class name of what a library threw: enough to tell failures apart, never its message (which may quote data). */
export const errorName = (e: unknown): string => (e instanceof Error ? e.constructor.name : 'error');

/**
 * A fresh leaf (RFC 9420 §10): a new signature key pair, and the room's credential (credential.ts)
 * binding it to our profile and identity key. The credential binds the signature key, so the key
 * pair comes first.
 */
export async function newKeyPackage(impl: CiphersuiteImpl, keys: RoomKeys, identity: IdentitySigner, profile: Profile) {
  const sig = await impl.signature.keygen();
  const credential = await makeCredential(
    keys.credentialKey,
    keys.locator,
    sig.publicKey,
    { slot: profile.slot, nick: normalizeNick(profile.nick) },
    identity,
  );
  return generateKeyPackageWithKey({ credential, signatureKeyPair: sig, cipherSuite: impl });
}

/** The leaf node at leaf index `leaf` (RFC 9420 §4.1: leaf i is node 2i), or undefined for a blank or absent leaf. */
export function leafAt(tree: RatchetTree, leaf: number): LeafNode | undefined {
  const node = tree[leaf * 2];
  return node === undefined || node.nodeType !== nodeTypes.leaf ? undefined : node.leaf;
}

/** The non-blank leaves of the tree, in leaf order. */
export function leaves(tree: RatchetTree): { index: number; node: LeafNode }[] {
  const out: { index: number; node: LeafNode }[] = [];
  for (let index = 0; index * 2 < tree.length; index++) {
    const node = leafAt(tree, index);
    if (node !== undefined) out.push({ index, node });
  }
  return out;
}

/**
 * The profile a leaf's credential proves (credential.ts), or undefined when it does not open with
 * the room secret for the leaf's signature key. The AuthenticationService caches what it opened
 * while ts-mls validated the tree, keyed by signature key and credential bytes, and by leaf node
 * object once read here; a miss opens it now.
 */
export async function profileOf(auth: RoomAuthenticationService, node: LeafNode): Promise<MemberProfile | undefined> {
  const seen = auth.byLeaf.get(node);
  if (seen !== undefined) return seen;
  const { credential, signaturePublicKey } = node;
  const k = profileKey(credential, signaturePublicKey);
  const profile =
    auth.profiles.get(k) ?? ((await auth.validateCredential(credential, signaturePublicKey)) ? auth.profiles.get(k) : undefined);
  if (profile !== undefined) auth.byLeaf.set(node, profile);
  return profile;
}

/**
 * The sender of a PrivateMessage ts-mls has just accepted with `state` (RFC 9420 §6.3.2,
 * senderData.ts): its leaf index and generation, and the tree of the message's epoch (the current
 * one, or a past one ts-mls keeps for late messages). Undefined when the epoch is not kept or the
 * SenderData does not open.
 */
export async function senderOf(
  impl: CiphersuiteImpl,
  state: ClientState,
  pm: PrivateMessage,
): Promise<{ leaf: number; generation: number; tree: RatchetTree } | undefined> {
  const current = pm.epoch === state.groupContext.epoch;
  const past = current ? undefined : state.historicalReceiverData.get(pm.epoch);
  const secret = current ? state.keySchedule.senderDataSecret : past?.senderDataSecret;
  const tree = current ? state.ratchetTree : past?.ratchetTree;
  if (secret === undefined || tree === undefined) return undefined;
  const sd = await readSenderData(impl, secret, pm, true);
  return sd === undefined ? undefined : { leaf: sd.leafIndex, generation: sd.generation, tree };
}

/** Encrypts an application message (RFC 9420 §6.3) for the current epoch; `state` is spent. */
export async function encryptApplication(
  ctx: MlsContext,
  state: ClientState,
  plaintext: Uint8Array,
): Promise<{ state: ClientState; message: Uint8Array }> {
  const r = await createApplicationMessage({ context: ctx, state, message: plaintext });
  wipe(r.consumed);
  return { state: r.newState, message: encode(mlsMessageEncoder, r.message) };
}

/**
 * ts-mls's processMessage (decryption, signature, membership tag, tree and credential checks,
 * `policy` on proposals), with anything it throws turned into BAD_MESSAGE. The caller wipes
 * `consumed` once it accepts the result; on a throw `state` is untouched.
 */
export async function processStrict(
  ctx: MlsContext,
  state: ClientState,
  message: MlsFramedMessage,
  policy: IncomingMessageCallback,
): Promise<ProcessMessageResult> {
  try {
    return await processMessage({ context: ctx, state, message, callback: policy });
  } catch (e) {
    throw new CryptoError('BAD_MESSAGE', `message rejected: ${errorName(e)}`, { cause: e });
  }
}
