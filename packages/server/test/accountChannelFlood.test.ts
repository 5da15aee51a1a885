/**
 * A device flooding its account channel (src/accounts/accountChannel.ts, docs/PROTOCOL.md §11.11):
 * submits over the rate are answered RATE_LIMITED at once and never queued, and a channel whose
 * waiting submits pass their byte bound is closed (4429): the relay does not hold the flood.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { type AccountFrame, encodeAccountFrame } from '@nullroom/protocol';
import { startRelay } from '../src/index.js';
import { openSqliteAccountStore } from '../src/accounts/sqliteAccountStore.js';
import { openChannel } from './_accounts.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-flood-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

async function relayWithDevice(channelLimits: Record<string, number>, slowStoreMs = 0) {
  await opaque.ready;
  const store = openSqliteAccountStore(join(dir, `${randomBytes(4).toString('hex')}.db`));
  // A store slower than the flood (PostgreSQL far away, a busy disk): submits wait in the channel's queue.
  const submitApp = store.submitApp.bind(store);
  store.submitApp = async (...a) => {
    await new Promise((r) => setTimeout(r, slowStoreMs));
    return submitApp(...a);
  };
  await store.createUser({ id: 'u1', name: 'flood', key: 'flood', record: 'r', createdAt: 1 });
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url'));
  const device = randomBytes(16);
  await store.addDevice({ id: device.toString('base64url'), userId: 'u1', identityKey: pub, createdAt: 1 }, 10, { version: 1, entry: pub });
  const token = randomBytes(32).toString('base64url');
  const tokenHash = new Uint8Array(createHash('sha256').update(token).digest());
  // A session bound to the device: only such a session opens a channel.
  const id = device.toString('base64url');
  await store.createSession({ tokenHash, userId: 'u1', kind: 'cli', createdAt: 1, expiresAt: Date.now() + 60_000, device: id });
  const relay = await startRelay({ port: 0, blobs: false, accounts: { store, opaqueSetup: opaque.server.createSetup(), channelLimits } });
  /** An authenticated raw channel: its frames as they come, and a promise of its close code. */
  const open = () => openChannel(relay.url, { authorization: `Bearer ${token}` }, id, (m) => new Uint8Array(sign(null, m, privateKey)));
  return { relay, open };
}

const send = (req: number, size: number) =>
  encodeAccountFrame({ type: 'SEND', req, conversation: new Uint8Array(16).fill(7), epoch: 0, payload: new Uint8Array(size) });

test('submits over the rate are refused at once, not queued', async () => {
  const { relay, open } = await relayWithDevice({ submitsPerSecond: 5 });
  try {
    const c = await open();
    for (let i = 1; i <= 12; i++) c.ws.send(send(i, 100));
    const until = Date.now() + 5000;
    while (c.frames.filter((f) => f.type === 'RESULT').length < 12 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const results = c.frames.filter((f): f is Extract<AccountFrame, { type: 'RESULT' }> => f.type === 'RESULT');
    assert.equal(results.length, 12);
    assert.equal(results.filter((r) => r.status === 'RATE_LIMITED').length, 7);
    assert.equal(results.filter((r) => r.status === 'NO_SUCH_CONVERSATION').length, 5);
    c.ws.close();
  } finally {
    await relay.close();
  }
});

test('a channel with more waiting than its byte bound is closed (4429)', async () => {
  const { relay, open } = await relayWithDevice({ submitsPerSecond: 1e6, maxQueuedBytes: 256 * 1024 }, 50);
  try {
    const c = await open();
    for (let i = 1; i <= 40; i++) c.ws.send(send(i, 64 * 1024));
    assert.equal(await c.closed, 4429);
  } finally {
    await relay.close();
  }
});
