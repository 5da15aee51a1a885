/**
 * What a client keeps past a reload besides its MLS stay (docs/PROTOCOL.md §4.5), with real clients
 * and a real relay: the chat log seeded from kept messages (`Room.remember`) takes reactions, edits
 * and deletes of them again, by the same rules as live ones; a kept file offer (`IncomingFile.save`,
 * `RoomFiles.adopt`) is fetched after the reload, byte for byte, and one that can no longer arrive
 * says so (FILE_UNAVAILABLE).
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ClientError,
  type IncomingFile,
  MemoryKeyStore,
  NullroomClient,
  type Reaction,
  type RememberedMessage,
  RoomFiles,
  type SavedOffer,
} from '../src/index.js';
import { fileSource, folderSink, nodeBlobTransport, nodeSha256, nodeWebSocket } from '../src/node/index.js';
import type { WebSocketLike } from '../src/transport.js';
import { tempFile } from './_files.js';
import { closeAll, converged, member, memorySessions, randomRoomSecret, relay, until } from './_harness.js';

afterEach(closeAll);

const CHUNK = 64 * 1024;

function nextOffer(f: RoomFiles): Promise<IncomingFile> {
  return new Promise((resolve) => {
    const off = f.on('offer', (o) => (off(), resolve(o)));
  });
}

async function fetched(f: IncomingFile): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'nullroom-recv-'));
  const r = await f.accept(await folderSink(dir, f.name)).done;
  return readFileSync(r.path!);
}

test('a reload keeps the log and the offers: after restore, the kept offer downloads and reactions, edits and deletes of kept messages count', async (t) => {
  const r = await relay({ limits: { resumeGraceMs: 20_000 } });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const { saved, sessions } = memorySessions();
  const keyStore = new MemoryKeyStore();
  let current: WebSocketLike | undefined;
  const base = nodeWebSocket();
  const make = () =>
    new NullroomClient({ url: r.url, webSocket: (u, p) => (current = base(u, p)), timings: { removalGraceMs: 300 }, keyStore, sessions });
  const opts = { blobs: nodeBlobTransport(r.url), chunkSize: CHUNK, hash: nodeSha256 };
  const first = make();
  await first.connect();
  const before = await first.join({ secret, nick: 'bob' });
  await until(() => before.members().length === 2 && a.room.members().length === 2, 'two members');
  const fa = new RoomFiles(a.room, opts);
  const fb = new RoomFiles(before, opts);

  const data = randomBytes(3 * CHUNK + 17);
  const offered = nextOffer(fb);
  const src = await fileSource(tempFile(data));
  await fa.send(src).done;
  await src.close();
  const offer = await offered;
  await until(() => offer.save()?.sha256 !== undefined, 'bob has the sender’s hash');
  const question = a.room.send('lunch at noon?');
  await until(() => before.message(question) !== undefined, 'bob has the question');
  before.react(question, '👍');
  const mine = before.send('see you there');
  const doomed = before.send('a typo');
  await until(() => a.room.message(doomed) !== undefined && a.room.message(question)?.reactions.length === 1, 'alice has it all');
  // What the page keeps (sealed in its history): the log's view of the lines it shows, and the offer.
  const kept: RememberedMessage[] = before.recall([question, mine, doomed, 'ff'.repeat(16)]);
  assert.equal(kept.length, 3, 'an id the log never saw is left out');
  const keptOffer: SavedOffer = JSON.parse(JSON.stringify(offer.save()));
  assert.ok(keptOffer.sha256 !== undefined, 'the hash its sender announced is kept with it');
  await new Promise((res) => setTimeout(res, 400)); // the debounced session save
  const snapshot = [...saved.values()][0]!;
  // The page goes away: no LEAVE, the socket just dies.
  (first as unknown as { opts: { reconnect: boolean } }).opts.reconnect = false;
  (current as unknown as { terminate(): void }).terminate();

  const second = make();
  t.after(() => second.close());
  await second.connect();
  const room = await second.restore(snapshot);
  assert.equal(room.message(question), undefined, 'a restored log starts empty');
  assert.equal(room.remember(kept), 3);
  const reactions: Reaction[] = [{ emoji: '👍', count: 1, from: ['bob'], mine: true }];
  assert.deepEqual(room.message(question)?.reactions, reactions, 'our reaction is ours again');
  const files = new RoomFiles(room, opts);
  const again = files.adopt(keptOffer);
  assert.ok(again !== undefined);
  assert.equal(files.adopt(keptOffer), undefined, 'an offer is taken up once');
  assert.equal(again.unavailable, undefined);
  assert.deepEqual(again.offer, offer.offer);
  await room.whenJoined();
  assert.ok((await fetched(again)).equals(data), 'the file fetched after the reload is the file sent');

  const edited: string[] = [];
  room.on('edited', (e) => edited.push(e.text));
  a.room.edit(question, 'lunch at one?');
  await until(() => edited.includes('lunch at one?'), 'alice’s edit of a kept message counts');
  room.react(question, '🎉');
  room.edit(mine, 'see you at one');
  room.delete(doomed);
  await until(() => a.room.message(mine)?.text === 'see you at one', 'our edit of our kept message reaches alice');
  await until(() => a.room.message(doomed)?.deleted === true, 'our delete too');
  await until(() => a.room.message(question)?.reactions.length === 2, 'and our reaction');
  room.react(question, '👍', false);
  await until(() => a.room.message(question)?.reactions.length === 1, 'a kept reaction is taken back');
  assert.throws(
    () => room.edit(question, 'hijack'),
    (e: unknown) => e instanceof ClientError && e.code === 'NOT_YOURS',
  );
});

test('remember: a kept message is only edited by its sender, bounds hold, bad entries are left out, and a live message is not overwritten', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const m = await member(r.url, secret, 'mallory');
  await until(() => converged([a, m], ['alice', 'mallory']), 'two members');
  const id = a.room.send('original');
  await until(() => m.room.message(id) !== undefined, 'mallory has it');
  // Carol joins after the message: her log does not know it until it is remembered.
  const c = await member(r.url, secret, 'carol');
  await until(() => converged([a, m, c], ['alice', 'carol', 'mallory']), 'three members');
  assert.equal(c.room.message(id), undefined);
  const [kept] = a.room.recall([id]);
  const stranger = 'ab'.repeat(32);
  const flood = Array.from({ length: 40 }, (_, i) => ({ emoji: String.fromCodePoint(0x1f600 + i), by: [{ sender: stranger, nick: 'x' }] }));
  const taken = c.room.remember([
    { ...kept!, reactions: [...flood, { emoji: 'not an emoji', by: [{ sender: stranger, nick: 'x' }] }] },
    { id: 'nope', sender: stranger, from: 'x', text: 'bad id' },
    { id: 'cd'.repeat(16), sender: 'short', from: 'x', text: 'bad sender' },
  ]);
  assert.equal(taken, 1, 'only the well-formed message');
  assert.equal(c.room.message(id)?.reactions.length, 8, 'one member’s reactions on a message stay bounded');
  assert.equal(c.room.remember([{ ...kept!, text: 'rewritten' }]), 0, 'what the log knows is kept as it is');
  assert.equal(c.room.message(id)?.text, 'original');

  const edits: string[] = [];
  c.room.on('edited', (e) => edits.push(`${e.from}:${e.text}`));
  m.room.sendPayload({ type: 'edit', target: id, text: 'forged' });
  a.room.edit(id, 'fixed');
  await until(() => edits.length > 0, 'an edit arrives');
  await new Promise((res) => setTimeout(res, 200));
  assert.deepEqual(edits, ['alice:fixed'], 'only the sender’s edit counts');
  assert.equal(c.room.message(id)?.text, 'fixed');
});

test('adopt: a kept offer that can no longer arrive says so (its sender gone before completing it; a blob the relay does not hold)', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  const opts = { blobs: nodeBlobTransport(r.url), chunkSize: CHUNK, hash: nodeSha256 };
  const fa = new RoomFiles(a.room, opts);
  const fb = new RoomFiles(b.room, opts);
  const offered = nextOffer(fb);
  const src = await fileSource(tempFile(randomBytes(CHUNK)));
  await fa.send(src).done;
  await src.close();
  const incoming = await offered;
  await until(() => incoming.save()?.sha256 !== undefined, 'bob has the sender’s hash');
  const kept = incoming.save()!;
  const gone = (f: IncomingFile) =>
    f.unavailable !== undefined
      ? Promise.resolve(f.unavailable)
      : new Promise<ClientError>((resolve) => f.on('unavailable', (e) => resolve(e.error)));

  const c = await member(r.url, secret, 'carol');
  const fc = new RoomFiles(c.room, opts);
  // Offered by someone who is not here and never said it was complete.
  const stranger = { ...kept, sender: 'ab'.repeat(32), offer: { ...kept.offer, fid: 'cd'.repeat(16) } };
  delete stranger.sha256;
  const f1 = fc.adopt(stranger)!;
  assert.equal((await gone(f1)).code, 'FILE_UNAVAILABLE');
  // Complete by its sender's word, but the relay holds no such blob.
  const f2 = fc.adopt({ ...kept, offer: { ...kept.offer, fid: 'ef'.repeat(16), blob: 'A'.repeat(22) } })!;
  assert.equal((await gone(f2)).code, 'FILE_UNAVAILABLE');
  // Not an offer: nothing is taken up.
  assert.equal(fc.adopt({ ...kept, offer: { ...kept.offer, key: 'short' } }), undefined);
  assert.equal(fc.adopt({ ...kept, sender: 'x' }), undefined);
  // The real one, still there: carol (who joined after it) fetches it.
  const f3 = fc.adopt(kept)!;
  assert.equal(f3.unavailable, undefined);
  assert.equal((await fetched(f3)).length, CHUNK);
});

test('our own offer is kept once its upload is complete (sentOffer), and the sender fetches its own file again after a reload (adopt)', async (t) => {
  const r = await relay();
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  await until(() => a.room.members().length === 2 && b.room.members().length === 2, 'two members');
  const opts = { blobs: nodeBlobTransport(r.url), chunkSize: CHUNK, hash: nodeSha256 };
  const fa = new RoomFiles(a.room, opts);
  const data = randomBytes(2 * CHUNK + 5);
  const src = await fileSource(tempFile(data));
  const sending = fa.send(src);
  assert.equal(fa.sentOffer(sending.fid), undefined, 'nothing to keep before the upload is complete');
  await sending.done;
  await src.close();
  const kept = fa.sentOffer(sending.fid);
  assert.ok(kept !== undefined && kept.sha256 !== undefined, 'kept with its hash once complete');
  assert.equal(kept.sender, a.room.selfIdentity());
  assert.equal(kept.from, 'alice');
  assert.equal(kept.offer.fid, sending.fid);
  // What the page seals with its history, and reads back after the reload into a new RoomFiles.
  const again = new RoomFiles(a.room, opts).adopt(JSON.parse(JSON.stringify(kept)) as SavedOffer);
  assert.ok(again !== undefined && again.unavailable === undefined);
  assert.ok((await fetched(again)).equals(data), 'the sender fetched its own file back from the relay');
});
