/**
 * The browser's key store (DESIGN.md: "IndexedDB, non-extractable keys where possible").
 *
 * One IndexedDB database, one object store of records:
 *   "device"      { index: HMAC-SHA-256 key, wrap: AES-256-GCM key }    both non-extractable
 *   "id:" + r     { privateKey: Ed25519 CryptoKey (non-extractable), publicKey }
 *   "keys:" + r   AES-GCM(wrap, JSON [[nick, hex identity key, verified], ...])
 * where r = hex(HMAC(index, room locator)), so the database names no room, and the nicknames and
 * keys we learned are readable only through the page's own non-extractable key. No key ever
 * exists as bytes in JavaScript, so script injected into the page could use these keys while it
 * runs but could not copy them out. Nothing is written to localStorage.
 */
import { type IdentitySigner, type StoredIdentity, generateIdentity, identitySigner, open, seal } from '@nullroom/crypto';
import type { RoomLocator } from '@nullroom/protocol';
import { fromHex, toHex } from './encoding.js';
import type { KeyStore, KnownKey } from './keyStore.js';

const STORE = 'kv';
const KNOWN_AAD = new TextEncoder().encode('nullroom/v1/known-keys');

interface DeviceKeys {
  index: CryptoKey;
  wrap: CryptoKey;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

export class IndexedDbKeyStore implements KeyStore {
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly db: IDBDatabase,
    private readonly device: DeviceKeys,
    private readonly name: string,
  ) {}

  static async open(name = 'nullroom'): Promise<IndexedDbKeyStore> {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    const db = await request(req);
    const fresh: DeviceKeys = {
      index: await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign']),
      wrap: await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']),
    };
    const device = await IndexedDbKeyStore.getOrPut(db, 'device', fresh);
    return new IndexedDbKeyStore(db, device, name);
  }

  /** The record under `key`, or `value` stored there if there was none (one transaction, so two tabs agree). */
  private static getOrPut<T>(db: IDBDatabase, key: string, value: T): Promise<T> {
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, 'readwrite');
      const store = tx.objectStore(STORE);
      let result = value;
      const get = store.get(key);
      get.onsuccess = () => {
        if (get.result === undefined) store.put(value, key);
        else result = get.result as T;
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
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    });
  }

  private async roomId(room: RoomLocator): Promise<string> {
    return toHex(new Uint8Array(await crypto.subtle.sign('HMAC', this.device.index, new Uint8Array(room))));
  }

  async identity(room: RoomLocator): Promise<IdentitySigner> {
    const key = `id:${await this.roomId(room)}`;
    const existing = await this.get<StoredIdentity>(key);
    return identitySigner(existing ?? (await IndexedDbKeyStore.getOrPut(this.db, key, await generateIdentity())));
  }

  private async readKnown(room: RoomLocator): Promise<Map<string, [string, boolean]>> {
    const sealed = await this.get<Uint8Array>(`keys:${await this.roomId(room)}`);
    const plain = sealed === undefined ? undefined : await open(this.device.wrap, sealed, KNOWN_AAD);
    // A record that does not open (another device key after a partial wipe) is treated as empty.
    if (plain === undefined) return new Map();
    const rows = JSON.parse(new TextDecoder().decode(plain)) as [string, string, boolean][];
    return new Map(rows.map(([nick, k, v]) => [nick, [k, v]]));
  }

  async known(room: RoomLocator, nick: string): Promise<KnownKey | undefined> {
    await this.writes;
    const k = (await this.readKnown(room)).get(nick);
    if (k === undefined) return undefined;
    return { identityKey: fromHex(k[0]), verified: k[1] };
  }

  remember(room: RoomLocator, nick: string, key: KnownKey): Promise<void> {
    // Read-modify-write, one at a time: in this page by the queue, across tabs by a Web Lock (the
    // sealing is async, so it cannot run inside one IndexedDB transaction). Without the lock, two
    // tabs in the same room lost each other's updates (the key-store contract, run in Chromium).
    const update = async () => {
      const all = await this.readKnown(room);
      all.set(nick, [toHex(key.identityKey), key.verified]);
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
