/**
 * Private one-to-one chats inside a room (issue #4; docs/PROTOCOL.md §5.3).
 *
 * A private chat is its own two-member MLS group (@nullroom/crypto privateChat.ts). To open one,
 * a member sends a `dm-offer` with a fresh key package, addressed by the identity key of the
 * member it is for; that member makes the group from it (checking that the key package carries
 * the identity key the room shows for the opener) and answers with a `dm-welcome`, addressed back.
 * Set-up travels inside the room's MLS group, so the relay sees only room traffic. Messages are
 * MLS application messages of the private group; they travel as `dm` payloads inside room
 * messages, so the relay cannot tell which member they are for, nor that they are private at all
 * (the other members can decrypt the room layer and see that a private message passed, and
 * between whom, but not a word of it). docs/SECURITY.md §8 says what each party learns.
 */
import { type PendingKeyPackage, PrivateChatCrypto, type PrivateChatState, discardPending } from '@nullroom/crypto';
import { ClientError } from './errors.js';
import { fromBase64, fromHex, randomHex, toBase64, toHex } from './encoding.js';
import { Emitter } from './emitter.js';
import type { FileChannel, FileChannelEvents } from './files.js';
import { MAX_TEXT_CHARS, type PrivateInnerPayload, type PrivatePayload, encodePayload, parsePrivateInner } from './payload.js';
import type { Room } from './room.js';


export interface PrivateChatEvents extends Record<string, unknown> {
  opened: { chat: PrivateChat; byUs: boolean };
  message: { chat: PrivateChat; from: string; text: string; ts: number; id: string };
  closed: { chat: PrivateChat; byUs: boolean };
  error: { code: 'BAD_MESSAGE' | 'BAD_PAYLOAD'; message: string };
}

type InnerBody = PrivateInnerPayload extends infer P ? (P extends PrivateInnerPayload ? Omit<P, 'v' | 'id' | 'n' | 'ts'> : never) : never;

/** One private chat with one member of the room; files sent through it (RoomFiles) stay between the two. */
export class PrivateChat extends Emitter<FileChannelEvents & Record<string, unknown>> implements FileChannel {
  private queue: Promise<unknown> = Promise.resolve();
  private counter = 0;
  closed = false;

  constructor(
    private readonly owner: PrivateChats,
    /** The chat's MLS group id (hex): how messages name it. */
    readonly id: string,
    /** The peer's identity key (hex), as the room authenticated it. */
    readonly peerIdentity: string,
    private state: PrivateChatState,
  ) {
    super();
  }

  /** Our nickname in the room. */
  get nick(): string {
    return this.owner.room.nick;
  }

  /** The peer's nickname in the room now (it can change when they rejoin), or the last one seen. */
  get peer(): string {
    return this.owner.nickOf(this.peerIdentity) ?? this.lastNick;
  }
  /** @internal */
  lastNick = '';

  /** Sends a message only the peer can read. Resolves once it is queued in the room. */
  send(text: string): Promise<string> {
    if (text.length === 0 || [...text].length > MAX_TEXT_CHARS) {
      return Promise.reject(new ClientError('MESSAGE_TOO_LARGE', `a message must be 1 to ${MAX_TEXT_CHARS} characters`));
    }
    return this.sendPayload({ type: 'text', text });
  }

  /** Sends any inner payload (a text, or a file offer from RoomFiles) to the peer only. */
  sendPayload(body: InnerBody): Promise<string> {
    if (this.closed) return Promise.reject(new ClientError('NOT_JOINED', 'the private chat was closed'));
    return this.serial(async () => {
      const id = randomHex(16);
      const payload = { ...body, v: 1, id, n: ++this.counter, ts: Date.now() } as PrivateInnerPayload;
      const out = await (await this.owner.crypto()).encrypt(this.state, encodePayload(payload));
      this.state = out.state;
      this.owner.room.sendPayload({ type: 'dm', chat: this.id, data: toBase64(out.message) });
      return id;
    });
  }

  /** @internal A file payload from the peer, for the RoomFiles listening on this chat. */
  deliver(from: string, p: Exclude<PrivateInnerPayload, { type: 'text' }>): void {
    if (p.type === 'file') this.emit('file-offer', { from, offer: p });
    else if (p.type === 'file-done') this.emit('file-done', { from, done: p });
    else this.emit('file-cancel', { from, cancel: p });
  }

  /** Closes the chat on both sides. */
  close(): void {
    if (this.closed) return;
    this.owner.room.sendPayload({ type: 'dm-close', chat: this.id });
    this.owner.closeChat(this, true);
  }

  /** @internal */
  receive(data: Uint8Array): Promise<PrivateInnerPayload | undefined> {
    return this.serial(async () => {
      const r = await (await this.owner.crypto()).decrypt(this.state, data);
      this.state = r.state;
      return r.kind === 'message' ? parsePrivateInner(r.plaintext) : undefined;
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
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
  private pc: Promise<PrivateChatCrypto> | undefined;
  private readonly off: () => void;

  constructor(
    readonly room: Room,
    private readonly opts: { openTimeoutMs?: number } = {},
  ) {
    super();
    this.off = room.on('private', (e) => void this.onPrivate(e.from, toHex(e.identityKey), e.payload).catch((err: unknown) => this.fail(err)));
  }

  /** @internal */
  crypto(): Promise<PrivateChatCrypto> {
    // The room's suite is known once joined (joiners follow the creator's).
    this.pc ??= PrivateChatCrypto.forRoom(this.room.roomCrypto);
    return this.pc;
  }

  /** @internal */
  nickOf(identity: string): string | undefined {
    return this.room.members().find((m) => !m.self && toHex(m.identityKey) === identity)?.nick;
  }

  private myIdentity(): string {
    return toHex(this.room.roomCrypto.identity.publicKey);
  }

  /** The open chat with this member, if any. */
  with(nick: string): PrivateChat | undefined {
    const m = this.room.members().find((x) => !x.self && x.nick === nick);
    return m === undefined ? undefined : [...this.chats.values()].find((c) => c.peerIdentity === toHex(m.identityKey) && !c.closed);
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
    if (m === undefined || profile === undefined) throw new ClientError('NOT_JOINED', 'no other member has that nickname');
    const peerIdentity = toHex(m.identityKey);
    const { keyPackage, pending } = await (await this.crypto()).offerKeyPackage(profile);
    const offer = randomHex(16);
    const chat = new Promise<PrivateChat>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.opening.delete(offer);
        discardPending(pending);
        reject(new ClientError('NOT_JOINED', 'the member did not answer the private chat request'));
      }, this.opts.openTimeoutMs ?? 30_000);
      (timer as { unref?: () => void }).unref?.();
      this.opening.set(offer, { pending, peerIdentity, resolve, reject, timer });
    });
    this.room.sendPayload({ type: 'dm-offer', to: peerIdentity, offer, kp: toBase64(keyPackage) });
    const c = await chat;
    c.lastNick = nick;
    return c;
  }

  close(): void {
    this.off();
    for (const o of this.opening.values()) clearTimeout(o.timer);
  }

  /** @internal */
  closeChat(chat: PrivateChat, byUs: boolean): void {
    if (chat.closed) return;
    chat.closed = true;
    this.emit('closed', { chat, byUs });
  }

  private fail(err: unknown): void {
    this.emit('error', { code: 'BAD_MESSAGE', message: err instanceof Error ? err.message : 'a private chat message was refused' });
  }

  private async onPrivate(from: string, senderIdentity: string, p: PrivatePayload): Promise<void> {
    switch (p.type) {
      case 'dm-offer': {
        if (p.to !== this.myIdentity()) return; // for someone else
        const profile = this.room.profile();
        if (profile === undefined) return;
        const made = await (await this.crypto()).create(profile, fromBase64(p.kp), fromHex(senderIdentity));
        const chat = new PrivateChat(this, toHex(made.groupId), senderIdentity, made.state);
        chat.lastNick = from;
        this.chats.set(chat.id, chat);
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
          const chat = new PrivateChat(this, toHex(pc.groupIdOf(state)), senderIdentity, state);
          chat.lastNick = from;
          this.chats.set(chat.id, chat);
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
        const inner = await chat.receive(fromBase64(p.data));
        if (inner === undefined) return this.emit('error', { code: 'BAD_PAYLOAD', message: 'a private message is not in the expected format' });
        chat.lastNick = from;
        if (inner.type === 'text') this.emit('message', { chat, from, text: inner.text, ts: inner.ts, id: inner.id });
        else chat.deliver(from, inner);
        return;
      }
      case 'dm-close': {
        const chat = this.chats.get(p.chat);
        if (chat !== undefined && chat.peerIdentity === senderIdentity) this.closeChat(chat, false);
        return;
      }
    }
  }
}
