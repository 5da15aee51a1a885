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
 */
import type { PrivateGroup, PrivateGroupState } from '@nullroom/crypto';
import { ClientError, type ClientErrorCode, asClientError } from './errors.js';
import { fromHex, randomHex, toBase64 } from './encoding.js';
import { Emitter } from './emitter.js';
import type { FileChannel, FileChannelEvents, FilePayloadType } from './files.js';
import type { DirectTarget, SendPort } from './outbox.js';
import { type PayloadHandler, PayloadRouter } from './payloadRouter.js';
import { MAX_TEXT_CHARS, type PrivateInnerPayload, encodePayload, parsePrivateInner } from './payload.js';

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
  /** How our private messages travel now. */
  readonly routing: PrivateRouting;
  crypto(): Promise<PrivateGroup>;
  /** Settles when the room message `roomId` is acknowledged by the relay (resolves) or never will be (rejects with a ClientError). */
  delivered(roomId: string): Promise<void>;
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
  /** Decrypts one message of this chat: undefined for a copy already read. */
  receive(data: Uint8Array): Promise<{ payload: PrivateInnerPayload; outOfOrder: boolean } | 'bad-payload' | undefined>;
  /** A message MLS authenticated as the peer's, from `slot`: shown (text) or handed to the chat's file handlers. */
  heard(from: string, slot: number, p: PrivateInnerPayload, outOfOrder: boolean, direct: boolean): void;
  /** Marks the chat closed; false when it was already. */
  markClosed(): boolean;
}

const SEEN_IDS = 1024;

type InnerBody = PrivateInnerPayload extends infer P ? (P extends PrivateInnerPayload ? Omit<P, 'v' | 'id' | 'n' | 'ts'> : never) : never;

/** One private chat with one member of the room; files sent through it (RoomFiles) stay between the two. */
export class PrivateChat extends Emitter<FileChannelEvents & PrivateDeliveryEvents & Record<string, unknown>> implements FileChannel {
  private queue: Promise<unknown> = Promise.resolve();
  private counter = 0;
  /** The peer's last message counter, and the ids already shown (a direct message re-sent after a reconnect comes twice). */
  private lastN: number | undefined;
  private readonly seen = new Set<string>();
  #closed = false;
  /** The peer's nickname when we last heard from it. */
  #lastNick: string;
  /**
   * The peer's slot this chat last heard from (at first, the one in the peer's credential in the
   * chat): the connection that holds the chat's state, where direct messages go while it is in the room.
   */
  #peerSlot: number;
  /** Files in the chat register here (the chat's own payloads, not the room's). */
  readonly #router = new PayloadRouter<FilePayloadType>();
  /** Where direct messages go, looked up at each (re)send. */
  readonly #target: DirectTarget;

  /** A new chat and the handle its owner drives it through. */
  static open(
    owner: PrivateChatOwner,
    port: SendPort,
    id: string,
    peerIdentity: string,
    state: PrivateGroupState,
    peer: { nick: string; slot: number },
  ): { chat: PrivateChat; handle: PrivateChatHandle } {
    const c = new PrivateChat(owner, port, id, peerIdentity, state, peer);
    const handle: PrivateChatHandle = {
      peerRejoined: (nick) => c.#peerRejoined(nick),
      receive: (data) => c.#receive(data),
      heard: (from, slot, p, outOfOrder, direct) => c.#heard(from, slot, p, outOfOrder, direct),
      markClosed: () => c.#markClosed(),
    };
    return { chat: c, handle };
  }

  private constructor(
    private readonly owner: PrivateChatOwner,
    /** The room's outbox, through which both routings send. */
    private readonly port: SendPort,
    /** The chat's MLS group id (hex): how messages name it. */
    readonly id: string,
    /** The peer's identity key (hex), as the room authenticated it. */
    readonly peerIdentity: string,
    private state: PrivateGroupState,
    peer: { nick: string; slot: number },
  ) {
    super();
    this.#lastNick = peer.nick;
    this.#peerSlot = peer.slot;
    this.#target = (tried) => owner.targetOf(this, tried);
  }

  /** Whether the chat was closed (by either side). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Our nickname in the room. */
  get nick(): string {
    return this.owner.room.nick;
  }

  /** The peer's nickname in the room now (it can change when they rejoin), or the last one seen. */
  get peer(): string {
    return this.owner.nickOf(this.peerIdentity) ?? this.#lastNick;
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
   * for an empty or too long text, (NOT_JOINED) when the chat is closed.
   */
  send(text: string): string {
    if (text.length === 0 || [...text].length > MAX_TEXT_CHARS) {
      throw new ClientError('MESSAGE_TOO_LARGE', `a message must be 1 to ${MAX_TEXT_CHARS} characters`);
    }
    if (this.closed) throw new ClientError('NOT_JOINED', 'the private chat was closed');
    const { id, queued } = this.post({ type: 'text', text });
    queued.catch(() => undefined); // told by `unsent`
    return id;
  }

  /** Files sent in the chat go through the room's blob store, with the room's upload ticket. */
  blobTicket(refused?: string): Promise<string> {
    if (this.closed) return Promise.reject(new ClientError('NOT_JOINED', 'the private chat was closed'));
    return this.owner.room.blobTicket(refused);
  }

  /**
   * Sends any inner payload (a file offer from RoomFiles) to the peer only. Resolves with its id
   * once on its way: with `hidden` routing once queued in the room (the room re-sends it until
   * the relay acknowledges it), with `direct` routing once the relay handed it to the peer's
   * connection; rejects as `unsent` reports. `sent`/`unsent` are emitted for it too.
   */
  sendPayload(body: InnerBody): Promise<string> {
    if (this.closed) return Promise.reject(new ClientError('NOT_JOINED', 'the private chat was closed'));
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
        const out = await (await this.owner.crypto()).encrypt(this.state, encodePayload(payload));
        this.state = out.state;
        // Waited for outside the chat's queue (boxed, so that the queue does not wait for the relay).
        return { acked: this.owner.delivered(this.port.sendPayload({ type: 'dm', chat: this.id, data: toBase64(out.message) })) };
      });
      queued = inRoom.then(() => undefined);
      acked = inRoom.then((r) => r.acked);
    }
    acked.then(
      () => this.emit('sent', { id }),
      (e: unknown) => {
        const err = asClientError(e);
        this.emit('unsent', { id, code: err.code, message: err.message });
      },
    );
    return { id, queued };
  }

  /** The private group's MLS ciphertext of `payload`: a fresh one each call (a re-send keeps `n` and `id`). */
  private seal(payload: PrivateInnerPayload): Promise<Uint8Array> {
    return this.serial(async () => {
      if (payload.n === 0) payload.n = ++this.counter;
      const out = await (await this.owner.crypto()).encrypt(this.state, encodePayload(payload));
      this.state = out.state;
      return out.message;
    });
  }

  #peerRejoined(nick: string): void {
    this.emit('member-joined', { nick });
  }

  #heard(from: string, slot: number, p: PrivateInnerPayload, outOfOrder: boolean, direct: boolean): void {
    this.#lastNick = from;
    this.#peerSlot = slot; // that connection holds the chat
    if (p.type === 'text') return this.owner.shown({ chat: this, from, text: p.text, ts: p.ts, id: p.id, outOfOrder, direct });
    this.#router.dispatch(p, { from, sender: this.peerIdentity, identityKey: fromHex(this.peerIdentity), slot, outOfOrder });
  }

  /** Closes the chat on both sides. */
  close(): void {
    if (this.closed) return;
    this.port.sendPayload({ type: 'dm-close', chat: this.id });
    this.owner.closeChat(this, true);
  }

  #markClosed(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    return true;
  }

  /**
   * Decrypts one message of this chat. Undefined for a copy already read; reports a
   * counter that goes back or skips, as rooms do (docs/PROTOCOL.md §5).
   */
  #receive(data: Uint8Array): Promise<{ payload: PrivateInnerPayload; outOfOrder: boolean } | 'bad-payload' | undefined> {
    return this.serial(async () => {
      const r = await (await this.owner.crypto()).decrypt(this.state, data);
      this.state = r.state;
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

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
