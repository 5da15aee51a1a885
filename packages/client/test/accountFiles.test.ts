/**
 * Files in account conversations (src/accountFiles.ts; docs/PROTOCOL.md §9.3, §11.14) on real
 * relays:
 *  - alice sends a file to bob while bob is offline; the relay (a real `nullroom serve` process) is
 *    killed with SIGKILL and started again on the same data; bob's restarted Messenger shows the
 *    file message, fetches it and verifies it; alice's own history has it too;
 *  - a chunk altered on the relay's disk makes the download fail with FILE_REJECTED;
 *  - no byte of the file name or content is in any file of the relay's data or in its log;
 *  - the account quota: a file that cannot fit is refused before it goes up (FILE_QUOTA), and two
 *    that fit alone but not together are refused by the relay itself (507 ACCOUNT_QUOTA ->
 *    FILE_QUOTA), the refused one's blob deleted;
 *  - a session not bound to a device gets no ticket (DEVICE_NOT_BOUND), and sendFile fails so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as opaque from '@serenity-kit/opaque';
import { ephemeralIdentity } from '@nullroom/crypto';
import { startRelay } from '@nullroom/server';
import { openSqliteAccountStore } from '@nullroom/server/accounts';
import {
  AccountClient,
  AccountDevices,
  AccountError,
  bytesSource,
  MemoryMessengerStore,
  MemoryTrustedLists,
  Messenger,
  type ReceivedMessage,
} from '../src/accounts.js';
import { ClientError } from '../src/errors.js';
import { nodeWebSocket } from '../src/node/index.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-account-files-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const BIN = fileURLToPath(new URL('../../../../apps/cli/dist/src/main.js', import.meta.url));
const CHUNK = 64 * 1024;

/** `nullroom serve` on `data` (a real process, its output kept), and how to kill it. */
async function serve(data: string, port: string, extra: string[] = []) {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_DATA_HOME: data };
  delete env.NULLROOM_DATABASE_URL;
  const child = spawn(process.execPath, [BIN, 'serve', '--port', port, '--data', data, '-v', ...extra], { env, stdio: 'pipe' });
  const output: string[] = [];
  createInterface({ input: child.stderr }).on('line', (l) => output.push(l));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${output.join('\n')}`)), 20_000);
    createInterface({ input: child.stdout }).on('line', (l) => {
      output.push(l);
      if (l.startsWith('nullroom listening on ')) {
        clearTimeout(t);
        resolve(l.slice('nullroom listening on '.length));
      }
    });
  });
  return { url, output, kill: async (signal: NodeJS.Signals) => void (child.kill(signal), await exited) };
}

interface Dev {
  name: string;
  client: AccountClient;
  devices: AccountDevices;
  me: Awaited<ReturnType<typeof ephemeralIdentity>>;
  device: string;
  token: string;
  store: MemoryMessengerStore;
}

async function enrol(url: string, name: string): Promise<Dev> {
  const client = new AccountClient({ url });
  const s = await client.register(name, `pw ${name}`);
  const me = await ephemeralIdentity();
  const devices = new AccountDevices(client, name, me, new MemoryTrustedLists());
  return { name, client, devices, me, device: await devices.enrolFirst(), token: s.token!, store: new MemoryMessengerStore() };
}

/** The device's Messenger on `url` (its account client for that relay too: the files' tickets). */
function start(url: string, d: Dev): Promise<Messenger> {
  const client = new AccountClient({ url, token: d.token });
  const devices = new AccountDevices(client, d.name, d.me, new MemoryTrustedLists());
  return Messenger.start({
    url,
    name: d.name,
    me: d.me,
    device: d.device,
    devices,
    socket: nodeWebSocket({ headers: { authorization: `Bearer ${d.token}` } }),
    store: d.store,
    keyPackages: 2,
    files: { client, chunkSize: CHUNK },
  });
}

function files(root: string): string[] {
  return readdirSync(root).flatMap((n) => {
    const p = join(root, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

const code = (e: unknown) => (e instanceof ClientError || e instanceof AccountError ? e.code : String(e));

test('a file to an offline device survives kill -9 of the relay, verifies, and a tampered chunk is refused; no canary reaches the relay', async () => {
  await opaque.ready;
  const data = mkdtempSync(join(dir, 'data-'));
  let relay = await serve(data, '0');
  const port = new URL(relay.url).port;
  try {
    const alice = await enrol(relay.url, 'alice');
    const bob = await enrol(relay.url, 'bob');
    let mBob = await start(relay.url, bob); // publishes bob's KeyPackages
    const joined = new Promise<{ id: string }>((r) => mBob.on('conversation', r));
    const mAlice = await start(relay.url, alice);
    const id = await mAlice.startConversation(['bob']);
    await joined;
    await mBob.settled();
    mBob.close();

    // bob is offline: alice sends a file of 5 chunks with canaries in its name and content.
    const content = new Uint8Array(5 * CHUNK - 1000);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7) & 0xff;
    for (const at of [0, CHUNK + 5, 3 * CHUNK]) content.set(new TextEncoder().encode('canary-file-content'), at);
    const progress: number[] = [];
    const sent = await mAlice.sendFile(id, bytesSource('canary-file-name.bin', 'application/octet-stream', content), {
      onProgress: (p) => progress.push(p.bytes),
    });
    assert.equal(progress.at(-1), content.length, 'progress reaches the whole file');
    const own = (await mAlice.messages(id)).find((m) => m.id === sent);
    assert.equal(own?.file?.name, 'canary-file-name.bin');
    assert.equal(own?.status, 'sent');
    await mAlice.settled();
    mAlice.close();

    await relay.kill('SIGKILL');
    relay = await serve(data, port);

    mBob = await start(relay.url, bob);
    const got = await new Promise<ReceivedMessage>((r) => mBob.on('message', r));
    assert.deepEqual(
      [got.from, got.id, got.text, got.file?.name, got.file?.size],
      ['alice', sent, '', 'canary-file-name.bin', content.length],
    );
    const file = await mBob.downloadFile(id, sent);
    assert.deepEqual(file.bytes, content, 'the file is the one sent');
    assert.equal(file.name, 'canary-file-name.bin');
    assert.equal((await mBob.messages(id)).at(-1)?.file?.sha256, file.sha256, 'the history keeps the file message');

    // A chunk altered on the relay's disk: the download fails, nothing is returned.
    const blobDir = join(data, 'blobs', Buffer.from(got.file!.blob, 'base64url').toString('hex'));
    const chunk = readFileSync(join(blobDir, '2'));
    chunk[10]! ^= 1;
    writeFileSync(join(blobDir, '2'), chunk);
    await assert.rejects(mBob.downloadFile(id, sent), (e) => code(e) === 'FILE_REJECTED');
    await assert.rejects(mBob.downloadFile(id, 'f'.repeat(32)), (e) => code(e) === 'NO_SUCH_MESSAGE');
    await mBob.settled();
    mBob.close();

    // Neither the name nor the content is anywhere in the relay's files or its log.
    for (const f of files(data)) {
      const bytes = readFileSync(f);
      for (const canary of ['canary-file-name', 'canary-file-content']) assert.ok(!bytes.includes(canary), `${f} holds ${canary}`);
    }
    assert.ok(!relay.output.join('\n').includes('canary'), 'the log names no file');
    assert.ok(!relay.output.join('\n').includes(got.file!.blob), 'the log names no blob id');
  } finally {
    await relay.kill('SIGTERM');
  }
});

test('the account quota refuses a file that cannot fit, before and at the relay; an unbound session gets no ticket', async () => {
  await opaque.ready;
  const relay = await startRelay({
    port: 0,
    blobs: { maxBytesPerAccount: 24 * (CHUNK + 16), maxBlobsPerAccount: 3 },
    accounts: { store: openSqliteAccountStore(join(dir, 'quota.db')), opaqueSetup: opaque.server.createSetup() },
  });
  try {
    const alice = await enrol(relay.url, 'alice');
    const m = await start(relay.url, alice);
    const id = await m.startConversation([]);
    const bytes = (n: number) => bytesSource('f.bin', '', new Uint8Array(n * CHUNK));

    // Too large for the account at all: refused before anything goes up.
    await assert.rejects(m.sendFile(id, bytes(30)), (e) => code(e) === 'FILE_QUOTA' && (e as ClientError).relayCode === 'BLOB_TOO_LARGE');
    assert.equal(relay.blobStats()?.blobs, 0);

    // Two that fit alone but not together: the first waits after 4 chunks (its source blocks), so
    // the second passes the SDK's check and goes up whole; then the first goes on, and the relay
    // refuses its chunks once the account's bytes are used up.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const first = bytes(14);
    const slow = { ...first, read: async (at: number, n: number) => (at >= 4 * CHUNK && (await gate), first.read(at, n)) };
    let reached!: () => void;
    const fourChunks = new Promise<void>((r) => (reached = r));
    const blocked = m.sendFile(id, slow, { onProgress: (p) => p.bytes >= 4 * CHUNK && reached() });
    blocked.catch(() => undefined);
    await fourChunks;
    await m.sendFile(id, bytes(14));
    open();
    await assert.rejects(blocked, (e) => code(e) === 'FILE_QUOTA' && (e as ClientError).relayCode === 'ACCOUNT_QUOTA');
    assert.equal(relay.blobStats()?.blobs, 1, 'the refused upload’s blob was deleted');
    // The one that went through is a message in the history, the refused one is not.
    assert.equal((await m.messages(id)).filter((x) => x.file !== undefined).length, 1);
    await m.settled();
    m.close();

    // A session that is not bound to a device: no ticket.
    const unbound = new AccountClient({ url: relay.url });
    await unbound.login('alice', 'pw alice');
    await assert.rejects(unbound.call('POST', '/api/blobs/ticket', {}), (e) => code(e) === 'DEVICE_NOT_BOUND');
    const mUnbound = await Messenger.start({
      url: relay.url,
      name: 'alice',
      me: alice.me,
      device: alice.device,
      devices: alice.devices,
      socket: nodeWebSocket({ headers: { authorization: `Bearer ${alice.token}` } }),
      store: alice.store,
      files: { client: unbound },
    });
    assert.ok(mUnbound instanceof Messenger);
    await assert.rejects(mUnbound.sendFile(id, bytes(1)), (e) => code(e) === 'DEVICE_NOT_BOUND');
    mUnbound.close();
  } finally {
    await relay.close();
  }
});
