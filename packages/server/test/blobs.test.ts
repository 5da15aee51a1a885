/** The blob store (docs/PROTOCOL.md §9), against a real relay over HTTP. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';
import { connect as tcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type BlobOptions, BlobHttp, RelayConfigError, Tickets, startRelay, type Relay } from '../src/index.js';
import { locator, ticketed as joinTicketed } from './_raw.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const newId = () => randomBytes(16).toString('base64url');
const newToken = () => randomBytes(32).toString('base64url');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The same value with a padding bit of its last character set: decodes to the same bytes, but is not their encoding. */
const nonCanonical = (s: string) => s.slice(0, -1) + B64URL[B64URL.indexOf(s.at(-1)!) | 1]!;

let rooms = 100;
/** A raw connection that joined a fresh room, and the upload ticket it was granted (docs/PROTOCOL.md §9.1). */
export const ticketed = (r: Relay, room = locator(rooms++ % 256)) => joinTicketed(r.url, room);

/** Each test relay's default ticket (that of a member of one room), used by `put` unless told otherwise. */
const tickets = new WeakMap<Relay, string>();
const ticketOf = (r: Relay) => tickets.get(r) ?? '';

async function relay(t: TestContext, blobs: BlobOptions = {}, log?: (l: string) => void): Promise<{ r: Relay; dir: string }> {
  const dir = join(mkdtempSync(join(tmpdir(), 'nullroom-blobtest-')), 'store');
  const r = await startRelay({ port: 0, blobs: { dir, ...blobs }, ...(log ? { log } : {}) });
  t.after(() => r.close());
  const { ticket } = await ticketed(r);
  tickets.set(r, ticket);
  return { r, dir };
}

const put = (r: Relay, id: string, index: number | string, body: Uint8Array, token?: string, ticket = ticketOf(r)) =>
  fetch(`${r.url}/blobs/${id}/${index}`, {
    method: 'PUT',
    body: body as Uint8Array<ArrayBuffer>,
    headers: {
      ...(token === undefined ? {} : { 'X-Nullroom-Blob-Token': token }),
      ...(ticket === '' ? {} : { 'X-Nullroom-Blob-Ticket': ticket }),
    },
  });
const get = (r: Relay, id: string, index: number | string, wait?: number) =>
  fetch(`${r.url}/blobs/${id}/${index}${wait === undefined ? '' : `?wait=${wait}`}`);
const head = (r: Relay, id: string) => fetch(`${r.url}/blobs/${id}`, { method: 'HEAD' });
const del = (r: Relay, id: string, token?: string) =>
  fetch(`${r.url}/blobs/${id}`, { method: 'DELETE', headers: token === undefined ? {} : { 'X-Nullroom-Blob-Token': token } });

/** Every chunk file in the store (committed or temporary). */
function files(dir: string): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (n !== '.nullroom-blobs') out.push({ path: p.slice(dir.length), size: st.size });
    }
  };
  walk(dir);
  return out;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** One raw HTTP/1.1 request with the path sent exactly as given (fetch would normalize it). */
function raw(
  r: Relay,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: r.port, method, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('round trip of several chunks; HEAD counts them; security headers and no CORS on every answer', async (t) => {
  const { r } = await relay(t);
  const id = newId();
  const token = newToken();
  const chunks = [randomBytes(100 * KiB), randomBytes(64 * KiB), randomBytes(17), new Uint8Array(0)];
  for (const [i, c] of chunks.entries()) assert.equal((await put(r, id, i, c, token)).status, 204);
  const h = await head(r, id);
  assert.equal(h.status, 200);
  assert.equal(h.headers.get('x-nullroom-blob-chunks'), '4');
  for (const [i, c] of chunks.entries()) {
    const res = await fetch(`${r.url}/blobs/${id}/${i}`, { headers: { Origin: r.url } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('content-length'), String(c.byteLength));
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array(c));
  }
  assert.deepEqual(r.blobStats(), { blobs: 1, bytes: 100 * KiB + 64 * KiB + 17 });
  // Re-PUT by the token holder replaces the chunk (a resumed upload).
  const again = randomBytes(10);
  assert.equal((await put(r, id, 2, again, token)).status, 204);
  assert.deepEqual(new Uint8Array(await (await get(r, id, 2)).arrayBuffer()), new Uint8Array(again));
  assert.deepEqual(r.blobStats(), { blobs: 1, bytes: 100 * KiB + 64 * KiB + 10 });
  // Error answers carry the headers too, no CORS, and never echo the id.
  for (const res of [
    await get(r, newId(), 0),
    await put(r, id, 0, again, newToken()),
    await fetch(`${r.url}/blobs/${id}/0`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } }),
  ]) {
    assert.ok([403, 404, 405].includes(res.status), String(res.status));
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('access-control-allow-methods'), null);
    assert.doesNotMatch(await res.text(), new RegExp(id));
  }
});

test('the write token: missing or wrong -> 403 for PUT and DELETE; malformed never registers', async (t) => {
  const { r } = await relay(t);
  const id = newId();
  const token = newToken();
  assert.equal((await put(r, id, 0, randomBytes(8))).status, 403);
  assert.equal((await put(r, id, 0, randomBytes(8), 'short')).status, 403);
  // A 43-char value whose last character carries non-zero padding bits is not canonical.
  assert.equal((await put(r, id, 0, randomBytes(8), nonCanonical(token))).status, 403);
  assert.equal((await head(r, id)).status, 404);
  assert.equal((await put(r, id, 0, randomBytes(8), token)).status, 204);
  assert.equal((await put(r, id, 1, randomBytes(8))).status, 403);
  assert.equal((await put(r, id, 1, randomBytes(8), newToken())).status, 403);
  assert.equal((await put(r, id, 0, randomBytes(8), newToken())).status, 403);
  assert.equal((await del(r, id)).status, 403);
  assert.equal((await del(r, id, newToken())).status, 403);
  assert.equal((await head(r, id)).headers.get('x-nullroom-blob-chunks'), '1');
  assert.equal((await get(r, id, 0)).status, 200);
});

test('size limits: 411 without a length, 413 per chunk (by header) and per blob, 507 for the store, freed by DELETE', async (t) => {
  const { r } = await relay(t, { maxChunkBytes: 64 * KiB, maxBlobBytes: 100 * KiB, maxTotalBytes: 4 * 64 * KiB });
  const [a, b] = [newId(), newId()];
  const [ta, tb] = [newToken(), newToken()];
  // Chunked transfer encoding, no Content-Length.
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: r.port,
        method: 'PUT',
        path: `/blobs/${a}/0`,
        headers: { 'X-Nullroom-Blob-Token': ta, 'X-Nullroom-Blob-Ticket': ticketOf(r), 'Transfer-Encoding': 'chunked' },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(randomBytes(10));
  });
  assert.equal(chunked, 411);
  assert.equal((await put(r, a, 0, randomBytes(64 * KiB + 1), ta)).status, 413);
  assert.equal((await put(r, a, 0, randomBytes(64 * KiB), ta)).status, 204);
  assert.equal((await put(r, a, 1, randomBytes(40 * KiB), ta)).status, 413, 'the blob would exceed 100 KiB');
  assert.equal((await put(r, a, 1, randomBytes(36 * KiB), ta)).status, 204, 'exactly 100 KiB');
  assert.equal((await put(r, a, 0, randomBytes(64 * KiB), ta)).status, 204, 'replacing a chunk counts its new size only');
  assert.equal((await put(r, b, 0, randomBytes(64 * KiB), tb)).status, 204);
  assert.equal((await put(r, b, 1, randomBytes(10), tb)).status, 204);
  assert.equal((await put(r, b, 2, randomBytes(10), tb)).status, 507, 'each chunk counts at least 64 KiB against the quota');
  assert.deepEqual(r.blobStats(), { blobs: 2, bytes: 100 * KiB + 64 * KiB + 10 });
  assert.equal((await del(r, a, ta)).status, 204);
  assert.deepEqual(r.blobStats(), { blobs: 1, bytes: 64 * KiB + 10 });
  assert.equal((await put(r, b, 2, randomBytes(10), tb)).status, 204, 'DELETE freed the space');
  assert.equal((await put(r, b, 3, randomBytes(40 * KiB), tb)).status, 413, 'the blob limit still holds');
});

test('a body longer than its Content-Length: the bytes that arrive are counted, not the header', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'nullroom-blobtest-')), 'store');
  // A ticket for a stand-in connection that is in a room.
  const book = new Tickets();
  const stay = {};
  const peer = { id: 1, send: () => true, memberships: new Map([['room', stay]]) } as never;
  const ticket = Buffer.from(book.issue(peer, stay, 'room')).toString('base64url');
  const store = await BlobHttp.open({ dir, maxChunkBytes: 1024 }, {}, undefined, book);
  try {
    // A request stream that lies (a real server's parser would cut it at the declared length).
    const body = new PassThrough();
    const req = Object.assign(body, {
      method: 'PUT',
      url: `/blobs/${newId()}/0`,
      headers: { 'content-length': '100', 'x-nullroom-blob-token': newToken(), 'x-nullroom-blob-ticket': ticket },
      socket: {},
    });
    let status = 0;
    const done = new Promise<void>((resolve) => {
      const res = {
        headersSent: false,
        writeHead(s: number) {
          status = s;
          this.headersSent = true;
          return this;
        },
        end() {
          resolve();
        },
        destroy() {
          resolve();
        },
        on() {
          return this;
        },
        off() {
          return this;
        },
      };
      store.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    });
    body.write(randomBytes(60));
    body.write(randomBytes(60));
    body.end();
    await done;
    assert.equal(status, 413);
    await until(() => files(dir).length === 0, 'the temporary file removed');
    assert.deepEqual(store.stats(), { blobs: 1, bytes: 0 });
  } finally {
    await store.dispose();
  }
});

test('a body longer than its Content-Length over a real socket: only the declared bytes are the chunk', async (t) => {
  const { r, dir } = await relay(t);
  const id = newId();
  const sock = tcp(r.port, '127.0.0.1');
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  const got: Buffer[] = [];
  sock.on('data', (d: Buffer) => got.push(d));
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  sock.on('error', () => undefined);
  sock.write(
    `PUT /blobs/${id}/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Nullroom-Blob-Token: ${newToken()}\r\nX-Nullroom-Blob-Ticket: ${ticketOf(r)}\r\nContent-Length: 100\r\n\r\n`,
  );
  sock.write(randomBytes(100 + 64 * KiB));
  await closed;
  // Node answers the chunk (204) or, if it parses the excess as the next request first, 400 and
  // closes; either way nothing past the declared length was stored.
  assert.match(Buffer.concat(got).toString('latin1'), /^HTTP\/1\.1 (204|400)/);
  await until(() => !files(dir).some((f) => f.path.startsWith('/.tmp/')), 'no upload in progress');
  assert.ok(
    files(dir).every((f) => f.size === 100),
    JSON.stringify(files(dir)),
  );
});

test('HEAD counts only contiguous chunks from 0 (a gap stops the count); unknown 404', async (t) => {
  const { r } = await relay(t);
  const id = newId();
  const token = newToken();
  assert.equal((await head(r, id)).status, 404);
  for (const i of [0, 1, 3, 4]) assert.equal((await put(r, id, i, randomBytes(5), token)).status, 204);
  assert.equal((await head(r, id)).headers.get('x-nullroom-blob-chunks'), '2');
  assert.equal((await put(r, id, 2, randomBytes(5), token)).status, 204);
  assert.equal((await head(r, id)).headers.get('x-nullroom-blob-chunks'), '5');
  const other = newId();
  assert.equal((await put(r, other, 1, randomBytes(5), token)).status, 204);
  const h = await head(r, other);
  assert.equal(h.status, 200);
  assert.equal(h.headers.get('x-nullroom-blob-chunks'), '0');
});

test('long-poll GET: completes when the PUT lands, 404 when the wait runs out, capped by maxWaiters', async (t) => {
  const { r } = await relay(t, { maxWaiters: 2 });
  const id = newId();
  const token = newToken();
  const data = randomBytes(1000);
  const started = Date.now();
  const waiting = get(r, id, 0, 10_000);
  await sleep(100);
  assert.equal((await put(r, id, 0, data, token)).status, 204);
  const res = await waiting;
  assert.equal(res.status, 200);
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array(data));
  assert.ok(Date.now() - started < 5000);
  const t0 = Date.now();
  const timedOut = await get(r, id, 7, 200);
  assert.equal(timedOut.status, 404);
  assert.ok(Date.now() - t0 >= 190, 'waited');
  // Two waiters allowed; the third is refused at once.
  const ac = new AbortController();
  const w1 = get(r, id, 8, 10_000);
  const w2 = fetch(`${r.url}/blobs/${id}/9?wait=10000`, { signal: ac.signal }).catch(() => undefined);
  await sleep(100);
  assert.equal((await get(r, id, 10, 10_000)).status, 503);
  ac.abort();
  await w2;
  await sleep(100);
  // The aborted waiter freed its place.
  const w3 = get(r, id, 11, 10_000);
  await sleep(50);
  assert.equal((await put(r, id, 8, data, token)).status, 204);
  assert.equal((await put(r, id, 11, data, token)).status, 204);
  assert.equal((await w1).status, 200);
  assert.equal((await w3).status, 200);
  assert.equal((await get(r, id, 0, -1)).status, 400);
});

test('DELETE: 204, the space is freed at once, GETs and HEAD answer 410, and a waiting GET ends with 410 at once', async (t) => {
  const { r, dir } = await relay(t);
  const id = newId();
  const token = newToken();
  for (let i = 0; i < 3; i++) assert.equal((await put(r, id, i, randomBytes(10 * KiB), token)).status, 204);
  assert.equal(files(dir).length, 3);
  const t0 = Date.now();
  const waiting = get(r, id, 5, 20_000);
  await sleep(100);
  assert.equal((await del(r, id, token)).status, 204);
  assert.deepEqual(files(dir), []);
  assert.deepEqual(r.blobStats(), { blobs: 0, bytes: 0 });
  assert.equal((await waiting).status, 410);
  assert.ok(Date.now() - t0 < 5000);
  assert.equal((await get(r, id, 0)).status, 410);
  assert.equal((await get(r, id, 0, 1000)).status, 410);
  assert.equal((await head(r, id)).status, 410);
  assert.equal((await put(r, id, 0, randomBytes(5), token)).status, 410);
  assert.equal((await del(r, id, token)).status, 410);
  assert.equal((await del(r, newId(), token)).status, 404);
});

test('expiry: a blob is removed ttl after its last write, by the timer', async (t) => {
  const { r, dir } = await relay(t, { ttlMs: 300 });
  const id = newId();
  const token = newToken();
  assert.equal((await put(r, id, 0, randomBytes(1000), token)).status, 204);
  await sleep(150);
  assert.equal((await put(r, id, 1, randomBytes(1000), token)).status, 204);
  await sleep(200);
  assert.equal((await head(r, id)).status, 200, 'the second write renewed it');
  const waiting = get(r, id, 2, 5000);
  await until(() => files(dir).length === 0, 'the expired blob removed from disk');
  assert.equal((await waiting).status, 410);
  assert.equal((await head(r, id)).status, 410);
  assert.deepEqual(r.blobStats(), { blobs: 0, bytes: 0 });
});

test('an aborted upload leaves nothing: no chunk under its name, no temporary file, no space counted', async (t) => {
  const { r, dir } = await relay(t);
  const id = newId();
  const token = newToken();
  assert.equal((await put(r, id, 0, randomBytes(10), token)).status, 204);
  const sock = tcp(r.port, '127.0.0.1');
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  sock.write(
    `PUT /blobs/${id}/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Nullroom-Blob-Token: ${token}\r\nX-Nullroom-Blob-Ticket: ${ticketOf(r)}\r\nContent-Length: 100000\r\n\r\n`,
  );
  sock.write(randomBytes(50_000));
  // Half the body is in; a chunk is written to disk only once whole, so nothing is there yet.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(
    files(dir)
      .map((f) => f.path)
      .filter((p) => p.includes('.tmp')),
    [],
  );
  sock.destroy();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(files(dir).length, 1, 'only the first chunk');
  assert.equal((await get(r, id, 1)).status, 404);
  assert.equal((await head(r, id)).headers.get('x-nullroom-blob-chunks'), '1');
  assert.deepEqual(r.blobStats(), { blobs: 1, bytes: 10 });
});

test('upload bodies in memory are bounded: past maxUploadBufferBytes a PUT gets 503 (clients retry) and registers nothing; room again once one ends', async (t) => {
  const { r } = await relay(t, { maxChunkBytes: 64 * KiB, maxUploadBufferBytes: 128 * KiB });
  const token = newToken();
  // Two uploads held open half way (a slow or hostile sender) take the whole budget.
  const held = [];
  for (let i = 0; i < 2; i++) {
    const sock = tcp(r.port, '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write(
      `PUT /blobs/${newId()}/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Nullroom-Blob-Token: ${token}\r\nX-Nullroom-Blob-Ticket: ${ticketOf(r)}\r\nContent-Length: ${64 * KiB}\r\n\r\n`,
    );
    sock.write(randomBytes(32 * KiB));
    held.push(sock);
  }
  await sleep(200);
  const id = newId();
  const busy = await put(r, id, 0, randomBytes(10), token);
  assert.equal(busy.status, 503);
  assert.equal((await busy.text()).trim(), 'busy');
  assert.equal((await head(r, id)).status, 404, 'a refused upload registers no blob');
  held[0]!.destroy();
  await until(async () => (await put(r, id, 0, randomBytes(10), token)).status === 204, 'an upload fits again');
  held[1]!.destroy();
  await assert.rejects(startRelay({ port: 0, blobs: { maxChunkBytes: 2 * MiB, maxUploadBufferBytes: MiB } }), RelayConfigError);
});

test('bad ids, indices and parameters -> 400; path traversal never reaches the file system', async (t) => {
  const { r, dir } = await relay(t);
  const token = newToken();
  const id = newId();
  // nonCanonical(id): 22 characters whose last one carries bits past the 128 (ids must have one spelling each).
  const badIds = [
    '',
    'short',
    `${id}A`,
    id.slice(0, 21),
    `${id.slice(0, 21)}+`,
    `${id.slice(0, 21)}.`,
    `${id.slice(0, 21)}=`,
    nonCanonical(id),
  ];
  for (const bad of badIds) {
    const res = await raw(
      r,
      'PUT',
      `/blobs/${encodeURIComponent(bad)}/0`,
      { 'X-Nullroom-Blob-Token': token, 'X-Nullroom-Blob-Ticket': ticketOf(r), 'Content-Length': '1' },
      Buffer.from('x'),
    );
    assert.ok([400, 404].includes(res.status), `${bad} -> ${res.status}`);
    assert.ok(!res.text.includes(token));
  }
  for (const idx of ['01', '-1', '2147483648', '1e3', '0x1', '1.0', '%20', '', '+1']) {
    const res = await raw(
      r,
      'PUT',
      `/blobs/${id}/${idx}`,
      { 'X-Nullroom-Blob-Token': token, 'X-Nullroom-Blob-Ticket': ticketOf(r), 'Content-Length': '1' },
      Buffer.from('x'),
    );
    assert.equal(res.status, 400, `index ${idx}`);
    assert.equal((await raw(r, 'GET', `/blobs/${id}/${idx}`)).status, 400, `GET index ${idx}`);
  }
  assert.equal(
    (
      await raw(
        r,
        'PUT',
        `/blobs/${id}/2147483647`,
        { 'X-Nullroom-Blob-Token': token, 'X-Nullroom-Blob-Ticket': ticketOf(r), 'Content-Length': '1' },
        Buffer.from('x'),
      )
    ).status,
    204,
  );
  for (const w of ['abc', '-5', '1.5', '99999999999'])
    assert.equal((await raw(r, 'GET', `/blobs/${id}/0?wait=${w}`)).status, 400, `wait=${w}`);
  const outside = mkdtempSync(join(tmpdir(), 'nullroom-outside-'));
  mkdirSync(join(outside, 'x'), { recursive: true });
  writeFileSync(join(outside, 'secret'), 'outside');
  for (const p of [
    '/blobs/../../../../etc/passwd',
    '/blobs/%2e%2e/%2e%2e',
    '/blobs/..%2f..%2f..%2fetc%2fpasswd/0',
    `/blobs/${id}/..%2f..%2fsecret`,
    `/blobs/${id}/../../secret`,
    '/blobs/%00/0',
    `/blobs/${id}/0%00`,
    `/blobs/${id}/0/extra`,
    `/blobs/${encodeURIComponent(outside)}/0`,
  ]) {
    for (const method of ['GET', 'PUT']) {
      const res = await raw(
        r,
        method,
        p,
        { 'X-Nullroom-Blob-Token': token, 'X-Nullroom-Blob-Ticket': ticketOf(r), 'Content-Length': '1' },
        Buffer.from('x'),
      );
      // (A path that normalizes out of /blobs, as %2e%2e does, reaches the built-in page.)
      assert.ok(
        [400, 404, 405].includes(res.status) || (res.status === 200 && res.text.includes('Nullroom relay')),
        `${method} ${p} -> ${res.status}`,
      );
      assert.doesNotMatch(res.text, /outside|root:/);
    }
  }
  assert.deepEqual(readdirSync(join(outside, 'x')), []);
  assert.deepEqual(
    files(dir).map((f) => f.size),
    [1],
  );
});

test('verbose logs carry statuses and sizes, never a blob id or token', async (t) => {
  const lines: string[] = [];
  const { r } = await relay(t, {}, (l) => lines.push(l));
  const id = newId();
  const token = newToken();
  await put(r, id, 0, randomBytes(123), token);
  await put(r, id, 1, randomBytes(1), newToken());
  await (await get(r, id, 0)).arrayBuffer();
  await get(r, id, 1, 50);
  await head(r, id);
  await del(r, id, token);
  await get(r, id, 0);
  assert.ok(
    lines.some((l) => /method=PUT status=204 bytes=123/.test(l)),
    lines.join('\n'),
  );
  assert.ok(lines.some((l) => /status=403/.test(l)));
  const idHex = Buffer.from(id, 'base64url').toString('hex');
  for (const l of lines) for (const secret of [id, token, idHex]) assert.ok(!l.includes(secret), l);
});

test('options: the store refuses a foreign non-empty directory, wipes its own on start, and is off with blobs: false', async (t) => {
  const foreign = mkdtempSync(join(tmpdir(), 'nullroom-foreign-'));
  writeFileSync(join(foreign, 'precious.txt'), 'keep me');
  await assert.rejects(startRelay({ port: 0, blobs: { dir: foreign } }), RelayConfigError);
  assert.ok(existsSync(join(foreign, 'precious.txt')));
  await assert.rejects(startRelay({ port: 0, blobs: { maxChunkBytes: 0 } }), RelayConfigError);
  await assert.rejects(startRelay({ port: 0, blobs: { ttlMs: 1.5 } }), RelayConfigError);

  const { r, dir } = await relay(t);
  const id = newId();
  assert.equal((await put(r, id, 0, randomBytes(10), newToken())).status, 204);
  await r.close();
  assert.deepEqual(files(dir), [], 'wiped on close');
  writeFileSync(join(dir, 'left-over'), 'x');
  const again = await startRelay({ port: 0, blobs: { dir } });
  t.after(() => again.close());
  assert.deepEqual(
    files(dir).filter((f) => !f.path.startsWith('/.')),
    [],
    'wiped on start',
  );
  assert.equal((await get(again, id, 0)).status, 404);

  const off = await startRelay({ port: 0, blobs: false });
  t.after(() => off.close());
  assert.equal(off.blobStats(), undefined);
  assert.equal((await get(off, id, 0)).status, 404);
  assert.equal((await put(off, id, 0, randomBytes(1), newToken())).status, 405);
});

test('the default store lives in a fresh temporary directory, removed on close; close ends a waiting GET promptly', async (t) => {
  const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('nullroom-blobs-')));
  const r = await startRelay({ port: 0 });
  t.after(() => r.close()); // also when an assertion fails first: an open relay would keep the test process alive
  tickets.set(r, (await ticketed(r)).ticket);
  // Other test files start relays with default stores at the same time: ours is the one holding our blob.
  const id = newId();
  assert.equal((await put(r, id, 0, randomBytes(10), newToken())).status, 204);
  const created = readdirSync(tmpdir()).filter(
    (n) => n.startsWith('nullroom-blobs-') && !before.has(n) && existsSync(join(tmpdir(), n, Buffer.from(id, 'base64url').toString('hex'))),
  );
  assert.equal(created.length, 1);
  const waiting = get(r, newId(), 0, 20_000);
  await sleep(100);
  const t0 = Date.now();
  await r.close();
  assert.ok(Date.now() - t0 < 900, `close took ${Date.now() - t0} ms`);
  assert.equal((await waiting).status, 503);
  assert.ok(!existsSync(join(tmpdir(), created[0]!)));
});

test('memory: 64 chunks of 1 MiB go to disk, not to the heap', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { r, dir } = await relay(t);
  const id = newId();
  const token = newToken();
  const chunk = randomBytes(MiB);
  // Warm up (code paths, buffers), then measure.
  assert.equal((await put(r, id, 0, chunk, token)).status, 204);
  gc();
  const before = process.memoryUsage();
  for (let i = 1; i <= 64; i++) assert.equal((await put(r, id, i, chunk, token)).status, 204);
  // Buffers that were garbage are released a turn after the collection that found them (and a busy
  // machine leaves sockets' and fs requests' buffers in flight for a moment): settle, then measure.
  for (let k = 0; k < 3; k++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    gc();
  }
  const after = process.memoryUsage();
  const grown = after.heapUsed - before.heapUsed;
  const grownBuffers = after.arrayBuffers - before.arrayBuffers;
  // The relay keeps its last 32 MiB of chunks in memory for receivers close behind (RECENT_BYTES);
  // everything else must be on disk only: well under the 64 MiB that went through.
  assert.ok(grown < 32 * MiB, `heap grew ${grown} bytes`);
  assert.ok(grownBuffers < 48 * MiB, `buffers grew ${grownBuffers} bytes`);
  const stored = files(dir);
  assert.equal(stored.length, 65);
  assert.ok(stored.every((f) => f.size === MiB));
  assert.deepEqual(r.blobStats(), { blobs: 1, bytes: 65 * MiB });
  const res = await get(r, id, 64);
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array(chunk));
});
