/**
 * An account's devices from one of them (docs/PROTOCOL.md §11.8): enrolling the first, asking an
 * existing device for approval with a code and approving one, removing one, and reading any
 * account's signed device list, checked against what this device trusted before.
 *
 * Trust: the first list seen for an account is taken as it is (trust on first use, confirmed by
 * comparing safety numbers); every later read must continue it, entry by entry, each signed by a
 * device of the entry before. A list that does not (the relay rewrote or rolled back history) is
 * DEVICE_LIST_FORKED, which a caller shows and cannot turn off: only the user's decision to trust
 * the new list afresh (`forget`) clears it. Devices added or removed since the last read are
 * reported (`added`, `removed`) so that the app can say so. A KeyPackage the relay hands out for a
 * device not in the verified list is refused (UNLISTED_DEVICE), and listed devices it had none for
 * are reported (`missing`): the relay can withhold a device, not add one.
 */
import {
  approvalTags,
  type ApprovalTags,
  deviceListCrypto,
  equalBytes,
  type IdentitySigner,
  newApprovalCode,
  normalizeApprovalCode,
  signDeviceList,
} from '@nullroom/crypto';
import { DEVICE_BIND_LABEL, decodeDeviceListEntry, DeviceListError, type DeviceListHead, extendDeviceList } from '@nullroom/protocol';
import { AccountError, b64, list, num, str, unb64 } from './accountErrors.js';
import type { AccountClient } from './accounts.js';

/** Where a device keeps the device-list heads it verified, per account name (on one relay). */
export interface TrustedLists {
  get(name: string): Promise<DeviceListHead | undefined>;
  set(name: string, head: DeviceListHead): Promise<void>;
  /** Forgets an account's head: its next list is trusted on first use again (the user chose to). */
  delete(name: string): Promise<void>;
}

export class MemoryTrustedLists implements TrustedLists {
  private readonly heads = new Map<string, DeviceListHead>();
  async get(name: string) {
    return this.heads.get(name);
  }
  async set(name: string, head: DeviceListHead) {
    this.heads.set(name, head);
  }
  async delete(name: string) {
    this.heads.delete(name);
  }
}

export interface AccountDevice {
  readonly device: string;
  readonly identityKey: Uint8Array;
  readonly createdAt: number;
}

export interface ClaimedDevice extends AccountDevice {
  readonly keyPackage: Uint8Array;
  readonly lastResort: boolean;
}

/** An account's verified device list, and how it changed since this device last read it. */
export interface DeviceListView {
  readonly name: string;
  readonly head: DeviceListHead;
  /** No head was trusted before: this one is taken on first use. */
  readonly firstSeen: boolean;
  readonly added: readonly Uint8Array[];
  readonly removed: readonly Uint8Array[];
  /**
   * The relay's device ids of the listed devices (identity key, base64url -> id), as the relay says:
   * what a commit's `remove` names (§11.9). Only keys of the verified list; a wrong id only misroutes.
   */
  readonly ids: ReadonlyMap<string, string>;
}

export interface ApprovalRequest {
  /** Show it (XXXX-XXXX-XXXX): the user types it on an existing device. */
  readonly code: string;
  readonly expiresAt: number;
  /** Resolves once approved and confirmed (this device's id, and its account's list); rejects when declined or expired. */
  wait(o?: { signal?: AbortSignal; intervalMs?: number }): Promise<{ device: string; list: DeviceListView }>;
}

/** A head in JSON (base64url), for a store that keeps text. */
export interface SavedHead {
  readonly version: number;
  readonly hash: string;
  readonly devices: readonly string[];
}
export const headToJson = (h: DeviceListHead): SavedHead => ({ version: h.version, hash: b64(h.hash), devices: h.devices.map(b64) });
export const headFromJson = (s: SavedHead): DeviceListHead => ({ version: s.version, hash: unb64(s.hash), devices: s.devices.map(unb64) });

const ZERO = new Uint8Array(32);
const has = (keys: readonly Uint8Array[], k: Uint8Array) => keys.some((d) => equalBytes(d, k));
const minus = (a: readonly Uint8Array[], b: readonly Uint8Array[]) => a.filter((k) => !has(b, k));

export class AccountDevices {
  /**
   * `name`: the signed-in account's canonical name; `me`: this device's identity key (the browser's
   * is non-extractable); `trusted`: where verified heads are kept.
   */
  constructor(
    private readonly client: AccountClient,
    private readonly name: string,
    private readonly me: IdentitySigner,
    private readonly trusted: TrustedLists,
  ) {}

  /** Adds this device as the account's first, with the list entry it signs for itself: its id. */
  async enrolFirst(): Promise<string> {
    const entry = await signDeviceList(this.me, {
      version: 1,
      createdAt: Date.now(),
      prev: ZERO,
      name: this.name,
      devices: [this.me.publicKey],
    });
    const r = await this.client.call('POST', '/api/devices/add', { identityKey: b64(this.me.publicKey), list: b64(entry) });
    await this.trusted.set(this.name, await extendDeviceList(this.name, undefined, [entry], deviceListCrypto));
    return str(r.device);
  }

  /**
   * Binds this session to `device`, this device's id in the account (docs/PROTOCOL.md §11.8): what a
   * device that signs in again does before anything only a device may do (contacts, KeyPackages,
   * approvals, the account channel). It signs the relay's fresh challenge with its identity key.
   * Enrolling first and being approved bind the session without this.
   */
  async bind(device: string): Promise<void> {
    const r = await this.client.call('POST', '/api/devices/bind/start', {});
    const challenge = unb64(r.challenge);
    const id = unb64(device);
    const msg = new Uint8Array(DEVICE_BIND_LABEL.byteLength + challenge.byteLength + id.byteLength);
    msg.set(DEVICE_BIND_LABEL);
    msg.set(challenge, DEVICE_BIND_LABEL.byteLength);
    msg.set(id, DEVICE_BIND_LABEL.byteLength + challenge.byteLength);
    const bound = await this.client.call('POST', '/api/devices/bind', { device, signature: b64(await this.me.sign(msg)) });
    if (str(bound.device) !== device) throw new AccountError('BAD_RESPONSE');
  }

  /** `name`'s device list (this account's by default), verified and continued from the head trusted before. */
  async deviceList(name = this.name): Promise<DeviceListView> {
    const known = await this.trusted.get(name);
    const r = await this.client.call('POST', '/api/devices/list', { name, after: known?.version ?? 0 });
    if (str(r.name) !== name) throw new AccountError('BAD_RESPONSE');
    const version = num(r.version);
    if (known !== undefined && version < known.version) throw new AccountError('DEVICE_LIST_FORKED', { problem: 'ROLLBACK' });
    const head = await verify(name, known, list(r.entries).map(unb64));
    if (head.version !== version) throw new AccountError('DEVICE_LIST_INVALID', { problem: 'INCOMPLETE' });
    await this.trusted.set(name, head);
    const before = known?.devices ?? [];
    const ids = new Map<string, string>();
    for (const d of Array.isArray(r.devices) ? r.devices : []) {
      const o = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>;
      if (typeof o.device !== 'string' || typeof o.identityKey !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(o.device)) continue;
      if (head.devices.some((k) => b64(k) === o.identityKey)) ids.set(o.identityKey, o.device);
    }
    return {
      name,
      head,
      firstSeen: known === undefined,
      added: minus(head.devices, before),
      removed: minus(before, head.devices),
      ids,
    };
  }

  /** Stops trusting `name`'s list: the next read takes it on first use (after the user compared safety numbers). */
  forget(name: string): Promise<void> {
    return this.trusted.delete(name);
  }

  /** This device (signed in, not yet the account's) asks to be approved: show the code, then wait. */
  async requestApproval(): Promise<ApprovalRequest> {
    const code = newApprovalCode();
    const tags = approvalTags(code, this.name);
    const key = this.me.publicKey;
    const r = await this.client.call('POST', '/api/devices/request', { identityKey: b64(key), tag: b64(tags.request(key)) });
    const request = str(r.request);
    return { code, expiresAt: num(r.expiresAt), wait: (o = {}) => this.awaitApproval(request, tags, o) };
  }

  /** Approves the device waiting with `code` (typed by the user): the device, as the relay now routes to it. */
  async approve(code: string): Promise<AccountDevice> {
    const { request, key, tags } = await this.requestFor(code);
    const r = await this.changeList(
      (head) => [...head.devices, key],
      (entry) => this.client.call('POST', '/api/devices/approve', { request, list: b64(entry), confirm: b64(tags.confirm(entry)) }),
    );
    const device = deviceOf(r);
    if (!equalBytes(device.identityKey, key)) throw new AccountError('BAD_RESPONSE');
    return device;
  }

  /** Declines the device waiting with `code`. */
  async decline(code: string): Promise<void> {
    const { request } = await this.requestFor(code);
    await this.client.call('POST', '/api/devices/decline', { request });
  }

  /** The account's devices as the relay routes to them, oldest first. */
  async devices(): Promise<AccountDevice[]> {
    const r = await this.client.call('GET', '/api/devices');
    return list(r.devices).map(deviceOf);
  }

  /** Removes a device of the account (this one included), with the entry this device signs. */
  async removeDevice(device: string): Promise<void> {
    const gone = (await this.devices()).find((d) => d.device === device);
    if (gone === undefined) throw new AccountError('NO_SUCH_DEVICE');
    await this.changeList(
      (head) => minus(head.devices, [gone.identityKey]),
      (entry) => this.client.call('POST', '/api/devices/remove', { device, list: b64(entry) }),
    );
  }

  /** Publishes KeyPackages for one of the account's devices: how many one-time ones it now has. */
  async uploadKeyPackages(device: string, oneTime: readonly Uint8Array[], lastResort?: Uint8Array): Promise<number> {
    const r = await this.client.call('POST', '/api/key-packages', {
      device,
      oneTime: oneTime.map(b64),
      ...(lastResort === undefined ? {} : { lastResort: b64(lastResort) }),
    });
    return num(r.oneTime);
  }

  /**
   * One KeyPackage for each device of `name`, each for a device of its verified list (else
   * UNLISTED_DEVICE); `missing`: listed devices the relay had none for. The caller still checks
   * each KeyPackage (signature, suite, and that its credential carries the listed identity key).
   */
  async claimKeyPackages(name: string): Promise<{ list: DeviceListView; devices: ClaimedDevice[]; missing: Uint8Array[] }> {
    const view = await this.deviceList(name);
    const r = await this.client.call('POST', '/api/key-packages/claim', { name });
    const devices = list(r.devices).map((d) => {
      const o = d as Record<string, unknown>;
      return { ...deviceOf(o), keyPackage: unb64(o.keyPackage), lastResort: o.lastResort === true };
    });
    if (devices.some((d) => !has(view.head.devices, d.identityKey))) throw new AccountError('UNLISTED_DEVICE');
    return {
      list: view,
      devices,
      missing: minus(
        view.head.devices,
        devices.map((d) => d.identityKey),
      ),
    };
  }

  /** The request whose tag fits `code`, among those the relay lists. */
  private async requestFor(code: string): Promise<{ request: string; key: Uint8Array; tags: ApprovalTags }> {
    if (normalizeApprovalCode(code) === undefined) throw new AccountError('BAD_CODE');
    const tags = approvalTags(code, this.name);
    const r = await this.client.call('GET', '/api/devices/requests');
    for (const q of list(r.requests)) {
      const o = q as Record<string, unknown>;
      const key = unb64(o.identityKey);
      if (tags.checkRequest(key, unb64(o.tag))) return { request: str(o.request), key, tags };
    }
    throw new AccountError('NO_REQUEST_FOR_CODE');
  }

  /** Signs the entry after the verified head with `devices(head)` and sends it; read again and retried when another change came first. */
  private async changeList(
    devices: (head: DeviceListHead) => Uint8Array[],
    send: (entry: Uint8Array) => Promise<Record<string, unknown>>,
  ): Promise<Record<string, unknown>> {
    for (let attempt = 0; ; attempt++) {
      const { head } = await this.deviceList();
      if (!has(head.devices, this.me.publicKey)) throw new AccountError('NOT_A_DEVICE');
      const next = { version: head.version + 1, createdAt: Date.now(), prev: head.hash, name: this.name, devices: devices(head) };
      const entry = await signDeviceList(this.me, next);
      try {
        const r = await send(entry);
        await this.trusted.set(this.name, await extendDeviceList(this.name, head, [entry], deviceListCrypto));
        return r;
      } catch (e) {
        if (!(e instanceof AccountError && e.code === 'DEVICE_LIST_STALE' && attempt < 2)) throw e;
      }
    }
  }

  private async awaitApproval(request: string, tags: ApprovalTags, o: { signal?: AbortSignal; intervalMs?: number }) {
    for (;;) {
      o.signal?.throwIfAborted();
      const r = await this.client.call('POST', '/api/devices/request/status', { request });
      if (r.state === 'declined') throw new AccountError('APPROVAL_DECLINED');
      if (r.state === 'approved') return { device: str(r.device), list: await this.confirmed(unb64(r.confirm), tags) };
      await new Promise((resolve) => setTimeout(resolve, o.intervalMs ?? 1000));
    }
  }

  /** This account's whole list, trusted only if the entry that added this device carries the code's `confirm` tag. */
  private async confirmed(confirm: Uint8Array, tags: ApprovalTags): Promise<DeviceListView> {
    const r = await this.client.call('POST', '/api/devices/list', { after: 0 });
    const entries = list(r.entries).map(unb64);
    const head = await verify(this.name, undefined, entries);
    const adding = entries.find((e) => has(decodeDeviceListEntry(e).devices, this.me.publicKey));
    if (adding === undefined || !has(head.devices, this.me.publicKey)) throw new AccountError('NOT_A_DEVICE');
    if (!tags.checkConfirm(adding, confirm)) throw new AccountError('APPROVAL_NOT_CONFIRMED');
    await this.trusted.set(this.name, head);
    return { name: this.name, head, firstSeen: true, added: head.devices, removed: [], ids: new Map() };
  }
}

/** `entries` continuing `known` for `name`: DEVICE_LIST_FORKED when they start another history, DEVICE_LIST_INVALID when they break a rule. */
async function verify(name: string, known: DeviceListHead | undefined, entries: Uint8Array[]): Promise<DeviceListHead> {
  if (known !== undefined && entries.length === 0) return known;
  try {
    return await extendDeviceList(name, known, entries, deviceListCrypto);
  } catch (e) {
    if (!(e instanceof DeviceListError)) throw e;
    if (known !== undefined && e.problem === 'NOT_NEXT' && e.version === known.version + 1) {
      throw new AccountError('DEVICE_LIST_FORKED', { problem: e.problem });
    }
    throw new AccountError('DEVICE_LIST_INVALID', { problem: e.problem });
  }
}

function deviceOf(v: unknown): AccountDevice {
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  return { device: str(o.device), identityKey: unb64(o.identityKey), createdAt: num(o.createdAt) };
}
