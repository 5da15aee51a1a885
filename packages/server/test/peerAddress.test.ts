/**
 * forgetPeerAddress (address.ts): the peer address Node cached on a socket when the caps read it is
 * let go (a WebSocket would hold it for its whole life), and reading it again still answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Socket, connect, createServer } from 'node:net';
import { forgetPeerAddress } from '../src/address.js';

test('the cached peer address is dropped; remoteAddress and remotePort still answer', async () => {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const client = connect(port, '127.0.0.1');
  const socket = await accepted;
  const cache = socket as unknown as { _peername?: unknown };
  const before = { address: socket.remoteAddress, port: socket.remotePort };
  assert.equal(before.address, '127.0.0.1');
  assert.notEqual(cache._peername, undefined, 'Node caches the peer address once read');
  forgetPeerAddress(socket);
  assert.equal(cache._peername, undefined);
  assert.ok(Object.hasOwn(cache, '_peername'), 'set to undefined, not deleted');
  assert.deepEqual({ address: socket.remoteAddress, port: socket.remotePort }, before);
  forgetPeerAddress({}); // nothing cached: nothing to do
  client.destroy();
  socket.destroy();
  await new Promise((r) => server.close(r));
});
