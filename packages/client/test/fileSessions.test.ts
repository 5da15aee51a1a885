/**
 * The terminal's saved sessions (FileSessions, issue 13): sealed at rest under the folder's device
 * key, files 0600 in a 0700 folder, a damaged or oversized file is SESSION_INVALID and removed, and
 * a room's session is used by one process at a time (its lock: held by a live pid, stale once that
 * pid is dead).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError } from '../src/errors.js';
import { randomBytes, toHex } from '../src/encoding.js';
import { FileSessions, MAX_SESSION_BYTES, SESSIONS_FOLDER } from '../src/node/index.js';

const posix = typeof process.getuid === 'function';
const room = () => toHex(randomBytes(32));
const tmp = () => mkdtemp(join(tmpdir(), 'nullroom-sessions-'));
const files = async (dir: string, ext: string) => (await readdir(join(dir, SESSIONS_FOLDER))).filter((n) => n.endsWith(ext));

/** A pid that is certainly not running: a child that has exited. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => c.once('exit', r));
  return c.pid!;
}

test('FileSessions: a session is sealed (no plaintext, no room name in the file), 0600 in a 0700 folder, and reads back in a new process', async () => {
  const dir = await tmp();
  try {
    const r = room();
    const canary = 'canary-nick-\u00e9t\u00e9-7Qz';
    const snapshot = new TextEncoder().encode(JSON.stringify({ requestedNick: canary, nick: canary, mls: 'x'.repeat(1000) }));
    const s = await FileSessions.open(dir);
    assert.equal(await s.claim(r), true);
    assert.equal(await s.get(r), undefined, 'nothing saved yet');
    await s.save(r, snapshot);
    const [name] = await files(dir, '.session');
    assert.ok(name !== undefined && !name.includes(r), 'the file is named by an HMAC of the room, not its locator');
    const bytes = await readFile(join(dir, SESSIONS_FOLDER, name));
    assert.equal(bytes.includes(Buffer.from(canary)), false, 'the nickname is not in the file');
    assert.equal(bytes.includes(Buffer.from('requestedNick')), false, 'nothing of the snapshot is in the clear');
    assert.equal(bytes.byteLength, snapshot.byteLength + 12 + 16, 'nonce || ciphertext || tag');
    if (posix) {
      assert.equal((await stat(join(dir, SESSIONS_FOLDER))).mode & 0o777, 0o700);
      assert.equal((await stat(join(dir, SESSIONS_FOLDER, name))).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, SESSIONS_FOLDER, 'device.key'))).mode & 0o777, 0o600);
    }
    assert.deepEqual(await s.get(r), snapshot);
    await s.release(r);
    assert.deepEqual(await files(dir, '.lock'), [], 'release removes the lock');
    // A new process (a new store on the same folder): the device key was kept, the session opens.
    const again = await FileSessions.open(dir);
    assert.equal(await again.get(r), undefined, 'not read without the room claimed');
    assert.equal(await again.claim(r), true);
    assert.deepEqual(await again.get(r), snapshot);
    assert.deepEqual(await again.load(), [snapshot]);
    // Leaving: the session goes, and a save after that writes nothing.
    await again.forget(r);
    await again.save(r, snapshot);
    assert.deepEqual(await files(dir, '.session'), []);
    assert.deepEqual(await files(dir, '.tmp'), [], 'no temporary file left behind');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('FileSessions: a damaged, oversized or moved session is SESSION_INVALID and removed, never a crash', async () => {
  const dir = await tmp();
  try {
    const s = await FileSessions.open(dir);
    const [a, b] = [room(), room()];
    assert.equal(await s.claim(a), true);
    assert.equal(await s.claim(b), true);
    const expectInvalid = async (r: string, what: string) => {
      await assert.rejects(s.get(r), (e: unknown) => e instanceof ClientError && e.code === 'SESSION_INVALID', what);
      assert.equal(await s.get(r), undefined, `${what}: removed`);
    };
    // One byte changed.
    await s.save(a, new Uint8Array([1, 2, 3]));
    const [fa] = await files(dir, '.session');
    const path = join(SESSIONS_FOLDER, fa!);
    const sealed = await readFile(join(dir, path));
    sealed[sealed.length - 1]! ^= 1;
    await writeFile(join(dir, path), sealed);
    await expectInvalid(a, 'an altered session');
    // Garbage, and too short to be a seal.
    await writeFile(join(dir, path), 'not a session', { mode: 0o600 });
    await expectInvalid(a, 'garbage');
    // Larger than the limit: refused before it is read (a sparse file).
    await writeFile(join(dir, path), '', { mode: 0o600 });
    await truncate(join(dir, path), MAX_SESSION_BYTES + 1);
    await expectInvalid(a, 'an oversized session');
    // Room a's session under room b's name: it is sealed for its own name only.
    await s.save(a, new Uint8Array([4, 5, 6]));
    await s.save(b, new Uint8Array([7]));
    const [first, second] = await files(dir, '.session');
    await rename(join(dir, SESSIONS_FOLDER, first!), join(dir, SESSIONS_FOLDER, second!));
    const moved = await Promise.allSettled([s.get(a), s.get(b)]);
    assert.ok(
      moved.some((m) => m.status === 'rejected' && m.reason instanceof ClientError && m.reason.code === 'SESSION_INVALID'),
      'a session under another room name does not open',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("FileSessions: a room's lock held by a live process is respected (nothing read or written); a dead holder's is taken over", async () => {
  const dir = await tmp();
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  try {
    const r = room();
    const first = await FileSessions.open(dir);
    assert.equal(await first.claim(r), true);
    await first.save(r, new Uint8Array([1]));
    const [lock] = await files(dir, '.lock');
    const lockPath = join(dir, SESSIONS_FOLDER, lock!);
    assert.match(await readFile(lockPath, 'utf8'), new RegExp(`^${process.pid} [0-9a-f]{32}\\n$`));
    // Another live process holds it: a second store cannot claim it, reads nothing and writes nothing.
    await writeFile(lockPath, `${sleeper.pid} ${'a'.repeat(32)}\n`);
    const second = await FileSessions.open(dir);
    assert.equal(await second.claim(r), false);
    assert.equal(await second.get(r), undefined);
    await second.save(r, new Uint8Array([2]));
    await second.remove(r);
    assert.equal((await files(dir, '.session')).length, 1, 'the holder’s session is untouched');
    assert.equal(await readFile(lockPath, 'utf8'), `${sleeper.pid} ${'a'.repeat(32)}\n`);
    // Its holder died (a kill -9): the lock is stale and taken over.
    await writeFile(lockPath, `${await deadPid()} ${'b'.repeat(32)}\n`);
    assert.equal(await second.claim(r), true);
    assert.match(await readFile(lockPath, 'utf8'), new RegExp(`^${process.pid} `));
    assert.deepEqual(await second.get(r), new Uint8Array([1]));
    await second.release(r);
    assert.deepEqual(await files(dir, '.lock'), []);
  } finally {
    sleeper.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
