/**
 * A browser's account stores over sealed records (browserKeyStore.ts `records`: sealed under the
 * page's non-extractable device key, named by HMAC): the device-list heads this device verified
 * (TrustedLists, accountDevices.ts) and the Messenger's snapshot (MessengerStore).
 *
 * One tab at a time uses an account's conversations: two would advance the same MLS states and the
 * last to save would undo the other's (as two terminal processes, node/fileMessengerStore.ts). A
 * Web Lock held while the Messenger runs says so: a second tab is refused with MESSENGER_IN_USE,
 * and the lock is free again when the first tab closes or crashes (the browser releases it).
 */
import type { DeviceListHead } from '@nullroom/protocol';
import { type SavedHead, type TrustedLists, headFromJson, headToJson } from './accountDevices.js';
import type { SealedRecords } from './browserKeyStore.js';
import { ClientError } from './errors.js';
import { type MessengerSnapshot, type MessengerStore, decodeSnapshot, encodeSnapshot } from './messengerStore.js';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** The heads of the device lists this device verified, one record per account. */
export class RecordTrustedLists implements TrustedLists {
  constructor(private readonly records: SealedRecords) {}
  async get(name: string): Promise<DeviceListHead | undefined> {
    const bytes = await this.records.get(`head\0${name}`);
    if (bytes === undefined) return undefined;
    try {
      return headFromJson(JSON.parse(dec.decode(bytes)) as SavedHead);
    } catch {
      throw new ClientError('KEY_STORE_CORRUPT', `the device list kept for ${name} does not read back`);
    }
  }
  set(name: string, head: DeviceListHead): Promise<void> {
    return this.records.put(`head\0${name}`, enc.encode(JSON.stringify(headToJson(head))));
  }
  delete(name: string): Promise<void> {
    return this.records.remove(`head\0${name}`);
  }
}

/** An account's conversations in sealed records, one tab at a time (`open`). */
export class RecordMessengerStore implements MessengerStore {
  private constructor(
    private readonly records: SealedRecords,
    private readonly release: () => void,
  ) {}

  /**
   * Takes the account's lock (`lockName` names the relay and account; it stays in this browser) and
   * opens the store; MESSENGER_IN_USE while another tab holds it.
   */
  static async open(records: SealedRecords, lockName: string): Promise<RecordMessengerStore> {
    const locks = (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;
    if (locks === undefined) return new RecordMessengerStore(records, () => undefined);
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const got = await new Promise<boolean>((resolve, reject) => {
      locks
        .request(`nullroom-messenger:${lockName}`, { ifAvailable: true }, (lock) => {
          resolve(lock !== null);
          return lock === null ? undefined : held;
        })
        .catch(reject);
    });
    if (!got) throw new ClientError('MESSENGER_IN_USE', 'these conversations are open in another tab of this browser');
    return new RecordMessengerStore(records, release);
  }

  async load(): Promise<MessengerSnapshot | undefined> {
    const bytes = await this.records.get('snapshot');
    if (bytes === undefined) return undefined;
    try {
      return decodeSnapshot(bytes);
    } catch {
      throw new ClientError('MESSENGER_STORE_CORRUPT', 'the conversations kept in this browser do not read back');
    }
  }
  save(s: MessengerSnapshot): Promise<void> {
    return this.records.put('snapshot', encodeSnapshot(s));
  }
  async close(): Promise<void> {
    this.release();
  }
}
