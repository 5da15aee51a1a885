/**
 * The account store on PostgreSQL (`DATABASE_URL`): the AccountStore of accountStore.ts through
 * node-postgres, for production and for several relay nodes sharing one database. Its tables live
 * in one schema of their own (`nullroom` unless told otherwise), created and migrated at open under
 * a transaction-scoped advisory lock, so that nodes starting together migrate once. A schema whose
 * `meta` row names another program, or a newer version, is refused.
 *
 * Every statement is parameterised; a failure is an AccountStoreError naming "PostgreSQL" and the
 * SQLSTATE (or the socket's code), never a row or a parameter.
 */
import pg from 'pg';
import { AccountStoreError } from '../errors.js';
import type { AccountStore, CreateUserResult, SessionKind, StoredSession, StoredUser } from './accountStore.js';
import { conversationsMigration } from './pgConversationSchema.js';
import { pgConversations } from './pgConversations.js';
import { contactsMigration, pgContacts } from './pgContacts.js';
import { bindSql, pgDevices } from './pgDevices.js';

const MARK = 'nullroom-accounts';

export interface PgAccountStoreOptions {
  /** postgres://user@host:port/db */
  readonly connectionString: string;
  /** The schema its tables live in (created if missing); an identifier of [a-z_][a-z0-9_]*. Default `nullroom`. */
  readonly schema?: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
}

const WHERE = 'PostgreSQL';

/** The schema's steps, in order (exported for the tests that make a schema of an older version). */
export const pgAccountMigrations = (q: (name: string) => string): string[] => [
  `CREATE TABLE ${q('users')} (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    look_alike TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE ${q('sessions')} (
    token_hash BYTEA PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES ${q('users')} (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX ON ${q('sessions')} (user_id);
  CREATE INDEX ON ${q('sessions')} (expires_at);
  CREATE TABLE ${q('devices')} (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES ${q('users')} (id) ON DELETE CASCADE,
    identity_key BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX ON ${q('devices')} (user_id);
  CREATE TABLE ${q('key_packages')} (
    id BIGSERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES ${q('devices')} (id) ON DELETE CASCADE,
    last_resort BOOLEAN NOT NULL,
    data BYTEA NOT NULL
  );
  CREATE INDEX ON ${q('key_packages')} (device_id, last_resort, id);`,
  // Version 2: signed device lists (§11.8); devices from before them go (no client used them, and no one could trust them).
  `DELETE FROM ${q('devices')};
  CREATE TABLE ${q('device_lists')} (
    user_id TEXT NOT NULL REFERENCES ${q('users')} (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    entry BYTEA NOT NULL,
    PRIMARY KEY (user_id, version)
  );`,
  conversationsMigration(q),
  contactsMigration(q),
  // Version 5: a session is bound to one device (§11.8) and ends with it; sessions from before stay, unbound.
  `ALTER TABLE ${q('sessions')} ADD COLUMN device_id TEXT REFERENCES ${q('devices')} (id) ON DELETE CASCADE;
  CREATE INDEX ON ${q('sessions')} (device_id);`,
];

/** The failure as our error: unreachable when the connection failed, else a failed statement. */
function failure(e: unknown): AccountStoreError {
  if (e instanceof AccountStoreError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? code : undefined;
  const unreachable =
    detail !== undefined && (/^E[A-Z]+$/.test(detail) || detail.startsWith('08') || detail === '57P01' || detail === '3D000');
  return new AccountStoreError(unreachable ? 'UNAVAILABLE' : 'WRITE_FAILED', WHERE, detail);
}

interface UserRow {
  id: string;
  name: string;
  look_alike: string;
  record: string;
  created_at: string;
}
interface SessionRow {
  token_hash: Buffer;
  user_id: string;
  kind: string;
  created_at: string;
  expires_at: string;
  device_id: string | null;
}
const user = (r: UserRow): StoredUser => ({ id: r.id, name: r.name, key: r.look_alike, record: r.record, createdAt: Number(r.created_at) });
const session = (r: SessionRow): StoredSession => ({
  tokenHash: new Uint8Array(r.token_hash.buffer, r.token_hash.byteOffset, r.token_hash.byteLength),
  userId: r.user_id,
  kind: r.kind as SessionKind,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  ...(r.device_id === null ? {} : { device: r.device_id }),
});

/** Connects, creates or migrates the schema, and returns the store; an AccountStoreError if it cannot. */
export async function openPgAccountStore(opts: PgAccountStoreOptions): Promise<AccountStore> {
  const schema = opts.schema ?? 'nullroom';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new AccountStoreError('NOT_OURS', WHERE, 'schema name');
  const q = (name: string) => `"${schema}"."${name}"`;
  const pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.poolSize ?? 10, connectionTimeoutMillis: 5000 });
  // An idle client's error (the server restarted) must not end the process: the next query reconnects.
  pool.on('error', () => undefined);
  try {
    await migrate(pool, schema, q);
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw failure(e);
  }
  return pgStore(pool, q);
}

/** The store's methods over a migrated schema. */
function pgStore(pool: pg.Pool, q: (name: string) => string): AccountStore {
  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<pg.QueryResult<R>> => {
    try {
      return await pool.query<R>(sql, params);
    } catch (e) {
      throw failure(e);
    }
  };
  const cols = 'id, name, look_alike, record, created_at';
  const byName = async (name: string) => (await query<UserRow>(`SELECT ${cols} FROM ${q('users')} WHERE name = $1`, [name])).rows[0];
  return {
    ...pgDevices(pool, q, failure),
    ...pgConversations(pool, q, failure),
    ...pgContacts(pool, q, failure),
    async createUser(u): Promise<CreateUserResult> {
      const r = await query(`INSERT INTO ${q('users')} (${cols}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, [
        u.id,
        u.name,
        u.key,
        u.record,
        u.createdAt,
      ]);
      if (r.rowCount === 1) return 'created';
      return (await byName(u.name)) !== undefined ? 'taken' : 'look-alike';
    },
    userByName: async (name) => {
      const r = await byName(name);
      return r === undefined ? undefined : user(r);
    },
    userById: async (id) => {
      const r = (await query<UserRow>(`SELECT ${cols} FROM ${q('users')} WHERE id = $1`, [id])).rows[0];
      return r === undefined ? undefined : user(r);
    },
    userByKey: async (key) => {
      const r = (await query<UserRow>(`SELECT ${cols} FROM ${q('users')} WHERE look_alike = $1`, [key])).rows[0];
      return r === undefined ? undefined : user(r);
    },
    async replaceRecord(userId, record, keep) {
      // One statement: the record and the other sessions change together or not at all.
      const r = await query<{ n: string }>(
        `WITH u AS (UPDATE ${q('users')} SET record = $2 WHERE id = $1 RETURNING id),
              d AS (DELETE FROM ${q('sessions')} s USING u WHERE s.user_id = u.id AND ($3::bytea IS NULL OR s.token_hash <> $3::bytea))
         SELECT count(*) AS n FROM u`,
        [userId, record, keep === undefined ? null : Buffer.from(keep)],
      );
      return Number(r.rows[0]?.n ?? 0) === 1;
    },
    deleteUser: async (userId) => (await query(`DELETE FROM ${q('users')} WHERE id = $1`, [userId])).rowCount === 1,
    createSession: async (s) => {
      await query(
        `INSERT INTO ${q('sessions')} (token_hash, user_id, kind, created_at, expires_at, device_id) VALUES ($1, $2, $3, $4, $5, $6)`,
        [Buffer.from(s.tokenHash), s.userId, s.kind, s.createdAt, s.expiresAt, s.device ?? null],
      );
    },
    bindSession: async (tokenHash, userId, deviceId) =>
      (await query(bindSql(q), [Buffer.from(tokenHash), userId, deviceId])).rowCount === 1,
    session: (tokenHash, now) => sessionOf(query, q, tokenHash, now),
    deleteSession: async (tokenHash) => {
      await query(`DELETE FROM ${q('sessions')} WHERE token_hash = $1`, [Buffer.from(tokenHash)]);
    },
    deleteSessions: async (userId, keep) =>
      (
        await query(`DELETE FROM ${q('sessions')} WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2::bytea)`, [
          userId,
          keep === undefined ? null : Buffer.from(keep),
        ])
      ).rowCount ?? 0,
    pruneSessions: async (now) => (await query(`DELETE FROM ${q('sessions')} WHERE expires_at <= $1`, [now])).rowCount ?? 0,
    ping: async () => void (await query('SELECT 1', [])),
    close: () => pool.end(),
  };
}

/** Creates the schema and runs the migrations it lacks, under an advisory lock (one node at a time). */
async function migrate(pool: pg.Pool, schema: string, q: (name: string) => string): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${MARK}:${schema}`]);
    await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${q('meta')} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const rows = (await c.query<{ key: string; value: string }>(`SELECT key, value FROM ${q('meta')}`)).rows;
    const meta = new Map(rows.map((r) => [r.key, r.value]));
    const tables = Number(
      (await c.query<{ n: string }>('SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1', [schema])).rows[0]?.n,
    );
    if (meta.size === 0 && tables > 1) throw new AccountStoreError('NOT_OURS', WHERE, `schema ${schema}`);
    if (meta.size > 0 && meta.get('application') !== MARK) throw new AccountStoreError('NOT_OURS', WHERE, `schema ${schema}`);
    const version = Number(meta.get('version') ?? 0);
    const steps = pgAccountMigrations(q);
    if (version > steps.length) throw new AccountStoreError('NEWER_SCHEMA', WHERE, `schema ${schema}`);
    for (let v = version; v < steps.length; v++) await c.query(steps[v]!);
    await c.query(
      `INSERT INTO ${q('meta')} (key, value) VALUES ('application', $1), ('version', $2)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
      [MARK, String(steps.length)],
    );
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}

type Query = <R extends pg.QueryResultRow>(sql: string, params: unknown[]) => Promise<pg.QueryResult<R>>;

/** A valid session and its user, in one join. */
async function sessionOf(query: Query, q: (name: string) => string, tokenHash: Uint8Array, now: number) {
  const r = (
    await query<SessionRow & UserRow>(
      `SELECT s.token_hash, s.user_id, s.kind, s.created_at AS s_created_at, s.expires_at, s.device_id, u.id, u.name, u.look_alike, u.record, u.created_at
         FROM ${q('sessions')} s JOIN ${q('users')} u ON u.id = s.user_id
        WHERE s.token_hash = $1 AND s.expires_at > $2`,
      [Buffer.from(tokenHash), now],
    )
  ).rows[0] as (SessionRow & UserRow & { s_created_at: string }) | undefined;
  if (r === undefined) return undefined;
  return { session: session({ ...r, created_at: r.s_created_at }), user: user(r) };
}
