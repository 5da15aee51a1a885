/**
 * Files across relay nodes (docs/PROTOCOL.md §12 "Files across nodes"): three nodes on one Redis
 * (REDIS_URL; without it these tests are skipped with a notice), each on its own key prefix, over
 * raw HTTP and raw WebSocket peers. And the forwarded-address signature (cluster/forwardAuth.ts).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type BlobOptions, type Relay, RelayConfigError, type RelayOptions, startRelay } from '../src/index.js';
import { FORWARD_HEADER, signForward, verifyForward } from '../src/cluster/forwardAuth.js';
import { locator, ticketed as joinTicketed } from './_raw.js';
import { dropPrefix } from './_redis.js';

const REDIS_URL = process.env.REDIS_URL;
const skip = REDIS_URL === undefined ? 'REDIS_URL is not set: files across nodes need a Redis (CI sets it)' : false;
const newId = () => randomBytes(16).toString('base64url');
const newToken = () => randomBytes(32).toString('base64url');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PING_MS = 200;

/** Three nodes of one cluster (a fresh prefix), closed and their keys dropped after the test. */
async function cluster(t: TestContext, blobs: BlobOptions = {}, extra: Partial<RelayOptions> = {}) {
  const prefix = `nrtest:${randomBytes(6).toString('hex')}:`;
  const opts = (b: BlobOptions = blobs): RelayOptions => ({
    port: 0,
    limits: { pingIntervalMs: PING_MS },
    blobs: b,
    trustProxy: true,
    cluster: { url: REDIS_URL!, prefix },
    ...extra,
  });
  const nodes: Relay[] = await Promise.all([0, 1, 2].map(() => startRelay(opts())));
  const more: Relay[] = [];
  t.after(async () => {
    await Promise.all([...nodes, ...more].map((r) => r.close()));
    await dropPrefix(REDIS_URL!, prefix);
  });
  const start = async (b?: BlobOptions) => {
    const r = await startRelay(opts(b));
    more.push(r);
    return r;
  };
  return { nodes: nodes as [Relay, Relay, Relay], prefix, start };
}

let rooms = 1;
/** A raw peer in a fresh room on `r`, and its upload ticket (§9.1). */
const ticketed = (r: Relay) => joinTicketed(r.url, locator(rooms++ % 256));

const put = (r: Relay, id: string, index: number, body: Uint8Array, token: string, ticket: string, headers: Record<string, string> = {}) =>
  fetch(`${r.url}/blobs/${id}/${index}`, {
    method: 'PUT',
    body: body as Uint8Array<ArrayBuffer>,
    headers: { 'X-Nullroom-Blob-Token': token, 'X-Nullroom-Blob-Ticket': ticket, ...headers },
  });
const get = (r: Relay, id: string, index: number, wait?: number) =>
  fetch(`${r.url}/blobs/${id}/${index}${wait === undefined ? '' : `?wait=${wait}`}`);
const bytes = async (res: Response) => new Uint8Array(await res.arrayBuffer());

test('forwardAuth: the header verifies for its method, target and address only, within the skew, under its secret', () => {
  const secret = randomBytes(32);
  const now = Date.now();
  const h = signForward(secret, 'PUT', '/blobs/x/0', '10.0.0.1', now);
  assert.equal(verifyForward(secret, h, 'PUT', '/blobs/x/0', now), '10.0.0.1');
  assert.equal(verifyForward(secret, h, 'GET', '/blobs/x/0', now), undefined, 'another method');
  assert.equal(verifyForward(secret, h, 'PUT', '/blobs/x/1', now), undefined, 'another target');
  assert.equal(verifyForward(randomBytes(32), h, 'PUT', '/blobs/x/0', now), undefined, 'another secret');
  assert.equal(verifyForward(secret, h, 'PUT', '/blobs/x/0', now + 61_000), undefined, 'stale');
  const [ms, , mac] = h.split('.');
  const other = `${ms}.${Buffer.from('10.0.0.2').toString('base64url')}.${mac}`;
  assert.equal(verifyForward(secret, other, 'PUT', '/blobs/x/0', now), undefined, 'another address under the same mac');
  for (const bad of [undefined, '', 'x', `${h}.`, ['a', 'b'], h.replace(/^\d+/, 'abc')]) {
    assert.equal(verifyForward(secret, bad, 'PUT', '/blobs/x/0', now), undefined);
  }
});

test('advertiseUrl: a URL of scheme and host that other machines can reach; a node on every address must give one', async () => {
  const cluster = (advertiseUrl?: string) => ({ url: 'redis://127.0.0.1:1', ...(advertiseUrl === undefined ? {} : { advertiseUrl }) });
  for (const [opts, why] of [
    [{ cluster: cluster('ftp://a.example') }, /scheme and a host/],
    [{ cluster: cluster('https://a.example/path') }, /scheme and a host/],
    [{ cluster: cluster('not a url') }, /must be a URL/],
    [{ cluster: cluster('http://10.0.0.5:8080') }, /must name loopback/],
    [{ host: '0.0.0.0', tls: { cert: 'x', key: 'y' }, cluster: cluster() }, /needs advertiseUrl/],
  ] as const) {
    await assert.rejects(startRelay({ port: 0, ...opts }), (e: Error) => e instanceof RelayConfigError && why.test(e.message));
  }
});

test('a file uploaded through one node is read through the others: GET, HEAD, long-polls, PUT and DELETE forwarded', {
  skip,
}, async (t) => {
  const { nodes } = await cluster(t);
  const [a, b, c] = nodes;
  const { peer, ticket } = await ticketed(a);
  t.after(() => peer.ws.close());
  const id = newId();
  const token = newToken();
  const chunks = [randomBytes(4 * 1024 * 1024), randomBytes(17), randomBytes(3000), randomBytes(5)];
  // A receiver asks through C before the first chunk is anywhere; it comes through A.
  const early = get(c, id, 0, 10_000);
  await sleep(150);
  assert.equal((await put(a, id, 0, chunks[0]!, token, ticket)).status, 204);
  const first = await early;
  assert.equal(first.status, 200);
  assert.deepEqual(await bytes(first), new Uint8Array(chunks[0]!));
  assert.equal((await put(a, id, 1, chunks[1]!, token, ticket)).status, 204);
  for (const r of [b, c]) {
    const res = await get(r, id, 1);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '17');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(res.headers.get(FORWARD_HEADER), null);
    assert.deepEqual(await bytes(res), new Uint8Array(chunks[1]!));
    const h = await fetch(`${r.url}/blobs/${id}`, { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('x-nullroom-blob-chunks'), '2');
  }
  // B waits for chunk 2, which comes later through A.
  const waiting = get(b, id, 2, 10_000);
  await sleep(150);
  assert.equal((await put(a, id, 2, chunks[2]!, token, ticket)).status, 204);
  assert.deepEqual(await bytes(await waiting), new Uint8Array(chunks[2]!));
  // A PUT through B with A's ticket goes to A: the blob stays whole on its node.
  assert.equal((await put(b, id, 3, chunks[3]!, token, ticket)).status, 204);
  for (let i = 0; i < 3; i++) {
    const res = await put(b, id, 3, randomBytes(1024 * 1024), newToken(), ticket);
    assert.equal(res.status, 403, 'the token is checked where the blob is, on the headers');
    assert.equal(res.headers.get('x-nullroom-blob-error'), 'BAD_TOKEN');
  }
  // Refused by the owner on its headers, before the body: passed back, the rest of the body is not read.
  const big = await put(b, id, 4, randomBytes(5 * 1024 * 1024), token, ticket);
  assert.equal(big.status, 413);
  assert.equal(big.headers.get('connection'), 'close');
  assert.deepEqual(await bytes(await get(c, id, 3)), new Uint8Array(chunks[3]!));
  assert.equal(a.blobStats()?.blobs, 1);
  assert.equal(b.blobStats()?.blobs, 0);
  // A new blob PUT through C with A's ticket is stored by A, whose connection holds the ticket.
  const other = newId();
  assert.equal((await put(c, other, 0, chunks[1]!, token, ticket)).status, 204);
  assert.deepEqual([a.blobStats()?.blobs, b.blobStats()?.blobs, c.blobStats()?.blobs], [2, 0, 0]);
  // DELETE through C: removed on A; every node then answers 410, and a wait through B ends with it.
  const gone = get(b, id, 9, 10_000);
  await sleep(150);
  const wrong = await fetch(`${c.url}/blobs/${id}`, { method: 'DELETE', headers: { 'X-Nullroom-Blob-Token': newToken() } });
  assert.equal(wrong.status, 403);
  const del = await fetch(`${c.url}/blobs/${id}`, { method: 'DELETE', headers: { 'X-Nullroom-Blob-Token': token } });
  assert.equal(del.status, 204);
  assert.equal((await gone).status, 410);
  assert.equal(a.blobStats()?.blobs, 1);
  for (const r of nodes) assert.equal((await get(r, id, 0)).status, 410);
  // Unknown everywhere: 404 at once, and after a wait.
  assert.equal((await get(b, newId(), 0)).status, 404);
  assert.equal((await get(b, newId(), 0, 300)).status, 404);
});

test('a ticket of another node writes to a blob held elsewhere, while its stay lasts', { skip }, async (t) => {
  const { nodes } = await cluster(t);
  const [a, b, c] = nodes;
  const holder = await ticketed(a);
  t.after(() => holder.peer.ws.close());
  const id = newId();
  const token = newToken();
  assert.equal((await put(a, id, 0, randomBytes(10), token, holder.ticket)).status, 204);
  // The uploader reconnected to B: its new ticket is B's, the blob is A's; through C.
  const moved = await ticketed(b);
  assert.equal((await put(c, id, 1, randomBytes(20), token, moved.ticket)).status, 204);
  assert.equal((await put(a, id, 2, randomBytes(30), token, moved.ticket)).status, 204);
  assert.equal((await fetch(`${b.url}/blobs/${id}`, { method: 'HEAD' })).headers.get('x-nullroom-blob-chunks'), '3');
  assert.deepEqual([a.blobStats()?.blobs, b.blobStats()?.blobs, c.blobStats()?.blobs], [1, 0, 0]);
  // Its connection ends: within a ping interval the ticket is good nowhere.
  moved.peer.ws.close();
  await moved.peer.closed;
  await sleep(3 * PING_MS);
  for (const r of nodes) {
    const res = await put(r, id, 3, randomBytes(5), token, moved.ticket);
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('x-nullroom-blob-error'), 'BAD_TICKET');
  }
  // A ticket nobody issued is refused by every node.
  for (const r of nodes) assert.equal((await put(r, newId(), 0, randomBytes(5), token, newToken())).status, 403);
});

test('a forged forwarding header is refused: a client cannot choose the address it is counted against', { skip }, async (t) => {
  const { nodes, prefix } = await cluster(t);
  const [a, b] = nodes;
  const { peer, ticket } = await ticketed(a);
  t.after(() => peer.ws.close());
  const id = newId();
  const token = newToken();
  const secret = randomBytes(32);
  const forged = [
    'x',
    signForward(secret, 'PUT', `/blobs/${id}/0`, '10.9.9.9'), // under a key that is not the cluster's
  ];
  for (const r of [a, b]) {
    for (const h of forged) {
      const res = await put(r, id, 0, randomBytes(10), token, ticket, { [FORWARD_HEADER]: h });
      assert.equal(res.status, 403);
      assert.equal(await res.text(), 'forbidden\n');
      assert.equal((await fetch(`${r.url}/blobs/${id}/0`, { headers: { [FORWARD_HEADER]: h } })).status, 403);
    }
  }
  assert.deepEqual([a.blobStats()?.blobs, b.blobStats()?.blobs], [0, 0], 'nothing stored');
  // Under the cluster's own secret (as another node would sign it), for this request only.
  const redis = new Redis(REDIS_URL!);
  t.after(() => redis.disconnect());
  const real = (await redis.getBuffer(`${prefix}secret`))!;
  assert.equal(real.length, 32);
  const signed = signForward(real, 'PUT', `/blobs/${id}/0`, '10.9.9.9');
  assert.equal((await put(a, id, 1, randomBytes(10), token, ticket, { [FORWARD_HEADER]: signed })).status, 403, 'another target');
  assert.equal((await put(a, id, 0, randomBytes(10), token, ticket, { [FORWARD_HEADER]: signed })).status, 204);
});

test('per-address quotas count on the owner, against the client’s own address', { skip }, async (t) => {
  const { nodes } = await cluster(t, { maxBlobsPerIp: 2 });
  const [a, b, c] = nodes;
  const { peer, ticket } = await ticketed(a);
  t.after(() => peer.ws.close());
  const token = newToken();
  const from = (ip: string) => ({ 'X-Forwarded-For': ip });
  // 10.1.0.1 through B: its blobs go to A (A's ticket), counted there for 10.1.0.1.
  assert.equal((await put(b, newId(), 0, randomBytes(10), token, ticket, from('10.1.0.1'))).status, 204);
  assert.equal((await put(c, newId(), 0, randomBytes(10), token, ticket, from('10.1.0.1'))).status, 204);
  for (const r of nodes) {
    const res = await put(r, newId(), 0, randomBytes(10), token, ticket, from('10.1.0.1'));
    assert.equal(res.status, 507);
    assert.equal(res.headers.get('x-nullroom-blob-error'), 'IP_QUOTA');
  }
  // Another client through the same node is not counted against the forwarding node's address.
  assert.equal((await put(b, newId(), 0, randomBytes(10), token, ticket, from('10.1.0.2'))).status, 204);
  assert.equal((await put(b, newId(), 0, randomBytes(10), token, ticket, from('10.1.0.3'))).status, 204);
  assert.equal(a.blobStats()?.blobs, 4);
});

test('the owner stopped: its files answer 404 through the others (a PUT to one: 503, retry), and come back with it with keep', {
  skip,
}, async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'nullroom-blobcluster-')), 'store');
  const { nodes, start } = await cluster(t);
  const [, b, c] = nodes;
  const owner = await start({ dir, keep: true });
  const { peer, ticket } = await ticketed(owner);
  const id = newId();
  const token = newToken();
  const data = randomBytes(1000);
  assert.equal((await put(owner, id, 0, data, token, ticket)).status, 204);
  assert.deepEqual(await bytes(await get(b, id, 0)), new Uint8Array(data));
  peer.ws.close();
  await owner.close();
  assert.equal((await get(b, id, 0)).status, 404);
  assert.equal((await get(c, id, 0, 200)).status, 404);
  assert.equal((await fetch(`${c.url}/blobs/${id}`, { method: 'HEAD' })).status, 404);
  const other = await ticketed(b);
  t.after(() => other.peer.ws.close());
  const res = await put(c, id, 1, data, token, other.ticket);
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('x-nullroom-blob-error'), 'BUSY');
  // The node comes back (another id, another port) with its kept store: the file is found again.
  await start({ dir, keep: true });
  assert.deepEqual(await bytes(await get(c, id, 0)), new Uint8Array(data));
  assert.equal((await put(b, id, 1, data, token, other.ticket)).status, 204);
});
