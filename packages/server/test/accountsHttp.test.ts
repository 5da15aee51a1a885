/**
 * The accounts API (src/accounts/accountsHttp.ts, docs/PROTOCOL.md §11.4) on a real relay with the
 * embedded store, driven as a client drives it (OPAQUE's client side, fetch), and attacked:
 *   - register, log in, who am I, log out, log out everywhere, change the password, delete;
 *   - a wrong password and a name with no account fail alike; a login proof is single-use;
 *   - the session cookie's attributes; a cookie change without Origin, or with a foreign one, is refused;
 *   - rate limits per account name and per address, with Retry-After;
 *   - malformed, oversized and mistyped bodies get typed errors, and the relay lives on;
 *   - canaries: the password is in no request the relay received, in no file of its data directory
 *     and in no log line; the username in no log line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { bearer, login, prove, register, relayWithAccounts } from './_accounts.js';

test('register, log in, who am I, log out; the token is the session', async () => {
  const api = await relayWithAccounts();
  try {
    const reg = await register(api, 'Alice', 'correct horse battery');
    assert.equal(reg.status, 201);
    assert.equal(reg.body.name, 'alice');
    assert.match(reg.body.token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await api.get('/api/session', bearer(reg.body.token))).body.name, 'alice');
    const li = await login(api, 'ALICE', 'correct horse battery');
    assert.equal(li.status, 200);
    assert.notEqual(li.body.token, reg.body.token);
    const me = await api.get('/api/session', bearer(li.body.token));
    assert.deepEqual([me.status, me.body.name, me.body.kind], [200, 'alice', 'cli']);
    assert.equal((await api.post('/api/logout', undefined, bearer(li.body.token))).status, 200);
    assert.equal((await api.get('/api/session', bearer(li.body.token))).body.error, 'NOT_SIGNED_IN');
    assert.equal((await api.get('/api/session', bearer(reg.body.token))).status, 200, 'the other session lives on');
    assert.equal((await api.get('/api/session')).body.error, 'NOT_SIGNED_IN');
    assert.equal((await api.get('/api/session', { authorization: 'Bearer nonsense' })).body.error, 'NOT_SIGNED_IN');
  } finally {
    await api.relay.close();
  }
});

test('a wrong password and a name with no account look alike; a proof is used once', async () => {
  const api = await relayWithAccounts();
  try {
    await register(api, 'bob', 'the right one');
    const wrong = await prove(api, 'bob', 'the wrong one');
    assert.equal(wrong.finish, undefined, 'the client finds the password wrong by itself');
    const nobody = await prove(api, 'nobody-here', 'whatever');
    assert.equal(nobody.status, 200, 'a name with no account gets an answer all the same');
    assert.equal(nobody.finish, undefined);
    // A forged proof for either is refused the same way.
    for (const p of [wrong, nobody]) {
      const r = await api.post('/api/login/finish', { login: p.login, finish: 'A'.repeat(86) });
      assert.deepEqual([r.status, r.body.error], [401, 'LOGIN_FAILED']);
    }
    const ok = await prove(api, 'bob', 'the right one');
    assert.equal((await api.post('/api/login/finish', { login: ok.login, finish: ok.finish })).status, 200);
    const again = await api.post('/api/login/finish', { login: ok.login, finish: ok.finish });
    assert.deepEqual([again.status, again.body.error], [401, 'LOGIN_FAILED'], 'replayed');
  } finally {
    await api.relay.close();
  }
});

test('usernames: taken, look-alike and invalid are refused before any password work', async () => {
  const api = await relayWithAccounts();
  try {
    assert.equal((await register(api, 'carol', 'pw one two')).status, 201);
    const req = opaque.client.startRegistration({ password: 'x' }).registrationRequest;
    const taken = await api.post('/api/register/start', { name: 'CAROL', request: req });
    assert.deepEqual([taken.status, taken.body.error], [409, 'USERNAME_TAKEN']);
    const alike = await api.post('/api/register/start', { name: 'caro1', request: req });
    assert.deepEqual([alike.status, alike.body.error], [409, 'USERNAME_LOOK_ALIKE']);
    const mixed = await api.post('/api/register/start', { name: 'cаrol', request: req });
    assert.deepEqual([mixed.status, mixed.body.error, mixed.body.problem], [400, 'USERNAME_INVALID', 'CONFUSABLE_SCRIPT']);
    // Two registrations racing for one name: one wins.
    const [a, b] = await Promise.all([register(api, 'dave', 'one pass'), register(api, 'dave', 'two pass')]);
    assert.deepEqual([a.status, b.status].sort(), [201, 409]);
  } finally {
    await api.relay.close();
  }
});

test('the browser session: a cookie the page cannot read, and changes only from the relay’s own origin', async () => {
  const api = await relayWithAccounts();
  try {
    const reg = await register(api, 'erin', 'cookie pass', 'cookie');
    assert.equal(reg.body.token, undefined, 'no token in the body for a browser');
    const cookie = reg.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^__Host-nullroom-session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict; Max-Age=\d+$/);
    const c = { cookie: cookie.split(';')[0]! };
    assert.equal((await api.get('/api/session', c)).body.kind, 'web');
    const own = new URL(api.relay.url).origin;
    const forged = await api.post('/api/logout-all', undefined, c);
    assert.deepEqual([forged.status, forged.body.error], [403, 'FORBIDDEN_ORIGIN'], 'no Origin: may be forged');
    const foreign = await api.post('/api/logout-all', undefined, { ...c, origin: 'https://evil.example' });
    assert.deepEqual([foreign.status, foreign.body.error], [403, 'FORBIDDEN_ORIGIN']);
    const out = await api.post('/api/logout-all', undefined, { ...c, origin: own });
    assert.deepEqual([out.status, out.body.ended], [200, 1]);
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await api.get('/api/session', c)).status, 401);
  } finally {
    await api.relay.close();
  }
});

test('changing the password needs the old one, ends the other sessions, and the new one works', async () => {
  const api = await relayWithAccounts();
  try {
    const first = (await register(api, 'frank', 'old password')).body.token;
    const second = (await login(api, 'frank', 'old password')).body.token;
    const startReg = opaque.client.startRegistration({ password: 'new password' });
    const r1 = await api.post('/api/password/start', { request: startReg.registrationRequest }, bearer(first));
    assert.equal(r1.status, 200);
    const record = opaque.client.finishRegistration({
      clientRegistrationState: startReg.clientRegistrationState,
      registrationResponse: r1.body.response,
      password: 'new password',
    }).registrationRecord;
    // Without a proof of the old password: refused.
    const bad = await prove(api, 'frank', 'not the old one');
    const refused = await api.post('/api/password/finish', { login: bad.login, finish: 'A'.repeat(86), record }, bearer(first));
    assert.equal(refused.body.error, 'LOGIN_FAILED');
    const proof = await prove(api, 'frank', 'old password');
    const done = await api.post('/api/password/finish', { login: proof.login, finish: proof.finish, record }, bearer(first));
    assert.equal(done.status, 200);
    assert.equal((await api.get('/api/session', bearer(first))).status, 200, 'the session that changed it lives on');
    assert.equal((await api.get('/api/session', bearer(second))).status, 401, 'every other one ended');
    assert.equal((await prove(api, 'frank', 'old password')).finish, undefined);
    assert.equal((await login(api, 'frank', 'new password')).status, 200);
  } finally {
    await api.relay.close();
  }
});

test('deleting the account needs the password and removes it with its sessions; the name is free again', async () => {
  const api = await relayWithAccounts();
  try {
    const token = (await register(api, 'grace', 'delete me')).body.token;
    const other = (await login(api, 'grace', 'delete me')).body.token;
    const proof = await prove(api, 'grace', 'delete me');
    const del = await api.post('/api/account/delete', { login: proof.login, finish: proof.finish }, bearer(token));
    assert.deepEqual([del.status, del.body.deleted], [200, true]);
    assert.equal((await api.get('/api/session', bearer(other))).status, 401);
    assert.equal((await prove(api, 'grace', 'delete me')).finish, undefined);
    assert.equal((await register(api, 'grace', 'a new person')).status, 201);
  } finally {
    await api.relay.close();
  }
});

test('rate limits: per account name whatever the address, per address whatever the name', async () => {
  const api = await relayWithAccounts({ limits: { loginBurst: 3, loginIntervalMs: 60_000, addressBurst: 8, addressIntervalMs: 60_000 } });
  try {
    await register(api, 'heidi', 'pw heidi');
    const req = () => opaque.client.startLogin({ password: 'guess' }).startLoginRequest;
    for (let i = 0; i < 3; i++) assert.equal((await api.post('/api/login/start', { name: 'heidi', request: req() })).status, 200);
    const limited = await api.post('/api/login/start', { name: 'heidi', request: req() });
    assert.deepEqual([limited.status, limited.body.error], [429, 'RATE_LIMITED']);
    assert.equal(limited.headers.get('retry-after'), '60');
    // The address has spent 2 (registration) + 4 of its 8: two more names, then it is out.
    assert.equal((await api.post('/api/login/start', { name: 'ivan', request: req() })).status, 200);
    assert.equal((await api.post('/api/login/start', { name: 'judy', request: req() })).status, 200);
    const out = await api.post('/api/login/start', { name: 'mallory', request: req() });
    assert.deepEqual([out.status, out.body.error], [429, 'RATE_LIMITED']);
  } finally {
    await api.relay.close();
  }
});

test('hostile bodies get typed errors and the relay lives on', async () => {
  const api = await relayWithAccounts();
  try {
    const cases: [string, unknown, Record<string, string>, number, string][] = [
      ['/api/login/start', 'not json', {}, 400, 'BAD_REQUEST'],
      ['/api/login/start', { name: 'x' }, {}, 400, 'BAD_REQUEST'],
      ['/api/login/start', { name: 'bob', request: 'AAAA', extra: 1 }, {}, 400, 'BAD_REQUEST'],
      ['/api/login/start', { name: 'bob', request: '!!!!' }, {}, 400, 'BAD_REQUEST'],
      ['/api/login/start', { name: 'bob', request: 'AAAA' }, {}, 400, 'BAD_REQUEST'],
      ['/api/register/start', { name: 'bob', request: 'A'.repeat(2000) }, {}, 400, 'BAD_REQUEST'],
      ['/api/login/start', { name: 'bob', request: 'A'.repeat(20_000) }, {}, 413, 'TOO_LARGE'],
      ['/api/login/start', '{"name":"bob"}', { 'content-type': 'text/plain' }, 415, 'UNSUPPORTED_TYPE'],
      ['/api/login/finish', { login: '../../etc/passwd', finish: 'AAAA' }, {}, 400, 'BAD_REQUEST'],
      ['/api/nope', {}, {}, 404, 'NOT_FOUND'],
      ['/api/session', {}, {}, 405, 'METHOD_NOT_ALLOWED'],
      ['/api/login/start', { name: 'bob', request: 'AAAA' }, { origin: 'https://evil.example' }, 403, 'FORBIDDEN_ORIGIN'],
    ];
    for (const [path, body, headers, status, error] of cases) {
      const r = await api.post(path, body, headers);
      assert.deepEqual([r.status, r.body?.error], [status, error], `${path} ${JSON.stringify(body).slice(0, 40)}`);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    }
    assert.equal((await register(api, 'still-alive', 'pw')).status, 201);
  } finally {
    await api.relay.close();
  }
});

test('canaries: the password is in no request, file or log line of the relay; the username in no log line', async () => {
  const api = await relayWithAccounts();
  const password = 'canary-pw-7f3a91 correct horse';
  const name = 'canaryuser';
  const seen: Buffer[] = [];
  const realFetch = globalThis.fetch;
  // Every request body this test's client sends, as the relay receives it.
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    if (typeof init?.body === 'string') seen.push(Buffer.from(init.body));
    seen.push(Buffer.from(JSON.stringify(init?.headers ?? {})));
    return realFetch(input, init);
  }) as typeof fetch;
  try {
    const token = (await register(api, name, password)).body.token;
    await login(api, name, password);
    await prove(api, name, 'canary-pw-wrong-51c2');
    const startReg = opaque.client.startRegistration({ password: `${password}-2` });
    const r1 = await api.post('/api/password/start', { request: startReg.registrationRequest }, bearer(token));
    const record = opaque.client.finishRegistration({
      clientRegistrationState: startReg.clientRegistrationState,
      registrationResponse: r1.body.response,
      password: `${password}-2`,
    }).registrationRecord;
    const proof = await prove(api, name, password);
    await api.post('/api/password/finish', { login: proof.login, finish: proof.finish, record }, bearer(token));
  } finally {
    globalThis.fetch = realFetch;
    await api.relay.close();
  }
  const files = readdirSync(api.dataDir).map((f) => readFileSync(join(api.dataDir, f)));
  for (const needle of ['canary-pw', Buffer.from('canary-pw').toString('base64').slice(0, 8)]) {
    for (const b of [...seen, ...files]) assert.ok(!b.includes(needle), `password canary ${needle} found`);
  }
  assert.ok(seen.length > 10, 'requests were recorded');
  const logs = api.logs.join('\n');
  assert.ok(!logs.includes('canary'), 'no canary in the logs');
});
