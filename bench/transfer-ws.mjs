#!/usr/bin/env node
/**
 * The baseline of bench/transfer.mjs: raw `ws`, no encryption, no hashing, no disk on the way:
 *   server            forwards every binary message from a sender to the receiver (backpressure:
 *                     pauses the sender's socket while the receiver's buffer is over 8 MiB)
 *   receive PORT N    connects, prints a line, counts bytes (written to a file, as ours does) until N
 *   send PORT FILE    reads the file in 4 MiB pieces (the size of our chunks) and sends them, pacing on bufferedAmount
 */
import { createReadStream, createWriteStream, mkdtempSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';

const [mode, port, arg] = process.argv.slice(2);
/** Bytes per message: the clients' chunk size (DEFAULT_TRANSFER_CHUNK); raw ws moved 4 MiB messages ~5% faster than 1 MiB ones. */
const MESSAGE = 4 * 1024 * 1024;
const opts = { perMessageDeflate: false, maxPayload: MESSAGE };

if (mode === 'server') {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...opts });
  let receiver;
  wss.on('connection', (ws, req) => {
    if (req.url === '/receive') return void (receiver = ws);
    ws.on('message', (data) => {
      receiver.send(data);
      if (receiver.bufferedAmount > 8 * 1024 * 1024) {
        ws.pause();
        const resume = () => (receiver.bufferedAmount > 1024 * 1024 ? setTimeout(resume, 1) : ws.resume());
        resume();
      }
    });
  });
  wss.on('listening', () => console.log(wss.address().port));
} else if (mode === 'receive') {
  const total = Number(arg);
  const out = createWriteStream(join(mkdtempSync(join(os.tmpdir(), 'nullroom-ws-down-')), 'payload.bin'));
  const ws = new WebSocket(`ws://127.0.0.1:${port}/receive`, opts);
  let bytes = 0;
  ws.on('open', () => console.log('connected'));
  ws.on('message', (data) => {
    bytes += data.length;
    if (!out.write(data)) {
      ws.pause();
      out.once('drain', () => ws.resume());
    }
    if (bytes >= total) out.end(() => console.log(JSON.stringify({ bytes })));
  });
} else if (mode === 'send') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/send`, opts);
  ws.on('open', async () => {
    for await (const chunk of createReadStream(arg, { highWaterMark: MESSAGE })) {
      ws.send(chunk);
      while (ws.bufferedAmount > 8 * 1024 * 1024) await new Promise((r) => setTimeout(r, 1));
    }
  });
}
