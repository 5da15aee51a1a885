/**
 * Contacts in PostgreSQL (pgAccountStore.ts): the ContactStore of contactStore.ts. A change locks
 * both accounts' user rows (FOR NO KEY UPDATE, lower id first, so two changes on one pair cannot
 * deadlock) before it reads anything: every change touching an account is serialised on that
 * account's row, across relay nodes. Two accounts requesting each other at once therefore become
 * contacts (the second sees the first's request), never two crossed pending requests, and two
 * requests by one account never both pass its cap.
 */
import type pg from 'pg';
import type { AccountStoreError } from '../errors.js';
import { type RowChange, decide } from './contactRules.js';
import type { ContactAction, ContactLimits, ContactRef, ContactResult, ContactState, ContactStore } from './contactStore.js';
import { transaction } from './pgDevices.js';

type Names = (name: string) => string;

/** The migration step that adds contacts (pgAccountStore.ts appends it to its migrations). */
export const contactsMigration = (q: Names): string =>
  `CREATE TABLE ${q('contacts')} (
    user_id TEXT NOT NULL REFERENCES ${q('users')} (id) ON DELETE CASCADE,
    other_id TEXT NOT NULL REFERENCES ${q('users')} (id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('contact', 'outgoing', 'incoming', 'blocked')),
    since BIGINT NOT NULL,
    PRIMARY KEY (user_id, other_id)
  );
  CREATE INDEX ON ${q('contacts')} (user_id, state);
  CREATE INDEX ON ${q('contacts')} (other_id);`;

interface Row {
  state: ContactState;
  since: string;
}

export function pgContacts(pool: pg.Pool, q: Names, failure: (e: unknown) => AccountStoreError): ContactStore {
  const read = async <R extends pg.QueryResultRow>(sql: string, params: unknown[]) => {
    try {
      return (await pool.query<R>(sql, params)).rows;
    } catch (e) {
      throw failure(e);
    }
  };
  return {
    changeContact: (action, userId, otherId, now, limits) => {
      if (userId === otherId) return Promise.resolve({ ok: false, refusal: 'self' });
      return transaction(pool, failure, (c) => change(c, q, { action, userId, otherId, now, limits }));
    },
    contacts: async (userId) =>
      (
        await read<{ name: string; state: ContactState; since: string }>(
          `SELECT u.name, c.state, c.since FROM ${q('contacts')} c JOIN ${q('users')} u ON u.id = c.other_id
            WHERE c.user_id = $1 ORDER BY c.since, u.name COLLATE "C"`,
          [userId],
        )
      ).map((r) => ({ name: r.name, state: r.state, since: Number(r.since) })),
    acceptedContacts: (userId) =>
      read<ContactRef>(
        `SELECT u.id, u.name FROM ${q('contacts')} c JOIN ${q('users')} u ON u.id = c.other_id WHERE c.user_id = $1 AND c.state = 'contact'`,
        [userId],
      ),
    isContact: async (a, b) =>
      (await read(`SELECT 1 FROM ${q('contacts')} WHERE user_id = $1 AND other_id = $2 AND state = 'contact'`, [a, b])).length === 1,
  };
}

interface Change {
  readonly action: ContactAction;
  readonly userId: string;
  readonly otherId: string;
  readonly now: number;
  readonly limits: ContactLimits;
}

/** One change inside a transaction: lock both accounts, read, decide, write. */
async function change(c: pg.PoolClient, q: Names, x: Change): Promise<ContactResult> {
  const lock = `SELECT 1 FROM ${q('users')} WHERE id = $1 FOR NO KEY UPDATE`;
  for (const id of [x.userId, x.otherId].sort()) {
    if ((await c.query(lock, [id])).rowCount !== 1) return { ok: false, refusal: 'no-such-user' };
  }
  const rowSql = `SELECT state, since FROM ${q('contacts')} WHERE user_id = $1 AND other_id = $2`;
  const mine = (await c.query<Row>(rowSql, [x.userId, x.otherId])).rows[0];
  const theirs = (await c.query<Row>(rowSql, [x.otherId, x.userId])).rows[0];
  const counts = await c.query<{ user_id: string; state: ContactState; n: string }>(
    `SELECT user_id, state, count(*) AS n FROM ${q('contacts')} WHERE user_id = ANY($1::text[]) GROUP BY user_id, state`,
    [[x.userId, x.otherId]],
  );
  const myCounts = { contact: 0, outgoing: 0, incoming: 0, blocked: 0 };
  let theirIncoming = 0;
  for (const r of counts.rows) {
    if (r.user_id === x.userId) myCounts[r.state] = Number(r.n);
    else if (r.state === 'incoming') theirIncoming = Number(r.n);
  }
  const d = decide(x.action, { mine: mine?.state, theirs: theirs?.state, myCounts, theirIncoming }, x.limits);
  if ('refusal' in d) return { ok: false, refusal: d.refusal };
  const write = async (owner: string, other: string, to: RowChange, before: Row | undefined) => {
    if (to === 'keep' || to === before?.state) return;
    if (to === 'none') await c.query(`DELETE FROM ${q('contacts')} WHERE user_id = $1 AND other_id = $2`, [owner, other]);
    else
      await c.query(
        `INSERT INTO ${q('contacts')} (user_id, other_id, state, since) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, other_id) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since`,
        [owner, other, to, x.now],
      );
  };
  await write(x.userId, x.otherId, d.mine, mine);
  await write(x.otherId, x.userId, d.theirs, theirs);
  if (d.mine === 'none') return { ok: true, state: 'none' };
  if (d.mine === 'keep' || d.mine === mine?.state) {
    return mine === undefined ? { ok: true, state: 'none' } : { ok: true, state: mine.state, since: Number(mine.since) };
  }
  return { ok: true, state: d.mine, since: x.now };
}
