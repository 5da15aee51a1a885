/**
 * Blobs kept across a restart (`blobs.keep`, blobKept.ts; docs/PROTOCOL.md §9 "Restarts"): a file
 * offered before the relay went down can still be fetched after it comes back on the same
 * directory, with the same token rules; nothing on disk names an address; what does not read back,
 * or is past its TTL, is removed; a store without `keep` still wipes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BlobOptions, startRelay, type Relay } from '../src/index.js';
import { locator, ticketed as joinTicketed } from './_raw.js';

const newId = () => randomBytes(16).toString('base64url');
const newToken = () => randomBytes(32).toString('base64url');
const hexOf = (id: string) => Buffer.from(id, 'base64url').toString('hex');

/** An upload ticket of a member of one room (docs/PROTOCOL.md §9.1). */
const ticketed = (r: Relay) => joinTicketed(r.url, locator(7));

async function start(dir: string, blobs: BlobOptions = {}): Promise<{ r: Relay; ticket: string; lines: string[] }> {
  const lines: string[] = [];
  const r = await startRelay({ port: 0, blobs: { dir, keep: true, ...blobs }, log: (l) => lines.push(l) });
  const { ticket } = await ticketed(r);
  return { r, ticket, lines };
}

const put = (r: Relay, ticket: string, id: string, index: number, body: Uint8Array, token: string) =>
  fetch(`${r.url}/blobs/${id}/${index}`, {
    method: 'PUT',
    body: body as Uint8Array<ArrayBuffer>,
    headers: { 'X-Nullroom-Blob-Token': token, 'X-Nullroom-Blob-Ticket': ticket },
  });
const get = (r: Relay, id: string, index: number) => fetch(`${r.url}/blobs/${id}/${index}`);

test('a kept blob survives a restart: readable, counted by HEAD, its token still needed to delete; the record names no address', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'nullroom-kept-')), 'store');
  const id = newId();
  const token = newToken();
  const chunks = [randomBytes(70_000), randomBytes(1234)];
  const first = await start(dir);
  for (const [i, c] of chunks.entries()) assert.equal((await put(first.r, first.ticket, id, i, c, token)).status, 204);
  await first.r.close();

  const record = readFileSync(join(dir, hexOf(id), '.record'), 'utf8');
  assert.doesNotMatch(record, /127\.0\.0\.1|::1|ffff/, 'no address on disk');
  assert.match(record, /^\{"v":1,"token":"[0-9a-f]{64}","room":"[^"]+"\}$/);

  const second = await start(dir);
  try {
    assert.ok(second.lines.some((l) => l.includes('kept from before the restart') && l.includes('kept=1')));
    for (const [i, c] of chunks.entries()) {
      const res = await get(second.r, id, i);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(c), `chunk ${i} is the same`);
    }
    assert.equal((await fetch(`${second.r.url}/blobs/${id}`, { method: 'HEAD' })).headers.get('x-nullroom-blob-chunks'), '2');
    const wrong = await fetch(`${second.r.url}/blobs/${id}`, { method: 'DELETE', headers: { 'X-Nullroom-Blob-Token': newToken() } });
    assert.equal(wrong.status, 403, 'another token cannot delete it');
    const right = await fetch(`${second.r.url}/blobs/${id}`, { method: 'DELETE', headers: { 'X-Nullroom-Blob-Token': token } });
    assert.equal(right.status, 204);
    assert.equal((await get(second.r, id, 0)).status, 410);
  } finally {
    await second.r.close();
  }
});

test('on start, what does not read back or is past its TTL is removed; without keep the store is wiped', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'nullroom-kept-')), 'store');
  const good = newId();
  const old = newId();
  const broken = newId();
  const token = newToken();
  const first = await start(dir);
  for (const id of [good, old, broken]) assert.equal((await put(first.r, first.ticket, id, 0, randomBytes(500), token)).status, 204);
  await first.r.close();
  writeFileSync(join(dir, hexOf(broken), '.record'), '{"v":1,"token":"not hex"}');
  const past = new Date(Date.now() - 2 * 3600_000);
  utimesSync(join(dir, hexOf(old), '0'), past, past);
  writeFileSync(join(dir, 'not-a-blob'), 'x');

  const second = await start(dir, { ttlMs: 3600_000 });
  try {
    assert.equal((await get(second.r, good, 0)).status, 200);
    assert.equal((await get(second.r, old, 0)).status, 404, 'past its TTL: removed');
    assert.equal((await get(second.r, broken, 0)).status, 404, 'a record that does not read back: removed');
    const left = readdirSync(dir).filter((n) => !n.startsWith('.'));
    assert.deepEqual(left, [hexOf(good)]);
  } finally {
    await second.r.close();
  }

  const wiped = await startRelay({ port: 0, blobs: { dir } });
  try {
    assert.deepEqual(
      readdirSync(dir).filter((n) => !n.startsWith('.')),
      [],
      'without keep, a start wipes',
    );
  } finally {
    await wiped.close();
  }
});
