/**
 * The terminal's MessengerStore (messengerStore.ts): one account's conversations on one relay,
 * sealed in a file, so that nothing of them is readable at rest without the key file beside it.
 *
 *   <dir>/messenger/              0700
 *   <dir>/messenger/seal.key      0600: 32 random bytes (AES-256-GCM), made once
 *   <dir>/messenger/<f>.state     0600: seal(key, snapshot, aad = "nullroom/v1/messenger/" || f)
 *   <dir>/messenger/<f>.lock      "<pid> <token>\n": one process at a time uses an account's conversations
 *   <dir>/messenger/<h>.rec       0600: the account's message history, one sealed record each (fileHistory.ts)
 *
 * where f = hex(SHA-256(relay origin || "\n" || account name)) (the file names neither). A save is
 * a temporary file, fsynced, renamed over the old one, then the folder fsynced (durableWrite.ts): durable
 * when it resolves, and a crash leaves the old or the new snapshot. A file that does not open under the
 * key is MESSENGER_STORE_CORRUPT, never "nothing kept" (which would make the device a stranger to
 * its own conversations). Two processes on one account's conversations would each advance the same
 * MLS states and the last to save would undo the other's: the second is refused (MESSENGER_IN_USE)
 * while the first lives; a lock whose process is gone is taken over (fileSessions.ts `breakIfStale`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { open as unseal, seal } from '@nullroom/crypto';
import { ClientError } from '../errors.js';
import { type MessengerSnapshot, type MessengerStore, decodeSnapshot, encodeSnapshot } from '../messengerStore.js';
import { writeDurably } from './durableWrite.js';
import { FileHistoryRecords } from './fileHistory.js';
import { breakIfStale } from './fileSessions.js';

const FOLDER = 'messenger';
const KEY_FILE = 'seal.key';
/** Refuse to read a larger snapshot: a thousand 1000-member conversations would not reach it. */
const MAX_BYTES = 256 * 1024 * 1024;

async function keyOf(folder: string): Promise<{ key: CryptoKey; raw: Uint8Array }> {
  const path = join(folder, KEY_FILE);
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await writeFile(path, randomBytes(32), { mode: 0o600, flag: 'wx' }).catch((w: NodeJS.ErrnoException) => {
      if (w.code !== 'EEXIST') throw w; // another process made it first: use theirs
    });
    raw = await readFile(path);
  }
  if (raw.byteLength !== 32) throw new ClientError('KEY_STORE', `${path} is not a messenger key`);
  const bytes = new Uint8Array(raw);
  return { key: await crypto.subtle.importKey('raw', bytes, 'AES-GCM', false, ['encrypt', 'decrypt']), raw: bytes };
}

export class FileMessengerStore implements MessengerStore {
  private constructor(
    private readonly folder: string,
    private readonly file: string,
    private readonly key: CryptoKey,
    private readonly aad: Uint8Array,
    private readonly lock: string,
    private readonly raw: Uint8Array,
  ) {}

  /** The store of `account` on the relay at `origin`, in the key folder `dir`. */
  static async open(dir: string, origin: string, account: string): Promise<FileMessengerStore> {
    const folder = join(dir, FOLDER);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const f = createHash('sha256').update(`${origin}\n${account}`).digest('hex');
    const aad = new TextEncoder().encode(`nullroom/v1/messenger/${f}`);
    const lock = `${process.pid} ${randomBytes(16).toString('hex')}\n`;
    await takeLock(join(folder, `${f}.lock`), lock);
    const { key, raw } = await keyOf(folder);
    return new FileMessengerStore(folder, join(folder, `${f}.state`), key, aad, lock, raw);
  }

  /** The account's message history records, sealed under the same key (fileHistory.ts); used under this store's lock. */
  history(): FileHistoryRecords {
    return new FileHistoryRecords(this.folder, basename(this.file, '.state'), this.key, this.raw);
  }

  /** Gives the lock back (the conversations stay on disk for the next start). */
  async close(): Promise<void> {
    const path = this.file.replace(/\.state$/, '.lock');
    if ((await readFile(path, 'utf8').catch(() => '')) === this.lock) await unlink(path).catch(() => undefined);
  }

  async load(): Promise<MessengerSnapshot | undefined> {
    let sealed: Buffer;
    try {
      sealed = await readFile(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const bad = () => new ClientError('MESSENGER_STORE_CORRUPT', `${this.file} does not open with its key: move it away to start over`);
    if (sealed.byteLength > MAX_BYTES) throw bad();
    const plain = await unseal(this.key, new Uint8Array(sealed), this.aad);
    if (plain === undefined) throw bad();
    try {
      return decodeSnapshot(plain);
    } catch {
      throw bad();
    }
  }

  async save(s: MessengerSnapshot): Promise<void> {
    const sealed = await seal(this.key, encodeSnapshot(s), this.aad);
    await writeDurably(this.file, sealed);
  }
}

/** Creates the lock with `content`, taking over one whose process is gone; MESSENGER_IN_USE while another lives. */
async function takeLock(path: string, content: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, content, { mode: 0o600, flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (!(await breakIfStale(path))) break;
  }
  throw new ClientError(
    'MESSENGER_IN_USE',
    'another nullroom process is using this account’s conversations on this device: close it first',
  );
}
