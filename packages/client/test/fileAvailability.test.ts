/**
 * Files that can no longer arrive say so (issue 13): an offer whose sender left before its upload
 * was complete, accepted or not, turns FILE_UNAVAILABLE at once; a receiver that caught up with a
 * sender still uploading reports that it waits for the sender; a file the relay no longer holds
 * (a fresh relay, as after a restart that wiped its blob store) fails on accept instead of
 * long-polling for minutes; a complete file whose sender left is still received; an offer that was
 * not complete when the connection came back is checked once it is.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError, type FileSource, type IncomingFile, PrivateChats, RoomFiles } from '../src/index.js';
import type { FileChannel, FileChannelEvents } from '../src/files.js';
import { fileSource, folderSink, nodeBlobTransport, nodeSha256 } from '../src/node/index.js';
import { fileRoom, receiveNext, tempFile } from './_files.js';
import { closeAll, relay, until } from './_harness.js';

afterEach(closeAll);

const CHUNK = 64 * 1024;
const unavailable = (e: unknown) => e instanceof ClientError && e.code === 'FILE_UNAVAILABLE';

/** A source whose first chunk reads at once and whose later chunks never do: a sender stuck mid-upload. */
function stuckSource(size: number): FileSource {
  const bytes = randomBytes(size);
  return {
    name: 'stuck.bin',
    size,
    mime: 'application/octet-stream',
    read: (offset, length) => (offset === 0 ? Promise.resolve(bytes.subarray(0, length)) : new Promise<Uint8Array>(() => undefined)),
  };
}

function nextOffer(f: RoomFiles): Promise<IncomingFile> {
  return new Promise((resolve) => {
    const off = f.on('offer', (o) => (off(), resolve(o)));
  });
}

test('a sender who leaves mid-upload: the download in progress and the offer nobody accepted both turn unavailable at once', async (t) => {
  const { r, cs } = await fileRoom(3);
  t.after(() => r.close());
  const [a, b, c] = cs as [(typeof cs)[0], (typeof cs)[0], (typeof cs)[0]];
  const blobs = nodeBlobTransport(r.url);
  const opts = { blobs, chunkSize: CHUNK, hash: nodeSha256, waitMs: 500 };
  const fa = new RoomFiles(a.room, opts);
  const fb = new RoomFiles(b.room, opts);
  const fc = new RoomFiles(c.room, opts);
  const gotB = receiveNext(fb);
  const offerC = nextOffer(fc);
  fa.send(stuckSource(4 * CHUNK));
  const { transfer, dir, progress } = await gotB;
  const offer = await offerC;
  // Bob has the first chunk and waits for the rest, which the sender has not uploaded.
  await until(() => transfer.transferred === CHUNK, 'the first chunk is in');
  await until(() => progress.some((p) => p.waiting === 'sender'), 'bob reports waiting for the sender');
  const seenUnavailable = new Promise<ClientError>((resolve) => offer.on('unavailable', (e) => resolve(e.error)));
  const started = Date.now();
  await a.room.leave();
  await assert.rejects(transfer.done, unavailable);
  assert.ok(unavailable(await seenUnavailable), "carol's offer is unavailable without a click");
  assert.ok(Date.now() - started < 5000, 'at once, not after the stall time');
  assert.ok(unavailable(offer.unavailable));
  await until(() => readdirSync(dir).length === 0, 'nothing saved for bob');
  // Accepting it now fails at once too.
  const late = offer.accept({ write: async () => undefined, commit: async () => undefined, abort: async () => undefined });
  await assert.rejects(late.done, unavailable);
  for (const f of [fa, fb, fc]) f.close();
});

test('a complete file whose sender left is still received, while the relay holds it', async (t) => {
  const { r, cs } = await fileRoom(2);
  t.after(() => r.close());
  const [a, b] = cs as [(typeof cs)[0], (typeof cs)[0]];
  const blobs = nodeBlobTransport(r.url);
  const fa = new RoomFiles(a.room, { blobs, chunkSize: CHUNK, hash: nodeSha256 });
  const fb = new RoomFiles(b.room, { blobs, chunkSize: CHUNK, hash: nodeSha256 });
  const offered = nextOffer(fb);
  const data = randomBytes(3 * CHUNK + 5);
  const src = await fileSource(tempFile(data));
  await fa.send(src).done;
  const offer = await offered;
  await until(() => b.room.members().length === 2, 'bob sees alice');
  await a.room.leave();
  await until(() => b.room.members().length === 1, 'bob sees alice leave');
  await new Promise((res) => setTimeout(res, 300)); // the relay was asked whether it still holds the file
  assert.equal(offer.unavailable, undefined);
  const dir = mkdtempSync(join(tmpdir(), 'nullroom-recv-'));
  const res = await offer.accept(await folderSink(dir, offer.name)).done;
  assert.ok(readFileSync(res.path!).equals(data));
  await src.close();
  fa.close();
  fb.close();
});

test('a file the relay no longer holds (an empty relay, as after a restart): accepting it fails at once, FILE_UNAVAILABLE', async (t) => {
  const { r, cs } = await fileRoom(2);
  const empty = await relay();
  t.after(async () => {
    await r.close();
    await empty.close();
  });
  const [a, b] = cs as [(typeof cs)[0], (typeof cs)[0]];
  const fa = new RoomFiles(a.room, { blobs: nodeBlobTransport(r.url), chunkSize: CHUNK, hash: nodeSha256 });
  // Bob's blob store is a relay that holds no blob at all: what one that restarted holds.
  const fb = new RoomFiles(b.room, { blobs: nodeBlobTransport(empty.url), chunkSize: CHUNK, hash: nodeSha256, waitMs: 1000 });
  const offered = nextOffer(fb);
  const src = await fileSource(tempFile(randomBytes(2 * CHUNK)));
  await fa.send(src).done;
  const offer = await offered;
  // Its file-done is in (the sender finished): the relay must hold every chunk.
  await new Promise((res) => setTimeout(res, 200));
  const started = Date.now();
  const tr = offer.accept({ write: async () => undefined, commit: async () => undefined, abort: async () => undefined });
  await assert.rejects(tr.done, (e: unknown) => unavailable(e) && /relay/.test((e as Error).message));
  assert.ok(Date.now() - started < 3000, `at once (${Date.now() - started} ms)`);
  await src.close();
  fa.close();
  fb.close();
});

test("a private chat closed by the sender mid-upload: the peer's offer turns unavailable; a peer who leaves the room does the same", async (t) => {
  const { r, cs } = await fileRoom(3);
  t.after(() => r.close());
  const [a, b, c] = cs as [(typeof cs)[0], (typeof cs)[0], (typeof cs)[0]];
  const blobs = nodeBlobTransport(r.url);
  const opts = { blobs, chunkSize: CHUNK, hash: nodeSha256, waitMs: 500 };
  const [pa, pb, pc] = [new PrivateChats(a.room), new PrivateChats(b.room), new PrivateChats(c.room)];
  // alice -> bob, closed by alice mid-upload.
  const ab = await pa.open('bob');
  await until(() => pb.with('alice') !== undefined, 'bob has the chat');
  const offerB = nextOffer(new RoomFiles(pb.with('alice')!, opts));
  new RoomFiles(ab, opts).send(stuckSource(3 * CHUNK));
  const ob = await offerB;
  const goneB = new Promise<ClientError>((resolve) => ob.on('unavailable', (e) => resolve(e.error)));
  ab.close();
  assert.ok(unavailable(await goneB));
  // carol -> alice, then carol leaves the room.
  const ca = await pc.open('alice');
  await until(() => pa.with('carol') !== undefined, 'alice has the chat');
  const offerA = nextOffer(new RoomFiles(pa.with('carol')!, opts));
  new RoomFiles(ca, opts).send(stuckSource(3 * CHUNK));
  const oa = await offerA;
  const goneA = new Promise<ClientError>((resolve) => oa.on('unavailable', (e) => resolve(e.error)));
  await c.room.leave();
  assert.ok(unavailable(await goneA));
  for (const p of [pa, pb, pc]) p.close();
});

test('an offer not yet complete when the connection came back is checked once its sender says it is complete: gone from the relay, it turns unavailable', async (t) => {
  const { r, cs } = await fileRoom(2);
  const empty = await relay();
  t.after(async () => {
    await r.close();
    await empty.close();
  });
  const [a, b] = cs as [(typeof cs)[0], (typeof cs)[0]];
  // Bob's conversation as RoomFiles sees it, with its phase driven by the test (a reconnect).
  const phases = new Set<(e: unknown) => void>();
  const channel: FileChannel = {
    get nick() {
      return b.room.nick;
    },
    sendPayload: (body) => b.room.sendPayload(body),
    blobTicket: (refused) => b.room.blobTicket(refused),
    hasMember: (identity) => b.room.hasMember(identity),
    route: (type, handler) => b.room.route(type, handler),
    on: ((type: keyof FileChannelEvents, fn: (e: unknown) => void) => {
      if (type !== 'phase') return b.room.on(type as 'member-left', fn);
      phases.add(fn);
      return () => phases.delete(fn);
    }) as FileChannel['on'],
  };
  const fa = new RoomFiles(a.room, { blobs: nodeBlobTransport(r.url), chunkSize: CHUNK, hash: nodeSha256 });
  // Bob's blob store is a relay that holds no blob: what one that restarted without its store holds.
  const fb = new RoomFiles(channel, { blobs: nodeBlobTransport(empty.url), chunkSize: CHUNK, hash: nodeSha256 });
  // Alice's second chunk waits for the test: her file is offered, not yet complete.
  const bytes = randomBytes(2 * CHUNK);
  let release!: () => void;
  const gate = new Promise<void>((res) => (release = res));
  const src: FileSource = {
    name: 'late.bin',
    size: bytes.byteLength,
    mime: 'application/octet-stream',
    read: async (offset, length) => {
      if (offset > 0) await gate;
      return bytes.subarray(offset, offset + length);
    },
  };
  const offered = nextOffer(fb);
  const sending = fa.send(src);
  const offer = await offered;
  const gone = new Promise<ClientError>((res) => offer.on('unavailable', (e) => res(e.error)));
  // Bob's connection drops and comes back: the offers are checked; this one is not complete yet.
  for (const fn of phases) fn({ phase: 'reconnecting' });
  for (const fn of phases) fn({ phase: 'joined' });
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(offer.unavailable, undefined, 'nothing to say before it is complete');
  release();
  await sending.done;
  const e = await gone;
  assert.equal(e.code, 'FILE_UNAVAILABLE');
  fa.close();
  fb.close();
});
