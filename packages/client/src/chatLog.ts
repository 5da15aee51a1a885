/**
 * Everyday chat over a conversation's payloads (docs/PROTOCOL.md §5.4): replies, reactions, edits,
 * deletes and typing. The log remembers the last `messages` messages (ours and others') with the
 * identity key that sent each one, so that an edit or a delete counts only when the identity key
 * that sends it is the one that sent the original (never the nickname: nicknames move), and a
 * reaction counts only on a message it knows. Whatever names an unknown id, or breaks a bound
 * (emoji per message, reactions per member), is dropped: a hostile member cannot grow it.
 *
 * A client that keeps its history past a reload (docs/PROTOCOL.md §4.5) saves what the log knows of
 * the messages it shows (`recall`) and seeds the log of the restored room with it (`remember`), so
 * that reactions, edits and deletes of those messages still count, by the same rules.
 *
 * Typing is rate limited where it is sent (one `on` per `typingEveryMs`) and expires where it is
 * received (`typingExpireMs` after the last `on`, or at once when that member's message arrives).
 */
import { ClientError } from './errors.js';
import { MAX_TEXT_CHARS, isReaction } from './payload.js';
import type { DeletePayload, EditPayload, ReactPayload, TextPayload, TypingPayload } from './payload.js';
import type { PayloadHandler, PayloadSender } from './payloadRouter.js';

export type ChatPayloadType = 'text' | 'react' | 'edit' | 'delete' | 'typing';
type ChatPayload = TextPayload | ReactPayload | EditPayload | DeletePayload | TypingPayload;
/** What the log sends: a chat payload without the fields its conversation adds (`v`, `id`, `n`, `ts`). */
export type ChatBody = ChatPayload extends infer P ? (P extends ChatPayload ? Omit<P, 'v' | 'id' | 'n' | 'ts'> : never) : never;

/** One emoji on one message: who put it there (their nicknames then) and whether we did. */
export interface Reaction {
  emoji: string;
  count: number;
  from: string[];
  mine: boolean;
}

/** A message the log knows, as a client shows a quote of it. */
export interface ChatMessageInfo {
  id: string;
  from: string;
  /** The text now (after edits); empty once deleted. */
  text: string;
  self: boolean;
  edited: boolean;
  deleted: boolean;
  replyTo: string | undefined;
  reactions: Reaction[];
}

/**
 * A message as the log knows it, to be kept past a reload (`recall`) and taken up again
 * (`remember`): who sent it (identity key, hex) and every reaction with who made it.
 */
export interface RememberedMessage {
  id: string;
  /** The sender's identity key (hex). */
  sender: string;
  /** The sender's nickname then. */
  from: string;
  text: string;
  edited?: boolean;
  deleted?: boolean;
  replyTo?: string;
  reactions?: { emoji: string; by: { sender: string; nick: string }[] }[];
}

export interface ChatEvents {
  /** `replyTo`: the id of the message this one answers (`info(replyTo)` quotes it, if we have it). */
  message: { from: string; text: string; ts: number; id: string; outOfOrder: boolean; replyTo?: string };
  /** The reactions on message `id` changed (ours or others'): all of them now. */
  reaction: { id: string; reactions: Reaction[] };
  /** Message `id` now reads `text`: its sender edited it (`self`: we did). */
  edited: { id: string; text: string; from: string; self: boolean };
  /** Message `id` was deleted by its sender (`self`: we did). */
  deleted: { id: string; from: string; self: boolean };
  /** A member started or stopped typing (or their `on` expired). */
  typing: { from: string; on: boolean };
}

export interface ChatLimits {
  /** Messages remembered (oldest forgotten first): reactions, edits and deletes of older ones are ignored. */
  messages: number;
  /** Different emoji on one message, at most; more are ignored. */
  emojiPerMessage: number;
  /** Reactions of one member on one message, at most. */
  reactionsPerMember: number;
  /** We send `typing: on` at most this often. */
  typingEveryMs: number;
  /** A member's `typing: on` is shown this long unless renewed. */
  typingExpireMs: number;
}
export const defaultChatLimits: ChatLimits = {
  messages: 2048,
  emojiPerMessage: 32,
  reactionsPerMember: 8,
  typingEveryMs: 3000,
  typingExpireMs: 6000,
};

/** What the log needs from its conversation (a Room). */
export interface ChatPort {
  sendPayload(body: ChatBody): string;
  route<K extends ChatPayloadType>(type: K, handler: PayloadHandler<K>): () => void;
  /** Our identity key (hex) and nickname now. */
  self(): { sender: string; nick: string };
  /** Whether typing should be sent now (joined; nothing is queued behind a lost connection). */
  live(): boolean;
}

interface Entry {
  sender: string;
  from: string;
  text: string;
  edited: boolean;
  deleted: boolean;
  replyTo: string | undefined;
  /** emoji -> sender identity key -> their nickname. */
  reactions: Map<string, Map<string, string>>;
}

const isHex = (v: unknown, n: number): v is string => typeof v === 'string' && v.length === n && /^[0-9a-f]*$/.test(v);

const checkText = (text: string) => {
  if (text.length === 0 || [...text].length > MAX_TEXT_CHARS) {
    throw new ClientError('MESSAGE_TOO_LARGE', `a message must be 1 to ${MAX_TEXT_CHARS} characters`);
  }
};

export class ChatLog {
  readonly #entries = new Map<string, Entry>();
  readonly #typing = new Map<string, { nick: string; timer: ReturnType<typeof setTimeout> }>();
  readonly #offs: (() => void)[];
  #typingSent: { on: boolean; at: number } = { on: false, at: 0 };

  constructor(
    private readonly port: ChatPort,
    private readonly emit: <K extends keyof ChatEvents>(type: K, e: ChatEvents[K]) => void,
    private readonly limits: ChatLimits = defaultChatLimits,
  ) {
    this.#offs = [
      port.route('text', (p, s) => this.#text(p.id, p.text, p.ts, p.re, s)),
      port.route('react', (p, s) => this.#react(p.target, p.emoji, p.on, s.sender, s.from)),
      port.route('edit', (p, s) => this.#edit(p.target, p.text, s.sender, s.from, false)),
      port.route('delete', (p, s) => this.#delete(p.target, s.sender, s.from, false)),
      port.route('typing', (p, s) => (p.on ? this.#typingOn(s) : this.#typingOff(s.sender))),
    ];
  }

  /** Queues a text (answering `replyTo`, a message the log knows); returns its id. */
  send(text: string, replyTo?: string): string {
    checkText(text);
    if (replyTo !== undefined) this.#known(replyTo);
    const id = this.port.sendPayload(replyTo === undefined ? { type: 'text', text } : { type: 'text', text, re: replyTo });
    const me = this.port.self();
    this.#remember(id, { ...me, from: me.nick, text, edited: false, deleted: false, replyTo, reactions: new Map() });
    this.#typingSent = { on: false, at: 0 }; // a message ends typing on the receivers' side
    return id;
  }

  /** Adds (`on`) or takes back our reaction `emoji` on message `id`; returns the payload's id. */
  react(id: string, emoji: string, on: boolean): string {
    this.#known(id);
    if (!isReaction(emoji)) throw new ClientError('BAD_REACTION', 'a reaction is one emoji');
    const me = this.port.self();
    const sent = this.port.sendPayload({ type: 'react', target: id, emoji, on });
    this.#react(id, emoji, on, me.sender, me.nick);
    return sent;
  }

  /** Replaces the text of our message `id`; returns the payload's id (acknowledged and retried like a message). */
  edit(id: string, text: string): string {
    checkText(text);
    this.#ours(id);
    const sent = this.port.sendPayload({ type: 'edit', target: id, text });
    const me = this.port.self();
    this.#edit(id, text, me.sender, me.nick, true);
    return sent;
  }

  /** Deletes our message `id` for everyone; returns the payload's id. */
  delete(id: string): string {
    this.#ours(id);
    const sent = this.port.sendPayload({ type: 'delete', target: id });
    const me = this.port.self();
    this.#delete(id, me.sender, me.nick, true);
    return sent;
  }

  /** Says we started (or stopped) typing: at most one `on` per `typingEveryMs`; an `off` only after an `on`. False when nothing was sent. */
  typing(on: boolean): boolean {
    const now = Date.now();
    const last = this.#typingSent;
    if (!this.port.live()) return false;
    if (on ? last.on && now - last.at < this.limits.typingEveryMs : !last.on) return false;
    this.#typingSent = { on, at: now };
    this.port.sendPayload({ type: 'typing', on });
    return true;
  }

  /** Message `id` as the log knows it, or undefined (never seen, or forgotten). */
  info(id: string): ChatMessageInfo | undefined {
    const e = this.#entries.get(id);
    if (e === undefined) return undefined;
    const { sender, reactions, ...rest } = e;
    return { id, ...rest, self: sender === this.port.self().sender, reactions: this.#summary(e) };
  }

  /** What the log knows of these messages (ids it never saw or forgot are left out), to keep past a reload. */
  recall(ids: Iterable<string>): RememberedMessage[] {
    const out: RememberedMessage[] = [];
    for (const id of ids) {
      const e = this.#entries.get(id);
      if (e === undefined) continue;
      const reactions = [...e.reactions].map(([emoji, who]) => ({ emoji, by: [...who].map(([sender, nick]) => ({ sender, nick })) }));
      out.push({
        id,
        sender: e.sender,
        from: e.from,
        text: e.text,
        ...(e.edited ? { edited: true } : {}),
        ...(e.deleted ? { deleted: true } : {}),
        ...(e.replyTo === undefined ? {} : { replyTo: e.replyTo }),
        ...(reactions.length === 0 ? {} : { reactions }),
      });
    }
    return out;
  }

  /**
   * Seeds the log with messages kept from before a reload (`recall`), oldest first, so that
   * reactions, edits and deletes of them count again (an edit or delete still only from the identity
   * key that sent the message, ours included). What the log knows already (a message read again) is
   * kept as it is; what breaks a bound or does not read as a message is left out. Emits nothing;
   * returns how many it took.
   */
  remember(messages: readonly RememberedMessage[]): number {
    let taken = 0;
    for (const m of messages) {
      const e = this.#entryOf(m);
      if (e === undefined || this.#entries.has(m.id)) continue;
      this.#remember(m.id, e);
      taken++;
    }
    return taken;
  }

  /** A remembered message read back strictly (it comes from storage), bounded like live ones. */
  #entryOf(m: RememberedMessage): Entry | undefined {
    if (typeof m !== 'object' || m === null || !isHex(m.id, 32) || !isHex(m.sender, 64) || typeof m.from !== 'string') return undefined;
    if (typeof m.text !== 'string' || [...m.text].length > MAX_TEXT_CHARS || (m.replyTo !== undefined && !isHex(m.replyTo, 32)))
      return undefined;
    const e: Entry = {
      sender: m.sender,
      from: m.from,
      text: m.deleted === true ? '' : m.text,
      edited: m.edited === true,
      deleted: m.deleted === true,
      replyTo: m.replyTo,
      reactions: new Map(),
    };
    if (e.deleted || !Array.isArray(m.reactions)) return e;
    const perMember = new Map<string, number>();
    for (const r of m.reactions) {
      if (typeof r !== 'object' || r === null || !isReaction(r.emoji) || !Array.isArray(r.by)) continue;
      if (e.reactions.size >= this.limits.emojiPerMessage) break;
      const who = new Map<string, string>();
      for (const b of r.by) {
        if (typeof b !== 'object' || b === null || !isHex(b.sender, 64) || typeof b.nick !== 'string') continue;
        const n = perMember.get(b.sender) ?? 0;
        if (n >= this.limits.reactionsPerMember || who.has(b.sender)) continue;
        perMember.set(b.sender, n + 1);
        who.set(b.sender, b.nick);
      }
      if (who.size > 0 && !e.reactions.has(r.emoji)) e.reactions.set(r.emoji, who);
    }
    return e;
  }

  /** Who is typing now (nicknames). */
  typingNow(): string[] {
    return [...this.#typing.values()].map((t) => t.nick);
  }

  close(): void {
    for (const off of this.#offs) off();
    for (const t of this.#typing.values()) clearTimeout(t.timer);
    this.#typing.clear();
  }

  #known(id: string): Entry {
    const e = this.#entries.get(id);
    if (e === undefined || e.deleted) throw new ClientError('NO_SUCH_MESSAGE', 'no such message (never seen, deleted, or too old)');
    return e;
  }

  #ours(id: string): void {
    if (this.#known(id).sender !== this.port.self().sender)
      throw new ClientError('NOT_YOURS', 'only its sender can edit or delete a message');
  }

  #remember(id: string, e: Entry): void {
    this.#entries.set(id, e);
    if (this.#entries.size > this.limits.messages) this.#entries.delete(this.#entries.keys().next().value!);
  }

  #text(id: string, text: string, ts: number, re: string | undefined, s: PayloadSender): void {
    // A message the log holds already (remembered from before a reload, read again) keeps its edits and reactions.
    if (!this.#entries.has(id))
      this.#remember(id, { sender: s.sender, from: s.from, text, edited: false, deleted: false, replyTo: re, reactions: new Map() });
    this.#typingOff(s.sender);
    this.emit('message', { from: s.from, text, ts, id, outOfOrder: s.outOfOrder, ...(re === undefined ? {} : { replyTo: re }) });
  }

  #react(id: string, emoji: string, on: boolean, sender: string, nick: string): void {
    const e = this.#entries.get(id);
    if (e === undefined || e.deleted) return;
    let who = e.reactions.get(emoji);
    if (on) {
      if (who?.has(sender)) return;
      let mine = 0;
      for (const w of e.reactions.values()) if (w.has(sender)) mine++;
      if (mine >= this.limits.reactionsPerMember) return;
      if (who === undefined) {
        if (e.reactions.size >= this.limits.emojiPerMessage) return;
        e.reactions.set(emoji, (who = new Map()));
      }
      who.set(sender, nick);
    } else {
      if (who?.delete(sender) !== true) return;
      if (who.size === 0) e.reactions.delete(emoji);
    }
    this.emit('reaction', { id, reactions: this.#summary(e) });
  }

  #edit(id: string, text: string, sender: string, nick: string, self: boolean): void {
    const e = this.#entries.get(id);
    if (e === undefined || e.deleted || e.sender !== sender) return; // §5.4: only the sender's own identity key edits
    e.text = text;
    e.edited = true;
    this.emit('edited', { id, text, from: nick, self });
  }

  #delete(id: string, sender: string, nick: string, self: boolean): void {
    const e = this.#entries.get(id);
    if (e === undefined || e.deleted || e.sender !== sender) return;
    e.deleted = true;
    e.text = '';
    e.reactions.clear();
    this.emit('deleted', { id, from: nick, self });
  }

  #typingOn(s: PayloadSender): void {
    const was = this.#typing.get(s.sender);
    if (was !== undefined) clearTimeout(was.timer);
    const timer = setTimeout(() => this.#typingOff(s.sender), this.limits.typingExpireMs);
    this.#typing.set(s.sender, { nick: s.from, timer });
    if (was === undefined) this.emit('typing', { from: s.from, on: true });
  }

  #typingOff(sender: string): void {
    const t = this.#typing.get(sender);
    if (t === undefined) return;
    clearTimeout(t.timer);
    this.#typing.delete(sender);
    this.emit('typing', { from: t.nick, on: false });
  }

  #summary(e: Entry): Reaction[] {
    const me = this.port.self().sender;
    return [...e.reactions].map(([emoji, who]) => ({ emoji, count: who.size, from: [...who.values()], mine: who.has(me) }));
  }
}
