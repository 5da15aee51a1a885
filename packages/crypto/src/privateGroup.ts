/**
 * Private chats inside a room: each one is its own two-member MLS group (RFC 9420) between two
 * members of the room, made from the peer's KeyPackage and joined through a Welcome. Neither the
 * relay nor the room's other members can create, join or read it.
 *
 *   bob:    offerKeyPackage(profile)              -> keyPackage (MLSMessage mls_key_package), pending
 *   alice:  create(profile, keyPackage, bobKey)   -> state, welcome (MLSMessage mls_welcome), groupId
 *   bob:    accept(pending, welcome, aliceKey)    -> state
 *   both:   encrypt / decrypt                     -> PrivateMessages (application data)
 *
 * Authentication. Both leaves carry the room's credential (credential.ts, docs/PROTOCOL.md §3.3):
 * sealed under the room's cred_key and binding the leaf's signature key to the member's identity
 * key. So only holders of the room secret can make or read one, and the room's
 * AuthenticationService checks every leaf (RFC 9420 §5.3.1). That alone does not stop a *room
 * member* (carol, perhaps with the relay's help) from substituting her own KeyPackage or Welcome:
 * both calls therefore take the identity key the caller saw for its peer in the room and refuse
 * anything else (`PRIVATE_WRONG_PEER`). Every check fails closed with a typed CryptoError.
 *
 * Membership never changes: the only handshake message a chat accepts is a pure self-update from
 * the peer (an empty commit with an UpdatePath, RFC 9420 §12.4), which heals the chat after a key
 * compromise (§16.6). Proposals, and commits carrying any proposal, are refused.
 *
 * Transitions take a `PrivateGroupState` and return a new one for the caller to store, as in
 * roomGroup.ts, but they are not pure: ts-mls shares secret buffers between the old and the new
 * state, and `encrypt`/`decrypt` zero the secrets they consumed (RFC 9420 §9.2), so the state passed
 * in is spent and must not be used again (a commit made from it would not decrypt). The shared MLS
 * glue (KeyPackages, the leaf walk, credentials, sender data) is mlsGroup.ts.
 *
 * What a relay carrying these pieces in the clear would see:
 *   KeyPackage  suite, init and leaf HPKE keys, a fresh leaf signature key (unlinkable to the room
 *               leaf), the credential `"NR2" || slot || sealed(...)` (the slot, which the relay
 *               assigned anyway; no nickname, no identity key), capabilities, and ts-mls's default
 *               lifetime (creation time minus a day to plus ~15 days, so the creation second).
 *   Welcome     suite, the KeyPackageRef (a hash of the KeyPackage it answers), HPKE ciphertexts;
 *               the group id, tree and both credentials are inside the encrypted GroupInfo.
 *   Messages    PrivateMessage framing: group id (random, per chat), epoch, content type, sizes.
 *
 * Size: over 400 lines because this header says what each piece shows a relay; the code is
 * one chat's lifecycle (offer, create, accept, encrypt, decrypt, self-update, saved across a
 * restart) and its checks.
 */
import {
  type CiphersuiteImpl,
  type ClientState,
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
  defaultExtensionTypes,
  defaultProposalTypes,
  encode,
  joinGroup,
  mlsMessageEncoder,
  protocolVersions,
  wireformats,
  zeroOutUint8Array,
} from 'ts-mls';
import { type Brand, defaultCodecLimits } from '@nullroom/protocol';
import { equalBytes, randomBytes } from './bytes.js';
import { type MemberProfile, type Profile, RoomAuthenticationService } from './credential.js';
import { CryptoError, type CryptoErrorCode } from './errors.js';
import { encryptApplication, errorName, leaves, newKeyPackage, processStrict, profileOf, senderOf, wipe } from './mlsGroup.js';
import type { RoomGroup } from './roomGroup.js';
import { decodeClientState, decodeMlsMessage } from './mlsMessage.js';
import { type HiddenMessage, openHidden, senderLeafOf } from './hiddenMessage.js';
import { type SuiteName, suiteImpl } from './suite.js';

/** The random MLS group id of one private chat; the only name the relay could route it by. */
export type PrivateChatId = Brand<Uint8Array, 'PrivateChatId'>;
export const PRIVATE_CHAT_ID_BYTES = 16;

/** Inputs are refused before decoding when larger (an X-Wing KeyPackage is ~2.7 KB, its Welcome ~9 KB). */
export const MAX_KEY_PACKAGE_BYTES = 16 * 1024;
export const MAX_WELCOME_BYTES = 64 * 1024;
/** Messages are bounded by what one relay frame can carry. */
export const MAX_PRIVATE_MESSAGE_BYTES = defaultCodecLimits.maxPayloadBytes;

/** The other member of a private chat, as its credential (opened with the room secret) proves. */
export interface PrivatePeer {
  /** The nickname inside the peer's credential. Show the room's name for `identityKey` instead if they differ. */
  readonly nick: string;
  /** The relay slot the peer named in its credential (its room connection when it offered the KeyPackage). */
  readonly slot: number;
  /** The peer's identity key in this room: equal to the one the caller expected (checked). */
  readonly identityKey: Uint8Array;
  /** The peer's leaf signature key in this chat (fresh, unrelated to its room leaf). */
  readonly signaturePublicKey: Uint8Array;
}

/** One member's state of one private chat. Opaque outside this package; store the newest one. */
export interface PrivateGroupState {
  readonly mls: ClientState;
  /** Fixed when the chat was created or accepted; every commit is checked against it. */
  readonly peer: PrivatePeer;
}

/**
 * What `offerKeyPackage` keeps back: the KeyPackage and its private keys (init, leaf HPKE, leaf
 * signature). Keep it, in memory or an encrypted key store, until the Welcome arrives; `accept`
 * zeroes the init key once it succeeds (RFC 9420 §16.8: a KeyPackage is used once). Drop it with
 * `discardPending` if no Welcome comes.
 */
export interface PendingKeyPackage {
  readonly keyPackage: KeyPackage;
  readonly privateKeys: PrivateKeyPackage;
}

export interface KeyPackageOffer {
  /** An MLSMessage (RFC 9420 §6) of wireformat mls_key_package. */
  keyPackage: Uint8Array;
  pending: PendingKeyPackage;
}

export interface CreatedPrivateChat {
  state: PrivateGroupState;
  /** An MLSMessage of wireformat mls_welcome, for the peer only, with the ratchet tree inside. */
  welcome: Uint8Array;
  groupId: PrivateChatId;
}

export type PrivateIncoming =
  | { kind: 'message'; state: PrivateGroupState; plaintext: Uint8Array; epoch: number; generation: number }
  | { kind: 'update'; state: PrivateGroupState; epoch: number };

export interface PrivateOutgoing {
  state: PrivateGroupState;
  /** An MLSMessage of wireformat mls_private_message. */
  message: Uint8Array;
}

export interface PrivateOutgoingUpdate extends PrivateOutgoing {
  /**
   * Secrets of the current epoch the new state no longer needs. Wipe them (`wipe`) only once the
   * commit is delivered: if the peer's own update wins the race, the current state must process it.
   */
  consumed: Uint8Array[];
}

/** Zeroes the private keys of a KeyPackage offer that will never be accepted. */
export function discardPending(pending: PendingKeyPackage): void {
  const { initPrivateKey, hpkePrivateKey, signaturePrivateKey } = pending.privateKeys;
  [initPrivateKey, hpkePrivateKey, signaturePrivateKey].forEach(zeroOutUint8Array);
}

/**
 * The group id in the clear framing of a PrivateMessage (RFC 9420 §6.3: `group_id` is not
 * encrypted), so that a receiver can find the chat a message belongs to before decrypting it; the
 * relay can read it too (docs/SECURITY.md §8). Undefined for anything that is not a strictly
 * encoded MLS 1.0 PrivateMessage with a group id of a private chat's size. Not authenticated here:
 * `decrypt` authenticates it (it is part of the AEAD's associated data, RFC 9420 §6.3.1).
 */
export function privateMessageGroupId(bytes: Uint8Array): PrivateChatId | undefined {
  const msg = decodeMlsMessage(bytes, [wireformats.mls_private_message], MAX_PRIVATE_MESSAGE_BYTES);
  const id = msg?.privateMessage.groupId;
  return id === undefined || id.byteLength !== PRIVATE_CHAT_ID_BYTES ? undefined : (id.slice() as unknown as PrivateChatId);
}

/**
 * The only handshake messages a chat accepts: a commit from a member carrying no proposal at all,
 * i.e. a pure self-update (RFC 9420 §12.4; §12.2 leaves the policy to the application).
 */
const selfUpdatesOnly: IncomingMessageCallback = (incoming) =>
  incoming.kind === 'commit' && incoming.senderLeafIndex !== undefined && incoming.proposals.length === 0 ? 'accept' : 'reject';

export class PrivateGroup {
  private constructor(
    private readonly room: RoomGroup,
    private readonly impl: CiphersuiteImpl,
    private readonly auth: RoomAuthenticationService,
    private readonly ctx: MlsContext,
  ) {}

  /**
   * Private chats of one room: the room's suite, its credential key and our identity in it. Pass
   * the RoomGroup that matches the room group's suite (`RoomGroup.withSuite`), so that both
   * members of a chat agree on it.
   */
  static async forRoom(room: RoomGroup): Promise<PrivateGroup> {
    const impl = await suiteImpl(room.suite);
    // Its own AuthenticationService (same key, same rules) keeps its profile cache apart from the room's.
    const auth = new RoomAuthenticationService(room.keys.credentialKey, room.keys.locator);
    return new PrivateGroup(room, impl, auth, { cipherSuite: impl, authService: auth });
  }

  get suite(): SuiteName {
    return this.room.suite;
  }

  /** A fresh leaf: a new signature key pair, vouched for by our identity in the room's credential. */
  private async newKeyPackage(profile: Profile): Promise<PendingKeyPackage> {
    const kp = await newKeyPackage(this.impl, this.room.keys, this.room.identity, profile);
    return { keyPackage: kp.publicPackage, privateKeys: kp.privatePackage };
  }

  /**
   * The KeyPackage (RFC 9420 §10) a member hands out so that another member of the room can open a
   * private chat with it. Its credential opens only with the room secret. Single use: offer a new
   * one for every chat.
   */
  async offerKeyPackage(profile: Profile): Promise<KeyPackageOffer> {
    const pending = await this.newKeyPackage(profile);
    const keyPackage = encode(mlsMessageEncoder, {
      wireformat: wireformats.mls_key_package,
      version: protocolVersions.mls10,
      keyPackage: pending.keyPackage,
    });
    return { keyPackage, pending };
  }

  /** The profile in a peer leaf's credential (opened under the room's key), refused with `code` when it does not open. */
  private async peerProfile(node: LeafNode, code: CryptoErrorCode): Promise<MemberProfile> {
    const profile = await profileOf(this.auth, node);
    if (profile === undefined) throw new CryptoError(code, 'the peer credential does not open with this room secret');
    return profile;
  }

  private checkPeerKey(profile: MemberProfile, expectedPeerIdentityKey: Uint8Array): void {
    if (!equalBytes(profile.identityKey, expectedPeerIdentityKey)) {
      throw new CryptoError('PRIVATE_WRONG_PEER', 'the peer is not the member expected');
    }
    if (equalBytes(profile.identityKey, this.room.identity.publicKey)) {
      throw new CryptoError('PRIVATE_WRONG_PEER', 'a private chat needs two different members');
    }
  }

  /**
   * Opens a private chat with the member whose KeyPackage this is. `expectedPeerIdentityKey` is the
   * identity key the caller saw for that member in the room (`Member.identityKey`): a KeyPackage
   * from anyone else, another room member included, is refused (`PRIVATE_WRONG_PEER`), as is one
   * that is malformed, of another suite, or whose credential does not open with the room secret
   * (`PRIVATE_BAD_KEY_PACKAGE`).
   *
   * The group has a fresh random id; its one commit adds the peer (RFC 9420 §12.1.1) and goes to
   * no one, since nobody else is in the group: only the Welcome leaves, with the ratchet tree in
   * its GroupInfo (§12.4.3.3) so that the peer needs nothing else.
   */
  async create(profile: Profile, peerKeyPackage: Uint8Array, expectedPeerIdentityKey: Uint8Array): Promise<CreatedPrivateChat> {
    const msg = decodeMlsMessage(peerKeyPackage, [wireformats.mls_key_package], MAX_KEY_PACKAGE_BYTES);
    if (msg === undefined) throw new CryptoError('PRIVATE_BAD_KEY_PACKAGE', 'not an MLS 1.0 key package');
    const kp = msg.keyPackage;
    // RFC 9420 §10.1: version and suite must match the group's.
    if (kp.version !== protocolVersions.mls10 || kp.cipherSuite !== ciphersuites[this.room.suite]) {
      throw new CryptoError('PRIVATE_BAD_KEY_PACKAGE', 'the key package uses another protocol version or cipher suite');
    }
    const peer = await this.peerProfile(kp.leafNode, 'PRIVATE_BAD_KEY_PACKAGE');
    this.checkPeerKey(peer, expectedPeerIdentityKey);

    const own = await this.newKeyPackage(profile);
    const groupId = randomBytes(PRIVATE_CHAT_ID_BYTES) as unknown as PrivateChatId;
    let mls: ClientState;
    let welcome;
    try {
      const initial = await createGroup({ context: this.ctx, groupId, keyPackage: own.keyPackage, privateKeyPackage: own.privateKeys });
      zeroOutUint8Array(own.privateKeys.initPrivateKey); // our own leaf never receives a Welcome
      // ts-mls validates the KeyPackage here (RFC 9420 §10.1: signature, lifetime, leaf node,
      // distinct init and encryption keys) and checks the credential with our AuthenticationService.
      const r = await createCommit({
        context: this.ctx,
        state: initial,
        extraProposals: [{ proposalType: defaultProposalTypes.add, add: { keyPackage: kp } }],
        ratchetTreeExtension: true,
      });
      // No race to lose: nobody else can commit in a group only we are in, so wipe right away.
      wipe(r.consumed);
      mls = r.newState;
      welcome = r.welcome;
    } catch (e) {
      throw new CryptoError('PRIVATE_BAD_KEY_PACKAGE', `the key package was refused: ${errorName(e)}`, { cause: e });
    }
    if (welcome === undefined) throw new CryptoError('PRIVATE_BAD_KEY_PACKAGE', 'adding the peer produced no welcome');
    const state: PrivateGroupState = { mls, peer: this.toPeer(peer, kp.leafNode.signaturePublicKey) };
    return { state, welcome: encode(mlsMessageEncoder, welcome), groupId: this.groupIdOf(state) };
  }

  /**
   * Joins a private chat from its Welcome (RFC 9420 §12.4.3.1) with the KeyPackage we offered.
   * ts-mls checks every leaf of the tree with the room's AuthenticationService, the GroupInfo
   * signature and the confirmation tag; on top of that the group must be fresh (epoch 1), hold
   * exactly two members, ourselves at the leaf of `pending`, and a peer whose identity key is
   * `expectedPeerIdentityKey` (`PRIVATE_WRONG_PEER`), with no external senders. Anything else,
   * including a Welcome for someone else's KeyPackage, is `PRIVATE_BAD_WELCOME`.
   *
   * On failure `pending` stays usable (the real Welcome may still come); on success its init key is
   * zeroed.
   */
  async accept(pending: PendingKeyPackage, welcome: Uint8Array, expectedPeerIdentityKey: Uint8Array): Promise<PrivateGroupState> {
    const msg = decodeMlsMessage(welcome, [wireformats.mls_welcome], MAX_WELCOME_BYTES);
    if (msg === undefined) throw new CryptoError('PRIVATE_BAD_WELCOME', 'not an MLS 1.0 welcome');
    if (msg.welcome.cipherSuite !== ciphersuites[this.room.suite] || msg.welcome.secrets.length !== 1) {
      throw new CryptoError('PRIVATE_BAD_WELCOME', 'the welcome is not for a two-member chat of this suite');
    }
    let mls: ClientState;
    try {
      // No `ratchetTree` argument: the tree must come inside the (encrypted, signed) GroupInfo.
      mls = await joinGroup({ context: this.ctx, welcome: msg.welcome, keyPackage: pending.keyPackage, privateKeys: pending.privateKeys });
    } catch (e) {
      throw new CryptoError('PRIVATE_BAD_WELCOME', `the welcome was refused: ${errorName(e)}`, { cause: e });
    }
    const gc = mls.groupContext;
    if (gc.epoch !== 1n || gc.groupId.byteLength !== PRIVATE_CHAT_ID_BYTES) {
      throw new CryptoError('PRIVATE_BAD_WELCOME', 'the welcome is not for a newly created chat');
    }
    if (gc.extensions.some((x) => x.extensionType === defaultExtensionTypes.external_senders)) {
      throw new CryptoError('PRIVATE_BAD_WELCOME', 'the chat names an external sender');
    }
    const all = leaves(mls.ratchetTree);
    const self = all.find((l) => l.index === mls.privatePath.leafIndex)?.node;
    const other = all.find((l) => l.index !== mls.privatePath.leafIndex)?.node;
    const mine = pending.keyPackage.leafNode;
    if (
      all.length !== 2 ||
      self === undefined ||
      other === undefined ||
      !equalBytes(self.signaturePublicKey, mine.signaturePublicKey) ||
      !equalBytes(self.hpkePublicKey, mine.hpkePublicKey)
    ) {
      throw new CryptoError('PRIVATE_BAD_WELCOME', 'the chat must hold exactly us and one peer');
    }
    const peer = await this.peerProfile(other, 'PRIVATE_BAD_WELCOME');
    this.checkPeerKey(peer, expectedPeerIdentityKey);
    zeroOutUint8Array(pending.privateKeys.initPrivateKey); // RFC 9420 §16.8: delete the init key after use
    return { mls, peer: this.toPeer(peer, other.signaturePublicKey) };
  }

  /** Encrypts an application message (RFC 9420 §6.3) for the current epoch. */
  async encrypt(state: PrivateGroupState, plaintext: Uint8Array): Promise<PrivateOutgoing> {
    const r = await encryptApplication(this.ctx, state.mls, plaintext);
    return { state: { mls: r.state, peer: state.peer }, message: r.message };
  }

  /**
   * A self-update: an empty commit with a fresh UpdatePath for our leaf (RFC 9420 §12.4), which
   * moves the chat to a new epoch with keys an attacker who stole the old ones does not have
   * (§16.6). The two members must not both update in the same epoch unless the transport orders
   * commits (one per group and epoch, like the relay does for rooms): the loser processes the
   * winner's commit with its current state and tries again.
   */
  async update(state: PrivateGroupState): Promise<PrivateOutgoingUpdate> {
    const r = await createCommit({ context: this.ctx, state: state.mls });
    return { state: { mls: r.newState, peer: state.peer }, message: encode(mlsMessageEncoder, r.commit), consumed: r.consumed };
  }

  /**
   * The chat's message a hidden private message carries (hiddenMessage.ts), rebuilt for `decrypt`,
   * if its SenderData opens under this chat's keys (of the current epoch or one kept); undefined
   * when it is not this chat's. Nothing is authenticated yet: `decrypt` does that.
   */
  openHidden(state: PrivateGroupState, hidden: HiddenMessage): Promise<Uint8Array | undefined> {
    return openHidden(this.impl, state.mls, hidden);
  }

  /**
   * Decrypts one message of this chat. Throws `BAD_MESSAGE` when it is not a PrivateMessage of this
   * group, does not decrypt or verify (altered, replayed, ours echoed back), and
   * `FORBIDDEN_PROPOSAL` for any handshake message other than the peer's self-update.
   */
  async decrypt(state: PrivateGroupState, bytes: Uint8Array): Promise<PrivateIncoming> {
    const msg = decodeMlsMessage(bytes, [wireformats.mls_private_message], MAX_PRIVATE_MESSAGE_BYTES);
    // PublicMessages are refused outright: everything in a private chat is encrypted.
    if (msg === undefined) throw new CryptoError('BAD_MESSAGE', 'not an MLS private message');
    const pm = msg.privateMessage;
    if (!equalBytes(pm.groupId, state.mls.groupContext.groupId))
      throw new CryptoError('BAD_MESSAGE', 'the message belongs to another group');
    // A leaf beyond the tree would abort the process inside ts-mls (hiddenMessage.ts `senderLeafOf`).
    if ((await senderLeafOf(this.impl, state.mls, pm))?.member === false)
      throw new CryptoError('BAD_MESSAGE', "the message names no member's leaf");
    const r = await processStrict(this.ctx, state.mls, msg, selfUpdatesOnly);
    if (r.kind === 'applicationMessage') {
      // RFC 9420 §6.3.2: the sender's leaf, from the SenderData ts-mls has just authenticated.
      const sd = await senderOf(this.impl, state.mls, pm);
      if (sd === undefined || sd.leaf === state.mls.privatePath.leafIndex) {
        throw new CryptoError('BAD_MESSAGE', 'the message does not come from the peer');
      }
      wipe(r.consumed);
      return {
        kind: 'message',
        state: { mls: r.newState, peer: state.peer },
        plaintext: r.message,
        epoch: Number(pm.epoch),
        generation: sd.generation,
      };
    }
    if (pm.contentType !== contentTypes.commit || r.actionTaken === 'reject') {
      throw new CryptoError('FORBIDDEN_PROPOSAL', 'a private chat accepts no proposals, only self-updates');
    }
    // The peer's leaf may have new keys but must still be the peer: same members, same identity.
    const all = leaves(r.newState.ratchetTree);
    const other = all.find((l) => l.index !== r.newState.privatePath.leafIndex)?.node;
    if (all.length !== 2 || other === undefined || r.newState.groupActiveState.kind !== 'active') {
      throw new CryptoError('FORBIDDEN_PROPOSAL', 'a private chat never changes its members');
    }
    const peer = await this.peerProfile(other, 'BAD_CREDENTIAL');
    if (!equalBytes(peer.identityKey, state.peer.identityKey)) throw new CryptoError('PRIVATE_WRONG_PEER', 'the peer changed its identity');
    wipe(r.consumed);
    const next: PrivateGroupState = { mls: r.newState, peer: this.toPeer(peer, other.signaturePublicKey) };
    return { kind: 'update', state: next, epoch: this.epochOf(next) };
  }

  /**
   * The chat's state as bytes (the RFC 9420 TLS encoding of ts-mls's ClientState), to keep a chat
   * across a restart, as `RoomGroup.exportState` does for the room. Holds every secret of the
   * epoch: seal it, and write it again after every transition (a state that encrypted once must
   * never encrypt again). The peer is not written: `importState` reads it back from the tree.
   */
  exportState(state: PrivateGroupState): Uint8Array {
    return encode(clientStateEncoder, state.mls);
  }

  /**
   * A state `exportState` wrote, checked as `accept` checks a Welcome's: this room's suite, a
   * chat's group id, exactly two leaves whose credentials open with the room secret, ours with our
   * identity key and the peer's with `expectedPeerIdentityKey`. Anything else is `BAD_SAVED_STATE`.
   */
  async importState(bytes: Uint8Array, expectedPeerIdentityKey: Uint8Array): Promise<PrivateGroupState> {
    const mls = decodeClientState(bytes);
    const bad = (why: string) => new CryptoError('BAD_SAVED_STATE', `a saved private chat ${why}`);
    if (mls === undefined || mls.groupContext.cipherSuite !== ciphersuites[this.room.suite]) throw bad('does not decode for this room');
    if (mls.groupContext.groupId.byteLength !== PRIVATE_CHAT_ID_BYTES || mls.groupActiveState.kind !== 'active') {
      throw bad('is not an open chat');
    }
    const all = leaves(mls.ratchetTree);
    const self = all.find((l) => l.index === mls.privatePath.leafIndex)?.node;
    const other = all.find((l) => l.index !== mls.privatePath.leafIndex)?.node;
    if (all.length !== 2 || self === undefined || other === undefined) throw bad('does not hold exactly us and one peer');
    const me = await this.peerProfile(self, 'BAD_SAVED_STATE');
    if (!equalBytes(me.identityKey, this.room.identity.publicKey)) throw bad('is not ours');
    const peer = await this.peerProfile(other, 'BAD_SAVED_STATE');
    if (!equalBytes(peer.identityKey, expectedPeerIdentityKey) || equalBytes(peer.identityKey, this.room.identity.publicKey)) {
      throw bad('is not with the member expected');
    }
    return { mls, peer: this.toPeer(peer, other.signaturePublicKey) };
  }

  groupIdOf(state: PrivateGroupState): PrivateChatId {
    return state.mls.groupContext.groupId.slice() as unknown as PrivateChatId;
  }

  peerOf(state: PrivateGroupState): PrivatePeer {
    return state.peer;
  }

  epochOf(state: PrivateGroupState): number {
    return Number(state.mls.groupContext.epoch);
  }

  private toPeer(profile: MemberProfile, signaturePublicKey: Uint8Array): PrivatePeer {
    return { nick: profile.nick, slot: profile.slot, identityKey: profile.identityKey, signaturePublicKey };
  }
}
