#!/usr/bin/env node
/**
 * File transfer: one file (default 1 GiB, TRANSFER_MIB) from one `nullroom chat` terminal client to
 * another through `nullroom serve`, end to end encrypted (sealed chunks through the relay's blob
 * store, hashed and verified), three processes. Baseline in the same run: raw `ws` moving the same
 * bytes unencrypted through a minimal forwarding server (sender -> server -> receiver, 4 MiB
 * messages like our chunks, sender paced by bufferedAmount), also three processes. Reports throughput, the ratio
 * (target >= 0.5; the median of TRANSFER_PAIRS back-to-back pairs, 3 by default), the peak RSS (VmHWM)
 * and the CPU seconds of sender, relay and receiver.
 *   npm run build && node bench/transfer.mjs
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { makeFile, sha256File } from './_payload.mjs';
import { writeResult } from './_results.mjs';

const MIB = Number(process.env.TRANSFER_MIB ?? 1024);
const here = (f) => new URL(f, import.meta.url).pathname;
const BIN = here('../apps/cli/dist/src/main.js');

const peakRss = (pid) => {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
};

function lines(child, onLine) {
  createInterface({ input: child.stdout }).on('line', onLine);
}
function waitFor(child, pred, what) {
  return new Promise((resolve, reject) => {
    lines(child, (l) => {
      let e;
      try {
        e = JSON.parse(l);
      } catch {
        e = l;
      }
      if (pred(e)) resolve(e);
    });
    child.once('exit', (code) => reject(new Error(`${what}: exited ${code}`)));
  });
}
/** CPU seconds (user + system) a live process has used so far. */
const cpuSeconds = (pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
};
/** Samples a process's peak RSS until it exits (VmHWM is gone once it has). */
function sampler(child) {
  let peak = 0;
  const t = setInterval(() => (peak = Math.max(peak, peakRss(child.pid) ?? 0)), 200);
  return () => (clearInterval(t), Math.max(peak, peakRss(child.pid) ?? 0));
}

async function ours(file, expected) {
  const data = mkdtempSync(join(os.tmpdir(), 'nullroom-bench-relay-'));
  const relay = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', data, '--blob-dir', join(data, 'blobs')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const relayPeak = sampler(relay);
  const url = (await waitFor(relay, (l) => typeof l === 'string' && l.startsWith('nullroom listening on '), 'relay')).slice(
    'nullroom listening on '.length,
  );
  const env = { ...process.env, NULLROOM_PASSWORD: 'benchmark password' };
  const down = mkdtempSync(join(os.tmpdir(), 'nullroom-bench-down-'));
  const receiver = spawn(
    process.execPath,
    [BIN, 'chat', url, '--room', 'bench', '--nick', 'receiver', '--json', '--no-key-store', '--download-dir', down, '--max-file', '64G'],
    { env, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const receiverPeak = sampler(receiver);
  await waitFor(receiver, (e) => e.event === 'joined', 'receiver joined');
  const sender = spawn(process.execPath, [BIN, 'chat', url, '--room', 'bench', '--nick', 'sender', '--json', '--no-key-store'], {
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const senderPeak = sampler(sender);
  await waitFor(sender, (e) => e.event === 'joined', 'sender joined');
  await new Promise((r) => setTimeout(r, 500));
  const got = waitFor(receiver, (e) => e.event === 'file', 'receiver got the file');
  const start = performance.now();
  sender.stdin.write(`/send ${file}\n`);
  const e = await got;
  const seconds = (performance.now() - start) / 1000;
  if (e.sha256 !== expected || statSync(e.path).size !== MIB * 1024 * 1024) throw new Error('the received file differs');
  const result = {
    seconds,
    mbPerSec: (MIB * 1024 * 1024) / 1e6 / seconds,
    peakRss: { sender: senderPeak(), relay: relayPeak(), receiver: receiverPeak() },
    cpu: { sender: cpuSeconds(sender.pid), relay: cpuSeconds(relay.pid), receiver: cpuSeconds(receiver.pid) },
  };
  for (const c of [sender, receiver, relay]) c.kill('SIGKILL');
  rmSync(down, { recursive: true, force: true });
  rmSync(data, { recursive: true, force: true });
  return result;
}

async function rawWs(file) {
  const server = spawn(process.execPath, [here('./transfer-ws.mjs'), 'server'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const serverPeak = sampler(server);
  const port = await new Promise((resolve) => createInterface({ input: server.stdout }).once('line', resolve));
  const receiver = spawn(process.execPath, [here('./transfer-ws.mjs'), 'receive', port, String(MIB * 1024 * 1024)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const receiverPeak = sampler(receiver);
  await new Promise((resolve) => createInterface({ input: receiver.stdout }).once('line', resolve)); // connected
  const sender = spawn(process.execPath, [here('./transfer-ws.mjs'), 'send', port, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const senderPeak = sampler(sender);
  const start = performance.now();
  const done = await new Promise((resolve) => createInterface({ input: receiver.stdout }).once('line', resolve));
  const seconds = (performance.now() - start) / 1000;
  if (JSON.parse(done).bytes !== MIB * 1024 * 1024) throw new Error('raw ws lost bytes');
  const result = {
    seconds,
    mbPerSec: (MIB * 1024 * 1024) / 1e6 / seconds,
    peakRss: { sender: senderPeak(), relay: serverPeak(), receiver: receiverPeak() },
    cpu: { sender: cpuSeconds(sender.pid), relay: cpuSeconds(server.pid), receiver: cpuSeconds(receiver.pid) },
  };
  for (const c of [sender, receiver, server]) c.kill('SIGKILL');
  return result;
}

const dir = mkdtempSync(join(os.tmpdir(), 'nullroom-bench-file-'));
const file = makeFile(dir, 'payload.bin', MIB);
const expected = await sha256File(file);
// TRANSFER_ONLY=ours: one run of ours alone (e.g. TRANSFER_MIB=2048 for the memory check), kept apart.
if (process.env.TRANSFER_ONLY === 'ours') {
  const r = await ours(file, expected);
  rmSync(dir, { recursive: true, force: true });
  const out = {
    bench: 'transfer-memory',
    date: new Date().toISOString(),
    fileBytes: MIB * 1024 * 1024,
    mbPerSec: Math.round(r.mbPerSec),
    peakRssBytes: r.peakRss,
  };
  writeResult(`transfer-${MIB}MiB`, out);
  console.log(
    `${MIB} MiB terminal to terminal: ${out.mbPerSec} MB/s; peak RSS sender ${(r.peakRss.sender / 2 ** 20).toFixed(0)} MiB, relay ${(r.peakRss.relay / 2 ** 20).toFixed(0)} MiB, receiver ${(r.peakRss.receiver / 2 ** 20).toFixed(0)} MiB`,
  );
  process.exit(0);
}
// PAIRS back-to-back pairs, the order alternating: the machine's speed drifts (other load, CPU
// boost), so each ours run is compared with the ws run next to it, and the median pair reported.
const PAIRS = Number(process.env.TRANSFER_PAIRS ?? 3);
const runs = { ours: [], ws: [] };
const pairs = [];
for (let p = 0; p < PAIRS; p++) {
  const pair = {};
  for (const mode of p % 2 === 0 ? ['ws', 'ours'] : ['ours', 'ws']) {
    const r = mode === 'ours' ? await ours(file, expected) : await rawWs(file);
    process.stderr.write(
      `[transfer] ${mode}: ${r.mbPerSec.toFixed(0)} MB/s, peak RSS sender ${(r.peakRss.sender / 2 ** 20).toFixed(0)} MiB, relay ${(r.peakRss.relay / 2 ** 20).toFixed(0)} MiB, receiver ${(r.peakRss.receiver / 2 ** 20).toFixed(0)} MiB; CPU s ${JSON.stringify(r.cpu)}\n`,
    );
    runs[mode].push(r);
    pair[mode] = r;
  }
  pairs.push({ ...pair, ratio: pair.ours.mbPerSec / pair.ws.mbPerSec });
}
rmSync(dir, { recursive: true, force: true });
const maxRss = (rs, k) => Math.max(...rs.map((r) => r.peakRss[k]));
const median = [...pairs].sort((a, b) => a.ratio - b.ratio)[Math.floor(pairs.length / 2)];
const o = median.ours;
const w = median.ws;
const round3 = (x) => Math.round(x * 1000) / 1000;
const report = {
  bench: 'transfer',
  date: new Date().toISOString(),
  machine: {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  },
  fileBytes: MIB * 1024 * 1024,
  // The median pair (by ratio): its two speeds, its ratio.
  oursMBps: Math.round(o.mbPerSec),
  wsMBps: Math.round(w.mbPerSec),
  ratio: round3(median.ratio),
  pairRatios: pairs.map((p) => round3(p.ratio)),
  peakRssBytes: { sender: maxRss(runs.ours, 'sender'), relay: maxRss(runs.ours, 'relay'), receiver: maxRss(runs.ours, 'receiver') },
  wsPeakRssBytes: { sender: maxRss(runs.ws, 'sender'), relay: maxRss(runs.ws, 'relay'), receiver: maxRss(runs.ws, 'receiver') },
  // CPU seconds (user + system, all threads) of each process in the median pair.
  cpuSeconds: o.cpu,
  wsCpuSeconds: w.cpu,
  runs: { ours: runs.ours.map((r) => Math.round(r.mbPerSec)), ws: runs.ws.map((r) => Math.round(r.mbPerSec)) },
};
writeResult('transfer', report);
console.log(
  `file transfer, ${MIB} MiB: ours ${report.oursMBps} MB/s, raw ws ${report.wsMBps} MB/s, ratio ${report.ratio} (target >= 0.5: ${report.ratio >= 0.5 ? 'HOLDS' : 'MISSED'}); peak RSS sender ${(report.peakRssBytes.sender / 2 ** 20).toFixed(0)} MiB, relay ${(report.peakRssBytes.relay / 2 ** 20).toFixed(0)} MiB, receiver ${(report.peakRssBytes.receiver / 2 ** 20).toFixed(0)} MiB`,
);
