#!/usr/bin/env node
// The server under test for bench/fanout.mjs, in its own process: `relay` (ours) or `ws` (a minimal
// broadcast server on the same library: every message goes to every other client, plus a 1-byte
// ack to the sender, as our relay ACKs). Prints its port, then serves until killed.
import { WebSocketServer } from 'ws';
import { startRelay } from '../packages/server/dist/src/index.js';

const mode = process.argv[2];
// Exit normally on a signal, so that `node --cpu-prof` can write its profile.
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(0));
if (mode === 'relay') {
  // Rate limiting is raised for the benchmark (one sender far above 100 frames/s); everything else is default.
  const relay = await startRelay({ port: 0, limits: { ratePerSecond: 1e9, rateBurst: 1e9, maxBufferedBytes: 64 * 1024 * 1024 } });
  process.stdout.write(`${relay.port}\n`);
} else if (mode === 'ws') {
  const ack = Buffer.from([1]);
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      for (const c of wss.clients) if (c !== ws) c.send(data, { binary: isBinary });
      ws.send(ack);
    });
  });
  wss.on('listening', () => process.stdout.write(`${wss.address().port}\n`));
} else {
  process.stderr.write('usage: fanout-server.mjs relay|ws\n');
  process.exit(2);
}
