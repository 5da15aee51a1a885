/**
 * The SDK's contacts (src/contactsClient.ts through AccountClient) against a real relay with the
 * embedded account store: every change and the list as each side sees it, a blocked requester none
 * the wiser, every refusal as its typed AccountError code (with `max` and `retryAfter`), and a relay
 * that answers names with terminal escapes or odd error codes caught as BAD_RESPONSE or REFUSED.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { ephemeralIdentity } from '@nullroom/crypto';
import { startRelay } from '@nullroom/server';
import { openSqliteAccountStore } from '@nullroom/server/accounts';
import {
  AccountClient,
  AccountDevices,
  AccountError,
  type AccountErrorCode,
  type ContactList,
  MemoryTrustedLists,
} from '../src/accounts.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-client-contacts-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function relay(contactLimits = {}) {
  await opaque.ready;
  const store = openSqliteAccountStore(join(dir, `accounts-${++n}.db`));
  return startRelay({ port: 0, blobs: false, accounts: { store, opaqueSetup: opaque.server.createSetup(), contactLimits } });
}

/** New accounts, each signed in on its first device (contacts are a device's to change, PROTOCOL.md §11.8). */
async function people(url: string, ...names: string[]): Promise<AccountClient[]> {
  const out: AccountClient[] = [];
  for (const name of names) {
    const c = new AccountClient({ url });
    await c.register(name, `pw ${name}`);
    await new AccountDevices(c, name, await ephemeralIdentity(), new MemoryTrustedLists()).enrolFirst();
    out.push(c);
  }
  return out;
}

const fails = async (p: Promise<unknown>, code: AccountErrorCode, details: Record<string, unknown> = {}) =>
  assert.rejects(
    p,
    (e: unknown) =>
      e instanceof AccountError && e.code === code && Object.entries(details).every(([k, v]) => (e.details as never)[k] === v),
    `expected ${code}`,
  );
const names = (l: ContactList) => ({
  contacts: l.contacts.map((e) => e.name),
  incoming: l.incoming.map((e) => e.name),
  outgoing: l.outgoing.map((e) => e.name),
  blocked: l.blocked.map((e) => e.name),
});
const empty = { contacts: [], incoming: [], outgoing: [], blocked: [] };

test('contacts through the SDK: request, accept, decline, block, unblock, remove', async () => {
  const r = await relay();
  try {
    const [alice, bob, carol] = (await people(r.url, 'alice', 'bob', 'carol')) as [AccountClient, AccountClient, AccountClient];
    const sent = await alice.requestContact('Bob');
    assert.deepEqual([sent.name, sent.state, typeof sent.since], ['bob', 'outgoing', 'number']);
    assert.deepEqual(names(await bob.contacts()), { ...empty, incoming: ['alice'] });
    assert.equal((await bob.acceptContact('alice')).state, 'contact');
    const list = await alice.contacts();
    assert.deepEqual(names(list), { ...empty, contacts: ['bob'] });
    assert.ok(list.contacts[0]!.since >= sent.since!);
    await carol.requestContact('alice');
    assert.deepEqual(await alice.declineContact('carol'), { name: 'carol', state: 'none' });
    assert.deepEqual(names(await carol.contacts()), { ...empty, outgoing: ['alice'] }, 'carol is not told');
    // Blocked: carol's request stays exactly as it was; alice sees only the block.
    assert.equal((await alice.blockContact('carol')).state, 'blocked');
    assert.equal((await carol.requestContact('alice')).state, 'outgoing');
    assert.deepEqual(names(await carol.contacts()), { ...empty, outgoing: ['alice'] });
    assert.deepEqual(names(await alice.contacts()), { ...empty, contacts: ['bob'], blocked: ['carol'] });
    await fails(alice.requestContact('carol'), 'CONTACT_BLOCKED');
    assert.equal((await alice.unblockContact('carol')).state, 'none');
    await fails(alice.unblockContact('carol'), 'NOT_BLOCKED');
    assert.deepEqual(await bob.removeContact('alice'), { name: 'alice', state: 'none' });
    assert.deepEqual(names(await alice.contacts()), empty);
    await fails(alice.acceptContact('bob'), 'NO_SUCH_REQUEST');
    await fails(alice.declineContact('bob'), 'NO_SUCH_REQUEST');
    await fails(alice.removeContact('bob'), 'NO_SUCH_CONTACT');
    await fails(alice.requestContact('ALICE'), 'CONTACT_SELF');
    await fails(alice.requestContact('nobody'), 'NO_SUCH_USER');
    await fails(new AccountClient({ url: r.url }).contacts(), 'NOT_SIGNED_IN');
  } finally {
    await r.close();
  }
});

test('caps and the request rate come back with max and retryAfter', async () => {
  const r = await relay({ maxPending: 1, maxBlocked: 1, requestBurst: 3, requestIntervalMs: 30_000 });
  try {
    const [alice, bob] = (await people(r.url, 'alice', 'bob', 'carol', 'dave')) as [AccountClient, AccountClient];
    await alice.requestContact('bob');
    await fails(alice.requestContact('carol'), 'TOO_MANY_PENDING', { max: 1, relayCode: 'TOO_MANY_PENDING' });
    await alice.blockContact('carol');
    await fails(alice.blockContact('dave'), 'TOO_MANY_BLOCKED', { max: 1 });
    await fails(alice.requestContact('dave'), 'TOO_MANY_PENDING');
    await fails(alice.requestContact('dave'), 'RATE_LIMITED', { retryAfter: 30 });
    assert.equal((await bob.requestContact('dave')).state, 'outgoing');
  } finally {
    await r.close();
  }
});

test('a relay that answers a name with terminal escapes, an unknown state or an odd code is caught', async () => {
  let answer: { status: number; body: unknown } = { status: 200, body: {} };
  const liar = createServer((_req, res) => {
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
  try {
    const c = new AccountClient({ url: `http://127.0.0.1:${(liar.address() as { port: number }).port}`, token: 't' });
    const lists = (contacts: unknown) => ({ contacts, incoming: [], outgoing: [], blocked: [] });
    answer = { status: 200, body: lists([{ name: 'bob\u001b[2J', since: 1 }]) };
    await fails(c.contacts(), 'BAD_RESPONSE');
    answer = { status: 200, body: lists([{ name: 'bob\u202e', since: 1 }]) };
    await fails(c.contacts(), 'BAD_RESPONSE');
    answer = { status: 200, body: lists([{ name: 'bob', since: '1' }]) };
    await fails(c.contacts(), 'BAD_RESPONSE');
    answer = { status: 200, body: lists({}) };
    await fails(c.contacts(), 'BAD_RESPONSE');
    answer = { status: 200, body: lists([{ name: 'bob', since: 1 }]) };
    assert.deepEqual((await c.contacts()).contacts, [{ name: 'bob', since: 1 }]);
    answer = { status: 200, body: { name: 'bob', state: 'friends' } };
    await fails(c.requestContact('bob'), 'BAD_RESPONSE');
    answer = { status: 409, body: { error: '__proto__', message: 'x' } };
    await fails(c.requestContact('bob'), 'REFUSED', { relayCode: '__proto__' });
    answer = { status: 409, body: { error: 'constructor', message: 'x' } };
    await fails(c.requestContact('bob'), 'REFUSED');
  } finally {
    liar.close();
  }
});
