#!/usr/bin/env node
/**
 * Fan-out: one room of 100 members, one sender, 1 KiB messages. Deliveries per second through our
 * relay versus a minimal `ws` broadcast server, measured in the same run, the load generator in its
 * own process (so both cores are busy, as in reality). Runs the pair twice in alternating order and
 * keeps each side's best, to damp noise from a busy machine.
 *   npm run build && node bench/fanout.mjs        (FANOUT_SECONDS, default 20, per measurement)
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { writeResult } from './_results.mjs';

const SECONDS = Number(process.env.FANOUT_SECONDS ?? 20);
const MEMBERS = 100;
const SIZE = 1024;
const here = (f) => new URL(f, import.meta.url).pathname;

function firstLine(child) {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
}

async function measure(mode) {
  const server = spawn(process.execPath, [here('./fanout-server.mjs'), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await firstLine(server);
    const load = spawn(process.execPath, [here('./fanout-load.mjs'), mode, port, String(SECONDS), String(MEMBERS), String(SIZE)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const result = JSON.parse(await firstLine(load));
    if (!result.complete)
      throw new Error(`${mode}: ${result.received} deliveries for ${result.acked} acknowledged messages to ${MEMBERS - 1} receivers`);
    process.stderr.write(`[fanout] ${mode}: ${Math.round(result.deliveriesPerSec)} deliveries/s\n`);
    return result.deliveriesPerSec;
  } finally {
    server.kill('SIGKILL');
  }
}

const runs = { relay: [], ws: [] };
for (const order of [
  ['ws', 'relay'],
  ['relay', 'ws'],
])
  for (const mode of order) runs[mode].push(await measure(mode));
const relay = Math.max(...runs.relay);
const ws = Math.max(...runs.ws);
const report = {
  bench: 'fanout',
  date: new Date().toISOString(),
  machine: {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  },
  members: MEMBERS,
  payloadBytes: SIZE,
  seconds: SECONDS,
  window: 64,
  relayDeliveriesPerSec: Math.round(relay),
  wsDeliveriesPerSec: Math.round(ws),
  ratio: Math.round((relay / ws) * 1000) / 1000,
  runs: { relay: runs.relay.map(Math.round), ws: runs.ws.map(Math.round) },
  note: 'relay rate limit raised for the benchmark; everything else at defaults',
};
writeResult('fanout', report);
console.log(
  `fan-out to ${MEMBERS} members, ${SIZE} B messages: relay ${report.relayDeliveriesPerSec}/s, raw ws ${report.wsDeliveriesPerSec}/s, ratio ${report.ratio} (target >= 0.8: ${report.ratio >= 0.8 ? 'HOLDS' : 'MISSED'})`,
);
