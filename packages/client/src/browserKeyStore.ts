/**
 * The browser's key store (DESIGN.md: "IndexedDB, non-extractable keys where possible").
 *
 * One IndexedDB database, one object store of records:
 *   "device"          { index: HMAC-SHA-256 key, wrap: AES-256-GCM key }    both non-extractable
 *   "id:" + r + ":" + n  { privateKey: Ed25519 CryptoKey (non-extractable), publicKey }
 *   "keys:" + r       AES-GCM(wrap, JSON [[nick, hex identity key, verified], ...])
 *   "session:" + r    AES-GCM(wrap, a saved room session: roomSession.ts; `sessions()`)
 *   "app:" + k + ":" + a  AES-GCM(wrap, an app's own record: `records(k)`, a = hex(HMAC(index, name)))
 *   "acct:" + h       { privateKey, publicKey }: the device identity of an account, h = hex(HMAC(index, origin ‖ 0 ‖ name))
 * where r = hex(HMAC(index, room locator)) and n = hex(HMAC(index, len ‖ locator ‖ own nickname)),
 * so the database names no room and no nickname, and the nicknames and keys we learned are
 * readable only through the page's own non-extractable key. No key ever exists as bytes in
 * JavaScript, so script injected into the page could use these keys while it runs but could not
 * copy them out. Nothing is written to localStorage.
 *
 * One identity per room and nickname we join as, like the terminal's FileKeyStore (docs/SECURITY.md
 * §9): two tabs in one room under two nicknames are two members with two keys, and a reload that
 * rejoins under the same nickname is the same key (no warning for the others). A per-room identity
 * written by an earlier version ("id:" + r) is adopted by the first nickname that asks for one.
 *
 * A record that does not read back (it does not open under the device key, or breaks the format)
 * is KEY_STORE_CORRUPT: never treated as empty and never overwritten, since either would silently
 * drop who the user verified.
 */
import { type IdentitySigner, type StoredIdentity, generateIdentity, identitySigner, open, seal } from '@nullroom/crypto';
import type { RoomLocator } from '@nullroom/protocol';
import { fromHex, toHex } from './encoding.js';
import { ClientError } from './errors.js';
import type { KeyStore, KnownKey } from './keyStore.js';
import type { SessionStore } from './roomSession.js';

const STORE = 'kv';
const KNOWN_AAD = new TextEncoder().encode('nullroom/v1/known-keys');
const SESSION_AAD = new TextEncoder().encode('nullroom/v1/room-session');
const RECORD_AAD = 'nullroom/v1/app-record/';

/** An app's own records (the web's history), sealed like the rest: `IndexedDbKeyStore.records`. */
export interface SealedRecords {
  put(name: string, value: Uint8Array): Promise<void>;
  /** Undefined when there is none, or it does not open under this device key (a record is only a convenience). */
  get(name: string): Promise<Uint8Array | undefined>;
  remove(name: string): Promise<void>;
}
/** Refuse to open a larger known-keys record (limits before allocation; the terminal's file has the same cap). */
export const MAX_KNOWN_RECORD_BYTES = 16 * 1024 * 1024;
/** Longer than any nickname (docs/PROTOCOL.md §5: 32 characters), so a stored one always reads back; as FileKeyStore. */
const MAX_NICK = 256;
const MAX_KEY_BYTES = 128;

interface DeviceKeys {
  index: CryptoKey;
  wrap: CryptoKey;
}

const corrupt = (why: string) =>
  new ClientError(
    'KEY_STORE_CORRUPT',
    `this browser's key store is damaged (${why}); it was left as it is, and no verification was dropped. To start over, clear this site's data (every member then counts as new, and you get new keys)`,
  );

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

const isKey = (v: unknown, alg: string, usage: KeyUsage): v is CryptoKey =>
  typeof CryptoKey !== 'undefined' && v instanceof CryptoKey && v.algorithm.name === alg && v.usages.includes(usage);

function checkDevice(v: unknown): DeviceKeys {
  const d = v as Partial<DeviceKeys> | null;
  if (typeof d !== 'object' || d === null || !isKey(d.index, 'HMAC', 'sign') || !isKey(d.wrap, 'AES-GCM', 'decrypt'))
    throw corrupt('the device keys');
  return { index: d.index, wrap: d.wrap };
}

function checkIdentity(v: unknown): StoredIdentity {
  const d = v as Partial<StoredIdentity> | null;
  if (
    typeof d !== 'object' ||
    d === null ||
    !isKey(d.privateKey, 'Ed25519', 'sign') ||
    !(d.publicKey instanceof Uint8Array) ||
    d.publicKey.byteLength !== 32
  ) {
    throw corrupt('an identity key');
  }
  return { privateKey: d.privateKey, publicKey: d.publicKey };
}

/** The known-keys JSON, strictly: [[nick, hex key, verified], ...], each nickname once. */
function parseKnown(plain: Uint8Array): Map<string, [string, boolean]> {
  let rows: unknown;
  try {
    rows = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
  } catch {
    throw corrupt('the known keys are not JSON');
  }
  if (!Array.isArray(rows)) throw corrupt('the known keys are not in the expected format');
  const out = new Map<string, [string, boolean]>();
  for (const row of rows as unknown[]) {
    if (!Array.isArray(row) || row.length !== 3) throw corrupt('the known keys are not in the expected format');
    const [nick, key, verified] = row as unknown[];
    if (
      typeof nick !== 'string' ||
      nick.length === 0 ||
      nick.length > MAX_NICK ||
      typeof key !== 'string' ||
      typeof verified !== 'boolean'
    ) {
      throw corrupt('the known keys are not in the expected format');
    }
    if (!/^(?:[0-9a-f]{2})+$/.test(key) || key.length > 2 * MAX_KEY_BYTES) throw corrupt('the known keys are not in the expected format');
    if (out.has(nick)) throw corrupt('a member is listed twice');
    out.set(nick, [key, verified]);
  }
  return out;
}

export class IndexedDbKeyStore implements KeyStore {
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly db: IDBDatabase,
    private readonly device: DeviceKeys,
    private readonly name: string,
  ) {}

  /** Opens (creating on first use) the store; rejects with KEY_STORE_CORRUPT if its device keys do not load. */
  static async open(name = 'nullroom'): Promise<IndexedDbKeyStore> {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    const db = await request(req);
    const fresh: DeviceKeys = {
      index: await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign']),
      wrap: await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']),
    };
    try {
      const device = checkDevice(await IndexedDbKeyStore.getOrPut(db, 'device', fresh));
      return new IndexedDbKeyStore(db, device, name);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /**
   * The record under `key`, or else the one under `legacy` moved to `key`, or else `value` stored
   * there: one transaction, so two tabs agree on the result.
   */
  private static getOrPut<T>(db: IDBDatabase, key: string, value: T, legacy?: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      const store = tx.objectStore(STORE);
      let result = value;
      const get = store.get(key);
      get.onsuccess = () => {
        if (get.result !== undefined) return void (result = get.result as T);
        if (legacy === undefined) return void store.put(value, key);
        const old = store.get(legacy);
        old.onsuccess = () => {
          if (old.result === undefined) return void store.put(value, key);
          result = old.result as T;
          store.put(old.result, key);
          store.delete(legacy);
        };
      };
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }

  private get<T>(key: string): Promise<T | undefined> {
    return request(this.db.transaction(STORE, 'readonly').objectStore(STORE).get(key)) as Promise<T | undefined>;
  }

  private async put(key: string, value: unknown): Promise<void> {
    const tx = this.db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put(value, key);
    await done(tx);
  }

  private async mac(data: Uint8Array): Promise<string> {
    return toHex(new Uint8Array(await crypto.subtle.sign('HMAC', this.device.index, new Uint8Array(data))));
  }

  private roomId(room: RoomLocator): Promise<string> {
    return this.mac(room);
  }

  /** This device's identity in `room` under the nickname `nick` (as the user asked for it), made on first use. */
  async identity(room: RoomLocator, nick = ''): Promise<IdentitySigner> {
    const own = new TextEncoder().encode(nick.normalize('NFC'));
    if (nick.length > MAX_NICK) throw new ClientError('KEY_STORE', 'refusing to store a nickname outside the sizes the store reads back');
    const r = await this.roomId(room);
    // len ‖ locator ‖ nickname: one unambiguous input per (room, nickname).
    const input = new Uint8Array(1 + room.byteLength + own.byteLength);
    input[0] = room.byteLength;
    input.set(room, 1);
    input.set(own, 1 + room.byteLength);
    const key = `id:${r}:${await this.mac(input)}`;
    const existing = await this.get<unknown>(key);
    const stored = existing ?? (await IndexedDbKeyStore.getOrPut<unknown>(this.db, key, await generateIdentity(), `id:${r}`));
    return identitySigner(checkIdentity(stored));
  }

  /**
   * This browser's device identity for the account `name` on the relay `origin` (docs/PROTOCOL.md
   * §11.8): an Ed25519 key made non-extractable on first use, stored as "acct:" + HMAC(origin, name),
   * so the database names neither. Kept when the account signs out: the browser stays one of the
   * account's devices until it is removed from the list.
   */
  async accountIdentity(origin: string, name: string): Promise<IdentitySigner> {
    const key = `acct:${await this.mac(new TextEncoder().encode(`${origin}\0${name}`))}`;
    const existing = await this.get<unknown>(key);
    return identitySigner(checkIdentity(existing ?? (await IndexedDbKeyStore.getOrPut<unknown>(this.db, key, await generateIdentity()))));
  }

  private async readKnown(room: RoomLocator): Promise<Map<string, [string, boolean]>> {
    const sealed = await this.get<unknown>(`keys:${await this.roomId(room)}`);
    if (sealed === undefined) return new Map();
    if (!(sealed instanceof Uint8Array)) throw corrupt('the known keys are not in the expected format');
    if (sealed.byteLength > MAX_KNOWN_RECORD_BYTES) throw corrupt(`a record is larger than ${MAX_KNOWN_RECORD_BYTES} bytes`);
    const plain = await open(this.device.wrap, sealed, KNOWN_AAD);
    // Not "empty": a record that does not open was altered, or sealed under another device key.
    if (plain === undefined) throw corrupt("the known keys do not open under this browser's device key");
    return parseKnown(plain);
  }

  /**
   * Saved room sessions (roomSession.ts), sealed under the device key like the known keys and named
   * by the room's HMAC, so the database names no room. A record that does not open is skipped by
   * `load` (a session is only a shortcut: the room can always be joined again).
   */
  sessions(): SessionStore {
    const id = async (room: string) => `session:${await this.roomId(fromHex(room) as RoomLocator)}`;
    return {
      save: async (room, snapshot) => this.put(await id(room), await seal(this.device.wrap, snapshot, SESSION_AAD)),
      remove: async (room) => {
        const tx = this.db.transaction(STORE, 'readwrite');
        tx.objectStore(STORE).delete(await id(room));
        await done(tx);
      },
      load: async () => {
        const range = IDBKeyRange.bound('session:', 'session:\uffff');
        const all = (await request(this.db.transaction(STORE, 'readonly').objectStore(STORE).getAll(range))) as unknown[];
        const out: Uint8Array[] = [];
        for (const sealed of all) {
          if (!(sealed instanceof Uint8Array)) continue;
          const plain = await open(this.device.wrap, sealed, SESSION_AAD);
          if (plain !== undefined) out.push(plain);
        }
        return out;
      },
    };
  }

  /**
   * Records of the app's own (`kind`: a short ASCII word), sealed under the device key and named by
   * an HMAC of their name, so the database holds no name, no room and no plaintext. Each is bound
   * to its kind and name (the AAD), so one cannot be swapped for another.
   */
  records(kind: string): SealedRecords {
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(kind)) throw new ClientError('KEY_STORE', 'a record kind is a short lowercase word');
    const enc = new TextEncoder();
    const key = async (name: string) => `app:${kind}:${await this.mac(enc.encode(`${kind}\0${name}`))}`;
    const aad = (name: string) => enc.encode(`${RECORD_AAD}${kind}\0${name}`);
    return {
      put: async (name, value) => this.put(await key(name), await seal(this.device.wrap, value, aad(name))),
      get: async (name) => {
        const sealed = await this.get<unknown>(await key(name));
        return sealed instanceof Uint8Array ? open(this.device.wrap, sealed, aad(name)) : undefined;
      },
      remove: async (name) => {
        const tx = this.db.transaction(STORE, 'readwrite');
        tx.objectStore(STORE).delete(await key(name));
        await done(tx);
      },
    };
  }

  /** What we knew of `nick` in `room`; rejects with KEY_STORE_CORRUPT if the room's record does not read back. */
  async known(room: RoomLocator, nick: string): Promise<KnownKey | undefined> {
    await this.writes;
    const k = (await this.readKnown(room)).get(nick);
    if (k === undefined) return undefined;
    return { identityKey: fromHex(k[0]), verified: k[1] };
  }

  /** Durable when it resolves; rejects with KEY_STORE_CORRUPT, leaving the record as it was, if the room's record does not read back. */
  remember(room: RoomLocator, nick: string, key: KnownKey): Promise<void> {
    if (nick.length === 0 || nick.length > MAX_NICK || key.identityKey.byteLength === 0 || key.identityKey.byteLength > MAX_KEY_BYTES) {
      return Promise.reject(new ClientError('KEY_STORE', 'refusing to store a nickname or key outside the sizes the store reads back'));
    }
    const row: [string, boolean] = [toHex(key.identityKey), key.verified];
    // Read-modify-write, one at a time: in this page by the queue, across tabs by a Web Lock (the
    // sealing is async, so it cannot run inside one IndexedDB transaction). Without the lock, two
    // tabs in the same room lost each other's updates (the key-store contract, run in Chromium).
    const update = async () => {
      const all = await this.readKnown(room);
      all.set(nick, row);
      const rows = [...all].map(([n, [k, v]]) => [n, k, v]);
      const sealed = await seal(this.device.wrap, new TextEncoder().encode(JSON.stringify(rows)), KNOWN_AAD);
      await this.put(`keys:${await this.roomId(room)}`, sealed);
    };
    const locks = (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;
    const next = this.writes.then(async () => {
      if (locks === undefined) await update();
      else await locks.request(`nullroom-keys:${this.name}`, update);
    });
    this.writes = next.catch(() => undefined);
    return next;
  }
}
