#!/usr/bin/env node
/**
 * Offline delivery at login (issue #15): a device that was offline while 10,000 messages were sent
 * to it connects, and the bench measures how long its Messenger takes to receive, decrypt, save
 * and acknowledge them all (its mailbox caught up), as messages per second, with the relay's store
 * embedded (SQLite) and, when DATABASE_URL is set, on PostgreSQL. The relay runs in its own
 * process (its CPU is its own); both devices are the SDK's Messenger in this process, with real
 * MLS, over the real account channel.
 *
 *   npm run build && node bench/inbox.mjs        INBOX_N=10000 (messages queued)
 *
 * Writes bench/results/inbox.json; prints one summary line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ephemeralIdentity } from '../packages/crypto/dist/src/index.js';
import {
  AccountClient,
  AccountDevices,
  MemoryMessengerStore,
  MemoryTrustedLists,
  Messenger,
} from '../packages/client/dist/src/accounts.js';
import { nodeWebSocket } from '../packages/client/dist/src/node/index.js';
import { writeResult } from './_results.mjs';
import { benchStart, cpuNow, machine, r2 } from './_workers.mjs';

const N = Number(process.env.INBOX_N ?? 10_000);
const { log, started, loadAtStart } = benchStart('inbox', Number(process.env.INBOX_TIME_LIMIT ?? 900));
const dir = mkdtempSync(join(tmpdir(), 'nullroom-bench-inbox-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const href = (p) => JSON.stringify(new URL(p, import.meta.url).href);

function relayProcess(store) {
  const code = `
import { startRelay } from ${href('../packages/server/dist/src/index.js')};
import { openSqliteAccountStore, openPgAccountStore } from ${href('../packages/server/dist/src/accounts/index.js')};
import * as opaque from '@serenity-kit/opaque';
await opaque.ready;
const store = ${store === 'sqlite' ? `openSqliteAccountStore(${JSON.stringify(join(dir, 'accounts.db'))})` : `await openPgAccountStore({ connectionString: process.env.DATABASE_URL, schema: 'nr_bench_inbox_' + process.pid })`};
const relay = await startRelay({ port: 0, blobs: false, accounts: {
  store, opaqueSetup: opaque.server.createSetup(),
  limits: { addressBurst: 1e9, addressIntervalMs: 1 },
  // One sender sends as fast as it can: the per-channel submit rate is lifted.
  channelLimits: { submitsPerSecond: 1e9 },
} });
process.stdout.write(relay.url + '\\n');
process.on('SIGTERM', async () => {
  await relay.close();
  ${store === 'pg' ? `const pg = (await import('pg')).default; const c = new pg.Client({ connectionString: process.env.DATABASE_URL }); await c.connect(); await c.query('DROP SCHEMA IF EXISTS "nr_bench_inbox_' + process.pid + '" CASCADE'); await c.end();` : ''}
  process.exit(0);
});
`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: new URL('../packages/server/', import.meta.url).pathname,
  });
  const url = new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).once('line', resolve);
    proc.once('exit', (c) => reject(new Error(`the relay exited ${c}`)));
  });
  const cpu = () => {
    const f = readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
  };
  return { proc, url, cpu };
}

async function device(url, name) {
  const client = new AccountClient({ url });
  const s = await client.register(name, `bench password ${name}`);
  const me = await ephemeralIdentity();
  const devices = new AccountDevices(client, name, me, new MemoryTrustedLists());
  const device = await devices.enrolFirst();
  const store = new MemoryMessengerStore();
  const socket = nodeWebSocket({ headers: { authorization: `Bearer ${s.token}` } });
  return () => Messenger.start({ url, name, me, device, devices, socket, store, keyPackages: 2 });
}

async function run(storeKind) {
  const relay = relayProcess(storeKind);
  const url = await relay.url;
  const startAlice = await device(url, 'alice');
  const startBob = await device(url, 'bob');
  const alice = await startAlice();
  let bob = await startBob();
  const joined = new Promise((r) => bob.on('conversation', r));
  const id = await alice.startConversation(['bob']);
  await joined;
  await bob.settled();
  bob.close();
  const text = 'x'.repeat(100);
  const s0 = performance.now();
  for (let i = 0; i < N; i++) await alice.sendText(id, `${i} ${text}`);
  const sendSeconds = (performance.now() - s0) / 1000;
  log(`${storeKind}: ${N} queued in ${r2(sendSeconds)} s`);
  alice.close();

  let got = 0;
  let inOrder = true;
  const c0 = cpuNow();
  const r0 = relay.cpu();
  const t0 = performance.now();
  bob = await startBob();
  bob.on('message', (m) => {
    if (!m.text.startsWith(`${got} `)) inOrder = false;
    got++;
  });
  await bob.caughtUp();
  const seconds = (performance.now() - t0) / 1000;
  const result = {
    queued: N,
    received: got,
    inOrder,
    seconds: r2(seconds),
    messagesPerSecond: Math.round(got / seconds),
    receiverCpuMsPerMessage: r2((cpuNow() - c0) / 1000 / got),
    relayCpuMsPerMessage: r2((relay.cpu() - r0) / 1000 / got),
    sendPerSecond: Math.round(N / sendSeconds),
  };
  bob.close();
  relay.proc.kill('SIGTERM');
  await new Promise((r) => relay.proc.once('exit', r));
  log(`${storeKind}: ${JSON.stringify(result)}`);
  if (got !== N || !inOrder) throw new Error(`${storeKind}: received ${got} of ${N}, in order: ${inOrder}`);
  return result;
}

const sqlite = await run('sqlite');
const postgres = process.env.DATABASE_URL === undefined ? undefined : await run('pg');
writeResult('inbox', {
  bench: 'inbox',
  date: new Date().toISOString(),
  machine: machine(loadAtStart),
  seconds: Math.round((performance.now() - started) / 1000),
  message: '100-character text, MLS default suite, one sender, one receiving device',
  sqlite,
  ...(postgres === undefined ? {} : { postgres }),
});
console.log(
  `inbox: ${N} queued messages at login: SQLite ${sqlite.messagesPerSecond}/s (${sqlite.seconds} s)` +
    (postgres === undefined ? '' : `, PostgreSQL ${postgres.messagesPerSecond}/s (${postgres.seconds} s)`),
);
process.exit(0);
