/**
 * The conversation and mailbox contract (conversationStore.contract.ts) against the embedded SQLite
 * account store always, and PostgreSQL when DATABASE_URL is set (each run in a schema of its own,
 * dropped at the end; elsewhere the suite says it skipped). Then what is SQLite's own: a submit that
 * returned survives `kill -9` of the writer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { openSqliteAccountStore } from '../src/accounts/sqliteAccountStore.js';
import { openPgAccountStore } from '../src/accounts/pgAccountStore.js';
import { conversationContract, type Harness } from './conversationStore.contract.js';
import { DATABASE_URL, pgRows, pgSkip, storeFixtures } from './_stores.js';

const { freshFile, freshSchema } = storeFixtures('conversations');

conversationContract('sqlite', async () => {
  const path = freshFile();
  const h: Harness = {
    store: openSqliteAccountStore(path),
    // The store holds the file's lock: it is closed for the look, and opened again.
    async raw(sql) {
      await h.store.close();
      const db = new Database(path);
      try {
        return db.prepare(sql).all() as Record<string, unknown>[];
      } finally {
        db.close();
        h.store = openSqliteAccountStore(path);
      }
    },
    close: () => h.store.close(),
  };
  return h;
});

conversationContract(
  'postgres',
  async () => {
    const schema = freshSchema();
    const store = await openPgAccountStore({ connectionString: DATABASE_URL!, schema, poolSize: 8 });
    let closed = false;
    return {
      store,
      raw: (sql) => pgRows(schema, sql),
      close: async () => {
        if (!closed) await store.close().catch(() => undefined);
        closed = true;
      },
    };
  },
  pgSkip,
);

test('sqlite: a message whose submit returned survives kill -9 of the writer', async () => {
  const path = freshFile();
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { openSqliteAccountStore } from ${JSON.stringify(new URL('../src/accounts/sqliteAccountStore.js', import.meta.url).href)};
       import { defaultConversationLimits as L } from ${JSON.stringify(new URL('../src/accounts/conversationStore.js', import.meta.url).href)};
       const st = openSqliteAccountStore(${JSON.stringify(path)});
       await st.createUser({ id: 'u1', name: 'alice', key: 'alice', record: 'rec', createdAt: 1 });
       for (const [id, k] of [['d1', 1], ['d2', 2]]) await st.addDevice({ id, userId: 'u1', identityKey: new Uint8Array(32).fill(k), createdAt: k }, 5, { version: k, entry: new Uint8Array([k]) });
       await st.createConversation('c', 'd1', 1);
       await st.submitCommit({ conversation: 'c', sender: 'd1', epoch: 0, payload: new Uint8Array([1]), add: ['d2'], remove: [], welcome: new Uint8Array([2]) }, L, 1);
       const r = await st.submitApp({ conversation: 'c', sender: 'd1', epoch: 1, payload: new Uint8Array([3, 3, 3]) }, L, 2);
       process.stdout.write(r.status + '\\n');
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const said = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the writer exited first (${code})`)));
  });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(said, 'accepted');
  const again = openSqliteAccountStore(path);
  try {
    const box = await again.mailbox('d2', 0, 10, 3);
    assert.deepEqual(
      box.entries.map((e) => [e.seq, e.kind, [...e.payload]]),
      [
        [1, 'welcome', [2]],
        [2, 'app', [3, 3, 3]],
      ],
    );
    assert.deepEqual(await again.members('c'), { epoch: 1, devices: ['d1', 'd2'] });
  } finally {
    await again.close();
  }
});
