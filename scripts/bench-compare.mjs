#!/usr/bin/env node
// Compares two built checkouts on the fan-out, MLS and file-transfer benchmarks, to show that a change
// costs nothing beyond noise. Runs are interleaved, base and head in turn, the order alternating from
// pair to pair (base-head, head-base, ...), so that the machine's drift (other load, CPU boost) falls
// on both sides; for every metric it prints the median of the per-pair ratios head/base and their
// spread (min..max). Two checkouts of the same code show the noise floor.
//
//   node scripts/bench-compare.mjs --base ../base --head . [--pairs 3] [--only fanout,mls,transfer]
//     [--fanout-seconds 3] [--transfer-mib 128] [--mls-sizes 10,100] [--mls-reps 5]
//     [--bench-from own|head|base] [--json out.json]
//
// Each checkout must be built (`npm ci && npm run build` in it). By default each runs its own
// bench/<name>.mjs; `--bench-from head` runs head's benchmark scripts (bench/*.mjs) in both, for a
// base whose own are broken or older: they are written over base's for the run and put back on exit
// (after a kill -9, `git checkout bench` in base does it).
// Results go to a temporary directory (NULLROOM_BENCH_OUT); a checkout whose benchmarks predate that
// writes bench/results/, which is put back as it was after each run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    base: { type: 'string' },
    head: { type: 'string', default: '.' },
    pairs: { type: 'string', default: '3' },
    only: { type: 'string', default: 'fanout,mls,transfer' },
    'fanout-seconds': { type: 'string', default: '3' },
    'transfer-mib': { type: 'string', default: '128' },
    'mls-sizes': { type: 'string', default: '10,100' },
    'mls-reps': { type: 'string', default: '5' },
    'bench-from': { type: 'string', default: 'own' },
    json: { type: 'string' },
  },
});
if (opt.base === undefined) {
  console.error('usage: node scripts/bench-compare.mjs --base <checkout> [--head <checkout>] (see the header for options)');
  process.exit(2);
}
const sides = { base: resolve(opt.base), head: resolve(opt.head) };
const PAIRS = Number(opt.pairs);
if (!Number.isInteger(PAIRS) || PAIRS < 1) throw new Error('--pairs must be a positive integer');
if (!['own', 'head', 'base'].includes(opt['bench-from'])) throw new Error('--bench-from is own, head or base');
for (const [side, dir] of Object.entries(sides)) {
  if (!existsSync(join(dir, 'packages/client/dist')) || !existsSync(join(dir, 'apps/cli/dist'))) {
    throw new Error(`${side} (${dir}) is not built: run npm ci && npm run build there`);
  }
}

/**
 * The benchmarks: how each runs, and the metrics read from its JSON (`better`: which way is good).
 * The sizes on the wire are there too: they should not move (a sealed GroupInfo's varies a little by run).
 */
const BENCHES = {
  fanout: {
    args: [],
    // One round at 1 KiB per pair (bench/fanout.mjs's own default is 3 rounds at 256 B and 1 KiB).
    env: { FANOUT_SECONDS: opt['fanout-seconds'], FANOUT_ROUNDS: '1', FANOUT_SIZES: '1024' },
    metrics: (r) => [
      { name: 'fanout relay deliveries/s', value: r.relayDeliveriesPerSec, better: 'higher' },
      { name: 'fanout raw ws deliveries/s (baseline, same code)', value: r.wsDeliveriesPerSec, better: 'higher' },
      { name: 'fanout relay/ws', value: r.ratio, better: 'higher' },
    ],
  },
  mls: {
    args: ['--sizes', opt['mls-sizes'], '--pq-sizes', '', '--reps', opt['mls-reps']],
    env: {},
    metrics: (r) =>
      r.results.flatMap((x) => {
        const at = `mls ${x.suite.includes('XWING') ? 'pq' : 'default'} n=${x.members}`;
        return [
          ...['joinMs', 'processJoinMs', 'processJoinRestoredMs', 'encryptMs', 'decryptMs']
            .filter((k) => x[k] !== undefined) // processJoinRestoredMs is newer than some checkouts
            .map((k) => ({
              name: `${at} ${k}`,
              value: x[k].median,
              better: 'lower',
            })),
          ...['groupInfoBytes', 'commitBytes', 'appMessageBytes'].map((k) => ({ name: `${at} ${k}`, value: x[k], better: 'lower' })),
        ];
      }),
  },
  transfer: {
    args: [],
    env: { TRANSFER_MIB: opt['transfer-mib'], TRANSFER_PAIRS: '1' },
    metrics: (r) => [
      { name: 'transfer ours MB/s', value: r.oursMBps, better: 'higher' },
      { name: 'transfer raw ws MB/s (baseline, same code)', value: r.wsMBps, better: 'higher' },
      { name: 'transfer ours/ws', value: r.ratio, better: 'higher' },
      ...['sender', 'relay', 'receiver'].map((p) => ({ name: `transfer CPU s ${p}`, value: r.cpuSeconds?.[p], better: 'lower' })),
      ...['sender', 'relay', 'receiver'].map((p) => ({ name: `transfer peak RSS ${p}`, value: r.peakRssBytes[p], better: 'lower' })),
    ],
  },
};
const benches = opt.only.split(',').filter(Boolean);
for (const b of benches) if (!(b in BENCHES)) throw new Error(`unknown benchmark ${b}; known: ${Object.keys(BENCHES).join(', ')}`);

const out = mkdtempSync(join(tmpdir(), 'nullroom-bench-compare-'));
/** Files of a checkout this script replaced (path -> original bytes, or null if it had none), put back on exit. */
const lent = new Map();
const putBack = () => {
  for (const [f, original] of lent) {
    if (original === null) rmSync(f, { force: true });
    else writeFileSync(f, original);
  }
  lent.clear();
};
process.on('exit', putBack);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

// --bench-from: the other checkout runs these benchmark scripts and their helpers (bench/*.mjs; the
// attack suite's folder is not needed), lent for the run and put back afterwards.
const from = opt['bench-from'];
if (from !== 'own') {
  const to = from === 'head' ? sides.base : sides.head;
  for (const name of readdirSync(join(sides[from], 'bench')).filter((n) => n.endsWith('.mjs'))) {
    const src = readFileSync(join(sides[from], 'bench', name));
    const dst = join(to, 'bench', name);
    const original = existsSync(dst) ? readFileSync(dst) : null;
    if (original !== null && original.equals(src)) continue;
    lent.set(dst, original);
    writeFileSync(dst, src);
  }
}

/** Runs one benchmark in one checkout and returns its JSON report. */
function run(bench, side, pair) {
  const dir = sides[side];
  const spec = BENCHES[bench];
  const outDir = join(out, `${bench}-${side}-${pair}`);
  const committed = join(dir, 'bench', 'results', `${bench}.json`);
  const before = existsSync(committed) ? readFileSync(committed) : undefined;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(dir, 'bench', `${bench}.mjs`), ...spec.args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...spec.env, NULLROOM_BENCH_OUT: outDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 15 * 60_000,
  });
  let report;
  try {
    if (r.status !== 0) throw new Error(`${bench} in ${side} (${dir}) exited ${r.status ?? r.signal}:\n${r.stderr.slice(-3000)}`);
    const fresh = join(outDir, `${bench}.json`);
    report = JSON.parse(readFileSync(existsSync(fresh) ? fresh : committed, 'utf8'));
  } finally {
    // An older benchmark wrote over the committed results: put them back.
    if (before !== undefined && !readFileSync(committed).equals(before)) writeFileSync(committed, before);
  }
  process.stderr.write(`[compare] ${bench} pair ${pair + 1}/${PAIRS} ${side}: ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  return report;
}

/** One retry: a benchmark can fail its own sanity check on a busy machine; twice is a real failure. */
function runOnce(bench, side, pair) {
  try {
    return run(bench, side, pair);
  } catch (e) {
    process.stderr.write(
      `[compare] ${bench} pair ${pair + 1} ${side} failed, once more: ${e.message.split('\n').slice(0, 4).join(' | ')}\n`,
    );
    return run(bench, side, pair);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const r3 = (x) => Math.round(x * 1000) / 1000;

const started = performance.now();
/** metric name -> { better, base: [], head: [] }, one value per pair. */
const metrics = new Map();
for (const bench of benches) {
  for (let pair = 0; pair < PAIRS; pair++) {
    for (const side of pair % 2 === 0 ? ['base', 'head'] : ['head', 'base']) {
      for (const m of BENCHES[bench].metrics(runOnce(bench, side, pair))) {
        if (typeof m.value !== 'number') continue; // a metric this checkout's benchmark does not report
        const e = metrics.get(m.name) ?? { better: m.better, base: [], head: [] };
        e[side][pair] = m.value;
        metrics.set(m.name, e);
      }
    }
  }
}
putBack();

const rows = [];
for (const [name, e] of metrics) {
  const ratios = e.base
    .map((b, i) => (e.head[i] === undefined || b === undefined || b === 0 ? undefined : e.head[i] / b))
    .filter((x) => x !== undefined);
  if (ratios.length === 0) continue;
  const med = median(ratios);
  rows.push({
    metric: name,
    better: e.better,
    baseMedian: r3(median(e.base.filter((x) => x !== undefined))),
    headMedian: r3(median(e.head.filter((x) => x !== undefined))),
    ratio: r3(med),
    min: r3(Math.min(...ratios)),
    max: r3(Math.max(...ratios)),
    pairs: ratios.map(r3),
  });
}

const table = [
  ['metric', 'better', 'base', 'head', 'head/base', 'spread'],
  ...rows.map((r) => [r.metric, r.better, String(r.baseMedian), String(r.headMedian), String(r.ratio), `${r.min}..${r.max}`]),
];
const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
const line = (row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
console.log(`head ${sides.head} vs base ${sides.base}: ${PAIRS} interleaved pairs, medians of the per-pair ratios head/base`);
console.log(line(table[0]));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of table.slice(1)) console.log(line(row));
console.log(`\n${((performance.now() - started) / 1000).toFixed(0)} s in all`);
if (opt.json !== undefined) {
  writeFileSync(
    opt.json,
    `${JSON.stringify({ date: new Date().toISOString(), base: sides.base, head: sides.head, pairs: PAIRS, options: opt, rows }, null, 2)}\n`,
  );
}
rmSync(out, { recursive: true, force: true });
