/**
 * The records of a message history (messageHistory.ts) as bytes: UTF-8 JSON, each parsed through
 * one schema on the way back. A record that does not parse is HISTORY_CORRUPT, never "nothing":
 * a history read as empty would be overwritten and its messages lost.
 *
 *   "conversations"      ["<conversation id>", ...]                    every conversation with a record
 *   "c:<id>"             { v: 1, count, unread, since, last?, name? }  a conversation's meta
 *   "c:<id>:<k>"         { v: 1, messages: [StoredMessage, ...] }      its messages k*200 .. k*200+199
 */
import { z } from 'zod';
import { ClientError } from './errors.js';

/**
 * A file a message carries (docs/PROTOCOL.md §11.14): what the sender said of it, and what fetches
 * and opens it from the relay (`blob`, `key`, `header`, `sha256`). The key is kept only here, in
 * the sealed history: never log or show it.
 */
export interface FileRef {
  readonly name: string;
  /** The sender's claim: receivedType (fileSafety.ts) decides what it is shown as. */
  readonly mime: string;
  readonly size: number;
  readonly sha256: string;
  readonly blob: string;
  readonly key: string;
  readonly header: string;
  readonly thumb?: {
    readonly mime: 'image/jpeg' | 'image/png' | 'image/webp';
    readonly data: string;
    readonly w: number;
    readonly h: number;
  };
}

/** One message as a history keeps it (docs/PROTOCOL.md §11.13). */
export interface StoredMessage {
  readonly conversation: string;
  readonly id: string;
  /** The sending account (canonical name). */
  readonly from: string;
  /** The sending device's identity key, base64url. */
  readonly fromDevice: string;
  /** Sent by this account (this device or another of ours). */
  readonly own: boolean;
  /** Empty for a file message. */
  readonly text: string;
  /** A file message's file. */
  readonly file?: FileRef;
  /** A reply: the id of the message it answers (`Messenger.message` finds it for the quote, if still kept). */
  readonly replyTo?: string;
  /** The relay's accept time (a message this device sent: the local send time). */
  readonly at: number;
  /** The sender's clock. */
  readonly sentAt: number;
  /** Its place in the conversation's history: 0 for the first; `messages({ before })` pages by it. */
  readonly index: number;
  /** Only for messages this device sent. */
  readonly status?: 'sending' | 'sent' | 'failed';
  /** Devices (identity keys, base64url) that confirmed receipt; own messages only. */
  readonly deliveredTo?: readonly string[];
  /** How many other devices it was for when sent (or, for one of our other devices, when it came). */
  readonly recipients?: number;
  /** `notice`: a change to the conversation (its `notice`), not a message: `text` is empty, and it never counts as unread. */
  readonly kind?: 'notice';
  readonly notice?: ConversationNotice;
}

/**
 * A change to a conversation as its history shows it (docs/PROTOCOL.md §11.15): `by` added or
 * removed the accounts `names`, left it (`names`: `[by]`), or renamed it to `name`.
 */
export interface ConversationNotice {
  readonly what: 'added' | 'removed' | 'left' | 'renamed';
  readonly by: string;
  readonly names?: readonly string[];
  readonly name?: string;
}

/** What a conversation's meta record keeps: how many messages, how many unread, since when, and the last. */
export interface HistoryMeta {
  count: number;
  unread: number;
  since: number;
  last?: StoredMessage;
  /** The conversation's name, as its members last set it (§11.15). */
  name?: string;
}

const time = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const fileRef = z.strictObject({
  name: z.string().max(1024),
  mime: z.string().max(127),
  size: time,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  blob: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  key: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  header: z.string().regex(/^[A-Za-z0-9_-]{28}$/),
  thumb: z.optional(
    z.strictObject({
      mime: z.enum(['image/jpeg', 'image/png', 'image/webp']),
      data: z.string().max(65_536),
      w: z.number().int().min(1).max(4096),
      h: z.number().int().min(1).max(4096),
    }),
  ),
});
const stored = z.strictObject({
  conversation: z.string().max(64),
  id: z.string().max(64),
  from: z.string().max(256),
  fromDevice: z.string().max(64),
  own: z.boolean(),
  text: z.string().max(1 << 20),
  file: z.optional(fileRef),
  replyTo: z.optional(z.string().regex(/^[0-9a-f]{32}$/)),
  at: time,
  sentAt: time,
  index: time,
  status: z.optional(z.enum(['sending', 'sent', 'failed'])),
  deliveredTo: z.optional(z.array(z.string().max(64)).max(4096)),
  recipients: z.optional(
    z
      .number()
      .int()
      .min(0)
      .max(1 << 20),
  ),
  kind: z.optional(z.literal('notice')),
  notice: z.optional(
    z.strictObject({
      what: z.enum(['added', 'removed', 'left', 'renamed']),
      by: z.string().max(256),
      names: z.optional(z.array(z.string().max(256)).max(1000)),
      name: z.optional(z.string().max(256)),
    }),
  ),
});
const chunk = z.strictObject({ v: z.literal(1), messages: z.array(stored).max(10_000) });
const meta = z.strictObject({
  v: z.literal(1),
  count: time,
  unread: time,
  since: time,
  last: z.optional(stored),
  name: z.optional(z.string().max(256)),
});
const list = z.array(z.string().max(64)).max(1_000_000);

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export const historyCorrupt = (what: string) =>
  new ClientError(
    'HISTORY_CORRUPT',
    `the message history is damaged (${what}); it was left as it is. To start over, remove this device's history records`,
  );

function parse<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(bytes));
  } catch {
    throw historyCorrupt(what);
  }
  const r = schema.safeParse(json);
  if (!r.success) throw historyCorrupt(what);
  return r.data;
}

export const encodeChunk = (messages: readonly StoredMessage[]) => enc.encode(JSON.stringify({ v: 1, messages }));
export const decodeChunk = (b: Uint8Array): StoredMessage[] => parse(chunk, b, 'a message record').messages;
export const encodeMeta = (m: HistoryMeta) => enc.encode(JSON.stringify({ v: 1, ...m }));
export function decodeMeta(b: Uint8Array): HistoryMeta {
  const { v: _v, ...m } = parse(meta, b, 'a conversation record');
  return m;
}
export const encodeList = (ids: readonly string[]) => enc.encode(JSON.stringify(ids));
export const decodeList = (b: Uint8Array): string[] => parse(list, b, 'the list of conversations');
