/**
 * The accounts' shared state (src/accounts/accountShared.ts) held to one contract
 * (accountShared.contract.ts) in one relay's memory and in Redis shared by two nodes (REDIS_URL;
 * without it the Redis half is skipped with a notice), each Redis run on its own key prefix. And
 * what only Redis has: a node killed without a word (its heartbeat ends) takes its users' presence
 * with it, and a node whose heartbeat lapsed puts its channels back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { localShared } from '../src/accounts/localShared.js';
import { openRedisAccountShared } from '../src/cluster/accountShared.js';
import type { BusEvent } from '../src/accounts/accountShared.js';
import { accountSharedContract } from './accountShared.contract.js';
import { dropPrefix } from './_redis.js';

const REDIS_URL = process.env.REDIS_URL;
const redisSkip = REDIS_URL === undefined ? 'REDIS_URL is not set: the Redis half needs a Redis (CI sets it)' : undefined;
if (redisSkip !== undefined) console.log(`# NOTICE: ${redisSkip}`);
const SETUP = randomBytes(32).toString('base64url');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const id = () => randomBytes(16).toString('base64url');

accountSharedContract('in process', async () => {
  const one = localShared();
  return { a: one, b: one, close: () => one.close() };
});

const newPrefix = () => `nrtest:${randomBytes(6).toString('hex')}:`;
const node = (prefix: string, heartbeatMs = 10_000) => openRedisAccountShared({ url: REDIS_URL!, prefix, opaqueSetup: SETUP, heartbeatMs });

accountSharedContract(
  'two nodes on Redis',
  async () => {
    const prefix = newPrefix();
    const [a, b] = await Promise.all([node(prefix), node(prefix)]);
    return {
      a,
      b,
      close: async () => {
        await Promise.all([a.close(), b.close()]);
        await dropPrefix(REDIS_URL!, prefix);
      },
    };
  },
  redisSkip,
);

test('Redis: a node killed without a word (kill -9) goes stale: its users go offline for their contacts', {
  skip: redisSkip,
}, async (t) => {
  const prefix = newPrefix();
  const survivor = await node(prefix, 300);
  const doomed = await node(prefix, 300);
  t.after(async () => {
    await survivor.close();
    await dropPrefix(REDIS_URL!, prefix);
  });
  const seen: BusEvent[] = [];
  survivor.bus.listen((e) => seen.push(e));
  const [user, device] = [id(), id()];
  await doomed.bus.up(user, device);
  await doomed.bus.announce(user, ['c1'], 'alice');
  assert.deepEqual(await survivor.bus.online([user]), new Set([user]));
  // As kill -9 leaves it: the connections drop, no last sweep, no DOWN.
  doomed.bus.close();
  for (const end = Date.now() + 5000; !seen.some((e) => e.type === 'recheck' && e.user === user); await sleep(20)) {
    assert.ok(Date.now() < end, 'the survivor found the user to announce again');
  }
  assert.deepEqual(await survivor.bus.online([user]), new Set(), 'offline once the heartbeat ended');
  // Announcing (what the hub does on recheck) tells the contacts, once, that it went.
  await survivor.bus.announce(user, ['c1'], 'alice');
  await survivor.bus.announce(user, ['c1'], 'alice');
  for (const end = Date.now() + 3000; seen.filter((e) => e.type === 'presence').length < 2; await sleep(20)) assert.ok(Date.now() < end);
  await sleep(50);
  const told = seen.filter((e): e is Extract<BusEvent, { type: 'presence' }> => e.type === 'presence');
  assert.deepEqual(
    told.map((e) => [e.user, e.online, e.to]),
    [
      [user, true, ['c1']],
      [user, false, ['c1']],
    ],
  );
});

test('Redis: a node whose heartbeat lapsed (paused, cut off) puts its channels back', { skip: redisSkip }, async (t) => {
  const prefix = newPrefix();
  const a = await node(prefix, 300);
  const b = await node(prefix, 300);
  t.after(async () => {
    await Promise.all([a.close(), b.close()]);
    await dropPrefix(REDIS_URL!, prefix);
  });
  const user = id();
  await a.bus.up(user, id());
  // As another node's sweep leaves a node paused past its heartbeat: heartbeat gone, its channels taken away.
  const r = new Redis(REDIS_URL!);
  t.after(() => r.disconnect());
  const node0 = (a.bus as unknown as { node: string }).node;
  await r.multi().del(`${prefix}a:hb:${node0}`).hdel(`${prefix}a:on:${user}`, node0).del(`${prefix}a:n:${node0}`).exec();
  assert.deepEqual(await b.bus.online([user]), new Set());
  for (const end = Date.now() + 5000; (await b.bus.online([user])).size === 0; await sleep(20)) assert.ok(Date.now() < end, 'online again');
});
