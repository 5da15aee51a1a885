/**
 * The per-address caps over several relay nodes (docs/PROTOCOL.md §12): an address that spreads
 * its connections over nodes gets no more connections, frames or commits than it would from one. Needs REDIS_URL
 * (CI sets it); skipped with a notice without it.
 */
import { randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ErrorCodes, SUBPROTOCOL, asEpoch, asReqId, encodeFrame } from '@nullroom/protocol';
import { type Relay, type RelayLimits, startRelay } from '../src/index.js';
import { dropPrefix } from './_redis.js';
import { type RawPeer, connect, locator } from './_raw.js';

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

/** `n` relay nodes on a fresh Redis prefix; after the test, the sockets in `held` are dropped and all of it goes. */
async function cluster(t: TestContext, n: number, limits: Partial<RelayLimits>): Promise<{ nodes: Relay[]; held: WebSocket[] }> {
  const prefix = `nrtest:${randomBytes(6).toString('hex')}:`;
  const nodes = await Promise.all(Array.from({ length: n }, () => startRelay({ port: 0, limits, cluster: { url: REDIS_URL!, prefix } })));
  const held: WebSocket[] = [];
  t.after(async () => {
    for (const ws of held) ws.terminate();
    await Promise.all(nodes.map((r) => r.close()));
    await dropPrefix(REDIS_URL!, prefix);
  });
  return { nodes, held };
}

/** A raw peer on each node, dropped after the test. */
async function peersOn(nodes: Relay[], held: WebSocket[]): Promise<RawPeer[]> {
  const peers: RawPeer[] = [];
  for (const n of nodes) peers.push(await connect(n.url));
  held.push(...peers.map((p) => p.ws));
  return peers;
}

test('connections per address are counted over all nodes', { skip }, async (t) => {
  const { nodes, held } = await cluster(t, 3, { maxConnectionsPerAddress: 4 });
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

/** Answers to `n` SYNCs for a room the peer is not in, one at a time: how many were not RATE_LIMITED. */
async function framesLet(p: RawPeer, n: number): Promise<number> {
  let let_ = 0;
  for (let i = 1; i <= n; i++) {
    p.send(encodeFrame({ type: 'SYNC', reqId: asReqId(i), room: locator(9) }));
    const e = await p.next('ERROR', (f) => f.reqId === i);
    if (e.code !== ErrorCodes.RATE_LIMITED) let_++;
  }
  return let_;
}

test('the frame bucket of an address is shared: two nodes together let it send what one would', { skip }, async (t) => {
  // A slow bucket (1 frame/s after a burst of 40), far under a connection's own rate.
  const { nodes, held } = await cluster(t, 2, { ratePerSecond: 1000, rateBurst: 1000, addressRatePerSecond: 1, addressRateBurst: 40 });
  const peers = await peersOn(nodes, held);
  const started = performance.now();
  const a = await framesLet(peers[0]!, 60);
  const b = await framesLet(peers[1]!, 60);
  const refill = Math.ceil((performance.now() - started) / 1000) + 1;
  // Each node alone would let 40 through (80 together); the nodes lease from one bucket in Redis.
  // At most a lease (a quarter of the burst) may be left unspent on the first node.
  assert.ok(a + b <= 40 + refill, `${a} + ${b} frames let through, over the address's burst`);
  assert.ok(a + b >= 30 - refill, `${a} + ${b}: the leases should cover most of the burst`);
  assert.ok(a >= 20, `the first node let ${a}`);
});

test('the commit bucket of an address is shared, and a commit refused for its epoch costs no token', { skip }, async (t) => {
  const { nodes, held } = await cluster(t, 2, { commitBurst: 10, commitBurstPerAddress: 3, commitIntervalPerAddressMs: 600_000 });
  const peers = await peersOn(nodes, held);
  const room = locator(7);
  const gi = new Uint8Array(16).fill(1);
  for (const p of peers) {
    p.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room }));
    await p.next('JOINED');
  }
  peers[0]!.send(encodeFrame({ type: 'CREATE', reqId: asReqId(2), room, groupInfo: gi }));
  await peers[0]!.next('ACK');
  let epoch = 0;
  const commit = async (p: RawPeer, at: number, reqId: number) => {
    p.send(encodeFrame({ type: 'COMMIT', reqId: asReqId(reqId), room, epoch: asEpoch(at), commit: gi, groupInfo: gi }));
    const answer = await Promise.race([p.next('ACK', (f) => f.reqId === reqId), p.next('ERROR', (f) => f.reqId === reqId)]);
    return answer.type === 'ACK' ? 'OK' : answer.code;
  };
  assert.equal(await commit(peers[0]!, epoch++, 10), 'OK');
  assert.equal(await commit(peers[1]!, 0, 11), ErrorCodes.STALE_EPOCH, 'a lost race costs nothing');
  assert.equal(await commit(peers[1]!, epoch++, 12), 'OK');
  assert.equal(await commit(peers[0]!, epoch++, 13), 'OK');
  assert.equal(await commit(peers[1]!, epoch, 14), ErrorCodes.RATE_LIMITED, 'the fourth, on the other node, is over the address');
  assert.equal(await commit(peers[0]!, epoch, 15), ErrorCodes.RATE_LIMITED);
});
