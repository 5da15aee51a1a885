#!/usr/bin/env node
/**
 * Load and capacity (issue #16): thousands of concurrent clients in rooms of mixed sizes, sending at
 * a set total rate, through `nullroom serve` as an operator runs it (started here, as a child
 * process, with a fresh --data directory; its defaults, room store included), or through relays
 * given by URL (a cluster's nodes: clients are spread over them, a room's members alternate).
 * The clients speak the wire protocol with opaque payloads (the relay never reads them) from
 * LOAD_WORKERS load processes and many loopback source addresses (bench/load-layout.mjs says who is
 * where). Checked: every ACKed message reaches every other member of its room once and in order
 * (bench/load-check.mjs); any violation fails the run. Measured: deliveries/s, end-to-end latency
 * (send -> receive on the same monotonic clock) p50/p99/p999, the relay's RSS per connection and
 * CPU (/proc), the load processes' CPU (was the generator the bottleneck?), and the relay's
 * deliveries per CPU-second (a capacity constant). Writes bench/results/<name>.json and SVG plots.
 *
 *   npm run load                 (= npm run build && node bench/load.mjs; 5,000 clients, 30 s)
 *   node bench/load.mjs --clients 10000 --rate 1000 --seconds 30 --mix 2:50,10:30,100:20 --name load-10000
 *   node bench/load.mjs --relays ws://127.0.0.1:8081/ws,ws://127.0.0.1:8082/ws [--pids 123,456]
 * Every flag has an environment variable: LOAD_CLIENTS, LOAD_RATE (messages/s, all senders), LOAD_SECONDS,
 * LOAD_WARMUP (s, left out of the summary), LOAD_MIX, LOAD_BYTES (payload), LOAD_WORKERS, LOAD_RELAYS,
 * LOAD_RELAY_PIDS, LOAD_SERVE_ARGS (more `nullroom serve` flags, space-separated), LOAD_NAME, LOAD_PLOTS
 * (directory for the SVGs: docs/plots, or NULLROOM_BENCH_OUT's directory when that is set; "none": none).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { writeResult } from './_results.mjs';
import { benchStart, cpuNow, machine, r2, rpcChild, sleep } from './_workers.mjs';
import { check } from './load-check.mjs';
import { PER_ADDRESS, layout, parseMix, rooms } from './load-layout.mjs';
import { lineChart } from './load-plot.mjs';

const env = process.env;
const { values: o } = parseArgs({
  options: {
    clients: { type: 'string', default: env.LOAD_CLIENTS ?? '5000' },
    rate: { type: 'string', default: env.LOAD_RATE ?? '1000' },
    seconds: { type: 'string', default: env.LOAD_SECONDS ?? '30' },
    warmup: { type: 'string', default: env.LOAD_WARMUP ?? '3' },
    mix: { type: 'string', default: env.LOAD_MIX ?? '2:50,10:30,100:20' },
    bytes: { type: 'string', default: env.LOAD_BYTES ?? '1024' },
    workers: { type: 'string', default: env.LOAD_WORKERS ?? '2' },
    relays: { type: 'string', default: env.LOAD_RELAYS ?? '' },
    pids: { type: 'string', default: env.LOAD_RELAY_PIDS ?? '' },
    'serve-args': { type: 'string', default: env.LOAD_SERVE_ARGS ?? '' },
    name: { type: 'string', default: env.LOAD_NAME ?? 'load' },
    plots: { type: 'string', default: env.LOAD_PLOTS ?? '' },
  },
});
const N = Number(o.clients);
const RATE = Number(o.rate);
const SECONDS = Number(o.seconds);
const WARMUP = Number(o.warmup);
const BYTES = Number(o.bytes);
const WORKERS = Number(o.workers);
const MIX = parseMix(o.mix);
if (!(N >= 2 && RATE > 0 && SECONDS > WARMUP && WARMUP >= 0 && BYTES >= 16 && WORKERS >= 1)) {
  throw new Error('want --clients >= 2, --rate > 0, --seconds > --warmup >= 0, --bytes >= 16, --workers >= 1');
}
const root = new URL('..', import.meta.url).pathname;
const here = (f) => new URL(f, import.meta.url).pathname;
const { log, started, loadAtStart } = benchStart(o.name, Number(env.LOAD_TIME_LIMIT ?? 900));
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ): 100 on Linux. */
const TICKS = 100;

/** CPU time (user + system) of a process so far, in seconds, from /proc; undefined when unreadable. */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return undefined;
  }
}
/** Resident memory of a process, in bytes (VmRSS of /proc/<pid>/status). */
function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
/**
 * Time a process's main thread (the event loop) spent runnable but waiting for a CPU so far, in
 * seconds (/proc/<pid>/schedstat, second field): on a shared machine, what other work took from it.
 */
function waitOf(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return undefined;
  }
}
/** The whole machine's busy CPU time so far (all cores, seconds), from /proc/stat. */
function machineBusy() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / TICKS; // user nice system irq softirq steal
}
const sum = (xs) => xs.reduce((a, x) => a + (x ?? Number.NaN), 0);

/** `nullroom serve` on a free port with a fresh data directory; resolves with {url, pid, stop}. */
async function startServe() {
  const data = mkdtempSync(join(tmpdir(), 'nullroom-load-'));
  const extra = o['serve-args'].split(' ').filter((a) => a !== '');
  const args = [join(root, 'apps/cli/bin/nullroom.js'), 'serve', '--port', '0', '--data', data, ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  // Also when the time limit or an error ends the run: no relay or data directory is left behind.
  process.on('exit', () => {
    child.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  });
  // Its stdout carries JSON log lines (pino) and "nullroom listening on <url>"; all of it is read (a full pipe would block it).
  const host = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^nullroom listening on http:\/\/([^/\s]+)/.exec(line) ?? /"url":"http:\/\/([^/"]+)".*"msg":"relay listening"/.exec(line);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`nullroom serve exited ${code}`)));
  });
  const stop = () =>
    new Promise((resolve) => {
      child.once('exit', () => (rmSync(data, { recursive: true, force: true }), resolve()));
      child.kill('SIGKILL');
    });
  return { url: `ws://${host}/ws`, pid: child.pid, args: ['serve', '--port', '0', '--data', '<tmp>', ...extra], stop };
}

/** A load worker: {call(cmd, extra), pid, stop}; `onMessage` gets its progress and latency bins. */
function loadWorker(onMessage) {
  return rpcChild(here('./load-worker.mjs'), [], {
    serialization: 'advanced',
    name: 'a load worker',
    isReady: (m) => m.hello,
    onOther: onMessage,
  });
}

// The relays: given, or one `nullroom serve` started here.
const given = o.relays.split(',').filter((u) => u !== '');
const serve = given.length === 0 ? await startServe() : undefined;
const urls = serve ? [serve.url] : given.map((u) => (/^wss?:\/\/[^/]+\/?$/.test(u) ? `${u.replace(/\/$/, '')}/ws` : u));
const relayPids = serve
  ? [serve.pid]
  : o.pids
      .split(',')
      .filter((p) => p !== '')
      .map(Number);
if (relayPids.length === 0) log('relays given by URL without --pids: the relay memory and CPU are not measured');
const relayCpu = () => (relayPids.length === 0 ? undefined : sum(relayPids.map(cpuOf)));
const relayRss = () => (relayPids.length === 0 ? undefined : sum(relayPids.map(rssOf)));
const relayWait = () => (relayPids.length === 0 ? undefined : sum(relayPids.map(waitOf)));

const progress = new Array(WORKERS).fill(0);
const perSecond = new Map(); // second of the run -> {delivered, hist}
const window = createHistogram();
const onMessage = (w) => (m) => {
  if (m.progress) progress[w] = m.progress.joined;
  if (m.bin) {
    let s = perSecond.get(m.bin.sec);
    if (s === undefined) perSecond.set(m.bin.sec, (s = { delivered: 0, hist: createHistogram() }));
    s.delivered += m.bin.delivered;
    const inWindow = m.bin.sec >= WARMUP && m.bin.sec < SECONDS;
    for (const us of m.bin.lat) {
      const v = Math.max(1, Math.round(us));
      s.hist.record(v);
      if (inWindow) window.record(v);
    }
  }
};
const workers = Array.from({ length: WORKERS }, (_, i) => loadWorker(onMessage(i)));
const loadCpu = () => sum(workers.map((w) => cpuOf(w.pid))) + cpuNow() / 1e6;
const loadWait = () => sum(workers.map((w) => waitOf(w.pid)));
const stopAll = async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await serve?.stop();
};
let result;
try {
  result = await measure();
} finally {
  await stopAll();
}
process.exit(result.check.ok ? 0 : 1);

async function measure() {
  await Promise.all(workers.map((w) => w.ready));
  const cfg = { clients: N, mix: MIX, urls, workers: WORKERS, tag: (Date.now() / 1000) >>> 0, groupInfoBytes: 64 };
  log(`${N} clients, ${WORKERS} load processes, relays ${urls.join(' ')}; load average ${loadAtStart.map(r2).join(' ')}`);
  await sleep(1000);
  const rssIdle = relayRss();
  // Ramp-up: every client opens, joins its room, and its room is READY; the relay's RSS meanwhile.
  const ramp = [];
  const t0 = performance.now();
  const sampler = setInterval(() => {
    ramp.push([sum(progress), relayRss()]);
    if (ramp.length % 20 === 0) log(`${sum(progress)} of ${N} clients in their rooms`);
  }, 250);
  const connected = await Promise.all(workers.map((w, index) => w.call('connect', { ...cfg, index })));
  clearInterval(sampler);
  const rampMs = performance.now() - t0;
  const ready = sum(connected.map((c) => c.joined));
  ramp.push([ready, relayRss()]);
  if (ready !== N) throw new Error(`only ${ready} of ${N} clients joined their rooms: ${JSON.stringify(connected.map((c) => c.errors))}`);
  await sleep(1000);
  const rssConnected = relayRss();
  log(
    `${N} clients joined in ${Math.round(rampMs)} ms; relay RSS ${rssConnected === undefined ? '-' : `${(rssConnected / 2 ** 20).toFixed(0)} MiB`}`,
  );

  // The run: CPU and memory sampled on each second of the run's clock (the workers' bins use it too).
  const startNs = process.hrtime.bigint() + 200_000_000n;
  const samples = [];
  const sample = (sec) =>
    samples.push({
      sec,
      relayCpu: relayCpu(),
      loadCpu: loadCpu(),
      busy: machineBusy(),
      rss: relayRss(),
      relayWait: relayWait(),
      loadWait: loadWait(),
    });
  let sec = 0;
  let timer;
  const tick = () => {
    sample(sec);
    sec++;
    timer = setTimeout(tick, Number(startNs + BigInt(sec) * 1_000_000_000n - process.hrtime.bigint()) / 1e6);
  };
  timer = setTimeout(tick, Number(startNs - process.hrtime.bigint()) / 1e6);
  const runs = await Promise.all(workers.map((w) => w.call('run', { rate: RATE, seconds: SECONDS, startNs, bytes: BYTES })));
  const drained = await Promise.all(workers.map((w) => w.call('drain', { ms: 30_000 })));
  clearTimeout(timer);
  // Let the last deliveries land: until nothing new arrives for 2 s (or 30 s in all).
  let last = -1;
  for (let quiet = 0, t = 0; quiet < 4 && t < 60; t++) {
    const now = sum((await Promise.all(workers.map((w) => w.call('received')))).map((r) => r.delivered));
    quiet = now === last ? quiet + 1 : 0;
    last = now;
    await sleep(500);
  }
  const reports = await Promise.all(workers.map((w) => w.call('report')));
  await Promise.all(workers.map((w) => w.call('close')));
  const verdict = check(cfg, reports);
  const errors = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const seqBackwards = sum(reports.map((r) => r.seqBackwards));
  const outstanding = sum(drained.map((d) => d.outstanding));
  verdict.seqBackwards = seqBackwards;
  verdict.outstanding = outstanding;
  verdict.errors = errors;
  verdict.ok = verdict.ok && seqBackwards === 0 && outstanding === 0 && Object.keys(errors).length === 0;
  return summarise({ cfg, rampMs, rssIdle, rssConnected, ramp, samples, runs, verdict });
}

function summarise({ rampMs, rssIdle, rssConnected, ramp, samples, runs, verdict }) {
  const at = (s) => samples.find((x) => x.sec === s) ?? samples[samples.length - 1];
  const a = at(WARMUP);
  const b = at(SECONDS);
  const span = b.sec - a.sec;
  let delivered = 0;
  for (const [s, v] of perSecond) if (s >= WARMUP && s < SECONDS) delivered += v.delivered;
  const relayCpuS = b.relayCpu - a.relayCpu;
  const loadCpuS = b.loadCpu - a.loadCpu;
  const q = (p) => r2(window.percentile(p) / 1000);
  const timeline = [...perSecond.keys()]
    .sort((x, y) => x - y)
    .filter((s) => s < SECONDS + 10)
    .map((s) => {
      const v = perSecond.get(s);
      const h = v.hist;
      return {
        sec: s,
        delivered: v.delivered,
        p50: r2(h.percentile(50) / 1000),
        p99: r2(h.percentile(99) / 1000),
        p999: r2(h.percentile(99.9) / 1000),
      };
    });
  const cpuTimeline = samples.slice(1).map((x, i) => ({
    sec: x.sec,
    relayCores: r2(x.relayCpu - samples[i].relayCpu),
    loadCores: r2(x.loadCpu - samples[i].loadCpu),
    otherCores: r2(x.busy - samples[i].busy - (x.relayCpu - samples[i].relayCpu) - (x.loadCpu - samples[i].loadCpu)),
    relayRssMiB: x.rss === undefined ? undefined : r2(x.rss / 2 ** 20),
    relayWaitMs: x.relayWait === undefined ? undefined : Math.round((x.relayWait - samples[i].relayWait) * 1000),
  }));
  const sent = sum(runs.map((r) => r.sent));
  const report = {
    bench: 'load',
    name: o.name,
    date: new Date().toISOString(),
    machine: machine(loadAtStart),
    relay: serve ? { started: `nullroom ${serve.args.join(' ')}`, limits: 'defaults (none raised)' } : { urls, pids: relayPids },
    clients: N,
    loadProcesses: WORKERS,
    sourceAddresses: Math.ceil(N / PER_ADDRESS),
    clientsPerAddress: PER_ADDRESS,
    mix: MIX.map(({ size, share }) => ({ members: size, shareOfClients: r2(share) })),
    roomsBySize: roomsBySize(),
    payloadBytes: BYTES,
    rateMessagesPerSec: RATE,
    seconds: SECONDS,
    warmupSeconds: WARMUP,
    rampUpMs: Math.round(rampMs),
    messagesSent: sent,
    check: verdict,
    deliveriesPerSec: Math.round(delivered / span),
    latencyMs: { p50: q(50), p99: q(99), p999: q(99.9), max: r2(window.max / 1000), samples: window.count },
    relayRssMiB: {
      idle: rssIdle === undefined ? undefined : r2(rssIdle / 2 ** 20),
      connected: rssConnected === undefined ? undefined : r2(rssConnected / 2 ** 20),
      end: b.rss === undefined ? undefined : r2(b.rss / 2 ** 20),
    },
    relayRssKiBPerConnection: rssIdle === undefined ? undefined : r2((rssConnected - rssIdle) / N / 1024),
    relayCpuCores: Number.isFinite(relayCpuS) ? r2(relayCpuS / span) : undefined,
    loadCpuCores: r2(loadCpuS / span),
    // Runnable but not running (waiting for a core), ms per second of the run: the relay's event loop, and the load workers' summed.
    relayRunQueueWaitMsPerSec: Number.isFinite(b.relayWait - a.relayWait) ? r2(((b.relayWait - a.relayWait) * 1000) / span) : undefined,
    loadRunQueueWaitMsPerSec: r2(((b.loadWait - a.loadWait) * 1000) / span),
    otherCpuCores: r2((b.busy - a.busy - (Number.isFinite(relayCpuS) ? relayCpuS : 0) - loadCpuS) / span),
    deliveriesPerRelayCpuSecond: Number.isFinite(relayCpuS) ? Math.round(delivered / relayCpuS) : undefined,
    messagesPerRelayCpuSecond: Number.isFinite(relayCpuS) ? Math.round(delivered / deliveriesPerMessage() / relayCpuS) : undefined,
    deliveriesPerMessage: r2(deliveriesPerMessage()),
    timeline,
    cpuTimeline,
    ramp: ramp
      .filter((_, i) => i % Math.max(1, Math.floor(ramp.length / 120)) === 0 || i === ramp.length - 1)
      .map(([n, rss]) => [n, rss === undefined ? undefined : r2(rss / 2 ** 20)]),
    runSeconds: Math.round((performance.now() - started) / 1000),
  };
  report.plots = plots(report);
  const file = writeResult(o.name, report);
  const v = verdict;
  console.log(
    `${o.name}: ${N} clients, ${RATE} msg/s: ${report.deliveriesPerSec} deliveries/s, latency p50/p99/p999 ${report.latencyMs.p50}/${report.latencyMs.p99}/${report.latencyMs.p999} ms; relay ${report.relayCpuCores ?? '-'} cores, ${report.relayRssKiBPerConnection ?? '-'} KiB RSS per connection, ${report.deliveriesPerRelayCpuSecond ?? '-'} deliveries per relay CPU-second; load processes ${report.loadCpuCores} cores; rest of the machine ${report.otherCpuCores} cores; relay waited for a core ${report.relayRunQueueWaitMsPerSec ?? '-'} ms/s; check ${v.ok ? 'passed' : 'FAILED'} (lost ${v.lost}, duplicated ${v.duplicated}, reordered ${v.reordered}, seq backwards ${v.seqBackwards}, unacked ${v.unacked}, refused ${v.refused}, errors ${JSON.stringify(v.errors)}) -> ${file}`,
  );
  return report;
}

/** How many rooms of each size the run had: {size: count}. */
function roomsBySize() {
  const out = {};
  for (const r of rooms(N, MIX)) out[r.size] = (out[r.size] ?? 0) + 1;
  return out;
}

/** Deliveries per message: every client sends as often as the others, and a message reaches its room's other members. */
function deliveriesPerMessage() {
  return sum(layout({ clients: N, mix: MIX, urls: [''], workers: 1 }).map((c) => c.roomSize - 1)) / N;
}

/** The three SVG plots; returns their paths (relative to the repository when under it). */
function plots(r) {
  const dir = o.plots !== '' ? o.plots : env.NULLROOM_BENCH_OUT ? env.NULLROOM_BENCH_OUT : join(root, 'docs/plots');
  if (dir === 'none') return [];
  mkdirSync(dir, { recursive: true });
  const what = `${N.toLocaleString('en')} clients, ${RATE.toLocaleString('en')} msg/s`;
  const charts = {
    latency: lineChart({
      title: `End-to-end latency per second (${what})`,
      xLabel: 'seconds into the run',
      yLabel: 'latency, ms',
      logY: true,
      series: ['p50', 'p99', 'p999'].map((k) => ({ name: k, points: r.timeline.map((t) => [t.sec, t[k]]) })),
    }),
    deliveries: lineChart({
      title: `Deliveries per second (${what})`,
      xLabel: 'seconds into the run',
      yLabel: 'deliveries/s',
      series: [{ name: 'deliveries/s', points: r.timeline.map((t) => [t.sec, t.delivered]) }],
    }),
    cpu: lineChart({
      title: `CPU, cores (${what})`,
      xLabel: 'seconds into the run',
      yLabel: 'cores',
      series: [
        { name: 'relay', points: r.cpuTimeline.map((t) => [t.sec, t.relayCores]) },
        { name: 'load processes', points: r.cpuTimeline.map((t) => [t.sec, t.loadCores]) },
        { name: 'rest of the machine', points: r.cpuTimeline.map((t) => [t.sec, t.otherCores]) },
        { name: 'relay waiting for a core', points: r.cpuTimeline.map((t) => [t.sec, t.relayWaitMs / 1000]) },
      ],
    }),
    rss: lineChart({
      title: `Relay RSS while ${N.toLocaleString('en')} clients connect and join`,
      xLabel: 'clients connected and in their rooms',
      yLabel: 'relay RSS, MiB',
      series: [{ name: 'relay RSS', points: r.ramp.filter(([, m]) => m !== undefined) }],
    }),
  };
  return Object.entries(charts).map(([k, svg]) => {
    const f = join(dir, `${o.name}-${k}.svg`);
    writeFileSync(f, svg);
    return f.startsWith(root) ? f.slice(root.length) : f;
  });
}
