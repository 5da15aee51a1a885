/**
 * The memory-pinning attack of issue 11 (point 3) against a real relay process, as
 * bench/attack-memory.mjs runs it: 60 connections JOIN a room whose GroupInfo is ~2 MiB, send 4
 * SYNC each and never read, while an honest pair chats in another room. Before this change the
 * relay's RSS grew by ~426 MiB (one GroupInfo copy per answer); now the READY frame is one shared
 * buffer and SYNCs coalesce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../../../bench/attack-memory.mjs', import.meta.url));

test('60 non-reading JOIN+SYNC connections on a 2 MiB GroupInfo: relay RSS grows by less than 32 MiB, and an honest room keeps chatting', () => {
  const r = spawnSync(process.execPath, [script, '--conns', '60', '--syncs', '4'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    refused: number;
    growthMiB: number;
    honestChat: { delivered: number; of: number };
  };
  assert.equal(res.refused, 0);
  assert.ok(res.growthMiB < 32, `RSS grew by ${res.growthMiB} MiB`);
  assert.equal(res.honestChat.delivered, res.honestChat.of);
});

test('the same attackers sending unsolicited pongs are still dropped: none is connected three ping intervals later', () => {
  const r = spawnSync(process.execPath, [script, '--conns', '30', '--syncs', '2', '--pong'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { held: { connections: number }; growthMiB: number };
  // The creator and the honest pair are the only connections left.
  assert.equal(res.held.connections, 3);
  assert.ok(res.growthMiB < 32, `RSS grew by ${res.growthMiB} MiB`);
});
