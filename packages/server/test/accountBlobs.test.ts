/**
 * Blobs of account conversations on the relay (docs/PROTOCOL.md §9.3): `POST /api/blobs/ticket`
 * only for a session bound to a device; its ticket works with the blob endpoint, the same one while
 * it lasts; what it uploads is kept for the accounts' retention (not the rooms' TTL), across a
 * restart, and removed once that retention ends on a later start; deleting the account removes its
 * blobs and ends its tickets; a relay without a blob store has no such endpoint.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay } from '../src/index.js';
import { bearer, login, prove, register, relayWithAccounts, withDevice } from './_accounts.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-account-blobs-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const put = (url: string, id: string, ticket: string, token: string, body: Uint8Array) =>
  fetch(`${url}/blobs/${id}/0`, {
    method: 'PUT',
    headers: { 'x-nullroom-blob-ticket': ticket, 'x-nullroom-blob-token': token },
    body: body as Uint8Array<ArrayBuffer>,
  });
const get = (url: string, id: string) =>
  fetch(`${url}/blobs/${id}/0`).then(async (r) => ({ status: r.status, body: new Uint8Array(await r.arrayBuffer()) }));
const b64 = (n: number) => randomBytes(n).toString('base64url');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('account tickets: bound devices only; kept for the retention across a restart; gone with the account', async () => {
  const blobDir = join(dir, 'blobs');
  // The rooms' TTL is 50 ms: an account blob outlives it by far.
  const api = await relayWithAccounts({}, undefined, { dir: blobDir, keep: true, ttlMs: 50 });
  const url = api.relay.url;
  const alice = await withDevice(api, 'alice', 'pw a');

  assert.equal((await api.post('/api/blobs/ticket', {})).body.error, 'NOT_SIGNED_IN');
  const unbound = bearer((await login(api, 'alice', 'pw a')).body.token);
  const refused = await api.post('/api/blobs/ticket', {}, unbound);
  assert.deepEqual([refused.status, refused.body.error], [403, 'DEVICE_NOT_BOUND']);
  assert.equal((await api.post('/api/blobs/ticket', { more: 1 }, alice.auth)).body.error, 'BAD_REQUEST');

  const t = await api.post('/api/blobs/ticket', {}, alice.auth);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.match(t.body.ticket, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(t.body.used, { files: 0, bytes: 0 });
  assert.deepEqual(t.body.quota, { files: 1000, bytes: 2 * 1024 ** 3 });
  assert.equal((await api.post('/api/blobs/ticket', {}, alice.auth)).body.ticket, t.body.ticket, 'the same ticket while it lasts');

  const id = b64(16);
  const token = b64(32);
  const bytes = randomBytes(1000);
  assert.equal((await put(url, id, t.body.ticket, token, bytes)).status, 204);
  assert.equal((await put(url, b64(16), b64(32), token, bytes)).status, 403, 'a made-up ticket');
  assert.deepEqual((await api.post('/api/blobs/ticket', {}, alice.auth)).body.used, { files: 1, bytes: 64 * 1024 });
  await sleep(200);
  assert.deepEqual(await get(url, id), { status: 200, body: new Uint8Array(bytes) }, 'past the rooms’ TTL, kept');

  // A restart keeps it (its record says it is an account's, so the accounts' retention applies).
  await api.relay.close();
  let relay = await startRelay({ port: 0, blobs: { dir: blobDir, keep: true, ttlMs: 50 } });
  await sleep(150);
  assert.equal((await get(relay.url, id)).status, 200);
  await relay.close();
  // A start with a retention that has passed removes it.
  relay = await startRelay({ port: 0, blobs: { dir: blobDir, keep: true, accountTtlMs: 1 } });
  assert.equal((await get(relay.url, id)).status, 404);
  assert.ok(!existsSync(join(blobDir, Buffer.from(id, 'base64url').toString('hex'))));
  await relay.close();
});

test('deleting an account removes its blobs and ends its tickets; no blob store, no endpoint', async () => {
  const api = await relayWithAccounts({}, undefined, {});
  const url = api.relay.url;
  const bob = await withDevice(api, 'bob', 'pw b');
  const carol = await withDevice(api, 'carol', 'pw c');
  const ticket = (await api.post('/api/blobs/ticket', {}, bob.auth)).body.ticket as string;
  const other = (await api.post('/api/blobs/ticket', {}, carol.auth)).body.ticket as string;
  const [mine, theirs] = [b64(16), b64(16)];
  assert.equal((await put(url, mine, ticket, b64(32), randomBytes(10))).status, 204);
  assert.equal((await put(url, theirs, other, b64(32), randomBytes(10))).status, 204);
  const p = await prove(api, 'bob', 'pw b');
  assert.equal((await api.post('/api/account/delete', { login: p.login, finish: p.finish }, bob.auth)).status, 200);
  assert.equal((await get(url, mine)).status, 410, 'bob’s blob is gone');
  assert.equal((await get(url, theirs)).status, 200, 'carol’s is not');
  const late = await put(url, b64(16), ticket, b64(32), randomBytes(10));
  assert.deepEqual([late.status, late.headers.get('x-nullroom-blob-error')], [403, 'BAD_TICKET']);
  await api.relay.close();

  const none = await relayWithAccounts();
  const reg = await register(none, 'dave', 'pw d');
  assert.equal(reg.status, 201);
  const dave = await withDevice(none, 'erin', 'pw e');
  assert.equal((await none.post('/api/blobs/ticket', {}, dave.auth)).body.error, 'NOT_FOUND');
  await none.relay.close();
});
