/**
 * What travels inside an MLS application message (docs/PROTOCOL.md §5). UTF-8 JSON, parsed through
 * one schema: anything else is BAD_PAYLOAD. `n` counts a sender's messages so that a relay that
 * drops or reorders them is noticed; `id` lets receivers drop the copy a sender re-sends after a
 * reconnect.
 */
import { z } from 'zod';

export const MAX_TEXT_CHARS = 16 * 1024;
const enc = new TextEncoder();

/** The largest file we offer to send or accept (the relay sets its own limit too). */
export const MAX_FILE_BYTES = 64 * 1024 ** 3;
export const MAX_FILE_NAME_CHARS = 255;
export const MAX_THUMBNAIL_BYTES = 48 * 1024;

const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n}}$`));
const b64url = (n: number) => z.string().regex(new RegExp(`^[A-Za-z0-9_-]{${n}}$`));
const base = {
  v: z.literal(1),
  id: hex(32),
  n: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  ts: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
};

/** `re`: the id of an earlier message this one answers (the receiver quotes it if it has it). */
const textPayload = z.strictObject({
  ...base,
  type: z.literal('text'),
  text: z.string().min(1).max(MAX_TEXT_CHARS),
  re: z.optional(hex(32)),
});

/** The most UTF-8 bytes a reaction may have: one emoji, ZWJ family sequences and tag flags included. */
export const MAX_REACTION_BYTES = 32;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
/** One grapheme cluster of at most MAX_REACTION_BYTES bytes that is an emoji (a pictograph, or a flag of regional indicators). */
export function isReaction(s: string): boolean {
  if (s.length === 0 || enc.encode(s).length > MAX_REACTION_BYTES) return false;
  const it = graphemes.segment(s)[Symbol.iterator]();
  it.next();
  if (!it.next().done) return false;
  return /\p{Extended_Pictographic}|\p{Regional_Indicator}{2}|[#*0-9]\ufe0f?\u20e3/u.test(s);
}

/**
 * Everyday chat (docs/PROTOCOL.md §5.4): a reaction added or taken back, an edit and a delete of
 * an earlier message (`target`: its id; only its sender's count), and typing started or stopped.
 */
const reactPayload = z.strictObject({
  ...base,
  type: z.literal('react'),
  target: hex(32),
  emoji: z.string().max(MAX_REACTION_BYTES).refine(isReaction),
  on: z.boolean(),
});
const editPayload = z.strictObject({ ...base, type: z.literal('edit'), target: hex(32), text: z.string().min(1).max(MAX_TEXT_CHARS) });
const deletePayload = z.strictObject({ ...base, type: z.literal('delete'), target: hex(32) });
const typingPayload = z.strictObject({ ...base, type: z.literal('typing'), on: z.boolean() });

/**
 * A file offer: everything a receiver needs to fetch and open the encrypted chunks from the relay's
 * blob store. Name, type, size and key travel only here, inside MLS (docs/PROTOCOL.md §5).
 */
const filePayload = z.strictObject({
  ...base,
  type: z.literal('file'),
  /** The transfer, as later messages about it name it. */
  fid: hex(32),
  name: z.string().min(1).max(MAX_FILE_NAME_CHARS),
  mime: z
    .string()
    .max(127)
    .regex(/^[\w.+-]+\/[\w.+-]+$|^$/),
  size: z.number().int().min(0).max(MAX_FILE_BYTES),
  /** The file key (32 bytes) and the STREAM header (21 bytes), base64url. */
  key: b64url(43),
  header: b64url(28),
  /** The relay blob that holds the sealed chunks (a 128-bit capability to read them). */
  blob: b64url(22),
  /** A small image preview (JPEG or PNG, base64), shown before the full image is fetched. */
  thumb: z.optional(
    z.strictObject({
      mime: z.enum(['image/jpeg', 'image/png', 'image/webp']),
      data: z.string().max(Math.ceil(MAX_THUMBNAIL_BYTES / 3) * 4),
      w: z.number().int().min(1).max(4096),
      h: z.number().int().min(1).max(4096),
    }),
  ),
});

/**
 * A file in an account conversation (accountFiles.ts; docs/PROTOCOL.md §11.14): uploaded whole
 * before this message is sent, so it carries everything at once, the plaintext's SHA-256 included.
 * The file fields are the `file` offer's; there is no transfer id (the message id names it).
 */
const { fid: _fid, type: _type, ...fileFields } = filePayload.shape;
const attachmentPayload = z.strictObject({ ...fileFields, type: z.literal('attachment'), sha256: hex(64) });

/** The sender finished uploading: the SHA-256 of the plaintext, to check the whole file against. */
const fileDonePayload = z.strictObject({ ...base, type: z.literal('file-done'), fid: hex(32), sha256: hex(64) });
/** The sender gave up on a transfer (the blob is deleted). */
const fileCancelPayload = z.strictObject({ ...base, type: z.literal('file-cancel'), fid: hex(32) });

/**
 * Private chats (privateChats.ts). Set-up travels inside the room's MLS group, addressed by the
 * identity key of the member it is for: an offer carries the opener's key package, the answer the
 * Welcome of the two-member group made from it. Messages of the private group travel either inside
 * room messages (`dm`, so the relay cannot tell them from room traffic) or straight to the peer.
 */
const b64 = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/);
const dmOfferPayload = z.strictObject({ ...base, type: z.literal('dm-offer'), to: hex(64), offer: hex(32), kp: b64(24 * 1024) });
const dmWelcomePayload = z.strictObject({ ...base, type: z.literal('dm-welcome'), to: hex(64), offer: hex(32), welcome: b64(96 * 1024) });
const dmPayload = z.strictObject({ ...base, type: z.literal('dm'), chat: hex(32), data: b64(1024 * 1024) });
const dmClosePayload = z.strictObject({ ...base, type: z.literal('dm-close'), chat: hex(32) });

/**
 * A room's name (roomName.ts; docs/PROTOCOL.md §5.3): chosen by its members, never known to the relay.
 * 1..64 code points, no space at either end, no control or bidirectional-override character.
 */
export const MAX_ROOM_NAME_CHARS = 64;
export const roomNameSchema = z
  .string()
  .min(1)
  .max(MAX_ROOM_NAME_CHARS)
  .refine((s) => s === s.trim() && !/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u.test(s));
/**
 * Without `to`: a member renamed the room (everyone takes it). With `to` (a joiner's identity key): the
 * name now, told to that member once it joined (only it takes it, and only if it heard no rename since).
 */
const roomNamePayload = z.strictObject({ ...base, type: z.literal('room-name'), name: roomNameSchema, to: z.optional(hex(64)) });

/**
 * A delivery receipt in an account conversation (messenger.ts; docs/PROTOCOL.md §11.13): the ids of
 * the text messages of other devices this device has stored, batched per conversation.
 */
export const MAX_RECEIPT_IDS = 500;
const receiptPayload = z.strictObject({ ...base, type: z.literal('receipt'), ids: z.array(hex(32)).min(1).max(MAX_RECEIPT_IDS) });

/**
 * An account conversation's name, set by a member (conversationMembers.ts; docs/PROTOCOL.md §11.15),
 * with the room name's rules. `again`: the name as it already is, told after an addition so that
 * the devices added learn it (not a rename).
 */
const conversationNamePayload = z.strictObject({
  ...base,
  type: z.literal('conversation-name'),
  name: roomNameSchema,
  again: z.optional(z.literal(true)),
});
/** The sending account leaves the account conversation: every member removes its leaves (§11.15). */
const leavePayload = z.strictObject({ ...base, type: z.literal('leave') });

const payload = z.discriminatedUnion('type', [
  textPayload,
  reactPayload,
  editPayload,
  deletePayload,
  typingPayload,
  filePayload,
  fileDonePayload,
  fileCancelPayload,
  dmOfferPayload,
  dmWelcomePayload,
  dmPayload,
  dmClosePayload,
  roomNamePayload,
  receiptPayload,
  attachmentPayload,
  conversationNamePayload,
  leavePayload,
]);
export type RoomNamePayload = z.infer<typeof roomNamePayload>;
export type DmOfferPayload = z.infer<typeof dmOfferPayload>;
export type DmWelcomePayload = z.infer<typeof dmWelcomePayload>;
export type DmPayload = z.infer<typeof dmPayload>;
export type DmClosePayload = z.infer<typeof dmClosePayload>;
export type PrivatePayload = DmOfferPayload | DmWelcomePayload | DmPayload | DmClosePayload;

/** What travels inside a private chat's own MLS messages: text, everyday chat (§5.4) and files (never private-chat set-up). */
export type PrivateInnerPayload =
  | TextPayload
  | ReactPayload
  | EditPayload
  | DeletePayload
  | TypingPayload
  | FilePayload
  | FileDonePayload
  | FileCancelPayload;
const PRIVATE_INNER = new Set(['text', 'react', 'edit', 'delete', 'typing', 'file', 'file-done', 'file-cancel']);
export function parsePrivateInner(bytes: Uint8Array): PrivateInnerPayload | undefined {
  const p = parsePayload(bytes);
  return p !== undefined && PRIVATE_INNER.has(p.type) ? (p as PrivateInnerPayload) : undefined;
}
export type TextPayload = z.infer<typeof textPayload>;
export type ReactPayload = z.infer<typeof reactPayload>;
export type EditPayload = z.infer<typeof editPayload>;
export type DeletePayload = z.infer<typeof deletePayload>;
export type TypingPayload = z.infer<typeof typingPayload>;
export type FilePayload = z.infer<typeof filePayload>;
export type FileDonePayload = z.infer<typeof fileDonePayload>;
export type FileCancelPayload = z.infer<typeof fileCancelPayload>;
export type ReceiptPayload = z.infer<typeof receiptPayload>;
export type AttachmentPayload = z.infer<typeof attachmentPayload>;
export type ConversationNamePayload = z.infer<typeof conversationNamePayload>;
export type Payload = z.infer<typeof payload>;

const dec = new TextDecoder('utf-8', { fatal: true });

export function encodePayload(p: Payload): Uint8Array {
  return enc.encode(JSON.stringify(p));
}

/** The one entry point for untrusted decrypted bytes. Undefined when they are not a valid payload. */
export function parsePayload(bytes: Uint8Array, o: { looseReply?: boolean } = {}): Payload | undefined {
  let json: unknown;
  try {
    json = JSON.parse(dec.decode(bytes));
  } catch {
    return undefined;
  }
  const r = payload.safeParse(json);
  if (r.success || !o.looseReply) return r.success ? r.data : undefined;
  // Account conversations (docs/PROTOCOL.md §11.13): a `text` whose `re` is no message id is kept
  // without it, so that a message of a lasting history is not lost to a bad quote. Rooms refuse it (§5).
  if (typeof json !== 'object' || json === null || !('re' in json) || (json as { type?: unknown }).type !== 'text') return undefined;
  const { re: _re, ...rest } = json as Record<string, unknown>;
  const again = textPayload.safeParse(rest);
  return again.success ? again.data : undefined;
}
