/**
 * One MLS group (RFC 9420) per room, behind a small interface. Transitions take a `RoomState` and
 * return a new one for the caller to store; they are not pure, and the caller must know how:
 *   - ts-mls shares secret buffers between a state and the next. `encrypt` and processing an
 *     application message wipe the secrets they consumed, so the state passed in is spent. A
 *     processed commit wipes its consumed secrets only once it passed every check (on a throw the
 *     state passed in stays live); `remove` wipes nothing and returns `consumed` for the caller to
 *     wipe once the relay accepted the commit.
 *   - The AuthenticationService caches the profiles of credentials it opened (keyed by signature
 *     key and credential bytes, so a hit is always right), to read the member list without
 *     decrypting each credential again.
 * The relay sees only what RFC 9420 frames in the clear (group id, epoch, content type, and for
 * external commits the sender's leaf with an encrypted credential) and the sealed GroupInfo.
 * Shared MLS glue is in mlsGroup.ts, the GroupInfo in roomGroupInfo.ts, the rules in roomRules.ts.
 */
import {
  type ClientState,
  type CiphersuiteImpl,
  type LeafNode,
  type MlsContext,
  type Proposal,
  contentTypes,
  createCommit,
  clientStateEncoder,
  createGroup,
  defaultProposalTypes,
  encode,
  joinGroupExternal,
  mlsMessageEncoder,
  protocolVersions,
  senderTypes,
  wireformats,
} from 'ts-mls';
import type { RoomLocator } from '@nullroom/protocol';
import { equalBytes, randomBytes } from './bytes.js';
import { type MemberProfile, RoomAuthenticationService, type Profile } from './credential.js';
import { CryptoError } from './errors.js';
import { type IdentitySigner, ephemeralIdentity } from './identity.js';
import {
  type RatchetTree,
  encryptApplication,
  errorName,
  leafAt,
  leaves,
  newKeyPackage,
  processStrict,
  profileOf,
  senderOf,
  wipe,
} from './mlsGroup.js';
import { decodeClientState, decodeMlsMessage } from './mlsMessage.js';
import { HIDDEN_LEAF, type HiddenMessage, hiddenParts, senderLeafOf, wrapHidden } from './hiddenMessage.js';
import { type RoomFingerprint, fingerprintOfState, sealedForAnotherHistory } from './roomFingerprint.js';
import { type GroupSnapshot, groupInfoMatches, groupInfoOpens, readGroupInfo, sealGroupInfo } from './roomGroupInfo.js';
import { acceptOnlyOurProposals, checkRoomRules } from './roomRules.js';
import { type RoomKeys } from './roomSecret.js';
import { type SuiteName, Suites, suiteImpl } from './suite.js';
import { withPooledVerify } from './primitives.js';

export { type GroupSnapshot } from './roomGroupInfo.js';
export { wipe } from './mlsGroup.js';

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

export type Incoming =
  | { kind: 'app'; state: RoomState; plaintext: Uint8Array; sender: Member; epoch: number; generation: number }
  /** A hidden private message (hiddenMessage.ts): not processed by the room's group; `state` is the one passed in, unchanged. */
  | { kind: 'hidden'; state: RoomState; hidden: HiddenMessage; epoch: number }
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

export class RoomGroup {
  private constructor(
    readonly keys: RoomKeys,
    readonly suite: SuiteName,
    private readonly impl: CiphersuiteImpl,
    private readonly auth: RoomAuthenticationService,
    private readonly ctx: MlsContext,
    /** Our identity in this room (identity.ts); an ephemeral one when none is given. */
    readonly identity: IdentitySigner,
    /** `ctx` with the leaf signatures of a whole tree checked on node:crypto's thread pool (primitives.ts `withPooledVerify`). */
    private readonly joinCtx: MlsContext = { ...ctx, cipherSuite: withPooledVerify(ctx.cipherSuite) },
  ) {}

  /** The member list of each ratchet tree read (`members`), dropped with the tree; its members are frozen. */
  private readonly memberLists = new WeakMap<RatchetTree, { self: number; list: readonly Member[] }>();

  static async create(keys: RoomKeys, suite: SuiteName = Suites.default, identity?: IdentitySigner): Promise<RoomGroup> {
    const impl = await suiteImpl(suite);
    const auth = new RoomAuthenticationService(keys.credentialKey, keys.locator);
    return new RoomGroup(keys, suite, impl, auth, { cipherSuite: impl, authService: auth }, identity ?? (await ephemeralIdentity()));
  }

  /** A RoomGroup for the suite a GroupInfo names (joiners follow the creator's choice). */
  withSuite(suite: SuiteName): Promise<RoomGroup> {
    return suite === this.suite ? Promise.resolve(this) : RoomGroup.create(this.keys, suite, this.identity);
  }

  get locator(): RoomLocator {
    return this.keys.locator;
  }

  /** Creates the room's group with ourselves as its only member (epoch 0). */
  async createGroup(profile: Profile): Promise<{ state: RoomState; groupInfo: Uint8Array }> {
    const kp = await newKeyPackage(this.impl, this.keys, this.identity, profile);
    const mls = await createGroup({
      context: this.ctx,
      groupId: randomBytes(16),
      keyPackage: kp.publicPackage,
      privateKeyPackage: kp.privatePackage,
    });
    return { state: { mls }, groupInfo: await sealGroupInfo(this.impl, this.keys, mls) };
  }

  /** Whether a sealed GroupInfo opens with this room's secret and decodes strictly as an MLS GroupInfo (nothing more is checked). */
  groupInfoOpens(sealed: Uint8Array): Promise<boolean> {
    return groupInfoOpens(this.keys, sealed);
  }

  /** Opens the GroupInfo the relay handed us. Its members are checked when we join through it. */
  readGroupInfo(sealed: Uint8Array): Promise<GroupSnapshot> {
    return readGroupInfo(this.keys, sealed);
  }

  /**
   * Joins through an external commit (RFC 9420 §12.4.3.2); every member credential in the tree is
   * checked on the way. The state is pending until the relay accepts the commit; `members(state)`
   * tells the joiner who is there (and whether its nickname is taken) before it sends anything.
   */
  async joinExternal(snapshot: GroupSnapshot, profile: Profile): Promise<OutgoingCommit> {
    const kp = await newKeyPackage(this.impl, this.keys, this.identity, profile);
    let joined;
    try {
      joined = await joinGroupExternal({
        context: this.joinCtx,
        groupInfo: snapshot.info,
        keyPackage: kp.publicPackage,
        privateKeys: kp.privatePackage,
        resync: false,
      });
    } catch (e) {
      throw new CryptoError('BAD_GROUP_INFO', `cannot join through this group information: ${errorName(e)}`, { cause: e });
    }
    const { publicMessage, newState } = joined;
    const message = encode(mlsMessageEncoder, {
      wireformat: wireformats.mls_public_message,
      version: protocolVersions.mls10,
      publicMessage,
    });
    return { state: { mls: newState }, message, groupInfo: await sealGroupInfo(this.impl, this.keys, newState), consumed: [] };
  }

  /** Encrypts an application message (RFC 9420 §6.3) for the current epoch; `state` is spent. */
  async encrypt(state: RoomState, plaintext: Uint8Array): Promise<Outgoing> {
    const r = await encryptApplication(this.ctx, state.mls, plaintext);
    return { state: { mls: r.state }, message: r.message };
  }

  /**
   * A private chat's message (`inner`, an MLSMessage its group made) wrapped as a hidden private
   * message of this room's current epoch (hiddenMessage.ts). `state` is not spent: no message key is used.
   */
  wrapHidden(state: RoomState, inner: Uint8Array): Promise<Uint8Array> {
    return wrapHidden(this.impl, state.mls, inner);
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
    const groupInfo = await sealGroupInfo(this.impl, this.keys, r.newState);
    return { state: { mls: r.newState }, message: encode(mlsMessageEncoder, r.commit), groupInfo, consumed: r.consumed };
  }

  /**
   * Processes one message from the room's ordered stream; `from` is the relay slot that sent it
   * (DELIVER.from). Throws CryptoError(BAD_MESSAGE) when it does not decode (strictly, mlsMessage.ts),
   * decrypt or verify, FORBIDDEN_PROPOSAL when it proposes what we never allow (docs/PROTOCOL.md
   * §3.4), and BROKEN_ROOM_RULE when a commit verifies under MLS but breaks a room rule (§3.6). On
   * any throw `state` is untouched and still the live state: the caller treats the commit as void (§4.3).
   */
  async process(state: RoomState, bytes: Uint8Array, from: number): Promise<Incoming> {
    const msg = decodeMlsMessage(bytes, [wireformats.mls_private_message, wireformats.mls_public_message]);
    if (msg === undefined) throw new CryptoError('BAD_MESSAGE', 'not a strictly encoded MLS handshake or application message');
    // Membership before the message (needed to diff a commit); application messages skip this.
    const application = msg.wireformat === wireformats.mls_private_message && msg.privateMessage.contentType === contentTypes.application;
    if (msg.wireformat === wireformats.mls_private_message) {
      // Its SenderData first (ts-mls does not open it again: primitives.ts `openedBefore`): a hidden
      // private message names no leaf, and is left to the private chats without any MLS processing;
      // a message naming no member's leaf never reaches ts-mls (hiddenMessage.ts `senderLeafOf`).
      const pm = msg.privateMessage;
      const s = await senderLeafOf(this.impl, state.mls, pm);
      if (application && s?.leaf === HIDDEN_LEAF) {
        const hidden = hiddenParts(pm);
        if (hidden === undefined) throw new CryptoError('BAD_MESSAGE', 'a hidden private message carries no message');
        return { kind: 'hidden', state, hidden, epoch: Number(pm.epoch) };
      }
      if (s !== undefined && !s.member) throw new CryptoError('BAD_MESSAGE', "the message names no member's leaf");
    }
    const before = application ? undefined : await this.members(state);
    const r = await processStrict(this.ctx, state.mls, msg, acceptOnlyOurProposals);
    if (r.kind === 'applicationMessage') {
      wipe(r.consumed);
      if (msg.wireformat !== wireformats.mls_private_message) throw new CryptoError('BAD_MESSAGE', 'application data must be encrypted');
      const pm = msg.privateMessage;
      const sd = await senderOf(this.impl, state.mls, pm);
      const sender = sd === undefined ? undefined : await this.memberAt(sd.tree, sd.leaf, this.selfLeaf(state));
      if (sd === undefined || sender === undefined) throw new CryptoError('BAD_MESSAGE', 'sender could not be identified');
      return { kind: 'app', state: { mls: r.newState }, plaintext: r.message, sender, epoch: Number(pm.epoch), generation: sd.generation };
    }
    // The commit's consumed secrets include the current epoch's init secret: wipe them only once the
    // commit is accepted below, since a void commit leaves the current state the live one.
    if (r.actionTaken === 'reject') throw new CryptoError('FORBIDDEN_PROPOSAL', 'the commit carries a proposal members never make');
    if (before === undefined) throw new CryptoError('BAD_MESSAGE', 'a handshake message was framed as application data');
    const external =
      msg.wireformat === wireformats.mls_public_message && msg.publicMessage.content.sender.senderType === senderTypes.new_member_commit;
    const incoming = await this.acceptCommit(before, { mls: r.newState }, external, from);
    wipe(r.consumed);
    return incoming;
  }

  /** A processed commit's member changes, once the room rules (§3.6) hold for them. */
  private async acceptCommit(before: Member[], next: RoomState, external: boolean, from: number): Promise<Incoming> {
    const removedSelf = next.mls.groupActiveState.kind === 'removedFromGroup';
    let after: Member[];
    try {
      after = removedSelf ? [] : await this.members(next);
    } catch (e) {
      throw e instanceof CryptoError ? e : new CryptoError('BAD_MESSAGE', 'the new member list cannot be read', { cause: e });
    }
    // A leaf whose signature key changed counts as removed and added (rule 3 refuses that in a member's commit).
    const beforeAt = new Map(before.map((m) => [m.leaf, m]));
    const afterAt = new Map(after.map((m) => [m.leaf, m]));
    const sameLeaf = (m: Member, other: Member | undefined) =>
      other !== undefined && equalBytes(m.signaturePublicKey, other.signaturePublicKey);
    const added = after.filter((m) => !sameLeaf(m, beforeAt.get(m.leaf)));
    if (!removedSelf) checkRoomRules(after, added, external, from);
    const removed = before.filter((m) => !sameLeaf(m, afterAt.get(m.leaf)));
    return { kind: 'commit', state: next, added, removed, removedSelf, epoch: Number(next.mls.groupContext.epoch) };
  }

  /** Whether the relay's stored GroupInfo is a correct one for our state (roomGroupInfo.ts `groupInfoMatches`). */
  groupInfoMatches(state: RoomState, sealed: Uint8Array): Promise<boolean> {
    return groupInfoMatches(this.impl, this.keys, this.suite, state.mls, sealed);
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
    return equalBytes(snapshot.info.groupContext.groupId, state.mls.groupContext.groupId) ? 'other' : 'foreign';
  }

  /** The state as bytes (RFC 9420 TLS encoding of ts-mls's ClientState), to keep a session across a restart. Holds every secret of the epoch: seal it. */
  exportState(state: RoomState): Uint8Array {
    return encode(clientStateEncoder, state.mls);
  }

  /** A state `exportState` wrote, checked to be a state of this room's suite with our identity's leaf. */
  importState(bytes: Uint8Array): RoomState {
    const mls = decodeClientState(bytes);
    if (mls === undefined || mls.groupContext.cipherSuite !== this.impl.id) {
      throw new CryptoError('BAD_SAVED_STATE', 'a saved group state does not decode for this room');
    }
    return { mls };
  }

  epochOf(state: RoomState): number {
    return Number(state.mls.groupContext.epoch);
  }

  selfLeaf(state: RoomState): number {
    return state.mls.privatePath.leafIndex;
  }

  /** The current members, from the ratchet tree, with their authenticated nicknames. */
  async members(state: RoomState): Promise<Member[]> {
    const self = this.selfLeaf(state);
    const tree = state.mls.ratchetTree;
    // Read once per tree: a commit's member diff reads the list before and after it, and the room
    // reads the one after again; the next commit's "before" is this one's "after" (ts-mls makes a
    // new tree array at every change and never changes one in place, patches/README.md).
    const known = this.memberLists.get(tree);
    if (known !== undefined && known.self === self) return known.list.slice();
    const out: Member[] = [];
    for (const { index, node } of leaves(tree)) {
      // Profiles already read are found without a promise per leaf (a large room reads them on every commit).
      const profile = this.auth.byLeaf.get(node) ?? (await profileOf(this.auth, node));
      out.push(memberOf(node, index, self, profile));
    }
    this.memberLists.set(tree, { self, list: out });
    return out.slice();
  }

  /** The member at one leaf, or undefined for a blank leaf; BAD_CREDENTIAL when its credential does not open. */
  private async memberAt(tree: RatchetTree, leaf: number, selfLeaf: number): Promise<Member | undefined> {
    const node = leafAt(tree, leaf);
    return node === undefined ? undefined : memberOf(node, leaf, selfLeaf, await profileOf(this.auth, node));
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

function memberOf(node: LeafNode, leaf: number, selfLeaf: number, profile: MemberProfile | undefined): Member {
  if (profile === undefined) throw new CryptoError('BAD_CREDENTIAL', 'a member credential does not open with this room secret');
  const { slot, nick, identityKey } = profile;
  return Object.freeze({ leaf, slot, nick, signaturePublicKey: node.signaturePublicKey, identityKey, self: leaf === selfLeaf });
}
