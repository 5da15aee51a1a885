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
import type {
  AccountStore,
  ClaimedKeyPackage,
  CreateUserResult,
  SessionKind,
  StoredDevice,
  StoredListEntry,
  StoredSession,
  StoredUser,
} from './accountStore.js';
import { CONVERSATIONS_SCHEMA, sqliteConversations } from './sqliteConversations.js';
import { CONTACTS_SCHEMA, sqliteContacts } from './sqliteContacts.js';

/** "NRac": SQLite's `PRAGMA application_id` of a Nullroom account store. */
export const ACCOUNT_STORE_APPLICATION_ID = 0x4e526163;

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
CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  identity_key BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX devices_by_user ON devices (user_id);
CREATE TABLE key_packages (
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  last_resort INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX key_packages_by_device ON key_packages (device_id, last_resort, id);
`;

/**
 * Version 2: signed device lists (§11.8). Devices from before them go: no client had used them, and
 * without a list that a device signed, no one could trust them.
 */
const DEVICE_LISTS = `
DELETE FROM devices;
CREATE TABLE device_lists (
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  entry BLOB NOT NULL,
  PRIMARY KEY (user_id, version)
) WITHOUT ROWID;
`;

/**
 * Version 5: a session is bound to one device (§11.8), and ends with it (ON DELETE CASCADE). The
 * sessions from before stay, unbound: they may do what a new device may until their device binds them.
 */
const SESSION_DEVICES = `
ALTER TABLE sessions ADD COLUMN device_id TEXT REFERENCES devices (id) ON DELETE CASCADE;
CREATE INDEX sessions_by_device ON sessions (device_id);
`;

/** The file's schema steps, in order (exported for the tests that make a file of an older version). */
export const ACCOUNT_STORE_FILE: SqliteFileSpec = {
  applicationId: ACCOUNT_STORE_APPLICATION_ID,
  migrations: [SCHEMA, DEVICE_LISTS, CONVERSATIONS_SCHEMA, CONTACTS_SCHEMA, SESSION_DEVICES],
};

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
  device_id: string | null;
}

interface DeviceRow {
  id: string;
  user_id: string;
  identity_key: Buffer;
  created_at: number;
}
const device = (r: DeviceRow): StoredDevice => ({
  id: r.id,
  userId: r.user_id,
  identityKey: bytes(r.identity_key),
  createdAt: r.created_at,
});

const user = (r: UserRow): StoredUser => ({ id: r.id, name: r.name, key: r.look_alike, record: r.record, createdAt: r.created_at });
const session = (r: SessionRow): StoredSession => ({
  tokenHash: bytes(r.token_hash),
  userId: r.user_id,
  kind: r.kind as SessionKind,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  ...(r.device_id === null ? {} : { device: r.device_id }),
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
    insertSession: s('INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at, device_id) VALUES (?, ?, ?, ?, ?, ?)'),
    session: s('SELECT token_hash, user_id, kind, created_at, expires_at, device_id FROM sessions WHERE token_hash = ? AND expires_at > ?'),
    // Binds an unbound session (or confirms a binding to the same device) to a device of its own user.
    bindSession: s(
      `UPDATE sessions SET device_id = @device WHERE token_hash = @hash AND user_id = @user AND (device_id IS NULL OR device_id = @device)
          AND EXISTS (SELECT 1 FROM devices WHERE id = @device AND user_id = @user)`,
    ),
    deleteSession: s('DELETE FROM sessions WHERE token_hash = ?'),
    deleteSessions: s('DELETE FROM sessions WHERE user_id = ?'),
    deleteSessionsBut: s('DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?'),
    prune: s('DELETE FROM sessions WHERE expires_at <= ?'),
    deviceCount: s('SELECT count(*) FROM devices WHERE user_id = ?').pluck(),
    deviceByKey: s('SELECT id FROM devices WHERE identity_key = ?').pluck(),
    insertDevice: s('INSERT INTO devices (id, user_id, identity_key, created_at) VALUES (?, ?, ?, ?)'),
    devices: s('SELECT id, user_id, identity_key, created_at FROM devices WHERE user_id = ? ORDER BY created_at, id'),
    deviceOf: s('SELECT id FROM devices WHERE id = ? AND user_id = ?').pluck(),
    deleteDevice: s('DELETE FROM devices WHERE id = ? AND user_id = ?'),
    listHead: s('SELECT version, entry FROM device_lists WHERE user_id = ? ORDER BY version DESC LIMIT 1'),
    listAfter: s('SELECT version, entry FROM device_lists WHERE user_id = ? AND version > ? ORDER BY version'),
    insertEntry: s('INSERT INTO device_lists (user_id, version, entry) VALUES (?, ?, ?)'),
    oneTimeCount: s('SELECT count(*) FROM key_packages WHERE device_id = ? AND last_resort = 0').pluck(),
    insertPackage: s('INSERT INTO key_packages (device_id, last_resort, data) VALUES (?, ?, ?)'),
    dropLastResort: s('DELETE FROM key_packages WHERE device_id = ? AND last_resort = 1'),
    firstPackage: s('SELECT id, last_resort, data FROM key_packages WHERE device_id = ? ORDER BY last_resort, id LIMIT 1'),
    deletePackage: s('DELETE FROM key_packages WHERE id = ?'),
  };
}

/** Opens (creating it if missing) the account store at `path`; an AccountStoreError if it cannot. */
export function openSqliteAccountStore(path: string): AccountStore {
  const db = openSqliteFile(path, ACCOUNT_STORE_FILE, (code, detail) => new AccountStoreError(code, path, detail));
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
    ...sqliteDevices(db, st, run),
    ...sqliteConversations(db, run),
    ...sqliteContacts(db, run),
    createUser: (u) => run(() => createUser.immediate(u)),
    userByName: (name) => run(() => mapUser(st.byName.get(name))),
    userById: (id) => run(() => mapUser(st.byId.get(id))),
    userByKey: (key) => run(() => mapUser(st.byKey.get(key))),
    replaceRecord: (userId, record, keep) => run(() => replaceRecord.immediate(userId, record, keep)),
    // Sessions go with the user (ON DELETE CASCADE); later tables of the account do the same.
    deleteUser: (userId) => run(() => st.deleteUser.run(userId).changes === 1),
    createSession: (s) => run(() => void st.insertSession.run(s.tokenHash, s.userId, s.kind, s.createdAt, s.expiresAt, s.device ?? null)),
    bindSession: (hash, user, device) => run(() => st.bindSession.run({ hash, user, device }).changes === 1),
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
    ping: () => run(() => void db.prepare('SELECT 1').get()),
    close: () => {
      if (db.open) db.close();
      return Promise.resolve();
    },
  };
}

type DeviceMethods = Pick<
  AccountStore,
  'addDevice' | 'devices' | 'removeDevice' | 'deviceList' | 'deviceListHead' | 'addKeyPackages' | 'claimKeyPackages'
>;
type ListRow = { version: number; entry: Buffer };
const listEntry = (r: ListRow): StoredListEntry => ({ version: r.version, entry: bytes(r.entry) });

/** Devices, their list and their KeyPackages: each method one transaction (a claim never hands a one-time KeyPackage out twice). */
function sqliteDevices(db: Database.Database, st: ReturnType<typeof statements>, run: <T>(fn: () => T) => Promise<T>): DeviceMethods {
  /** Whether `e` is the list's next version; it is appended when it is. */
  const append = (userId: string, e: StoredListEntry): boolean => {
    const head = st.listHead.get(userId) as ListRow | undefined;
    if (e.version !== (head?.version ?? 0) + 1) return false;
    st.insertEntry.run(userId, e.version, e.entry);
    return true;
  };
  const addDevice = db.transaction(
    (d: StoredDevice, max: number, e: StoredListEntry, bind: Uint8Array | undefined): 'added' | 'too-many' | 'exists' | 'stale' => {
      if (st.deviceByKey.get(d.identityKey) !== undefined) return 'exists';
      if ((st.deviceCount.get(d.userId) as number) >= max) return 'too-many';
      if (!append(d.userId, e)) return 'stale';
      st.insertDevice.run(d.id, d.userId, d.identityKey, d.createdAt);
      if (bind !== undefined) st.bindSession.run({ hash: bind, user: d.userId, device: d.id });
      return 'added';
    },
  );
  const removeDevice = db.transaction((userId: string, deviceId: string, e: StoredListEntry): 'removed' | 'no-such-device' | 'stale' => {
    if (st.deviceOf.get(deviceId, userId) === undefined) return 'no-such-device';
    if (!append(userId, e)) return 'stale';
    // Its sessions, KeyPackages, mailbox, losses and memberships go with it (ON DELETE CASCADE).
    st.deleteDevice.run(deviceId, userId);
    return 'removed';
  });
  const addKeyPackages = db.transaction(
    (userId: string, deviceId: string, oneTime: readonly Uint8Array[], lastResort: Uint8Array | undefined, max: number) => {
      if (st.deviceOf.get(deviceId, userId) === undefined) return undefined;
      let n = st.oneTimeCount.get(deviceId) as number;
      for (const kp of oneTime) {
        if (n >= max) break;
        st.insertPackage.run(deviceId, 0, kp);
        n++;
      }
      if (lastResort !== undefined) {
        st.dropLastResort.run(deviceId);
        st.insertPackage.run(deviceId, 1, lastResort);
      }
      return n;
    },
  );
  const claimKeyPackages = db.transaction((userId: string): ClaimedKeyPackage[] => {
    const out: ClaimedKeyPackage[] = [];
    for (const d of (st.devices.all(userId) as DeviceRow[]).map(device)) {
      const kp = st.firstPackage.get(d.id) as { id: number; last_resort: number; data: Buffer } | undefined;
      if (kp === undefined) continue;
      if (kp.last_resort === 0) st.deletePackage.run(kp.id);
      out.push({ device: d, keyPackage: bytes(kp.data), lastResort: kp.last_resort === 1 });
    }
    return out;
  });
  return {
    addDevice: (d, max, e, bind) => run(() => addDevice.immediate(d, max, e, bind)),
    devices: (userId) => run(() => (st.devices.all(userId) as DeviceRow[]).map(device)),
    removeDevice: (userId, deviceId, e) => run(() => removeDevice.immediate(userId, deviceId, e)),
    deviceList: (userId, after) => run(() => (st.listAfter.all(userId, after) as ListRow[]).map(listEntry)),
    deviceListHead: (userId) =>
      run(() => {
        const r = st.listHead.get(userId) as ListRow | undefined;
        return r === undefined ? undefined : listEntry(r);
      }),
    addKeyPackages: (userId, deviceId, oneTime, lastResort, max) =>
      run(() => addKeyPackages.immediate(userId, deviceId, oneTime, lastResort, max)),
    claimKeyPackages: (userId) => run(() => claimKeyPackages.immediate(userId)),
  };
}

const mapUser = (r: unknown): StoredUser | undefined => (r === undefined ? undefined : user(r as UserRow));
