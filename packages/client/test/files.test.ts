/**
 * Encrypted file transfer through a real relay's blob store (issue #4): round trip to several
 * receivers with progress, every tamper case a malicious relay can try, resume across a dropped
 * connection, and cancel on both sides. Nothing is ever saved under its final name unless the
 * whole file verified.
 */
import { afterEach, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BlobTransport,
  ClientError,
  type PayloadHandler,
  RoomFiles,
  Transfer,
  type TransferProgress,
  fetchBlobTransport,
} from '../src/index.js';
import type { FileChannel } from '../src/files.js';
import { fileSource, nodeAesGcm, nodeBlobTransport, nodeSha256 } from '../src/node/index.js';
import { type AesGcmFactory, webCryptoAesGcm } from '@nullroom/crypto';
import { createSelfSigned } from '@nullroom/server';
import { fileRoom, rawTicket, receiveNext, receiverCancelsOwnOnly, sha, tempFile } from './_files.js';
import { GONE_AT_ONCE, closeAll, converged, member, randomRoomSecret, relay, type TestClient, until } from './_harness.js';

afterEach(closeAll);

const CHUNK = 64 * 1024;

function files(c: TestClient, blobs: BlobTransport, aead?: AesGcmFactory): RoomFiles {
  return new RoomFiles(c.room, { blobs, chunkSize: CHUNK, hash: nodeSha256, stallMs: 10_000, waitMs: 2000, ...(aead ? { aead } : {}) });
}

async function room(n: number) {
  const { r, cs } = await fileRoom(n);
  return { r, cs, blobs: nodeBlobTransport(r.url) };
}

/** A Transfer of `size` bytes on a mock clock, with every progress report it makes. */
function clocked(size: number, fn: (t: { advance(n: number): void }, seen: TransferProgress[]) => void): void {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });
  try {
    const { transfer, handle } = Transfer.open('f', 'receive', 'x.bin', size, '', 'alice');
    const seen: TransferProgress[] = [];
    transfer.on('progress', (p) => seen.push(p));
    fn(handle.control, seen);
    handle.fail(new Error('stop')); // settles it, which stops the heartbeat
  } finally {
    mock.timers.reset();
  }
}

test('progress while nothing moves: reported every second, the speed falls to zero and the time left goes away', () => {
  clocked(10 * CHUNK, (t, seen) => {
    for (let i = 0; i < 5; i++) {
      mock.timers.tick(100);
      t.advance(CHUNK);
    }
    const moving = seen.at(-1)!;
    assert.ok(moving.bytesPerSecond > 0 && moving.etaMs !== undefined);
    const before = seen.length;
    mock.timers.tick(1000);
    assert.equal(seen.length, before + 1, 'a heartbeat after a second without bytes');
    assert.ok(seen.at(-1)!.bytesPerSecond < moving.bytesPerSecond, 'the speed falls');
    mock.timers.tick(3000);
    assert.equal(seen.at(-1)!.bytesPerSecond, 0);
    assert.equal(seen.at(-1)!.etaMs, undefined);
    assert.equal(seen.at(-1)!.bytes, 5 * CHUNK, 'never goes back');
  });
});

test('progress on a slow link (a chunk every 4 s): the speed and time left stay steady between chunks instead of dropping to zero', () => {
  const chunk = 4 * 1024 * 1024;
  clocked(20 * chunk, (t, seen) => {
    for (let i = 0; i < 6; i++) {
      for (let s = 0; s < 4; s++) mock.timers.tick(1000); // heartbeats between chunks
      t.advance(chunk);
    }
    // After the first chunk, every report (heartbeats included) shows about 1 MiB/s and a time left.
    const steady = seen.filter((p) => p.bytes >= 2 * chunk);
    assert.ok(steady.length >= 15, `reports: ${steady.length}`);
    for (const p of steady) {
      assert.ok(Math.abs(p.bytesPerSecond - chunk / 4) < chunk / 40, `speed ${p.bytesPerSecond}`);
      assert.ok(p.etaMs !== undefined);
    }
    // Then it stalls: after three gaps without a chunk the speed is zero.
    for (let s = 0; s < 13; s++) mock.timers.tick(1000);
    assert.equal(seen.at(-1)!.bytesPerSecond, 0);
    assert.equal(seen.at(-1)!.etaMs, undefined);
  });
});

test('progress when the chunks in flight land together (two at once every 5 s): no zero speed between the pairs', () => {
  const chunk = 4 * 1024 * 1024;
  clocked(20 * chunk, (t, seen) => {
    for (let i = 0; i < 4; i++) {
      for (let s = 0; s < 5; s++) mock.timers.tick(1000);
      t.advance(chunk);
      mock.timers.tick(100);
      t.advance(chunk);
    }
    const after = seen.filter((p) => p.bytes >= 2 * chunk);
    assert.ok(after.length >= 15, `reports: ${after.length}`);
    // The true average is 8 MiB per 5.1 s (1.57 MiB/s): never zero, and never the burst's 40 MiB/s.
    for (const p of after)
      assert.ok(
        p.bytesPerSecond > chunk / 8 && p.bytesPerSecond < chunk && p.etaMs !== undefined,
        `speed ${p.bytesPerSecond} at ${p.bytes}`,
      );
  });
});

test('node:crypto and Web Crypto AES-256-GCM give the same bytes, open each other’s, and refuse a flipped bit', async () => {
  const key = new Uint8Array(randomBytes(32));
  const [n, w] = [await nodeAesGcm(key.slice()), await webCryptoAesGcm(key.slice())];
  const nonce = new Uint8Array(randomBytes(12));
  const aad = new Uint8Array(randomBytes(21));
  for (const size of [0, 1, 16, 1000, CHUNK]) {
    const plain = new Uint8Array(randomBytes(size));
    const [sn, sw] = [await n.seal(nonce, aad, plain), await w.seal(nonce, aad, plain)];
    assert.deepEqual(sn, sw);
    assert.deepEqual(await n.open(nonce, aad, sw), plain);
    assert.deepEqual(await w.open(nonce, aad, sn), plain);
    for (const at of [0, sn.byteLength - 1]) {
      const bad = sn.slice();
      bad[at]! ^= 1;
      assert.equal(await n.open(nonce, aad, bad), undefined);
    }
    assert.equal(await n.open(nonce, new Uint8Array(21), sn), undefined, 'other associated data');
  }
  assert.equal(await n.open(nonce, aad, new Uint8Array(15)), undefined, 'shorter than a tag');
});

test('the fetch transport (browsers) reads chunk bodies into the buffers the receiver gives back', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const blobs = fetchBlobTransport(r.url);
  const id = Buffer.from(randomBytes(16)).toString('base64url');
  const token = Buffer.from(randomBytes(32)).toString('base64url');
  const { ticket, close } = await rawTicket(r.url);
  t.after(close);
  const [c0, c1] = [new Uint8Array(randomBytes(CHUNK)), new Uint8Array(randomBytes(CHUNK))];
  await blobs.put(id, 0, token, ticket, c0);
  await blobs.put(id, 1, token, ticket, c1);
  const got0 = await blobs.get(id, 0, 0);
  assert.deepEqual(got0, c0);
  blobs.recycle!(got0 as Uint8Array);
  const got1 = await blobs.get(id, 1, 0);
  assert.deepEqual(got1, c1);
  // The bytes were read into got0's memory: a BYOB read takes (detaches) the buffer it fills.
  assert.equal((got0 as Uint8Array).byteLength, 0, 'the given-back buffer was reused');
  assert.equal(await blobs.get(id, 2, 0), 'missing');
});

test('a file reaches two receivers intact: same bytes, same SHA-256, progress on both sides, nothing but the file in the folder', async (t) => {
  const { r, cs, blobs } = await room(3);
  t.after(() => r.close());
  const [a, b, c] = cs as [TestClient, TestClient, TestClient];
  const data = randomBytes(5 * CHUNK + 1234);
  // The sender and one receiver use node:crypto's AES-GCM, the other receiver Web Crypto's.
  const [fa, fb, fc] = [files(a, blobs, nodeAesGcm), files(b, blobs, nodeAesGcm), files(c, blobs)];
  const gotB = receiveNext(fb);
  const gotC = receiveNext(fc);
  const src = await fileSource(tempFile(data));
  const sending = fa.send(src);
  const sentProgress: TransferProgress[] = [];
  sending.on('progress', (p) => sentProgress.push(p));
  const sent = await sending.done;
  assert.equal(sent.sha256, sha(data));
  for (const got of [await gotB, await gotC]) {
    const res = await got.transfer.done;
    assert.equal(res.sha256, sha(data));
    assert.equal(res.path, join(got.dir, 'payload.bin'));
    assert.deepEqual(readdirSync(got.dir), ['payload.bin'], 'no leftover part file');
    assert.ok(readFileSync(res.path!).equals(data));
    assert.equal(got.progress.at(-1)?.bytes, data.byteLength);
  }
  assert.equal(sentProgress.at(-1)?.bytes, data.byteLength);
  await src.close();
});

test('an empty file and a one-byte file arrive too', async (t) => {
  const { r, cs, blobs } = await room(2);
  t.after(() => r.close());
  const [a, b] = cs as [TestClient, TestClient];
  const [fa, fb] = [files(a, blobs), files(b, blobs)];
  for (const data of [new Uint8Array(0), Uint8Array.of(7)]) {
    const got = receiveNext(fb);
    const src = await fileSource(tempFile(data));
    await fa.send(src).done;
    const res = await (await got).transfer.done;
    assert.deepEqual(new Uint8Array(readFileSync(res.path!)), data);
    await src.close();
  }
});

/** A relay that tampers with what one receiver downloads. */
function tampering(
  inner: BlobTransport,
  alter: (index: number, bytes: Uint8Array, fetch: (i: number) => Promise<Uint8Array>) => Promise<Uint8Array>,
  blobOf: { id?: string },
): BlobTransport {
  return {
    ...inner,
    async get(id, index, waitMs, signal) {
      blobOf.id ??= id;
      const got = await inner.get(id, index, waitMs, signal);
      if (typeof got === 'string') return got;
      const fetch = async (i: number) => {
        for (;;) {
          const x = await inner.get(id, i, waitMs);
          if (typeof x !== 'string') return x;
        }
      };
      return alter(index, got, fetch);
    },
  };
}

for (const [label, alter] of [
  ['a flipped byte', async (i: number, b: Uint8Array) => (i === 2 ? Uint8Array.from(b, (x, j) => (j === 100 ? x ^ 1 : x)) : b)],
  [
    'two chunks swapped',
    async (i: number, b: Uint8Array, fetch: (i: number) => Promise<Uint8Array>) => (i === 1 ? fetch(2) : i === 2 ? fetch(1) : b),
  ],
  ['a chunk served twice', async (i: number, b: Uint8Array, fetch: (i: number) => Promise<Uint8Array>) => (i === 3 ? fetch(2) : b)],
  ['the final chunk cut short', async (i: number, b: Uint8Array) => (i === 5 ? b.subarray(0, b.byteLength - 1) : b)],
  [
    'a non-final chunk served as the final one (truncation)',
    async (i: number, b: Uint8Array, fetch: (i: number) => Promise<Uint8Array>) => (i === 5 ? fetch(4) : b),
  ],
] as const) {
  test(`a malicious relay: ${label} -> FILE_REJECTED, nothing saved`, async (t) => {
    const { r, cs, blobs } = await room(2);
    t.after(() => r.close());
    const [a, b] = cs as [TestClient, TestClient];
    const data = randomBytes(5 * CHUNK + 99);
    const fa = files(a, blobs);
    const fb = files(b, tampering(blobs, alter, {}));
    const got = receiveNext(fb);
    const src = await fileSource(tempFile(data));
    await fa.send(src).done;
    const { transfer, dir } = await got;
    await assert.rejects(transfer.done, (e: unknown) => e instanceof ClientError && e.code === 'FILE_REJECTED');
    await until(() => readdirSync(dir).length === 0, 'the part file is removed');
    await src.close();
  });
}

test('a sender who announces the wrong hash gets nothing saved; another member cannot finish or cancel someone else’s file', async (t) => {
  const { r, cs, blobs } = await room(3);
  t.after(() => r.close());
  const [a, b, c] = cs as [TestClient, TestClient, TestClient];
  const data = randomBytes(3 * CHUNK);
  const fa = files(a, blobs);
  const fb = files(b, blobs);
  const got = receiveNext(fb);
  // carol tries to cancel and to "finish" alice's transfer as soon as she sees the offer.
  c.room.route('file', (offer) => {
    c.room.sendPayload({ type: 'file-cancel', fid: offer.fid });
    c.room.sendPayload({ type: 'file-done', fid: offer.fid, sha256: '0'.repeat(64) });
  });
  const src = await fileSource(tempFile(data));
  await fa.send(src).done;
  const res = await (await got).transfer.done;
  assert.ok(readFileSync(res.path!).equals(data), 'carol could not interfere');

  // Now alice herself lies about the hash (a first file-done wins; the honest one comes too late).
  const got2 = receiveNext(fb);
  const off = a.room.on('sent', () => undefined);
  const realSend = a.room.sendPayload.bind(a.room);
  a.room.sendPayload = (body) => realSend(body.type === 'file-done' ? { ...body, sha256: 'f'.repeat(64) } : body);
  await fa.send(src).done;
  a.room.sendPayload = realSend;
  off();
  const { transfer, dir } = await got2;
  await assert.rejects(transfer.done, (e: unknown) => e instanceof ClientError && e.code === 'FILE_REJECTED' && /hash/.test(e.message));
  await until(() => readdirSync(dir).length === 0, 'nothing saved');
  await src.close();
});

/** A TCP proxy in front of the relay that can cut every connection and refuse new ones for a while. */
async function cuttableProxy(target: URL): Promise<{ url: string; cut(ms: number): void; close(): void }> {
  const sockets = new Set<net.Socket>();
  let down = false;
  const server = net.createServer((client) => {
    if (down) return client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    cut(ms) {
      down = true;
      for (const s of sockets) s.destroy();
      setTimeout(() => (down = false), ms);
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('resume: a connection cut in the middle of a transfer (both sides) resumes from the last verified chunk', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const proxy = await cuttableProxy(new URL(r.url));
  t.after(() => proxy.close());
  const secret = randomRoomSecret();
  const a = await member(proxy.url, secret, 'alice');
  const b = await member(proxy.url, secret, 'bob');
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  const inner = nodeBlobTransport(proxy.url);
  // Chunks the relay confirmed (uploads) and served (downloads), by index.
  const stored = new Map<number, number>();
  const served = new Map<number, number>();
  const bump = (m: Map<number, number>, i: number) => m.set(i, (m.get(i) ?? 0) + 1);
  // Slow the transfer down a little so that the cut lands in the middle of it.
  const counted: BlobTransport = {
    ...inner,
    put: async (id, i, token, ticket, body, signal) => {
      await new Promise((res) => setTimeout(res, 15));
      await inner.put(id, i, token, ticket, body, signal);
      bump(stored, i);
    },
    get: async (id, i, wait, signal) => {
      const got = await inner.get(id, i, wait, signal);
      if (typeof got !== 'string') bump(served, i);
      return got;
    },
  };
  const data = randomBytes(40 * CHUNK + 7);
  const fa = files(a, counted);
  const fb = files(b, counted);
  const got = receiveNext(fb);
  const src = await fileSource(tempFile(data));
  const sending = fa.send(src);
  await until(() => sending.transferred > 10 * CHUNK, 'the upload is under way');
  proxy.cut(700);
  const res = await (await got).transfer.done;
  assert.ok(readFileSync(res.path!).equals(data));
  await sending.done;
  // Resumed, not restarted: only chunks in flight at the cut (at most 8 each way) went twice.
  const twice = (m: Map<number, number>) => [...m.values()].filter((n) => n > 1).length;
  assert.equal(stored.size, 41);
  assert.equal(served.size, 41);
  assert.ok(twice(stored) <= 8, `chunks uploaded again: ${twice(stored)}`);
  assert.ok(twice(served) <= 8, `chunks downloaded again: ${twice(served)}`);
  await src.close();
});

test('a receiver away when the sender finished still saves the file: the sender tells its hash again when the receiver rejoins', async (t) => {
  // The path of a receiver that joins again (its slot gone at once); one that resumes reads file-done in the replay.
  const r = await relay({ limits: GONE_AT_ONCE });
  t.after(() => r.close());
  const proxy = await cuttableProxy(new URL(r.url));
  t.after(() => proxy.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(proxy.url, secret, 'bob');
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  // Alice's last chunk waits for the cut: her file-done (sent once every chunk is stored) cannot
  // reach bob before he is away, however fast her upload is on a busy machine.
  let cutDone!: () => void;
  const afterCut = new Promise<void>((resolve) => (cutDone = resolve));
  const direct = nodeBlobTransport(r.url);
  const gated: BlobTransport = {
    ...direct,
    put: async (id, index, token, ticket, body, signal) => {
      if (index === 12) await afterCut;
      return direct.put(id, index, token, ticket, body, signal);
    },
  };
  const fa = files(a, gated);
  // Bob waits for alice's repeated file-done as long as his reconnect and rejoin may take on a busy machine.
  const fb = new RoomFiles(b.room, {
    blobs: nodeBlobTransport(proxy.url),
    chunkSize: CHUNK,
    hash: nodeSha256,
    stallMs: 30_000,
    waitMs: 2000,
  });
  const got = receiveNext(fb);
  const data = randomBytes(12 * CHUNK + 5);
  const src = await fileSource(tempFile(data));
  const sending = fa.send(src);
  const { transfer } = await got;
  // Bob goes away before the upload ends, and stays away until alice has said file-done.
  const cutAt = Date.now();
  proxy.cut(2500);
  cutDone();
  await sending.done;
  assert.ok(Date.now() - cutAt < 2500, 'alice finished while bob was away');
  const res = await transfer.done;
  assert.ok(readFileSync(res.path!).equals(data));
  assert.equal(res.sha256, sha(data));
  assert.ok(
    b.events.some((e) => e.type === 'joined' && (e.e as { rejoin?: boolean }).rejoin),
    'bob rejoined',
  );
  await src.close();
});

test('transfers are matched by the sender’s identity key, not its nickname: a sender back as alice-2 still finishes its file', async (t) => {
  const { r, cs, blobs } = await room(2);
  t.after(() => r.close());
  const [a, b] = cs as [TestClient, TestClient];
  // Bob's view of the room, where alice's file-done arrives under the name a rejoin can give her.
  const renamed = {
    nick: b.room.nick,
    sendPayload: b.room.sendPayload.bind(b.room),
    blobTicket: b.room.blobTicket.bind(b.room),
    hasMember: b.room.hasMember.bind(b.room),
    on: b.room.on.bind(b.room),
    route: ((type: 'file' | 'file-done' | 'file-cancel', fn: PayloadHandler<'file-done'>) =>
      b.room.route(type as 'file-done', (p, s) => fn(p, type === 'file-done' ? { ...s, from: 'alice-2' } : s))) as FileChannel['route'],
  };
  const fb = new RoomFiles(renamed, { blobs, chunkSize: CHUNK, hash: nodeSha256, stallMs: 3000, waitMs: 1000 });
  const got = receiveNext(fb);
  const data = randomBytes(2 * CHUNK + 3);
  const src = await fileSource(tempFile(data));
  await files(a, blobs).send(src).done;
  const res = await (await got).transfer.done;
  assert.ok(readFileSync(res.path!).equals(data));
  await src.close();
});

test('a receiver whose sender never confirms the file fails with a clear error after the stall time, nothing saved', async (t) => {
  const { r, cs, blobs } = await room(2);
  t.after(() => r.close());
  const [a, b] = cs as [TestClient, TestClient];
  // Alice's file-done never leaves: her channel drops it.
  const quiet = {
    nick: a.room.nick,
    on: a.room.on.bind(a.room),
    route: a.room.route.bind(a.room),
    blobTicket: a.room.blobTicket.bind(a.room),
    hasMember: a.room.hasMember.bind(a.room),
    sendPayload: (body: { type: string }) => (body.type === 'file-done' ? undefined : a.room.sendPayload(body as never)),
  };
  const fa = new RoomFiles(quiet, { blobs, chunkSize: CHUNK, hash: nodeSha256 });
  const fb = new RoomFiles(b.room, { blobs, chunkSize: CHUNK, hash: nodeSha256, stallMs: 1500, waitMs: 500 });
  const got = receiveNext(fb);
  const src = await fileSource(tempFile(randomBytes(3 * CHUNK)));
  await fa.send(src).done;
  const { transfer, dir } = await got;
  await assert.rejects(
    transfer.done,
    (e: unknown) => e instanceof ClientError && e.code === 'FILE_TRANSFER' && /never confirmed/.test(e.message),
  );
  await until(() => readdirSync(dir).length === 0, 'nothing saved');
  await src.close();
});

test('cancel: the sender cancels (receivers are told, nothing saved, the blob is gone); a receiver cancels its own download only', async (t) => {
  const { r, cs, blobs } = await room(3);
  t.after(() => r.close());
  const [a, b, c] = cs as [TestClient, TestClient, TestClient];
  const slow: BlobTransport = { ...blobs, put: async (...args) => (await new Promise((res) => setTimeout(res, 20)), blobs.put(...args)) };
  const fa = files(a, slow);
  const fb = files(b, blobs);
  const fc = files(c, blobs);
  const data = randomBytes(60 * CHUNK);
  const src = await fileSource(tempFile(data));

  // The sender cancels.
  const gotB = receiveNext(fb);
  const gotC = receiveNext(fc);
  let blobId: string | undefined;
  const spy = fb.on('offer', (o) => (blobId = o.offer.blob));
  const sending = fa.send(src);
  await until(() => sending.transferred > 5 * CHUNK, 'upload under way');
  sending.cancel();
  await assert.rejects(sending.done, (e: unknown) => e instanceof ClientError && e.code === 'FILE_CANCELLED');
  for (const got of [await gotB, await gotC]) {
    await assert.rejects(got.transfer.done, (e: unknown) => e instanceof ClientError && e.code === 'FILE_CANCELLED');
    await until(() => readdirSync(got.dir).length === 0, 'nothing saved');
  }
  spy();
  assert.equal(await blobs.head(blobId!), 'gone', 'the relay freed the blob');

  // A receiver cancels: only its own download stops.
  await receiverCancelsOwnOnly(fa, fb, fc, src, data, 2 * CHUNK);
  await src.close();
});

test('a pinned TLS relay: the blob store accepts the pinned certificate and refuses another before sending anything', async (t) => {
  const tlsMaterial = await createSelfSigned(mkdtempSync(join(tmpdir(), 'nullroom-tls-')));
  const r = await relay({ tls: { cert: tlsMaterial.cert, key: tlsMaterial.key } });
  t.after(() => r.close());
  assert.ok(r.url.startsWith('https:'));
  const good = nodeBlobTransport(r.url, { pin: tlsMaterial.fingerprint });
  const token = randomBytes(32).toString('base64url');
  const [one, two] = [randomBytes(16).toString('base64url'), randomBytes(16).toString('base64url')];
  const { ticket, close } = await rawTicket(r.url);
  t.after(close);
  await good.put(one, 0, token, ticket, Uint8Array.of(1, 2, 3));
  assert.deepEqual(await good.get(one, 0, 0), Uint8Array.of(1, 2, 3));
  const wrong = nodeBlobTransport(r.url, { pin: `sha256:${'0'.repeat(64)}` });
  await assert.rejects(
    wrong.put(two, 0, token, ticket, Uint8Array.of(9)),
    (e: unknown) => e instanceof ClientError && e.code === 'TLS_PIN_MISMATCH',
  );
  assert.equal(await good.head(two), 'missing', 'the refused upload never reached the relay');
});
