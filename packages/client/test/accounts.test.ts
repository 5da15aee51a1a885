/**
 * The SDK's accounts (src/accounts.ts) against a real relay with the embedded account store: the
 * whole life of an account, every refusal as its typed code, a relay whose OPAQUE key changed
 * caught by the pin, and a relay that is gone or answers nonsense.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { startRelay } from '@nullroom/server';
import { openSqliteAccountStore } from '@nullroom/server/accounts';
import { AccountClient, AccountError, type AccountErrorCode } from '../src/accounts.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-client-accounts-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function relay(setup?: string, path = join(dir, `accounts-${++n}.db`)) {
  await opaque.ready;
  const opaqueSetup = setup ?? opaque.server.createSetup();
  const r = await startRelay({ port: 0, blobs: false, accounts: { store: openSqliteAccountStore(path), opaqueSetup } });
  return { relay: r, opaqueSetup, path };
}

const fails = async (p: Promise<unknown>, code: AccountErrorCode) =>
  assert.rejects(p, (e: unknown) => e instanceof AccountError && e.code === code, `expected ${code}`);

test('an account’s life: register, log in elsewhere, change the password, log out everywhere, delete', async () => {
  const { relay: r } = await relay();
  try {
    const a = new AccountClient({ url: r.url });
    const reg = await a.register('Alice', 'first password');
    assert.equal(reg.name, 'alice');
    assert.match(reg.token ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await a.whoami())?.name, 'alice');
    const b = new AccountClient({ url: r.url, serverKey: reg.serverKey });
    await fails(b.login('alice', 'not it'), 'LOGIN_FAILED');
    await fails(b.login('nobody', 'not it'), 'LOGIN_FAILED');
    const li = await b.login('alice', 'first password');
    assert.equal(li.serverKey, reg.serverKey);
    await a.changePassword('alice', 'first password', 'second password');
    assert.equal(await b.whoami(), undefined, 'the other session ended with the change');
    await fails(b.login('alice', 'first password'), 'LOGIN_FAILED');
    await b.login('alice', 'second password');
    // A token handed to a new client is the same session.
    const again = new AccountClient({ url: r.url, token: reg.token! });
    assert.equal((await again.whoami())?.name, 'alice');
    assert.equal(await a.logoutEverywhere(), 2);
    assert.equal(await b.whoami(), undefined);
    const c = new AccountClient({ url: r.url });
    await c.login('alice', 'second password');
    await fails(c.deleteAccount('alice', 'wrong'), 'LOGIN_FAILED');
    await c.deleteAccount('alice', 'second password');
    await fails(new AccountClient({ url: r.url }).login('alice', 'second password'), 'LOGIN_FAILED');
  } finally {
    await r.close();
  }
});

test('usernames refused with their codes and problems; rate limits with retryAfter', async () => {
  const { relay: r } = await relay();
  try {
    const a = new AccountClient({ url: r.url });
    await a.register('bob', 'pw');
    await fails(new AccountClient({ url: r.url }).register('BOB', 'pw'), 'USERNAME_TAKEN');
    await fails(new AccountClient({ url: r.url }).register('b0b', 'pw'), 'USERNAME_LOOK_ALIKE');
    await assert.rejects(
      new AccountClient({ url: r.url }).register('bоb', 'pw'),
      (e: unknown) => e instanceof AccountError && e.details.problem === 'CONFUSABLE_SCRIPT',
    );
    await assert.rejects(
      new AccountClient({ url: r.url }).register('b', 'pw'),
      (e: unknown) => e instanceof AccountError && e.details.problem === 'LENGTH',
    );
    let limited: AccountError | undefined;
    for (let i = 0; i < 12 && limited === undefined; i++) {
      await new AccountClient({ url: r.url }).login('bob', `guess ${i}`).catch((e: AccountError) => {
        if (e.code === 'RATE_LIMITED') limited = e;
      });
    }
    assert.equal(limited?.details.retryAfter, 60, 'the account name’s bucket (10) ran out');
  } finally {
    await r.close();
  }
});

test('a relay whose OPAQUE key changed is refused before a session is made', async () => {
  const first = await relay();
  const reg = await new AccountClient({ url: first.relay.url }).register('carol', 'pw carol');
  await first.relay.close();
  // The same store behind a relay with another setup: the old records no longer open (a login
  // fails), and a client that pinned the key refuses the new one before anything is created.
  const other = await relay(undefined, first.path);
  try {
    await fails(new AccountClient({ url: other.relay.url }).login('carol', 'pw carol'), 'LOGIN_FAILED');
    await fails(new AccountClient({ url: other.relay.url, serverKey: reg.serverKey }).register('erin', 'pw erin'), 'SERVER_KEY_CHANGED');
    assert.equal((await new AccountClient({ url: other.relay.url }).register('erin', 'pw erin')).name, 'erin', 'nothing was created');
  } finally {
    await other.relay.close();
  }
  // With the right setup again, the account works as before.
  const back = await relay(first.opaqueSetup, first.path);
  try {
    const c = new AccountClient({ url: back.relay.url, serverKey: reg.serverKey });
    assert.equal((await c.login('carol', 'pw carol')).name, 'carol');
  } finally {
    await back.relay.close();
  }
});

test('a relay that is gone is UNAVAILABLE; one that answers nonsense is BAD_RESPONSE', async () => {
  const gone = new AccountClient({ url: 'http://127.0.0.1:1' });
  await fails(gone.login('dave', 'pw'), 'UNAVAILABLE');
  const liar = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(req.url === '/api/login/start' ? JSON.stringify({ login: 'x', response: 'AAAA' }) : '[1,2]');
  });
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
  try {
    const port = (liar.address() as { port: number }).port;
    await fails(new AccountClient({ url: `http://127.0.0.1:${port}` }).login('dave', 'pw'), 'BAD_RESPONSE');
    await fails(new AccountClient({ url: `http://127.0.0.1:${port}` }).whoami(), 'BAD_RESPONSE');
  } finally {
    liar.close();
  }
});
