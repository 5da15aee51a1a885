/**
 * What the relay keeps for accounts (docs/PROTOCOL.md §11, docs/SECURITY.md §13): the interface
 * every store implements (sqliteAccountStore.ts embedded, pgAccountStore.ts on PostgreSQL), checked
 * by one contract suite (test/accountStore.contract.ts) against both.
 *
 * Nothing here is a secret of the user's: the OPAQUE registration record cannot be used to test a
 * password without the server's OPRF key, which is not in the store (opaqueSetup.ts); a session is
 * kept as the SHA-256 of its token, never the token.
 */
import type { ConversationStore } from './conversationStore.js';
import type { ContactStore } from './contactStore.js';

export interface StoredUser {
  /** Random, base64url of 16 bytes; what everything else refers to. */
  readonly id: string;
  /** The canonical username (username.ts). */
  readonly name: string;
  /** Its look-alike key, unique. */
  readonly key: string;
  /** The OPAQUE registration record (base64url). */
  readonly record: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

export type SessionKind = 'web' | 'cli';

export interface StoredSession {
  /** SHA-256 of the token (32 bytes). */
  readonly tokenHash: Uint8Array;
  readonly userId: string;
  readonly kind: SessionKind;
  readonly createdAt: number;
  readonly expiresAt: number;
  /**
   * The device the session is bound to (docs/PROTOCOL.md §11.8), or none yet: a session starts
   * unbound and is bound once, when its device enrols first, is approved, or proves its key (`bind`).
   * A bound session ends with its device.
   */
  readonly device?: string | undefined;
}

/** One device of an account: its own identity key (Ed25519, 32 bytes), unique across the relay. */
export interface StoredDevice {
  /** Random, base64url of 16 bytes. */
  readonly id: string;
  readonly userId: string;
  readonly identityKey: Uint8Array;
  readonly createdAt: number;
}

/**
 * One entry of an account's device list (docs/PROTOCOL.md §11.8): signed by one of the account's
 * devices, kept and handed out as it came. The relay checks it before storing it, but cannot make one.
 */
export interface StoredListEntry {
  readonly version: number;
  readonly entry: Uint8Array;
}

/** A KeyPackage handed out for a device: a one-time one (now deleted), or its last-resort one (kept). */
export interface ClaimedKeyPackage {
  readonly device: StoredDevice;
  readonly keyPackage: Uint8Array;
  readonly lastResort: boolean;
}

/** `taken`: that exact name exists; `look-alike`: another name with the same look-alike key does. */
export type CreateUserResult = 'created' | 'taken' | 'look-alike';

export interface AccountStore extends ConversationStore, ContactStore {
  /** Adds a user unless its name or look-alike key is already someone's; atomic. */
  createUser(user: StoredUser): Promise<CreateUserResult>;
  userByName(name: string): Promise<StoredUser | undefined>;
  userById(id: string): Promise<StoredUser | undefined>;
  /** The user whose look-alike key this is. */
  userByKey(key: string): Promise<StoredUser | undefined>;
  /** Replaces the user's OPAQUE record and ends every session but `keep`; false: no such user. */
  replaceRecord(userId: string, record: string, keep: Uint8Array | undefined): Promise<boolean>;
  /** Deletes the user and everything the store holds for it; false: no such user. */
  deleteUser(userId: string): Promise<boolean>;

  /**
   * Adds a device with the device-list entry that names it (§11.8), unless the account has `max`
   * already (`too-many`), the identity key is some device's (`exists`), or the entry is not the
   * list's next version (`stale`: another change came first); atomic. With `bind`, the account's
   * session of that token hash, if it still exists and is unbound, is bound to the new device in the
   * same transaction.
   */
  addDevice(
    device: StoredDevice,
    max: number,
    entry: StoredListEntry,
    bind?: Uint8Array,
  ): Promise<'added' | 'too-many' | 'exists' | 'stale'>;
  /** The account's devices, oldest first. */
  devices(userId: string): Promise<StoredDevice[]>;
  /**
   * Removes the account's device with the entry that drops it, and with it, in the same transaction,
   * everything the relay holds for it: the sessions bound to it, its KeyPackages, its mailbox and
   * losses, and its place in every conversation's routing view (conversationStore.ts).
   */
  removeDevice(userId: string, deviceId: string, entry: StoredListEntry): Promise<'removed' | 'no-such-device' | 'stale'>;
  /** The account's device-list entries after `afterVersion`, oldest first. */
  deviceList(userId: string, afterVersion: number): Promise<StoredListEntry[]>;
  /** The list's last entry, if it has one. */
  deviceListHead(userId: string): Promise<StoredListEntry | undefined>;
  /**
   * Stores one-time KeyPackages for the account's device (and replaces its last-resort one, when
   * given), keeping at most `max` one-time ones: those beyond are not stored. The one-time count
   * after, or undefined when the device is not the account's.
   */
  addKeyPackages(
    userId: string,
    deviceId: string,
    oneTime: readonly Uint8Array[],
    lastResort: Uint8Array | undefined,
    max: number,
  ): Promise<number | undefined>;
  /**
   * One KeyPackage for each device of the account: the oldest one-time one, deleted as it is
   * handed out (two claims never get the same), else the last-resort one; a device with neither
   * is left out.
   */
  claimKeyPackages(userId: string): Promise<ClaimedKeyPackage[]>;

  createSession(session: StoredSession): Promise<void>;
  /** The session and its user, when the session exists and has not expired at `now`. */
  session(tokenHash: Uint8Array, now: number): Promise<{ session: StoredSession; user: StoredUser } | undefined>;
  /**
   * Binds the user's session to the user's device: true when it is bound to it now (it was unbound,
   * or bound to that device already); false when there is no such session of that user, the device
   * is not the user's, or the session is bound to another device. One statement.
   */
  bindSession(tokenHash: Uint8Array, userId: string, deviceId: string): Promise<boolean>;
  /** Ends one session (nothing happens when it does not exist). */
  deleteSession(tokenHash: Uint8Array): Promise<void>;
  /** Ends every session of the user but `keep`: how many ended. */
  deleteSessions(userId: string, keep?: Uint8Array): Promise<number>;
  /** Forgets sessions expired at `now`: how many. */
  pruneSessions(now: number): Promise<number>;

  /** Resolves once the store answered a trivial query (the relay's /readyz); rejects when it is unreachable. */
  ping?(): Promise<void>;

  close(): Promise<void>;
}
