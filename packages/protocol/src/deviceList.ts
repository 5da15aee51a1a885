/**
 * An account's device list (docs/PROTOCOL.md §11.8): a hash chain of entries, each naming every
 * device of the account (by its Ed25519 identity key) and signed by a device of the entry before
 * it. The first entry names one device and is signed by it. The relay stores the chain and hands
 * it out, but cannot write an entry: a device it made up, or a device it dropped without a
 * device's signature, breaks the chain for every client that knew an earlier entry.
 *
 *   entry  = "NRDL" || format:u8 (1) || version:u32 || created_at:u64 (ms)
 *            || prev:32 (SHA-256 of the previous entry; 32 zero bytes for version 1)
 *            || name_len:u8 || name (UTF-8, the canonical username, §11.1)
 *            || count:u8 || count × identity_key:32 (strictly ascending bytewise)
 *            || signer:32 || signature:64
 *   signature = Ed25519(signer, "nullroom/v1/device-list" || entry without its signature)
 *
 * This module is the codec and the chain's rules, with SHA-256 and Ed25519 passed in: the relay
 * checks with node:crypto, clients with @nullroom/crypto, both by these same rules.
 */
import { Reader, Writer } from './_bytes.js';
import { ProtocolError } from './errors.js';

const MAGIC = [0x4e, 0x52, 0x44, 0x4c];
const FORMAT = 1;
export const DEVICE_KEY_BYTES = 32;
export const DEVICE_LIST_SIGNATURE_BYTES = 64;
/** More than any relay allows (`maxDevices`, 10 by default); a longer list is not an entry. */
export const MAX_LIST_DEVICES = 32;
const MAX_NAME_BYTES = 255;
export const DEVICE_LIST_LABEL = new TextEncoder().encode('nullroom/v1/device-list');
/** The largest entry: what a relay or client accepts before decoding. */
export const MAX_DEVICE_LIST_ENTRY_BYTES =
  MAGIC.length + 1 + 4 + 8 + 32 + 1 + MAX_NAME_BYTES + 1 + MAX_LIST_DEVICES * 32 + 32 + DEVICE_LIST_SIGNATURE_BYTES;

export interface DeviceListBody {
  readonly version: number;
  readonly createdAt: number;
  readonly prev: Uint8Array;
  readonly name: string;
  /** Identity keys; encoded sorted, so any order is accepted here. */
  readonly devices: readonly Uint8Array[];
  readonly signer: Uint8Array;
}

export interface DeviceListEntry extends DeviceListBody {
  readonly signature: Uint8Array;
  /** The whole entry as received or made: what its hash and the next entry's `prev` are over. */
  readonly bytes: Uint8Array;
}

/** Bytewise order of two keys. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.byteLength && i < b.byteLength; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.byteLength - b.byteLength;
}

const sorted = (keys: readonly Uint8Array[]) => [...keys].sort(compareKeys);

/** The entry without its signature: what is signed (after DEVICE_LIST_LABEL). */
export function encodeDeviceListBody(b: DeviceListBody): Uint8Array {
  const name = new TextEncoder().encode(b.name);
  const devices = sorted(b.devices);
  if (name.byteLength === 0 || name.byteLength > MAX_NAME_BYTES) throw new ProtocolError('BAD_VALUE', 'name');
  if (devices.length === 0 || devices.length > MAX_LIST_DEVICES) throw new ProtocolError('BAD_VALUE', 'devices');
  if (b.prev.byteLength !== 32 || b.signer.byteLength !== DEVICE_KEY_BYTES) throw new ProtocolError('BAD_VALUE', 'key');
  const w = new Writer(MAGIC.length + 1 + 4 + 8 + 32 + 1 + name.byteLength + 1 + devices.length * 32 + 32);
  for (const m of MAGIC) w.u8(m);
  w.u8(FORMAT).u32(b.version).u64(b.createdAt, 'created_at').fixed(b.prev).u8(name.byteLength).fixed(name).u8(devices.length);
  for (const d of devices) {
    if (d.byteLength !== DEVICE_KEY_BYTES) throw new ProtocolError('BAD_VALUE', 'device');
    w.fixed(d);
  }
  return w.fixed(b.signer).done();
}

/** The bytes a signer signs for this body. */
export function deviceListSigningInput(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(DEVICE_LIST_LABEL.byteLength + body.byteLength);
  out.set(DEVICE_LIST_LABEL);
  out.set(body, DEVICE_LIST_LABEL.byteLength);
  return out;
}

/** Reads one entry; a ProtocolError when it is not a well-formed, canonical one (the signature is not checked here). */
export function decodeDeviceListEntry(bytes: Uint8Array): DeviceListEntry {
  if (bytes.byteLength > MAX_DEVICE_LIST_ENTRY_BYTES) throw new ProtocolError('FIELD_TOO_LARGE', 'device list entry');
  const r = new Reader(bytes);
  for (const m of MAGIC) if (r.u8('magic') !== m) throw new ProtocolError('BAD_VALUE', 'magic');
  if (r.u8('format') !== FORMAT) throw new ProtocolError('BAD_VALUE', 'format');
  const version = r.u32('version');
  const createdAt = r.u64('created_at');
  const prev = r.fixed(32, 'prev');
  const nameBytes = r.fixed(r.u8('name'), 'name');
  let name: string;
  try {
    name = new TextDecoder('utf-8', { fatal: true }).decode(nameBytes);
  } catch {
    throw new ProtocolError('BAD_VALUE', 'name');
  }
  const count = r.u8('devices');
  if (version === 0 || name.length === 0 || count === 0 || count > MAX_LIST_DEVICES) throw new ProtocolError('BAD_VALUE', 'entry');
  const devices: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const d = r.fixed(DEVICE_KEY_BYTES, 'device');
    if (i > 0 && compareKeys(devices[i - 1]!, d) >= 0) throw new ProtocolError('BAD_VALUE', 'devices not ascending');
    devices.push(d);
  }
  const signer = r.fixed(DEVICE_KEY_BYTES, 'signer');
  const signature = r.fixed(DEVICE_LIST_SIGNATURE_BYTES, 'signature');
  r.end();
  return { version, createdAt, prev, name, devices, signer, signature, bytes };
}

/** What a chain's last entry says: the account's devices as of `version`, and that entry's hash. */
export interface DeviceListHead {
  readonly version: number;
  readonly hash: Uint8Array;
  readonly devices: readonly Uint8Array[];
}

export interface ChainCrypto {
  sha256(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean | Promise<boolean>;
}

/**
 * Why entries do not extend a head: MALFORMED (not an entry), WRONG_NAME (another account's),
 * NOT_NEXT (not the next version, or `prev` is not the head's hash: another history), BAD_GENESIS
 * (a first entry that is not one device signing itself), SIGNER_NOT_DEVICE (signed by a key that
 * was not a device of the entry before), BAD_SIGNATURE.
 */
export type DeviceListProblem = 'MALFORMED' | 'WRONG_NAME' | 'NOT_NEXT' | 'BAD_GENESIS' | 'SIGNER_NOT_DEVICE' | 'BAD_SIGNATURE';

export class DeviceListError extends Error {
  constructor(
    readonly problem: DeviceListProblem,
    readonly version?: number,
  ) {
    super(`the device list does not verify: ${problem}${version === undefined ? '' : ` at version ${version}`}`);
    this.name = 'DeviceListError';
  }
}

const equal = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && compareKeys(a, b) === 0;
const has = (keys: readonly Uint8Array[], k: Uint8Array) => keys.some((d) => equal(d, k));

/**
 * The head after `entries` (oldest first) extend `head` (undefined: the chain starts at version 1)
 * for the account `name`; a DeviceListError naming the first entry that does not.
 */
export async function extendDeviceList(
  name: string,
  head: DeviceListHead | undefined,
  entries: readonly Uint8Array[],
  c: ChainCrypto,
): Promise<DeviceListHead> {
  let at = head;
  for (const bytes of entries) {
    let e: DeviceListEntry;
    try {
      e = decodeDeviceListEntry(bytes);
    } catch {
      throw new DeviceListError('MALFORMED', at === undefined ? 1 : at.version + 1);
    }
    if (e.name !== name) throw new DeviceListError('WRONG_NAME', e.version);
    if (at === undefined) {
      if (e.version !== 1 || e.prev.some((x) => x !== 0)) throw new DeviceListError('NOT_NEXT', e.version);
      if (e.devices.length !== 1 || !equal(e.devices[0]!, e.signer)) throw new DeviceListError('BAD_GENESIS', e.version);
    } else {
      if (e.version !== at.version + 1 || !equal(e.prev, at.hash)) throw new DeviceListError('NOT_NEXT', e.version);
      if (!has(at.devices, e.signer)) throw new DeviceListError('SIGNER_NOT_DEVICE', e.version);
    }
    const body = bytes.subarray(0, bytes.byteLength - DEVICE_LIST_SIGNATURE_BYTES);
    if (!(await c.verify(e.signer, deviceListSigningInput(body), e.signature))) throw new DeviceListError('BAD_SIGNATURE', e.version);
    at = { version: e.version, hash: await c.sha256(bytes), devices: e.devices };
  }
  if (at === undefined) throw new DeviceListError('NOT_NEXT', 1);
  return at;
}
