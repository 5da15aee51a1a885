/**
 * A device's history of its account conversations (docs/PROTOCOL.md §11.13): every text message
 * received or sent, with its delivery state, each conversation's unread count and name, and the
 * notices of its changes (members added, removed, left; renamed: §11.15; never unread), over a store of
 * named sealed records (`SealedRecords`: the browser's `IndexedDbKeyStore.records`, the terminal's
 * `FileMessengerStore.history()`, `MemoryRecords` in tests).
 *
 * Records are chunked (historyRecord.ts): one meta record per conversation and one record per 200
 * of its messages, so appending a batch rewrites the last chunk and the meta of each conversation it
 * touches, never the whole history. Writes are ordered chunks first, then meta, then the list of
 * conversations: a crash in between leaves a chunk ahead of its meta, which the next load counts in.
 *
 * Once only: `append` skips a message whose (conversation, id) is among the conversation's last
 * 2048 messages. That window covers every message a device can be given again: the Messenger
 * appends before it saves its MLS state and acknowledges, so only the entries of the batch being
 * processed when it stopped can decrypt again, and the relay holds at most 2000 unacknowledged
 * entries per device (§11.11); an older entry sent again fails in MLS, whose keys for it are spent.
 * The same window bounds `update` (a delivery receipt for an older message is ignored).
 *
 * Every operation runs one at a time, in the order called.
 */
import type { SealedRecords } from './browserKeyStore.js';
import {
  decodeChunk,
  decodeList,
  decodeMeta,
  encodeChunk,
  encodeList,
  encodeMeta,
  type HistoryMeta,
  historyCorrupt,
  type StoredMessage,
} from './historyRecord.js';

export type { ConversationNotice, StoredMessage } from './historyRecord.js';
/** A message before it has its place in the history. */
export type NewMessage = Omit<StoredMessage, 'index'>;

export const HISTORY_CHUNK = 200;
export const HISTORY_WINDOW = 2048;
const MAX_PAGE = 1000;

/** A conversation as the history knows it. */
export interface HistoryEntry {
  readonly id: string;
  readonly last?: StoredMessage;
  readonly unread: number;
  /** The last message's time, or when the conversation was opened here. */
  readonly activeAt: number;
  readonly name?: string;
}

/** The last messages of one conversation, kept in memory while the history is open. */
interface Tail {
  meta: HistoryMeta;
  /** Loaded chunks, from the first one the window reaches to the last. */
  chunks: Map<number, StoredMessage[]>;
  ids: Map<string, number>;
  /** The meta was repaired on load (a chunk was ahead of it) and must be written. */
  repaired: boolean;
}

/** Records in memory: the default history of a Messenger, and tests'. */
export class MemoryRecords implements SealedRecords {
  private readonly map = new Map<string, Uint8Array>();
  async put(name: string, value: Uint8Array): Promise<void> {
    this.map.set(name, value.slice());
  }
  async get(name: string): Promise<Uint8Array | undefined> {
    return this.map.get(name)?.slice();
  }
  async remove(name: string): Promise<void> {
    this.map.delete(name);
  }
}

const chunkName = (id: string, k: number) => `c:${id}:${k}`;
const metaName = (id: string) => `c:${id}`;
const LIST = 'conversations';

/** A chunk's messages are its own conversation's, at their places (a record moved under another name does not open, but its content is checked too). */
function checked(id: string, k: number, chunk: StoredMessage[]): StoredMessage[] {
  if (chunk.length > HISTORY_CHUNK || chunk.some((m, i) => m.index !== k * HISTORY_CHUNK + i || m.conversation !== id))
    throw historyCorrupt('a message record is out of place');
  return chunk;
}

export class MessageHistory {
  private list: string[] | undefined;
  private readonly tails = new Map<string, Tail>();
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly records: SealedRecords) {}

  /** A history in memory only (lost with the process). */
  static memory(): MessageHistory {
    return new MessageHistory(new MemoryRecords());
  }

  /** Makes a conversation known (listed with no message yet) from `since`; nothing if it is already. */
  open(conversation: string, since: number): Promise<void> {
    return this.exclusive(async () => {
      if ((await this.ids()).includes(conversation)) return;
      const tail = await this.tail(conversation);
      if (tail.meta.since === 0) tail.meta.since = since;
      await this.records.put(metaName(conversation), encodeMeta(tail.meta));
      await this.addToList(conversation);
    });
  }

  /**
   * Adds messages at the end of their conversations, in order; one already there (same
   * conversation and id) is skipped. Those added, with their index.
   */
  append(messages: readonly NewMessage[]): Promise<StoredMessage[]> {
    return this.exclusive(async () => {
      const added: StoredMessage[] = [];
      const dirty = new Map<string, Map<number, StoredMessage[]>>();
      for (const m of messages) {
        const tail = await this.tail(m.conversation);
        if (tail.ids.has(m.id)) continue;
        const s: StoredMessage = { ...m, index: tail.meta.count };
        const k = Math.floor(s.index / HISTORY_CHUNK);
        const chunk = tail.chunks.get(k) ?? [];
        chunk.push(s);
        tail.chunks.set(k, chunk);
        tail.ids.set(s.id, s.index);
        tail.meta.count++;
        if (!s.own && s.kind !== 'notice') tail.meta.unread++;
        tail.meta.last = s;
        this.trim(tail);
        added.push(s);
        const d = dirty.get(m.conversation) ?? new Map<number, StoredMessage[]>();
        dirty.set(m.conversation, d.set(k, chunk));
      }
      for (const id of new Set(messages.map((m) => m.conversation))) {
        if (!dirty.has(id) && this.tails.get(id)?.repaired) dirty.set(id, new Map());
      }
      await this.write(dirty);
      return added;
    });
  }

  /**
   * Applies `change` to each of these messages of a conversation found in its window; `change`
   * answers the new message, or undefined to leave it. Those changed.
   */
  update(conversation: string, ids: readonly string[], change: (m: StoredMessage) => StoredMessage | undefined): Promise<StoredMessage[]> {
    return this.exclusive(async () => {
      const tail = await this.tail(conversation);
      const changed: StoredMessage[] = [];
      const touched = new Map<number, StoredMessage[]>();
      for (const id of new Set(ids)) {
        const index = tail.ids.get(id);
        if (index === undefined) continue;
        const k = Math.floor(index / HISTORY_CHUNK);
        const chunk = tail.chunks.get(k);
        const at = index - k * HISTORY_CHUNK;
        const old = chunk?.[at];
        if (chunk === undefined || old === undefined) continue;
        const next = change(old);
        if (next === undefined) continue;
        const s: StoredMessage = { ...next, conversation, id, index };
        chunk[at] = s;
        if (tail.meta.last?.index === index) tail.meta.last = s;
        touched.set(k, chunk);
        changed.push(s);
      }
      if (changed.length > 0) await this.write(new Map([[conversation, touched]]));
      return changed;
    });
  }

  /**
   * A conversation's messages, oldest first: the `limit` (default 50, at most 1000) just before
   * the message whose index is `before` (default: after the last one).
   */
  messages(conversation: string, o: { before?: number; limit?: number } = {}): Promise<StoredMessage[]> {
    return this.exclusive(async () => {
      const tail = await this.tail(conversation);
      const end = Math.max(0, Math.min(o.before ?? tail.meta.count, tail.meta.count));
      const start = Math.max(0, end - Math.max(0, Math.min(o.limit ?? 50, MAX_PAGE)));
      const out: StoredMessage[] = [];
      for (let k = Math.floor(start / HISTORY_CHUNK); k * HISTORY_CHUNK < end; k++) {
        const chunk = tail.chunks.get(k) ?? (await this.readChunk(conversation, k));
        for (const m of chunk) if (m.index >= start && m.index < end) out.push(m);
      }
      return out;
    });
  }

  /** Every conversation the history knows, with its unread count and last message. */
  conversations(): Promise<HistoryEntry[]> {
    return this.exclusive(async () => {
      const out: HistoryEntry[] = [];
      for (const id of await this.ids()) {
        const meta = this.tails.get(id)?.meta ?? (await this.readMeta(id));
        out.push({
          id,
          unread: meta.unread,
          activeAt: Math.max(meta.since, meta.last?.at ?? 0),
          ...(meta.last && { last: meta.last }),
          ...(meta.name !== undefined && { name: meta.name }),
        });
      }
      return out;
    });
  }

  /** Sets the conversation's name (kept in its meta). */
  setName(conversation: string, name: string): Promise<void> {
    return this.exclusive(async () => {
      const tail = await this.tail(conversation);
      if (tail.meta.name === name) return;
      tail.meta.name = name;
      await this.write(new Map([[conversation, new Map()]]));
    });
  }

  /** The conversation's name, if it has one. */
  name(conversation: string): Promise<string | undefined> {
    return this.exclusive(async () => (await this.tail(conversation)).meta.name);
  }

  /** Everything in the conversation so far counts as read. */
  markRead(conversation: string): Promise<void> {
    return this.exclusive(async () => {
      const tail = await this.tail(conversation);
      if (tail.meta.unread === 0) return;
      tail.meta.unread = 0;
      await this.write(new Map([[conversation, new Map()]]));
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** Writes these chunks of each conversation, then its meta, then the list if it is new to it. */
  private async write(dirty: ReadonlyMap<string, ReadonlyMap<number, readonly StoredMessage[]>>): Promise<void> {
    for (const [id, chunks] of dirty) {
      const tail = this.tails.get(id);
      if (tail === undefined) continue;
      for (const [k, chunk] of chunks) await this.records.put(chunkName(id, k), encodeChunk(chunk));
      await this.records.put(metaName(id), encodeMeta(tail.meta));
      tail.repaired = false;
      await this.addToList(id);
    }
  }

  private async addToList(id: string): Promise<void> {
    const ids = await this.ids();
    if (ids.includes(id)) return;
    const next = [...ids, id];
    await this.records.put(LIST, encodeList(next));
    this.list = next;
  }

  private async ids(): Promise<string[]> {
    if (this.list === undefined) {
      const b = await this.records.get(LIST);
      this.list = b === undefined ? [] : decodeList(b);
    }
    return this.list;
  }

  private async readMeta(id: string): Promise<HistoryMeta> {
    const b = await this.records.get(metaName(id));
    return b === undefined ? { count: 0, unread: 0, since: 0 } : decodeMeta(b);
  }

  /** A chunk the meta says exists; missing is HISTORY_CORRUPT (a browser record that did not open reads as missing). */
  private async readChunk(id: string, k: number): Promise<StoredMessage[]> {
    const b = await this.records.get(chunkName(id, k));
    if (b === undefined) throw historyCorrupt('a message record is missing');
    return checked(id, k, decodeChunk(b));
  }

  /** The conversation's last messages (loaded once), with a meta a crash left behind its chunks brought up to them. */
  private async tail(id: string): Promise<Tail> {
    const known = this.tails.get(id);
    if (known !== undefined) return known;
    const meta = await this.readMeta(id);
    const tail: Tail = { meta, chunks: new Map(), ids: new Map(), repaired: false };
    // Chunks written past the meta by a write a crash cut short: the messages count, once.
    for (let k = Math.floor(meta.count / HISTORY_CHUNK); ; k++) {
      const b = await this.records.get(chunkName(id, k));
      if (b === undefined) {
        if (k * HISTORY_CHUNK < meta.count) throw historyCorrupt('a message record is missing');
        break;
      }
      const chunk = checked(id, k, decodeChunk(b));
      tail.chunks.set(k, chunk);
      for (const m of chunk.slice(Math.max(0, meta.count - k * HISTORY_CHUNK))) {
        meta.count++;
        if (!m.own && m.kind !== 'notice') meta.unread++;
        meta.last = m;
        tail.repaired = true;
      }
      if (chunk.length < HISTORY_CHUNK) break;
    }
    const first = Math.max(0, Math.floor((meta.count - HISTORY_WINDOW) / HISTORY_CHUNK));
    for (let k = first; k * HISTORY_CHUNK < meta.count; k++) {
      const chunk = tail.chunks.get(k) ?? (await this.readChunk(id, k));
      tail.chunks.set(k, chunk);
      for (const m of chunk) tail.ids.set(m.id, m.index);
    }
    this.tails.set(id, tail);
    return tail;
  }

  /** Forgets chunks and ids that fell out of the window. */
  private trim(tail: Tail): void {
    const first = Math.floor((tail.meta.count - HISTORY_WINDOW) / HISTORY_CHUNK);
    for (const k of tail.chunks.keys()) {
      if (k >= first) continue;
      for (const m of tail.chunks.get(k) ?? []) tail.ids.delete(m.id);
      tail.chunks.delete(k);
    }
  }
}
