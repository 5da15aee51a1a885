#!/usr/bin/env node
/**
 * Accounts (issue #15): what an OPAQUE registration and login cost, on each side, through the real
 * API. The relay (with the embedded account store, in a temporary folder) runs in its own process,
 * so its CPU is its own; the client is the SDK's AccountClient in this process.
 *
 *   npm run build && node bench/accounts.mjs      ACCOUNTS_N=20 (registrations, then as many logins)
 *
 * First 2 accounts registered and logged in unmeasured (the relay's first calls load the username
 * tables, compile OPAQUE's WebAssembly and warm the JIT); then per registration and per login: wall time, the client's CPU (Argon2id, m = 64 MiB, t = 3, p = 4,
 * dominates) and the relay's CPU (the OPRF evaluation, the 3DH of the login, the store's writes),
 * medians and p95. The relay's CPU comes from /proc over each phase, divided by its operations.
 * Writes bench/results/accounts.json; prints one summary line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AccountClient } from '../packages/client/dist/src/accounts.js';
import { writeResult } from './_results.mjs';
import { benchStart, cpuNow, machine, quantile, r2 } from './_workers.mjs';

const N = Number(process.env.ACCOUNTS_N ?? 20);
const { log, started, loadAtStart } = benchStart('accounts', Number(process.env.ACCOUNTS_TIME_LIMIT ?? 600));
const dir = mkdtempSync(join(tmpdir(), 'nullroom-bench-accounts-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const serverCode = `
import { startRelay } from ${JSON.stringify(new URL('../packages/server/dist/src/index.js', import.meta.url).href)};
import { openSqliteAccountStore, loadOpaqueSetup } from ${JSON.stringify(new URL('../packages/server/dist/src/accounts/index.js', import.meta.url).href)};
const data = ${JSON.stringify(dir)};
const relay = await startRelay({ port: 0, blobs: false, accounts: {
  store: openSqliteAccountStore(data + '/accounts.db'),
  opaqueSetup: await loadOpaqueSetup(data + '/opaque-setup', {}),
  // One client from one address makes every request: its per-address bucket is lifted.
  limits: { addressBurst: 1e9, addressIntervalMs: 1 },
} });
process.stdout.write(relay.url + '\\n');
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => relay.close().then(() => process.exit(0)));
`;
const server = spawn(process.execPath, ['--input-type=module', '-e', serverCode], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  createInterface({ input: server.stdout }).once('line', resolve);
  server.once('exit', (c) => reject(new Error(`the relay exited ${c}`)));
});

/** The relay's CPU so far (µs), from /proc (user + system, 100 ticks per second). */
function relayCpu() {
  const stat = readFileSync(`/proc/${server.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
}

async function phase(name, op) {
  const wall = [];
  const client = [];
  const relay0 = relayCpu();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const c0 = cpuNow();
    const w0 = performance.now();
    await op(i);
    wall.push(performance.now() - w0);
    client.push((cpuNow() - c0) / 1000);
  }
  const seconds = (performance.now() - t0) / 1000;
  const r = {
    n: N,
    wallMs: { median: r2(quantile(wall, 0.5)), p95: r2(quantile(wall, 0.95)) },
    clientCpuMs: { median: r2(quantile(client, 0.5)), p95: r2(quantile(client, 0.95)) },
    relayCpuMsPerOp: r2((relayCpu() - relay0) / 1000 / N),
    perSecondOneClient: r2(N / seconds),
  };
  log(`${name}: ${JSON.stringify(r)}`);
  return r;
}

const password = (i) => `bench password ${i} correct horse`;
for (const w of ['bench-warm-0', 'bench-warm-1']) {
  await new AccountClient({ url }).register(w, 'warm-up password');
  await new AccountClient({ url }).login(w, 'warm-up password');
}
const registration = await phase('registration', (i) => new AccountClient({ url }).register(`bench-user-${i}`, password(i)));
const login = await phase('login', (i) => new AccountClient({ url }).login(`bench-user-${i}`, password(i)));
server.kill('SIGTERM');
await new Promise((resolve) => server.once('exit', resolve));

const report = {
  bench: 'accounts',
  date: new Date().toISOString(),
  machine: machine(loadAtStart),
  seconds: Math.round((performance.now() - started) / 1000),
  opaque: '@serenity-kit/opaque 1.1.0, ristretto255, Argon2id m=64 MiB t=3 p=4 on the client',
  store: 'embedded (SQLite)',
  registration,
  login,
};
writeResult('accounts', report);
console.log(
  `accounts: registration ${registration.wallMs.median} ms (client CPU ${registration.clientCpuMs.median} ms, relay ${registration.relayCpuMsPerOp} ms); ` +
    `login ${login.wallMs.median} ms (client CPU ${login.clientCpuMs.median} ms, relay ${login.relayCpuMsPerOp} ms)`,
);
process.exit(0);
