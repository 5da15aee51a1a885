/**
 * Private one-to-one chats inside a room (issue #4; docs/PROTOCOL.md §5.2).
 *
 * A private chat is its own two-member MLS group (@nullroom/crypto privateGroup.ts). To open one,
 * a member sends a `dm-offer` with a fresh key package, addressed by the identity key of the
 * member it is for; that member makes the group from it (checking that the key package carries
 * the identity key the room shows for the opener) and answers with a `dm-welcome`, addressed back.
 * Set-up (and `dm-close`) always travels inside the room's MLS group, where the room authenticates
 * who sent it. Messages are MLS application messages of the private group, routed one of two ways,
 * chosen by each sender (`routing`; receivers accept both):
 *
 * - `hidden` (the default): as `dm` payloads inside room messages, so the relay cannot tell which
 *   member they are for, nor that they are private at all (the other members can decrypt the room
 *   layer and see that a private message passed, and between whom, but not a word of it);
 * - `direct`: the private group's MLS ciphertext alone, in a DIRECT frame to the peer's connection
 *   (PROTOCOL.md §4.4). Nobody else receives it, which is cheaper in large rooms, but the relay
 *   learns who talks to whom, when and how much, and the chat's group id.
 *
 * docs/SECURITY.md §8 says what each party learns in each mode, and what hiding costs.
 *
 * The open chats are part of the room's saved session (roomSession.ts): a restored room's
 * PrivateChats takes them up again, with our hidden messages then still awaiting the relay.
 *
 * Size: a little over 400 lines: set-up, both routings' receiving, presence and the saved session
 * of a room's chats are one state (the chats by id, the openings, the room messages awaited).
 */
import { type HiddenMessage, type PendingKeyPackage, PrivateGroup, discardPending, privateMessageGroupId } from '@nullroom/crypto';
import { ClientError, type ClientErrorCode } from './errors.js';
import { fromBase64, fromHex, randomHex, toBase64, toHex } from './encoding.js';
import { Emitter } from './emitter.js';
import type { PrivatePayload } from './payload.js';
import { PrivateChat, type PrivateChatHandle, type PrivateChatOwner, type PrivateMessage, type PrivateRouting } from './privateChat.js';
import type { Room } from './room.js';
import type { SavedPrivateChat } from './roomSession.js';

export { PrivateChat, type PrivateMessage, type PrivateRouting } from './privateChat.js';
export const PRIVATE_ROUTINGS: readonly PrivateRouting[] = ['hidden', 'direct'];

export interface PrivateChatsOptions {
  /** How long `open` waits for the peer's answer (default 30 s). */
  openTimeoutMs?: number;
  /** How our private messages travel (default `hidden`); can be changed later through `routing`. */
  routing?: PrivateRouting;
}

export interface PrivateChatEvents extends Record<string, unknown> {
  opened: { chat: PrivateChat; byUs: boolean };
  message: PrivateMessage;
  closed: { chat: PrivateChat; byUs: boolean };
  /** The chat's peer left the room: the chat refuses to send (PEER_LEFT) until it comes back. `chat.peer` is its last nickname. */
  'peer-left': { chat: PrivateChat };
  /** The chat's peer is in the room again (same identity key): the chat sends again. */
  'peer-back': { chat: PrivateChat };
  /** A chat's `sent`, with the chat: the relay acknowledged our message `id` (PrivateDeliveryEvents). */
  sent: { chat: PrivateChat; id: string };
  /** Once, for a restored room that held chats: those back (before anything replayed is read), and the ids of those `lost` (peers told). */
  restored: { chats: PrivateChat[]; lost: string[] };
  /** A chat's `unsent`, with the chat: our message `id` will not be sent, and why. */
  unsent: { chat: PrivateChat; id: string; code: ClientErrorCode; message: string };
  error: { code: 'BAD_MESSAGE' | 'BAD_PAYLOAD' | 'WRONG_SENDER' | 'OUT_OF_ORDER' | 'MISSING_MESSAGES'; message: string };
}

interface Opening {
  pending: PendingKeyPackage;
  peerIdentity: string;
  resolve: (c: PrivateChat) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** The private chats of one room. */
export class PrivateChats extends Emitter<PrivateChatEvents> {
  private readonly chats = new Map<string, PrivateChat>();
  private readonly opening = new Map<string, Opening>();
  private pc: Promise<PrivateGroup> | undefined;
  private readonly offs: (() => void)[];
  /** Incoming set-up and messages, processed one at a time in the order the room delivered them. */
  private inbox: Promise<void> = Promise.resolve();
  /** Room messages carrying our hidden private messages, by room message id, until the relay acknowledges them. */
  private readonly awaiting = new Map<string, { chat: string; id: string; resolve: () => void; reject: (e: unknown) => void }>();
  /** How our private messages travel from now on (receiving accepts both). */
  routing: PrivateRouting;
  /** The chats the room's saved session held, being taken up (see `restored`), with our messages then awaiting the relay; empty once they are. */
  readonly restoring = new Map<string, readonly string[]>();
  /** What the room said of those messages before their chat was back. */
  #early: { chat: string; id: string; e?: unknown }[] = [];
  /** Those chats as saved, written back as they were until they are taken up. */
  #unrestored: readonly SavedPrivateChat[];

  constructor(
    readonly room: Room,
    private readonly opts: PrivateChatsOptions = {},
  ) {
    super();
    this.routing = opts.routing ?? 'hidden';
    // Our chats are part of the room's saved session; a snapshot waits until what the room handed us is read.
    this.#unrestored = room.keepInSession({ saved: () => this.saved(), settled: () => this.inbox });
    if (this.#unrestored.length > 0) {
      for (const c of this.#unrestored)
        this.restoring.set(
          c.id,
          (c.pending ?? []).map(([, id]) => id),
        );
      for (const c of this.#unrestored) for (const [roomId, id] of c.pending ?? []) this.awaitFor(roomId, c.id, id);
      const saved = this.#unrestored;
      this.enqueue(() => this.restore(saved)); // first on the inbox: before anything the relay replays
    }
    const onPrivate = (p: PrivatePayload, s: { from: string; sender: string; slot: number }) =>
      this.enqueue(() => this.onPrivate(s.from, s.sender, s.slot, p));
    this.offs = [
      room.route('dm-offer', onPrivate),
      room.route('dm-welcome', onPrivate),
      room.route('dm', onPrivate),
      room.route('dm-close', onPrivate),
      room.routeDirect((from, data) => this.enqueue(() => this.onDirect(from, data))),
      room.routeHidden((from, hidden) => this.hidden(from, hidden)),
      room.on('sent', ({ id }) => {
        const w = this.awaiting.get(id);
        this.awaiting.delete(id);
        w?.resolve();
      }),
      room.on('unsent', ({ id, code, message }) => {
        const w = this.awaiting.get(id);
        this.awaiting.delete(id);
        w?.reject(new ClientError(code, message));
      }),
      // The room re-sends what it queued across reconnects; only a room left for good loses it.
      room.on('phase', ({ phase }) => {
        for (const chat of this.chats.values()) if (!chat.closed) this.#handles.get(chat)?.roomPhase(phase);
        if (phase !== 'left') return;
        const lost = new ClientError('NOT_JOINED', 'the room was left before the message was sent');
        for (const w of this.awaiting.values()) w.reject(lost);
        this.awaiting.clear();
      }),
      // A peer who rejoins the room missed what its chat sent meanwhile (hidden routing rides room
      // messages): its chat hears of it, as a room does (files.ts tells recent file hashes again).
      room.on('member-joined', (e) => {
        this.presence();
        for (const chat of this.chats.values())
          if (!chat.closed && this.nickOf(chat.peerIdentity) === e.nick) this.#handles.get(chat)?.peerRejoined(e.nick);
      }),
      // A peer with no leaf left is out of the room (it left, or its connection was gone past the
      // relay's grace period): its chat stops sending, rather than report `sent` what nobody reads.
      room.on('member-left', () => this.presence()),
      room.on('joined', () => this.presence()),
      // A peer who left the room (or whose connection is gone for good): its chat tells its files.
      room.on('member-left', (e) => {
        for (const chat of this.chats.values())
          if (!chat.closed && chat.peerIdentity === e.identity) this.#handles.get(chat)?.peerLeft(e.nick);
      }),
    ];
  }

  /** Tells each open chat whether its peer is in the room now; `peer-left` / `peer-back` when that changed. */
  private presence(): void {
    for (const chat of this.chats.values()) {
      const change = this.#handles.get(chat)?.presence(this.slotsOf(chat.peerIdentity).length > 0);
      if (change === 'left') this.emit('peer-left', { chat });
      else if (change === 'back') this.emit('peer-back', { chat });
    }
  }

  private enqueue(fn: () => Promise<void>): void {
    this.#queued++;
    this.inbox = this.inbox
      .then(fn)
      .catch((err: unknown) => this.fail(err))
      .finally(() => this.#queued--);
  }
  /** Tasks on the inbox not yet done. */
  #queued = 0;

  /** How each chat is driven (receive, close...): kept here, off the chat's public surface. */
  readonly #handles = new WeakMap<PrivateChat, PrivateChatHandle>();

  /** What a chat may ask of its owner, kept off this class's public surface. */
  readonly #owner: PrivateChatOwner = ((chats: PrivateChats): PrivateChatOwner => ({
    get room() {
      return chats.room;
    },
    get routing() {
      return chats.routing;
    },
    get selfIdentity() {
      return toHex(chats.room.roomCrypto.identity.publicKey);
    },
    crypto: () => chats.crypto(),
    delivered: (roomId, chat, id) => chats.delivered(roomId, chat.id, id),
    nickOf: (identity) => chats.nickOf(identity),
    targetOf: (chat, tried) => chats.targetOf(chat, tried),
    warn: (code, message) => chats.warn(code, message),
    shown: (e) => chats.shown(e),
    closeChat: (chat, byUs) => chats.closeChat(chat, byUs),
  }))(this);

  /** The slots of the room's leaves that carry this identity key (one, or two while a reconnect's old leaf lingers). */
  private slotsOf(identity: string): number[] {
    return this.room.members().flatMap((m) => (!m.self && toHex(m.identityKey) === identity ? [m.slot] : []));
  }

  /**
   * Where a direct message for this chat goes: the slot the chat last heard the peer
   * from, if a leaf with the peer's identity key still holds it; else the peer's newest leaf (slots
   * only grow: after a reconnect, the new one); undefined when the peer is not in the room. Never
   * one of `tried` (slots the relay said nobody holds).
   */
  private targetOf(chat: PrivateChat, tried: ReadonlySet<number> = new Set()): number | undefined {
    const slots = this.slotsOf(chat.peerIdentity).filter((s) => !tried.has(s));
    if (chat.peerSlot !== undefined && slots.includes(chat.peerSlot)) return chat.peerSlot;
    return slots.length === 0 ? undefined : Math.max(...slots);
  }

  private warn(code: 'OUT_OF_ORDER' | 'MISSING_MESSAGES', message: string): void {
    this.emit('error', { code, message });
  }

  /** The room's private-group factory (its cipher suite and identity), made once the room is joined. */
  crypto(): Promise<PrivateGroup> {
    // The room's suite is known once joined (joiners follow the creator's).
    this.pc ??= PrivateGroup.forRoom(this.room.roomCrypto);
    return this.pc;
  }

  private delivered(roomId: string, chat: string, id: string): Promise<void> {
    return new Promise((resolve, reject) => this.awaiting.set(roomId, { chat, id, resolve, reject }));
  }

  /** A message of a chat being taken up, still awaiting the relay at the restart: its chat tells what became of it. */
  private awaitFor(roomId: string, chat: string, id: string): void {
    const tell = (e?: unknown) => {
      const c = this.chats.get(chat);
      if (c !== undefined) this.#handles.get(c)?.delivery(id, e);
      else if (this.restoring.has(chat)) this.#early.push(e === undefined ? { chat, id } : { chat, id, e });
    };
    this.awaiting.set(roomId, { chat, id, resolve: () => tell(), reject: (e) => tell(e) });
  }

  private nickOf(identity: string): string | undefined {
    return this.room.members().find((m) => !m.self && toHex(m.identityKey) === identity)?.nick;
  }

  private myIdentity(): string {
    return toHex(this.room.roomCrypto.identity.publicKey);
  }

  /** The open chat with this member, if any. */
  with(nick: string): PrivateChat | undefined {
    const m = this.room.members().find((x) => !x.self && x.nick === nick);
    return m === undefined
      ? undefined
      : [...this.chats.values()].find((c) => c.peerIdentity === toHex(m.identityKey) && !c.closed && !c.peerLeft);
  }

  list(): PrivateChat[] {
    return [...this.chats.values()].filter((c) => !c.closed);
  }

  /** Opens a private chat with a member (or returns the one already open). */
  async open(nick: string): Promise<PrivateChat> {
    const existing = this.with(nick);
    if (existing !== undefined) return existing;
    const m = this.room.members().find((x) => !x.self && x.nick === nick);
    const profile = this.room.profile();
    if (profile === undefined) throw new ClientError('NOT_JOINED', 'the room is not joined now');
    if (m === undefined) throw new ClientError('NO_SUCH_MEMBER', 'no other member has that nickname');
    const peerIdentity = toHex(m.identityKey);
    const { keyPackage, pending } = await (await this.crypto()).offerKeyPackage(profile);
    const offer = randomHex(16);
    const chat = new Promise<PrivateChat>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.opening.delete(offer);
        discardPending(pending);
        reject(new ClientError('TIMED_OUT', 'the member did not answer the private chat request'));
      }, this.opts.openTimeoutMs ?? 30_000);
      (timer as { unref?: () => void }).unref?.();
      this.opening.set(offer, { pending, peerIdentity, resolve, reject, timer });
    });
    this.room.sendPayload({ type: 'dm-offer', to: peerIdentity, offer, kp: toBase64(keyPackage) });
    return chat;
  }

  /**
   * A chat this client held but no longer can (its group state did not survive a page reload): its
   * peer is told it is closed (`dm-close`, as `chat.close()` would), so they stop writing into it.
   */
  forget(chatId: string): void {
    if (!/^[0-9a-f]{32}$/.test(chatId) || this.chats.has(chatId) || this.room.state === 'left') return;
    this.room.sendPayload({ type: 'dm-close', chat: chatId });
  }

  close(): void {
    this.offs.forEach((off) => off());
    for (const o of this.opening.values()) clearTimeout(o.timer);
    this.awaiting.clear(); // nobody listens any more
  }

  /** What the room's saved session holds of our chats: the open ones (and, until taken up, those it held), with their messages awaiting the relay. */
  private saved(): SavedPrivateChat[] {
    const pending = (chat: string) =>
      [...this.awaiting].flatMap(([roomId, w]): [string, string][] => (w.chat === chat ? [[roomId, w.id]] : []));
    const open = [...this.chats.values()].flatMap((c) => (c.closed ? [] : [this.#handles.get(c)!.saved()]));
    return [...this.#unrestored, ...open].map((c) => ({ ...c, pending: pending(c.id) }));
  }

  /** Takes up the chats a restored room's saved session held (a state that does not open is dropped, its peer told). */
  private async restore(saved: readonly SavedPrivateChat[]): Promise<void> {
    const chats: PrivateChat[] = [];
    const lost: string[] = [];
    const pc = await this.crypto().catch(() => undefined);
    for (const s of saved) {
      try {
        if (pc === undefined) throw new Error('no private group');
        const state = await pc.importState(s.mls, fromHex(s.peer));
        const { chat, handle } = PrivateChat.open(this.#owner, this.room, { ...s, peerIdentity: s.peer, state });
        this.adopt(chat, handle);
        chats.push(chat);
      } catch {
        lost.push(s.id);
      }
    }
    this.#unrestored = [];
    this.restoring.clear();
    for (const id of lost) this.forget(id);
    this.presence();
    this.emit('restored', { chats, lost });
    for (const { chat, id, e } of this.#early.splice(0)) {
      const c = this.chats.get(chat);
      if (c !== undefined) this.#handles.get(c)?.delivery(id, e);
    }
  }

  /** A new chat: kept by its id, and its delivery reports told with it. */
  private adopt(chat: PrivateChat, handle: PrivateChatHandle): void {
    this.chats.set(chat.id, chat);
    this.#handles.set(chat, handle);
    chat.on('sent', (e) => this.emit('sent', { chat, id: e.id }));
    chat.on('unsent', (e) => this.emit('unsent', { chat, ...e }));
  }

  private closeChat(chat: PrivateChat, byUs: boolean): void {
    if (!this.#handles.get(chat)?.markClosed()) return;
    this.room.sessionChanged(); // a closed chat is not taken up again
    this.emit('closed', { chat, byUs });
  }

  /** A chat's text message, for the app. */
  private shown(e: PrivateMessage): void {
    this.emit('message', e);
  }

  /**
   * A DIRECT_DELIVER: the private group's ciphertext alone. Its group id (in the clear MLS framing)
   * names the chat; it is read only if the relay says it comes from a connection of the peer's (a
   * slot whose leaf carries the peer's identity key; `WRONG_SENDER` otherwise, unread), and then
   * MLS authenticates it as the peer's.
   */
  private async onDirect(from: number, data: Uint8Array): Promise<void> {
    const gid = privateMessageGroupId(data);
    if (gid === undefined) return this.emit('error', { code: 'BAD_MESSAGE', message: 'a direct message is not a private chat message' });
    const chat = this.chats.get(toHex(gid));
    if (chat === undefined) return this.emit('error', { code: 'BAD_MESSAGE', message: 'a direct message names no private chat of ours' });
    if (chat.closed) return; // as for `dm`: a closed chat reads nothing more
    if (!this.slotsOf(chat.peerIdentity).includes(from)) {
      return this.emit('error', { code: 'WRONG_SENDER', message: "a direct message did not come from the chat's peer: dropped" });
    }
    return this.read(chat, chat.peer, from, data, true);
  }

  /** Hidden private messages dropped unread since this started: other pairs' (or copies from another slot than the peer's). */
  get othersHidden(): number {
    return this.#othersHidden;
  }
  #othersHidden = 0;

  private hidden(from: number, view: HiddenMessage): void {
    // Nothing queued and no open chat: no chat can read it, now or once the inbox reaches it (every
    // room member receives every hidden message; most are others'). Else copied (`view` is the
    // frame's) and read in turn.
    if (this.#queued === 0 && this.list().length === 0) {
      this.#othersHidden++;
      return;
    }
    const hidden = { encryptedSenderData: view.encryptedSenderData.slice(), ciphertext: view.ciphertext.slice() };
    this.enqueue(() => this.onHidden(from, hidden));
  }

  /**
   * A hidden private message (docs/PROTOCOL.md §5.2): the open chat whose keys open its SenderData
   * reads it, if the relay says it comes from a connection of the peer's, and MLS then
   * authenticates it as the peer's. None of ours (another pair's message), or a copy another
   * member sent again: dropped without a word (counted in `othersHidden`).
   */
  private async onHidden(from: number, hidden: HiddenMessage): Promise<void> {
    for (const chat of this.chats.values()) {
      if (chat.closed) continue;
      const data = await this.#handles.get(chat)?.openHidden(hidden);
      if (data === undefined) continue;
      // Any member can wrap again a hidden message it saw pass: from another slot than the peer's, dropped unread, and said (as a direct one is).
      if (!this.slotsOf(chat.peerIdentity).includes(from)) {
        return this.emit('error', { code: 'WRONG_SENDER', message: "a hidden private message did not come from the chat's peer: dropped" });
      }
      return this.read(chat, chat.peer, from, data, false);
    }
    this.#othersHidden++;
  }

  private async read(chat: PrivateChat, from: string, slot: number, data: Uint8Array, direct: boolean): Promise<void> {
    const h = this.#handles.get(chat);
    if (h === undefined) return;
    const r = await h.receive(data);
    this.room.sessionChanged(); // the chat's state moved on
    if (r === undefined) return;
    if (r === 'bad-payload') return this.emit('error', { code: 'BAD_PAYLOAD', message: 'a private message is not in the expected format' });
    h.heard(from, slot, r.payload, r.outOfOrder, direct); // MLS authenticated it as the peer's
  }

  private fail(err: unknown): void {
    this.emit('error', { code: 'BAD_MESSAGE', message: err instanceof Error ? err.message : 'a private chat message was refused' });
  }

  private async onPrivate(from: string, senderIdentity: string, slot: number, p: PrivatePayload): Promise<void> {
    switch (p.type) {
      case 'dm-offer': {
        if (p.to !== this.myIdentity()) return; // for someone else
        const profile = this.room.profile();
        if (profile === undefined) return;
        const pc = await this.crypto();
        const made = await pc.create(profile, fromBase64(p.kp), fromHex(senderIdentity));
        const mls = pc.exportState(made.state);
        const start = { id: toHex(made.groupId), peerIdentity: senderIdentity, state: made.state, mls, nick: from, slot };
        const { chat, handle } = PrivateChat.open(this.#owner, this.room, start);
        this.adopt(chat, handle);
        this.room.sendPayload({ type: 'dm-welcome', to: senderIdentity, offer: p.offer, welcome: toBase64(made.welcome) });
        this.emit('opened', { chat, byUs: false });
        return;
      }
      case 'dm-welcome': {
        if (p.to !== this.myIdentity()) return;
        const o = this.opening.get(p.offer);
        // Only the member we asked may answer (the room authenticated who sent this).
        if (o === undefined || o.peerIdentity !== senderIdentity) return;
        this.opening.delete(p.offer);
        clearTimeout(o.timer);
        try {
          const pc = await this.crypto();
          const state = await pc.accept(o.pending, fromBase64(p.welcome), fromHex(senderIdentity));
          const start = {
            id: toHex(pc.groupIdOf(state)),
            peerIdentity: senderIdentity,
            state,
            mls: pc.exportState(state),
            nick: from,
            slot,
          };
          const opened = PrivateChat.open(this.#owner, this.room, start);
          const chat = opened.chat;
          this.adopt(chat, opened.handle);
          this.room.sessionChanged();
          this.emit('opened', { chat, byUs: true });
          o.resolve(chat);
        } catch (e) {
          o.reject(e);
        }
        return;
      }
      case 'dm': {
        const chat = this.chats.get(p.chat);
        // Not ours (another pair's), closed, or not from our peer: nothing to read.
        if (chat === undefined || chat.closed || chat.peerIdentity !== senderIdentity) return;
        return this.read(chat, from, slot, fromBase64(p.data), false);
      }
      case 'dm-close': {
        const chat = this.chats.get(p.chat);
        if (chat !== undefined && chat.peerIdentity === senderIdentity) this.closeChat(chat, false);
        return;
      }
    }
  }
}
