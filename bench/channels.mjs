#!/usr/bin/env node
/**
 * Memory per logged-in connection (issue #15): the relay's memory for N authenticated account
 * channels (docs/PROTOCOL.md §11.11), each a different account's device that proved its key, with
 * an empty mailbox, idle. The relay runs in its own process (--expose-gc); N accounts, devices and
 * sessions are made in its store directly (no OPAQUE: that is bench/accounts.mjs), then this
 * process opens the channels with the SDK's AccountChannel. The relay reports its memory after a
 * full GC before and after; the difference divided by N is the cost of one connection.
 *
 *   npm run build && node bench/channels.mjs      CHANNELS_N=1000
 *
 * Writes bench/results/channels.json; prints one summary line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { identitySigner } from '../packages/crypto/dist/src/index.js';
import { AccountChannel } from '../packages/client/dist/src/accounts.js';
import { nodeWebSocket } from '../packages/client/dist/src/node/index.js';
import { writeResult } from './_results.mjs';
import { benchStart, machine, r2 } from './_workers.mjs';

const N = Number(process.env.CHANNELS_N ?? 1000);
const { log, started, loadAtStart } = benchStart('channels', Number(process.env.CHANNELS_TIME_LIMIT ?? 600));
const dir = mkdtempSync(join(tmpdir(), 'nullroom-bench-channels-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const href = (p) => JSON.stringify(new URL(p, import.meta.url).href);

const code = `
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { startRelay } from ${href('../packages/server/dist/src/index.js')};
import { openSqliteAccountStore } from ${href('../packages/server/dist/src/accounts/index.js')};
import * as opaque from '@serenity-kit/opaque';
await opaque.ready;
const store = openSqliteAccountStore(${JSON.stringify(join(dir, 'accounts.db'))});
const accounts = [];
for (let i = 0; i < ${N}; i++) {
  const id = randomBytes(16).toString('base64url');
  await store.createUser({ id, name: 'bench' + i, key: 'bench' + i, record: 'r', createdAt: Date.now() });
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const device = randomBytes(16).toString('base64url');
  await store.addDevice({ id: device, userId: id, identityKey: new Uint8Array(pub), createdAt: Date.now() }, 10, { version: 1, entry: new Uint8Array(pub) });
  const token = randomBytes(32).toString('base64url');
  await store.createSession({ tokenHash: new Uint8Array(createHash('sha256').update(token).digest()), userId: id, kind: 'cli', createdAt: Date.now(), expiresAt: Date.now() + 3600e3, device });
  accounts.push({ device, token, pkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'), pub: pub.toString('base64') });
}
const relay = await startRelay({ port: 0, blobs: false, accounts: { store, opaqueSetup: opaque.server.createSetup() },
  limits: { maxConnectionsPerAddress: ${N} + 100, maxConnections: ${N} + 100 } });
const memory = () => { globalThis.gc(); globalThis.gc(); const m = process.memoryUsage(); return { rss: m.rss, heapUsed: m.heapUsed, external: m.external }; };
process.stdout.write(JSON.stringify({ url: relay.url, accounts }) + '\\n');
createInterface({ input: process.stdin }).on('line', () => process.stdout.write(JSON.stringify(memory()) + '\\n'));
`;
const relay = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], {
  stdio: ['pipe', 'pipe', 'inherit'],
  cwd: new URL('../packages/server/', import.meta.url).pathname,
});
const lines = createInterface({ input: relay.stdout })[Symbol.asyncIterator]();
const next = async () => JSON.parse((await lines.next()).value);
const { url, accounts } = await next();
const memory = async () => {
  relay.stdin.write('\n');
  return next();
};
await new Promise((r) => setTimeout(r, 500));
const before = await memory();
const channels = [];
const t0 = performance.now();
for (const a of accounts) {
  const privateKey = await crypto.subtle.importKey('pkcs8', Buffer.from(a.pkcs8, 'base64'), { name: 'Ed25519' }, false, ['sign']);
  const me = identitySigner({ privateKey, publicKey: new Uint8Array(Buffer.from(a.pub, 'base64')) });
  channels.push(await AccountChannel.open(url, nodeWebSocket({ headers: { authorization: `Bearer ${a.token}` } }), me, a.device));
}
const openSeconds = (performance.now() - t0) / 1000;
await new Promise((r) => setTimeout(r, 1000));
const after = await memory();
const per = (k) => Math.round((after[k] - before[k]) / N);
const result = {
  channels: N,
  openPerSecond: Math.round(N / openSeconds),
  bytesPerChannel: { rss: per('rss'), heapUsed: per('heapUsed'), external: per('external') },
  relay: { before, after },
};
log(JSON.stringify(result));
for (const c of channels) c.close();
relay.kill('SIGTERM');
writeResult('channels', {
  bench: 'channels',
  date: new Date().toISOString(),
  machine: machine(loadAtStart),
  seconds: Math.round((performance.now() - started) / 1000),
  ...result,
});
console.log(
  `channels: ${N} authenticated account channels, idle: ${r2(result.bytesPerChannel.rss / 1024)} KiB RSS per channel ` +
    `(${r2(result.bytesPerChannel.heapUsed / 1024)} KiB of JS heap); opened at ${result.openPerSecond}/s`,
);
process.exit(0);
