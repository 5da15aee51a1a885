/**
 * The embedded account store (`accounts.db` in the relay's data directory): the AccountStore of
 * accountStore.ts in one SQLite file through better-sqlite3 (sqliteFile.ts: 0600, locked, ours or
 * refused, WAL: a call that returned survives `kill -9`).
 *
 * Why SQLite and not PGlite for the default: the relay already runs better-sqlite3 for its rooms;
 * it is native code with synchronous commits that are in the WAL when the call returns, and it
 * starts in milliseconds with no WebAssembly heap. PostgreSQL (pgAccountStore.ts) is the store for
 * production and for several relay nodes; one contract suite holds both to the same behaviour.
 */
import type Database from 'better-sqlite3';
import { AccountStoreError } from '../errors.js';
import { bytes, openSqliteFile, type SqliteFileSpec, sqliteCode } from '../sqliteFile.js';
import type { AccountStore, CreateUserResult, SessionKind, StoredSession, StoredUser } from './accountStore.js';

/** "NRac": SQLite's `PRAGMA application_id` of a Nullroom account store. */
export const ACCOUNT_STORE_APPLICATION_ID = 0x4e526163;
export const ACCOUNT_STORE_SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  look_alike TEXT NOT NULL UNIQUE,
  record TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE sessions (
  token_hash BLOB PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
`;

const FILE: SqliteFileSpec = { applicationId: ACCOUNT_STORE_APPLICATION_ID, schemaVersion: ACCOUNT_STORE_SCHEMA_VERSION, schema: SCHEMA };

interface UserRow {
  id: string;
  name: string;
  look_alike: string;
  record: string;
  created_at: number;
}
interface SessionRow {
  token_hash: Buffer;
  user_id: string;
  kind: string;
  created_at: number;
  expires_at: number;
}

const user = (r: UserRow): StoredUser => ({ id: r.id, name: r.name, key: r.look_alike, record: r.record, createdAt: r.created_at });
const session = (r: SessionRow): StoredSession => ({
  tokenHash: bytes(r.token_hash),
  userId: r.user_id,
  kind: r.kind as SessionKind,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

function statements(db: Database.Database) {
  const s = (sql: string) => db.prepare(sql);
  return {
    insertUser: s('INSERT OR IGNORE INTO users (id, name, look_alike, record, created_at) VALUES (?, ?, ?, ?, ?)'),
    byName: s('SELECT id, name, look_alike, record, created_at FROM users WHERE name = ?'),
    byId: s('SELECT id, name, look_alike, record, created_at FROM users WHERE id = ?'),
    byKey: s('SELECT id, name, look_alike, record, created_at FROM users WHERE look_alike = ?'),
    setRecord: s('UPDATE users SET record = ? WHERE id = ?'),
    deleteUser: s('DELETE FROM users WHERE id = ?'),
    insertSession: s('INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
    session: s('SELECT token_hash, user_id, kind, created_at, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?'),
    deleteSession: s('DELETE FROM sessions WHERE token_hash = ?'),
    deleteSessions: s('DELETE FROM sessions WHERE user_id = ?'),
    deleteSessionsBut: s('DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?'),
    prune: s('DELETE FROM sessions WHERE expires_at <= ?'),
  };
}

/** Opens (creating it if missing) the account store at `path`; an AccountStoreError if it cannot. */
export function openSqliteAccountStore(path: string): AccountStore {
  const db = openSqliteFile(path, FILE, (code, detail) => new AccountStoreError(code, path, detail));
  const st = statements(db);
  /** Runs one statement or transaction; SQLite's failures become AccountStoreError WRITE_FAILED. */
  const run = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(new AccountStoreError('WRITE_FAILED', path, sqliteCode(e)));
    }
  };
  const createUser = db.transaction((u: StoredUser): CreateUserResult => {
    if (st.insertUser.run(u.id, u.name, u.key, u.record, u.createdAt).changes === 1) return 'created';
    return st.byName.get(u.name) !== undefined ? 'taken' : 'look-alike';
  });
  const replaceRecord = db.transaction((userId: string, record: string, keep: Uint8Array | undefined): boolean => {
    if (st.setRecord.run(record, userId).changes !== 1) return false;
    if (keep === undefined) st.deleteSessions.run(userId);
    else st.deleteSessionsBut.run(userId, keep);
    return true;
  });
  return {
    createUser: (u) => run(() => createUser.immediate(u)),
    userByName: (name) => run(() => mapUser(st.byName.get(name))),
    userById: (id) => run(() => mapUser(st.byId.get(id))),
    userByKey: (key) => run(() => mapUser(st.byKey.get(key))),
    replaceRecord: (userId, record, keep) => run(() => replaceRecord.immediate(userId, record, keep)),
    // Sessions go with the user (ON DELETE CASCADE); later tables of the account do the same.
    deleteUser: (userId) => run(() => st.deleteUser.run(userId).changes === 1),
    createSession: (s) => run(() => void st.insertSession.run(s.tokenHash, s.userId, s.kind, s.createdAt, s.expiresAt)),
    session: (tokenHash, now) =>
      run(() => {
        const s = st.session.get(tokenHash, now) as SessionRow | undefined;
        if (s === undefined) return undefined;
        const u = mapUser(st.byId.get(s.user_id));
        return u === undefined ? undefined : { session: session(s), user: u };
      }),
    deleteSession: (tokenHash) => run(() => void st.deleteSession.run(tokenHash)),
    deleteSessions: (userId, keep) =>
      run(() => (keep === undefined ? st.deleteSessions.run(userId) : st.deleteSessionsBut.run(userId, keep)).changes),
    pruneSessions: (now) => run(() => st.prune.run(now).changes),
    close: () => {
      if (db.open) db.close();
      return Promise.resolve();
    },
  };
}

const mapUser = (r: unknown): StoredUser | undefined => (r === undefined ? undefined : user(r as UserRow));
