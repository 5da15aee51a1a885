/**
 * Where a client keeps its identity keys and what it learned about other members' keys.
 *
 * A client has one identity per room and nickname it joins as (so members of different rooms
 * cannot link a device, and two nicknames in one room are two members) and remembers, per room
 * and nickname, the identity key it first saw and whether the user verified it. A later member
 * with that nickname and another key is a key change: the user is warned and the verification is
 * dropped, as Signal does.
 *
 * `MemoryKeyStore` keeps all this for the life of the process (`chat --no-key-store`, a browser
 * without IndexedDB); `IndexedDbKeyStore` (browserKeyStore.ts) keeps it across visits in a
 * browser, `FileKeyStore` (node/fileKeyStore.ts) across runs of the terminal client. What a
 * persistent store cannot read back is KEY_STORE_CORRUPT, never "nothing known".
 */
import { type IdentitySigner, type StoredIdentity, generateIdentity, identitySigner } from '@nullroom/crypto';
import type { RoomLocator } from '@nullroom/protocol';
import { toHex } from './encoding.js';

export interface KnownKey {
  identityKey: Uint8Array;
  verified: boolean;
}

export interface KeyStore {
  /**
   * This device's identity in a room under a nickname (`nick`, as the user asked for it; default
   * ''), created on first use: two people sharing an account or a browser, or one person under two
   * nicknames, are not one key, and rejoining under the same nickname is the same key.
   */
  identity(room: RoomLocator, nick?: string): Promise<IdentitySigner>;
  /** What we knew of the member with this nickname in this room. */
  known(room: RoomLocator, nick: string): Promise<KnownKey | undefined>;
  /** Takes effect for known() at once; a store may write it to disk later (see flush). */
  remember(room: RoomLocator, nick: string, key: KnownKey): Promise<void>;
  /** Resolves once everything remembered is stored durably (stores that write in the background have one). */
  flush?(): Promise<void>;
}

export class MemoryKeyStore implements KeyStore {
  private readonly identities = new Map<string, Promise<StoredIdentity>>();
  private readonly keys = new Map<string, KnownKey>();

  async identity(room: RoomLocator, nick = ''): Promise<IdentitySigner> {
    const name = `${toHex(room)}/${nick.normalize('NFC')}`;
    let id = this.identities.get(name);
    if (id === undefined) {
      id = generateIdentity();
      this.identities.set(name, id);
    }
    return identitySigner(await id);
  }
  async known(room: RoomLocator, nick: string): Promise<KnownKey | undefined> {
    const k = this.keys.get(`${toHex(room)}/${nick}`);
    return k === undefined ? undefined : { identityKey: new Uint8Array(k.identityKey), verified: k.verified };
  }
  async remember(room: RoomLocator, nick: string, key: KnownKey): Promise<void> {
    this.keys.set(`${toHex(room)}/${nick}`, { identityKey: new Uint8Array(key.identityKey), verified: key.verified });
  }
}
