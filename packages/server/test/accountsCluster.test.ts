/**
 * Accounts across two relay nodes (docs/PROTOCOL.md §12) that share one PostgreSQL schema and one
 * Redis prefix, each test's own (DATABASE_URL and REDIS_URL; without either the test is skipped with
 * a notice), driven through the raw API and account channels as a device does: contacts made across
 * nodes see each other's presence; a message sent through one node reaches the recipient's channel
 * on the other live; a device connecting again on the other node replaces its channel there (4409);
 * a device approved, bound (with a challenge fetched from the other node) and then removed through
 * one node loses its channel on the other (4410); the login rate is one for both nodes; a blob
 * ticket issued by one node is taken by the other, and the account's file quota holds for both
 * nodes together (cluster/blobQuotaShare.ts). And nothing Redis held or carried meanwhile
 * contains a name, a password, a session token or its hash, an address, a ticket or a message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { Redis } from 'ioredis';
import { type AccountFrame, encodeAccountFrame } from '@nullroom/protocol';
import { type Relay, startRelay } from '../src/index.js';
import { openPgAccountStore } from '../src/accounts/pgAccountStore.js';
import type { AccountStore } from '../src/accounts/accountStore.js';
import { type Api, b64u, bearer, bindBody, login, openChannel, prove, type RawChannel, testDevice, withDevice } from './_accounts.js';
import { DATABASE_URL, storeFixtures } from './_stores.js';
import { dropPrefix } from './_redis.js';

const REDIS_URL = process.env.REDIS_URL;
const skip =
  REDIS_URL === undefined || DATABASE_URL === undefined ? 'REDIS_URL and DATABASE_URL are both needed (CI sets them)' : undefined;
if (skip !== undefined) console.log(`# NOTICE: ${skip}: accounts across relay nodes are not tested`);
const { freshSchema } = storeFixtures('cluster');
const dir = mkdtempSync(join(tmpdir(), 'nullroom-acl-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tag = Buffer.alloc(32, 9).toString('base64url');

/** An Api (as _accounts.ts's helpers take it) on a relay node. */
function apiOf(relay: Relay, store: AccountStore): Api {
  const call = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${relay.url}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: text === '' ? undefined : JSON.parse(text), headers: r.headers };
  };
  return { relay, store, logs: [], dataDir: dir, post: (p, b, h) => call('POST', p, b, h), get: (p, h) => call('GET', p, undefined, h) };
}

/** Two nodes on one schema and one prefix; what was published on the accounts' bus is kept. */
async function twoNodes(t: { after(f: () => unknown): void }) {
  await opaque.ready;
  const schema = freshSchema();
  const prefix = `nrtest:${randomBytes(6).toString('hex')}:`;
  const opaqueSetup = opaque.server.createSetup();
  const nodes: Api[] = [];
  for (const name of ['a', 'b']) {
    const store = await openPgAccountStore({ connectionString: DATABASE_URL!, schema, poolSize: 3 });
    const relay = await startRelay({
      port: 0,
      blobs: { dir: join(dir, `${prefix}${name}`), maxBlobsPerAccount: 2 },
      accounts: { store, opaqueSetup, limits: { loginBurst: 3 } },
      cluster: { url: REDIS_URL!, prefix },
    });
    nodes.push(apiOf(relay, store));
  }
  const bus: string[] = [];
  const listener = new Redis(REDIS_URL!);
  await listener.subscribe(`${prefix}a:bus`);
  listener.on('message', (_c: string, m: string) => bus.push(m));
  t.after(async () => {
    listener.disconnect();
    for (const n of nodes) await n.relay.close();
    await dropPrefix(REDIS_URL!, prefix);
  });
  return { A: nodes[0]!, B: nodes[1]!, prefix, bus };
}

const channel = (api: Api, who: { auth: Record<string, string>; device: string; d: { sign(m: Uint8Array): Uint8Array } }) =>
  openChannel(api.relay.url, who.auth, who.device, (m) => who.d.sign(m));

async function frame<T extends AccountFrame['type']>(
  ch: RawChannel,
  type: T,
  fits: (f: Extract<AccountFrame, { type: T }>) => boolean = () => true,
) {
  for (const end = Date.now() + 5000; Date.now() < end; await sleep(10)) {
    const f = ch.frames.find(
      (x): x is Extract<AccountFrame, { type: T }> => x.type === type && fits(x as Extract<AccountFrame, { type: T }>),
    );
    if (f !== undefined) return f;
  }
  throw new Error(`no ${type}`);
}

async function submit(ch: RawChannel, f: AccountFrame & { req: number }) {
  ch.ws.send(encodeAccountFrame(f));
  return frame(ch, 'RESULT', (r) => r.req === f.req);
}

/** Every key, field, member and value under the prefix, as text. */
async function redisDump(prefix: string): Promise<string> {
  const r = new Redis(REDIS_URL!);
  const out: string[] = [];
  for (const key of await r.keys(`${prefix}*`)) {
    out.push(key);
    // A node's own URL (cluster/blobRoutes.ts) is on loopback here, as the clients are: the
    // address canary is about the clients', so the nodes' URLs are left out of the search.
    if (key.startsWith(`${prefix}url:`)) continue;
    const type = await r.type(key);
    if (type === 'string') out.push((await r.get(key)) ?? '');
    else if (type === 'hash') out.push(...Object.entries(await r.hgetall(key)).flat());
    else if (type === 'set') out.push(...(await r.smembers(key)));
    else if (type === 'zset') out.push(...(await r.zrange(key, 0, -1)));
    else if (type === 'list') out.push(...(await r.lrange(key, 0, -1)));
  }
  r.disconnect();
  return out.join('\n');
}

test('accounts across two relay nodes: presence, live mail, replaced and removed devices, approval and binding, one login rate, tickets; Redis holds no secret', {
  skip,
}, async (t) => {
  const { A, B, prefix, bus } = await twoNodes(t);
  const alice = await withDevice(A, 'alicecanary', 'pw alice canary');
  const bob = await withDevice(B, 'bobcanary', 'pw bob canary');

  // Contacts made across nodes; bob online on B first, alice comes online on A.
  assert.equal((await A.post('/api/contacts/request', { name: 'bobcanary' }, alice.auth)).body.state, 'outgoing');
  const bobCh = await channel(B, bob);
  assert.equal((await B.post('/api/contacts/accept', { name: 'alicecanary' }, bob.auth)).body.state, 'contact');
  await frame(bobCh, 'NOTICE'); // the accepted request's notice reached B's channel
  const aliceCh = await channel(A, alice);
  await frame(aliceCh, 'PRESENCE', (f) => f.name === 'bobcanary' && f.online);
  await frame(bobCh, 'PRESENCE', (f) => f.name === 'alicecanary' && f.online);

  // A conversation made on A reaches bob's channel on B live: the welcome, then a message.
  const conversation = new Uint8Array(16).fill(5);
  const message = new TextEncoder().encode('canary message between nodes');
  assert.equal((await submit(aliceCh, { type: 'CREATE', req: 1, conversation })).status, 'ACCEPTED');
  const add = { type: 'COMMIT', req: 2, conversation, epoch: 0, add: [new Uint8Array(Buffer.from(bob.device, 'base64url'))], remove: [] };
  const commit = { ...add, commit: new Uint8Array(32).fill(1), welcome: new Uint8Array(32).fill(2) };
  assert.equal((await submit(aliceCh, commit as AccountFrame & { req: number })).status, 'ACCEPTED');
  assert.equal((await frame(bobCh, 'MAIL', (f) => f.kind === 'welcome')).epoch, 1);
  assert.equal((await submit(aliceCh, { type: 'SEND', req: 3, conversation, epoch: 1, payload: message })).status, 'ACCEPTED');
  assert.deepEqual((await frame(bobCh, 'MAIL', (f) => f.kind === 'app')).payload, message);

  // bob's device connects again on A: its channel on B is replaced (4409); bob stays online for alice.
  const bobAgain = await channel(A, bob);
  assert.equal(await bobCh.closed, 4409);
  await sleep(300);
  assert.ok(!aliceCh.frames.some((f) => f.type === 'PRESENCE' && !f.online), 'no offline flicker');
  bobAgain.ws.close();
  await frame(aliceCh, 'PRESENCE', (f) => f.name === 'bobcanary' && !f.online);

  // alice's laptop asks through B, her phone approves through A, the laptop reads the outcome through B.
  const laptop = bearer((await login(B, 'alicecanary', 'pw alice canary')).body.token);
  const d2 = testDevice();
  const request = (await B.post('/api/devices/request', { identityKey: d2.b64, tag }, laptop)).body.request;
  assert.deepEqual(
    (await A.get('/api/devices/requests', alice.auth)).body.requests.map((r: { request: string }) => r.request),
    [request],
  );
  const entry = alice.d.entry('alicecanary', alice.head, [alice.d.key, d2.key]);
  const approved = await A.post('/api/devices/approve', { request, list: b64u(entry), confirm: tag }, alice.auth);
  assert.equal(approved.status, 201, JSON.stringify(approved.body));
  const status = await B.post('/api/devices/request/status', { request }, laptop);
  assert.deepEqual([status.body.state, status.body.device], ['approved', approved.body.device]);
  // Signed in again through A, the laptop binds with a challenge A gave and B checks.
  const again = bearer((await login(A, 'alicecanary', 'pw alice canary')).body.token);
  const proof = await bindBody(A, again, approved.body.device, d2);
  const bound = await B.post('/api/devices/bind', proof, again);
  assert.equal(bound.status, 200, JSON.stringify(bound.body));
  assert.equal((await B.post('/api/devices/bind', proof, again)).body.error, 'BIND_FAILED', 'the challenge was taken');
  const laptopCh = await channel(A, { auth: again, device: approved.body.device, d: d2 });
  // Removed through B, the laptop's channel on A closes.
  const list = b64u(alice.d.entry('alicecanary', { version: 2, entry }, [alice.d.key]));
  const removed = await B.post('/api/devices/remove', { device: approved.body.device, list }, alice.auth);
  assert.equal(removed.status, 200, JSON.stringify(removed.body));
  assert.equal(await laptopCh.closed, 4410);

  // One login rate for both nodes: three starts for a name, spread over them, then refused on either.
  for (let i = 0; i < 3; i++) assert.equal((await prove(i % 2 ? B : A, 'carolcanary', 'x')).status, 200, `start ${i}`);
  for (const node of [A, B]) {
    const r = await prove(node, 'carolcanary', 'x');
    assert.deepEqual([r.status, (r as { body: { error: string } }).body.error], [429, 'RATE_LIMITED']);
  }

  // A blob ticket from A is taken by B's blob store (the blob lives on B).
  const ticket = (await A.post('/api/blobs/ticket', {}, alice.auth)).body.ticket as string;
  const put = (url: string, tk: string) =>
    fetch(`${url}/blobs/${randomBytes(16).toString('base64url')}/0`, {
      method: 'PUT',
      headers: { 'x-nullroom-blob-ticket': tk, 'x-nullroom-blob-token': randomBytes(32).toString('base64url') },
      body: new Uint8Array(100) as Uint8Array<ArrayBuffer>,
    });
  assert.equal((await put(B.relay.url, ticket)).status, 204);
  assert.equal((await put(B.relay.url, randomBytes(32).toString('base64url'))).status, 403);
  // The account's quota (2 files here) is one for both nodes: its second file on A, a third refused on either.
  assert.equal((await put(A.relay.url, ticket)).status, 204);
  for (const node of [A, B]) {
    const r = await put(node.relay.url, ticket);
    assert.deepEqual([r.status, r.headers.get('x-nullroom-blob-error')], [507, 'ACCOUNT_QUOTA']);
  }

  // What Redis holds and carried: ids, tags, sealed values; never these.
  const held = `${await redisDump(prefix)}\n${bus.join('\n')}`;
  assert.ok(bus.some((m) => m.startsWith('P ')) && held.includes(`${prefix}a:`), 'the canary search saw the accounts’ keys and bus');
  assert.ok(held.includes(`${prefix}br:account:`) && held.includes(`${prefix}ba:`), 'and the blob quotas’ keys');
  const sha = (s: string) => createHash('sha256').update(s).digest();
  const tokens = [alice.token, bob.token, laptop.authorization!.slice(7), again.authorization!.slice(7)];
  const canaries = [
    'alicecanary',
    'bobcanary',
    'carolcanary',
    'canary message',
    'pw alice',
    '127.0.0.1',
    ticket,
    ...tokens,
    ...tokens.flatMap((tk) => [sha(tk).toString('base64url'), sha(tk).toString('hex'), sha(tk).toString('base64')]),
  ];
  for (const c of canaries) assert.ok(!held.includes(c), `Redis holds or carried ${c.slice(0, 6)}…`);
  for (const ch of [aliceCh]) ch.ws.close();
});
