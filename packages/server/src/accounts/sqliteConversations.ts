/**
 * Conversations and mailboxes in the embedded account store (sqliteAccountStore.ts): the
 * ConversationStore of conversationStore.ts. Each method is one statement or one IMMEDIATE
 * transaction; SQLite has one writer, so submits to a conversation are serialised by construction.
 *
 * Tables: `conversations` (epoch), `members` (the routing view), `messages` (each payload once, with
 * `refs`: how many deliveries still need it), `deliveries` (one row per recipient device: its seq and
 * the message), `mailbox_heads` (per device: the next seq, and the entries and bytes queued: the
 * quota's measure) and `mail_losses` (what a device lost, per conversation). Members, deliveries,
 * heads and losses go with their device (ON DELETE CASCADE). A trigger on `deliveries` keeps the
 * counts right however a delivery goes (ack, expiry, or its device deleted) and deletes a message
 * with its last delivery.
 */
import type Database from 'better-sqlite3';
import { bytes } from '../sqliteFile.js';
import {
  type AppResult,
  type AppSubmission,
  type CommitResult,
  type CommitSubmission,
  type ConversationLimits,
  type ConversationState,
  type ConversationStore,
  type Delivered,
  isRefusal,
  judgeCommit,
  judgeSubmit,
  type LostMail,
  type MailEntry,
  type MailKind,
  pageSize,
} from './conversationStore.js';

/** The account store's schema step that adds conversations (sqliteAccountStore.ts runs it once). */
export const CONVERSATIONS_SCHEMA = `
CREATE TABLE conversations (
  id TEXT PRIMARY KEY,
  epoch INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE members (
  conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  PRIMARY KEY (conversation_id, device_id)
) WITHOUT ROWID;
CREATE INDEX members_by_device ON members (device_id);
CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  conversation TEXT NOT NULL,
  kind TEXT NOT NULL,
  sender TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  payload BLOB NOT NULL,
  refs INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX messages_by_expiry ON messages (expires_at);
CREATE TABLE deliveries (
  device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  message_id INTEGER NOT NULL REFERENCES messages (id),
  size INTEGER NOT NULL,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX deliveries_by_message ON deliveries (message_id);
CREATE TABLE mailbox_heads (
  device_id TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
  next_seq INTEGER NOT NULL,
  entries INTEGER NOT NULL,
  bytes INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE mail_losses (
  device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  conversation TEXT NOT NULL,
  entries INTEGER NOT NULL,
  handshake INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (device_id, conversation)
) WITHOUT ROWID;
CREATE TRIGGER delivery_gone AFTER DELETE ON deliveries BEGIN
  UPDATE mailbox_heads SET entries = entries - 1, bytes = bytes - OLD.size WHERE device_id = OLD.device_id;
  DELETE FROM messages WHERE id = OLD.message_id AND refs = 1;
  UPDATE messages SET refs = refs - 1 WHERE id = OLD.message_id;
END;
`;

interface EntryRow {
  seq: number;
  conversation: string;
  kind: string;
  sender: string;
  epoch: number;
  payload: Buffer;
  created_at: number;
  expires_at: number;
}
interface LossRow {
  conversation: string;
  entries: number;
  handshake: number;
  seq: number;
}
interface Message {
  conversation: string;
  kind: MailKind;
  sender: string;
  epoch: number;
  payload: Uint8Array;
}

function statements(db: Database.Database) {
  const s = (sql: string) => db.prepare(sql);
  return {
    conversation: s('SELECT epoch FROM conversations WHERE id = ?').pluck(),
    members: s('SELECT device_id FROM members WHERE conversation_id = ? ORDER BY device_id').pluck(),
    insertConversation: s('INSERT OR IGNORE INTO conversations (id, epoch, created_at) VALUES (?, 0, ?)'),
    insertMember: s('INSERT INTO members (conversation_id, device_id) VALUES (?, ?)'),
    deleteMember: s('DELETE FROM members WHERE conversation_id = ? AND device_id = ?'),
    setEpoch: s('UPDATE conversations SET epoch = ? WHERE id = ?'),
    deviceExists: s('SELECT 1 FROM devices WHERE id = ?').pluck(),
    ensureHead: s('INSERT OR IGNORE INTO mailbox_heads (device_id, next_seq, entries, bytes) VALUES (?, 1, 0, 0)'),
    conversationsOf: s('SELECT conversation_id FROM members WHERE device_id = ? ORDER BY conversation_id').pluck(),
    insertMessage: s(
      'INSERT INTO messages (conversation, kind, sender, epoch, payload, refs, created_at, expires_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)',
    ),
    setRefs: s('UPDATE messages SET refs = ? WHERE id = ?'),
    deleteMessage: s('DELETE FROM messages WHERE id = ?'),
    // Takes a seq and counts the entry, if the device is under both quotas: its new seq, else nothing.
    take: s(
      `UPDATE mailbox_heads SET next_seq = next_seq + 1, entries = entries + 1, bytes = bytes + @size
        WHERE device_id = @device AND entries < @maxEntries AND bytes + @size <= @maxBytes RETURNING next_seq - 1`,
    ).pluck(),
    deliver: s('INSERT INTO deliveries (device_id, seq, message_id, size) VALUES (?, ?, ?, ?)'),
    // A loss, merged into the conversation's earlier one; its seq is the device's last seq now.
    lose: s(
      `INSERT INTO mail_losses (device_id, conversation, entries, handshake, seq)
       SELECT device_id, @conversation, @entries, @handshake, next_seq - 1 FROM mailbox_heads WHERE device_id = @device
       ON CONFLICT (device_id, conversation) DO UPDATE SET
         entries = entries + excluded.entries, handshake = max(handshake, excluded.handshake), seq = excluded.seq`,
    ),
    page: s(
      `SELECT d.seq, m.conversation, m.kind, m.sender, m.epoch, m.payload, m.created_at, m.expires_at
         FROM (SELECT seq, message_id FROM deliveries WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?) d
         JOIN messages m ON m.id = d.message_id ORDER BY d.seq`,
    ),
    expiredOf: s(
      `SELECT m.conversation, count(*) AS entries, max(m.kind <> 'app') AS handshake
         FROM deliveries d JOIN messages m ON m.id = d.message_id
        WHERE d.device_id = ? AND m.expires_at <= ? GROUP BY m.conversation`,
    ),
    deleteExpiredOf: s(`DELETE FROM deliveries WHERE device_id = ? AND message_id IN (SELECT id FROM messages WHERE expires_at <= ?)`),
    losses: s('SELECT conversation, entries, handshake, seq FROM mail_losses WHERE device_id = ? ORDER BY conversation'),
    ack: s('DELETE FROM deliveries WHERE device_id = ? AND seq <= ?'),
    clearLosses: s('DELETE FROM mail_losses WHERE device_id = ? AND seq < ?'),
    usage: s('SELECT entries, bytes FROM mailbox_heads WHERE device_id = ?'),
    expired: s(
      `SELECT d.device_id, m.conversation, count(*) AS entries, max(m.kind <> 'app') AS handshake
         FROM messages m JOIN deliveries d ON d.message_id = m.id
        WHERE m.expires_at <= ? GROUP BY d.device_id, m.conversation`,
    ),
    deleteExpired: s('DELETE FROM deliveries WHERE message_id IN (SELECT id FROM messages WHERE expires_at <= ?)'),
    deleteEmpty: s('DELETE FROM conversations WHERE NOT EXISTS (SELECT 1 FROM members WHERE conversation_id = conversations.id)'),
  };
}
type Statements = ReturnType<typeof statements>;

const entry = (r: EntryRow): MailEntry => ({
  seq: r.seq,
  conversation: r.conversation,
  kind: r.kind as MailKind,
  sender: r.sender,
  epoch: r.epoch,
  payload: bytes(r.payload),
  createdAt: r.created_at,
});
const loss = (r: LossRow): LostMail => ({
  conversation: r.conversation,
  entries: r.entries,
  handshake: r.handshake === 1,
  afterSeq: r.seq,
});

/** Records that `entries` entries of `conversation` were lost to `device` (a handshake among them: 1). */
const lose = (st: Statements, device: string, conversation: string, entries: number, handshake: number) =>
  st.lose.run({ device, conversation, entries, handshake });

/**
 * Stores `msg` once and a delivery for each device of `to` that is under quota; a loss for each
 * other. Adds to `out` what was stored; returns the devices over quota.
 */
function deliver(st: Statements, msg: Message, to: readonly string[], limits: ConversationLimits, now: number, out: Delivered[]): string[] {
  if (to.length === 0) return [];
  const size = msg.payload.byteLength;
  const id = st.insertMessage.run(msg.conversation, msg.kind, msg.sender, msg.epoch, msg.payload, now, now + limits.retentionMs)
    .lastInsertRowid as number;
  const over: string[] = [];
  let refs = 0;
  for (const device of to) {
    const seq = st.take.get({ device, size, maxEntries: limits.maxEntriesPerDevice, maxBytes: limits.maxBytesPerDevice }) as
      | number
      | undefined;
    if (seq === undefined) {
      lose(st, device, msg.conversation, 1, msg.kind === 'app' ? 0 : 1);
      over.push(device);
      continue;
    }
    st.deliver.run(device, seq, id, size);
    out.push({ device, seq, kind: msg.kind });
    refs++;
  }
  if (refs === 0) st.deleteMessage.run(id);
  else st.setRefs.run(refs, id);
  return over;
}

/** The conversation's epoch and members (sorted). */
function readState(st: Statements, id: string): ConversationState | undefined {
  const epoch = st.conversation.get(id) as number | undefined;
  return epoch === undefined ? undefined : { epoch, members: st.members.all(id) as string[] };
}

/** A commit's whole work, in the caller's transaction: judge, deliver the commit and the welcome, change the members. */
function commit(st: Statements, c: CommitSubmission, limits: ConversationLimits, now: number): CommitResult {
  const departed = new Set(c.remove.filter((d) => st.deviceExists.get(d) === undefined));
  const plan = judgeCommit(readState(st, c.conversation), c, limits, departed);
  if (isRefusal(plan)) return plan;
  const unknown = c.add.find((d) => st.deviceExists.get(d) === undefined);
  if (unknown !== undefined) return { status: 'unknown-device', device: unknown };
  const epoch = c.epoch + 1;
  const delivered: Delivered[] = [];
  const commit: Message = { conversation: c.conversation, kind: 'commit', sender: c.sender, epoch: c.epoch, payload: c.payload };
  const overflowed = deliver(st, commit, plan.commitTo, limits, now, delivered);
  for (const d of plan.welcomeTo) st.ensureHead.run(d);
  if (c.welcome !== undefined) {
    const welcome: Message = { conversation: c.conversation, kind: 'welcome', sender: c.sender, epoch, payload: c.welcome };
    overflowed.push(...deliver(st, welcome, plan.welcomeTo, limits, now, delivered));
  }
  for (const d of plan.remove) st.deleteMember.run(c.conversation, d);
  for (const d of plan.welcomeTo) st.insertMember.run(c.conversation, d);
  st.setEpoch.run(epoch, c.conversation);
  return { status: 'accepted', epoch, delivered, overflowed };
}

/** Every change as one transaction (run IMMEDIATE: the write lock first, so a reader never has to upgrade). */
function transactions(db: Database.Database, st: Statements) {
  return {
    create: db.transaction((id: string, creator: string, now: number) => {
      if (st.deviceExists.get(creator) === undefined) return 'unknown-device' as const;
      if (st.insertConversation.run(id, now).changes === 0) return 'exists' as const;
      st.insertMember.run(id, creator);
      st.ensureHead.run(creator);
      return 'created' as const;
    }),
    commit: db.transaction((c: CommitSubmission, limits: ConversationLimits, now: number) => commit(st, c, limits, now)),
    app: db.transaction((m: AppSubmission, limits: ConversationLimits, now: number): AppResult => {
      const state = readState(st, m.conversation);
      const refused = judgeSubmit(state, m.sender, m.epoch);
      if (refused !== undefined) return refused;
      const to = (state as ConversationState).members.filter((d) => d !== m.sender);
      const delivered: Delivered[] = [];
      const overflowed = deliver(st, { ...m, kind: 'app' }, to, limits, now, delivered);
      return { status: 'accepted', epoch: m.epoch, delivered, overflowed };
    }),
    /** Deletes the device's expired entries, each conversation's recorded as a loss. */
    expireOf: db.transaction((device: string, now: number) => {
      for (const r of st.expiredOf.all(device, now) as LossRow[]) lose(st, device, r.conversation, r.entries, r.handshake);
      st.deleteExpiredOf.run(device, now);
    }),
    ack: db.transaction((device: string, upToSeq: number) => {
      st.clearLosses.run(device, upToSeq);
      return st.ack.run(device, upToSeq).changes;
    }),
    prune: db.transaction((now: number) => {
      for (const r of st.expired.all(now) as (LossRow & { device_id: string })[])
        lose(st, r.device_id, r.conversation, r.entries, r.handshake);
      const n = st.deleteExpired.run(now).changes;
      st.deleteEmpty.run();
      return n;
    }),
  };
}

export function sqliteConversations(db: Database.Database, run: <T>(fn: () => T) => Promise<T>): ConversationStore {
  const st = statements(db);
  const tx = transactions(db, st);
  const mailbox = (device: string, afterSeq: number, limit: number, now: number) => {
    const n = pageSize(limit);
    let rows = st.page.all(device, afterSeq, n) as EntryRow[];
    if (rows.some((r) => r.expires_at <= now)) {
      tx.expireOf.immediate(device, now);
      rows = st.page.all(device, afterSeq, n) as EntryRow[];
    }
    return { entries: rows.map(entry), lost: (st.losses.all(device) as LossRow[]).map(loss) };
  };
  return {
    createConversation: (id, creator, now) => run(() => tx.create.immediate(id, creator, now)),
    submitCommit: (c, limits, now) => run(() => tx.commit.immediate(c, limits, now)),
    submitApp: (m, limits, now) => run(() => tx.app.immediate(m, limits, now)),
    members: (id) =>
      run(() => {
        const s = readState(st, id);
        return s === undefined || s.members.length === 0 ? undefined : { epoch: s.epoch, devices: [...s.members] };
      }),
    conversationsOf: (device) => run(() => st.conversationsOf.all(device) as string[]),
    mailbox: (device, afterSeq, limit, now) => run(() => mailbox(device, afterSeq, limit, now)),
    ack: (device, upToSeq) => run(() => tx.ack.immediate(device, upToSeq)),
    usage: (device) =>
      run(() => {
        const r = st.usage.get(device) as { entries: number; bytes: number } | undefined;
        return { entries: r?.entries ?? 0, bytes: r?.bytes ?? 0 };
      }),
    pruneMail: (now) => run(() => tx.prune.immediate(now)),
  };
}
