/**
 * What a Messenger (messenger.ts) keeps of its conversations' messages and tells about them
 * (docs/PROTOCOL.md §11.13): the text messages a drain of the mailbox decrypted, appended to the
 * history before the MLS state is saved and the mailbox acknowledged (and shown once: a message the
 * history already has is not shown again); the messages this device sends, with their status; and
 * delivery receipts both ways.
 *
 * Receipts: for every text message a drain processed from another device (ours included), this
 * device confirms its id to the conversation, at most once per drain per conversation and at most
 * 500 ids in one receipt; never for a receipt, never for its own messages, and not at all in a
 * conversation of more than 50 devices (there everyone's own messages stay 'sent'). A receipt from
 * another device for an own message (of any device of ours) adds that device to its `deliveredTo`;
 * one for an id the history does not have among the conversation's last 2048 is ignored.
 */
import type { FileRef } from './historyRecord.js';
import type { ConversationNotice, HistoryEntry, MessageHistory, NewMessage, StoredMessage } from './messageHistory.js';
import { MAX_RECEIPT_IDS } from './payload.js';

/** Conversations of more devices than this neither send nor ask for receipts. */
export const RECEIPT_MAX_DEVICES = 50;

export interface ReceivedMessage {
  readonly conversation: string;
  /** The sending account and device (its identity key as the tree names it). */
  readonly from: string;
  readonly fromKey: Uint8Array;
  readonly id: string;
  /** Empty for a file message. */
  readonly text: string;
  /** A file message's file (accountFiles.ts: `Messenger.downloadFile` fetches it). */
  readonly file?: FileRef;
  /** A reply: the id of the message it answers (one that is no message id is dropped, the message kept). */
  readonly replyTo?: string;
  /** When the relay accepted it, and the sender's own clock. */
  readonly at: number;
  readonly sentAt: number;
  readonly seq: number;
}

export interface ConversationSummary {
  readonly id: string;
  readonly members: string[];
  readonly last?: StoredMessage;
  readonly unread: number;
  /** Its name, end-to-end encrypted among its members (§11.15); none until one renames it. */
  readonly name?: string;
}

export interface LogEvents extends Record<string, unknown> {
  message: ReceivedMessage;
  /** A message this device sends was recorded, or its status changed. */
  sent: { message: StoredMessage };
  /** Devices confirmed receipt of an own message. */
  delivered: { conversation: string; id: string; deliveredTo: string[]; recipients: number };
  /** A notice (members added, removed, left; renamed: §11.15) was added to a conversation's history. */
  changed: { message: StoredMessage };
}

type Emit = <K extends keyof LogEvents>(type: K, e: LogEvents[K]) => void;

export class ConversationLog {
  /** What the drain decrypted, in order: text messages (with their event) and notices. */
  private received: { stored: NewMessage; event?: ReceivedMessage }[] = [];
  /** Receipts that came in this drain: conversation -> sending device -> ids. */
  private incoming = new Map<string, Map<string, string[]>>();
  /** Ids to confirm, per conversation, until a receipt carrying them is accepted. */
  private readonly confirm = new Map<string, Set<string>>();

  constructor(
    readonly history: MessageHistory,
    private readonly emit: Emit,
    /** This account's name. */
    private readonly name: string,
    private readonly receiptMax = RECEIPT_MAX_DEVICES,
  ) {}

  /** A text or file message a drain decrypted (from another device: the relay never sends our own back). */
  text(event: ReceivedMessage, fromDevice: string): void {
    const own = event.from === this.name;
    const { conversation, id, from, text, at, sentAt, file, replyTo } = event;
    const extra = { ...(file && { file }), ...(replyTo !== undefined && { replyTo }) };
    this.received.push({ stored: { conversation, id, from, fromDevice, own, text, ...extra, at, sentAt }, event });
    const ids = this.confirm.get(conversation) ?? new Set<string>();
    this.confirm.set(conversation, ids.add(id));
  }

  /**
   * A notice a drain made (§11.15), stored with its messages in order; `id` names it once (a payload's
   * id, or the commit's epoch and what it did), so that one made again is not kept twice.
   */
  notice(conversation: string, id: string, notice: ConversationNotice, fromDevice: string, at: number): void {
    this.received.push({ stored: noticeOf(conversation, id, notice, fromDevice, at, notice.by === this.name) });
  }

  /** A notice of this device's own doing, kept now (outside a drain). */
  async noticeNow(conversation: string, id: string, notice: ConversationNotice, fromDevice: string): Promise<void> {
    const [s] = await this.history.append([noticeOf(conversation, id, notice, fromDevice, Date.now(), true)]);
    if (s !== undefined) this.emit('changed', { message: s });
  }

  /** A receipt a drain decrypted, from `device` (identity key, base64url). */
  receipt(conversation: string, device: string, ids: readonly string[]): void {
    const by = this.incoming.get(conversation) ?? new Map<string, string[]>();
    this.incoming.set(conversation, by.set(device, [...(by.get(device) ?? []), ...ids]));
  }

  /** The conversations this drain touched. */
  touched(): Set<string> {
    return new Set([...this.received.map((r) => r.stored.conversation), ...this.incoming.keys(), ...this.confirm.keys()]);
  }

  /**
   * Appends what the drain decrypted (new messages are shown), then applies the receipts.
   * `devices`: each touched conversation's device count now.
   */
  async record(devices: ReadonlyMap<string, number>): Promise<void> {
    const received = this.received;
    const incoming = this.incoming;
    this.received = [];
    this.incoming = new Map();
    const stored = received.map(({ stored: s }) =>
      s.own && s.kind !== 'notice' ? { ...s, recipients: Math.max(0, (devices.get(s.conversation) ?? 1) - 1) } : s,
    );
    const added = new Map((await this.history.append(stored)).map((s) => [`${s.conversation}\n${s.id}`, s]));
    for (const { stored: s, event } of received) {
      const kept = added.get(`${s.conversation}\n${s.id}`);
      if (kept === undefined) continue;
      if (event !== undefined) this.emit('message', event);
      else this.emit('changed', { message: kept });
    }
    for (const [conversation, by] of incoming) {
      for (const [device, ids] of by) {
        const changed = await this.history.update(conversation, ids, (m) =>
          !m.own || m.fromDevice === device || m.deliveredTo?.includes(device)
            ? undefined
            : { ...m, deliveredTo: [...(m.deliveredTo ?? []), device] },
        );
        for (const m of changed) {
          this.emit('delivered', { conversation, id: m.id, deliveredTo: [...(m.deliveredTo ?? [])], recipients: m.recipients ?? 0 });
        }
      }
    }
  }

  /**
   * The receipts to send now, each at most 500 ids, for conversations of at most 50 devices
   * (`devices`); ids of larger ones are dropped. Taken: `unsent` gives them back.
   */
  takeReceipts(devices: ReadonlyMap<string, number>): { conversation: string; ids: string[] }[] {
    const out: { conversation: string; ids: string[] }[] = [];
    for (const [conversation, set] of this.confirm) {
      const n = devices.get(conversation);
      if (n === undefined || n > this.receiptMax) continue;
      const ids = [...set];
      for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) out.push({ conversation, ids: ids.slice(i, i + MAX_RECEIPT_IDS) });
    }
    this.confirm.clear();
    return out;
  }

  /** A receipt the relay refused for a commit it had first: its ids go with the next drain's. */
  unsent(conversation: string, ids: readonly string[]): void {
    const set = this.confirm.get(conversation) ?? new Set<string>();
    for (const id of ids) set.add(id);
    this.confirm.set(conversation, set);
  }

  /** A message this device is about to send, recorded 'sending'. */
  async sending(m: Omit<NewMessage, 'own' | 'status' | 'deliveredTo'>): Promise<void> {
    const [s] = await this.history.append([{ ...m, own: true, status: 'sending', deliveredTo: [] }]);
    if (s !== undefined) this.emit('sent', { message: s });
  }

  /** Its status now. */
  async status(conversation: string, id: string, status: 'sent' | 'failed'): Promise<void> {
    const [s] = await this.history.update(conversation, [id], (m) => (m.status === status ? undefined : { ...m, status }));
    if (s !== undefined) this.emit('sent', { message: s });
  }

  /** Every conversation, the most recently active first; `ids`: those the device is in now, `members` their accounts. */
  async summaries(ids: readonly string[], members: (id: string) => Promise<string[]>): Promise<ConversationSummary[]> {
    const known = new Map<string, HistoryEntry>((await this.history.conversations()).map((e) => [e.id, e]));
    const all = [...new Set([...ids, ...known.keys()])];
    const rows = await Promise.all(
      all.map(async (id) => {
        const e = known.get(id);
        const summary: ConversationSummary = {
          id,
          members: await members(id),
          unread: e?.unread ?? 0,
          ...(e?.last && { last: e.last }),
          ...(e?.name !== undefined && { name: e.name }),
        };
        return { summary, activeAt: e?.activeAt ?? 0 };
      }),
    );
    return rows.sort((a, b) => b.activeAt - a.activeAt).map((r) => r.summary);
  }
}

function noticeOf(conversation: string, id: string, notice: ConversationNotice, fromDevice: string, at: number, own: boolean): NewMessage {
  return { conversation, id, from: notice.by, fromDevice, own, text: '', at, sentAt: at, kind: 'notice', notice };
}
