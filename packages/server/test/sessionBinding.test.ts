/**
 * Sessions bound to devices (docs/PROTOCOL.md §11.8, SECURITY.md §13.6) on a real relay: a session
 * that is not a device's may only do what a new device needs; enrolling first, being approved, or
 * proving the device key over a fresh challenge binds it; every forged, replayed or borrowed proof
 * is refused; and a device removed from its account loses at once its sessions (every endpoint
 * class and the channel upgrade), its open channels (4410), its mailbox, and its place in every
 * conversation, while a later commit removing its leaf is still accepted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { ACCOUNT_AUTH_LABEL, type AccountFrame, encodeAccountFrame } from '@nullroom/protocol';
import { openSqliteAccountStore } from '../src/accounts/sqliteAccountStore.js';
import {
  type Api,
  b64u,
  bearer,
  bindBody,
  firstDevice,
  login,
  openChannel,
  type RawChannel,
  register,
  relayWithAccounts,
  type TestDevice,
  testDevice,
  withDevice,
} from './_accounts.js';
import { sqliteStoreAt, storeFixtures } from './_stores.js';

const { freshFile } = storeFixtures('binding');
type Auth = Record<string, string>;
const tag = Buffer.alloc(32, 7).toString('base64url');

/** Every endpoint only a device may use, with a body it would take. */
const DEVICE_ONLY: [string, string, unknown][] = [
  ['GET', '/api/contacts', undefined],
  ['POST', '/api/contacts/request', { name: 'bob' }],
  ['POST', '/api/contacts/block', { name: 'bob' }],
  ['POST', '/api/key-packages', { device: 'A'.repeat(22), oneTime: [] }],
  ['POST', '/api/key-packages/claim', { name: 'bob' }],
  ['GET', '/api/devices/requests', undefined],
  ['POST', '/api/devices/approve', { request: 'A'.repeat(22), list: 'AAAA', confirm: tag }],
  ['POST', '/api/devices/decline', { request: 'A'.repeat(22) }],
  ['POST', '/api/devices/remove', { device: 'A'.repeat(22), list: 'AAAA' }],
  ['POST', '/api/devices/list', { name: 'bob', after: 0 }],
];
const call = (api: Api, [method, path, body]: [string, string, unknown], auth: Auth) =>
  method === 'GET' ? api.get(path, auth) : api.post(path, body, auth);

/** A channel of `device` (key `d`) with the session `auth`. */
const channel = (api: Api, auth: Auth, device: string, d: TestDevice) => openChannel(api.relay.url, auth, device, (m) => d.sign(m));
const refusedUpgrade = async (p: Promise<RawChannel>) => (await p.then(() => 'opened').catch((e: Error) => e.message)) as string;

/** Sends a submit frame and waits for its RESULT. */
async function submit(ch: RawChannel, frame: AccountFrame & { req: number }): Promise<Extract<AccountFrame, { type: 'RESULT' }>> {
  ch.ws.send(encodeAccountFrame(frame));
  for (const until = Date.now() + 5000; Date.now() < until; await new Promise((r) => setTimeout(r, 10))) {
    const r = ch.frames.find((f): f is Extract<AccountFrame, { type: 'RESULT' }> => f.type === 'RESULT' && f.req === frame.req);
    if (r !== undefined) return r;
  }
  throw new Error(`no RESULT for ${frame.req}`);
}
const id16 = (id: string) => new Uint8Array(Buffer.from(id, 'base64url'));

/** alice's first device (the phone) approves a second session (the laptop) with a new key: both sessions, bound. */
async function twoDevices(api: Api) {
  const phone = await withDevice(api, 'alice', 'pw a');
  const laptop = bearer((await login(api, 'alice', 'pw a')).body.token);
  const d2 = testDevice();
  const request = (await api.post('/api/devices/request', { identityKey: d2.b64, tag }, laptop)).body.request;
  const entry = phone.d.entry('alice', phone.head, [phone.d.key, d2.key]);
  const ok = await api.post('/api/devices/approve', { request, list: b64u(entry), confirm: tag }, phone.auth);
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  return { phone, laptop: { auth: laptop, device: ok.body.device as string, d: d2, head: { version: 2, entry } } };
}

test('a session without a device: only what a new device needs; approval binds it, and then it is a device', async () => {
  const api = await relayWithAccounts();
  try {
    const phone = await withDevice(api, 'alice', 'pw a');
    await withDevice(api, 'bob', 'pw b');
    const laptop = bearer((await login(api, 'alice', 'pw a')).body.token);
    for (const e of DEVICE_ONLY) {
      const r = await call(api, e, laptop);
      assert.deepEqual([r.status, r.body.error], [403, 'DEVICE_NOT_BOUND'], `${e[0]} ${e[1]}`);
    }
    // Which names exist is not told either: a name with no account is refused the same way.
    assert.equal((await api.post('/api/devices/list', { name: 'nobody', after: 0 }, laptop)).body.error, 'DEVICE_NOT_BOUND');
    assert.equal(await refusedUpgrade(channel(api, laptop, phone.device, phone.d)), 'upgrade 403', 'no channel, even with the key');
    // What it may do.
    assert.deepEqual((await api.get('/api/session', laptop)).body.device, null);
    assert.equal((await api.get('/api/devices', laptop)).status, 200);
    assert.equal((await api.post('/api/devices/list', { after: 0 }, laptop)).body.version, 1);
    assert.equal((await api.post('/api/devices/list', { name: 'alice', after: 0 }, laptop)).status, 200, 'its own account’s, by name');
    const d2 = testDevice();
    const asked = await api.post('/api/devices/request', { identityKey: d2.b64, tag }, laptop);
    assert.equal(asked.status, 201);
    const request = asked.body.request as string;
    assert.equal((await api.post('/api/devices/request/status', { request }, laptop)).body.state, 'pending');
    const entry = phone.d.entry('alice', phone.head, [phone.d.key, d2.key]);
    const approved = await api.post('/api/devices/approve', { request, list: b64u(entry), confirm: tag }, phone.auth);
    assert.equal(approved.status, 201);
    // Approved: the asking session is the new device's, and may now do what a device does.
    assert.equal((await api.get('/api/session', laptop)).body.device, approved.body.device);
    assert.equal((await api.post('/api/contacts/request', { name: 'bob' }, laptop)).body.state, 'outgoing');
    const ch = await channel(api, laptop, approved.body.device, d2);
    ch.ws.close();
    // The first device's session was bound as it enrolled; a bound session does not ask for another device.
    assert.equal((await api.get('/api/session', phone.auth)).body.device, phone.device);
    assert.equal((await api.post('/api/devices/request', { identityKey: testDevice().b64, tag }, laptop)).body.error, 'SESSION_BOUND');
    assert.equal((await api.post('/api/logout', {}, laptop)).status, 200);
  } finally {
    await api.relay.close();
  }
});

test('bind: a fresh challenge signed by the device binds; a wrong key, a replay, another account’s device, an AUTH signature do not', async () => {
  const api = await relayWithAccounts();
  try {
    const { phone, laptop } = await twoDevices(api);
    const bob = await withDevice(api, 'bob', 'pw b');
    const again = bearer((await login(api, 'alice', 'pw a')).body.token);
    const bind = (auth: Auth, body: unknown) => api.post('/api/devices/bind', body, auth);
    const refused = async (p: ReturnType<typeof bind>, status: number, error: string, problem?: string) => {
      const r = await p;
      assert.deepEqual([r.status, r.body.error, r.body.problem], [status, error, problem], JSON.stringify(r.body));
    };
    const good = await bindBody(api, again, phone.device, phone.d);
    // No challenge outstanding (a new one replaces the old, and this one is taken by the first attempt).
    await bindBody(api, again, phone.device, phone.d);
    await refused(bind(again, good), 403, 'BIND_FAILED', 'SIGNATURE');
    await refused(bind(again, good), 403, 'BIND_FAILED', 'CHALLENGE');
    // Signed by another device of the account, or by a stranger's key.
    await refused(bind(again, await bindBody(api, again, phone.device, laptop.d)), 403, 'BIND_FAILED', 'SIGNATURE');
    await refused(bind(again, await bindBody(api, again, phone.device, testDevice())), 403, 'BIND_FAILED', 'SIGNATURE');
    // The channel's AUTH signature over the same challenge is not a bind (a label of its own).
    const c = await api.post('/api/devices/bind/start', {}, again);
    const auth = phone.d.sign(Buffer.concat([ACCOUNT_AUTH_LABEL, Buffer.from(c.body.challenge, 'base64url'), id16(phone.device)]));
    await refused(bind(again, { device: phone.device, signature: b64u(auth) }), 403, 'BIND_FAILED', 'SIGNATURE');
    // Another account's device, signed by its own key.
    await refused(bind(again, await bindBody(api, again, bob.device, bob.d)), 404, 'NO_SUCH_DEVICE');
    assert.equal((await api.get('/api/contacts', again)).body.error, 'DEVICE_NOT_BOUND', 'nothing above bound it');
    // The right proof binds it; the same proof again is a replay.
    const proof = await bindBody(api, again, phone.device, phone.d);
    assert.deepEqual((await bind(again, proof)).body, { device: phone.device });
    await refused(bind(again, proof), 403, 'BIND_FAILED', 'CHALLENGE');
    assert.equal((await api.get('/api/contacts', again)).status, 200);
    // A session is one device's: binding it to another is refused, and its channel serves only its device.
    await refused(bind(again, await bindBody(api, again, laptop.device, laptop.d)), 409, 'SESSION_BOUND');
    assert.equal(await refusedUpgrade(channel(api, again, laptop.device, laptop.d)), 'closed 4403');
    // Malformed bodies, and a cookie bind from a foreign page.
    await bindBody(api, again, phone.device, phone.d);
    await refused(bind(again, { device: phone.device, signature: 'x' }), 400, 'BAD_REQUEST');
    await refused(bind(again, { ...proof, extra: 1 }), 400, 'BAD_REQUEST');
    const cookie = { cookie: `__Host-nullroom-session=${'A'.repeat(43)}`, origin: 'https://evil.example' };
    await refused(bind(cookie, proof), 403, 'FORBIDDEN_ORIGIN');
  } finally {
    await api.relay.close();
  }
});

test('a removed device loses at once its sessions, its channel (4410), its mailbox and its routing; its leaf’s removal is accepted', async () => {
  const api = await relayWithAccounts();
  try {
    const { phone, laptop } = await twoDevices(api);
    await withDevice(api, 'bob', 'pw b');
    const phoneCh = await channel(api, phone.auth, phone.device, phone.d);
    const laptopCh = await channel(api, laptop.auth, laptop.device, laptop.d);
    // A conversation of both devices, with mail waiting for the laptop (never acknowledged).
    const conversation = new Uint8Array(16).fill(3);
    const conv = b64u(conversation);
    const bytes = (n: number) => new Uint8Array(32).fill(n);
    assert.equal((await submit(phoneCh, { type: 'CREATE', req: 1, conversation })).status, 'ACCEPTED');
    const added = {
      type: 'COMMIT',
      req: 2,
      conversation,
      epoch: 0,
      add: [id16(laptop.device)],
      remove: [],
      commit: bytes(1),
      welcome: bytes(2),
    };
    assert.equal((await submit(phoneCh, added as AccountFrame & { req: number })).status, 'ACCEPTED');
    assert.equal((await submit(phoneCh, { type: 'SEND', req: 3, conversation, epoch: 1, payload: bytes(3) })).status, 'ACCEPTED');
    assert.deepEqual(await api.store.usage(laptop.device), { entries: 2, bytes: 64 });

    const removed = await api.post(
      '/api/devices/remove',
      { device: laptop.device, list: b64u(phone.d.entry('alice', laptop.head, [phone.d.key])) },
      phone.auth,
    );
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.equal(await laptopCh.closed, 4410, 'its open channel is closed at once');
    // Its session is gone: refused on every endpoint class, and at the channel upgrade.
    for (const e of [...DEVICE_ONLY, ['GET', '/api/session', undefined], ['GET', '/api/devices', undefined]] as typeof DEVICE_ONLY) {
      const r = await call(api, e, laptop.auth);
      assert.deepEqual([r.status, r.body.error], [401, 'NOT_SIGNED_IN'], `${e[0]} ${e[1]}`);
    }
    assert.equal(await refusedUpgrade(channel(api, laptop.auth, laptop.device, laptop.d)), 'upgrade 401');
    // Its mailbox is gone, and nothing new is stored for it.
    assert.deepEqual(await api.store.mailbox(laptop.device, 0, 100, Date.now()), { entries: [], lost: [] });
    assert.deepEqual(await api.store.members(conv), { epoch: 1, devices: [phone.device] });
    assert.equal((await submit(phoneCh, { type: 'SEND', req: 4, conversation, epoch: 1, payload: bytes(4) })).status, 'ACCEPTED');
    assert.deepEqual(await api.store.usage(laptop.device), { entries: 0, bytes: 0 });
    // The commit that removes its MLS leaf later names a device the relay no longer routes to: accepted.
    const leafGone = {
      type: 'COMMIT',
      req: 5,
      conversation,
      epoch: 1,
      add: [],
      remove: [id16(laptop.device)],
      commit: bytes(5),
      welcome: new Uint8Array(0),
    };
    const r = await submit(phoneCh, leafGone as AccountFrame & { req: number });
    assert.deepEqual([r.status, r.epoch], ['ACCEPTED', 2]);
    // The remaining device goes on.
    assert.equal((await api.post('/api/contacts/request', { name: 'bob' }, phone.auth)).body.state, 'outgoing');
    phoneCh.ws.close();
  } finally {
    await api.relay.close();
  }
});

test('a store from before bound sessions: its sessions live on, unbound, for what a new device may do', async () => {
  const path = freshFile();
  sqliteStoreAt(path, 4);
  const token = 'T'.repeat(43);
  const db = new Database(path);
  db.prepare("INSERT INTO users (id, name, look_alike, record, created_at) VALUES ('u1', 'alice', 'alice', 'rec', 1)").run();
  db.prepare("INSERT INTO sessions (token_hash, user_id, kind, created_at, expires_at) VALUES (?, 'u1', 'cli', 1, ?)").run(
    (await import('node:crypto')).createHash('sha256').update(token).digest(),
    Date.now() + 60_000,
  );
  db.close();
  const api = await relayWithAccounts({}, openSqliteAccountStore(path));
  try {
    const old = bearer(token);
    assert.deepEqual((await api.get('/api/session', old)).body, {
      name: 'alice',
      kind: 'cli',
      expiresAt: (await api.get('/api/session', old)).body.expiresAt,
      device: null,
    });
    assert.equal((await api.get('/api/contacts', old)).body.error, 'DEVICE_NOT_BOUND');
    const first = await firstDevice(api, 'alice', old);
    assert.equal((await api.get('/api/session', old)).body.device, first.device, 'enrolling bound it');
    assert.equal((await api.get('/api/contacts', old)).status, 200);
    await register(api, 'bob', 'pw b');
  } finally {
    await api.relay.close();
  }
});
