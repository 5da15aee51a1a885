/**
 * writeDurably (src/node/durableWrite.ts), the one write of the terminal's sealed stores: the new
 * content replaces the old whole, the file is 0600, and no temporary file stays behind, whether the
 * write succeeded or failed at the rename.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeDurably } from '../src/node/durableWrite.js';
import { scratch } from './_accountsRelay.js';

const dir = scratch('durable-write');

test('writeDurably replaces the content whole, 0600, and leaves no temporary file', async () => {
  const file = join(dir, 'state');
  await writeDurably(file, new TextEncoder().encode('old'));
  await writeDurably(file, new TextEncoder().encode('new content'));
  assert.equal(readFileSync(file, 'utf8'), 'new content');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir).sort(), ['state']);
});

test('a write whose rename fails throws and removes its temporary file', async () => {
  const sub = join(dir, 'failing');
  mkdirSync(join(sub, 'target'), { recursive: true });
  mkdirSync(join(sub, 'target', 'inside'));
  await assert.rejects(writeDurably(join(sub, 'target'), new Uint8Array([1, 2, 3])));
  assert.deepEqual(readdirSync(sub), ['target']);
});
