/**
 * Account conversations (docs/PROTOCOL.md §11.9): one MLS group (RFC 9420) per conversation,
 * one-to-one or up to 1000 members, whose leaves are devices of accounts. A device publishes
 * KeyPackages to the relay's directory (§11.6); whoever starts a conversation, or adds someone to
 * it, claims one KeyPackage per device of each account and commits their addition, and each
 * added device joins from the Welcome when it next comes online: nobody needs to be online at once.
 *
 * Authentication: every leaf carries an account credential (accountCredential.ts) that binds its
 * signature key to a device's identity key, and our AuthenticationService accepts it only if that
 * key is in the account's device list the caller verified (`isDevice`). ts-mls calls it for every
 * KeyPackage added, every leaf of a Welcome's tree and every leaf a commit changes.
 *
 * Policy on what others send (RFC 9420 §12.2 leaves it to the application): commits by members,
 * carrying Add, Remove and Update proposals (any member may add or remove; the conversation's own
 * rules are the app's); no standalone proposals, no external senders, no external commits: the
 * relay, which sees only ciphertext and the framing, cannot add or remove anyone. Commits and
 * messages are PrivateMessages: the relay learns the group id, epoch, content type and sizes.
 *
 * Transitions take a state and return a new one; as in privateGroup.ts the state passed in is
 * spent (ts-mls wipes what it consumed). A commit we make is not applied until the relay accepted
 * it: keep the old state until then, and wipe `consumed` only after.
 *
 * Size: just over 400 lines because every transition of a conversation's group (create, change,
 * join, encrypt, process, the member views and the state codecs) shares the one context and policy.
 */
import {
  type CiphersuiteImpl,
  type ClientState,
  type CredentialBasic,
  type IncomingMessageCallback,
  type KeyPackage,
  type LeafNode,
  type MlsContext,
  type PrivateKeyPackage,
  ciphersuites,
  clientStateEncoder,
  contentTypes,
  createCommit,
  createGroup,
  defaultCredentialTypes,
  defaultExtensionTypes,
  defaultProposalTypes,
  encode,
  generateKeyPackageWithKey,
  joinGroup,
  keyPackageEncoder,
  mlsMessageEncoder,
  privateKeyPackageEncoder,
  protocolVersions,
  wireformats,
  zeroOutUint8Array,
} from 'ts-mls';
import { defaultCodecLimits } from '@nullroom/protocol';
import {
  AccountAuthenticationService,
  type AccountMember,
  type IsDevice,
  accountCredential,
  openAccountCredential,
} from './accountCredential.js';
import { concat, equalBytes, randomBytes, u32be } from './bytes.js';
import { CryptoError } from './errors.js';
import type { IdentitySigner } from './identity.js';
import { encryptApplication, errorName, leafAt, leaves, processStrict, senderOf, wipe } from './mlsGroup.js';
import { decodeClientState, decodeMlsMessage, decodePendingKeyPackage } from './mlsMessage.js';
import { Suites, type SuiteName, suiteImpl } from './suite.js';

export const CONVERSATION_ID_BYTES = 16;
/** Bounds before decoding: a KeyPackage, a Welcome to 1000 devices with the tree inside, a message. */
export const MAX_ACCOUNT_KEY_PACKAGE_BYTES = 16 * 1024;
export const MAX_ACCOUNT_WELCOME_BYTES = defaultCodecLimits.maxPayloadBytes;
export const MAX_ACCOUNT_MESSAGE_BYTES = defaultCodecLimits.maxPayloadBytes;

/** One device's state of one conversation. Opaque outside this package; store the newest one (sealed). */
export interface ConversationState {
  readonly mls: ClientState;
}

/** A KeyPackage's private half: keep it (sealed) until a Welcome uses it, or it is replaced. */
export interface PendingKeyPackage {
  readonly keyPackage: KeyPackage;
  readonly privateKeys: PrivateKeyPackage;
}

export interface ConversationMember extends AccountMember {
  readonly leaf: number;
}

export interface OutgoingCommit {
  /** Apply only once the relay accepted `commit` for this epoch. */
  readonly state: ConversationState;
  /** An MLSMessage (PrivateMessage) for the members. */
  readonly commit: Uint8Array;
  /** An MLSMessage (Welcome) for the devices added, with the ratchet tree inside; none when nobody was added. */
  readonly welcome?: Uint8Array;
  /** Secrets of the current epoch: wipe (`wipe`) once the commit is accepted, not before. */
  readonly consumed: Uint8Array[];
}

export type ConversationIncoming =
  | { kind: 'message'; state: ConversationState; plaintext: Uint8Array; sender: ConversationMember; epoch: number }
  | {
      kind: 'commit';
      state: ConversationState;
      epoch: number;
      /** Leaves added and removed (a removed leaf's device may be gone from its account's list), and who committed. */
      added: AccountMember[];
      removed: AccountMember[];
      removedUs: boolean;
      by: AccountMember;
    };

/** Commits by members with Add, Remove and Update proposals; nothing else. */
const membersCommit: IncomingMessageCallback = (incoming) =>
  incoming.kind === 'commit' &&
  incoming.senderLeafIndex !== undefined &&
  incoming.proposals.every((p) =>
    [defaultProposalTypes.add, defaultProposalTypes.remove, defaultProposalTypes.update].includes(p.proposal.proposalType as 1 | 2 | 3),
  )
    ? 'accept'
    : 'reject';

export class AccountGroups {
  /** Credentials opened by `leaves`, by leaf signature key (a leaf's key is bound to one credential). */
  private readonly opened = new Map<string, AccountMember>();
  private constructor(
    readonly suite: SuiteName,
    private readonly impl: CiphersuiteImpl,
    private readonly auth: AccountAuthenticationService,
    private readonly ctx: MlsContext,
  ) {}

  /** Conversations whose leaves `isDevice` vouches for (the SDK: the device lists it verified). */
  static async open(isDevice: IsDevice, suite: SuiteName = Suites.default): Promise<AccountGroups> {
    const impl = await suiteImpl(suite);
    const auth = new AccountAuthenticationService(isDevice);
    return new AccountGroups(suite, impl, auth, { cipherSuite: impl, authService: auth });
  }

  /** A fresh leaf for this device of `name`: publish `keyPackage`, keep `pending` (sealed) until a Welcome uses it. */
  async newKeyPackage(name: string, identity: IdentitySigner): Promise<{ keyPackage: Uint8Array; pending: PendingKeyPackage }> {
    const sig = await this.impl.signature.keygen();
    const credential = await accountCredential(name, identity, sig.publicKey);
    const kp = await generateKeyPackageWithKey({ credential, signatureKeyPair: sig, cipherSuite: this.impl });
    const keyPackage = encode(mlsMessageEncoder, {
      wireformat: wireformats.mls_key_package,
      version: protocolVersions.mls10,
      keyPackage: kp.publicPackage,
    });
    return { keyPackage, pending: { keyPackage: kp.publicPackage, privateKeys: kp.privatePackage } };
  }

  /** A new conversation with this device as its only member (epoch 0), under a random id. */
  async create(name: string, identity: IdentitySigner): Promise<ConversationState> {
    const own = await this.newKeyPackage(name, identity);
    const groupId = randomBytes(CONVERSATION_ID_BYTES);
    const mls = await createGroup({
      context: this.ctx,
      groupId,
      keyPackage: own.pending.keyPackage,
      privateKeyPackage: own.pending.privateKeys,
    });
    zeroOutUint8Array(own.pending.privateKeys.initPrivateKey); // our own leaf never receives a Welcome
    return { mls };
  }

  /**
   * Adds the devices whose KeyPackages these are (claimed from the directory): one commit, and one
   * Welcome for all of them. A KeyPackage that is malformed, of another suite, or whose leaf our
   * AuthenticationService refuses (a device not in its account's verified list) refuses the whole
   * change (`GROUP_BAD_KEY_PACKAGE`): drop it and try again without it.
   */
  add(state: ConversationState, keyPackages: readonly Uint8Array[]): Promise<OutgoingCommit & { added: AccountMember[] }> {
    return this.change(state, keyPackages, []);
  }

  /** Removes every leaf of these devices (identity keys): one commit. */
  remove(state: ConversationState, identityKeys: readonly Uint8Array[]): Promise<OutgoingCommit & { removed: ConversationMember[] }> {
    return this.change(state, [], identityKeys);
  }

  /**
   * Removes every leaf of these devices (identity keys; also leaves whose device its account's list
   * no longer names: `leaves`, not `members`) and adds the devices of these KeyPackages, in one
   * commit (RFC 9420 §12.4: Remove and Add proposals by value), with one Welcome for those added.
   * The KeyPackages are checked as `add` checks them (`GROUP_BAD_KEY_PACKAGE`). A RangeError when
   * it would remove our own leaf (a member leaves by being removed by another, §12.2).
   */
  async change(
    state: ConversationState,
    keyPackages: readonly Uint8Array[],
    identityKeys: readonly Uint8Array[],
  ): Promise<OutgoingCommit & { added: AccountMember[]; removed: ConversationMember[] }> {
    const removed = (await this.leaves(state)).filter((m) => identityKeys.some((k) => equalBytes(k, m.identityKey)));
    if (removed.some((m) => m.leaf === state.mls.privatePath.leafIndex)) throw new RangeError('leave instead of removing yourself');
    const kps = keyPackages.map((b) => this.keyPackageOf(b));
    const added: AccountMember[] = [];
    for (const kp of kps) {
      const m = await this.auth.memberOf(kp.leafNode.credential, kp.leafNode.signaturePublicKey);
      if (m === undefined) throw new CryptoError('GROUP_BAD_KEY_PACKAGE', 'a key package is not from a listed device of its account');
      added.push(m);
    }
    let r: Awaited<ReturnType<typeof createCommit>>;
    try {
      r = await createCommit({
        context: this.ctx,
        state: state.mls,
        extraProposals: [
          ...removed.map((m) => ({ proposalType: defaultProposalTypes.remove, remove: { removed: m.leaf } })),
          ...kps.map((keyPackage) => ({ proposalType: defaultProposalTypes.add, add: { keyPackage } })),
        ],
        ratchetTreeExtension: kps.length > 0,
      });
    } catch (e) {
      if (kps.length === 0) throw e;
      throw new CryptoError('GROUP_BAD_KEY_PACKAGE', `a key package was refused: ${errorName(e)}`, { cause: e });
    }
    if (kps.length > 0 && r.welcome === undefined) throw new CryptoError('GROUP_BAD_KEY_PACKAGE', 'no welcome');
    return {
      state: { mls: r.newState },
      commit: encode(mlsMessageEncoder, r.commit),
      ...(r.welcome !== undefined && kps.length > 0 ? { welcome: encode(mlsMessageEncoder, r.welcome) } : {}),
      consumed: r.consumed,
      added,
      removed,
    };
  }

  /** A self-update (RFC 9420 §12.4): new keys for our leaf, healing the conversation after a compromise. */
  async update(state: ConversationState): Promise<OutgoingCommit> {
    const r = await createCommit({ context: this.ctx, state: state.mls });
    return { state: { mls: r.newState }, commit: encode(mlsMessageEncoder, r.commit), consumed: r.consumed };
  }

  /**
   * Joins from a Welcome with whichever of our pending KeyPackages it was made for (RFC 9420
   * §12.4.3.1); ts-mls checks every leaf of the tree with our AuthenticationService, the GroupInfo
   * signature and the confirmation tag. No external senders allowed. `GROUP_BAD_WELCOME` otherwise;
   * the pending KeyPackage used is returned (its init key zeroed unless it is `reusable`, the
   * last-resort one) so the caller can forget it.
   */
  async join(
    welcome: Uint8Array,
    pending: readonly PendingKeyPackage[],
    reusable?: PendingKeyPackage,
  ): Promise<{ state: ConversationState; used: PendingKeyPackage }> {
    const msg = decodeMlsMessage(welcome, [wireformats.mls_welcome], MAX_ACCOUNT_WELCOME_BYTES);
    if (msg === undefined || msg.welcome.cipherSuite !== ciphersuites[this.suite]) {
      throw new CryptoError('GROUP_BAD_WELCOME', 'not an MLS 1.0 welcome of this suite');
    }
    let failure: unknown;
    for (const p of pending) {
      let mls: ClientState;
      try {
        mls = await joinGroup({ context: this.ctx, welcome: msg.welcome, keyPackage: p.keyPackage, privateKeys: p.privateKeys });
      } catch (e) {
        failure = e;
        continue;
      }
      if (mls.groupContext.groupId.byteLength !== CONVERSATION_ID_BYTES)
        throw new CryptoError('GROUP_BAD_WELCOME', 'not a conversation id');
      if (mls.groupContext.extensions.some((x) => x.extensionType === defaultExtensionTypes.external_senders)) {
        throw new CryptoError('GROUP_BAD_WELCOME', 'the conversation names an external sender');
      }
      // RFC 9420 §16.8: a KeyPackage is used once, and its init key goes with it; a last-resort one
      // (`reusable`) is meant to be used again until replaced, so its key stays.
      if (p !== reusable) zeroOutUint8Array(p.privateKeys.initPrivateKey);
      return { state: { mls }, used: p };
    }
    throw new CryptoError('GROUP_BAD_WELCOME', `the welcome was refused: ${errorName(failure)}`, { cause: failure });
  }

  /** Encrypts an application message for the current epoch; `state` is spent. */
  async encrypt(state: ConversationState, plaintext: Uint8Array): Promise<{ state: ConversationState; message: Uint8Array }> {
    const r = await encryptApplication(this.ctx, state.mls, plaintext);
    return { state: { mls: r.state }, message: r.message };
  }

  /**
   * One message of this conversation from another member: a message (with its sender, as the
   * tree says) or a commit (with who it added and removed, and whether it removed us). BAD_MESSAGE
   * when it does not decode, is another group's, does not decrypt or verify (altered, replayed,
   * ours echoed back); FORBIDDEN_PROPOSAL for anything the policy above refuses.
   */
  async process(state: ConversationState, bytes: Uint8Array): Promise<ConversationIncoming> {
    const msg = decodeMlsMessage(bytes, [wireformats.mls_private_message], MAX_ACCOUNT_MESSAGE_BYTES);
    if (msg === undefined) throw new CryptoError('BAD_MESSAGE', 'not an MLS private message');
    const pm = msg.privateMessage;
    if (!equalBytes(pm.groupId, state.mls.groupContext.groupId))
      throw new CryptoError('BAD_MESSAGE', 'the message belongs to another group');
    // The member list is read for commits only: a message's sender is its one leaf (a 1000-member tree is not walked per message).
    const commit = pm.contentType === contentTypes.commit;
    const before = commit ? await this.leaves(state) : [];
    const committer = commit ? await senderOf(this.impl, state.mls, pm) : undefined;
    const r = await processStrict(this.ctx, state.mls, msg, membersCommit);
    if (r.kind === 'applicationMessage') {
      const sd = await senderOf(this.impl, state.mls, pm);
      const node = sd === undefined ? undefined : leafAt(sd.tree, sd.leaf);
      const member = node === undefined ? undefined : await this.memberOfLeaf(node);
      if (sd === undefined || member === undefined || sd.leaf === state.mls.privatePath.leafIndex) {
        throw new CryptoError('BAD_MESSAGE', 'the message does not come from another member');
      }
      wipe(r.consumed);
      const sender: ConversationMember = { ...member, leaf: sd.leaf };
      return { kind: 'message', state: { mls: r.newState }, plaintext: r.message, sender, epoch: Number(pm.epoch) };
    }
    if (pm.contentType !== contentTypes.commit || r.actionTaken === 'reject') {
      throw new CryptoError('FORBIDDEN_PROPOSAL', 'a conversation accepts only commits by members');
    }
    wipe(r.consumed);
    const next: ConversationState = { mls: r.newState };
    const removedUs = r.newState.groupActiveState.kind !== 'active';
    const after = removedUs ? [] : await this.leaves(next);
    const has = (list: ConversationMember[], m: ConversationMember) =>
      list.some((x) => x.leaf === m.leaf && equalBytes(x.identityKey, m.identityKey));
    const by = before.find((m) => m.leaf === committer?.leaf);
    if (by === undefined) throw new CryptoError('BAD_MESSAGE', 'the commit does not come from a member');
    return {
      kind: 'commit',
      state: next,
      // A removed member stays at the old epoch (it cannot derive the new one): the commit's is one more.
      epoch: removedUs ? Number(pm.epoch) + 1 : Number(r.newState.groupContext.epoch),
      added: after.filter((m) => !has(before, m)).map(strip),
      removed: removedUs ? [] : before.filter((m) => !has(after, m)).map(strip),
      removedUs,
      by: strip(by),
    };
  }

  /** The members, one per leaf, in leaf order (our own leaf included). */
  async members(state: ConversationState): Promise<ConversationMember[]> {
    const out: ConversationMember[] = [];
    for (const { index, node } of leaves(state.mls.ratchetTree)) {
      const m = await this.memberOfLeaf(node);
      if (m !== undefined) out.push({ ...m, leaf: index });
    }
    return out;
  }

  /** Every leaf whose credential's binding verifies, its device listed or not (departed ones go by it), in leaf order. */
  async leaves(state: ConversationState): Promise<ConversationMember[]> {
    const out: ConversationMember[] = [];
    for (const { index, node } of leaves(state.mls.ratchetTree)) {
      const c = node.credential;
      const k = `${toHexKey(node.signaturePublicKey)}/${c.credentialType === defaultCredentialTypes.basic ? toHexKey((c as CredentialBasic).identity) : 'x'}`;
      let m = this.opened.get(k);
      if (m === undefined) {
        m = await openAccountCredential(node.credential, node.signaturePublicKey);
        if (m !== undefined) this.opened.set(k, m);
      }
      if (m !== undefined) out.push({ ...m, leaf: index });
    }
    return out;
  }

  ownLeaf = (state: ConversationState): number => state.mls.privatePath.leafIndex;

  /** The state as bytes (every secret of the epoch: seal it). */
  exportState(state: ConversationState): Uint8Array {
    return encode(clientStateEncoder, state.mls);
  }

  /** A state `exportState` wrote: this suite, a conversation id, an active group; BAD_SAVED_STATE otherwise. */
  importState(bytes: Uint8Array): ConversationState {
    const mls = decodeClientState(bytes);
    if (
      mls === undefined ||
      mls.groupContext.cipherSuite !== ciphersuites[this.suite] ||
      mls.groupContext.groupId.byteLength !== CONVERSATION_ID_BYTES ||
      mls.groupActiveState.kind !== 'active'
    ) {
      throw new CryptoError('BAD_SAVED_STATE', 'a saved conversation does not decode as an open conversation of this suite');
    }
    return { mls };
  }

  /** A pending KeyPackage as bytes (its private keys inside: seal it), for `importPending`. */
  exportPending(p: PendingKeyPackage): Uint8Array {
    const kp = encode(keyPackageEncoder, p.keyPackage);
    return concat(u32be(kp.byteLength), kp, encode(privateKeyPackageEncoder, p.privateKeys));
  }

  /** What `exportPending` wrote; BAD_SAVED_STATE when it does not decode strictly (mlsMessage.ts). */
  importPending(bytes: Uint8Array): PendingKeyPackage {
    const p = decodePendingKeyPackage(bytes);
    if (p === undefined) throw new CryptoError('BAD_SAVED_STATE', 'a saved KeyPackage does not decode');
    return p;
  }

  conversationId(state: ConversationState): Uint8Array {
    return state.mls.groupContext.groupId.slice();
  }

  epoch(state: ConversationState): number {
    return Number(state.mls.groupContext.epoch);
  }

  private keyPackageOf(bytes: Uint8Array): KeyPackage {
    const msg = decodeMlsMessage(bytes, [wireformats.mls_key_package], MAX_ACCOUNT_KEY_PACKAGE_BYTES);
    const kp = msg?.keyPackage;
    if (kp === undefined || kp.version !== protocolVersions.mls10 || kp.cipherSuite !== ciphersuites[this.suite]) {
      throw new CryptoError('GROUP_BAD_KEY_PACKAGE', 'not an MLS 1.0 key package of this suite');
    }
    return kp;
  }

  private memberOfLeaf(node: LeafNode): Promise<AccountMember | undefined> {
    return this.auth.memberOf(node.credential, node.signaturePublicKey);
  }
}

const toHexKey = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const strip = (m: ConversationMember): AccountMember => ({ name: m.name, identityKey: m.identityKey });
