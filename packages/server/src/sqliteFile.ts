/**
 * One SQLite file of the relay's (the room store `rooms.db`, the account store `accounts.db`):
 * created 0600 in a 0700 directory, held with an exclusive lock while open, marked as ours with
 * `PRAGMA application_id` and versioned with `user_version`; anything else is refused with an
 * error whose message names the path and the reason, never what the file holds.
 *
 * Durability: WAL journal with `synchronous = NORMAL`. A committed transaction is in the WAL file
 * (the operating system's cache) when the call returns, so a crash or `kill -9` of the relay right
 * after loses nothing; a power loss may lose the last writes, never corrupt the file. Deleted rows
 * are zeroed in the file (`secure_delete`).
 *
 * Versions: `migrations[0]` creates the first schema and `migrations[i]` takes version i to i + 1,
 * each in one transaction; a file at an older version is brought up to date when opened.
 */
import Database from 'better-sqlite3';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export interface SqliteFileSpec {
  readonly applicationId: number;
  /** The schema's steps, oldest first: the file's version is how many of them it has run. */
  readonly migrations: readonly string[];
}

/** Why a file was refused; the caller's error type carries it, with SQLite's or the file system's code. */
export type SqliteFileProblem = 'NOT_OURS' | 'NEWER_SCHEMA' | 'UNREADABLE' | 'IN_USE';

/** The SQLite error code an error carries (`SQLITE_BUSY`, …), if it is one of SQLite's. */
export function sqliteCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/** A plain Uint8Array over a BLOB SQLite returned (a Buffer), without copying it. */
export const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

class Refused extends Error {
  constructor(
    readonly problem: SqliteFileProblem,
    readonly detail?: string,
  ) {
    super(problem);
  }
}

/** The refusal for a failure while opening: what SQLite's code says about the file. */
function openFailure(e: unknown): Refused {
  if (e instanceof Refused) return e;
  const code = sqliteCode(e);
  const kind: SqliteFileProblem =
    code === 'SQLITE_NOTADB' ? 'NOT_OURS' : code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' ? 'IN_USE' : 'UNREADABLE';
  return new Refused(kind, code);
}

/** Creates the file 0600 (and its missing directories 0700) if it does not exist yet. */
function createFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'wx', 0o600));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw new Refused('UNREADABLE', code);
  }
}

/** Takes the lock, checks that the file is ours (or empty) and makes it ours; then sets the journal. */
function prepareFile(db: Database.Database, spec: SqliteFileSpec): void {
  // Before the first access: the lock is then held until close (and no shared-memory file is used).
  db.pragma('locking_mode = EXCLUSIVE');
  const app = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  if (app === spec.applicationId) {
    if (version > spec.migrations.length) throw new Refused('NEWER_SCHEMA');
    if (version < 1) throw new Refused('NOT_OURS');
  } else {
    const objects = db.prepare('SELECT count(*) FROM sqlite_master').pluck().get() as number;
    if (app !== 0 || version !== 0 || objects !== 0) throw new Refused('NOT_OURS');
  }
  if ((db.pragma('journal_mode = WAL', { simple: true }) as string).toLowerCase() !== 'wal') throw new Refused('UNREADABLE');
  db.pragma('synchronous = NORMAL');
  db.pragma('secure_delete = ON');
  db.pragma('foreign_keys = ON');
  for (let v = app === 0 ? 0 : version; v < spec.migrations.length; v++) {
    db.transaction(() => {
      db.exec(spec.migrations[v] as string);
      if (v === 0) db.pragma(`application_id = ${spec.applicationId}`);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

/**
 * Opens (creating it if missing) the SQLite file at `path` as `spec` describes; a refusal is thrown
 * as `fail(problem, detail)`.
 */
export function openSqliteFile(
  path: string,
  spec: SqliteFileSpec,
  fail: (problem: SqliteFileProblem, detail: string | undefined) => Error,
): Database.Database {
  let db: Database.Database;
  try {
    createFile(path);
    // A relay that is still stopping may hold the lock a moment longer; past that, IN_USE.
    db = new Database(path, { fileMustExist: true, timeout: 250 });
  } catch (e) {
    const r = openFailure(e);
    throw fail(r.problem, r.detail);
  }
  try {
    prepareFile(db, spec);
    return db;
  } catch (e) {
    db.close();
    const r = openFailure(e);
    throw fail(r.problem, r.detail);
  }
}
