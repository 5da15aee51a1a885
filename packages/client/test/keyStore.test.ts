/**
 * Key stores (issue #11 point 10): the shared contract on MemoryKeyStore and FileKeyStore, then
 * what only the file store promises: modes 0700/0600, refusal of unsafe or damaged files (never
 * read as empty), atomic replacement, a lock that survives a crashed holder, and several processes
 * sharing one folder without losing updates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoomLocator } from '@nullroom/protocol';
import { ClientError } from '../src/errors.js';
import { MemoryKeyStore } from '../src/keyStore.js';
import { toHex } from '../src/encoding.js';
import { FileKeyStore, KEY_STORE_FILE, MAX_KEY_STORE_BYTES, defaultKeyStoreDir } from '../src/node/index.js';
import { keyStoreContract } from './keyStoreContract.js';

/** A new empty folder, removed with all it holds after the test. */
async function tempDir(t: { after(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nullroom-keystore-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
const locator = (): RoomLocator => crypto.getRandomValues(new Uint8Array(32)) as RoomLocator;
const key = () => crypto.getRandomValues(new Uint8Array(32));
const posix = typeof process.getuid === 'function';

async function dumpDir(dir: string): Promise<string> {
  const names = await readdir(dir);
  return (await Promise.all(names.map(async (n) => `${n}\n${await readFile(join(dir, n), 'latin1')}`))).join('\n');
}

for (const c of keyStoreContract) {
  test(`MemoryKeyStore: ${c.name}`, async () => {
    const store = new MemoryKeyStore();
    await c.run({ open: async () => store, persistent: false });
  });
  test(`FileKeyStore: ${c.name}`, async (t) => {
    const dir = await tempDir(t);
    const handles: FileKeyStore[] = [];
    try {
      await c.run({
        open: async () => (handles[handles.length] = await FileKeyStore.open(dir)),
        persistent: true,
        dump: () => dumpDir(dir),
        damage: () => writeFile(join(dir, KEY_STORE_FILE), '{"v":1,"index":'),
      });
    } finally {
      await Promise.all(handles.map((h) => h.flush()));
    }
  });
}

const rejectsWith = (p: Promise<unknown>, code: string) => assert.rejects(p, (e: unknown) => e instanceof ClientError && e.code === code);

test('FileKeyStore: creates its folder 0700 (parents too) and its file 0600; leaves no temporary file or lock behind', {
  skip: !posix,
}, async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'config', 'nullroom');
  const store = await FileKeyStore.open(dir);
  for (let i = 0; i < 5; i++) {
    await store.remember(locator(), 'bob', { identityKey: key(), verified: i % 2 === 0 });
    await store.flush();
  }
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(root, 'config'))).mode & 0o777, 0o700);
  assert.equal((await stat(join(dir, KEY_STORE_FILE))).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), [KEY_STORE_FILE]);
});

test('FileKeyStore: a file readable by group or others, or a folder writable by them, is refused (KEY_STORE_UNSAFE) and left alone', {
  skip: !posix,
}, async (t) => {
  const dir = await tempDir(t);
  const room = locator();
  const first = await FileKeyStore.open(dir);
  await first.remember(room, 'bob', { identityKey: key(), verified: true });
  await first.flush();
  const file = join(dir, KEY_STORE_FILE);
  const before = await readFile(file);
  for (const mode of [0o640, 0o604, 0o660, 0o602]) {
    await chmod(file, mode);
    await rejectsWith(FileKeyStore.open(dir), 'KEY_STORE_UNSAFE');
  }
  // A store opened while the file was safe re-checks on every read.
  await chmod(file, 0o600);
  const open = await FileKeyStore.open(dir);
  await chmod(file, 0o644);
  await rejectsWith(open.known(room, 'bob'), 'KEY_STORE_UNSAFE');
  await open.remember(room, 'carol', { identityKey: key(), verified: false });
  await rejectsWith(open.flush(), 'KEY_STORE_UNSAFE');
  await chmod(file, 0o600);
  assert.deepEqual(await readFile(file), before);
  for (const mode of [0o777, 0o720, 0o702]) {
    await chmod(dir, mode);
    await rejectsWith(FileKeyStore.open(dir), 'KEY_STORE_UNSAFE');
  }
  await chmod(dir, 0o700);
  assert.equal((await (await FileKeyStore.open(dir)).known(room, 'bob'))?.verified, true);
});

test('FileKeyStore: a symbolic link in place of the file is refused, not followed', { skip: !posix }, async (t) => {
  const dir = await tempDir(t);
  const elsewhere = await tempDir(t);
  await (await FileKeyStore.open(elsewhere)).identity(locator());
  await symlink(join(elsewhere, KEY_STORE_FILE), join(dir, KEY_STORE_FILE));
  await rejectsWith(FileKeyStore.open(dir), 'KEY_STORE_UNSAFE');
});

test('FileKeyStore: a damaged file is KEY_STORE_CORRUPT, never read as empty and never overwritten', async (t) => {
  const dir = await tempDir(t);
  const room = locator();
  const store = await FileKeyStore.open(dir);
  await store.remember(room, 'bob', { identityKey: key(), verified: true });
  await store.flush();
  const file = join(dir, KEY_STORE_FILE);
  const good = await readFile(file, 'utf8');
  const damaged = [
    good.slice(0, good.length / 2), // torn write (what atomic replacement prevents)
    'not json',
    '',
    '[]',
    good.replace('"v":1', '"v":2'),
    good.replace('"known":[', '"known":[["bob","00",true],'), // a member listed twice
    good.replace('"ids":[', '"ids":[["",{"pkcs8":"AAAA","pub":"AAAA"}],'), // an identity listed twice
    good.replace('"rooms":{', '"rooms":{"__proto__":{"known":[]},'),
    good.replace(/"index":"[^"]*"/, '"index":"AAAA"'),
    good.replace('"known":[', '"extra":1,"known":['),
    good.replace(/true/, '"yes"'),
  ];
  for (const [i, text] of damaged.entries()) {
    assert.notEqual(text, good, `case ${i} changes the file`);
    await writeFile(file, text, { mode: 0o600 });
    await rejectsWith(FileKeyStore.open(dir), 'KEY_STORE_CORRUPT').catch((e: unknown) => assert.fail(`case ${i}: ${String(e)}`));
    await rejectsWith(store.known(room, 'bob'), 'KEY_STORE_CORRUPT');
    await rejectsWith(store.identity(locator()), 'KEY_STORE_CORRUPT');
    const writer = await FileKeyStore.open(join(dir, `w${i}`)); // a handle that opened before the damage
    await writeFile(join(dir, `w${i}`, KEY_STORE_FILE), text, { mode: 0o600 });
    await writer.remember(room, 'bob', { identityKey: key(), verified: false });
    await rejectsWith(writer.flush(), 'KEY_STORE_CORRUPT');
    assert.equal(await readFile(join(dir, `w${i}`, KEY_STORE_FILE), 'utf8'), text, 'left as it was');
    assert.equal(await readFile(file, 'utf8'), text, 'left as it was');
  }
  // The message names the file and what to do, and nothing that was in it.
  await writeFile(file, good.replace(/"index":"[^"]*"/, '"index":"AAAA"'), { mode: 0o600 });
  const e = await FileKeyStore.open(dir).catch((x: unknown) => x as ClientError);
  assert.ok(e instanceof ClientError);
  assert.match(e.message, /keystore\.json is damaged/);
  assert.ok(!e.message.includes('bob') && !e.message.includes(toHex(room)));
});

test('FileKeyStore: a file over the size limit is refused before it is read', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, KEY_STORE_FILE), Buffer.alloc(MAX_KEY_STORE_BYTES + 1, 0x20), { mode: 0o600 });
  await rejectsWith(FileKeyStore.open(dir), 'KEY_STORE_CORRUPT');
});

test('FileKeyStore: one identity per room and nickname, the same at every start', async (t) => {
  const dir = await tempDir(t);
  const room = locator();
  const store = await FileKeyStore.open(dir);
  const alice = await store.identity(room, 'alice');
  const bob = await store.identity(room, 'bob');
  assert.notDeepEqual(alice.publicKey, bob.publicKey, 'two nicknames, two keys');
  // NFC: the same nickname typed with a combining accent is the same identity.
  assert.deepEqual((await store.identity(room, 'e\u0301')).publicKey, (await store.identity(room, '\u00e9')).publicKey);
  const later = await FileKeyStore.open(dir);
  assert.deepEqual((await later.identity(room, 'alice')).publicKey, alice.publicKey);
  assert.deepEqual((await later.identity(room, 'bob')).publicKey, bob.publicKey);
});

test('FileKeyStore: refuses to store what it could not read back (empty or over-long nickname)', async (t) => {
  const dir = await tempDir(t);
  const store = await FileKeyStore.open(dir);
  await rejectsWith(store.remember(locator(), '', { identityKey: key(), verified: false }), 'KEY_STORE');
  await rejectsWith(store.remember(locator(), 'x'.repeat(257), { identityKey: key(), verified: false }), 'KEY_STORE');
  await store.identity(locator());
  await FileKeyStore.open(dir);
});

test('FileKeyStore: what a crashed writer left (temporary file, lock taken aside) is removed at open once a minute old', async (t) => {
  const dir = await tempDir(t);
  const old = new Date(Date.now() - 120_000);
  const leftovers = [`${KEY_STORE_FILE}.0123456789abcdef.tmp`, `${KEY_STORE_FILE}.lock.0123456789abcdef.stale`];
  for (const n of leftovers) {
    await writeFile(join(dir, n), 'x', { mode: 0o600 });
    await utimes(join(dir, n), old, old);
  }
  await writeFile(join(dir, `${KEY_STORE_FILE}.fedcba9876543210.tmp`), 'x', { mode: 0o600 }); // fresh: maybe another writer's
  await writeFile(join(dir, 'notes.txt'), 'mine', { mode: 0o600 });
  await FileKeyStore.open(dir);
  assert.deepEqual((await readdir(dir)).sort(), [`${KEY_STORE_FILE}.fedcba9876543210.tmp`, 'notes.txt']);
});

test('FileKeyStore: a lock left by a crashed process is broken; a live holder makes writers wait, then KEY_STORE_LOCKED', async (t) => {
  const dir = await tempDir(t);
  const lock = join(dir, `${KEY_STORE_FILE}.lock`);
  // A pid that is not running: a child that has exited.
  const child = spawn(process.execPath, ['-e', '']);
  const deadPid = child.pid!;
  await new Promise((r) => child.on('exit', r));
  await writeFile(lock, `${deadPid} ${'ab'.repeat(16)}\n`, { mode: 0o600 });
  const store = await FileKeyStore.open(dir, { lockTimeoutMs: 2_000 });
  const room = locator();
  await store.remember(room, 'bob', { identityKey: key(), verified: true });
  await store.flush();
  assert.equal((await (await FileKeyStore.open(dir)).known(room, 'bob'))?.verified, true);
  assert.deepEqual(await readdir(dir), [KEY_STORE_FILE]);

  // Held by a live process (this one, under another token): wait, and give up with a clear error.
  await writeFile(lock, `${process.pid} ${'cd'.repeat(16)}\n`, { mode: 0o600 });
  const errors: string[] = [];
  const waiting = await FileKeyStore.open(dir, { lockTimeoutMs: 300, onError: (e) => errors.push(e.code) });
  await waiting.remember(room, 'carol', { identityKey: key(), verified: false });
  await rejectsWith(waiting.flush(), 'KEY_STORE_LOCKED');
  assert.ok(errors.length >= 1 && errors.every((c) => c === 'KEY_STORE_LOCKED'), 'the background write reported it');
  assert.equal((await waiting.known(room, 'carol'))?.verified, false, 'kept in memory');
  assert.equal(await (await FileKeyStore.open(dir)).known(room, 'carol'), undefined, 'not on disk');
  // Released while a writer waits: the writer goes ahead.
  const patient = await FileKeyStore.open(dir, { lockTimeoutMs: 5_000 });
  await patient.remember(room, 'carol', { identityKey: key(), verified: false });
  setTimeout(() => void rm(lock), 200);
  await patient.flush();
  assert.equal((await (await FileKeyStore.open(dir)).known(room, 'carol'))?.verified, false);
  // The store that failed writes it at its next flush.
  await waiting.flush();
  // Too old to be anyone's (a reused pid): broken.
  await writeFile(lock, `${process.pid} ${'ef'.repeat(16)}\n`, { mode: 0o600 });
  const old = await FileKeyStore.open(dir, { lockTimeoutMs: 5_000, staleLockMs: 100 });
  await new Promise((r) => setTimeout(r, 150));
  await old.remember(room, 'dave', { identityKey: key(), verified: false });
  await old.flush();
});

test('FileKeyStore: four processes writing to one folder at once lose nothing and agree on one identity', async (t) => {
  const dir = await tempDir(t);
  const room = locator();
  const url = new URL('../src/node/index.js', import.meta.url).href;
  const script = `
    const { FileKeyStore } = await import(${JSON.stringify(url)});
    const [dir, roomHex, who] = process.argv.slice(1);
    const room = Uint8Array.from(roomHex.match(/../g), (x) => parseInt(x, 16));
    const store = await FileKeyStore.open(dir);
    const id = await store.identity(room);
    for (let i = 0; i < 15; i++) await store.remember(room, who + '-' + i, { identityKey: crypto.getRandomValues(new Uint8Array(32)), verified: i % 2 === 0 });
    await store.flush();
    process.stdout.write(Buffer.from(id.publicKey).toString('hex'));
  `;
  const runs = ['p', 'q', 'r', 's'].map(
    (who) =>
      new Promise<string>((resolve, reject) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', script, dir, toHex(room), who]);
        let out = '';
        let err = '';
        c.stdout.on('data', (d: Buffer) => (out += d));
        c.stderr.on('data', (d: Buffer) => (err += d));
        c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child ${who} exited ${code}: ${err}`))));
      }),
  );
  const ids = await Promise.all(runs);
  assert.equal(new Set(ids).size, 1, 'one identity for the room');
  const store = await FileKeyStore.open(dir);
  assert.equal(toHex((await store.identity(room)).publicKey), ids[0]);
  for (const who of ['p', 'q', 'r', 's']) {
    for (let i = 0; i < 15; i++) assert.equal((await store.known(room, `${who}-${i}`))?.verified, i % 2 === 0, `${who}-${i}`);
  }
  assert.deepEqual(await readdir(dir), [KEY_STORE_FILE]);
});

test('defaultKeyStoreDir: $XDG_CONFIG_HOME/nullroom when it is absolute, else ~/.config/nullroom', async () => {
  assert.equal(defaultKeyStoreDir({ XDG_CONFIG_HOME: '/x/conf' }), '/x/conf/nullroom');
  assert.match(defaultKeyStoreDir({ XDG_CONFIG_HOME: 'relative' }), /\/\.config\/nullroom$/);
  assert.match(defaultKeyStoreDir({}), /\/\.config\/nullroom$/);
});
