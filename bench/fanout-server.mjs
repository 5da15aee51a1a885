#!/usr/bin/env node
// The server under test for bench/fanout.mjs, in its own process: `relay` (ours), `ws` (a naive
// broadcast server on the same library: every message goes to every other client, plus a 1-byte
// ack to the sender, as our relay ACKs) or `corked` (the same broadcast, but each recipient's socket
// is corked on its first frame of the event-loop turn and uncorked once the turn's work is done, as
// our relay batches its output: the ceiling for what the relay's own work can cost). Prints its
// port, then serves until killed.
import { WebSocketServer } from 'ws';
import { startRelay } from '../packages/server/dist/src/index.js';

const mode = process.argv[2];
// Exit normally on a signal, so that `node --cpu-prof` can write its profile.
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(0));

/** The naive broadcast: ws.send per recipient, each its own write. */
function naive(wss, ack) {
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      for (const c of wss.clients) if (c !== ws) c.send(data, { binary: isBinary });
      ws.send(ack);
    });
  });
}

/** The corked broadcast: one writev per recipient per turn of the event loop. */
function corked(wss, ack) {
  const peers = new Set();
  let batch = [];
  const uncorkAll = () => {
    const b = batch;
    batch = [];
    for (const p of b) {
      p.corked = false;
      p.socket.uncork();
    }
  };
  // No options object per send: a Buffer goes out as a binary message (the relay only takes binary
  // frames), and `ws` would spread the options into a new object for every recipient.
  const send = (p, data) => {
    if (!p.corked) {
      p.corked = true;
      p.socket.cork();
      if (batch.push(p) === 1) process.nextTick(uncorkAll);
    }
    p.ws.send(data);
  };
  wss.on('connection', (ws, req) => {
    const me = { ws, socket: req.socket, corked: false };
    peers.add(me);
    ws.on('close', () => peers.delete(me));
    ws.on('message', (data) => {
      for (const p of peers) if (p !== me) send(p, data);
      send(me, ack);
    });
  });
}

if (mode === 'relay') {
  // Rate limiting is raised for the benchmark (one sender far above 100 frames/s); everything else is default.
  const relay = await startRelay({ port: 0, limits: { ratePerSecond: 1e9, rateBurst: 1e9, maxBufferedBytes: 64 * 1024 * 1024 } });
  process.stdout.write(`${relay.port}\n`);
} else if (mode === 'ws' || mode === 'corked') {
  const ack = Buffer.from([1]);
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  (mode === 'ws' ? naive : corked)(wss, ack);
  wss.on('listening', () => process.stdout.write(`${wss.address().port}\n`));
} else {
  process.stderr.write('usage: fanout-server.mjs relay|ws|corked\n');
  process.exit(2);
}
