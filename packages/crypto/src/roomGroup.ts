/**
 * One MLS group (RFC 9420) per room, behind a small interface. State transitions are pure:
 * a `RoomState` goes in, a new one comes out, and the caller stores it; consumed secrets are wiped.
 * The relay sees only what RFC 9420 frames in the clear (group id, epoch, content type, and for
 * external commits the sender's leaf with an encrypted credential) and the sealed GroupInfo.
 */
import {
  type ClientState,
  type CiphersuiteImpl,
  type GroupInfo,
  type MlsContext,
  type Proposal,
  type IncomingMessageCallback,
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  defaultProposalTypes,
  encode,
  generateKeyPackageWithKey,
  joinGroupExternal,
  mlsMessageEncoder,
  processMessage,
  protocolVersions,
  wireformats,
  zeroOutUint8Array,
  nodeTypes,
  ciphersuites,
  contentTypes,
  senderTypes,
} from 'ts-mls';
import type { RoomLocator } from '@nullroom/protocol';
import { concat, randomBytes, utf8 } from './_bytes.js';
import { RoomAuthenticationService, type Profile, makeCredential, nickKey, normalizeNick, profileKey } from './credential.js';
import { CryptoError } from './errors.js';
import { type IdentitySigner, ephemeralIdentity } from './identity.js';
import { type RoomKeys } from './roomSecret.js';
import { decodeMlsMessage } from './mlsMessage.js';
import { open, seal } from './sealed.js';
import { readSenderData } from './senderData.js';
import { type SuiteName, Suites, suiteImpl } from './suite.js';
import { type RoomFingerprint, fingerprintOfState, sealedForAnotherHistory } from './roomFingerprint.js';

/** The MLS state of one member in one room. Opaque outside this package. */
export interface RoomState {
  readonly mls: ClientState;
}

export interface Member {
  /** Leaf index in the ratchet tree (RFC 9420 §7.1). */
  leaf: number;
  /** The relay slot the member joined with (authenticated inside its credential). */
  slot: number;
  nick: string;
  /** The leaf's MLS signature key (fresh for every leaf). */
  signaturePublicKey: Uint8Array;
  /** The member's identity key, which signed the leaf key: what safety numbers are made of. */
  identityKey: Uint8Array;
  self: boolean;
}

export interface GroupSnapshot {
  readonly info: GroupInfo;
  readonly suite: SuiteName;
  readonly epoch: number;
}

export type Incoming =
  | { kind: 'app'; state: RoomState; plaintext: Uint8Array; sender: Member; epoch: number; generation: number }
  | { kind: 'commit'; state: RoomState; added: Member[]; removed: Member[]; removedSelf: boolean; epoch: number };

export interface Outgoing {
  state: RoomState;
  message: Uint8Array;
}
export interface OutgoingCommit extends Outgoing {
  /** The GroupInfo for the epoch this commit starts, sealed for the relay to hand to joiners. */
  groupInfo: Uint8Array;
  /**
   * Secrets of the current epoch that the new state no longer needs. Wipe them (`wipe`) only once
   * the relay accepted the commit: if it loses the race, the current state must process the winner.
   */
  consumed: Uint8Array[];
}

/** Zeroes secrets a transition consumed (ts-mls `zeroOutUint8Array`). */
export function wipe(consumed: Uint8Array[]): void {
  consumed.forEach(zeroOutUint8Array);
}

const GI_LABEL = utf8.encode('nullroom/v1/group-info');
const suiteById = new Map<number, SuiteName>(Object.values(Suites).map((n) => [ciphersuites[n], n]));

/** Proposals we accept (RFC 9420 §12.2 leaves the policy to the application); see docs/SECURITY.md. */
const acceptOnlyOurProposals: IncomingMessageCallback = (incoming) => {
  if (incoming.kind === 'proposal') return 'reject'; // we never send standalone proposals
  const allowed: number[] =
    incoming.senderLeafIndex === undefined
      ? [defaultProposalTypes.external_init] // a joiner's external commit: nothing else
      : [defaultProposalTypes.remove]; // a member's commit: removals of departed members only
  return incoming.proposals.every((p) => allowed.includes(p.proposal.proposalType)) ? 'accept' : 'reject';
};

/** An MLS variable-length vector (RFC 9420 §2.1.2): a 1-, 2- or 4-byte varint length, then the bytes. */
function mlsVector(bytes: Uint8Array): Uint8Array {
  const n = bytes.byteLength;
  if (n >= 2 ** 30) throw new CryptoError('BAD_GROUP_INFO', 'too long for an MLS vector');
  const len = n < 64 ? [n] : n < 16384 ? [0x40 | (n >>> 8), n & 0xff] : [0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return concat(new Uint8Array(len), bytes);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let d = 0;
  for (let i = 0; i < a.byteLength; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/**
 * Nullroom's membership rules, which MLS cannot know and every member checks on every commit
 * (docs/PROTOCOL.md §3.5), so that every honest member reaches the same verdict:
 *   1. an external commit adds exactly one leaf, and its credential's slot is the relay slot that
 *      sent the commit (DELIVER.from): no member can be added under a slot that is not its own
 *      connection (it would never be removed on PEER_GONE);
 *   2. its nickname key (nickKey) is held by no other leaf with another identity key;
 *   3. a member's commit adds no leaf and changes no leaf's signature key, hence no credential
 *      (our own commits keep the committer's leaf node credential and key).
 */
function checkRoomRules(after: Member[], added: Member[], external: boolean, from: number): void {
  if (!external) {
    if (added.length > 0) throw new CryptoError('BROKEN_ROOM_RULE', 'a member commit changed a leaf credential');
    return;
  }
  const joiner = added[0];
  if (joiner === undefined || added.length !== 1) throw new CryptoError('BROKEN_ROOM_RULE', 'an external commit must add exactly one member');
  if (joiner.slot !== from) throw new CryptoError('BROKEN_ROOM_RULE', 'a joiner claims a relay slot that is not its own');
  const k = nickKey(joiner.nick);
  if (after.some((m) => m.leaf !== joiner.leaf && nickKey(m.nick) === k && !bytesEqual(m.identityKey, joiner.identityKey))) {
    throw new CryptoError('BROKEN_ROOM_RULE', 'a joiner took a nickname another member holds');
  }
}

export class RoomCrypto {
  private constructor(
    readonly keys: RoomKeys,
    readonly suite: SuiteName,
    private readonly impl: CiphersuiteImpl,
    private readonly auth: RoomAuthenticationService,
    private readonly ctx: MlsContext,
    /** Our identity in this room (identity.ts); an ephemeral one when none is given. */
    readonly identity: IdentitySigner,
  ) {}

  static async create(keys: RoomKeys, suite: SuiteName = Suites.default, identity?: IdentitySigner): Promise<RoomCrypto> {
    const impl = await suiteImpl(suite);
    const auth = new RoomAuthenticationService(keys.credentialKey, keys.locator);
    return new RoomCrypto(keys, suite, impl, auth, { cipherSuite: impl, authService: auth }, identity ?? (await ephemeralIdentity()));
  }

  /** A RoomCrypto for the suite a GroupInfo names (joiners follow the creator's choice). */
  withSuite(suite: SuiteName): Promise<RoomCrypto> {
    return suite === this.suite ? Promise.resolve(this) : RoomCrypto.create(this.keys, suite, this.identity);
  }

  get locator(): RoomLocator {
    return this.keys.locator;
  }

  private async newKeyPackage(profile: Profile) {
    // The credential binds the signature key, so generate the key pair first.
    const sig = await this.impl.signature.keygen();
    const credential = await makeCredential(
      this.keys.credentialKey,
      this.keys.locator,
      sig.publicKey,
      { slot: profile.slot, nick: normalizeNick(profile.nick) },
      this.identity,
    );
    return generateKeyPackageWithKey({ credential, signatureKeyPair: sig, cipherSuite: this.impl });
  }

  private async sealGroupInfo(state: ClientState): Promise<Uint8Array> {
    const gi = await createGroupInfoWithExternalPubAndRatchetTree(state, [], this.impl);
    const bytes = encode(mlsMessageEncoder, { wireformat: wireformats.mls_group_info, version: protocolVersions.mls10, groupInfo: gi });
    return seal(this.keys.groupInfoKey, bytes, concat(GI_LABEL, this.keys.locator));
  }

  /** Creates the room's group with ourselves as its only member (epoch 0). */
  async createGroup(profile: Profile): Promise<{ state: RoomState; groupInfo: Uint8Array }> {
    const kp = await this.newKeyPackage(profile);
    const mls = await createGroup({
      context: this.ctx,
      groupId: randomBytes(16),
      keyPackage: kp.publicPackage,
      privateKeyPackage: kp.privatePackage,
    });
    return { state: { mls }, groupInfo: await this.sealGroupInfo(mls) };
  }

  /** Whether a sealed GroupInfo opens with this room's secret and decodes strictly as an MLS GroupInfo (nothing more is checked). */
  async groupInfoOpens(sealed: Uint8Array): Promise<boolean> {
    const bytes = await open(this.keys.groupInfoKey, sealed, concat(GI_LABEL, this.keys.locator));
    return bytes !== undefined && decodeMlsMessage(bytes, [wireformats.mls_group_info]) !== undefined;
  }

  /** Opens the GroupInfo the relay handed us. Its members are checked when we join through it. */
  async readGroupInfo(sealed: Uint8Array): Promise<GroupSnapshot> {
    const bytes = await open(this.keys.groupInfoKey, sealed, concat(GI_LABEL, this.keys.locator));
    if (bytes === undefined) throw new CryptoError('BAD_GROUP_INFO', 'the group information does not open with this room secret');
    const msg = decodeMlsMessage(bytes, [wireformats.mls_group_info]);
    if (msg === undefined) throw new CryptoError('BAD_GROUP_INFO', 'the group information is malformed');
    const suite = suiteById.get(msg.groupInfo.groupContext.cipherSuite);
    if (suite === undefined) throw new CryptoError('BAD_GROUP_INFO', 'the group uses a cipher suite we do not offer');
    const info = msg.groupInfo;
    return { info, suite, epoch: Number(info.groupContext.epoch) };
  }

  /**
   * Joins through an external commit (RFC 9420 §12.4.3.2); every member credential in the tree is
   * checked on the way. The state is pending until the relay accepts the commit; `members(state)`
   * tells the joiner who is there (and whether its nickname is taken) before it sends anything.
   */
  async joinExternal(snapshot: GroupSnapshot, profile: Profile): Promise<OutgoingCommit> {
    const kp = await this.newKeyPackage(profile);
    let joined;
    try {
      joined = await joinGroupExternal({
        context: this.ctx,
        groupInfo: snapshot.info,
        keyPackage: kp.publicPackage,
        privateKeys: kp.privatePackage,
        resync: false,
      });
    } catch (e) {
      throw new CryptoError('BAD_GROUP_INFO', `cannot join through this group information: ${e instanceof Error ? e.constructor.name : 'error'}`, { cause: e });
    }
    const { publicMessage, newState } = joined;
    const message = encode(mlsMessageEncoder, { wireformat: wireformats.mls_public_message, version: protocolVersions.mls10, publicMessage });
    return { state: { mls: newState }, message, groupInfo: await this.sealGroupInfo(newState), consumed: [] };
  }

  /** Encrypts an application message (RFC 9420 §6.3) for the current epoch. */
  async encrypt(state: RoomState, plaintext: Uint8Array): Promise<Outgoing> {
    const r = await createApplicationMessage({ context: this.ctx, state: state.mls, message: plaintext });
    r.consumed.forEach(zeroOutUint8Array);
    return { state: { mls: r.newState }, message: encode(mlsMessageEncoder, r.message) };
  }

  /**
   * Commits the removal of the given leaves (members whose connection the relay reported gone).
   * Every commit carries a fresh UpdatePath for our own leaf (RFC 9420 §12.4); with no leaves it is
   * a pure self-update, which is how a member heals the group after a key compromise (§16.6).
   */
  async remove(state: RoomState, leaves: number[]): Promise<OutgoingCommit> {
    const proposals: Proposal[] = leaves.map((removed) => ({ proposalType: defaultProposalTypes.remove, remove: { removed } }));
    const r = await createCommit({ context: this.ctx, state: state.mls, extraProposals: proposals });
    // Not wiped here: until the relay accepts this commit, `state` stays the live one.
    return { state: { mls: r.newState }, message: encode(mlsMessageEncoder, r.commit), groupInfo: await this.sealGroupInfo(r.newState), consumed: r.consumed };
  }

  /**
   * Processes one message from the room's ordered stream; `from` is the relay slot that sent it
   * (DELIVER.from). Throws CryptoError(BAD_MESSAGE) when it does not decode (strictly, mlsMessage.ts),
   * decrypt or verify, FORBIDDEN_PROPOSAL when it proposes what we never allow (§3.4), and
   * BROKEN_ROOM_RULE when a commit verifies under MLS but breaks a Nullroom membership rule
   * (docs/PROTOCOL.md §3.5). On any throw `state` is untouched and still the live state: the caller
   * treats the commit as void (§4.3).
   */
  async process(state: RoomState, bytes: Uint8Array, from: number): Promise<Incoming> {
    const msg = decodeMlsMessage(bytes, [wireformats.mls_private_message, wireformats.mls_public_message]);
    if (msg === undefined) throw new CryptoError('BAD_MESSAGE', 'not a strictly encoded MLS handshake or application message');
    // Membership before the message (needed to diff a commit); application messages skip this.
    const before = msg.wireformat === wireformats.mls_private_message && msg.privateMessage.contentType === contentTypes.application ? undefined : await this.members(state);
    let r;
    try {
      r = await processMessage({ context: this.ctx, state: state.mls, message: msg, callback: acceptOnlyOurProposals });
    } catch (e) {
      throw new CryptoError('BAD_MESSAGE', `message rejected: ${e instanceof Error ? e.constructor.name : 'error'}`, { cause: e });
    }
    if (r.kind === 'applicationMessage') {
      r.consumed.forEach(zeroOutUint8Array);
      if (msg.wireformat !== wireformats.mls_private_message) throw new CryptoError('BAD_MESSAGE', 'application data must be encrypted');
      const pm = msg.privateMessage;
      const secret =
        pm.epoch === state.mls.groupContext.epoch
          ? state.mls.keySchedule.senderDataSecret
          : state.mls.historicalReceiverData.get(pm.epoch)?.senderDataSecret;
      const sd = secret === undefined ? undefined : await readSenderData(this.impl, secret, pm);
      const tree = pm.epoch === state.mls.groupContext.epoch ? state.mls.ratchetTree : state.mls.historicalReceiverData.get(pm.epoch)?.ratchetTree;
      const sender = sd === undefined || tree === undefined ? undefined : await this.memberAt(tree, sd.leafIndex, this.selfLeaf(state));
      if (sd === undefined || sender === undefined) throw new CryptoError('BAD_MESSAGE', 'sender could not be identified');
      return { kind: 'app', state: { mls: r.newState }, plaintext: r.message, sender, epoch: Number(pm.epoch), generation: sd.generation };
    }
    // The commit's consumed secrets include the current epoch's init secret: wipe them only once the
    // commit is accepted below, since a void commit leaves the current state the live one.
    if (r.actionTaken === 'reject') throw new CryptoError('FORBIDDEN_PROPOSAL', 'the commit carries a proposal members never make');
    if (before === undefined) throw new CryptoError('BAD_MESSAGE', 'a handshake message was framed as application data');
    const next: RoomState = { mls: r.newState };
    const removedSelf = r.newState.groupActiveState.kind === 'removedFromGroup';
    let after: Member[];
    try {
      after = removedSelf ? [] : await this.members(next);
    } catch (e) {
      throw e instanceof CryptoError ? e : new CryptoError('BAD_MESSAGE', 'the new member list cannot be read', { cause: e });
    }
    const key = (m: Member) => `${m.leaf}:${Array.from(m.signaturePublicKey).join(',')}`;
    const beforeKeys = new Set(before.map(key));
    const afterKeys = new Set(after.map(key));
    const added = after.filter((m) => !beforeKeys.has(key(m)));
    const external = msg.wireformat === wireformats.mls_public_message && msg.publicMessage.content.sender.senderType === senderTypes.new_member_commit;
    if (!removedSelf) checkRoomRules(after, added, external, from);
    r.consumed.forEach(zeroOutUint8Array);
    return {
      kind: 'commit',
      state: next,
      added,
      removed: before.filter((m) => !afterKeys.has(key(m))),
      removedSelf,
      epoch: Number(r.newState.groupContext.epoch),
    };
  }

  /**
   * Whether the GroupInfo the relay stores for joiners is a correct one for our state (docs/PROTOCOL.md
   * §4.3, "GroupInfo check"): it opens and decodes strictly, and is byte for byte the GroupInfo we
   * would publish ourselves (group context, extensions `external_pub` and `ratchet_tree`,
   * confirmation tag; RFC 9420 §12.4.3) except for its signer, whose leaf in our tree signed it
   * (RFC 9420 §12.4.3: SignWithLabel(., "GroupInfoTBS", GroupInfoTBS)). Our tree was validated when
   * we joined and at every commit, so a joiner can join through such a GroupInfo. Cheap: one
   * signature and one encoding, not the tree validation of a dry-run join (seconds at 1000 members).
   */
  async groupInfoMatches(state: RoomState, sealed: Uint8Array): Promise<boolean> {
    let info: GroupInfo;
    try {
      const snapshot = await this.readGroupInfo(sealed);
      if (snapshot.suite !== this.suite) return false;
      info = snapshot.info;
    } catch {
      return false;
    }
    const unsigned = (gi: GroupInfo, signer: number) =>
      encode(mlsMessageEncoder, { wireformat: wireformats.mls_group_info, version: protocolVersions.mls10, groupInfo: { ...gi, signer, signature: new Uint8Array(0) } });
    const mine = await createGroupInfoWithExternalPubAndRatchetTree(state.mls, [], this.impl);
    if (!bytesEqual(unsigned(info, 0), unsigned(mine, 0))) return false;
    const node = state.mls.ratchetTree[info.signer * 2];
    if (node === undefined || node.nodeType !== nodeTypes.leaf) return false;
    // GroupInfoTBS = the GroupInfo without its signature: drop the MLSMessage header (version and
    // wireformat, 2 bytes each) and the empty signature vector (one length byte, 0).
    const withSigner = unsigned(info, info.signer);
    const tbs = withSigner.subarray(4, withSigner.byteLength - 1);
    // RFC 9420 §5.1.2: SignContent = opaque label<V> = "MLS 1.0 " + Label; opaque content<V>.
    const content = concat(mlsVector(utf8.encode('MLS 1.0 GroupInfoTBS')), mlsVector(tbs));
    return this.impl.signature.verify(node.leaf.signaturePublicKey, content, info.signature);
  }

  /**
   * Classifies the relay's stored GroupInfo against our state: `ours` (groupInfoMatches); else, by a
   * dry-run external join (which checks its signature and every credential of its tree), `other`
   * when it is joinable and names our group id (another state of our group: we may be out of step),
   * `foreign` when it is joinable and names another group id (a re-founded room), `bad` otherwise.
   */
  async checkGroupInfo(state: RoomState, sealed: Uint8Array, profile: Profile): Promise<'ours' | 'other' | 'foreign' | 'bad'> {
    if (await this.groupInfoMatches(state, sealed)) return 'ours';
    let snapshot: GroupSnapshot;
    try {
      snapshot = await this.readGroupInfo(sealed);
      if (snapshot.suite !== this.suite) return 'bad';
      await this.joinExternal(snapshot, profile);
    } catch {
      return 'bad';
    }
    return bytesEqual(snapshot.info.groupContext.groupId, state.mls.groupContext.groupId) ? 'other' : 'foreign';
  }

  epochOf(state: RoomState): number {
    return Number(state.mls.groupContext.epoch);
  }

  selfLeaf(state: RoomState): number {
    return state.mls.privatePath.leafIndex;
  }

  /** The current members, from the ratchet tree, with their authenticated nicknames. */
  members(state: RoomState): Promise<Member[]> {
    return this.membersOf(state.mls.ratchetTree, this.selfLeaf(state));
  }

  private async membersOf(tree: ClientState['ratchetTree'], selfLeaf: number): Promise<Member[]> {
    const out: Member[] = [];
    for (let leaf = 0; leaf * 2 < tree.length; leaf++) {
      const m = await this.memberAt(tree, leaf, selfLeaf);
      if (m !== undefined) out.push(m);
    }
    return out;
  }

  /** The member at one leaf (RFC 9420 §4.1: leaf i is node 2i), or undefined for a blank leaf. */
  private async memberAt(tree: ClientState['ratchetTree'], leaf: number, selfLeaf: number): Promise<Member | undefined> {
    const node = tree[leaf * 2];
    if (node === undefined || node.nodeType !== nodeTypes.leaf) return undefined;
    const { credential, signaturePublicKey } = node.leaf;
    const k = profileKey(credential, signaturePublicKey);
    let profile = this.auth.profiles.get(k);
    if (profile === undefined && (await this.auth.validateCredential(credential, signaturePublicKey))) profile = this.auth.profiles.get(k);
    if (profile === undefined) throw new CryptoError('BAD_CREDENTIAL', 'a member credential does not open with this room secret');
    return { leaf, slot: profile.slot, nick: profile.nick, signaturePublicKey, identityKey: profile.identityKey, self: leaf === selfLeaf };
  }

  /** The room-state fingerprint of this state's epoch, to compare out of band (roomFingerprint.ts; docs/PROTOCOL.md §8.1). */
  fingerprint(state: RoomState): RoomFingerprint {
    return fingerprintOfState(state.mls);
  }

  /**
   * Whether an application message that did not decrypt names our group and epoch yet was sealed
   * with another history's keys: fork evidence (docs/PROTOCOL.md §8.2). Reads only; never throws.
   */
  async sealedForAnotherHistory(state: RoomState, bytes: Uint8Array): Promise<boolean> {
    try {
      return await sealedForAnotherHistory(this.impl, state.mls, bytes);
    } catch {
      return false;
    }
  }
}

