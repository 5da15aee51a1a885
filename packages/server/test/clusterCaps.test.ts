/**
 * The per-address WebSocket cap over several relay nodes (docs/PROTOCOL.md §12): an address that
 * spreads its connections over three nodes gets no more than it would from one. Needs REDIS_URL
 * (CI sets it); skipped with a notice without it.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { SUBPROTOCOL } from '@nullroom/protocol';
import { startRelay } from '../src/index.js';
import { dropPrefix } from './_redis.js';

const REDIS_URL = process.env.REDIS_URL;
const skip = REDIS_URL === undefined ? 'REDIS_URL is not set: the cluster test needs a Redis (CI sets it)' : undefined;

/** Opens /ws; resolves with the socket, or with the refusal's status. */
function open(url: string): Promise<WebSocket | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, SUBPROTOCOL);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(0));
  });
}

test('connections per address are counted over all nodes', { skip }, async (t) => {
  const prefix = `nrtest:${randomBytes(6).toString('hex')}:`;
  const limits = { maxConnectionsPerAddress: 4 };
  const nodes = await Promise.all([0, 1, 2].map(() => startRelay({ port: 0, limits, cluster: { url: REDIS_URL!, prefix } })));
  const held: WebSocket[] = [];
  t.after(async () => {
    for (const ws of held) ws.terminate();
    await Promise.all(nodes.map((n) => n.close()));
    await dropPrefix(REDIS_URL!, prefix);
  });
  for (const n of [nodes[0]!, nodes[0]!, nodes[1]!, nodes[1]!]) {
    const ws = await open(n.url);
    assert.ok(ws instanceof WebSocket, 'under the cap');
    held.push(ws);
  }
  assert.equal(await open(nodes[2]!.url), 503, 'the fifth, on a third node, is refused');
  const closed = new Promise((res) => held[0]!.once('close', res));
  held.shift()!.close();
  await closed;
  let again: WebSocket | number = 0;
  for (let i = 0; i < 50 && !(again instanceof WebSocket); i++) {
    again = await open(nodes[2]!.url);
    if (!(again instanceof WebSocket)) await new Promise((res) => setTimeout(res, 20));
  }
  assert.ok(again instanceof WebSocket, 'a place freed on one node is taken on another');
  held.push(again);
});
