/**
 * What the Messages screen shows of a conversation's messages (accountSession.ts): a line per
 * message, from the SDK's sealed history or its events, and the sealed records of one account.
 */
import type { SealedRecords, Thumbnail } from '@nullroom/client';
import type { ConversationNotice, FileRef, StoredMessage } from '@nullroom/client/accounts';

export interface Line {
  readonly id: string;
  readonly from: string;
  readonly own: boolean;
  readonly text: string;
  readonly at: number;
  /** A file or image (its name and type are the sender's claims; the key stays in the SDK's sealed history). */
  file?: { name: string; mime: string; size: number; thumb?: Thumbnail };
  /** A change of the conversation (members added, removed, left; renamed): shown as a line of its own. */
  notice?: ConversationNotice;
  /** Messages this device sent: where they are, and how many of the other devices confirmed them. */
  status?: 'sending' | 'sent' | 'failed';
  delivered?: number;
  recipients?: number;
}

export interface Conversation {
  readonly id: string;
  members: string[];
  /** We are no longer a member (removed): read-only. */
  gone?: boolean;
  /** Its name, if a member gave it one (end-to-end encrypted; §11.15). */
  name?: string;
  /** The last messages (from the sealed history once the conversation was opened, then as they come). */
  lines: Line[];
  loaded: boolean;
  unread: number;
  lastAt: number;
}

/** How many of a conversation's last messages are read from the history when it is opened. */
export const SHOWN = 200;

export const fileOf = (f: FileRef): NonNullable<Line['file']> => ({
  name: f.name,
  mime: f.mime,
  size: f.size,
  ...(f.thumb === undefined ? {} : { thumb: f.thumb }),
});

export const line = (m: StoredMessage): Line => ({
  id: m.id,
  from: m.from,
  own: m.own,
  text: m.text,
  at: m.at,
  ...(m.file === undefined ? {} : { file: fileOf(m.file) }),
  ...(m.kind === 'notice' && m.notice !== undefined ? { notice: m.notice } : {}),
  ...(m.status === undefined ? {} : { status: m.status }),
  ...(m.deliveredTo === undefined ? {} : { delivered: m.deliveredTo.length }),
  ...(m.recipients === undefined ? {} : { recipients: m.recipients }),
});

/** `records` with every name under `prefix`: one browser, several accounts and relays. */
export function prefixed(records: SealedRecords, prefix: string): SealedRecords {
  return {
    put: (n, v) => records.put(`${prefix}\0${n}`, v),
    get: (n) => records.get(`${prefix}\0${n}`),
    remove: (n) => records.remove(`${prefix}\0${n}`),
  };
}
