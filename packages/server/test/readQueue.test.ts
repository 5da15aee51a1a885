/**
 * readQueue.ts gives back the storage of `ws`'s queue of chunks read once it is empty (an idle
 * connection's, after its pong): a queue still holding part of a frame is left alone, a socket
 * reads on as before, and a `ws` without these internals is left as it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { releaseReadQueue } from '../src/readQueue.js';

const fake = (buffers: unknown) => ({ _receiver: { _buffers: buffers } }) as unknown as WebSocket;

test('only an empty queue is touched; a ws without these internals is left as it is', () => {
  const partial = [Buffer.from([0x82])];
  releaseReadQueue(fake(partial));
  assert.deepEqual(partial, [Buffer.from([0x82])]);
  const empty: Buffer[] = [];
  releaseReadQueue(fake(empty));
  assert.equal(empty.length, 0);
  empty.push(Buffer.from([1]));
  assert.equal(empty.length, 1, 'the queue grows again on the next read');
  for (const ws of [{}, { _receiver: null }, fake(undefined), fake('x')]) releaseReadQueue(ws as WebSocket);
});

test('a socket whose queue was given back reads messages and pongs as before', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const accepted = once(wss, 'connection');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
  const [server] = (await accepted) as [WebSocket];
  await once(client, 'open');
  const got: string[] = [];
  server.on('message', (d) => {
    got.push(String(d));
    releaseReadQueue(server);
  });
  server.on('pong', (d) => {
    got.push(`pong ${String(d)}`);
    releaseReadQueue(server);
  });
  for (let i = 0; i < 3; i++) {
    client.send(`m${i}`.repeat(1000));
    client.pong(`p${i}`);
  }
  while (got.length < 6) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(
    got,
    [0, 1, 2].flatMap((i) => [`m${i}`.repeat(1000), `pong p${i}`]),
  );
  client.close();
  await once(server, 'close');
  wss.close();
});
