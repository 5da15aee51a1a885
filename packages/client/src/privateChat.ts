/**
 * One private chat with one member of a room (docs/PROTOCOL.md §5.2): its own two-member MLS group,
 * whose messages go through the room's outbox (a SendPort) either inside room messages (`hidden`)
 * or straight to the peer's connection (`direct`). PrivateChats (privateChats.ts) sets chats up
 * and hands them what arrives; files in a chat register with the chat's own payload router.
 *
 * Delivery, as for room messages: `send` returns the message's id at once, and the chat emits
 * `sent` {id} when the relay acknowledged it (hidden: the room message that carries it is in the
 * room's stream; direct: the relay handed the DIRECT frame to the peer's connection), or `unsent`
 * {id, code} when it never will be (the peer is not connected, the room was left, a refusal).
 *
 * A chat survives a restart within its room's saved session (roomSession.ts): after each
 * transition of its MLS state it keeps that state exported, which the room writes before any
 * message sealed with it leaves.
 *
 * Size: a little over 400 lines: one chat's whole surface (send and receive in two routings, the
 * chat log, presence, files' channel, its saved state) is kept in one place behind one handle.
 */
import type { HiddenMessage, PrivateGroup, PrivateGroupState } from '@nullroom/crypto';
import { ClientError, type ClientErrorCode, asClientError } from './errors.js';
import { fromHex, randomHex } from './encoding.js';
import { Emitter } from './emitter.js';
import type { FileChannel, FileChannelEvents, FilePayloadType } from './files.js';
import type { DirectTarget, SendPort } from './outbox.js';
import { type PayloadHandler, PayloadRouter } from './payloadRouter.js';
import { type PrivateInnerPayload, encodePayload, parsePrivateInner } from './payload.js';
import type { SavedPrivateChat } from './roomSession.js';
import type { RoomPhase } from './roomTypes.js';
import { type ChatEvents, type ChatMessageInfo, type ChatPayloadType, type ChatPort, ChatLog } from './chatLog.js';

/**
 * How this client sends private messages: `hidden` inside room messages, to every member (the relay
 * cannot tell who talks to whom), or `direct` to the peer's connection only (cheaper in large rooms;
 * the relay sees who talks to whom).
 */
export type PrivateRouting = 'hidden' | 'direct';
/** A private text message, as PrivateChats emits it. */
export interface PrivateMessage {
  chat: PrivateChat;
  from: string;
  text: string;
  ts: number;
  id: string;
  outOfOrder: boolean;
  direct: boolean;
  /** The id of the message it answers (`chat.message(replyTo)` quotes it, if we have it). */
  replyTo?: string;
}

/** What a chat tells of our own messages (and file payloads), by the id `send` returned. */
export interface PrivateDeliveryEvents {
  /** The relay acknowledged message `id`: in hidden routing the room message carrying it, in direct routing its hand-over to the peer's connection. */
  sent: { id: string };
  /**
   * Message `id` will not be sent: PEER_UNAVAILABLE (direct routing: the peer is not connected to
   * the room), NOT_JOINED (the room was left first), RELAY_ERROR (another refusal), INTERNAL (a bug).
   */
  unsent: { id: string; code: ClientErrorCode; message: string };
}

/** What a chat needs from the chats of its room (PrivateChats). */
export interface PrivateChatOwner {
  /** The room: our nickname there, and its upload ticket for files sent in the chat. */
  readonly room: { readonly nick: string; blobTicket(refused?: string): Promise<string> };
  /** Our identity key (hex): whose messages we may edit and delete. */
  readonly selfIdentity: string;
  /** How our private messages travel now. */
  readonly routing: PrivateRouting;
  crypto(): Promise<PrivateGroup>;
  /** Settles when the room message `roomId`, carrying the chat's message `id`, is acknowledged by the relay (resolves) or never will be (rejects with a ClientError). */
  delivered(roomId: string, chat: PrivateChat, id: string): Promise<void>;
  nickOf(identity: string): string | undefined;
  targetOf(chat: PrivateChat, tried: ReadonlySet<number>): number | undefined;
  warn(code: 'OUT_OF_ORDER' | 'MISSING_MESSAGES', message: string): void;
  shown(e: PrivateMessage): void;
  closeChat(chat: PrivateChat, byUs: boolean): void;
}

/** What the owner (PrivateChats) drives a chat through; only `PrivateChat.open`'s caller holds it. */
export interface PrivateChatHandle {
  /** The peer (re)joined the room. */
  peerRejoined(nick: string): void;
  /** The peer left the room (one of its leaves, at least: `hasMember` tells whether another is there). */
  peerLeft(nick: string): void;
  /** The room's connection state changed (the chat's files check their offers after a reconnect). */
  roomPhase(phase: RoomPhase): void;
  /** A hidden private message's chat message rebuilt if it is this chat's (PrivateGroup.openHidden), else undefined. */
  openHidden(hidden: HiddenMessage): Promise<Uint8Array | undefined>;
  /** Decrypts one message of this chat: undefined for a copy already read. */
  receive(data: Uint8Array): Promise<{ payload: PrivateInnerPayload; outOfOrder: boolean } | 'bad-payload' | undefined>;
  /** A message MLS authenticated as the peer's, from `slot`: shown (text) or handed to the chat's file handlers. */
  heard(from: string, slot: number, p: PrivateInnerPayload, outOfOrder: boolean, direct: boolean): void;
  /** Marks the chat closed; false when it was already. */
  markClosed(): boolean;
  /** Whether the peer is in the room now: 'left' or 'back' when that changed, else undefined. */
  presence(inRoom: boolean): 'left' | 'back' | undefined;
  /** What the room's saved session holds of the chat (roomSession.ts): its state after its last transition. */
  saved(): SavedPrivateChat;
  /** Our message `id`, sent before a restart, was acknowledged (no `e`) or never will be: `sent` or `unsent`. */
  delivery(id: string, e?: unknown): void;
}

/** A chat as PrivateChat.open takes it: new (counters at 0), or restored from a saved session. */
export interface ChatStart {
  id: string;
  peerIdentity: string;
  state: PrivateGroupState;
  /** `state` exported (PrivateGroup.exportState). */
  mls: Uint8Array;
  nick: string;
  slot: number;
  counter?: number;
  lastN?: number | undefined;
}

const SEEN_IDS = 1024;

type InnerBody = PrivateInnerPayload extends infer P ? (P extends PrivateInnerPayload ? Omit<P, 'v' | 'id' | 'n' | 'ts'> : never) : never;

/** One private chat with one member of the room; files sent through it (RoomFiles) stay between the two. */
/** `reaction`, `edited`, `deleted`, `typing` as a room emits them (chatLog.ts); messages come through PrivateChats' `message`. */
export type PrivateChatOwnEvents = FileChannelEvents & PrivateDeliveryEvents & Omit<ChatEvents, 'message'>;

export class PrivateChat extends Emitter<PrivateChatOwnEvents & Record<string, unknown>> implements FileChannel {
  private queue: Promise<unknown> = Promise.resolve();
  private counter = 0;
  /** The peer's last message counter, and the ids already shown (a direct message re-sent after a reconnect comes twice). */
  private lastN: number | undefined;
  private readonly seen = new Set<string>();
  #closed = false;
  /** The peer left the room: nothing is sent until it comes back (PEER_LEFT). */
  #peerLeft = false;
  /** The peer's nickname when we last heard from it. */
  #lastNick: string;
  /**
   * The peer's slot this chat last heard from (at first, the one in the peer's credential in the
   * chat): the connection that holds the chat's state, where direct messages go while it is in the room.
   */
  #peerSlot: number;
  /** Files in the chat register here (the chat's own payloads, not the room's). */
  readonly #router = new PayloadRouter<FilePayloadType | ChatPayloadType>();
  /** Replies, reactions, edits, deletes and typing, as in a room (docs/PROTOCOL.md §5.4). */
  readonly #log: ChatLog;
  /** Whether the payload being handed to the log came directly (for the `message` it may emit). */
  #direct = false;
  /** Where direct messages go, looked up at each (re)send. */
  readonly #target: DirectTarget;

  /** A new chat and the handle its owner drives it through. */
  static open(owner: PrivateChatOwner, port: SendPort, start: ChatStart): { chat: PrivateChat; handle: PrivateChatHandle } {
    const c = new PrivateChat(owner, port, start);
    const handle: PrivateChatHandle = {
      peerRejoined: (nick) => c.#peerRejoined(nick),
      peerLeft: (nick) => c.emit('member-left', { nick, identity: c.peerIdentity }),
      roomPhase: (phase) => c.emit('phase', { phase }),
      receive: (data) => c.#receive(data),
      openHidden: (hidden) => c.serial(async () => (await owner.crypto()).openHidden(c.state, hidden)),
      heard: (from, slot, p, outOfOrder, direct) => c.#heard(from, slot, p, outOfOrder, direct),
      markClosed: () => c.#markClosed(),
      presence: (inRoom) => c.#presence(inRoom),
      delivery: (id, e) => c.#told(id, e),
      saved: () => ({ id: c.id, peer: c.peerIdentity, nick: c.#lastNick, slot: c.#peerSlot, ...c.#saved, lastN: c.lastN }),
    };
    return { chat: c, handle };
  }

  /** The chat's MLS group id (hex): how messages name it. */
  readonly id: string;
  /** The peer's identity key (hex), as the room authenticated it. */
  readonly peerIdentity: string;
  private state: PrivateGroupState;
  /** The state as a saved session writes it, and our counter with it: taken after each transition, never in the middle of one. */
  #saved: { mls: Uint8Array; counter: number };

  private constructor(
    private readonly owner: PrivateChatOwner,
    /** The room's outbox, through which both routings send. */
    private readonly port: SendPort,
    start: ChatStart,
  ) {
    super();
    this.id = start.id;
    this.peerIdentity = start.peerIdentity;
    this.state = start.state;
    this.counter = start.counter ?? 0;
    this.lastN = start.lastN;
    this.#saved = { mls: start.mls, counter: this.counter };
    this.#lastNick = start.nick;
    this.#peerSlot = start.slot;
    this.#target = (tried) => owner.targetOf(this, tried);
    const chatPort: ChatPort = {
      sendPayload: (b) => this.#posted(b),
      route: (t, h) => this.#router.route(t, h),
      self: () => ({ sender: owner.selfIdentity, nick: this.nick }),
      live: () => !this.closed,
    };
    this.#log = new ChatLog(chatPort, (type, e) =>
      type === 'message'
        ? owner.shown({ chat: this, ...(e as ChatEvents['message']), direct: this.#direct })
        : this.emit(type as string, e as never),
    );
  }

  /** Whether the chat was closed (by either side). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the peer left the room (no leaf carries its identity key): sending is refused with PEER_LEFT until it comes back. */
  get peerLeft(): boolean {
    return this.#peerLeft;
  }

  /** Why nothing can be sent now, or undefined when the chat is open and its peer in the room. */
  #refusal(): ClientError | undefined {
    if (this.closed) return new ClientError('NOT_JOINED', 'the private chat was closed');
    if (this.#peerLeft) return new ClientError('PEER_LEFT', 'the peer left the room: the private chat is closed');
    return undefined;
  }

  /** Our nickname in the room. */
  get nick(): string {
    return this.owner.room.nick;
  }

  /** The peer's nickname in the room now (it can change when they rejoin), or the last one seen. */
  get peer(): string {
    return this.owner.nickOf(this.peerIdentity) ?? this.#lastNick;
  }

  /** Whether `identity` (hex) is the peer's, the chat is open and the peer is in the room now (files: is a file's sender still here). */
  hasMember(identity: string): boolean {
    return !this.closed && identity === this.peerIdentity && this.owner.nickOf(identity) !== undefined;
  }

  /** The slot the chat last heard its peer from. */
  get peerSlot(): number {
    return this.#peerSlot;
  }

  /** Registers a handler for the chat's file payloads (RoomFiles on this chat). */
  route<K extends FilePayloadType>(type: K, handler: PayloadHandler<K>): () => void {
    return this.#router.route(type, handler);
  }

  /**
   * Sends a message only the peer can read; returns its id at once. The chat then emits `sent`
   * {id} or `unsent` {id, code} (PrivateDeliveryEvents). Throws ClientError(MESSAGE_TOO_LARGE)
   * for an empty or too long text, (NOT_JOINED) when the chat is closed, (PEER_LEFT) while the
   * peer is out of the room (nothing is sent: it could not be read).
   */
  send(text: string, options: { replyTo?: string | undefined } = {}): string {
    this.#open();
    return this.#log.send(text, options.replyTo);
  }

  /** As Room.react, edit, delete, typing, message and typingNow, between the two of us (chatLog.ts). */
  react(id: string, emoji: string, on = true): string {
    this.#open();
    return this.#log.react(id, emoji, on);
  }
  edit(id: string, text: string): string {
    this.#open();
    return this.#log.edit(id, text);
  }
  delete(id: string): string {
    this.#open();
    return this.#log.delete(id);
  }
  typing(on: boolean): boolean {
    return !this.closed && this.#log.typing(on);
  }
  message(id: string): ChatMessageInfo | undefined {
    return this.#log.info(id);
  }
  typingNow(): string[] {
    return this.#log.typingNow();
  }

  /** Closed (NOT_JOINED), or the peer out of the room (PEER_LEFT): nothing is sent, it could not be read. */
  #open(): void {
    const refused = this.#refusal();
    if (refused !== undefined) throw refused;
  }

  /** Queues an inner payload of the log's; its delivery is told by `sent`/`unsent`. */
  #posted(body: InnerBody): string {
    const { id, queued } = this.post(body);
    queued.catch(() => undefined); // told by `unsent`
    return id;
  }

  /** Files sent in the chat go through the room's blob store, with the room's upload ticket. */
  blobTicket(refused?: string): Promise<string> {
    const no = this.#refusal();
    if (no !== undefined) return Promise.reject(no);
    return this.owner.room.blobTicket(refused);
  }

  /**
   * Sends any inner payload (a file offer from RoomFiles) to the peer only. Resolves with its id
   * once on its way: with `hidden` routing once queued in the room (the room re-sends it until
   * the relay acknowledges it), with `direct` routing once the relay handed it to the peer's
   * connection; rejects as `unsent` reports. `sent`/`unsent` are emitted for it too.
   */
  sendPayload(body: InnerBody): Promise<string> {
    const no = this.#refusal();
    if (no !== undefined) return Promise.reject(no);
    const { id, queued } = this.post(body);
    return queued.then(() => id);
  }

  /**
   * Seals and queues one inner payload in the current routing. `queued` settles once it is on its
   * way (see sendPayload); its acknowledgement, or why there will be none, is emitted.
   */
  private post(body: InnerBody): { id: string; queued: Promise<void> } {
    const id = randomHex(16);
    let queued: Promise<void>;
    let acked: Promise<void>;
    if (this.owner.routing === 'direct') {
      // n = 0 until sealed: a message the room never sends (peer away) leaves no gap in the count.
      const payload = { ...body, v: 1, id, n: 0, ts: Date.now() } as PrivateInnerPayload;
      queued = acked = this.port.sendDirect(this.#target, () => this.seal(payload));
    } else {
      const inRoom = this.serial(async () => {
        const payload = { ...body, v: 1, id, n: ++this.counter, ts: Date.now() } as PrivateInnerPayload;
        const pc = await this.owner.crypto();
        const out = await pc.encrypt(this.state, encodePayload(payload));
        this.#moved(pc, out.state);
        // Sealed once; the room wraps it for its epoch at each (re)send (a hidden private message,
        // docs/PROTOCOL.md §5.2). Waited for outside the chat's queue (boxed, so that the queue does not wait for the relay).
        return { acked: this.owner.delivered(this.port.sendHidden(out.message), this, id) };
      });
      queued = inRoom.then(() => undefined);
      acked = inRoom.then((r) => r.acked);
    }
    acked.then(
      () => this.#told(id),
      (e: unknown) => this.#told(id, e),
    );
    return { id, queued };
  }

  /** Tells what became of our message `id`: `sent`, or `unsent` with why (`e`). */
  #told(id: string, e?: unknown): void {
    if (e === undefined) return void this.emit('sent', { id });
    const err = asClientError(e);
    this.emit('unsent', { id, code: err.code, message: err.message });
  }

  /** The private group's MLS ciphertext of `payload`: a fresh one each call (a re-send keeps `n` and `id`). */
  private seal(payload: PrivateInnerPayload): Promise<Uint8Array> {
    return this.serial(async () => {
      if (payload.n === 0) payload.n = ++this.counter;
      const pc = await this.owner.crypto();
      const out = await pc.encrypt(this.state, encodePayload(payload));
      this.#moved(pc, out.state);
      return out.message;
    });
  }

  #peerRejoined(nick: string): void {
    this.emit('member-joined', { nick });
  }

  #heard(from: string, slot: number, p: PrivateInnerPayload, outOfOrder: boolean, direct: boolean): void {
    this.#lastNick = from;
    this.#peerSlot = slot; // that connection holds the chat
    this.#direct = direct;
    this.#router.dispatch(p, { from, sender: this.peerIdentity, identityKey: fromHex(this.peerIdentity), slot, outOfOrder });
  }

  /** Closes the chat on both sides. */
  close(): void {
    if (this.closed) return;
    this.port.sendPayload({ type: 'dm-close', chat: this.id });
    this.owner.closeChat(this, true);
  }

  #presence(inRoom: boolean): 'left' | 'back' | undefined {
    if (this.#closed || inRoom !== this.#peerLeft) return undefined;
    this.#peerLeft = !inRoom;
    return inRoom ? 'back' : 'left';
  }

  #markClosed(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    // Nothing more comes through a closed chat: files offered in it and not yet received never will be.
    this.emit('member-left', { nick: this.peer, identity: this.peerIdentity });
    this.#log.close();
    return true;
  }

  /**
   * Decrypts one message of this chat. Undefined for a copy already read; reports a
   * counter that goes back or skips, as rooms do (docs/PROTOCOL.md §5).
   */
  #receive(data: Uint8Array): Promise<{ payload: PrivateInnerPayload; outOfOrder: boolean } | 'bad-payload' | undefined> {
    return this.serial(async () => {
      const pc = await this.owner.crypto();
      const r = await pc.decrypt(this.state, data);
      this.#moved(pc, r.state);
      if (r.kind !== 'message') return undefined; // the peer's self-update: nothing to show
      const p = parsePrivateInner(r.plaintext);
      if (p === undefined) return 'bad-payload';
      if (this.seen.has(p.id)) return undefined;
      this.seen.add(p.id);
      if (this.seen.size > SEEN_IDS) this.seen.delete(this.seen.values().next().value!);
      const last = this.lastN;
      if (last !== undefined && p.n <= last) {
        this.owner.warn('OUT_OF_ORDER', 'private messages from the peer arrived out of order');
        return { payload: p, outOfOrder: true };
      }
      if (last !== undefined && p.n > last + 1)
        this.owner.warn('MISSING_MESSAGES', `${p.n - last - 1} private message(s) from the peer never arrived`);
      this.lastN = p.n;
      return { payload: p, outOfOrder: false };
    });
  }

  /** The chat's state after a transition, and what a saved session writes of it from now on. */
  #moved(pc: PrivateGroup, state: PrivateGroupState): void {
    this.state = state;
    this.#saved = { mls: pc.exportState(state), counter: this.counter };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
