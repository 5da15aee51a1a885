import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relayLimits } from '../src/serve.js';

test('serve: --max-http-conns-per-ip and --max-http-conns become RelayLimits; bad values are usage errors', () => {
  assert.deepEqual(relayLimits({ host: '127.0.0.1', port: '0', maxHttpConnsPerIp: '16', maxHttpConns: '500' }), {
    maxHttpConnectionsPerAddress: 16,
    maxHttpConnections: 500,
  });
  for (const bad of ['0', '-1', 'many', '1e3']) {
    assert.throws(() => relayLimits({ host: '', port: '', maxHttpConnsPerIp: bad }), /--max-http-conns-per-ip must be a whole number/);
    assert.throws(() => relayLimits({ host: '', port: '', maxHttpConns: bad }), /--max-http-conns must be a whole number/);
  }
});
