/**
 * The relay's room store on disk (`rooms.db` in the data directory; docs/PROTOCOL.md §4.5 "Relay
 * restarts", docs/SECURITY.md §12): the `RoomStore` of roomStore.ts in one SQLite file, through
 * better-sqlite3, whose calls are synchronous as the interface requires.
 *
 * Durability: WAL journal with `synchronous = NORMAL`. Every method is one transaction, and a
 * committed transaction is in the WAL file (the operating system's cache) when the method returns,
 * so a crash or `kill -9` of the relay right after loses nothing. It does not wait for fsync: a
 * power loss or kernel crash may lose the last writes (never corrupt the file), which costs members
 * their resumption, not their security. That is what we promise, and it keeps appends fast.
 *
 * The file is ours or refused: SQLite's `application_id` marks it, `user_version` is the schema's
 * version; anything else is a `RoomStoreError` whose message names the path, never the contents.
 * Deleted rows are zeroed in the file (`secure_delete`), so a copy of it holds what the relay still
 * keeps; older page images may remain in the WAL file until it is reused (docs/SECURITY.md §12).
 * It is created 0600 (and its directory 0700), and held with an exclusive lock while open, so two
 * relays cannot share one data directory's rooms.
 */
import type Database from 'better-sqlite3';
import { RoomStoreError } from './errors.js';
import { bytes, openSqliteFile, sqliteCode, type SqliteFileSpec } from './sqliteFile.js';
import type { StoredCommit, RoomStore, StoredDirect, StoredEntry, StoredRoom, StoredSlot } from './roomStore.js';

/** "NRrm": SQLite's `PRAGMA application_id` of a Nullroom room store. */
export const ROOM_STORE_APPLICATION_ID = 0x4e52726d;

// Rooms get a small integer id, so that each log row carries 8 bytes rather than the 64-character key.
const SCHEMA = `
CREATE TABLE rooms (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  locator BLOB NOT NULL,
  epoch INTEGER NOT NULL DEFAULT 0,
  seq INTEGER NOT NULL DEFAULT 0,
  next_slot INTEGER NOT NULL DEFAULT 1,
  group_info BLOB
);
CREATE TABLE slots (
  room INTEGER NOT NULL,
  slot INTEGER NOT NULL,
  token_hash BLOB NOT NULL,
  PRIMARY KEY (room, slot)
) WITHOUT ROWID;
CREATE TABLE log (
  room INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  frame BLOB NOT NULL,
  PRIMARY KEY (room, seq)
);
CREATE TABLE directs (
  id INTEGER PRIMARY KEY,
  room INTEGER NOT NULL,
  slot INTEGER NOT NULL,
  after_seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  frame BLOB NOT NULL
);
CREATE INDEX directs_by_slot ON directs (room, slot);
`;

const ROOM_STORE_FILE: SqliteFileSpec = {
  applicationId: ROOM_STORE_APPLICATION_ID,
  migrations: [SCHEMA],
};

const ROOM = '(SELECT id FROM rooms WHERE key = ?)';

interface RoomRow {
  id: number;
  key: string;
  locator: Buffer;
  epoch: number;
  seq: number;
  next_slot: number;
  group_info: Buffer | null;
}
interface SlotRow {
  slot: number;
  token_hash: Buffer;
}
interface LogRow {
  seq: number;
  at: number;
  frame: Buffer;
}
interface DirectRow {
  slot: number;
  after_seq: number;
  at: number;
  frame: Buffer;
}

/** Every prepared statement the store runs, compiled once when it opens. */
function statements(db: Database.Database) {
  const s = (sql: string) => db.prepare(sql);
  return {
    rooms: s('SELECT id, key, locator, epoch, seq, next_slot, group_info FROM rooms ORDER BY id'),
    slotsOf: s('SELECT slot, token_hash FROM slots WHERE room = ? ORDER BY slot'),
    logOf: s('SELECT seq, at, frame FROM log WHERE room = ? ORDER BY seq'),
    directsOf: s('SELECT slot, after_seq, at, frame FROM directs WHERE room = ? ORDER BY id'),
    insertRoom: s('INSERT INTO rooms (key, locator) VALUES (?, ?)'),
    deleteRoom: s('DELETE FROM rooms WHERE key = ?'),
    deleteSlots: s(`DELETE FROM slots WHERE room = ${ROOM}`),
    deleteLog: s(`DELETE FROM log WHERE room = ${ROOM}`),
    deleteDirects: s(`DELETE FROM directs WHERE room = ${ROOM}`),
    putSlot: s(`INSERT OR REPLACE INTO slots (room, slot, token_hash) VALUES (${ROOM}, ?, ?)`),
    setNextSlot: s('UPDATE rooms SET next_slot = ? WHERE key = ?'),
    removeSlot: s(`DELETE FROM slots WHERE room = ${ROOM} AND slot = ?`),
    setGroupInfo: s('UPDATE rooms SET group_info = ?, epoch = ? WHERE key = ?'),
    append: s('INSERT INTO log (room, seq, at, frame) SELECT id, ?, ?, ? FROM rooms WHERE key = ?'),
    // The room's seq is its last logged entry's; rooms.seq keeps it only once trim drops that entry.
    keepSeq: s('UPDATE rooms SET seq = max(seq, coalesce((SELECT max(seq) FROM log WHERE room = rooms.id AND seq <= ?), 0)) WHERE key = ?'),
    trim: s(`DELETE FROM log WHERE room = ${ROOM} AND seq <= ?`),
    hold: s('INSERT INTO directs (room, slot, after_seq, at, frame) SELECT id, ?, ?, ?, ? FROM rooms WHERE key = ?'),
    release: s(`DELETE FROM directs WHERE room = ${ROOM} AND slot = ?`),
  };
}

/**
 * Opens (creating it if missing) the room store at `path`. Throws a RoomStoreError: NOT_OURS,
 * NEWER_SCHEMA, UNREADABLE or IN_USE. Its methods throw RoomStoreError WRITE_FAILED when SQLite
 * fails (`load`: UNREADABLE), NO_SUCH_ROOM for a room never created; a failed method changed nothing.
 */
export function openRoomStore(path: string): RoomStore {
  const db = openSqliteFile(path, ROOM_STORE_FILE, (code, detail) => new RoomStoreError(code, path, detail));
  const st = statements(db);
  /** One method: one transaction, its failure a RoomStoreError. */
  const write = <A extends unknown[]>(fn: (...a: A) => void): ((...a: A) => void) => {
    const tx = db.transaction(fn);
    return (...a: A) => {
      try {
        tx(...a);
      } catch (e) {
        throw e instanceof RoomStoreError ? e : new RoomStoreError('WRITE_FAILED', path, sqliteCode(e));
      }
    };
  };
  /** A change that must find its room: a write that matched no room means the relay's rooms and ours differ. */
  const changedOne = (r: Database.RunResult) => {
    if (r.changes !== 1) throw new RoomStoreError('NO_SUCH_ROOM', path);
  };
  const dropRoom = (key: string) => {
    st.deleteSlots.run(key);
    st.deleteLog.run(key);
    st.deleteDirects.run(key);
    st.deleteRoom.run(key);
  };
  return {
    load: () => {
      try {
        return db.transaction(() => loadAll(st))();
      } catch (e) {
        throw new RoomStoreError('UNREADABLE', path, sqliteCode(e));
      }
    },
    // A record left under the same key is stale (the relay makes a room only where none is): replace it.
    createRoom: write((key: string, locator: Uint8Array) => {
      dropRoom(key);
      st.insertRoom.run(key, locator);
    }),
    addSlot: write((key: string, slot: number, tokenHash: Uint8Array, nextSlot: number) => {
      changedOne(st.setNextSlot.run(nextSlot, key));
      st.putSlot.run(key, slot, tokenHash);
    }),
    removeSlot: write((key: string, slot: number) => {
      st.removeSlot.run(key, slot);
      st.release.run(key, slot);
    }),
    setGroupInfo: write((key: string, groupInfo: Uint8Array, epoch: number) => {
      changedOne(st.setGroupInfo.run(groupInfo, epoch, key));
    }),
    append: write((key: string, e: StoredEntry, commit?: StoredCommit) => {
      if (commit !== undefined) changedOne(st.setGroupInfo.run(commit.groupInfo, commit.epoch, key));
      changedOne(st.append.run(e.seq, e.at, e.frame, key));
    }),
    trim: write((key: string, upTo: number) => {
      st.keepSeq.run(upTo, key);
      st.trim.run(key, upTo);
    }),
    holdDirect: write((key: string, d: StoredDirect) => {
      changedOne(st.hold.run(d.slot, d.afterSeq, d.at, d.frame, key));
    }),
    releaseDirects: write((key: string, slot: number) => {
      st.release.run(key, slot);
    }),
    deleteRoom: write(dropRoom),
    close: () => {
      if (db.open) db.close();
    },
  };
}

/** Every room, with its slots, log and held frames, in the orders StoredRoom promises. */
function loadAll(st: ReturnType<typeof statements>): StoredRoom[] {
  return (st.rooms.all() as RoomRow[]).map((r) => {
    const log = (st.logOf.all(r.id) as LogRow[]).map((l): StoredEntry => ({ seq: l.seq, at: l.at, frame: bytes(l.frame) }));
    return {
      key: r.key,
      locator: bytes(r.locator),
      epoch: r.epoch,
      seq: Math.max(r.seq, log.at(-1)?.seq ?? 0),
      nextSlot: r.next_slot,
      groupInfo: r.group_info === null ? undefined : bytes(r.group_info),
      slots: (st.slotsOf.all(r.id) as SlotRow[]).map((s): StoredSlot => ({ slot: s.slot, tokenHash: bytes(s.token_hash) })),
      log,
      directs: (st.directsOf.all(r.id) as DirectRow[]).map(
        (d): StoredDirect => ({ slot: d.slot, afterSeq: d.after_seq, at: d.at, frame: bytes(d.frame) }),
      ),
    };
  });
}
