/**
 * This terminal as a device of an account (docs/PROTOCOL.md §11.8): its identity key, the device
 * lists it verified, enrolment after `register`, approval after `login` on an account that has a
 * device already, and `nullroom devices URL [approve CODE | decline CODE | remove DEVICE]`.
 *
 * The identity key (Ed25519, PKCS#8) and the verified list heads live in the relay's entry of
 * `accounts.json` (0600, account.ts), written before the key is first sent, so that a crash cannot
 * leave the relay with a device whose key this terminal lost. Logging out keeps them: the terminal
 * stays one of the account's devices, and signs in again without a new approval; `devices remove`
 * is how a device leaves.
 */
import {
  accountSafetyNumber,
  formatSafetyNumber,
  type AccountClient,
  type AccountDevice,
  AccountDevices,
  type DeviceListHead,
  headFromJson,
  headToJson,
  type SavedHead,
  type TrustedLists,
} from '@nullroom/client/accounts';
import { loadStoredIdentity, newIdentity } from '@nullroom/client/node';
import { createHash } from 'node:crypto';
import { renderUnicodeCompact } from 'uqr';
import { CliError, Exit } from './errors.js';
import { safeText, safetyGrid } from './output.js';

export interface SavedDevice {
  /** The account it belongs to (another account signed in here gets another key). */
  name: string;
  pkcs8: string;
  pub: string;
}
export type SavedHeads = Record<string, SavedHead>;

/** What devices.ts keeps in a relay's entry of accounts.json. */
export interface DeviceState {
  device?: SavedDevice;
  lists?: SavedHeads;
}

export type Print = (event: string, fields: Record<string, unknown>, text: string) => void;

/** The verified heads, kept in `state.lists` and written through `persist`. */
class SavedTrust implements TrustedLists {
  constructor(
    private readonly state: DeviceState,
    private readonly persist: () => void,
  ) {}
  async get(name: string): Promise<DeviceListHead | undefined> {
    const h = this.state.lists?.[name];
    return h === undefined ? undefined : headFromJson(h);
  }
  async set(name: string, head: DeviceListHead): Promise<void> {
    this.state.lists = {
      ...this.state.lists,
      [name]: headToJson(head),
    };
    this.persist();
  }
  async delete(name: string): Promise<void> {
    if (this.state.lists !== undefined) delete this.state.lists[name];
    this.persist();
  }
}

async function importIdentity(d: SavedDevice) {
  const signer = await loadStoredIdentity(d);
  if (signer === undefined)
    throw new CliError('the device key in accounts.json does not load: move the file away to start over', Exit.FAILURE);
  return signer;
}

/** This terminal's identity for `name`: the saved one, or a new one saved (through `persist`) before it is used. */
async function identity(state: DeviceState, name: string, persist: () => void) {
  if (state.device?.name === name) return importIdentity(state.device);
  state.device = { name, ...(await newIdentity()) };
  state.lists = {};
  persist();
  return importIdentity(state.device);
}

export function deviceTools(client: AccountClient, state: DeviceState, name: string, persist: () => void) {
  return identity(state, name, persist).then((me) => ({
    me,
    devices: new AccountDevices(client, name, me, new SavedTrust(state, persist)),
  }));
}

const same = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);

/** A device key as people compare it: the first 16 hex digits of its SHA-256, in groups of four. */
export const fingerprint = (key: Uint8Array) => createHash('sha256').update(key).digest('hex').slice(0, 16).match(/.{4}/g)!.join(' ');

/**
 * After signing in as `name`: this terminal becomes (or is confirmed as) a device of the account.
 * The first device enrols itself; otherwise this terminal shows a code and waits for approval.
 */
export async function ensureDevice(
  client: AccountClient,
  state: DeviceState,
  name: string,
  persist: () => void,
  print: Print,
): Promise<void> {
  const { me, devices } = await deviceTools(client, state, name, persist);
  const all = await devices.devices();
  const mine = all.find((d) => same(d.identityKey, me.publicKey));
  if (mine !== undefined) {
    await devices.deviceList(); // verified against what this terminal trusted before
    await devices.bind(mine.device); // the new session becomes this device's (§11.8)
    print('device', { device: mine.device }, `this terminal is device ${fingerprint(me.publicKey)}`);
    return;
  }
  if (all.length === 0) {
    const id = await devices.enrolFirst();
    print('device-enrolled', { device: id }, `this terminal is the account's first device (${fingerprint(me.publicKey)})`);
    return;
  }
  const asked = await devices.requestApproval();
  const minutes = Math.round((asked.expiresAt - Date.now()) / 60_000);
  print(
    'approval-code',
    { code: asked.code, expiresAt: asked.expiresAt },
    `to add this terminal, enter this code on one of your devices (within ${minutes} minutes):\n\n    ${asked.code}\n\n` +
      `(from a terminal that is one: nullroom devices URL approve ${asked.code})`,
  );
  const done = await asked.wait();
  const fp = fingerprint(me.publicKey);
  print('device-approved', { device: done.device, fingerprint: fp }, `approved: this terminal is now a device of ${name} (${fp})`);
}

/** `nullroom devices URL [approve CODE | decline CODE | remove DEVICE]`. */
export async function devicesCommand(
  client: AccountClient,
  state: DeviceState,
  name: string,
  persist: () => void,
  print: Print,
  action: string[],
): Promise<void> {
  const { me, devices } = await deviceTools(client, state, name, persist);
  const [verb, arg] = action;
  if (verb === undefined) {
    const view = await devices.deviceList();
    const listed = await devices.devices();
    for (const d of listed) printDevice(print, d, same(d.identityKey, me.publicKey));
    if (!view.head.devices.some((k) => same(k, me.publicKey)))
      print('note', {}, 'this terminal is not one of these devices: log in again to ask for approval');
    return;
  }
  if (arg === undefined || action.length > 2 || !['approve', 'decline', 'remove', 'verify'].includes(verb)) {
    throw new CliError('usage: nullroom devices URL [approve CODE | decline CODE | remove DEVICE | verify USER]', Exit.USAGE);
  }
  if (verb === 'verify') return verify(devices, name, arg, print);
  if (verb === 'approve') {
    const d = await devices.approve(arg);
    const fp = fingerprint(d.identityKey);
    print('device-approved', { device: d.device, fingerprint: fp }, `approved: device ${fp} is now one of ${name}'s`);
  } else if (verb === 'decline') {
    await devices.decline(arg);
    print('device-declined', {}, 'declined');
  } else {
    await devices.removeDevice(arg);
    print('device-removed', { device: arg }, `removed device ${arg}`);
  }
}

/**
 * The safety number of this account and `other` over both verified device lists (docs/PROTOCOL.md
 * §11.12), as a grid to compare with theirs, with their devices' fingerprints and what changed
 * since this terminal last looked.
 */
async function verify(devices: AccountDevices, name: string, other: string, print: Print): Promise<void> {
  const [mine, theirs] = [await devices.deviceList(name), await devices.deviceList(other)];
  const digits = accountSafetyNumber({ name, devices: mine.head.devices }, { name: theirs.name, devices: theirs.head.devices });
  const fingerprints = theirs.head.devices.map(fingerprint);
  const changed = !theirs.firstSeen && (theirs.added.length > 0 || theirs.removed.length > 0);
  print(
    'safety-number',
    { name: theirs.name, digits, devices: fingerprints, changed, firstSeen: theirs.firstSeen },
    [
      ...(changed ? [`! ${safeText(theirs.name)}'s devices changed since you last looked: compare the new number`] : []),
      `safety number with ${safeText(theirs.name)} (compare it with theirs, in person or on a call):`,
      safetyGrid(formatSafetyNumber(digits)),
      // The same QR code as the web app's (the digits as text): either app's can be compared with the other's.
      renderUnicodeCompact(digits, { ecc: 'M', border: 2 }),
      `their devices: ${fingerprints.join(', ')}`,
    ].join('\n'),
  );
}

function printDevice(print: Print, d: AccountDevice, mine: boolean): void {
  const added = new Date(d.createdAt).toISOString().slice(0, 16).replace('T', ' ');
  print(
    'device',
    { device: d.device, fingerprint: fingerprint(d.identityKey), createdAt: d.createdAt, current: mine },
    `${d.device}  ${fingerprint(d.identityKey)}  added ${added} UTC${mine ? '  (this terminal)' : ''}`,
  );
}
