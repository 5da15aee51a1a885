/**
 * File transfer through the Node adapter's worker thread (nodeFileOptions, node/pipe.ts): the chunk
 * work of files on disk runs in the worker, with its own connection to the blob store, and behaves
 * as it does in-thread: the bytes arrive intact with progress, tampering is refused with nothing
 * saved, cancel works on both sides, and sources that are not files on disk stay in-thread.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { ClientError, type FileSource, RoomFiles, type TransferProgress } from '../src/index.js';
import { fileSource, nodeBlobTransport, nodeFileOptions } from '../src/node/index.js';
import { createSelfSigned } from '@nullroom/server';
import { fileRoom, receiveNext, receiverCancelsOwnOnly, sha, tempFile } from './_files.js';
import { closeAll, converged, member, randomRoomSecret, relay, type TestClient, until } from './_harness.js';

afterEach(closeAll);

const CHUNK = 64 * 1024;
/** RoomFiles with the Node options (worker) for the blob store at `url`; `calls` counts what the client thread's own transport did. */
function nodeFiles(c: TestClient, url: string): { files: RoomFiles; calls: { put: number; get: number } } {
  const opts = nodeFileOptions(url, {}, { stallMs: 10_000, waitMs: 2000 });
  const calls = { put: 0, get: 0 };
  const blobs = opts.blobs;
  const { put, get } = blobs;
  blobs.put = (...a) => (calls.put++, put(...a));
  blobs.get = (...a) => (calls.get++, get(...a));
  return { files: new RoomFiles(c.room, { ...opts, chunkSize: CHUNK }), calls };
}

/**
 * An HTTP proxy in front of the relay's blob store that counts requests, can slow uploads down
 * and can alter the chunk bodies it serves (a malicious relay, as the worker sees it).
 */
async function blobProxy(target: string, opts: { putDelayMs?: number; alter?: (index: number, body: Buffer) => Buffer } = {}) {
  const seen = { put: 0, get: 0 };
  const server = http.createServer((req, res) => {
    void (async () => {
      const body = Buffer.concat(await req.toArray());
      if (req.method === 'PUT') {
        seen.put++;
        if (opts.putDelayMs) await new Promise((r) => setTimeout(r, opts.putDelayMs));
      }
      if (req.method === 'GET') seen.get++;
      const headers: Record<string, string> = {};
      const token = req.headers['x-nullroom-blob-token'];
      if (typeof token === 'string') headers['X-Nullroom-Blob-Token'] = token;
      const ticket = req.headers['x-nullroom-blob-ticket'];
      if (typeof ticket === 'string') headers['X-Nullroom-Blob-Ticket'] = ticket;
      const up = await fetch(new URL(req.url ?? '/', target), {
        method: req.method ?? 'GET',
        headers,
        ...(req.method === 'PUT' ? { body } : {}),
      });
      let out: Buffer = Buffer.from(await up.arrayBuffer());
      const index = /^\/blobs\/[^/]+\/(\d+)/.exec(req.url ?? '')?.[1];
      if (req.method === 'GET' && up.status === 200 && index !== undefined && opts.alter) out = opts.alter(Number(index), out);
      const chunks = up.headers.get('x-nullroom-blob-chunks');
      res.writeHead(up.status, { 'Content-Length': out.length, ...(chunks === null ? {} : { 'X-Nullroom-Blob-Chunks': chunks }) });
      res.end(req.method === 'HEAD' ? undefined : out);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url, seen, close: () => server.close() };
}

test('through the worker: a file reaches two receivers intact with progress, and no chunk passes through the client thread', async (t) => {
  const { r, cs } = await fileRoom(3);
  t.after(() => r.close());
  const proxy = await blobProxy(r.url);
  t.after(() => proxy.close());
  const [a, b, c] = cs as [TestClient, TestClient, TestClient];
  const fa = nodeFiles(a, proxy.url);
  const fb = nodeFiles(b, proxy.url);
  // carol: the in-thread pipe, on the same relay.
  const fc = new RoomFiles(c.room, { ...nodeFileOptions(r.url, {}, { worker: false }), chunkSize: CHUNK });
  const data = randomBytes(9 * CHUNK + 321);
  const gotB = receiveNext(fb.files);
  const gotC = receiveNext(fc);
  const src = await fileSource(tempFile(data));
  const sending = fa.files.send(src);
  const sent: TransferProgress[] = [];
  sending.on('progress', (p) => sent.push(p));
  assert.equal((await sending.done).sha256, sha(data));
  assert.equal(sent.at(-1)?.bytes, data.byteLength);
  for (const got of [await gotB, await gotC]) {
    const res = await got.transfer.done;
    assert.equal(res.sha256, sha(data));
    assert.ok(readFileSync(res.path!).equals(data));
    assert.deepEqual(readdirSync(got.dir), ['payload.bin'], 'no leftover part file');
    assert.equal(got.progress.at(-1)?.bytes, data.byteLength);
  }
  assert.equal(proxy.seen.put, 10, 'every chunk went up through the worker once');
  assert.ok(proxy.seen.get >= 10, 'and came down through bob’s worker');
  assert.deepEqual(
    [fa.calls, fb.calls],
    [
      { put: 0, get: 0 },
      { put: 0, get: 0 },
    ],
    'the client threads moved no chunk',
  );
  await src.close();
});

test('through the worker: a chunk altered on the way is refused (FILE_REJECTED), nothing saved', async (t) => {
  const { r, cs } = await fileRoom(2);
  t.after(() => r.close());
  const flip = await blobProxy(r.url, { alter: (i, body) => (i === 2 ? Buffer.from(body.map((x, j) => (j === 7 ? x ^ 1 : x))) : body) });
  t.after(() => flip.close());
  const [a, b] = cs as [TestClient, TestClient];
  const fa = nodeFiles(a, r.url);
  const fb = nodeFiles(b, flip.url);
  const got = receiveNext(fb.files);
  const src = await fileSource(tempFile(randomBytes(5 * CHUNK)));
  await fa.files.send(src).done;
  const { transfer, dir } = await got;
  await assert.rejects(
    transfer.done,
    (e: unknown) => e instanceof ClientError && e.code === 'FILE_REJECTED' && /failed verification/.test(e.message),
  );
  await until(() => readdirSync(dir).length === 0, 'the part file is removed');
  await src.close();
});

test('through the worker: the sender cancels (receiver told, nothing saved, blob gone); a receiver cancels its own download only', async (t) => {
  const { r, cs } = await fileRoom(3);
  t.after(() => r.close());
  const slow = await blobProxy(r.url, { putDelayMs: 20 });
  t.after(() => slow.close());
  const [a, b, c] = cs as [TestClient, TestClient, TestClient];
  const fa = nodeFiles(a, slow.url);
  const fb = nodeFiles(b, r.url);
  const fc = nodeFiles(c, r.url);
  const data = randomBytes(60 * CHUNK);
  const src = await fileSource(tempFile(data));

  const gotB = receiveNext(fb.files);
  let blob: string | undefined;
  const spy = fc.files.on('offer', (o) => (blob = o.offer.blob));
  const sending = fa.files.send(src);
  await until(() => sending.transferred > 5 * CHUNK, 'upload under way');
  sending.cancel();
  await assert.rejects(sending.done, (e: unknown) => e instanceof ClientError && e.code === 'FILE_CANCELLED');
  const b1 = await gotB;
  await assert.rejects(b1.transfer.done, (e: unknown) => e instanceof ClientError && e.code === 'FILE_CANCELLED');
  await until(() => readdirSync(b1.dir).length === 0, 'nothing saved');
  spy();
  const puts = slow.seen.put;
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(slow.seen.put, puts, 'the worker stopped uploading');
  assert.equal(await nodeBlobTransport(r.url).head(blob!), 'gone', 'the relay freed the blob');

  await receiverCancelsOwnOnly(fa.files, fb.files, fc.files, src, data, 2 * CHUNK);
  await src.close();
});

test('a source that is not a file on disk is sent from the client thread, through the same options', async (t) => {
  const { r, cs } = await fileRoom(2);
  t.after(() => r.close());
  const [a, b] = cs as [TestClient, TestClient];
  const fa = nodeFiles(a, r.url);
  const fb = nodeFiles(b, r.url);
  const data = randomBytes(3 * CHUNK + 5);
  const memory: FileSource = { name: 'memory.bin', size: data.byteLength, mime: '', read: async (o, n) => data.slice(o, o + n) };
  const got = receiveNext(fb.files);
  await fa.files.send(memory).done;
  const res = await (await got).transfer.done;
  assert.ok(readFileSync(res.path!).equals(data));
  assert.equal(fa.calls.put, 4, 'uploaded in-thread');
  assert.equal(fb.calls.get, 0, 'downloaded by the worker');
});

test('through the worker over TLS: the blob store is trusted by pin or by CA file as in the client thread; a wrong pin never gets a chunk through', async (t) => {
  // The room and its blobs on a TLS relay (an upload needs a ticket of a connection in a room there).
  const material = await createSelfSigned(mkdtempSync(join(tmpdir(), 'nullroom-tls-')));
  const secure = await relay({ tls: { cert: material.cert, key: material.key } });
  t.after(() => secure.close());
  const secret = randomRoomSecret();
  const cs: TestClient[] = [];
  for (const nick of ['alice', 'bob', 'carol'])
    cs.push(await member(secure.url, secret, nick, {}, undefined, { pin: material.fingerprint }));
  await until(() => converged(cs, ['alice', 'bob', 'carol']), 'members converge');
  const [a, b, c] = cs as [TestClient, TestClient, TestClient];
  const fa = new RoomFiles(a.room, { ...nodeFileOptions(secure.url, { pin: material.fingerprint }), chunkSize: CHUNK });
  const fb = new RoomFiles(b.room, { ...nodeFileOptions(secure.url, { ca: Buffer.from(material.cert) }), chunkSize: CHUNK });
  const fc = new RoomFiles(c.room, {
    ...nodeFileOptions(secure.url, { pin: `sha256:${'0'.repeat(64)}` }, { stallMs: 1500 }),
    chunkSize: CHUNK,
  });
  const data = randomBytes(4 * CHUNK + 3);
  const gotB = receiveNext(fb);
  const gotC = receiveNext(fc);
  const src = await fileSource(tempFile(data));
  await fa.send(src).done;
  const res = await (await gotB).transfer.done;
  assert.ok(readFileSync(res.path!).equals(data), 'bob (CA file) got it');
  const carol = await gotC;
  await assert.rejects(carol.transfer.done, (e: unknown) => e instanceof ClientError && e.code === 'FILE_TRANSFER');
  assert.equal(carol.transfer.transferred, 0, 'not a byte through a certificate carol does not trust');
  await src.close();
});
