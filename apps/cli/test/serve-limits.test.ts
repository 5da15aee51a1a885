import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultRelayLimits } from '@nullroom/server';
import { clusterOptions, relayLimits } from '../src/serve.js';

test('serve: budget and per-address flags become RelayLimits; bad values are usage errors', () => {
  assert.deepEqual(relayLimits({ host: '127.0.0.1', port: '0' }), {});
  assert.deepEqual(
    relayLimits({
      host: '127.0.0.1',
      port: '0',
      maxOutput: '64M',
      maxGroupInfo: '16M',
      maxConnsPerIp: '10',
      maxRoomsPerIp: '20',
      newRoomsPerMinute: '6',
    }),
    {
      maxOutputBytes: 64 * 2 ** 20,
      maxGroupInfoBytes: 16 * 2 ** 20,
      maxGroupInfoBytesPerAddress: 16 * 2 ** 20,
      maxConnectionsPerAddress: 10,
      maxRoomsPerAddress: 20,
      newRoomIntervalMs: 10_000,
    },
  );
  assert.equal(
    relayLimits({ host: '', port: '', maxGroupInfo: '1G' }).maxGroupInfoBytesPerAddress,
    defaultRelayLimits.maxGroupInfoBytesPerAddress,
  );
  for (const bad of [{ maxOutput: 'lots' }, { maxConnsPerIp: '0' }, { maxRoomsPerIp: '-1' }, { newRoomsPerMinute: '1.5' }]) {
    assert.throws(
      () => relayLimits({ host: '', port: '', ...bad }),
      (e: Error & { exitCode?: number }) => /must be/.test(e.message),
      JSON.stringify(bad),
    );
  }
});

test('serve: --redis-url, --cluster-prefix and --advertise-url become the cluster options', () => {
  assert.equal(clusterOptions({ host: '', port: '' }), undefined);
  assert.deepEqual(
    clusterOptions({ host: '', port: '', redisUrl: 'redis://r:6379', clusterPrefix: 'a:', advertiseUrl: 'https://node-b.internal:8443' }),
    { url: 'redis://r:6379', prefix: 'a:', advertiseUrl: 'https://node-b.internal:8443' },
  );
  assert.deepEqual(clusterOptions({ host: '', port: '', redisUrl: 'redis://r:6379' }), { url: 'redis://r:6379' });
});
