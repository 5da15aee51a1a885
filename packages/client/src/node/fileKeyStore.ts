/**
 * The terminal's key store: one JSON file in the user's config directory, kept like ssh keeps
 * `~/.ssh/id_ed25519` (docs/SECURITY.md §9); the file's layout and its strict reading are keyStoreFile.ts.
 *
 * Each room's record is named by an HMAC of its locator, as in the browser store, so the file names no
 * room and one device's records in two rooms cannot be linked through the relay's locators. One
 * identity per room and nickname we join as: two people sharing an account (or one under two
 * nicknames) are two keys, and a nickname's key is the same at every start. The
 * identity private key (Ed25519, PKCS#8) is stored in the clear: the file's mode is what protects
 * it, as for ssh. It is imported as a non-extractable Web Crypto key when used.
 *
 * Rules (the contract in test/keyStoreContract.ts, plus):
 *  - the file and the folder must belong to us; the file must not be readable or writable by group
 *    or others, the folder not writable by them: else KEY_STORE_UNSAFE, and nothing is read;
 *  - every write re-reads the file under the lock, merges our changes in, writes a temporary file,
 *    fsyncs it and renames it over the old one (then fsyncs the folder): a crash leaves the old or
 *    the new file, and two processes sharing the folder never lose each other's updates;
 *  - remember() takes effect at once for this process and is written in the background, all the
 *    changes made during one write going into the next (an fsync costs ~20 ms here: one per member
 *    would add seconds to joining a large room); flush() waits until they are on disk. A new
 *    identity is written before it is used (two processes must agree on it);
 *  - a file that does not parse, or breaks the schema, is KEY_STORE_CORRUPT: never treated as
 *    empty, never overwritten (that would silently reset who the user verified).
 */
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { IdentitySigner } from '@nullroom/crypto';
import type { RoomLocator } from '@nullroom/protocol';
import { fromHex, randomBytes, randomHex, toHex } from '../encoding.js';
import { ClientError } from '../errors.js';
import type { KeyStore, KnownKey } from '../keyStore.js';
import {
  type Contents,
  KEY_STORE_FILE,
  MAX_NICK,
  type RoomRecord,
  checkFolder,
  corrupt,
  defaultKeyStoreDir,
  encode,
  isErrno,
  loadStoredIdentity,
  newIdentity,
  readChecked,
  sleep,
} from './keyStoreFile.js';

export { KEY_STORE_FILE, MAX_KEY_STORE_BYTES, defaultKeyStoreDir } from './keyStoreFile.js';

export interface FileKeyStoreOptions {
  /** How long to wait for another process's lock before failing with KEY_STORE_LOCKED. */
  lockTimeoutMs?: number;
  /** A lock older than this is a crashed holder's even if its pid is alive again (pid reuse). */
  staleLockMs?: number;
  /** Told when writing remembered keys in the background failed (they stay in memory and are retried at the next write). */
  onError?: (e: ClientError) => void;
}

export class FileKeyStore implements KeyStore {
  readonly file: string;
  private readonly lockFile: string;
  private readonly lockTimeoutMs: number;
  private readonly staleLockMs: number;
  /** One operation at a time in this process (the lock file orders us against other processes). */
  private queue: Promise<unknown> = Promise.resolve();
  private cache: { contents: Contents; stamp: string } | undefined;
  private readonly signers = new Map<string, Promise<IdentitySigner>>();
  /** Remembered keys not yet on disk, by hex locator then nickname: what known() answers first. */
  private readonly unwritten = new Map<string, { room: RoomLocator; rows: Map<string, [string, boolean]> }>();
  /** The background write in progress, if any. */
  private writing: Promise<void> | undefined;
  private lastError: ClientError | undefined;
  private readonly onError: ((e: ClientError) => void) | undefined;
  private hmac: { index: Uint8Array; key: Promise<CryptoKey> } | undefined;
  private readonly roomIds = new Map<string, string>();

  private constructor(
    readonly dir: string,
    opts: FileKeyStoreOptions,
  ) {
    this.file = join(dir, KEY_STORE_FILE);
    this.lockFile = `${this.file}.lock`;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
    this.staleLockMs = opts.staleLockMs ?? 30_000;
    this.onError = opts.onError;
  }

  /**
   * Opens (creating the folder with mode 0700 if needed) the store in `dir`, and reads the file
   * once so that a damaged or unsafe store is reported now, before anything is joined.
   */
  static async open(dir: string = defaultKeyStoreDir(), opts: FileKeyStoreOptions = {}): Promise<FileKeyStore> {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new ClientError('KEY_STORE', `cannot create the key store folder ${dir} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
        cause: e,
      });
    }
    checkFolder(dir, await stat(dir));
    const store = new FileKeyStore(dir, opts);
    await store.current();
    await store.sweep();
    return store;
  }

  /** Removes what a crashed writer left (a temporary file, a lock taken aside) once it is a minute old. */
  private async sweep(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const n of names) {
      if (!/^keystore\.json\.(?:[0-9a-f]{16}\.tmp|lock\.[0-9a-f]{16}\.stale)$/.test(n)) continue;
      const st = await lstat(join(this.dir, n)).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs > 60_000) await unlink(join(this.dir, n)).catch(() => undefined);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The file's contents, re-read only when it changed (every write replaces it: a new inode). */
  private async current(): Promise<Contents | undefined> {
    if (this.cache !== undefined) {
      const st = await stat(this.file, { bigint: true }).catch((e: unknown) => (isErrno(e, 'ENOENT') ? undefined : Promise.reject(e)));
      if (st !== undefined && `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` === this.cache.stamp) return this.cache.contents;
    }
    this.cache = await readChecked(this.file);
    return this.cache?.contents;
  }

  /** The room's record name: hex(HMAC-SHA-256(index, locator)), as browserKeyStore.ts. */
  private async roomId(index: Uint8Array, room: RoomLocator): Promise<string> {
    const memo = `${toHex(index)}/${toHex(room)}`;
    const known = this.roomIds.get(memo);
    if (known !== undefined) return known;
    if (this.hmac === undefined || toHex(this.hmac.index) !== toHex(index)) {
      this.hmac = {
        index,
        key: globalThis.crypto.subtle.importKey('raw', new Uint8Array(index), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
      };
    }
    const id = toHex(new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', await this.hmac.key, new Uint8Array(room))));
    this.roomIds.set(memo, id);
    return id;
  }

  // ---- the lock ----

  private async lock(): Promise<string> {
    const token = randomHex(16);
    const deadline = Date.now() + this.lockTimeoutMs;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      try {
        const fh = await open(
          this.lockFile,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0),
          0o600,
        );
        try {
          await fh.writeFile(`${process.pid} ${token}\n`);
        } finally {
          await fh.close();
        }
        return token;
      } catch (e) {
        if (!isErrno(e, 'EEXIST'))
          throw new ClientError(
            'KEY_STORE',
            `cannot create the key store lock ${this.lockFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
            { cause: e },
          );
      }
      if (await this.breakIfStale()) continue;
      if (Date.now() > deadline) {
        throw new ClientError(
          'KEY_STORE_LOCKED',
          `the key store ${this.file} stayed locked by another process for ${this.lockTimeoutMs} ms (remove ${this.lockFile} if no nullroom is running)`,
        );
      }
      await sleep(wait);
    }
  }

  /** Removes a lock whose holder is gone (its pid is dead, or it is too old); true if it did. */
  private async breakIfStale(): Promise<boolean> {
    let seen: string;
    let st;
    try {
      [seen, st] = await Promise.all([readFile(this.lockFile, 'utf8'), lstat(this.lockFile)]);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return true; // released meanwhile: try again now
      throw new ClientError('KEY_STORE', `cannot read the key store lock (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
    }
    const age = Date.now() - st.mtimeMs;
    const pid = Number(/^(\d+) [0-9a-f]{32}\n$/.exec(seen)?.[1] ?? NaN);
    let dead: boolean;
    if (Number.isNaN(pid))
      dead = age > 2_000; // a holder that crashed before writing its pid (or is writing it now)
    else {
      dead = age > this.staleLockMs;
      try {
        process.kill(pid, 0);
      } catch (e) {
        if (isErrno(e, 'ESRCH')) dead = true;
      }
    }
    if (!dead) return false;
    // Take the stale lock aside, then check it is the one we judged: another process may have
    // broken it and taken a fresh lock in between; that one is put back.
    const aside = `${this.lockFile}.${randomHex(8)}.stale`;
    try {
      await rename(this.lockFile, aside);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return true;
      throw new ClientError('KEY_STORE', `cannot take over the key store lock (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
        cause: e,
      });
    }
    const taken = await readFile(aside, 'utf8').catch(() => '');
    if (taken !== seen) await link(aside, this.lockFile).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    return true;
  }

  private async unlock(token: string): Promise<void> {
    const held = await readFile(this.lockFile, 'utf8').catch(() => '');
    if (held.endsWith(` ${token}\n`)) await unlink(this.lockFile).catch(() => undefined);
  }

  /** Read the file fresh, change it, write it back atomically: all under the lock. */
  private update<T>(change: (c: Contents) => Promise<{ result: T; write: boolean }>): Promise<T> {
    return this.serial(async () => {
      const token = await this.lock();
      try {
        this.cache = undefined;
        const contents = (await this.current()) ?? { index: randomBytes(32), rooms: new Map() };
        const { result, write } = await change(contents);
        if (write) await this.write(contents);
        return result;
      } finally {
        await this.unlock(token);
      }
    });
  }

  private async write(c: Contents): Promise<void> {
    const text = encode(c);
    const tmp = `${this.file}.${randomHex(8)}.tmp`;
    try {
      const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
      try {
        await fh.writeFile(text, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw new ClientError('KEY_STORE', `cannot write the key store ${this.file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
        cause: e,
      });
    }
    // The rename itself is durable once the folder is synced (POSIX leaves it to the folder's fsync).
    const dh = await open(this.dir, constants.O_RDONLY).catch(() => undefined);
    if (dh !== undefined)
      await dh
        .sync()
        .catch(() => undefined)
        .finally(() => dh.close());
  }

  // ---- KeyStore ----

  identity(room: RoomLocator, nick = ''): Promise<IdentitySigner> {
    const own = nick.normalize('NFC');
    const cacheKey = `${toHex(room)}/${own}`;
    let signer = this.signers.get(cacheKey);
    if (signer === undefined) {
      signer = this.loadIdentity(room, own);
      this.signers.set(cacheKey, signer);
      signer.catch(() => this.signers.delete(cacheKey));
    }
    return signer;
  }

  private async loadIdentity(room: RoomLocator, nick: string): Promise<IdentitySigner> {
    if (nick.length > MAX_NICK) throw new ClientError('KEY_STORE', 'refusing to store a nickname outside the sizes the store reads back');
    const existing = await this.current();
    let id = existing === undefined ? undefined : existing.rooms.get(await this.roomId(existing.index, room))?.ids.get(nick);
    id ??= await this.update(async (c) => {
      const r = await this.roomId(c.index, room);
      const rec: RoomRecord = c.rooms.get(r) ?? { ids: new Map(), known: new Map() };
      const made = rec.ids.get(nick);
      if (made !== undefined) return { result: made, write: false }; // another process made it first
      const fresh = await newIdentity();
      rec.ids.set(nick, fresh);
      c.rooms.set(r, rec);
      return { result: fresh, write: true };
    });
    const signer = await loadStoredIdentity(id);
    if (signer === undefined) throw corrupt(this.file, 'an identity key does not load');
    return signer;
  }

  async known(room: RoomLocator, nick: string): Promise<KnownKey | undefined> {
    const mine = this.unwritten.get(toHex(room))?.rows.get(nick);
    if (mine !== undefined) return { identityKey: fromHex(mine[0]), verified: mine[1] };
    // Not queued behind a write in progress: what it writes is in `unwritten` until it is on disk.
    const c = await this.current();
    if (c === undefined) return undefined;
    const k = c.rooms.get(await this.roomId(c.index, room))?.known.get(nick);
    return k === undefined ? undefined : { identityKey: fromHex(k[0]), verified: k[1] };
  }

  /** Takes effect at once for known(); on disk after the next background write (see flush). */
  async remember(room: RoomLocator, nick: string, key: KnownKey): Promise<void> {
    if (nick.length === 0 || nick.length > MAX_NICK || key.identityKey.byteLength === 0 || key.identityKey.byteLength > 128) {
      throw new ClientError('KEY_STORE', 'refusing to store a nickname or key outside the sizes the store reads back');
    }
    const r = toHex(room);
    let entry = this.unwritten.get(r);
    if (entry === undefined) {
      entry = { room: new Uint8Array(room) as RoomLocator, rows: new Map() };
      this.unwritten.set(r, entry);
    }
    entry.rows.set(nick, [toHex(key.identityKey), key.verified]);
    this.startWriting();
  }

  /**
   * Resolves once everything remembered so far is on disk; rejects (KEY_STORE_*) if that failed:
   * the changes then stay in memory, and the next write tries again.
   */
  async flush(): Promise<void> {
    await this.written();
    if (this.unwritten.size === 0) return;
    this.startWriting();
    await this.written();
    if (this.unwritten.size > 0) throw this.lastError ?? new ClientError('KEY_STORE', 'the key store could not be written');
  }

  /** Resolves once no background write is running (one that ends may start the next: wait for that too). */
  private async written(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  private startWriting(): void {
    if (this.writing !== undefined) return;
    this.writing = (async () => {
      // Everything remembered before this write started goes into it; later changes into the next.
      await Promise.resolve();
      const batch = [...this.unwritten.values()].map((e) => ({ room: e.room, rows: [...e.rows] }));
      try {
        await this.update(async (c) => {
          let write = false;
          for (const { room, rows } of batch) {
            const id = await this.roomId(c.index, room);
            const rec: RoomRecord = c.rooms.get(id) ?? { ids: new Map(), known: new Map() };
            for (const [nick, row] of rows) {
              const old = rec.known.get(nick);
              if (old !== undefined && old[0] === row[0] && old[1] === row[1]) continue;
              rec.known.set(nick, row);
              write = true;
            }
            c.rooms.set(id, rec);
          }
          return { result: undefined, write };
        });
        // Written: forget what did not change meanwhile.
        for (const { room, rows } of batch) {
          const entry = this.unwritten.get(toHex(room));
          if (entry === undefined) continue;
          for (const [nick, row] of rows) if (entry.rows.get(nick) === row) entry.rows.delete(nick);
          if (entry.rows.size === 0) this.unwritten.delete(toHex(room));
        }
        this.lastError = undefined;
      } catch (e) {
        this.lastError = e instanceof ClientError ? e : new ClientError('KEY_STORE', 'the key store could not be written', { cause: e });
        this.onError?.(this.lastError);
      }
    })().finally(() => {
      this.writing = undefined;
      // Changes made during this write go into the next one (unless this one failed: then at the next remember or flush).
      if (this.lastError === undefined && this.unwritten.size > 0) this.startWriting();
    });
  }
}
