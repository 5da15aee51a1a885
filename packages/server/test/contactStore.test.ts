/**
 * One contract for contacts in every account store (src/accounts/contactStore.ts, contactRules.ts):
 * the embedded SQLite store always, PostgreSQL when DATABASE_URL is set (elsewhere its half is
 * skipped with a NOTICE). Every change, each side's view of it (a declined or blocked request stays
 * pending on the requester's side and is never shown to the other), the caps, account deletion
 * taking every row that mentions the account in either direction, concurrent changes (crossed
 * requests become contacts, a cap is never passed), and a store from before contacts gaining them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import type { AccountStore, StoredUser } from '../src/accounts/accountStore.js';
import type { ContactAction, ContactLimits } from '../src/accounts/contactStore.js';
import { openSqliteAccountStore } from '../src/accounts/sqliteAccountStore.js';
import { openPgAccountStore } from '../src/accounts/pgAccountStore.js';
import { DATABASE_URL, pgRows, pgSkip, pgStoreAt, sqliteStoreAt, storeFixtures } from './_stores.js';

const { freshFile, freshSchema } = storeFixtures('contacts');

const L: ContactLimits = { maxContacts: 5000, maxPending: 200, maxIncoming: 1000, maxBlocked: 1000 };
const u = (name: string): StoredUser => ({ id: `id-${name}`, name, key: name, record: 'rec', createdAt: 1 });

/** A store with the named users, and short ways to act and to read each one's list. */
async function people(st: AccountStore, ...names: string[]) {
  for (const n of names) assert.equal(await st.createUser(u(n)), 'created');
  let clock = 1000;
  const act = (a: ContactAction, who: string, other: string, limits = L) =>
    st.changeContact(a, `id-${who}`, `id-${other}`, ++clock, limits);
  /** `name:state` for each row of the user's list, in its order. */
  const view = async (who: string) => (await st.contacts(`id-${who}`)).map((e) => `${e.name}:${e.state}`);
  return { act, view };
}

function contract(kind: string, open: () => Promise<AccountStore>, skip: string | false = false) {
  test(`${kind}: request, accept, remove; each side sees its own view, since when it began`, { skip }, async () => {
    const st = await open();
    try {
      const { act, view } = await people(st, 'alice', 'bob', 'carol');
      const sent = await act('request', 'alice', 'bob');
      assert.deepEqual(sent, { ok: true, state: 'outgoing', since: 1001 });
      assert.deepEqual(await st.contacts('id-alice'), [{ name: 'bob', state: 'outgoing', since: 1001 }]);
      assert.deepEqual(await view('bob'), ['alice:incoming']);
      assert.deepEqual(await act('request', 'alice', 'bob'), sent, 'asking again changes nothing, not even since');
      assert.equal(await st.isContact('id-alice', 'id-bob'), false);
      assert.deepEqual(await act('accept', 'bob', 'alice'), { ok: true, state: 'contact', since: 1003 });
      assert.deepEqual(await st.contacts('id-alice'), [{ name: 'bob', state: 'contact', since: 1003 }]);
      assert.deepEqual(await view('bob'), ['alice:contact']);
      assert.equal(await st.isContact('id-alice', 'id-bob'), true);
      assert.equal(await st.isContact('id-bob', 'id-alice'), true);
      assert.equal(await st.isContact('id-alice', 'id-carol'), false);
      assert.deepEqual(await st.acceptedContacts('id-bob'), [{ id: 'id-alice', name: 'alice' }]);
      assert.deepEqual(await act('request', 'bob', 'alice'), { ok: true, state: 'contact', since: 1003 }, 'already contacts');
      // Crossed requests: the second one makes them contacts.
      await act('request', 'carol', 'alice');
      assert.deepEqual(await act('request', 'alice', 'carol'), { ok: true, state: 'contact', since: 1006 });
      assert.deepEqual(await view('alice'), ['bob:contact', 'carol:contact']);
      assert.deepEqual(await act('remove', 'bob', 'alice'), { ok: true, state: 'none' });
      assert.deepEqual(await view('alice'), ['carol:contact'], 'removing ends it on both sides');
      assert.deepEqual(await view('bob'), []);
      assert.deepEqual(await st.acceptedContacts('id-bob'), []);
      // Withdrawing one's request takes it out of the other's list.
      await act('request', 'bob', 'carol');
      assert.deepEqual(await act('remove', 'bob', 'carol'), { ok: true, state: 'none' });
      assert.deepEqual(await view('carol'), ['alice:contact']);
    } finally {
      await st.close();
    }
  });

  test(`${kind}: a declined request stays pending for the requester and is not shown again`, { skip }, async () => {
    const st = await open();
    try {
      const { act, view } = await people(st, 'alice', 'bob');
      await act('request', 'bob', 'alice');
      assert.deepEqual(await act('decline', 'alice', 'bob'), { ok: true, state: 'none' });
      assert.deepEqual(await view('alice'), []);
      assert.deepEqual(await view('bob'), ['alice:outgoing'], 'the requester is not told');
      await act('request', 'bob', 'alice');
      assert.deepEqual(await view('alice'), [], 'asking again does not bring it back');
      // Withdrawn and made again, it is a new request, shown as such.
      await act('remove', 'bob', 'alice');
      await act('request', 'bob', 'alice');
      assert.deepEqual(await view('alice'), ['bob:incoming']);
      await act('decline', 'alice', 'bob');
      // The decliner changes their mind: their own request meets the standing one.
      assert.equal((await act('request', 'alice', 'bob')).ok && (await st.isContact('id-alice', 'id-bob')), true);
    } finally {
      await st.close();
    }
  });

  test(`${kind}: a block ends everything, hides the blocker, drops the blocked side’s requests unseen`, { skip }, async () => {
    const st = await open();
    try {
      const { act, view } = await people(st, 'alice', 'bob', 'carol', 'dave');
      // A request to an account that blocked you looks exactly like one that waits.
      await act('block', 'alice', 'bob');
      const blocked = await act('request', 'bob', 'alice');
      const waiting = await act('request', 'bob', 'carol');
      assert.deepEqual([blocked.ok, blocked.ok && blocked.state], [waiting.ok, waiting.ok && waiting.state]);
      assert.deepEqual(await view('bob'), ['alice:outgoing', 'carol:outgoing']);
      assert.deepEqual(await view('alice'), ['bob:blocked'], 'the blocker never sees it');
      assert.deepEqual(await act('request', 'alice', 'bob'), { ok: false, refusal: 'you-blocked' });
      assert.deepEqual(await act('accept', 'alice', 'bob'), { ok: false, refusal: 'no-such-request' });
      // Blocking a contact ends it as removing would; blocking a requester leaves their request pending.
      await act('request', 'carol', 'dave');
      await act('accept', 'dave', 'carol');
      assert.deepEqual(await act('block', 'dave', 'carol'), { ok: true, state: 'blocked', since: 1008 });
      assert.deepEqual(await view('carol'), ['bob:incoming'], 'dave is gone from carol’s list, as after a remove');
      assert.equal(await st.isContact('id-carol', 'id-dave'), false);
      await act('block', 'carol', 'bob');
      assert.deepEqual(await view('bob'), ['alice:outgoing', 'carol:outgoing']);
      assert.deepEqual(await view('carol'), ['bob:blocked'], 'dave’s block left nothing in carol’s list');
      // Blocking someone one asked withdraws one's request from their list.
      await act('request', 'dave', 'alice');
      await act('block', 'dave', 'alice');
      assert.deepEqual(await view('alice'), ['bob:blocked']);
      assert.deepEqual(await act('block', 'dave', 'alice'), { ok: true, state: 'blocked', since: 1011 }, 'again: unchanged');
      // Unblocked, the request made meanwhile stays dropped; asking back meets it.
      assert.deepEqual(await act('unblock', 'alice', 'bob'), { ok: true, state: 'none' });
      assert.deepEqual(await view('alice'), []);
      assert.deepEqual(await act('unblock', 'alice', 'bob'), { ok: false, refusal: 'not-blocked' });
      assert.deepEqual(await act('request', 'alice', 'bob'), { ok: true, state: 'contact', since: 1015 });
    } finally {
      await st.close();
    }
  });

  test(`${kind}: refusals name only the actor’s own row`, { skip }, async () => {
    const st = await open();
    try {
      const { act } = await people(st, 'alice', 'bob');
      assert.deepEqual(await act('request', 'alice', 'alice'), { ok: false, refusal: 'self' });
      assert.deepEqual(await act('block', 'alice', 'alice'), { ok: false, refusal: 'self' });
      assert.deepEqual(await act('request', 'alice', 'nobody'), { ok: false, refusal: 'no-such-user' });
      assert.deepEqual(await act('accept', 'alice', 'bob'), { ok: false, refusal: 'no-such-request' });
      assert.deepEqual(await act('decline', 'alice', 'bob'), { ok: false, refusal: 'no-such-request' });
      assert.deepEqual(await act('remove', 'alice', 'bob'), { ok: false, refusal: 'no-such-contact' });
      assert.deepEqual(await act('unblock', 'alice', 'bob'), { ok: false, refusal: 'not-blocked' });
      await act('request', 'alice', 'bob');
      assert.deepEqual(await act('accept', 'alice', 'bob'), { ok: false, refusal: 'no-such-request' }, 'one cannot accept one’s own');
      assert.deepEqual(await act('remove', 'bob', 'alice'), { ok: false, refusal: 'no-such-contact' }, 'an incoming one is declined');
    } finally {
      await st.close();
    }
  });

  test(`${kind}: caps: pending requests, contacts with pending together, incoming shown, blocks`, { skip }, async () => {
    const st = await open();
    try {
      const names = Array.from({ length: 8 }, (_, i) => `p${i}`);
      const { act, view } = await people(st, 'alice', 'bob', ...names);
      const small: ContactLimits = { maxContacts: 4, maxPending: 2, maxIncoming: 2, maxBlocked: 1 };
      assert.equal((await act('request', 'alice', 'p0', small)).ok, true);
      assert.equal((await act('request', 'alice', 'p1', small)).ok, true);
      assert.deepEqual(await act('request', 'alice', 'p2', small), { ok: false, refusal: 'too-many-pending' });
      await act('accept', 'p0', 'alice', small);
      await act('accept', 'p1', 'alice', small);
      await act('request', 'alice', 'p2', small);
      await act('accept', 'p2', 'alice', small);
      assert.equal((await act('request', 'alice', 'p3', small)).ok, true);
      assert.deepEqual(await act('request', 'alice', 'p4', small), { ok: false, refusal: 'too-many-contacts' }, '3 contacts + 1 pending');
      await act('request', 'p5', 'alice', small);
      assert.deepEqual(await act('accept', 'alice', 'p5', small), { ok: false, refusal: 'too-many-contacts' });
      // The other side's being full is never the actor's refusal: p3 accepts alice, whose count is unchanged.
      assert.deepEqual(await act('accept', 'p3', 'alice', small), { ok: true, state: 'contact', since: 1012 });
      // Bob's incoming list holds 2; a third request is pending for its sender and not shown.
      for (const p of ['p5', 'p6', 'p7']) assert.equal((await act('request', p, 'bob', small)).ok, true);
      assert.deepEqual(await view('bob'), ['p5:incoming', 'p6:incoming']);
      assert.deepEqual(await view('p7'), ['bob:outgoing']);
      assert.equal((await act('block', 'bob', 'p0', small)).ok, true);
      assert.deepEqual(await act('block', 'bob', 'p1', small), { ok: false, refusal: 'too-many-blocked' });
    } finally {
      await st.close();
    }
  });

  test(`${kind}: deleting an account removes every row that mentions it, in both directions`, { skip }, async () => {
    const st = await open();
    try {
      const { act, view } = await people(st, 'alice', 'bob', 'carol', 'dave', 'erin');
      await act('request', 'alice', 'bob');
      await act('accept', 'bob', 'alice');
      await act('request', 'alice', 'carol');
      await act('request', 'dave', 'alice');
      await act('block', 'alice', 'erin');
      await act('block', 'erin', 'alice');
      await act('request', 'bob', 'carol');
      assert.equal(await st.deleteUser('id-alice'), true);
      assert.deepEqual(await st.contacts('id-alice'), []);
      assert.deepEqual(await view('bob'), ['carol:outgoing']);
      assert.deepEqual(await view('carol'), ['bob:incoming']);
      assert.deepEqual(await view('dave'), []);
      assert.deepEqual(await view('erin'), []);
      assert.deepEqual(await st.acceptedContacts('id-bob'), []);
      assert.deepEqual(await act('request', 'bob', 'alice'), { ok: false, refusal: 'no-such-user' });
      // The name registered again is a stranger: nothing of the old account's relations.
      await st.createUser({ ...u('alice'), id: 'id-alice-2' });
      assert.deepEqual(await st.contacts('id-alice-2'), []);
    } finally {
      await st.close();
    }
  });

  test(`${kind}: concurrent changes: crossed requests become contacts; a cap is never passed`, { skip }, async () => {
    const st = await open();
    try {
      const names = Array.from({ length: 12 }, (_, i) => `q${i}`);
      const { act } = await people(st, 'alice', ...names);
      for (let round = 0; round < 3; round++) {
        const pairs = names.slice(0, 6).map((n, i) => [n, names[i + 6]!] as const);
        await Promise.all(pairs.flatMap(([a, b]) => [act('request', a, b), act('request', b, a)]));
        for (const [a, b] of pairs) {
          assert.equal(await st.isContact(`id-${a}`, `id-${b}`), true, `${a} and ${b}, round ${round}`);
          assert.deepEqual(
            (await st.contacts(`id-${a}`)).map((e) => e.state),
            ['contact'],
          );
        }
        await Promise.all(pairs.map(([a, b]) => act('remove', a, b)));
      }
      const small: ContactLimits = { ...L, maxPending: 3 };
      const results = await Promise.all(names.map((n) => act('request', 'alice', n, small)));
      assert.equal(results.filter((r) => r.ok).length, 3);
      assert.equal((await st.contacts('id-alice')).length, 3);
    } finally {
      await st.close();
    }
  });
}

contract('sqlite', async () => openSqliteAccountStore(freshFile()));

contract('postgres', () => openPgAccountStore({ connectionString: DATABASE_URL!, schema: freshSchema(), poolSize: 8 }), pgSkip);

/** The step before contacts: a store made by a relay from before them. */
const BEFORE_CONTACTS = 3;
const ALICE_AND_BOB = `INSERT INTO users (id, name, look_alike, record, created_at)
  VALUES ('id-alice', 'alice', 'alice', 'rec', 1), ('id-bob', 'bob', 'bob', 'rec', 1)`;

test('sqlite: a file from before contacts gains them and keeps its accounts', async () => {
  const path = freshFile();
  sqliteStoreAt(path, BEFORE_CONTACTS);
  const db = new Database(path);
  db.exec(ALICE_AND_BOB);
  db.close();
  const st = openSqliteAccountStore(path);
  try {
    assert.equal((await st.userByName('bob'))?.id, 'id-bob');
    assert.equal((await st.changeContact('request', 'id-alice', 'id-bob', 1, L)).ok, true);
  } finally {
    await st.close();
  }
});

test('postgres: a schema from before contacts gains them and keeps its accounts', { skip: pgSkip }, async () => {
  const schema = freshSchema();
  await pgStoreAt(schema, BEFORE_CONTACTS);
  await pgRows(schema, ALICE_AND_BOB);
  const st = await openPgAccountStore({ connectionString: DATABASE_URL!, schema });
  try {
    assert.equal((await st.userByName('bob'))?.id, 'id-bob');
    assert.equal((await st.changeContact('request', 'id-alice', 'id-bob', 1, L)).ok, true);
  } finally {
    await st.close();
  }
});
