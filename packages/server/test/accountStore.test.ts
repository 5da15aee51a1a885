/**
 * One contract for every account store (src/accounts/accountStore.ts): the embedded SQLite store
 * always, PostgreSQL when DATABASE_URL is set (CI sets it; elsewhere the suite says it skipped).
 * Each PostgreSQL run uses a schema of its own, dropped at the end. Then what is particular to
 * each: the SQLite file is private and refuses a file that is not ours, and survives `kill -9` of
 * the writer; PostgreSQL refuses a schema of another program and reports an unreachable server as
 * UNAVAILABLE, naming no row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { AccountStoreError } from '../src/errors.js';
import type { AccountStore, StoredSession, StoredUser } from '../src/accounts/accountStore.js';
import { openSqliteAccountStore } from '../src/accounts/sqliteAccountStore.js';
import { openPgAccountStore } from '../src/accounts/pgAccountStore.js';
import { DATABASE_URL, pgRows, pgSkip, pgStoreAt, sqliteStoreAt, storeFixtures } from './_stores.js';

const { freshFile, freshSchema } = storeFixtures('accountstore');

const u = (id: string, name: string, key = name): StoredUser => ({ id, name, key, record: `rec-${id}`, createdAt: 1_700_000_000_000 });
const h = (n: number) => new Uint8Array(32).fill(n);
const s = (n: number, userId: string, expiresAt = 2_000_000_000_000): StoredSession => ({
  tokenHash: h(n),
  userId,
  kind: n % 2 === 0 ? 'web' : 'cli',
  createdAt: 1_700_000_000_000,
  expiresAt,
});

/** A device whose identity key is 32 bytes of `key`. */
const dev = (id: string, userId: string, key: number, at = 1) => ({ id, userId, identityKey: new Uint8Array(32).fill(key), createdAt: at });

type Opened = { store: AccountStore; reopen: () => Promise<AccountStore> };

function contract(kind: string, make: () => Promise<Opened>, skip: string | false = false) {
  const open = async () => (await make()).store;
  test(`${kind}: users are unique by name and by look-alike key, and found by each`, { skip }, async () => {
    const st = await open();
    try {
      assert.equal(await st.createUser(u('u1', 'alice', 'alice')), 'created');
      assert.equal(await st.createUser(u('u2', 'alice', 'alice')), 'taken');
      assert.equal(await st.createUser(u('u3', 'a1ice', 'alice')), 'look-alike');
      assert.equal(await st.createUser(u('u4', 'bob', 'bob')), 'created');
      assert.deepEqual(await st.userByName('alice'), u('u1', 'alice', 'alice'));
      assert.deepEqual(await st.userById('u4'), u('u4', 'bob', 'bob'));
      assert.deepEqual(await st.userByKey('alice'), u('u1', 'alice', 'alice'));
      assert.equal(await st.userByName('a1ice'), undefined);
      assert.equal(await st.userById('u3'), undefined);
    } finally {
      await st.close();
    }
  });

  test(`${kind}: sessions are found while valid, end one by one, per user, on expiry, with the user`, { skip }, async () => {
    const made = await make();
    let st = made.store;
    try {
      await st.createUser(u('u1', 'alice'));
      await st.createUser(u('u2', 'bob'));
      for (const n of [1, 2, 3]) await st.createSession(s(n, 'u1'));
      await st.createSession(s(4, 'u2'));
      await st.createSession(s(5, 'u2', 1_800_000_000_000));
      const found = await st.session(h(1), 1_900_000_000_000);
      assert.deepEqual(found, { session: s(1, 'u1'), user: u('u1', 'alice') });
      assert.equal(await st.session(h(5), 1_900_000_000_000), undefined, 'expired');
      assert.equal(await st.session(h(9), 1_900_000_000_000), undefined, 'unknown');
      await st.deleteSession(h(2));
      await st.deleteSession(h(2)); // again: nothing happens
      assert.equal(await st.session(h(2), 0), undefined);
      assert.equal(await st.deleteSessions('u1', h(1)), 1, 'all but the kept one');
      assert.ok(await st.session(h(1), 0));
      assert.equal(await st.session(h(3), 0), undefined);
      assert.equal(await st.pruneSessions(1_900_000_000_000), 1);
      // What was written is there after a reopen.
      st = await made.reopen();
      assert.ok(await st.session(h(4), 0));
      assert.equal(await st.deleteUser('u2'), true);
      assert.equal(await st.deleteUser('u2'), false);
      assert.equal(await st.session(h(4), 0), undefined, 'sessions go with the user');
      assert.equal(await st.userByName('bob'), undefined);
      assert.equal(await st.deleteSessions('u1'), 1);
    } finally {
      await st.close();
    }
  });

  test(`${kind}: devices: capped per account, identity keys unique, removed with their KeyPackages and with the account`, {
    skip,
  }, async () => {
    const st = await open();
    try {
      await st.createUser(u('u1', 'alice'));
      await st.createUser(u('u2', 'bob'));
      // The store keeps list entries as bytes (the relay checks them before, deviceListCheck.ts); it only keeps them in order.
      const v = (version: number, tag = version) => ({ version, entry: new Uint8Array([tag, tag]) });
      assert.equal(await st.addDevice(dev('d1', 'u1', 1, 1), 2, v(1)), 'added');
      assert.equal(await st.addDevice(dev('d2', 'u1', 2, 2), 2, v(1, 9)), 'stale', 'version 1 is taken');
      assert.equal(await st.addDevice(dev('d2', 'u1', 2, 2), 2, v(3)), 'stale', 'not the next version');
      assert.equal(await st.addDevice(dev('d2', 'u1', 2, 2), 2, v(2)), 'added');
      assert.equal(await st.addDevice(dev('d3', 'u1', 3, 3), 2, v(3)), 'too-many');
      assert.equal(await st.addDevice(dev('d4', 'u2', 1, 4), 2, v(1)), 'exists', 'another account cannot take a device’s key');
      assert.deepEqual(
        (await st.devices('u1')).map((d) => [d.id, d.identityKey[0]]),
        [
          ['d1', 1],
          ['d2', 2],
        ],
      );
      assert.deepEqual(await st.devices('u2'), []);
      assert.equal(await st.deviceListHead('u2'), undefined, 'refused additions left no entry');
      assert.equal(await st.removeDevice('u2', 'd1', v(1)), 'no-such-device', 'not bob’s device');
      assert.equal(await st.removeDevice('u1', 'd1', v(2)), 'stale');
      assert.equal((await st.devices('u1')).length, 2, 'a stale removal removes nothing');
      assert.equal(await st.removeDevice('u1', 'd1', v(3)), 'removed');
      assert.deepEqual(
        (await st.devices('u1')).map((d) => d.id),
        ['d2'],
      );
      assert.deepEqual(
        (await st.deviceList('u1', 0)).map((e) => [e.version, e.entry[0]]),
        [
          [1, 1],
          [2, 2],
          [3, 3],
        ],
      );
      assert.deepEqual(
        (await st.deviceList('u1', 2)).map((e) => e.version),
        [3],
      );
      assert.deepEqual(await st.deviceListHead('u1'), v(3));
      // Two devices added at once for one version: one wins.
      const race = await Promise.all([st.addDevice(dev('d6', 'u1', 6, 6), 5, v(4)), st.addDevice(dev('d7', 'u1', 7, 7), 5, v(4, 7))]);
      assert.deepEqual([...race].sort(), ['added', 'stale']);
      await st.deleteUser('u1');
      assert.deepEqual(await st.devices('u1'), []);
      assert.deepEqual(await st.deviceList('u1', 0), [], 'the list goes with the account');
      assert.equal(await st.addDevice(dev('d5', 'u2', 2, 5), 2, v(1)), 'added', 'a deleted account’s keys are free again');
    } finally {
      await st.close();
    }
  });

  test(`${kind}: KeyPackages: one per device per claim, one-time ones never twice, the last-resort one kept`, { skip }, async () => {
    const st = await open();
    try {
      await st.createUser(u('u1', 'alice'));
      await st.createUser(u('u2', 'bob'));
      const v = (version: number) => ({ version, entry: new Uint8Array([version]) });
      await st.addDevice({ id: 'd1', userId: 'u1', identityKey: new Uint8Array(32).fill(1), createdAt: 1 }, 5, v(1));
      await st.addDevice({ id: 'd2', userId: 'u1', identityKey: new Uint8Array(32).fill(2), createdAt: 2 }, 5, v(2));
      const kp = (n: number) => new Uint8Array([n, n, n]);
      assert.equal(await st.addKeyPackages('u1', 'd1', [kp(1), kp(2), kp(3), kp(4)], kp(100), 3), 3, 'at most 3 one-time ones kept');
      assert.equal(await st.addKeyPackages('u1', 'd2', [], kp(200), 3), 0);
      assert.equal(await st.addKeyPackages('u2', 'd1', [kp(9)], undefined, 3), undefined, 'not bob’s device');
      const claim = async () => (await st.claimKeyPackages('u1')).map((c) => [c.device.id, c.keyPackage[0], c.lastResort]);
      assert.deepEqual(await claim(), [
        ['d1', 1, false],
        ['d2', 200, true],
      ]);
      assert.deepEqual(await claim(), [
        ['d1', 2, false],
        ['d2', 200, true],
      ]);
      assert.deepEqual((await claim())[0], ['d1', 3, false]);
      assert.deepEqual((await claim())[0], ['d1', 100, true], 'then the last-resort one, again and again');
      assert.deepEqual((await claim())[0], ['d1', 100, true]);
      assert.equal(await st.addKeyPackages('u1', 'd1', [kp(5)], kp(101), 3), 1);
      assert.deepEqual((await claim())[0], ['d1', 5, false]);
      assert.deepEqual((await claim())[0], ['d1', 101, true], 'the last-resort one replaced');
      assert.deepEqual(await st.claimKeyPackages('u2'), []);
      // Concurrent claims never share a one-time KeyPackage.
      await st.addKeyPackages(
        'u1',
        'd1',
        Array.from({ length: 10 }, (_, i) => kp(10 + i)),
        undefined,
        20,
      );
      const many = await Promise.all(Array.from({ length: 10 }, () => st.claimKeyPackages('u1')));
      const got = many.map((c) => c.find((x) => x.device.id === 'd1')!.keyPackage[0]!);
      assert.deepEqual(
        [...new Set(got)].sort((a, b) => a - b),
        Array.from({ length: 10 }, (_, i) => 10 + i),
      );
      await st.removeDevice('u1', 'd1', v(3));
      assert.deepEqual(
        (await st.claimKeyPackages('u1')).map((c) => c.device.id),
        ['d2'],
      );
    } finally {
      await st.close();
    }
  });

  test(`${kind}: a session is bound once, to a device of its own user; adding a device can bind the asker; it ends with its device`, {
    skip,
  }, async () => {
    const st = await open();
    try {
      for (const [id, name] of [
        ['u1', 'alice'],
        ['u2', 'bob'],
      ] as const)
        await st.createUser(u(id, name));
      assert.equal(await st.addDevice(dev('d1', 'u1', 1), 5, { version: 1, entry: h(1) }), 'added');
      assert.equal(await st.addDevice(dev('b1', 'u2', 2), 5, { version: 1, entry: h(2) }), 'added');
      for (const n of [1, 2, 3, 4]) await st.createSession(s(n, 'u1'));
      assert.equal((await st.session(h(1), 0))?.session.device, undefined, 'a new session is unbound');
      assert.equal(await st.bindSession(h(1), 'u1', 'b1'), false, 'another user’s device');
      assert.equal(await st.bindSession(h(1), 'u2', 'b1'), false, 'another user’s session');
      assert.equal(await st.bindSession(h(1), 'u1', 'nope'), false, 'no such device');
      assert.equal(await st.bindSession(h(9), 'u1', 'd1'), false, 'no such session');
      assert.equal(await st.bindSession(h(1), 'u1', 'd1'), true);
      assert.equal(await st.bindSession(h(1), 'u1', 'd1'), true, 'bound to it already: still true');
      assert.equal((await st.session(h(1), 0))?.session.device, 'd1');
      // Adding a device binds the asking session in the same change, only if it is still unbound.
      assert.equal(await st.addDevice(dev('d2', 'u1', 3), 5, { version: 2, entry: h(3) }, h(2)), 'added');
      assert.equal(await st.addDevice(dev('d3', 'u1', 4), 5, { version: 3, entry: h(4) }, h(1)), 'added');
      assert.equal((await st.session(h(2), 0))?.session.device, 'd2');
      assert.equal((await st.session(h(1), 0))?.session.device, 'd1', 'a bound session is not rebound');
      assert.equal(await st.bindSession(h(2), 'u1', 'd1'), false, 'bound to another device');
      assert.equal(await st.addDevice(dev('d4', 'u1', 5), 5, { version: 3, entry: h(5) }, h(3)), 'stale');
      assert.equal((await st.session(h(3), 0))?.session.device, undefined, 'a refused add binds nothing');
      // A removed device's sessions end with it, in the same change; the others stay.
      assert.equal(await st.removeDevice('u1', 'd1', { version: 4, entry: h(6) }), 'removed');
      assert.equal(await st.session(h(1), 0), undefined);
      assert.equal((await st.session(h(2), 0))?.session.device, 'd2');
      assert.ok(await st.session(h(3), 0));
      assert.equal(await st.deleteSessions('u1'), 3);
    } finally {
      await st.close();
    }
  });

  test(`${kind}: replacing the record ends every other session, atomically with the change`, { skip }, async () => {
    const st = await open();
    try {
      await st.createUser(u('u1', 'alice'));
      for (const n of [1, 2, 3]) await st.createSession(s(n, 'u1'));
      assert.equal(await st.replaceRecord('u1', 'new-record', h(2)), true);
      assert.equal((await st.userById('u1'))?.record, 'new-record');
      assert.ok(await st.session(h(2), 0));
      assert.equal(await st.session(h(1), 0), undefined);
      assert.equal(await st.session(h(3), 0), undefined);
      assert.equal(await st.replaceRecord('nobody', 'x', undefined), false);
      assert.equal(await st.replaceRecord('u1', 'newer', undefined), true);
      assert.equal(await st.session(h(2), 0), undefined, 'no session kept: all end');
    } finally {
      await st.close();
    }
  });
}

contract('sqlite', async () => {
  const path = freshFile();
  const store = openSqliteAccountStore(path);
  return {
    store,
    reopen: async () => {
      await store.close();
      return openSqliteAccountStore(path);
    },
  };
});

contract(
  'postgres',
  async () => {
    const schema = freshSchema();
    const open = () => openPgAccountStore({ connectionString: DATABASE_URL!, schema, poolSize: 2 });
    const store = await open();
    return {
      store,
      reopen: async () => {
        await store.close();
        return open();
      },
    };
  },
  pgSkip,
);

test('sqlite: the file is private, a file that is not ours is refused, and a write survives kill -9', async () => {
  const path = freshFile();
  const st = openSqliteAccountStore(path);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.throws(
    () => openSqliteAccountStore(path),
    (e: unknown) => e instanceof AccountStoreError && e.code === 'IN_USE' && e.message.includes(path),
  );
  await st.close();
  const other = freshFile();
  writeFileSync(other, 'not a database, and the secret canary-4471 inside'.repeat(100));
  assert.throws(
    () => openSqliteAccountStore(other),
    (e: unknown) => e instanceof AccountStoreError && e.code === 'NOT_OURS' && !e.message.includes('canary'),
  );
  // A child writes a user and a session, says so, and is killed with SIGKILL at once.
  const crash = freshFile();
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { openSqliteAccountStore } from ${JSON.stringify(new URL('../src/accounts/sqliteAccountStore.js', import.meta.url).href)};
       const st = openSqliteAccountStore(${JSON.stringify(crash)});
       await st.createUser({ id: 'u1', name: 'alice', key: 'alice', record: 'rec', createdAt: 1 });
       await st.createSession({ tokenHash: new Uint8Array(32).fill(7), userId: 'u1', kind: 'cli', createdAt: 1, expiresAt: 9e12 });
       process.stdout.write('written\\n');
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the writer exited first (${code})`)));
  });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const again = openSqliteAccountStore(crash);
  try {
    assert.equal((await again.userByName('alice'))?.id, 'u1');
    assert.equal((await again.session(new Uint8Array(32).fill(7), 0))?.user.name, 'alice');
  } finally {
    await again.close();
  }
});

test('postgres: a schema of another program is refused; an unreachable server is UNAVAILABLE', { skip: pgSkip }, async () => {
  const schema = freshSchema();
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA "${schema}"`);
    await c.query(`CREATE TABLE "${schema}".users (id int, secret text)`);
    await c.query(`CREATE TABLE "${schema}".other (id int)`);
  } finally {
    await c.end();
  }
  await assert.rejects(
    openPgAccountStore({ connectionString: DATABASE_URL!, schema }),
    (e: unknown) => e instanceof AccountStoreError && e.code === 'NOT_OURS',
  );
  // Port 1 on loopback: nothing listens there.
  await assert.rejects(
    openPgAccountStore({ connectionString: 'postgres://nobody:hunter2-canary@127.0.0.1:1/none' }),
    (e: unknown) => e instanceof AccountStoreError && e.code === 'UNAVAILABLE' && !e.message.includes('hunter2'),
  );
});

/** The schema before sessions were bound to devices (§11.8): version 4. */
const BEFORE_BINDING = 4;
const OLD_SESSION = `INSERT INTO users (id, name, look_alike, record, created_at) VALUES ('u1', 'alice', 'alice', 'rec', 1);
  INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at) VALUES (X'${'07'.repeat(32)}', 'u1', 'cli', 1, 9000000000000)`;

test('sqlite: a file from before bound sessions keeps its sessions, unbound, and they can be bound', async () => {
  const path = freshFile();
  sqliteStoreAt(path, BEFORE_BINDING);
  const db = new Database(path);
  db.exec(OLD_SESSION);
  db.close();
  await oldSessionsKept(openSqliteAccountStore(path));
});

test('postgres: a schema from before bound sessions keeps its sessions, unbound, and they can be bound', { skip: pgSkip }, async () => {
  const schema = freshSchema();
  await pgStoreAt(schema, BEFORE_BINDING);
  await pgRows(schema, OLD_SESSION.replace(`X'${'07'.repeat(32)}'`, `'\\x${'07'.repeat(32)}'::bytea`));
  await oldSessionsKept(await openPgAccountStore({ connectionString: DATABASE_URL!, schema }));
});

async function oldSessionsKept(st: AccountStore): Promise<void> {
  try {
    const found = await st.session(h(7), 0);
    assert.equal(found?.user.name, 'alice');
    assert.equal(found?.session.device, undefined);
    assert.equal(
      await st.addDevice({ id: 'd1', userId: 'u1', identityKey: h(50), createdAt: 1 }, 5, { version: 1, entry: h(1) }, h(7)),
      'added',
    );
    assert.equal((await st.session(h(7), 0))?.session.device, 'd1');
  } finally {
    await st.close();
  }
}
