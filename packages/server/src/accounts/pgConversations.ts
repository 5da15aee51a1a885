/**
 * Conversations and mailboxes in PostgreSQL (pgAccountStore.ts): the ConversationStore of
 * conversationStore.ts over the tables of pgConversationSchema.ts, for several relay nodes sharing
 * one database.
 *
 * A submit locks the conversation's row (FOR UPDATE), so commits and application messages of one
 * conversation are accepted one at a time, across nodes; then it locks its recipients' mailbox heads
 * in key order and takes each one's next seq, so every device's seqs are gapless and in acceptance
 * order. The deliveries of one message go in one statement (unnest), whatever the group's size.
 * Every writer locks in the same order (conversation, devices, heads, messages); PostgreSQL may
 * still pick a deadlock victim when a device is deleted during a submit to it, and a transaction
 * here that is picked is run again (up to 3 times).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { AccountStoreError } from '../errors.js';
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
import { transaction } from './pgDevices.js';

type Names = (name: string) => string;
type Client = pg.PoolClient | pg.Pool;

interface Message {
  conversation: string;
  kind: MailKind;
  sender: string;
  epoch: number;
  payload: Uint8Array;
}
interface EntryRow {
  seq: string;
  conversation: string;
  kind: string;
  sender: string;
  epoch: string;
  payload: Buffer;
  created_at: string;
  expires_at: string;
}
interface LossRow {
  conversation: string;
  entries: number;
  handshake: boolean;
  seq: string;
}

const entry = (r: EntryRow): MailEntry => ({
  seq: Number(r.seq),
  conversation: r.conversation,
  kind: r.kind as MailKind,
  sender: r.sender,
  epoch: Number(r.epoch),
  payload: new Uint8Array(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
  createdAt: Number(r.created_at),
});
const loss = (r: LossRow): LostMail => ({
  conversation: r.conversation,
  entries: r.entries,
  handshake: r.handshake,
  afterSeq: Number(r.seq),
});

const names = new Map<string, string>();
/**
 * Runs a statement as a named prepared one (parsed and planned once per connection, not per call;
 * the name is a digest of its text, so two schemas' statements never share one).
 */
function exec<R extends pg.QueryResultRow>(c: Client, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
  let name = names.get(text);
  if (name === undefined) {
    name = `nr_conv_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return c.query<R>({ name, text, values });
}

/** The statements, over the schema's names. */
function sql(q: Names) {
  const heads = q('mailbox_heads');
  return {
    state: `SELECT c.epoch, ARRAY(SELECT m.device_id FROM ${q('members')} m WHERE m.conversation_id = c.id) AS members
              FROM ${q('conversations')} c WHERE c.id = $1`,
    lockState: `SELECT c.epoch, ARRAY(SELECT m.device_id FROM ${q('members')} m WHERE m.conversation_id = c.id) AS members
              FROM ${q('conversations')} c WHERE c.id = $1 FOR UPDATE OF c`,
    lockHeads: `SELECT 1 FROM ${heads} WHERE device_id = ANY($1) ORDER BY device_id FOR UPDATE`,
    // Locks the recipients' heads in key order; takes a seq from each under both quotas; stores the
    // message once (if anyone gets it) and its deliveries; records a loss for each other recipient.
    deliver: `
      WITH locked AS (
        SELECT device_id, next_seq, entries, bytes FROM ${heads} WHERE device_id = ANY($1::text[]) ORDER BY device_id FOR UPDATE
      ), ok AS (
        UPDATE ${heads} h SET next_seq = h.next_seq + 1, entries = h.entries + 1, bytes = h.bytes + $2::bigint
          FROM locked l WHERE h.device_id = l.device_id AND l.entries < $3::int AND l.bytes + $2::bigint <= $4::bigint
        RETURNING h.device_id, h.next_seq - 1 AS seq
      ), m AS (
        INSERT INTO ${q('messages')} (conversation, kind, sender, epoch, payload, refs, created_at, expires_at)
        SELECT $5::text, $6::text, $7::text, $8::bigint, $9::bytea, count(*), $10::bigint, $11::bigint FROM ok HAVING count(*) > 0
        RETURNING id
      ), d AS (
        INSERT INTO ${q('deliveries')} (device_id, seq, message_id, size) SELECT ok.device_id, ok.seq, m.id, $2::int FROM ok CROSS JOIN m
      ), lost AS (
        INSERT INTO ${q('mail_losses')} AS x (device_id, conversation, entries, handshake, seq)
        SELECT l.device_id, $5::text, 1, $6::text <> 'app', l.next_seq - 1 FROM locked l
         WHERE NOT (l.entries < $3::int AND l.bytes + $2::bigint <= $4::bigint)
        ON CONFLICT (device_id, conversation) DO UPDATE
          SET entries = x.entries + 1, handshake = x.handshake OR excluded.handshake, seq = excluded.seq
        RETURNING device_id
      )
      SELECT device_id, seq, false AS over FROM ok UNION ALL SELECT device_id, NULL, true FROM lost`,
    // Records as losses and deletes the expired deliveries of the devices whose heads are locked ($2):
    // one that expired since for another device waits for the next prune (its head is not ours to lock now).
    expire: `
      WITH gone AS (
        DELETE FROM ${q('deliveries')} d USING ${q('messages')} m
         WHERE m.id = d.message_id AND m.expires_at <= $1::bigint AND d.device_id = ANY($2::text[])
        RETURNING d.device_id, m.conversation, m.kind
      ), lost AS (
        INSERT INTO ${q('mail_losses')} AS x (device_id, conversation, entries, handshake, seq)
        SELECT g.device_id, g.conversation, count(*), bool_or(g.kind <> 'app'), max(h.next_seq) - 1
          FROM gone g JOIN ${heads} h ON h.device_id = g.device_id GROUP BY g.device_id, g.conversation
        ON CONFLICT (device_id, conversation) DO UPDATE
          SET entries = x.entries + excluded.entries, handshake = x.handshake OR excluded.handshake, seq = excluded.seq
      )
      SELECT count(*) AS n FROM gone`,
    lockExpiredHeads: `
      SELECT device_id FROM ${heads} WHERE device_id IN (
        SELECT d.device_id FROM ${q('messages')} m JOIN ${q('deliveries')} d ON d.message_id = m.id
         WHERE m.expires_at <= $1::bigint AND ($2::text IS NULL OR d.device_id = $2::text)
      ) ORDER BY device_id FOR UPDATE`,
    // The page's deliveries first (an ordered scan of the key that stops at the limit), then their messages.
    page: `SELECT d.seq, m.conversation, m.kind, m.sender, m.epoch, m.payload, m.created_at, m.expires_at
             FROM (SELECT seq, message_id FROM ${q('deliveries')} WHERE device_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) d
             JOIN ${q('messages')} m ON m.id = d.message_id ORDER BY d.seq`,
    losses: `SELECT conversation, entries, handshake, seq FROM ${q('mail_losses')} WHERE device_id = $1`,
    ack: `WITH cleared AS (DELETE FROM ${q('mail_losses')} WHERE device_id = $1 AND seq < $2)
          DELETE FROM ${q('deliveries')} WHERE device_id = $1 AND seq <= $2`,
    change: `WITH r AS (DELETE FROM ${q('members')} WHERE conversation_id = $1 AND device_id = ANY($2)),
                  a AS (INSERT INTO ${q('members')} (conversation_id, device_id) SELECT $1, unnest($3::text[]))
             UPDATE ${q('conversations')} SET epoch = $4 WHERE id = $1`,
    ensureHeads: `INSERT INTO ${heads} (device_id, next_seq, entries, bytes)
                  SELECT d, 1, 0, 0 FROM unnest($1::text[]) AS d ORDER BY d ON CONFLICT DO NOTHING`,
    lockDevices: `SELECT id FROM ${q('devices')} WHERE id = ANY($1) ORDER BY id FOR KEY SHARE`,
    createConversation: `INSERT INTO ${q('conversations')} (id, epoch, created_at) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING`,
    addMember: `INSERT INTO ${q('members')} (conversation_id, device_id) VALUES ($1, $2)`,
    conversationsOf: `SELECT conversation_id AS id FROM ${q('members')} WHERE device_id = $1`,
    usage: `SELECT entries, bytes FROM ${heads} WHERE device_id = $1`,
    deleteEmpty: `DELETE FROM ${q('conversations')} c WHERE NOT EXISTS (SELECT 1 FROM ${q('members')} m WHERE m.conversation_id = c.id)`,
  };
}
type Sql = ReturnType<typeof sql>;

/** The conversation's epoch and members, its row locked FOR UPDATE when `lock`. */
async function readState(c: Client, s: Sql, id: string, lock: boolean): Promise<ConversationState | undefined> {
  const r = (await exec<{ epoch: string; members: string[] }>(c, lock ? `${s.state} FOR UPDATE OF c` : s.state, [id])).rows[0];
  return r === undefined ? undefined : { epoch: Number(r.epoch), members: r.members.sort() };
}

/** Stores `msg` for the devices of `to` under quota (adding them to `out`); the devices over quota. */
async function deliver(
  c: pg.PoolClient,
  s: Sql,
  msg: Message,
  to: readonly string[],
  limits: ConversationLimits,
  now: number,
  out: Delivered[],
): Promise<string[]> {
  if (to.length === 0) return [];
  const { rows } = await exec<{ device_id: string; seq: string | null; over: boolean }>(c, s.deliver, [
    to,
    msg.payload.byteLength,
    limits.maxEntriesPerDevice,
    limits.maxBytesPerDevice,
    msg.conversation,
    msg.kind,
    msg.sender,
    msg.epoch,
    Buffer.from(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength),
    now,
    now + limits.retentionMs,
  ]);
  const over: string[] = [];
  for (const r of rows) {
    if (r.over) over.push(r.device_id);
    else out.push({ device: r.device_id, seq: Number(r.seq), kind: msg.kind });
  }
  return over;
}

/** The commit's whole work in its transaction: judge, deliver the commit and the welcome, change the members. */
async function commit(c: pg.PoolClient, s: Sql, m: CommitSubmission, limits: ConversationLimits, now: number): Promise<CommitResult> {
  const state = await readState(c, s, m.conversation, true);
  const outside = m.remove.filter((d) => state?.members.includes(d) !== true);
  const existing = outside.length === 0 ? [] : (await exec<{ id: string }>(c, s.lockDevices, [outside])).rows.map((r) => r.id);
  const plan = judgeCommit(state, m, limits, new Set(outside.filter((d) => !existing.includes(d))));
  if (isRefusal(plan)) return plan;
  if (plan.welcomeTo.length > 0) {
    const found = new Set((await exec<{ id: string }>(c, s.lockDevices, [plan.welcomeTo])).rows.map((r) => r.id));
    const unknown = m.add.find((d) => !found.has(d));
    if (unknown !== undefined) return { status: 'unknown-device', device: unknown };
    await exec(c, s.ensureHeads, [plan.welcomeTo]);
  }
  // Every head this commit takes a seq from, in one ordered lock (two ordered locks would not be one order).
  await exec(c, s.lockHeads, [[...plan.commitTo, ...plan.welcomeTo]]);
  const epoch = m.epoch + 1;
  const delivered: Delivered[] = [];
  const base = { conversation: m.conversation, sender: m.sender };
  const overflowed = await deliver(
    c,
    s,
    { ...base, kind: 'commit', epoch: m.epoch, payload: m.payload },
    plan.commitTo,
    limits,
    now,
    delivered,
  );
  if (m.welcome !== undefined)
    overflowed.push(
      ...(await deliver(c, s, { ...base, kind: 'welcome', epoch, payload: m.welcome }, plan.welcomeTo, limits, now, delivered)),
    );
  await exec(c, s.change, [m.conversation, plan.remove, plan.welcomeTo, epoch]);
  return { status: 'accepted', epoch, delivered, overflowed };
}

/** A conversation with its creator as the only member, unless the id is taken or the device unknown. */
async function create(c: pg.PoolClient, s: Sql, id: string, creator: string, now: number) {
  if ((await exec(c, s.lockDevices, [[creator]])).rowCount === 0) return 'unknown-device' as const;
  if ((await exec(c, s.createConversation, [id, now])).rowCount === 0) return 'exists' as const;
  await exec(c, s.addMember, [id, creator]);
  await exec(c, s.ensureHeads, [[creator]]);
  return 'created' as const;
}

/** An application message's work in its transaction: judge it under the conversation's lock, deliver it. */
async function app(c: pg.PoolClient, s: Sql, m: AppSubmission, limits: ConversationLimits, now: number): Promise<AppResult> {
  const state = await readState(c, s, m.conversation, true);
  const refused = judgeSubmit(state, m.sender, m.epoch);
  if (refused !== undefined) return refused;
  const to = (state as ConversationState).members.filter((d) => d !== m.sender);
  const delivered: Delivered[] = [];
  const overflowed = await deliver(c, s, { ...m, kind: 'app' }, to, limits, now, delivered);
  return { status: 'accepted', epoch: m.epoch, delivered, overflowed };
}

/** Deletes expired deliveries (of `device`, or everyone's), recording them as losses: how many. */
async function expire(c: pg.PoolClient, s: Sql, now: number, device: string | null): Promise<number> {
  const locked = (await exec<{ device_id: string }>(c, s.lockExpiredHeads, [now, device])).rows.map((r) => r.device_id);
  if (locked.length === 0) return 0;
  return Number((await exec<{ n: string }>(c, s.expire, [now, locked])).rows[0]?.n ?? 0);
}

export function pgConversations(pool: pg.Pool, q: Names, failure: (e: unknown) => AccountStoreError): ConversationStore {
  const s = sql(q);
  const tx = <T>(fn: (c: pg.PoolClient) => Promise<T>) => transaction(pool, failure, fn);
  const read = async <R extends pg.QueryResultRow>(text: string, params: unknown[]) => {
    try {
      return (await exec<R>(pool, text, params)).rows;
    } catch (e) {
      throw failure(e);
    }
  };
  return {
    createConversation: (id, creator, now) => tx((c) => create(c, s, id, creator, now)),
    submitCommit: (m, limits, now) => tx((c) => commit(c, s, m, limits, now)),
    submitApp: (m, limits, now) => tx((c) => app(c, s, m, limits, now)),
    members: async (id) => {
      const r = (await read<{ epoch: string; members: string[] }>(s.state, [id]))[0];
      return r === undefined || r.members.length === 0 ? undefined : { epoch: Number(r.epoch), devices: r.members.sort() };
    },
    conversationsOf: async (device) => (await read<{ id: string }>(s.conversationsOf, [device])).map((r) => r.id).sort(),
    mailbox: async (device, afterSeq, limit, now) => {
      const page = [device, afterSeq, pageSize(limit)];
      let rows = await read<EntryRow>(s.page, page);
      if (rows.some((r) => Number(r.expires_at) <= now)) {
        await tx((c) => expire(c, s, now, device));
        rows = await read<EntryRow>(s.page, page);
      }
      // The losses after the entries: a loss not seen here was recorded after every entry returned.
      const lost = (await read<LossRow>(s.losses, [device])).map(loss).sort((a, b) => (a.conversation < b.conversation ? -1 : 1));
      return { entries: rows.map(entry), lost };
    },
    // The head first, as every writer takes it before the deliveries (a prune deletes some of the same).
    ack: (device, upToSeq) =>
      tx(async (c) => {
        await exec(c, s.lockHeads, [[device]]);
        return (await exec(c, s.ack, [device, upToSeq])).rowCount ?? 0;
      }),
    usage: async (device) => {
      const r = (await read<{ entries: number; bytes: string }>(s.usage, [device]))[0];
      return { entries: r?.entries ?? 0, bytes: Number(r?.bytes ?? 0) };
    },
    pruneMail: (now) =>
      tx(async (c) => {
        const n = await expire(c, s, now, null);
        await exec(c, s.deleteEmpty, []);
        return n;
      }),
  };
}
