/**
 * The room contract (roomService.contract.ts) against both room services: one relay's rooms in
 * process, and three relay nodes sharing their rooms through Redis (REDIS_URL; without it the
 * cluster half is skipped with a notice), each run on its own key prefix.
 */
import { randomBytes } from 'node:crypto';
import { startRelay } from '../src/index.js';
import { dropPrefix } from './_redis.js';
import { roomServiceContract } from './roomService.contract.js';

const REDIS_URL = process.env.REDIS_URL;

roomServiceContract('in process', async (limits) => {
  const relay = await startRelay({ port: 0, limits });
  return { url: () => relay.url, close: () => relay.close() };
});

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
