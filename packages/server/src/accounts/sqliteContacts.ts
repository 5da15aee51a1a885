/**
 * Contacts in the embedded account store (sqliteAccountStore.ts): the ContactStore of
 * contactStore.ts. Every change is one IMMEDIATE transaction (SQLite has one writer: two changes
 * never interleave), deciding through contactRules.ts on the rows it has just read.
 */
import type Database from 'better-sqlite3';
import { type RowChange, decide } from './contactRules.js';
import type { ContactAction, ContactEntry, ContactLimits, ContactRef, ContactResult, ContactState, ContactStore } from './contactStore.js';

/** The schema step that adds contacts (sqliteAccountStore.ts appends it to its migrations). */
export const CONTACTS_SCHEMA = `
CREATE TABLE contacts (
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  other_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  state TEXT NOT NULL CHECK (state IN ('contact', 'outgoing', 'incoming', 'blocked')),
  since INTEGER NOT NULL,
  PRIMARY KEY (user_id, other_id)
) WITHOUT ROWID;
CREATE INDEX contacts_by_state ON contacts (user_id, state);
CREATE INDEX contacts_by_other ON contacts (other_id);
`;

interface Row {
  state: ContactState;
  since: number;
}

const none = (): Record<ContactState, number> => ({ contact: 0, outgoing: 0, incoming: 0, blocked: 0 });

function statements(db: Database.Database) {
  const s = (sql: string) => db.prepare(sql);
  return {
    exists: s('SELECT 1 FROM users WHERE id = ?').pluck(),
    row: s('SELECT state, since FROM contacts WHERE user_id = ? AND other_id = ?'),
    counts: s('SELECT state, count(*) AS n FROM contacts WHERE user_id = ? GROUP BY state'),
    incoming: s("SELECT count(*) FROM contacts WHERE user_id = ? AND state = 'incoming'").pluck(),
    upsert: s(
      'INSERT INTO contacts (user_id, other_id, state, since) VALUES (?, ?, ?, ?) ON CONFLICT (user_id, other_id) DO UPDATE SET state = excluded.state, since = excluded.since',
    ),
    delete: s('DELETE FROM contacts WHERE user_id = ? AND other_id = ?'),
    list: s(
      'SELECT u.name, c.state, c.since FROM contacts c JOIN users u ON u.id = c.other_id WHERE c.user_id = ? ORDER BY c.since, u.name',
    ),
    accepted: s("SELECT u.id, u.name FROM contacts c JOIN users u ON u.id = c.other_id WHERE c.user_id = ? AND c.state = 'contact'"),
    isContact: s("SELECT 1 FROM contacts WHERE user_id = ? AND other_id = ? AND state = 'contact'").pluck(),
  };
}

export function sqliteContacts(db: Database.Database, run: <T>(fn: () => T) => Promise<T>): ContactStore {
  const st = statements(db);
  const write = (owner: string, other: string, change: RowChange, before: Row | undefined, now: number) => {
    if (change === 'keep' || change === before?.state) return;
    if (change === 'none') st.delete.run(owner, other);
    else st.upsert.run(owner, other, change, now);
  };
  const change = db.transaction(
    (action: ContactAction, userId: string, otherId: string, now: number, limits: ContactLimits): ContactResult => {
      if (userId === otherId) return { ok: false, refusal: 'self' };
      if (st.exists.get(userId) === undefined || st.exists.get(otherId) === undefined) return { ok: false, refusal: 'no-such-user' };
      const mine = st.row.get(userId, otherId) as Row | undefined;
      const theirs = st.row.get(otherId, userId) as Row | undefined;
      const myCounts = none();
      for (const r of st.counts.all(userId) as { state: ContactState; n: number }[]) myCounts[r.state] = r.n;
      const theirIncoming = st.incoming.get(otherId) as number;
      const d = decide(action, { mine: mine?.state, theirs: theirs?.state, myCounts, theirIncoming }, limits);
      if ('refusal' in d) return { ok: false, refusal: d.refusal };
      write(userId, otherId, d.mine, mine, now);
      write(otherId, userId, d.theirs, theirs, now);
      const after = st.row.get(userId, otherId) as Row | undefined;
      return after === undefined ? { ok: true, state: 'none' } : { ok: true, state: after.state, since: after.since };
    },
  );
  return {
    changeContact: (action, userId, otherId, now, limits) => run(() => change.immediate(action, userId, otherId, now, limits)),
    contacts: (userId) => run(() => st.list.all(userId) as ContactEntry[]),
    acceptedContacts: (userId) => run(() => st.accepted.all(userId) as ContactRef[]),
    isContact: (a, b) => run(() => st.isContact.get(a, b) !== undefined),
  };
}
