/**
 * src/sqliteFile.ts's versions: a new file runs every step; a file written by an older relay runs
 * only the steps it lacks, each in its own transaction, and keeps its rows; a step that fails
 * leaves the file at the last version that succeeded, readable by the relay that wrote it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteFile, type SqliteFileSpec } from '../src/sqliteFile.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-sqlitefile-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const APP = 0x4e525465;
const V1 = 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);';
const V2 = 'ALTER TABLE notes ADD COLUMN size INTEGER NOT NULL DEFAULT 0;';
const V3 = 'CREATE TABLE tags (note INTEGER NOT NULL REFERENCES notes (id), tag TEXT NOT NULL);';
const fail = (problem: string, detail: string | undefined) => new Error(`${problem} ${detail ?? ''}`);
const open = (path: string, migrations: string[]) =>
  openSqliteFile(path, { applicationId: APP, migrations } satisfies SqliteFileSpec, fail);

test('an older file runs only the steps it lacks and keeps its rows; a new one runs them all', () => {
  const path = join(dir, 'older.db');
  const v1 = open(path, [V1]);
  v1.prepare("INSERT INTO notes (text) VALUES ('kept')").run();
  assert.equal(v1.pragma('user_version', { simple: true }), 1);
  v1.close();

  const v3 = open(path, [V1, V2, V3]);
  assert.equal(v3.pragma('user_version', { simple: true }), 3);
  assert.deepEqual(v3.prepare('SELECT text, size FROM notes').all(), [{ text: 'kept', size: 0 }]);
  v3.prepare('INSERT INTO tags (note, tag) VALUES (1, ?)').run('t');
  v3.close();

  const fresh = open(join(dir, 'fresh.db'), [V1, V2, V3]);
  assert.equal(fresh.pragma('user_version', { simple: true }), 3);
  assert.equal(fresh.pragma('application_id', { simple: true }), APP);
  fresh.close();
});

test('a step that fails leaves the file at the version before it, and the older relay still opens it', () => {
  const path = join(dir, 'broken.db');
  open(path, [V1]).close();
  assert.throws(() => open(path, [V1, V2, 'CREATE TABLE notes (x INTEGER);']), /UNREADABLE/);
  const again = open(path, [V1, V2]);
  assert.equal(again.pragma('user_version', { simple: true }), 2);
  again.close();
  assert.throws(() => open(path, [V1]), /NEWER_SCHEMA/);
});
