/**
 * What the accounts keep outside their store (accounts/accountShared.ts), shared by relay nodes
 * through Redis (docs/PROTOCOL.md §12): opened by a relay given both `accounts` and `cluster`.
 */
import type { RelayLogger } from '../logger.js';
import type { AccountShared } from '../accounts/accountShared.js';
import { RedisAccountBus } from './accountBus.js';
import { RedisAccountTickets } from './accountBlobTickets.js';
import { RedisChallenges, RedisRequests } from './accountDevices.js';
import { RedisBuckets, RedisPendingLogins } from './accountGate.js';
import { AccountKeys, AccountRedis, type AccountRedisOptions } from './accountRedis.js';

export interface RedisAccountOptions extends AccountRedisOptions {
  /** The service's OPAQUE server setup: the keys of what Redis holds are derived from it. */
  readonly opaqueSetup: string;
  /** A node's heartbeat (default 10 s): how long a dead node's users still look online. */
  readonly heartbeatMs?: number;
  readonly log?: RelayLogger;
}

export async function openRedisAccountShared(opts: RedisAccountOptions): Promise<AccountShared> {
  const redis = await AccountRedis.open(opts);
  const keys = new AccountKeys(opts.opaqueSetup);
  const bus = new RedisAccountBus(redis, {
    ...(opts.heartbeatMs === undefined ? {} : { heartbeatMs: opts.heartbeatMs }),
    ...(opts.log === undefined ? {} : { log: opts.log }),
  });
  return {
    buckets: new RedisBuckets(redis, keys),
    logins: new RedisPendingLogins(redis, keys),
    challenges: new RedisChallenges(redis, keys),
    requests: new RedisRequests(redis, keys),
    tickets: new RedisAccountTickets(redis, keys),
    bus,
    close: async () => {
      await bus.stop();
      bus.close();
    },
  };
}
