#!/usr/bin/env node
/**
 * Several relay nodes on Redis (issue #16, docs/PROTOCOL.md §12): the same load (bench/load.mjs:
 * clients in rooms of mixed sizes sending at one total rate, every ACKed message checked to reach
 * every other member once and in order, a room's members on different nodes) through one relay
 * alone (its own rooms, no Redis), then through clusters of 1, 2 and 3 `nullroom serve --redis-url`
 * nodes on the Redis at REDIS_URL, each cluster on a key prefix of its own. For each: deliveries/s,
 * latency p50/p99, the nodes' CPU per delivery, and what Redis costs: its CPU time (INFO cpu) and
 * the bytes it received and sent (INFO stats) per message and per delivery. The nodes and the load
 * share this machine's cores with Redis: compare the rows of one run, not runs on other machines.
 *   npm run build && node bench/cluster.mjs   (CLUSTER_CLIENTS 2000, CLUSTER_RATE 400, CLUSTER_SECONDS 20, CLUSTER_NODES 1,2,3)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { writeResult } from './_results.mjs';
import { benchStart, machine, r2, sleep } from './_workers.mjs';

const env = process.env;
const CLIENTS = Number(env.CLUSTER_CLIENTS ?? 2000);
const RATE = Number(env.CLUSTER_RATE ?? 400);
const SECONDS = Number(env.CLUSTER_SECONDS ?? 20);
const NODES = (env.CLUSTER_NODES ?? '1,2,3').split(',').map(Number);
const MIX = env.CLUSTER_MIX ?? '2:50,10:30,100:20';
/** Seconds left out of the latency and rate figures at the start of each run. */
const WARMUP = Number(env.CLUSTER_WARMUP ?? Math.min(3, SECONDS - 1));
const REDIS_URL = env.REDIS_URL;
if (REDIS_URL === undefined) {
  console.log('NOTICE: bench/cluster.mjs needs REDIS_URL (a Redis it may write keys to, under a prefix of its own): skipped');
  process.exit(0);
}
const root = new URL('..', import.meta.url).pathname;
const BIN = join(root, 'apps/cli/dist/src/main.js');
const { log, started, loadAtStart } = benchStart('cluster', Number(env.CLUSTER_TIME_LIMIT ?? 1500));
const out = mkdtempSync(join(tmpdir(), 'nullroom-cluster-bench-'));

/** Redis's CPU seconds so far and the bytes it has read and written (INFO). */
async function redisCounters(r) {
  const info = await r.info();
  const get = (k) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return {
    cpu: get('used_cpu_sys') + get('used_cpu_user'),
    inBytes: get('total_net_input_bytes'),
    outBytes: get('total_net_output_bytes'),
    commands: get('total_commands_processed'),
  };
}

/** One `nullroom serve` node of the cluster; resolves with its process and WebSocket URL. */
function node(prefix) {
  const data = mkdtempSync(join(out, 'node-'));
  const args = ['serve', '--port', '0', '--no-accounts', '--data', data, '--redis-url', REDIS_URL, '--cluster-prefix', prefix];
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      if (l.startsWith('nullroom listening on ')) resolve({ child, url: `${l.slice(22).trim().replace(/^http/, 'ws')}/ws` });
    });
    child.once('exit', (code) => reject(new Error(`a node exited ${code} before it listened`)));
  });
}

/** Runs bench/load.mjs with these extra arguments; its report. */
function load(name, extra) {
  const args = [
    '--clients',
    String(CLIENTS),
    '--rate',
    String(RATE),
    '--seconds',
    String(SECONDS),
    '--warmup',
    String(WARMUP),
    '--mix',
    MIX,
    '--name',
    name,
    '--plots',
    'none',
    ...extra,
  ];
  const r = spawnSync(process.execPath, [join(root, 'bench/load.mjs'), ...args], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...env, NULLROOM_BENCH_OUT: out },
  });
  if (r.status !== 0) throw new Error(`bench/load.mjs exited ${r.status ?? r.signal} for ${name}`);
  return JSON.parse(readFileSync(join(out, `${name}.json`), 'utf8'));
}

/** What one setup gave: the load's figures, and Redis's cost per message and per delivery. */
function row(setup, nodes, report, before, after) {
  // Redis is counted over the whole run (joins included): so are the messages, and their deliveries.
  const messages = report.messagesSent;
  const deliveries = Math.round(messages * report.deliveriesPerMessage);
  const per = (v, n) => (before === undefined || !(n > 0) ? undefined : r2(v / n));
  return {
    setup,
    nodes,
    deliveriesPerSec: report.deliveriesPerSec,
    latencyMs: report.latencyMs,
    nodesCpuCores: report.relayCpuCores,
    nodeCpuUsPerDelivery: report.deliveriesPerRelayCpuSecond > 0 ? r2(1e6 / report.deliveriesPerRelayCpuSecond) : undefined,
    nodeRssKiBPerConnection: report.relayRssKiBPerConnection,
    loadCpuCores: report.loadCpuCores,
    checked: report.check?.ok,
    messages,
    deliveries,
    redisCpuUsPerMessage: before === undefined ? undefined : per((after.cpu - before.cpu) * 1e6, messages),
    redisCpuUsPerDelivery: before === undefined ? undefined : per((after.cpu - before.cpu) * 1e6, deliveries),
    redisBytesPerMessage:
      before === undefined ? undefined : per(after.inBytes - before.inBytes + after.outBytes - before.outBytes, messages),
    redisCommandsPerMessage: before === undefined ? undefined : per(after.commands - before.commands, messages),
  };
}

const redis = new Redis(REDIS_URL);
const rows = [];
try {
  log(`${CLIENTS} clients, ${RATE} messages/s, ${SECONDS} s each; load average ${loadAtStart.map(r2).join(' ')}`);
  rows.push(row('one relay, its own rooms', 1, load('cluster-alone', [])));
  for (const n of NODES) {
    const prefix = `nrbench:${process.pid}:${n}:`;
    const nodes = [];
    try {
      for (let i = 0; i < n; i++) nodes.push(await node(prefix));
      await sleep(500);
      const before = await redisCounters(redis);
      const report = load(`cluster-${n}`, [
        '--relays',
        nodes.map((x) => x.url).join(','),
        '--pids',
        nodes.map((x) => x.child.pid).join(','),
      ]);
      const after = await redisCounters(redis);
      rows.push(row(`${n} node${n === 1 ? '' : 's'} on Redis`, n, report, before, after));
    } finally {
      for (const x of nodes) x.child.kill('SIGTERM');
      await Promise.all(nodes.map((x) => new Promise((res) => (x.child.exitCode !== null ? res() : x.child.once('exit', res)))));
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    }
  }
} finally {
  redis.disconnect();
  rmSync(out, { recursive: true, force: true });
}
const report = {
  bench: 'cluster',
  date: new Date().toISOString(),
  machine: machine(loadAtStart),
  runSeconds: r2((performance.now() - started) / 1000),
  clients: CLIENTS,
  rate: RATE,
  seconds: SECONDS,
  mix: MIX,
  rows,
};
for (const r of rows) log(JSON.stringify(r));
console.log(`cluster -> ${writeResult('cluster', report)}`);
if (rows.some((r) => r.checked === false)) {
  console.error('a delivery check failed');
  process.exit(1);
}
