#!/usr/bin/env node
// The server under test for bench/idle.mjs, forked with --expose-gc: `relay` (ours, default limits
// but for maxConnections, raised so that the benchmark's connections fit with room to spare) or
// `ws` (a bare `ws` server holding plain connections and doing nothing with them). Answers IPC
// requests: {cmd: 'mem'} -> memory after full collections; {cmd: 'cpu', ms} -> CPU used over ms.
// IDLE_PROFILE=<dir>: a CPU profile of the idle window and a heap snapshot after it, written there.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { WebSocketServer } from 'ws';
import { startRelay } from '../packages/server/dist/src/index.js';

const mode = process.argv[2];
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(0));
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');

const turn = () => new Promise((r) => setImmediate(r));
/** Memory after full collections (several, with turns of the event loop between, for weak and finalized objects). */
async function memory() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await turn();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** CPU used over `ms`; with IDLE_PROFILE=<dir>, a CPU profile of that window is written there. */
async function cpu(ms) {
  const dir = process.env.IDLE_PROFILE;
  const session = dir ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const u = process.cpuUsage(u0);
  const wallMs = performance.now() - t0;
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(dir, `idle-${mode}-${process.pid}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
  if (dir) writeHeapSnapshot(join(dir, `idle-${mode}-${process.pid}.heapsnapshot`));
  return { cpuUs: u.user + u.system, wallMs };
}

let port;
let stats = () => ({});
if (mode === 'relay') {
  const relay = await startRelay({ port: 0, limits: { maxConnections: 50_000 } });
  port = relay.port;
  stats = () => relay.stats();
} else if (mode === 'ws') {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((r) => wss.on('listening', r));
  port = wss.address().port;
  stats = () => ({ connections: wss.clients.size });
} else {
  throw new Error('usage: idle-server.mjs relay|ws');
}
process.on('message', async (m) => {
  if (m.cmd === 'mem') process.send({ re: m.id, ...(await memory()), stats: stats() });
  else if (m.cmd === 'cpu') process.send({ re: m.id, ...(await cpu(m.ms)), stats: stats() });
});
process.send({ ready: true, port });
