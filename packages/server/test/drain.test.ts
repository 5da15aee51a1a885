/**
 * A relay that stops (SIGTERM in `nullroom serve`) tells its WebSockets to go at once and lets a
 * file upload in flight finish within its drain time (RelayOptions.drainMs).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../src/index.js';
import { locator, ticketed } from './_raw.js';

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

test('closing: WebSockets go at once (1001), an upload in flight finishes', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'nullroom-drain-')), 'store');
  const r = await startRelay({ port: 0, blobs: { dir }, drainMs: 5000 });
  const { peer, ticket } = await ticketed(r.url, locator(9));
  const body = randomBytes(64 * 1024);
  const put = request(`${r.url}/blobs/${randomBytes(16).toString('base64url')}/0`, {
    method: 'PUT',
    headers: {
      'content-length': String(body.length),
      'x-nullroom-blob-token': randomBytes(32).toString('base64url'),
      'x-nullroom-blob-ticket': ticket,
    },
  });
  const answered = new Promise<number>((res, rej) => {
    put.once('response', (resp) => res(resp.statusCode ?? 0));
    put.once('error', rej);
  });
  put.write(body.subarray(0, 32 * 1024));
  await sleep(100);
  const closing = r.close();
  assert.equal(await peer.closed, 1001, 'the WebSocket is told to go at once');
  await sleep(1500); // longer than a relay without drain time waited (1 s)
  put.end(body.subarray(32 * 1024));
  assert.equal(await answered, 204, 'the upload in flight was stored');
  await closing;
});
