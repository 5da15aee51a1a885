/**
 * Devices and their KeyPackages in PostgreSQL: the part of pgAccountStore.ts's AccountStore that
 * needs transactions with row locks. A device count and a claim lock the account's user row (FOR
 * UPDATE), so that two relay nodes adding devices or claiming KeyPackages at once serialise: no
 * account passes its device cap, and no one-time KeyPackage is handed out twice.
 */
import type pg from 'pg';
import type { AccountStoreError } from '../errors.js';
import type { AccountStore, ClaimedKeyPackage, StoredDevice, StoredListEntry } from './accountStore.js';

type DeviceMethods = Pick<
  AccountStore,
  'addDevice' | 'devices' | 'removeDevice' | 'deviceList' | 'deviceListHead' | 'addKeyPackages' | 'claimKeyPackages'
>;
type Names = (name: string) => string;

interface DeviceRow {
  id: string;
  user_id: string;
  identity_key: Buffer;
  created_at: string;
}
const bytes = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const device = (r: DeviceRow): StoredDevice => ({
  id: r.id,
  userId: r.user_id,
  identityKey: bytes(r.identity_key),
  createdAt: Number(r.created_at),
});
const COLS = 'id, user_id, identity_key, created_at';
type ListRow = { version: number; entry: Buffer };
const listEntry = (r: ListRow): StoredListEntry => ({ version: r.version, entry: bytes(r.entry) });

/**
 * Binds an unbound session (or confirms a binding to the same device) to a device of its own user:
 * $1 token hash, $2 user, $3 device. One statement: the device's row is locked (KEY SHARE) by the
 * check, so it cannot be deleted between the check and the update.
 */
export const bindSql = (q: (name: string) => string): string =>
  `UPDATE ${q('sessions')} SET device_id = $3
    WHERE token_hash = $1 AND user_id = $2 AND (device_id IS NULL OR device_id = $3)
      AND EXISTS (SELECT 1 FROM ${q('devices')} WHERE id = $3 AND user_id = $2 FOR KEY SHARE)`;

export function pgDevices(pool: pg.Pool, q: Names, failure: (e: unknown) => AccountStoreError): DeviceMethods {
  const tx = <T>(fn: (c: pg.PoolClient) => Promise<T>) => transaction(pool, failure, fn);
  const lockUser = (c: pg.PoolClient, userId: string) => c.query(`SELECT 1 FROM ${q('users')} WHERE id = $1 FOR UPDATE`, [userId]);
  const listDevices = async (c: pg.PoolClient | pg.Pool, userId: string) =>
    (await c.query<DeviceRow>(`SELECT ${COLS} FROM ${q('devices')} WHERE user_id = $1 ORDER BY created_at, id`, [userId])).rows.map(device);
  const read = async <R extends pg.QueryResultRow>(sql: string, params: unknown[]) => {
    try {
      return (await pool.query<R>(sql, params)).rows;
    } catch (e) {
      throw failure(e);
    }
  };
  /** Whether `e` is the list's next version (the user row is locked); it is appended when it is. */
  const append = async (c: pg.PoolClient, userId: string, e: StoredListEntry) => {
    const head = (await c.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${q('device_lists')} WHERE user_id = $1`, [userId]))
      .rows[0];
    if (e.version !== (head?.v ?? 0) + 1) return false;
    await c.query(`INSERT INTO ${q('device_lists')} (user_id, version, entry) VALUES ($1, $2, $3)`, [
      userId,
      e.version,
      Buffer.from(e.entry),
    ]);
    return true;
  };
  return {
    addDevice: (d, max, e, bind) =>
      tx(async (c) => {
        await lockUser(c, d.userId);
        const added = await insertDevice(c, q, d, max, () => append(c, d.userId, e));
        if (added === 'added' && bind !== undefined) await c.query(bindSql(q), [Buffer.from(bind), d.userId, d.id]);
        return added;
      }),
    devices: async (userId) => {
      try {
        return await listDevices(pool, userId);
      } catch (e) {
        throw failure(e);
      }
    },
    removeDevice: (userId, deviceId, e) =>
      tx(async (c) => {
        await lockUser(c, userId);
        if (!(await c.query(`SELECT 1 FROM ${q('devices')} WHERE id = $1 AND user_id = $2`, [deviceId, userId])).rowCount)
          return 'no-such-device';
        if (!(await append(c, userId, e))) return 'stale';
        // Its sessions, KeyPackages, mailbox, losses and memberships go with it (ON DELETE CASCADE).
        await c.query(`DELETE FROM ${q('devices')} WHERE id = $1 AND user_id = $2`, [deviceId, userId]);
        return 'removed';
      }),
    deviceList: async (userId, after) =>
      (
        await read<ListRow>(`SELECT version, entry FROM ${q('device_lists')} WHERE user_id = $1 AND version > $2 ORDER BY version`, [
          userId,
          after,
        ])
      ).map(listEntry),
    deviceListHead: async (userId) => {
      const r = (
        await read<ListRow>(`SELECT version, entry FROM ${q('device_lists')} WHERE user_id = $1 ORDER BY version DESC LIMIT 1`, [userId])
      )[0];
      return r === undefined ? undefined : listEntry(r);
    },
    addKeyPackages: (userId, deviceId, oneTime, lastResort, max) =>
      tx(async (c) => {
        await lockUser(c, userId);
        return storePackages(c, q, userId, deviceId, oneTime, lastResort, max);
      }),
    claimKeyPackages: (userId) =>
      tx(async (c) => {
        await lockUser(c, userId);
        return claim(c, q, await listDevices(c, userId));
      }),
  };
}

/** A deadlock's victim, or a serialisation failure: the whole transaction may run again. */
const retryable = (e: unknown) => ['40P01', '40001'].includes((e as { code?: unknown } | null)?.code as string);

/**
 * Runs `fn` in a transaction on one client, again (up to 3 times in all) if PostgreSQL chose it as
 * a deadlock's victim; any other failure rolls back and becomes an AccountStoreError. `fn` must do
 * nothing but its queries, since it may run more than once. Shared by every PostgreSQL store part.
 */
export async function transaction<T>(
  pool: pg.Pool,
  failure: (e: unknown) => AccountStoreError,
  fn: (c: pg.PoolClient) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let c: pg.PoolClient;
    try {
      c = await pool.connect();
    } catch (e) {
      throw failure(e);
    }
    try {
      await c.query('BEGIN');
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      if (attempt < 3 && retryable(e)) continue;
      throw failure(e);
    } finally {
      c.release();
    }
  }
}

/** Inserts the device unless its key is taken, the account is at `max`, or `append` refuses its list entry (the user row is locked). */
async function insertDevice(
  c: pg.PoolClient,
  q: Names,
  d: StoredDevice,
  max: number,
  append: () => Promise<boolean>,
): Promise<'added' | 'too-many' | 'exists' | 'stale'> {
  if ((await c.query(`SELECT 1 FROM ${q('devices')} WHERE identity_key = $1`, [Buffer.from(d.identityKey)])).rowCount) return 'exists';
  const n = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${q('devices')} WHERE user_id = $1`, [d.userId])).rows[0]?.n);
  if (n >= max) return 'too-many';
  if (!(await append())) return 'stale';
  await c.query(`INSERT INTO ${q('devices')} (${COLS}) VALUES ($1, $2, $3, $4)`, [d.id, d.userId, Buffer.from(d.identityKey), d.createdAt]);
  return 'added';
}

/** Adds one-time KeyPackages up to `max` and replaces the last-resort one: the one-time count, or undefined for another's device. */
async function storePackages(
  c: pg.PoolClient,
  q: Names,
  userId: string,
  deviceId: string,
  oneTime: readonly Uint8Array[],
  lastResort: Uint8Array | undefined,
  max: number,
): Promise<number | undefined> {
  if (!(await c.query(`SELECT 1 FROM ${q('devices')} WHERE id = $1 AND user_id = $2`, [deviceId, userId])).rowCount) return undefined;
  const count = `SELECT count(*) AS n FROM ${q('key_packages')} WHERE device_id = $1 AND NOT last_resort`;
  let n = Number((await c.query<{ n: string }>(count, [deviceId])).rows[0]?.n);
  const insert = `INSERT INTO ${q('key_packages')} (device_id, last_resort, data) VALUES ($1, $2, $3)`;
  for (const kp of oneTime) {
    if (n >= max) break;
    await c.query(insert, [deviceId, false, Buffer.from(kp)]);
    n++;
  }
  if (lastResort !== undefined) {
    await c.query(`DELETE FROM ${q('key_packages')} WHERE device_id = $1 AND last_resort`, [deviceId]);
    await c.query(insert, [deviceId, true, Buffer.from(lastResort)]);
  }
  return n;
}

/** One KeyPackage per device: the oldest one-time one (deleted), else the last-resort one. */
async function claim(c: pg.PoolClient, q: Names, devices: StoredDevice[]): Promise<ClaimedKeyPackage[]> {
  const out: ClaimedKeyPackage[] = [];
  const first = `SELECT id, last_resort, data FROM ${q('key_packages')} WHERE device_id = $1 ORDER BY last_resort, id LIMIT 1`;
  for (const d of devices) {
    const kp = (await c.query<{ id: string; last_resort: boolean; data: Buffer }>(first, [d.id])).rows[0];
    if (kp === undefined) continue;
    if (!kp.last_resort) await c.query(`DELETE FROM ${q('key_packages')} WHERE id = $1`, [kp.id]);
    out.push({ device: d, keyPackage: bytes(kp.data), lastResort: kp.last_resort });
  }
  return out;
}
