#!/usr/bin/env node
// Load generator for bench/fanout.mjs: MEMBERS connections in one room, one sender keeping WINDOW
// messages unacknowledged, every receiver counting deliveries. Prints one JSON line.
//   node fanout-load.mjs relay|ws|corked <port> <seconds> <members> <payloadBytes>
import WebSocket from 'ws';
import { GroupStatus, SUBPROTOCOL, asEpoch, asReqId, decodeRelayFrame, encodeFrame } from '../packages/protocol/dist/src/index.js';

const [mode, port, seconds, members, size] = [process.argv[2], ...process.argv.slice(3).map(Number)];
const WINDOW = 64;
const WARMUP_MS = 2000;
const room = new Uint8Array(32).fill(0x42);
const payload = new Uint8Array(size).fill(0x61);
const url = mode === 'relay' ? `ws://127.0.0.1:${port}/ws` : `ws://127.0.0.1:${port}`;

let received = 0;
const open = (i) =>
  new Promise((resolve, reject) => {
    const ws =
      mode === 'relay' ? new WebSocket(url, SUBPROTOCOL, { perMessageDeflate: false }) : new WebSocket(url, { perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    ws.once('error', reject);
    ws.once('open', () => resolve(ws));
    ws.i = i;
  });
const sockets = [];
for (let i = 0; i < members; i++) sockets.push(await open(i));

const sender = sockets[0];
if (mode === 'relay') {
  // Everyone joins; the first creates the (opaque, here dummy) group, the others wait for READY.
  const ready = sockets.map(
    (ws) =>
      new Promise((resolve) => {
        ws.on('message', function onState(data) {
          const f = decodeRelayFrame(new Uint8Array(data));
          if (f.type === 'GROUP_STATE' && f.status === GroupStatus.CREATE)
            ws.send(encodeFrame({ type: 'CREATE', reqId: asReqId(2), room, groupInfo: new Uint8Array(64) }));
          if ((f.type === 'GROUP_STATE' && f.status === GroupStatus.READY) || (f.type === 'ACK' && f.reqId === 2)) {
            ws.off('message', onState);
            resolve();
          }
        });
      }),
  );
  sockets[0].send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room }));
  await new Promise((r) => setTimeout(r, 100));
  for (const ws of sockets.slice(1)) ws.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room }));
  await Promise.all(ready);
}

const DELIVER = 0x43;
for (const ws of sockets.slice(1)) {
  ws.on('message', (data) => {
    if (mode !== 'relay' || data[0] === DELIVER) received++;
  });
}
let reqId = 10;
const frame = () =>
  mode === 'relay' ? encodeFrame({ type: 'APP', reqId: asReqId(reqId++), room, epoch: asEpoch(0), data: payload }) : payload;
let outstanding = 0;
let acked = 0;
let running = true;
const pump = () => {
  while (running && outstanding < WINDOW) {
    outstanding++;
    sender.send(frame());
  }
};
sender.on('message', (data) => {
  if (mode !== 'relay' || data[0] === 0x44 /* ACK */) {
    outstanding--;
    acked++;
    pump();
  }
});
pump();
await new Promise((r) => setTimeout(r, WARMUP_MS));
// Tells bench/fanout.mjs that the measured window starts (it reads the server's CPU time then).
process.stdout.write('start\n');
const start = received;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const delivered = received - start;
const elapsed = (performance.now() - t0) / 1000;
running = false;
process.stdout.write('end\n');
// Sanity: let the messages in flight be acknowledged and land (on a busy machine a fixed wait was too
// short: a message could reach its receivers before its ack reached the sender), then every
// acknowledged message must have reached every receiver. Lost ones keep `outstanding` above 0.
const deadline = performance.now() + 10_000;
while ((outstanding > 0 || received < acked * (members - 1)) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
const complete = received === acked * (members - 1);
process.stdout.write(
  `${JSON.stringify({ mode, delivered, seconds: elapsed, deliveriesPerSec: delivered / elapsed, acked, received, complete })}\n`,
);
for (const ws of sockets) ws.terminate();
process.exit(0);
