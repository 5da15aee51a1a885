/**
 * The terminal's saved room sessions (roomSession.ts; docs/PROTOCOL.md §4.5 "Saved sessions"): a
 * `SessionStore` in files, so that `nullroom chat` restarted after a crash or a kill takes its
 * place in the room up again, as a browser tab does after a reload (IndexedDbKeyStore.sessions).
 *
 *   <dir>/sessions/               0700, created if missing (dir: the key store's folder)
 *   <dir>/sessions/device.key     0600: {"v":1,"index":b64 32 bytes,"wrap":b64 32 bytes}, made once
 *   <dir>/sessions/<r>.session    0600: seal(wrap, snapshot, aad), at most MAX_SESSION_BYTES
 *   <dir>/sessions/<r>.lock       "<pid> <token>\n", held by the process that uses the room's session
 *
 * where r = hex(HMAC-SHA-256(index, locator)) (the file names no room: the relay's locators cannot
 * be matched with them) and aad = "nullroom/v1/room-session/" || r (a file moved to another room's
 * name does not open). The seal is the browser store's: AES-256-GCM, random nonce
 * (@nullroom/crypto `seal`, sealed.ts). The device key is kept like the key store's identity keys,
 * protected by the file's mode (docs/SECURITY.md §9); removing device.key makes every saved session
 * unreadable at once.
 *
 * Rules:
 *  - a room's session is written and read only by the process holding its lock (`claim`): two
 *    processes resuming one MLS state would encrypt twice under the same keys and nonces. The lock
 *    is made with O_EXCL and holds our pid; one whose pid is dead (or is ours: a container's pid 1
 *    again) is stale and taken over. Another live pid, even a reused one, keeps it: the second
 *    process joins as a new member, never the same state twice;
 *  - `save` writes a temporary file, fsyncs it, renames it over the old one and fsyncs the folder:
 *    durable when it resolves, and a crash leaves the old or the new session;
 *  - a session that is too large, does not open under the device key or is not a file is
 *    ClientError(SESSION_INVALID) and is removed; never a crash.
 */
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type RoomSecret, deriveRoomKeys, open as openSealed, seal } from '@nullroom/crypto';
import { writeDurably } from './durableWrite.js';
import { fromBase64, fromHex, randomBytes, randomHex, toBase64, toHex } from '../encoding.js';
import { ClientError } from '../errors.js';
import type { SessionStore } from '../roomSession.js';
import { checkFile, checkFolder, isErrno } from './keyStoreFile.js';

/** Refuse to read a larger session (limits before allocation): a 1000-member room's post-quantum tree is a few MiB. */
export const MAX_SESSION_BYTES = 64 * 1024 * 1024;
export const SESSIONS_FOLDER = 'sessions';
const DEVICE_FILE = 'device.key';
const EXCL = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

const invalid = (why: string, cause?: unknown) =>
  new ClientError('SESSION_INVALID', `a saved session ${why}: it was removed`, cause === undefined ? undefined : { cause });
const storeError = (what: string, e: unknown) =>
  new ClientError('KEY_STORE', `cannot ${what} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });

interface Device {
  index: CryptoKey;
  wrap: CryptoKey;
}

export class FileSessions implements SessionStore {
  /** Rooms (hex locator) whose lock we hold, with the lock's token. */
  private readonly held = new Map<string, string>();
  /** Rooms the user left: never written again, even by a save already under way. */
  private readonly left = new Set<string>();
  /** One write at a time per room, in the order asked. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly names = new Map<string, string>();

  private constructor(
    readonly dir: string,
    private readonly device: Device,
  ) {}

  /** Opens (creating with mode 0700, and its device key, if needed) `<keyStoreDir>/sessions`. */
  static async open(keyStoreDir: string): Promise<FileSessions> {
    const dir = join(keyStoreDir, SESSIONS_FOLDER);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw storeError(`create the sessions folder ${dir}`, e);
    }
    checkFolder(dir, await lstat(dir));
    const store = new FileSessions(dir, await deviceKeys(dir));
    await store.sweep();
    return store;
  }

  /** The name a room's session is kept under: its locator in hex, as the client's `sessions` calls it. */
  static async roomOf(secret: RoomSecret): Promise<string> {
    return toHex((await deriveRoomKeys(secret)).locator);
  }

  private async fileOf(room: string): Promise<string> {
    let r = this.names.get(room);
    if (r === undefined) {
      r = toHex(new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', this.device.index, new Uint8Array(fromHex(room)))));
      this.names.set(room, r);
    }
    return r;
  }

  /** Removes what a crashed writer left (a temporary file, a lock taken aside) once it is a minute old. */
  private async sweep(): Promise<void> {
    for (const n of await readdir(this.dir).catch(() => [] as string[])) {
      if (!/\.(?:[0-9a-f]{16}\.tmp|lock\.[0-9a-f]{16}\.stale)$/.test(n)) continue;
      const st = await lstat(join(this.dir, n)).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs > 60_000) await unlink(join(this.dir, n)).catch(() => undefined);
    }
  }

  // ---- the room's lock ----

  /** Takes the room's lock if no live process holds it; true while we hold it. */
  async claim(room: string): Promise<boolean> {
    if (this.held.has(room)) return true;
    const lockFile = join(this.dir, `${await this.fileOf(room)}.lock`);
    for (let attempt = 0; attempt < 3; attempt++) {
      const token = randomHex(16);
      try {
        const fh = await open(lockFile, EXCL, 0o600);
        try {
          await fh.writeFile(`${process.pid} ${token}\n`);
        } finally {
          await fh.close();
        }
        this.held.set(room, token);
        return true;
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw storeError('create a session lock', e);
      }
      if (!(await breakIfStale(lockFile))) return false;
    }
    return false;
  }

  /** Gives the room's lock back (the session stays on disk for the next start). */
  async release(room: string): Promise<void> {
    const token = this.held.get(room);
    if (token === undefined) return;
    this.held.delete(room);
    const lockFile = join(this.dir, `${await this.fileOf(room)}.lock`);
    const seen = await readFile(lockFile, 'utf8').catch(() => '');
    if (seen.endsWith(` ${token}\n`)) await unlink(lockFile).catch(() => undefined);
  }

  /** The user left the room: its session goes now and is never written again by this process. */
  async forget(room: string): Promise<void> {
    this.left.add(room);
    await this.remove(room);
  }

  // ---- SessionStore ----

  /** Writes the room's snapshot if we hold its lock (another process's room is its own to keep); durable when it resolves. */
  save(room: string, snapshot: Uint8Array): Promise<void> {
    return this.serial(room, async () => {
      if (this.left.has(room) || !this.held.has(room)) return;
      const r = await this.fileOf(room);
      await this.writeFile(`${r}.session`, await seal(this.device.wrap, snapshot, aadOf(r)));
    });
  }

  remove(room: string): Promise<void> {
    return this.serial(room, async () => {
      if (!this.held.has(room)) return;
      const file = join(this.dir, `${await this.fileOf(room)}.session`);
      await unlink(file).catch((e: unknown) =>
        isErrno(e, 'ENOENT') ? undefined : Promise.reject(storeError('remove a saved session', e)),
      );
    });
  }

  /**
   * The room's saved session, if there is one and we hold the room's lock (undefined otherwise).
   * ClientError(SESSION_INVALID) for one that is too large or does not open: it is removed.
   */
  async get(room: string): Promise<Uint8Array | undefined> {
    if (!this.held.has(room)) return undefined;
    return this.serial(room, async () => this.read(await this.fileOf(room)));
  }

  /**
   * Every session that opens (one that does not is removed), whoever holds its room: to take one up,
   * `claim` its room first (NullroomClient.snapshotRoom names it); an unclaimed room is never written.
   */
  async load(): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (const n of await readdir(this.dir)) {
      const r = /^([0-9a-f]{64})\.session$/.exec(n)?.[1];
      if (r === undefined) continue;
      const snapshot = await this.read(r).catch(() => undefined);
      if (snapshot !== undefined) out.push(snapshot);
    }
    return out;
  }

  private serial<T>(room: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.queues.get(room) ?? Promise.resolve()).then(fn);
    this.queues.set(
      room,
      next.catch(() => undefined),
    );
    return next;
  }

  private async read(r: string): Promise<Uint8Array | undefined> {
    const file = join(this.dir, `${r}.session`);
    let sealed: Uint8Array;
    try {
      sealed = await readBounded(file);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      await unlink(file).catch(() => undefined);
      throw e instanceof ClientError ? e : invalid('cannot be read', e);
    }
    const plain = await openSealed(this.device.wrap, sealed, aadOf(r));
    if (plain === undefined) {
      await unlink(file).catch(() => undefined);
      throw invalid("does not open under this device's key");
    }
    return plain;
  }

  /** temp file (0600, O_EXCL) + fsync + rename + folder fsync (durableWrite.ts). */
  private async writeFile(name: string, bytes: Uint8Array): Promise<void> {
    try {
      await writeDurably(join(this.dir, name), bytes);
    } catch (e) {
      throw storeError('write a saved session', e);
    }
  }
}

const aadOf = (r: string) => new TextEncoder().encode(`nullroom/v1/room-session/${r}`);

async function syncFolder(dir: string): Promise<void> {
  const dh = await open(dir, constants.O_RDONLY).catch(() => undefined);
  if (dh !== undefined)
    await dh
      .sync()
      .catch(() => undefined)
      .finally(() => dh.close());
}

/** Reads a file we own, mode 0600 and at most MAX_SESSION_BYTES, never following a symbolic link. */
async function readBounded(file: string): Promise<Uint8Array> {
  const fh = await open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0)).catch((e: unknown) => {
    throw isErrno(e, 'ELOOP') ? invalid('is a symbolic link') : e;
  });
  try {
    const st = await fh.stat({ bigint: true });
    try {
      checkFile(file, st);
    } catch (e) {
      throw invalid('is not a private file of ours', e);
    }
    if (st.size > BigInt(MAX_SESSION_BYTES)) throw invalid(`is larger than ${MAX_SESSION_BYTES} bytes`);
    return new Uint8Array(await fh.readFile());
  } finally {
    await fh.close();
  }
}

/**
 * This folder's device keys, made on first use: written to a temporary file, then linked into
 * place (link fails if another process made them first: theirs are used).
 */
async function deviceKeys(dir: string): Promise<Device> {
  const file = join(dir, DEVICE_FILE);
  let text = await readDevice(file);
  if (text === undefined) {
    const tmp = `${file}.${randomHex(8)}.tmp`;
    const fresh = `${JSON.stringify({ v: 1, index: toBase64(randomBytes(32)), wrap: toBase64(randomBytes(32)) })}\n`;
    try {
      const fh = await open(tmp, EXCL, 0o600);
      try {
        await fh.writeFile(fresh, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await link(tmp, file).catch((e: unknown) => (isErrno(e, 'EEXIST') ? undefined : Promise.reject(e)));
    } catch (e) {
      throw storeError('write the sessions device key', e);
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    await syncFolder(dir);
    text = await readDevice(file);
  }
  const bad = () =>
    new ClientError(
      'KEY_STORE_CORRUPT',
      `the sessions device key ${file} is damaged; remove it to start over (saved sessions are then lost)`,
    );
  let raw: { index: Uint8Array; wrap: Uint8Array };
  try {
    const j = JSON.parse(text ?? '') as { v?: unknown; index?: unknown; wrap?: unknown };
    if (j.v !== 1 || typeof j.index !== 'string' || typeof j.wrap !== 'string') throw bad();
    raw = { index: fromBase64(j.index), wrap: fromBase64(j.wrap) };
  } catch {
    throw bad();
  }
  if (raw.index.byteLength !== 32 || raw.wrap.byteLength !== 32) throw bad();
  const subtle = globalThis.crypto.subtle;
  return {
    index: await subtle.importKey('raw', new Uint8Array(raw.index), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
    wrap: await subtle.importKey('raw', new Uint8Array(raw.wrap), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']),
  };
}

async function readDevice(file: string): Promise<string | undefined> {
  try {
    return new TextDecoder().decode(await readBoundedDevice(file));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e instanceof ClientError ? e : storeError('read the sessions device key', e);
  }
}

async function readBoundedDevice(file: string): Promise<Uint8Array> {
  const fh = await open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    checkFile(file, await fh.stat({ bigint: true }));
    if ((await fh.stat()).size > 4096) throw new ClientError('KEY_STORE_CORRUPT', `the sessions device key ${file} is damaged`);
    return new Uint8Array(await fh.readFile());
  } finally {
    await fh.close();
  }
}

/** Removes a room lock whose holder is gone (its pid is dead, or is ours: not a lock we took); true if it did. */
export async function breakIfStale(lockFile: string): Promise<boolean> {
  let seen: string;
  let st;
  try {
    [seen, st] = await Promise.all([readFile(lockFile, 'utf8'), stat(lockFile)]);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return true; // released meanwhile: try again now
    throw storeError('read a session lock', e);
  }
  const pid = Number(/^(\d+) [0-9a-f]{32}\n$/.exec(seen)?.[1] ?? Number.NaN);
  let dead: boolean;
  if (Number.isNaN(pid))
    dead = Date.now() - st.mtimeMs > 2_000; // a holder that crashed before writing its pid (or is writing it now)
  else if (pid === process.pid)
    dead = true; // not one of ours (those are in `held`): a former process that had our pid
  else {
    dead = false;
    try {
      process.kill(pid, 0);
    } catch (e) {
      dead = isErrno(e, 'ESRCH');
    }
  }
  if (!dead) return false;
  // Take the stale lock aside, then check it is the one we judged: another process may have
  // broken it and taken a fresh lock in between; that one is put back (as fileKeyStore.ts does).
  const aside = `${lockFile}.${randomHex(8)}.stale`;
  try {
    await rename(lockFile, aside);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return true;
    throw storeError('take over a session lock', e);
  }
  const taken = await readFile(aside, 'utf8').catch(() => '');
  if (taken !== seen) await link(aside, lockFile).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
  return true;
}
