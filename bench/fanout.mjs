#!/usr/bin/env node
/**
 * Fan-out: one room of 100 members, one sender, 256 B and 1 KiB messages. Deliveries per second
 * through our relay versus two `ws` broadcast servers measured in the same run: a naive one (a
 * `ws.send` per recipient, each its own write) and one that corks its sockets the way our relay does
 * (one writev per recipient per turn of the event loop), the ceiling for the relay's own work. The
 * load generator runs in its own process (so both cores are busy, as in reality). For each size,
 * FANOUT_ROUNDS rounds of the three servers, the order rotating from round to round; the report
 * keeps each server's median and the median of the per-round ratios relay/corked and relay/naive.
 *   npm run build && node bench/fanout.mjs   (FANOUT_SECONDS, default 10, per measurement;
 *                                             FANOUT_ROUNDS, default 3; FANOUT_SIZES, default 256,1024)
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { writeResult } from './_results.mjs';

const SECONDS = Number(process.env.FANOUT_SECONDS ?? 10);
const ROUNDS = Number(process.env.FANOUT_ROUNDS ?? 3);
const SIZES = (process.env.FANOUT_SIZES ?? '256,1024').split(',').map(Number);
const MEMBERS = 100;
const MODES = ['relay', 'corked', 'ws'];
const here = (f) => new URL(f, import.meta.url).pathname;
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ): 100 on Linux. */
const TICKS = 100;

function firstLine(child) {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
}

/** The lines a child writes, one promise per line. */
function lines(child) {
  const queue = [];
  const waiting = [];
  createInterface({ input: child.stdout }).on('line', (l) => (waiting.length > 0 ? waiting.shift()(l) : queue.push(l)));
  child.once('exit', (code) => {
    for (const w of waiting.splice(0)) w(Promise.reject(new Error(`exited ${code}`)));
  });
  return () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve)));
}

/** CPU time (user + system) of a process so far, in microseconds, from /proc; undefined elsewhere. */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / TICKS;
  } catch {
    return undefined;
  }
}

async function measure(mode, size) {
  const server = spawn(process.execPath, [here('./fanout-server.mjs'), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await firstLine(server);
    const load = spawn(process.execPath, [here('./fanout-load.mjs'), mode, port, String(SECONDS), String(MEMBERS), String(size)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = lines(load);
    if ((await line()) !== 'start') throw new Error(`${mode}: the load generator did not start`);
    const cpu0 = cpuOf(server.pid);
    if ((await line()) !== 'end') throw new Error(`${mode}: the load generator did not end`);
    const cpu1 = cpuOf(server.pid);
    const result = JSON.parse(await line());
    if (!result.complete)
      throw new Error(`${mode}: ${result.received} deliveries for ${result.acked} acknowledged messages to ${MEMBERS - 1} receivers`);
    const cpuNsPerDelivery = cpu0 === undefined || cpu1 === undefined ? undefined : ((cpu1 - cpu0) * 1000) / result.delivered;
    process.stderr.write(
      `[fanout] ${size} B ${mode}: ${Math.round(result.deliveriesPerSec)} deliveries/s${cpuNsPerDelivery === undefined ? '' : `, server CPU ${Math.round(cpuNsPerDelivery)} ns per delivery`}\n`,
    );
    return { rate: result.deliveriesPerSec, cpu: cpuNsPerDelivery };
  } finally {
    server.kill('SIGKILL');
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r3 = (x) => Math.round(x * 1000) / 1000;

const loadAtStart = os.loadavg();
const results = [];
for (const size of SIZES) {
  const runs = { relay: [], corked: [], ws: [] };
  const cpu = { relay: [], corked: [], ws: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]);
    for (const mode of order) {
      const m = await measure(mode, size);
      runs[mode].push(m.rate);
      cpu[mode].push(m.cpu);
    }
  }
  const perRound = (other) => runs.relay.map((r, i) => r / runs[other][i]);
  const cpuKnown = Object.values(cpu).every((xs) => xs.every((x) => x !== undefined));
  results.push({
    payloadBytes: size,
    relayDeliveriesPerSec: Math.round(median(runs.relay)),
    corkedDeliveriesPerSec: Math.round(median(runs.corked)),
    wsDeliveriesPerSec: Math.round(median(runs.ws)),
    relayOverCorked: r3(median(perRound('corked'))),
    relayOverWs: r3(median(perRound('ws'))),
    roundRatios: { relayOverCorked: perRound('corked').map(r3), relayOverWs: perRound('ws').map(r3) },
    // The server's CPU time per delivery in the measured window (less sensitive to other load on
    // the machine than the rate), and corked over relay: the share of the relay's CPU the corked
    // broadcast also spends.
    ...(cpuKnown
      ? {
          serverCpuNsPerDelivery: {
            relay: Math.round(median(cpu.relay)),
            corked: Math.round(median(cpu.corked)),
            ws: Math.round(median(cpu.ws)),
          },
          corkedCpuOverRelayCpu: r3(median(cpu.relay.map((r, i) => cpu.corked[i] / r))),
        }
      : {}),
    runs: { relay: runs.relay.map(Math.round), corked: runs.corked.map(Math.round), ws: runs.ws.map(Math.round) },
  });
}
const kib = results.find((r) => r.payloadBytes === 1024) ?? results[results.length - 1];
const report = {
  bench: 'fanout',
  date: new Date().toISOString(),
  machine: {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    loadavg: loadAtStart.map((x) => Math.round(x * 100) / 100),
    loadavgAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
  },
  members: MEMBERS,
  seconds: SECONDS,
  rounds: ROUNDS,
  window: 64,
  results,
  // The 1 KiB figures at the top level, as scripts/bench-compare.mjs reads them.
  payloadBytes: kib.payloadBytes,
  relayDeliveriesPerSec: kib.relayDeliveriesPerSec,
  wsDeliveriesPerSec: kib.wsDeliveriesPerSec,
  corkedDeliveriesPerSec: kib.corkedDeliveriesPerSec,
  ratio: kib.relayOverWs,
  relayOverCorked: kib.relayOverCorked,
  corkedCpuOverRelayCpu: kib.corkedCpuOverRelayCpu,
  note: 'relay rate limit raised for the benchmark; everything else at defaults',
};
writeResult('fanout', report);
for (const r of results)
  console.log(
    `fan-out to ${MEMBERS} members, ${r.payloadBytes} B: relay ${r.relayDeliveriesPerSec}/s, corked ws ${r.corkedDeliveriesPerSec}/s, naive ws ${r.wsDeliveriesPerSec}/s; relay/corked ${r.relayOverCorked} (target >= 0.95 at 1 KiB), relay/naive ${r.relayOverWs}${r.serverCpuNsPerDelivery === undefined ? '' : `; server CPU per delivery relay ${r.serverCpuNsPerDelivery.relay} ns, corked ${r.serverCpuNsPerDelivery.corked} ns (corked/relay ${r.corkedCpuOverRelayCpu})`}`,
  );
