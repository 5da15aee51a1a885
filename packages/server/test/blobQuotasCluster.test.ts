/**
 * The blob quotas of rooms and addresses across relay nodes (docs/PROTOCOL.md §12 "Files across
 * nodes", cluster/blobQuotaShare.ts): uploads spread over nodes are refused, with the same status
 * and error as on one relay, once all nodes together hold the quota; freed by a DELETE through any
 * node; a stopped node's blobs count again when it is back with them. Needs REDIS_URL (CI sets
 * it); skipped with a notice without it. One relay without Redis: blobs.test.ts, unchanged.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type BlobOptions, type Relay, type RelayOptions, startRelay } from '../src/index.js';
import { addressHash } from '../src/cluster/addressLeases.js';
import { type RawPeer, locator, ticketed } from './_raw.js';
import { dropPrefix } from './_redis.js';

const REDIS_URL = process.env.REDIS_URL;
const skip = REDIS_URL === undefined ? 'REDIS_URL is not set: blob quotas across nodes need a Redis (CI sets it)' : false;
const newId = () => randomBytes(16).toString('base64url');
const KiB64 = 64 * 1024;

/** Nodes of one cluster (a fresh prefix), closed and their keys dropped after the test. */
async function cluster(t: TestContext, blobs: BlobOptions, n = 3) {
  const prefix = `nrtest:${randomBytes(6).toString('hex')}:`;
  const opts = (b: BlobOptions = blobs): RelayOptions => ({
    port: 0,
    limits: { pingIntervalMs: 200 },
    blobs: b,
    trustProxy: true,
    cluster: { url: REDIS_URL!, prefix },
  });
  const nodes: Relay[] = await Promise.all(Array.from({ length: n }, () => startRelay(opts())));
  const peers: RawPeer[] = [];
  t.after(async () => {
    for (const p of peers) p.ws.close();
    await Promise.all(nodes.map((r) => r.close()));
    await dropPrefix(REDIS_URL!, prefix);
  });
  const start = async (b: BlobOptions) => {
    const r = await startRelay(opts(b));
    nodes.push(r);
    return r;
  };
  /** A member of room `room` connected to `r`, and its upload ticket. */
  const member = async (r: Relay, room: number) => {
    const m = await ticketed(r.url, locator(room));
    peers.push(m.peer);
    return m;
  };
  return { nodes, prefix, start, member };
}

/** A PUT of chunk `index` of a new blob (or of `id`), from address `ip`; its status and error. */
async function put(
  r: Relay,
  ticket: string,
  ip: string,
  size = 10,
  id = newId(),
  token = randomBytes(32).toString('base64url'),
  index = 0,
) {
  const res = await fetch(`${r.url}/blobs/${id}/${index}`, {
    method: 'PUT',
    body: new Uint8Array(size),
    headers: { 'X-Nullroom-Blob-Token': token, 'X-Nullroom-Blob-Ticket': ticket, 'X-Forwarded-For': ip },
  });
  await res.arrayBuffer();
  return { status: res.status, error: res.headers.get('x-nullroom-blob-error'), id, token };
}

const refused = (r: { status: number; error: string | null }, error: string, why: string) =>
  assert.deepEqual([r.status, r.error], [507, error], why);

/** Every key, field and value under the prefix, as text. */
async function redisDump(prefix: string): Promise<string> {
  const r = new Redis(REDIS_URL!);
  const out: string[] = [];
  for (const key of await r.keys(`${prefix}*`)) {
    out.push(key);
    const type = await r.type(key);
    if (type === 'string') out.push((await r.get(key)) ?? '');
    else if (type === 'hash') out.push(...Object.entries(await r.hgetall(key)).flat());
  }
  r.disconnect();
  return out.join('\n');
}

test('an address’s blobs across nodes: refused on every node once they hold its quota together, freed by a DELETE', { skip }, async (t) => {
  const { nodes, prefix, member } = await cluster(t, { maxBlobsPerIp: 3 });
  const [a, b, c] = nodes as [Relay, Relay, Relay];
  // One client, in a room on A and another on B: each ticket's new blobs are stored by its node.
  const onA = await member(a, 11);
  const onB = await member(b, 12);
  const ip = '10.2.0.1';
  const first = await put(a, onA.ticket, ip);
  assert.equal(first.status, 204);
  assert.equal((await put(a, onA.ticket, ip)).status, 204);
  assert.equal((await put(b, onB.ticket, ip)).status, 204);
  assert.deepEqual([a.blobStats()?.blobs, b.blobStats()?.blobs], [2, 1], 'on two nodes');
  const over = await put(b, onB.ticket, ip);
  refused(over, 'IP_QUOTA', 'on B, where the address holds one blob');
  refused(await put(a, onA.ticket, ip), 'IP_QUOTA', 'on A');
  // A refused new blob was never made (404, not 410), and its other chunks sent at once share the refusal.
  assert.equal((await fetch(`${b.url}/blobs/${over.id}`, { method: 'HEAD' })).status, 404);
  const both = await Promise.all([0, 1].map((i) => put(a, onA.ticket, ip, 10, over.id, over.token, i)));
  for (const r of both) refused(r, 'IP_QUOTA', 'two chunks of one new blob');
  assert.deepEqual([a.blobStats()?.blobs, b.blobStats()?.blobs], [2, 1], 'nothing more held');
  refused(await put(c, onB.ticket, ip), 'IP_QUOTA', 'through C (forwarded to B)');
  assert.equal((await put(b, onB.ticket, '10.2.0.2')).status, 204, 'another address');

  // Deleted through C (forwarded to A): answered once every node sees the quota freed.
  const del = await fetch(`${c.url}/blobs/${first.id}`, { method: 'DELETE', headers: { 'X-Nullroom-Blob-Token': first.token } });
  assert.equal(del.status, 204);
  assert.equal((await put(b, onB.ticket, ip, 10, over.id, over.token)).status, 204, 'freed on B by a DELETE on A');
  refused(await put(a, onA.ticket, ip), 'IP_QUOTA', 'full again');

  // Uploads at once on both nodes: exactly the quota is admitted (one script decides each, for all nodes).
  const burst = await Promise.all([a, b, a, b, a, b, a, b].map((r) => put(r, r === a ? onA.ticket : onB.ticket, '10.2.0.3')));
  assert.equal(burst.filter((r) => r.status === 204).length, 3, burst.map((r) => r.status).join(','));
  for (const r of burst) if (r.status !== 204) refused(r, 'IP_QUOTA', 'the others');

  // What Redis holds of it: the address's hash, never the address, a blob id, a token or a ticket.
  const held = await redisDump(prefix);
  assert.ok(held.includes(`${prefix}ba:${addressHash(ip)}`) && held.includes(`${prefix}br:`), 'the search saw the quota keys');
  for (const canary of [ip, '10.2.0.3', first.id, first.token, onA.ticket, onB.ticket]) {
    assert.ok(!held.includes(canary), `Redis holds ${canary.slice(0, 6)}…`);
  }
});

test('a room’s blobs and bytes across nodes: its members on two nodes share one quota', { skip }, async (t) => {
  const { nodes, member } = await cluster(t, { maxBlobsPerRoom: 3, maxBytesPerRoom: 5 * KiB64 }, 2);
  const [a, b] = nodes as [Relay, Relay];
  const [m1, m2] = [await member(a, 21), await member(b, 21)];
  assert.equal((await put(a, m1.ticket, '10.3.0.1')).status, 204);
  assert.equal((await put(a, m1.ticket, '10.3.0.1')).status, 204);
  assert.equal((await put(b, m2.ticket, '10.3.0.2')).status, 204);
  refused(await put(b, m2.ticket, '10.3.0.2'), 'ROOM_QUOTA', 'its fourth blob, on B');
  refused(await put(a, m1.ticket, '10.3.0.3'), 'ROOM_QUOTA', 'its fourth blob, on A');
  // Bytes: each chunk counts at least 64 KiB; another room holds 2 + 2 (of 5) over two nodes.
  const [m3, m4] = [await member(a, 22), await member(b, 22)];
  assert.equal((await put(a, m3.ticket, '10.3.0.4', 2 * KiB64)).status, 204);
  assert.equal((await put(b, m4.ticket, '10.3.0.5', 2 * KiB64)).status, 204);
  refused(await put(a, m3.ticket, '10.3.0.4', 2 * KiB64), 'ROOM_QUOTA', '6 of 5');
  assert.equal((await put(a, m3.ticket, '10.3.0.4', 100)).status, 204, '5 of 5');
  refused(await put(b, m4.ticket, '10.3.0.5', 100), 'ROOM_QUOTA', 'full');
});

test('a stopped node’s blobs count for nothing while it is down, and again once it is back with them (keep)', { skip }, async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'nullroom-blobquotas-')), 'store');
  const { nodes, start, member } = await cluster(t, { maxBlobsPerRoom: 2 }, 1);
  const a = nodes[0]!;
  const x = await start({ maxBlobsPerRoom: 2, dir, keep: true });
  const onX = await member(x, 31);
  const onA = await member(a, 31);
  assert.equal((await put(x, onX.ticket, '10.4.0.1')).status, 204);
  assert.equal((await put(x, onX.ticket, '10.4.0.1')).status, 204);
  refused(await put(a, onA.ticket, '10.4.0.2'), 'ROOM_QUOTA', 'X holds the room’s two');
  onX.peer.ws.close();
  await x.close();
  // X's files cannot be read while it is down: its share is dropped with its heartbeat.
  assert.equal((await put(a, onA.ticket, '10.4.0.2')).status, 204);
  // Back (a new node id) with its kept store: it tells its blobs again, and the room is over its quota.
  const back = await start({ maxBlobsPerRoom: 2, dir, keep: true });
  assert.equal(back.blobStats()?.blobs, 2);
  refused(await put(a, onA.ticket, '10.4.0.2'), 'ROOM_QUOTA', 'X’s two and A’s one');
});
