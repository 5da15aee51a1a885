/** The relay's HTTP server: a handler that fails answers 500 and the server keeps serving. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { HttpConnections, createRelayServer } from '../src/httpServer.js';
import { defaultRelayLimits } from '../src/limits.js';

test('a request handler that rejects or throws is answered 500, and the next request is served', async (t) => {
  let calls = 0;
  const server = createRelayServer({
    limits: defaultRelayLimits,
    tls: undefined,
    connections: new HttpConnections(defaultRelayLimits, false, undefined),
    handler: async (req, res) => {
      calls++;
      if (req.url === '/reject') throw new Error('handler bug');
      if (req.url === '/late') {
        res.writeHead(200, { 'Content-Length': '10' });
        res.write('12345');
        throw new Error('handler bug after its head');
      }
      res.end('ok');
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const failed = await fetch(`${base}/reject`);
  assert.equal(failed.status, 500);
  assert.equal(await failed.text(), 'internal error\n');
  // A head already sent: the connection is cut, so the client never reads a whole 200.
  await assert.rejects(fetch(`${base}/late`).then((r) => r.text()));
  const fine = await fetch(`${base}/`);
  assert.equal(await fine.text(), 'ok');
  assert.equal(calls, 3);
});
