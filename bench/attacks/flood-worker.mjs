#!/usr/bin/env node
/**
 * The APP flood of inside.mjs ("app-flood"), in a process of its own so that the attacker's reading
 * and parsing does not slow the honest members, who run in the suite's process:
 *   node flood-worker.mjs <relay url> <connections>
 * Creates a room with a small GroupInfo, joins it with <connections> raw connections (each answers
 * pings), and has each send 1 KiB APP frames at about its rate limit (100 frames/s) until killed.
 * Reports {connections} on IPC once flooding, then {sent} (cumulative) every 100 ms.
 */
import { nextReq, randomLocator, rawJoin, sleep } from './_lib.mjs';

const [url, n] = process.argv.slice(2);
const u = new URL(url);
const relay = { host: u.hostname, port: Number(u.port) };
const room = randomLocator();
const creator = await rawJoin(relay, room);
const k = nextReq();
creator.ws.send({ type: 'CREATE', reqId: k, room, groupInfo: new Uint8Array(100) });
await creator.ws.next((f) => f.type === 'ACK' && f.reqId === k, 3000);
const conns = [];
for (let i = 0; i < Number(n); i++) {
  try {
    conns.push(await rawJoin(relay, room));
  } catch {
    break;
  }
}
let sent = 0;
const data = new Uint8Array(1024);
process.send?.({ connections: conns.length });
setInterval(() => process.send?.({ sent }), 100);
await Promise.all(
  conns.map(async (c) => {
    while (!c.ws.closed) {
      for (let i = 0; i < 10; i++) c.ws.send({ type: 'APP', reqId: nextReq(), room, epoch: c.state.epoch, data });
      sent += 10;
      c.ws.frames.length = 0;
      await sleep(100);
    }
  }),
);
