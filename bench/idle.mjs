#!/usr/bin/env node
/**
 * Idle connections: what each one costs the relay while nothing is said. IDLE_CONNECTIONS clients
 * (one load process, source addresses 127.0.0.2, .3, ...) each in a room of IDLE_ROOM members, as a
 * real client holds it (a connection and a room slot; the room's GroupInfo is a dummy of
 * IDLE_GROUPINFO bytes), against a bare `ws` server holding as many plain connections, in the same
 * run: IDLE_PAIRS pairs, the order alternating. Memory per connection is the server's growth after
 * full collections (it runs with --expose-gc) divided by the connections: RSS, and the V8 heap plus
 * external memory; the baseline is taken after IDLE_WARM connections (500) came, joined, left and
 * closed, so that one-time costs (compiled code) are not counted per connection, on either server. Then the servers' CPU over IDLE_SECONDS of idleness (the relay's pings and
 * checks; bare `ws` does nothing). The report keeps medians and the ratio of the medians.
 *   npm run build && node bench/idle.mjs   (IDLE_CONNECTIONS 10000, IDLE_PAIRS 3, IDLE_SECONDS 30)
 */
import { writeResult } from './_results.mjs';
import { benchStart, machine, r2, rpcChild, sleep } from './_workers.mjs';

const N = Number(process.env.IDLE_CONNECTIONS ?? 10_000);
const PAIRS = Number(process.env.IDLE_PAIRS ?? 3);
const SECONDS = Number(process.env.IDLE_SECONDS ?? 30);
const ROOM = Number(process.env.IDLE_ROOM ?? 10);
const GROUPINFO = Number(process.env.IDLE_GROUPINFO ?? 64);
const WARM = Number(process.env.IDLE_WARM ?? Math.min(500, N));
const here = (f) => new URL(f, import.meta.url).pathname;
const { log, started, loadAtStart } = benchStart('idle', Number(process.env.IDLE_TIME_LIMIT ?? 1800));

/** A forked child answering {id, cmd} with {re: id}; `ready` resolves with its first message. */
const child = (file, args, execArgv = []) => rpcChild(here(file), args, { execArgv });

async function measure(mode) {
  const server = child('./idle-server.mjs', [mode], ['--expose-gc']);
  const load = child('./idle-load.mjs', []);
  try {
    const { port } = await server.ready;
    await load.ready;
    // Warm-up: WARM connections join and leave, so that the baseline already holds the server's
    // compiled code and what it makes once; then what grows with the connections is what they hold.
    await load.call('connect', { mode, port, n: WARM, room: ROOM, groupInfo: GROUPINFO, warm: true });
    await sleep(500);
    const before = await server.call('mem');
    const c = await load.call('connect', { mode, port, n: N, room: ROOM, groupInfo: GROUPINFO });
    if (c.open !== N) throw new Error(`${mode}: ${c.open} of ${N} connections open`);
    await sleep(1000);
    const after = await server.call('mem');
    if (after.stats.connections !== N) throw new Error(`${mode}: the server holds ${after.stats.connections} connections, not ${N}`);
    const idle = await server.call('cpu', { ms: SECONDS * 1000 });
    const still = await load.call('count');
    if (still.open !== N) throw new Error(`${mode}: ${N - still.open} connections dropped while idle`);
    const r = {
      mode,
      connectMs: Math.round(c.ms),
      rssPerConnection: (after.rss - before.rss) / N,
      heapPerConnection: (after.heapUsed + after.external - before.heapUsed - before.external) / N,
      idleCpuPercent: (100 * idle.cpuUs) / 1000 / idle.wallMs,
      idleCpuUsPerConnectionSecond: idle.cpuUs / N / (idle.wallMs / 1000),
    };
    log(
      `${mode}: ${N} connections in ${r.connectMs} ms; RSS ${(r.rssPerConnection / 1024).toFixed(2)} KiB, heap+external ${(r.heapPerConnection / 1024).toFixed(2)} KiB per connection; idle CPU ${r.idleCpuPercent.toFixed(2)}% of a core`,
    );
    return r;
  } finally {
    await load.stop();
    await server.stop();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const runs = { relay: [], ws: [] };
for (let p = 0; p < PAIRS; p++) for (const mode of p % 2 === 0 ? ['ws', 'relay'] : ['relay', 'ws']) runs[mode].push(await measure(mode));
const summary = (mode) => ({
  rssKiBPerConnection: r2(median(runs[mode].map((r) => r.rssPerConnection)) / 1024),
  heapKiBPerConnection: r2(median(runs[mode].map((r) => r.heapPerConnection)) / 1024),
  idleCpuPercentOfCore: r2(median(runs[mode].map((r) => r.idleCpuPercent))),
});
const relay = summary('relay');
const ws = summary('ws');
const report = {
  bench: 'idle',
  date: new Date().toISOString(),
  machine: machine(loadAtStart),
  connections: N,
  warmUpConnections: WARM,
  roomMembers: ROOM,
  groupInfoBytes: GROUPINFO,
  pairs: PAIRS,
  idleSeconds: SECONDS,
  relay,
  ws,
  rssRatio: r2(relay.rssKiBPerConnection / ws.rssKiBPerConnection),
  heapRatio: r2(relay.heapKiBPerConnection / ws.heapKiBPerConnection),
  runs: Object.fromEntries(
    Object.entries(runs).map(([k, v]) => [
      k,
      v.map((r) => ({
        ...r,
        rssPerConnection: Math.round(r.rssPerConnection),
        heapPerConnection: Math.round(r.heapPerConnection),
        idleCpuPercent: r2(r.idleCpuPercent),
        idleCpuUsPerConnectionSecond: r2(r.idleCpuUsPerConnectionSecond),
      })),
    ]),
  ),
  seconds: Math.round((performance.now() - started) / 1000),
  note: 'relay at default limits but maxConnections (raised to 50000); the relay pings every connection each pingIntervalMs, bare ws never',
};
writeResult('idle', report);
console.log(
  `idle, ${N} connections (rooms of ${ROOM}): relay ${relay.rssKiBPerConnection} KiB RSS / ${relay.heapKiBPerConnection} KiB heap per connection, bare ws ${ws.rssKiBPerConnection} / ${ws.heapKiBPerConnection}; ratio ${report.rssRatio} RSS, ${report.heapRatio} heap (target <= 1.3); relay idle CPU ${relay.idleCpuPercentOfCore}% of a core`,
);
