/**
 * The relay's check of a device-list entry before it stores it (docs/PROTOCOL.md §11.8): the
 * chain's rules of @nullroom/protocol with node:crypto's SHA-256 and Ed25519, and that the entry
 * makes exactly the change the request asks for. The relay cannot sign an entry; checking keeps an
 * honest relay's chain valid for every client (a broken one would be a false alarm on each).
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import {
  type ChainCrypto,
  compareKeys,
  decodeDeviceListEntry,
  DeviceListError,
  type DeviceListHead,
  extendDeviceList,
  MAX_DEVICE_LIST_ENTRY_BYTES,
} from '@nullroom/protocol';
import { AccountHttpError } from './accountErrors.js';
import type { AccountStore, StoredListEntry, StoredUser } from './accountStore.js';

const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

export const nodeChainCrypto: ChainCrypto = {
  sha256,
  verify(publicKey, message, signature) {
    try {
      const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
      return verify(null, message, key, signature);
    } catch {
      return false; // not a point on the curve
    }
  },
};

/** The list's head as the relay keeps it (undefined: no entry yet). */
export async function storedHead(store: AccountStore, userId: string): Promise<DeviceListHead | undefined> {
  const head = await store.deviceListHead(userId);
  if (head === undefined) return undefined;
  const e = decodeDeviceListEntry(head.entry);
  return { version: e.version, hash: sha256(head.entry), devices: e.devices };
}

/** What an entry must change: the one key it adds, or the one it drops. */
export type ListChange = { readonly add: Uint8Array } | { readonly remove: Uint8Array };

/**
 * `entry` (base64url) as the account's next list entry, if it extends the stored head by exactly
 * `change`: DEVICE_LIST_INVALID (with the problem) otherwise.
 */
export async function checkNextEntry(store: AccountStore, user: StoredUser, entry: string, change: ListChange): Promise<StoredListEntry> {
  const bytes = Buffer.from(entry, 'base64url');
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_DEVICE_LIST_ENTRY_BYTES || bytes.toString('base64url') !== entry) {
    throw new AccountHttpError('BAD_REQUEST');
  }
  const raw = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = await storedHead(store, user.id);
  let next: DeviceListHead;
  try {
    next = await extendDeviceList(user.name, head, [raw], nodeChainCrypto);
  } catch (e) {
    if (e instanceof DeviceListError) {
      // An entry for a version the list has passed (or not reached) is a race, not a forgery.
      if (e.problem === 'NOT_NEXT' && head !== undefined && e.version !== head.version + 1) throw new AccountHttpError('DEVICE_LIST_STALE');
      throw new AccountHttpError('DEVICE_LIST_INVALID', { problem: e.problem });
    }
    throw e;
  }
  const before = head?.devices ?? [];
  const expected = 'add' in change ? [...before, change.add] : before.filter((d) => compareKeys(d, change.remove) !== 0);
  const same =
    expected.length === next.devices.length &&
    [...expected].sort(compareKeys).every((d, i) => compareKeys(d, next.devices[i] as Uint8Array) === 0);
  if (!same) throw new AccountHttpError('DEVICE_LIST_INVALID', { problem: 'WRONG_CHANGE' });
  return { version: next.version, entry: raw };
}
