/**
 * Every benchmark that `npm run bench` (scripts/run-bench.mjs) measures, run in a small, quick mode,
 * so that none of them can rot unnoticed between two benchmark runs (bench/mls.mjs once did: it
 * crashed for weeks after credentials started to need an identity key). Each run writes its JSON
 * into a temporary directory (NULLROOM_BENCH_OUT, bench/_results.mjs), never over bench/results/,
 * and the test checks that the run ended and that its numbers are sane: present, finite, positive,
 * for the sizes asked. The numbers themselves are not judged here (docs/benchmarks.md does that).
 * The attack suite and the HTTP fuzzer, the other two, run in their CI modes in attack.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The browser benchmark needs Debian's Chromium (.ci/run installs it); the web tests' helper lives
// beside the web app, which the CLI's tests do not import.
const skip = existsSync('/usr/bin/chromium') ? false : '/usr/bin/chromium is not installed (.ci/run installs it)';
const root = fileURLToPath(new URL('../../../../', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'nullroom-bench-quick-'));
const MiB = 2 ** 20;

/** Runs bench/<name>.mjs with `args` and `env` (plus NULLROOM_BENCH_OUT) and returns the JSON it wrote as `result`. */
function bench(name: string, args: string[], env: Record<string, string>, result = name): Record<string, unknown> {
  const r = spawnSync(process.execPath, [join(root, 'bench', `${name}.mjs`), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, ...env, NULLROOM_BENCH_OUT: out },
  });
  assert.equal(r.status, 0, `bench/${name}.mjs exited ${r.status ?? r.signal}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(readFileSync(join(out, `${result}.json`), 'utf8')) as Record<string, unknown>;
}

/** A number that a measurement can be: finite and above zero. */
function positive(v: unknown, what: string): void {
  assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${what}: ${String(v)}`);
}

test('bench/bundle.mjs measures the web app bundle', () => {
  const r = bench('bundle', [], {});
  positive(r.initialJsGzipBytes, 'initial JS, gzip');
  positive(r.initialJsBytes, 'initial JS');
  assert.ok((r.initialJsGzipBytes as number) < (r.initialJsBytes as number), 'gzip is smaller than raw');
});

test('bench/fanout.mjs measures our relay, a corked and a naive ws broadcast at 256 B and 1 KiB (one round, 1 s per measurement)', () => {
  const r = bench('fanout', [], { FANOUT_SECONDS: '1', FANOUT_ROUNDS: '1' });
  positive(r.relayDeliveriesPerSec, 'relay deliveries/s');
  positive(r.wsDeliveriesPerSec, 'ws deliveries/s');
  positive(r.ratio, 'ratio');
  const results = r.results as Array<Record<string, unknown>>;
  assert.deepEqual(
    results.map((x) => x.payloadBytes),
    [256, 1024],
  );
  for (const x of results) {
    for (const k of ['relayDeliveriesPerSec', 'corkedDeliveriesPerSec', 'wsDeliveriesPerSec', 'relayOverCorked', 'relayOverWs'])
      positive(x[k], `${k} at ${String(x.payloadBytes)} B`);
  }
});

test('bench/idle.mjs measures idle connections on our relay and on bare ws (200 connections, one pair, 2 s idle)', () => {
  const r = bench('idle', [], { IDLE_CONNECTIONS: '200', IDLE_PAIRS: '1', IDLE_SECONDS: '2', IDLE_WARM: '20' });
  assert.equal(r.connections, 200);
  for (const server of ['relay', 'ws']) {
    const s = r[server] as Record<string, number>;
    positive(s.rssKiBPerConnection, `${server} RSS per connection`);
    positive(s.heapKiBPerConnection, `${server} heap per connection`);
  }
  positive((r.relay as Record<string, number>).idleCpuPercentOfCore, 'relay idle CPU');
});

test('bench/mls.mjs measures join, process join, encrypt and decrypt (2 and 10 members, and 2 with the PQ suite)', () => {
  const r = bench('mls', ['--sizes', '2,10', '--pq-sizes', '2', '--reps', '2'], {});
  const results = r.results as Array<Record<string, unknown>>;
  assert.deepEqual(
    results.map((x) => [String(x.suite).includes('XWING') ? 'pq' : 'default', x.members]),
    [
      ['default', 2],
      ['default', 10],
      ['pq', 2],
    ],
  );
  for (const x of results) {
    for (const k of ['joinMs', 'processJoinMs', 'processJoinRestoredMs', 'encryptMs', 'decryptMs'])
      positive((x[k] as { median: number }).median, `${k} at ${x.members}`);
    for (const k of ['groupInfoBytes', 'commitBytes', 'appMessageBytes']) positive(x[k], `${k} at ${x.members}`);
  }
});

test('bench/transfer.mjs moves an 8 MiB file through ours and raw ws (one pair)', () => {
  const r = bench('transfer', [], { TRANSFER_MIB: '8', TRANSFER_PAIRS: '1' });
  assert.equal(r.fileBytes, 8 * MiB);
  positive(r.oursMBps, 'ours MB/s');
  positive(r.wsMBps, 'ws MB/s');
  positive(r.ratio, 'ratio');
  const rss = r.peakRssBytes as Record<string, number>;
  for (const p of ['sender', 'relay', 'receiver']) positive(rss[p], `peak RSS of the ${p}`);
});

test('bench/private.mjs measures hidden and direct private messages at 2 and 3 members (5 messages each)', () => {
  const r = bench('private', [], { PRIVATE_SIZES: '2,3', PRIVATE_MESSAGES: '5', PRIVATE_TIME_LIMIT: '200' });
  const results = r.results as Array<Record<string, Record<string, unknown>>>;
  assert.deepEqual(
    results.map((x) => x.members),
    [2, 3],
  );
  for (const x of results) {
    for (const routing of ['hidden', 'direct'] as const) {
      const m = x[routing] as Record<string, unknown>;
      positive((m.latencyMs as { median: number }).median, `${routing} latency at ${String(x.members)}`);
      positive(m.relayBytesPerMessage, `${routing} relay bytes at ${String(x.members)}`);
    }
  }
  floorMeasured(r);
});

/** The same-run receive floor (one Ed25519 verification) at the start and the end of a run. */
function floorMeasured(r: Record<string, unknown>) {
  const f = r.ed25519VerifyMs as { start: number; end: number };
  positive(f.start, 'one Ed25519 verification at the start');
  positive(f.end, 'and at the end');
}

test('bench/e2e.mjs measures joins, latency and a burst with real clients (4 members in 2 hosts, a few messages)', () => {
  const r = bench('e2e', [], {
    E2E_MEMBERS: '4',
    E2E_HOSTS: '2',
    E2E_RATE: '10',
    E2E_RATE_SECONDS: '1',
    E2E_RATE_WARMUP: '0.5',
    E2E_BURST: '10',
    E2E_TIME_LIMIT: '200',
  });
  const joins = r.joins as { members: number; untilAllSeeAllMs: number };
  assert.equal(joins.members, 4);
  positive(joins.untilAllSeeAllMs, 'joins');
  const rate = r.rate as { deliveries: number; latencyMs: { p50: number }; warmup: { messages: number; latencyMs: { p50: number } } };
  assert.equal(rate.deliveries, 10 * 3, 'every measured rate message reached every receiver once');
  positive(rate.latencyMs.p50, 'latency');
  assert.equal(rate.warmup.messages, 5, 'half a second of warm-up at 10 msg/s');
  positive(rate.warmup.latencyMs.p50, 'the warm-up latency');
  const burst = r.burst as { deliveries: number; deliveriesPerSecond: number; cpu: Record<string, number> };
  assert.equal(burst.deliveries, 10 * 3);
  positive(burst.deliveriesPerSecond, 'deliveries per second');
  for (const k of ['receiverMsPerDelivery', 'senderMsPerMessage', 'relayUsPerDelivery']) positive(burst.cpu[k], k);
  floorMeasured(r);
});

test('bench/browser-transfer.mjs moves a 4 MiB file to the web app in Chromium (one run)', { skip }, () => {
  const r = bench('browser-transfer', [], { MIB: '4', RUNS: '1', TIMEOUT_S: '120' }, 'browser-transfer-4MiB');
  assert.equal(r.fileBytes, 4 * MiB);
  positive(r.mbPerSec, 'MB/s');
  const rss = r.peakRssBytes as Record<string, number>;
  for (const p of ['rendererMax', 'relay', 'sender']) positive(rss[p], `peak RSS ${p}`);
});

test('bench/browser-mls.mjs receives and encrypts room messages in Chromium and in Node (50 messages, 2 rounds)', { skip }, () => {
  const r = bench('browser-mls', [], { BROWSER_MLS_MESSAGES: '50', BROWSER_MLS_ROUNDS: '2' });
  assert.equal(r.messages, 50);
  for (const side of ['node', 'chromium']) {
    const m = r[side] as Record<string, unknown>;
    positive(m.receiveMs, `${side} receive`);
    positive(m.encryptMs, `${side} encrypt`);
    positive(m.verifyMs, `${side}: one Ed25519 verification, the floor`);
    assert.equal((m.rounds as unknown[]).length, side === 'node' ? 4 : 2, `${side}: every round`);
  }
  positive((r.node as Record<string, unknown>).receiveCpuMs, 'node receive CPU');
});

test('bench/roomstore.mjs measures durable appends of 1 KiB frames and the load that follows (0.3 s per measurement)', () => {
  const r = bench('roomstore', [], { ROOMSTORE_SECONDS: '0.3' });
  const results = r.results as Array<Record<string, unknown>>;
  assert.deepEqual(
    results.map((x) => x.rooms),
    [1, 100],
  );
  for (const x of results) {
    positive(x.appendsPerSec, `appends/s in ${String(x.rooms)} room(s)`);
    positive((x.appendUs as { median: number }).median, 'append median');
    positive(x.loadedEntries, 'entries loaded');
    positive(x.fileBytes, 'file size');
  }
});

test('bench/accounts.mjs registers and logs in through the real API (2 accounts)', () => {
  const r = bench('accounts', [], { ACCOUNTS_N: '2', ACCOUNTS_TIME_LIMIT: '120' });
  for (const phase of ['registration', 'login']) {
    const p = r[phase] as { n: number; wallMs: { median: number }; clientCpuMs: { median: number }; relayCpuMsPerOp: number };
    assert.equal(p.n, 2);
    positive(p.wallMs.median, `${phase} wall`);
    positive(p.clientCpuMs.median, `${phase} client CPU`);
    assert.ok(Number.isFinite(p.relayCpuMsPerOp) && p.relayCpuMsPerOp >= 0, `${phase} relay CPU`);
  }
});

test('bench/mailbox.mjs submits into 2- and 100-member conversations and reads and acks a mailbox (500 entries, one round)', () => {
  const r = bench('mailbox', [], { MAILBOX_MESSAGES: '500', MAILBOX_GROUP_MESSAGES: '20', MAILBOX_ROUNDS: '1', MAILBOX_TIME_LIMIT: '200' });
  type Rate = { perSec: { median: number } };
  const results = r.results as Array<{
    store: string;
    appTwo: Rate;
    appParallel: Rate;
    appGroup: Rate & { deliveriesPerSec: number };
    readAck: Rate & { entries: number };
  }>;
  assert.deepEqual(
    results.map((x) => x.store),
    process.env.DATABASE_URL === undefined ? ['sqlite'] : ['sqlite', 'postgres'],
  );
  for (const x of results) {
    for (const k of ['appTwo', 'appParallel', 'appGroup', 'readAck'] as const) positive(x[k].perSec.median, `${x.store} ${k}`);
    assert.equal(x.readAck.entries, 500);
    positive(x.appGroup.deliveriesPerSec, `${x.store} deliveries/s`);
  }
});

test('bench/inbox.mjs delivers a queued mailbox to a device that connects (200 messages)', () => {
  const r = bench('inbox', [], { INBOX_N: '200', INBOX_TIME_LIMIT: '200' });
  type Run = { queued: number; received: number; inOrder: boolean; messagesPerSecond: number; receiverCpuMsPerMessage: number };
  const runs = [r.sqlite, r.postgres].filter((x) => x !== undefined) as Run[];
  assert.equal(runs.length, process.env.DATABASE_URL === undefined ? 1 : 2);
  for (const x of runs) {
    assert.deepEqual([x.queued, x.received, x.inOrder], [200, 200, true]);
    positive(x.messagesPerSecond, 'messages/s');
    positive(x.receiverCpuMsPerMessage, 'receiver CPU');
  }
});

test('bench/groups.mjs builds an account conversation, reads a message in it and removes a device (50 devices)', () => {
  const r = bench('groups', [], { GROUPS_N: '50', GROUPS_TIME_LIMIT: '200' });
  assert.equal(r.devices, 50);
  const add = r.add as { ms: number; welcomeBytes: number };
  positive(add.ms, 'the add');
  positive(add.welcomeBytes, 'the Welcome');
  positive((r.join as { ms: number }).ms, 'the join');
  positive((r.remove as { processMs: number }).processMs, 'processing the removal');
});

test('bench/channels.mjs measures the relay memory of authenticated account channels (50)', () => {
  const r = bench('channels', [], { CHANNELS_N: '50', CHANNELS_TIME_LIMIT: '200' });
  assert.equal(r.channels, 50);
  positive(r.openPerSecond as number, 'channels opened per second');
  const b = r.bytesPerChannel as { rss: number; heapUsed: number };
  assert.ok(Number.isFinite(b.rss) && Number.isFinite(b.heapUsed), 'bytes per channel');
});

test('bench/load.mjs drives 300 clients in rooms of 2, 10 and 100 through nullroom serve and checks every delivery (4 s)', () => {
  const r = bench('load', [], {
    LOAD_CLIENTS: '300',
    LOAD_RATE: '150',
    LOAD_SECONDS: '4',
    LOAD_WARMUP: '1',
    LOAD_MIX: '2:30,10:30,100:40',
  });
  assert.equal(r.clients, 300);
  assert.deepEqual(r.roomsBySize, { 2: 55, 10: 9, 100: 1 }, 'rooms of each size');
  const check = r.check as Record<string, unknown>;
  assert.equal(check.ok, true, JSON.stringify(check));
  assert.deepEqual([check.lost, check.duplicated, check.reordered, check.seqBackwards], [0, 0, 0, 0]);
  positive(check.deliveries, 'deliveries checked');
  assert.equal(check.deliveries, check.expectedDeliveries, 'every ACKed message reached every other member once');
  positive(r.deliveriesPerSec, 'deliveries/s');
  for (const p of ['p50', 'p99', 'p999']) positive((r.latencyMs as Record<string, number>)[p], `latency ${p}`);
  for (const k of ['relayCpuCores', 'loadCpuCores', 'relayRssKiBPerConnection', 'deliveriesPerRelayCpuSecond']) positive(r[k], k);
  for (const f of r.plots as string[])
    assert.match(readFileSync(f, 'utf8'), /^<svg [^>]*>[\s\S]*<polyline points="[0-9]/, `${f} is a chart`);
});

test('bench/load.mjs fails a run whose deliveries break the rules (a receiver made to drop, repeat or reorder one)', () => {
  for (const [fault, key] of [
    ['drop', 'lost'],
    ['dup', 'duplicated'],
    ['reorder', 'seqBackwards'],
  ] as const) {
    const run = spawnSync(process.execPath, [join(root, 'bench', 'load.mjs')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env,
        NULLROOM_BENCH_OUT: out,
        LOAD_PLOTS: 'none',
        LOAD_FAULT: fault,
        LOAD_CLIENTS: '100',
        LOAD_RATE: '100',
        LOAD_SECONDS: '2',
        LOAD_WARMUP: '0',
        LOAD_NAME: `load-fault-${fault}`,
      },
    });
    assert.equal(run.status, 1, `LOAD_FAULT=${fault}: exit ${run.status ?? run.signal}: ${run.stderr.slice(-1000)}`);
    const check = JSON.parse(readFileSync(join(out, `load-fault-${fault}.json`), 'utf8')).check as Record<string, number | boolean>;
    assert.equal(check.ok, false);
    assert.ok((check[key] as number) >= 1, `LOAD_FAULT=${fault} counted as ${key}: ${JSON.stringify(check)}`);
  }
});

test('bench/cluster.mjs drives one relay and clusters of 1 and 2 nodes on Redis with the same checked load, and prices Redis per message', {
  skip: process.env.REDIS_URL === undefined ? 'REDIS_URL is not set: the cluster bench needs a Redis (CI sets it)' : false,
}, () => {
  const r = bench('cluster', [], {
    CLUSTER_CLIENTS: '120',
    CLUSTER_RATE: '60',
    CLUSTER_SECONDS: '3',
    CLUSTER_NODES: '1,2',
    CLUSTER_MIX: '2:50,10:50',
  });
  const rows = r.rows as Array<Record<string, unknown>>;
  assert.deepEqual(
    rows.map((x) => x.nodes),
    [1, 1, 2],
  );
  for (const x of rows) {
    assert.equal(x.checked, true, `${String(x.setup)}: every ACKed message delivered once, in order`);
    positive(x.deliveriesPerSec, `${String(x.setup)} deliveries/s`);
  }
  for (const x of rows.slice(1)) {
    positive(x.redisCpuUsPerMessage, `${String(x.setup)}: Redis CPU per message`);
    positive(x.redisBytesPerMessage, `${String(x.setup)}: Redis bytes per message`);
  }
});
