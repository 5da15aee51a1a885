/**
 * The room contract (roomService.contract.ts) against both room services: one relay's rooms in
 * process, and three relay nodes sharing their rooms through Redis (REDIS_URL; without it the
 * cluster half is skipped with a notice), each run on its own key prefix.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startRelay } from '../src/index.js';
import { roomServiceContract } from './roomService.contract.js';

const REDIS_URL = process.env.REDIS_URL;

roomServiceContract('in process', async (limits) => {
  const relay = await startRelay({ port: 0, limits });
  return { url: () => relay.url, close: () => relay.close() };
});

/** Deletes every key under the prefix (a test's own). */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true });
  await r.connect();
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await r.del(...keys);
  } while (cursor !== '0');
  r.disconnect();
}

roomServiceContract(
  'three nodes on Redis',
  async (limits) => {
    const prefix = `nrtest:${randomBytes(6).toString('hex')}:`;
    const relays = await Promise.all([0, 1, 2].map(() => startRelay({ port: 0, limits, cluster: { url: REDIS_URL!, prefix } })));
    return {
      url: (i) => relays[i % relays.length]!.url,
      close: async () => {
        await Promise.all(relays.map((r) => r.close()));
        await dropPrefix(REDIS_URL!, prefix);
      },
    };
  },
  REDIS_URL === undefined ? 'REDIS_URL is not set: the cluster contract needs a Redis (CI sets it)' : undefined,
);
