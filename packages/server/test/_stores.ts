/**
 * What the account store tests share (accountStore, contactStore, conversationStore, the session
 * binding's): a temporary folder for SQLite files, PostgreSQL schemas of their own when DATABASE_URL
 * is set (dropped when the file's tests end; without it the PostgreSQL half is skipped with a
 * NOTICE), raw looks into either, and stores left at an older schema version, as a relay from before
 * a migration step left them.
 */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openSqliteFile } from '../src/sqliteFile.js';
import { ACCOUNT_STORE_FILE } from '../src/accounts/sqliteAccountStore.js';
import { pgAccountMigrations } from '../src/accounts/pgAccountStore.js';

export const DATABASE_URL = process.env.DATABASE_URL;
/** The `skip` of a PostgreSQL test. */
export const pgSkip: string | false = DATABASE_URL === undefined ? 'DATABASE_URL is not set' : false;

/** Runs `sql` in `schema` on a connection of its own: the rows. */
export async function pgRows(schema: string, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    await c.query(`SET search_path TO "${schema}"`);
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/**
 * Fresh SQLite paths and PostgreSQL schemas for one test file (`what` names its contract in the
 * NOTICE and its folder and schemas: lower case letters only).
 */
export function storeFixtures(what: string) {
  const dir = mkdtempSync(join(tmpdir(), `nullroom-${what}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  if (DATABASE_URL === undefined) console.log(`# NOTICE: DATABASE_URL is not set: the PostgreSQL ${what} contract is skipped`);
  const schemas: string[] = [];
  let files = 0;
  after(async () => {
    if (DATABASE_URL === undefined || schemas.length === 0) return;
    const c = new pg.Client({ connectionString: DATABASE_URL });
    await c.connect();
    for (const schema of schemas) await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  });
  return {
    dir,
    freshFile: () => join(dir, `accounts-${++files}.db`),
    freshSchema: () => {
      const s = `nr_${what}_${process.pid}_${schemas.length}_${Math.floor(Math.random() * 1e6)}`;
      schemas.push(s);
      return s;
    },
  };
}

/** Makes `path` an account store file at schema `version` (its first `version` steps only). */
export function sqliteStoreAt(path: string, version: number): void {
  const spec = { ...ACCOUNT_STORE_FILE, migrations: ACCOUNT_STORE_FILE.migrations.slice(0, version) };
  openSqliteFile(path, spec, (problem) => new Error(problem)).close();
}

/** Makes `schema` an account store schema at `version` (its first `version` steps only), marked as ours. */
export async function pgStoreAt(schema: string, version: number): Promise<void> {
  const q = (name: string) => `"${schema}"."${name}"`;
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA "${schema}"`);
    await c.query(`CREATE TABLE ${q('meta')} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    for (const step of pgAccountMigrations(q).slice(0, version)) await c.query(step);
    await c.query(`INSERT INTO ${q('meta')} (key, value) VALUES ('application', 'nullroom-accounts'), ('version', $1)`, [String(version)]);
  } finally {
    await c.end();
  }
}
