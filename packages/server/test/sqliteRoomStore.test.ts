/**
 * The relay's SQLite room store (src/sqliteRoomStore.ts): every method's write survives close and
 * reopen, trims and deletions do exactly what they say, a file that is not ours is refused with a
 * typed error that names the path and nothing of the contents, the file is private (0600 in a 0700
 * directory), and what `append` returned for survives a real `kill -9` of the process that wrote it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RoomStoreError, openRoomStore, type RoomStoreErrorCode } from '../src/index.js';
import type { RoomStore, StoredRoom } from '../src/roomStore.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-roomstore-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const fresh = () => join(dir, `rooms-${++files}.db`);
const b = (...v: number[]) => new Uint8Array(v);
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
const KEY_A = 'aa'.repeat(32);
const KEY_B = 'bb'.repeat(32);

/** Runs `fn` on the store at `path`, then closes it and returns what a reopened store loads. */
function roundTrip(path: string, fn: (s: RoomStore) => void): StoredRoom[] {
  const s = openRoomStore(path);
  fn(s);
  s.close();
  const again = openRoomStore(path);
  try {
    return again.load();
  } finally {
    again.close();
  }
}

/** Two rooms with a bit of everything: slots, a GroupInfo, a log and held frames. */
function populate(s: RoomStore): void {
  s.createRoom(KEY_A, fill(32, 0xaa));
  s.addSlot(KEY_A, 1, fill(32, 1), 2);
  s.addSlot(KEY_A, 2, fill(32, 2), 3);
  s.addSlot(KEY_A, 3, fill(32, 3), 4);
  s.setGroupInfo(KEY_A, b(9, 8, 7), 1);
  s.append(KEY_A, { seq: 1, at: 1_000, frame: b(1) });
  s.append(KEY_A, { seq: 2, at: 2_000, frame: fill(1024, 2) });
  s.holdDirect(KEY_A, { slot: 2, afterSeq: 2, at: 2_100, frame: b(0xd1) });
  s.append(KEY_A, { seq: 3, at: 3_000, frame: b(3, 3) });
  s.holdDirect(KEY_A, { slot: 3, afterSeq: 3, at: 3_100, frame: b(0xd2) });
  s.holdDirect(KEY_A, { slot: 2, afterSeq: 3, at: 3_200, frame: b(0xd3) });
  s.createRoom(KEY_B, fill(32, 0xbb));
}

const roomA: StoredRoom = {
  key: KEY_A,
  locator: fill(32, 0xaa),
  epoch: 1,
  seq: 3,
  nextSlot: 4,
  groupInfo: b(9, 8, 7),
  slots: [
    { slot: 1, tokenHash: fill(32, 1) },
    { slot: 2, tokenHash: fill(32, 2) },
    { slot: 3, tokenHash: fill(32, 3) },
  ],
  log: [
    { seq: 1, at: 1_000, frame: b(1) },
    { seq: 2, at: 2_000, frame: fill(1024, 2) },
    { seq: 3, at: 3_000, frame: b(3, 3) },
  ],
  directs: [
    { slot: 2, afterSeq: 2, at: 2_100, frame: b(0xd1) },
    { slot: 3, afterSeq: 3, at: 3_100, frame: b(0xd2) },
    { slot: 2, afterSeq: 3, at: 3_200, frame: b(0xd3) },
  ],
};
const roomB: StoredRoom = {
  key: KEY_B,
  locator: fill(32, 0xbb),
  epoch: 0,
  seq: 0,
  nextSlot: 1,
  groupInfo: undefined,
  slots: [],
  log: [],
  directs: [],
};

test('every method’s write comes back after close and reopen, in the orders StoredRoom promises', () => {
  assert.deepStrictEqual(roundTrip(fresh(), populate), [roomA, roomB]);
});

test('trim drops log entries up to a seq; releaseDirects and removeSlot drop only that slot’s frames', () => {
  const path = fresh();
  const rooms = roundTrip(path, (s) => {
    populate(s);
    s.trim(KEY_A, 2);
    s.releaseDirects(KEY_A, 2);
  });
  assert.deepStrictEqual(rooms[0], { ...roomA, log: roomA.log.slice(2), directs: [roomA.directs[1]] });
  const after = roundTrip(path, (s) => s.removeSlot(KEY_A, 3));
  assert.deepStrictEqual(after, [{ ...roomA, log: roomA.log.slice(2), slots: roomA.slots.slice(0, 2), directs: [] }, roomB]);
  // Trimming the whole log keeps the room's seq.
  const empty = roundTrip(path, (s) => s.trim(KEY_A, 5));
  assert.deepStrictEqual(empty[0], { ...roomA, log: [], slots: roomA.slots.slice(0, 2), directs: [] });
});

test('deleteRoom forgets everything of that room and nothing of another; createRoom on a stale key starts it afresh', () => {
  const path = fresh();
  assert.deepStrictEqual(
    roundTrip(path, (s) => {
      populate(s);
      s.deleteRoom(KEY_B);
    }),
    [roomA],
  );
  const rooms = roundTrip(path, (s) => {
    s.deleteRoom(KEY_A);
    s.createRoom(KEY_A, fill(32, 0xaa));
  });
  assert.deepStrictEqual(rooms, [{ ...roomB, key: KEY_A, locator: fill(32, 0xaa) }]);
  const db = new Database(path, { readonly: true });
  for (const table of ['slots', 'log', 'directs'])
    assert.equal(db.prepare(`SELECT count(*) FROM ${table}`).pluck().get(), 0, `${table} is empty`);
  db.close();
});

test('what trim, releaseDirects and deleteRoom drop is gone from the file, not left in its free pages', () => {
  const path = fresh();
  const canary = (what: string) => new TextEncoder().encode(`canary-${what}-`.repeat(40));
  const s = openRoomStore(path);
  s.createRoom(KEY_A, fill(32, 0xaa));
  s.createRoom(KEY_B, fill(32, 0xbb));
  for (let seq = 1; seq <= 60; seq++) s.append(KEY_A, { seq, at: seq, frame: canary(`log${seq}`) });
  s.holdDirect(KEY_A, { slot: 1, afterSeq: 60, at: 61, frame: canary('direct') });
  s.append(KEY_B, { seq: 1, at: 1, frame: canary('roomb') });
  s.trim(KEY_A, 50);
  s.releaseDirects(KEY_A, 1);
  s.deleteRoom(KEY_B);
  s.close();
  const file = readFileSync(path).toString('latin1');
  for (let seq = 1; seq <= 50; seq++) assert.ok(!file.includes(`canary-log${seq}-`), `trimmed entry ${seq} is still in the file`);
  for (let seq = 51; seq <= 60; seq++) assert.ok(file.includes(`canary-log${seq}-`), `kept entry ${seq} is in the file`);
  assert.ok(!file.includes('canary-direct-'), 'a released DIRECT frame is still in the file');
  assert.ok(!file.includes('canary-roomb-'), 'a deleted room’s entry is still in the file');
});

/** Asserts that `fn` throws a RoomStoreError with `code` whose message names `path` and does not contain `secret`. */
function refuses(fn: () => unknown, code: RoomStoreErrorCode, path: string, secret = 'hunter2'): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RoomStoreError, String(e));
    assert.equal(e.code, code);
    assert.ok(e.message.includes(path), e.message);
    assert.ok(!e.message.includes(secret), e.message);
    return true;
  });
}

test('a change to a room that does not exist is refused as NO_SUCH_ROOM, and changes nothing', () => {
  const path = fresh();
  const s = openRoomStore(path);
  s.createRoom(KEY_A, fill(32, 0xaa));
  refuses(() => s.append(KEY_B, { seq: 1, at: 1, frame: b(1) }), 'NO_SUCH_ROOM', path);
  refuses(() => s.addSlot(KEY_B, 1, fill(32, 1), 2), 'NO_SUCH_ROOM', path);
  refuses(() => s.setGroupInfo(KEY_B, b(1), 1), 'NO_SUCH_ROOM', path);
  refuses(() => s.holdDirect(KEY_B, { slot: 1, afterSeq: 0, at: 1, frame: b(1) }), 'NO_SUCH_ROOM', path);
  s.append(KEY_A, { seq: 1, at: 1, frame: b(1) });
  refuses(() => s.append(KEY_A, { seq: 1, at: 2, frame: b(2) }), 'WRITE_FAILED', path);
  assert.deepStrictEqual(s.load(), [{ ...roomB, key: KEY_A, locator: fill(32, 0xaa), seq: 1, log: [{ seq: 1, at: 1, frame: b(1) }] }]);
  s.close();
  s.close();
  refuses(() => s.trim(KEY_A, 1), 'WRITE_FAILED', path);
});

test('a file that is not ours, a newer schema, a directory or a store in use is refused with a typed error', () => {
  const random = fresh();
  writeFileSync(random, Buffer.concat([Buffer.from('hunter2 '), Buffer.alloc(8192, 0x5a)]));
  refuses(() => openRoomStore(random), 'NOT_OURS', random);

  const other = fresh();
  const db = new Database(other);
  db.exec("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('hunter2')");
  db.close();
  refuses(() => openRoomStore(other), 'NOT_OURS', other);

  const newer = fresh();
  openRoomStore(newer).close();
  const raw = new Database(newer);
  raw.pragma('user_version = 2');
  raw.close();
  refuses(() => openRoomStore(newer), 'NEWER_SCHEMA', newer);

  const folder = fresh();
  mkdirSync(folder);
  refuses(() => openRoomStore(folder), 'UNREADABLE', folder);

  const used = fresh();
  const first = openRoomStore(used);
  refuses(() => openRoomStore(used), 'IN_USE', used);
  first.close();
  openRoomStore(used).close();
});

test('the store is created 0600 (its write-ahead log too) in a directory created 0700', () => {
  const path = join(dir, 'data', 'nested', 'rooms.db');
  const s = openRoomStore(path);
  s.createRoom(KEY_A, fill(32, 0xaa));
  assert.equal(statSync(join(dir, 'data')).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'data', 'nested')).mode & 0o777, 0o700);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
  s.close();
});

// The child appends as fast as it can and prints each seq once `append` has returned.
const writer = `
import { openRoomStore } from ${JSON.stringify(new URL('../src/sqliteRoomStore.js', import.meta.url).href)};
import { writeSync } from 'node:fs';
const s = openRoomStore(process.argv[1]);
s.createRoom('${KEY_A}', new Uint8Array(32).fill(0xaa));
const frame = new Uint8Array(1024).fill(7);
for (let seq = 1; ; seq++) {
  s.append('${KEY_A}', { seq, at: Date.now(), frame });
  if (seq % 50 === 0) s.trim('${KEY_A}', seq - 1000);
  writeSync(1, seq + '\\n');
}
`;

test('every append a killed (SIGKILL) writer returned from is in the file when it is reopened', async () => {
  const path = fresh();
  const child = spawn(process.execPath, ['--input-type=module', '-e', writer, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const deadline = Date.now() + 20_000;
  // At least 200 appends (however loaded the machine), then a few hundred ms more of them.
  const lines = () => out.split('\n').length - 1;
  while (lines() < 200 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
  assert.ok(lines() >= 200, `the writer printed ${lines()} lines: ${err}`);
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  const printed = out.split('\n').slice(0, -1).map(Number);
  const last = printed.at(-1)!;
  const [room] = roundTrip(path, () => {});
  assert.ok(room, 'the room survived');
  assert.ok(room.seq >= last, `seq ${room.seq} < ${last}`);
  const logged = new Set(room.log.map((e) => e.seq));
  // Everything printed that the writer had not trimmed itself (it keeps the last 1000 or so).
  for (const seq of printed.filter((q) => q > last - 950)) assert.ok(logged.has(seq), `seq ${seq} was lost`);
  assert.ok(room.log.every((e) => e.frame.length === 1024));
});

test("a commit's GroupInfo and its delivery are one write: both are there after a reopen, and a refused one leaves neither", () => {
  const rooms = roundTrip(fresh(), (s) => {
    s.createRoom(KEY_A, fill(32, 0xaa));
    s.setGroupInfo(KEY_A, b(1), 0);
    s.append(KEY_A, { seq: 1, at: 5, frame: b(9) }, { groupInfo: b(2, 2), epoch: 1 });
    // The room does not exist: NO_SUCH_ROOM, and the GroupInfo written before it in the same call is rolled back.
    assert.throws(
      () => s.append(KEY_B, { seq: 1, at: 5, frame: b(9) }, { groupInfo: b(3), epoch: 1 }),
      (e: unknown) => e instanceof RoomStoreError && e.code === 'NO_SUCH_ROOM',
    );
  });
  assert.equal(rooms.length, 1);
  assert.deepEqual([rooms[0]!.groupInfo, rooms[0]!.epoch, rooms[0]!.log.length], [b(2, 2), 1, 1]);
});
