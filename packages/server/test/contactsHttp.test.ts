/**
 * Contacts over HTTP (src/accounts/contactsHttp.ts, docs/PROTOCOL.md §11.10) on a real relay with the
 * embedded store: every change and its refusals; a blocked requester's view identical to a pending
 * one and never shown to the blocker; cookie changes only from the relay's own Origin; the caps and
 * the request rate with Retry-After; a deleted account gone from every list; hostile bodies; and no
 * username in any log line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Api, type Body, firstDevice, prove, register, relayWithAccounts, withDevice } from './_accounts.js';

type Who = Record<string, string>;

async function signUp(api: Api, ...names: string[]): Promise<Record<string, Who>> {
  const out: Record<string, Who> = {};
  for (const n of names) out[n] = (await withDevice(api, n, `pw ${n}`)).auth;
  return out;
}
const act = (api: Api, who: Who, action: string, name: string) => api.post(`/api/contacts/${action}`, { name }, who);
/** The list as `name` per part, without the times. */
async function lists(api: Api, who: Who) {
  const r = await api.get('/api/contacts', who);
  assert.equal(r.status, 200);
  const names = (l: { name: string; since: number }[]) =>
    l.map((e) => {
      assert.equal(typeof e.since, 'number');
      return e.name;
    });
  return {
    contacts: names(r.body.contacts),
    incoming: names(r.body.incoming),
    outgoing: names(r.body.outgoing),
    blocked: names(r.body.blocked),
  };
}
const empty = { contacts: [], incoming: [], outgoing: [], blocked: [] };
const refusal = (r: { status: number; body: Body }) => [r.status, r.body?.error];

test('request, accept, decline, remove, block, unblock: each answer is the actor’s view after', async () => {
  const api = await relayWithAccounts();
  try {
    const p = await signUp(api, 'alice', 'bob', 'carol');
    const sent = await act(api, p.alice!, 'request', 'BOB');
    assert.equal(sent.status, 200);
    assert.deepEqual({ ...sent.body, since: 0 }, { name: 'bob', state: 'outgoing', since: 0 });
    assert.ok(Math.abs(sent.body.since - Date.now()) < 60_000);
    assert.equal(sent.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await lists(api, p.alice!), { ...empty, outgoing: ['bob'] });
    assert.deepEqual(await lists(api, p.bob!), { ...empty, incoming: ['alice'] });
    assert.equal((await act(api, p.bob!, 'accept', 'alice')).body.state, 'contact');
    assert.deepEqual(await lists(api, p.alice!), { ...empty, contacts: ['bob'] });
    assert.deepEqual(await lists(api, p.bob!), { ...empty, contacts: ['alice'] });
    // Declined: the requester still sees it pending.
    await act(api, p.carol!, 'request', 'alice');
    assert.deepEqual((await act(api, p.alice!, 'decline', 'carol')).body, { name: 'carol', state: 'none' });
    assert.deepEqual(await lists(api, p.carol!), { ...empty, outgoing: ['alice'] });
    assert.deepEqual((await lists(api, p.alice!)).incoming, []);
    assert.deepEqual((await act(api, p.alice!, 'remove', 'bob')).body, { name: 'bob', state: 'none' });
    assert.deepEqual(await lists(api, p.bob!), empty);
    assert.equal((await act(api, p.alice!, 'block', 'carol')).body.state, 'blocked');
    assert.deepEqual(await lists(api, p.alice!), { ...empty, blocked: ['carol'] });
    assert.deepEqual(refusal(await act(api, p.alice!, 'request', 'carol')), [409, 'CONTACT_BLOCKED']);
    assert.deepEqual((await act(api, p.alice!, 'unblock', 'carol')).body, { name: 'carol', state: 'none' });
    // Carol's standing request meets alice's: contacts.
    assert.equal((await act(api, p.alice!, 'request', 'carol')).body.state, 'contact');
    assert.deepEqual((await lists(api, p.carol!)).contacts, ['alice']);
  } finally {
    await api.relay.close();
  }
});

test('refusals: typed, about the actor’s own list, and quoting nothing it sent', async () => {
  const api = await relayWithAccounts();
  try {
    const p = await signUp(api, 'alice', 'bob');
    const cases: [string, string, number, string][] = [
      ['request', 'Alice', 400, 'CONTACT_SELF'],
      ['block', 'alice', 400, 'CONTACT_SELF'],
      ['request', 'nobody-here', 404, 'NO_SUCH_USER'],
      ['request', 'x', 404, 'NO_SUCH_USER'],
      ['accept', 'nobody-here', 404, 'NO_SUCH_USER'],
      ['accept', 'bob', 404, 'NO_SUCH_REQUEST'],
      ['decline', 'bob', 404, 'NO_SUCH_REQUEST'],
      ['remove', 'bob', 404, 'NO_SUCH_CONTACT'],
      ['unblock', 'bob', 404, 'NOT_BLOCKED'],
    ];
    for (const [action, name, status, error] of cases) {
      const r = await act(api, p.alice!, action, name);
      assert.deepEqual(refusal(r), [status, error], `${action} ${name}`);
      assert.ok(!JSON.stringify(r.body).includes(name), 'the name is not quoted');
    }
    assert.deepEqual(refusal(await act(api, {}, 'request', 'bob')), [401, 'NOT_SIGNED_IN']);
    assert.deepEqual(refusal(await api.get('/api/contacts')), [401, 'NOT_SIGNED_IN']);
    const hostile: [string, unknown, number, string][] = [
      ['/api/contacts/request', { name: 'bob', extra: 1 }, 400, 'BAD_REQUEST'],
      ['/api/contacts/request', {}, 400, 'BAD_REQUEST'],
      ['/api/contacts/request', { name: 'b'.repeat(129) }, 400, 'BAD_REQUEST'],
      ['/api/contacts/request', { name: 7 }, 400, 'BAD_REQUEST'],
      ['/api/contacts/request', 'not json', 400, 'BAD_REQUEST'],
      ['/api/contacts/befriend', { name: 'bob' }, 404, 'NOT_FOUND'],
      ['/api/contacts', { name: 'bob' }, 405, 'METHOD_NOT_ALLOWED'],
    ];
    for (const [path, body, status, error] of hostile)
      assert.deepEqual(refusal(await api.post(path, body, p.alice!)), [status, error], path);
    assert.deepEqual(refusal(await api.get('/api/contacts/request', p.alice!)), [405, 'METHOD_NOT_ALLOWED']);
  } finally {
    await api.relay.close();
  }
});

test('a request to an account that blocked you looks exactly like a pending one; the blocker never sees it', async () => {
  const api = await relayWithAccounts();
  try {
    const p = await signUp(api, 'bobby', 'carol', 'mallory');
    await act(api, p.bobby!, 'block', 'mallory');
    const toBobby = await act(api, p.mallory!, 'request', 'bobby');
    const toCarol = await act(api, p.mallory!, 'request', 'carol');
    const same = (r: { status: number; body: Body; headers: Headers }) => {
      const headers: string[] = [];
      r.headers.forEach((v, k) => {
        if (k !== 'date') headers.push(`${k}: ${v}`);
      });
      return { status: r.status, body: { ...r.body, name: '', since: 0 }, headers };
    };
    assert.deepEqual(same(toBobby), same(toCarol));
    const list = (await api.get('/api/contacts', p.mallory!)).body;
    assert.deepEqual(
      list.outgoing.map((e: { name: string }) => e.name),
      ['bobby', 'carol'],
    );
    assert.deepEqual(Object.keys(list.outgoing[0]), Object.keys(list.outgoing[1]));
    // Two names of one length: the answers are byte for byte alike but for the time. Asking again, withdrawing, asking again: all as with carol.
    assert.deepEqual(same(await act(api, p.mallory!, 'request', 'bobby')), same(await act(api, p.mallory!, 'request', 'carol')));
    assert.deepEqual(same(await act(api, p.mallory!, 'remove', 'bobby')), same(await act(api, p.mallory!, 'remove', 'carol')));
    await act(api, p.mallory!, 'request', 'bobby');
    assert.deepEqual(await lists(api, p.bobby!), { ...empty, blocked: ['mallory'] });
    assert.deepEqual(refusal(await act(api, p.bobby!, 'accept', 'mallory')), [404, 'NO_SUCH_REQUEST']);
    // Blocking a contact ends it just as removing it would, from the blocked side.
    await act(api, p.carol!, 'request', 'bobby');
    await act(api, p.bobby!, 'accept', 'carol');
    await act(api, p.bobby!, 'block', 'carol');
    assert.deepEqual(await lists(api, p.carol!), empty);
  } finally {
    await api.relay.close();
  }
});

test('a cookie session changes contacts only from the relay’s own Origin, and reads without one', async () => {
  const api = await relayWithAccounts();
  try {
    await register(api, 'bob', 'pw bob');
    const reg = await register(api, 'erin', 'cookie pass', 'cookie');
    const c = { cookie: (reg.headers.get('set-cookie') ?? '').split(';')[0]! };
    const own = new URL(api.relay.url).origin;
    await firstDevice(api, 'erin', { ...c, origin: own });
    assert.deepEqual(refusal(await api.post('/api/contacts/request', { name: 'bob' }, c)), [403, 'FORBIDDEN_ORIGIN']);
    assert.deepEqual(refusal(await api.post('/api/contacts/request', { name: 'bob' }, { ...c, origin: 'https://evil.example' })), [
      403,
      'FORBIDDEN_ORIGIN',
    ]);
    assert.deepEqual(refusal(await api.get('/api/contacts', { ...c, origin: 'https://evil.example' })), [403, 'FORBIDDEN_ORIGIN']);
    assert.equal((await api.get('/api/contacts', c)).body.outgoing.length, 0, 'nothing was changed');
    for (const action of ['request', 'remove', 'block', 'unblock']) {
      assert.equal((await api.post(`/api/contacts/${action}`, { name: 'bob' }, { ...c, origin: own })).status, 200, action);
    }
  } finally {
    await api.relay.close();
  }
});

test('bounds: pending requests, contacts, blocks, and the request rate with Retry-After', async () => {
  const api = await relayWithAccounts({
    contactLimits: { maxPending: 2, maxContacts: 3, maxBlocked: 1, requestBurst: 5, requestIntervalMs: 60_000 },
  });
  try {
    const p = await signUp(api, 'alice', 'bob', 'carol', 'dave', 'erin', 'frank');
    await act(api, p.alice!, 'request', 'bob');
    await act(api, p.alice!, 'request', 'carol');
    const pending = await act(api, p.alice!, 'request', 'dave');
    assert.deepEqual([...refusal(pending), pending.body.max], [409, 'TOO_MANY_PENDING', 2]);
    await act(api, p.bob!, 'accept', 'alice');
    await act(api, p.carol!, 'accept', 'alice');
    await act(api, p.alice!, 'request', 'dave');
    const full = await act(api, p.alice!, 'request', 'erin');
    assert.deepEqual([...refusal(full), full.body.max], [409, 'TOO_MANY_CONTACTS', 3]);
    assert.equal((await act(api, p.alice!, 'block', 'erin')).status, 200);
    const blocks = await act(api, p.alice!, 'block', 'frank');
    assert.deepEqual([...refusal(blocks), blocks.body.max], [409, 'TOO_MANY_BLOCKED', 1]);
    // Alice has spent 5 requests (refused ones count): the bucket is empty.
    const limited = await act(api, p.alice!, 'request', 'frank');
    assert.deepEqual([...refusal(limited), limited.body.retryAfter], [429, 'RATE_LIMITED', 60]);
    assert.equal(limited.headers.get('retry-after'), '60');
    assert.equal((await act(api, p.alice!, 'remove', 'bob')).status, 200, 'only requests are counted');
    assert.equal((await act(api, p.frank!, 'request', 'erin')).status, 200, 'another account has its own bucket');
  } finally {
    await api.relay.close();
  }
});

test('a deleted account leaves no trace in anyone’s list; its name registered again is a stranger', async () => {
  const api = await relayWithAccounts();
  try {
    const p = await signUp(api, 'alice', 'bob', 'carol', 'dave', 'erin');
    await act(api, p.alice!, 'request', 'bob');
    await act(api, p.bob!, 'accept', 'alice');
    await act(api, p.alice!, 'request', 'carol');
    await act(api, p.dave!, 'request', 'alice');
    await act(api, p.erin!, 'block', 'alice');
    await act(api, p.alice!, 'block', 'erin');
    const proof = await prove(api, 'alice', 'pw alice');
    assert.equal((await api.post('/api/account/delete', { login: proof.login, finish: proof.finish }, p.alice!)).status, 200);
    for (const n of ['bob', 'carol', 'dave', 'erin']) assert.deepEqual(await lists(api, p[n]!), empty, n);
    assert.deepEqual(refusal(await act(api, p.bob!, 'request', 'alice')), [404, 'NO_SUCH_USER']);
    const again = (await withDevice(api, 'alice', 'another person')).auth;
    assert.deepEqual(await lists(api, again), empty);
    assert.equal((await act(api, p.erin!, 'request', 'alice')).body.state, 'outgoing', 'erin’s block was of the old account');
  } finally {
    await api.relay.close();
  }
});

test('no username or relation reaches a log line', async () => {
  const api = await relayWithAccounts();
  try {
    const p = await signUp(api, 'canaryalice', 'canarybob');
    for (const action of ['request', 'accept', 'block', 'unblock', 'remove', 'decline']) {
      await act(api, p.canaryalice!, action, 'canarybob');
      await act(api, p.canarybob!, action, 'canaryalice');
    }
    await act(api, p.canaryalice!, 'request', 'canary-nobody');
    await api.get('/api/contacts', p.canaryalice!);
  } finally {
    await api.relay.close();
  }
  const logs = api.logs.join('\n');
  for (const word of ['canary', 'contact', 'block', 'incoming', 'outgoing']) assert.ok(!logs.includes(word), `${word} in the logs`);
});
