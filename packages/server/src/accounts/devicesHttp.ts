/**
 * Devices and the KeyPackage directory (docs/PROTOCOL.md §11.6): every device of an account has its
 * own identity key and publishes MLS KeyPackages (one-time ones and a last-resort one) that others
 * claim to add it to a conversation while it is offline. The relay stores them as opaque bytes:
 * it never parses MLS, so every check of a KeyPackage (its signature, its credential's identity
 * key) is the claiming client's; the relay only bounds their number and size.
 *
 * Every change to an account's devices comes with the signed device-list entry that makes it
 * (§11.8, deviceListCheck.ts): the first device signs its own; any later one is approved by an
 * existing device (deviceApproval.ts), and a device is removed by an entry one of them signed.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NoticeWhat } from '@nullroom/protocol';
import { z } from 'zod';
import { AccountHttpError } from './accountErrors.js';
import type { AccountStore, StoredDevice, StoredListEntry, StoredSession, StoredUser } from './accountStore.js';
import type { ApprovalStore } from './accountShared.js';
import { checkNextEntry } from './deviceListCheck.js';
import { readJson } from './jsonBody.js';
import type { AccountsRequest, Needs } from './accountsHttp.js';
import { USERNAME_INPUT_MAX, normalizeUsername } from './username.js';

export interface DeviceLimits {
  /** Devices per account. */
  readonly maxDevices: number;
  /** One-time KeyPackages kept per device (more are not stored). */
  readonly maxKeyPackages: number;
  /** Largest KeyPackage, decoded (an X-Wing one is about 1.7 KB). */
  readonly maxKeyPackageBytes: number;
}

export const defaultDeviceLimits: DeviceLimits = { maxDevices: 10, maxKeyPackages: 100, maxKeyPackageBytes: 4096 };

/** An upload of KeyPackages may be larger than other bodies: 32 of the largest, in base64url. */
const MAX_UPLOAD_BYTES = 256 * 1024;
const b64 = z.string().regex(/^[A-Za-z0-9_-]+$/);
const deviceId = z.string().regex(/^[A-Za-z0-9_-]{22}$/);
const key = b64.length(43);
const tag = b64.length(43);
const entry = b64.max(2048);
const requestId = z.string().regex(/^[A-Za-z0-9_-]{22}$/);
const AddDevice = z.strictObject({ identityKey: key, list: entry });
const RemoveDevice = z.strictObject({ device: deviceId, list: entry });
const ListOf = z.strictObject({
  name: z.string().min(1).max(USERNAME_INPUT_MAX).optional(),
  after: z.number().int().min(0).max(0xffffffff),
});
const Ask = z.strictObject({ identityKey: key, tag });
const Approve = z.strictObject({ request: requestId, list: entry, confirm: tag });
const OfRequest = z.strictObject({ request: requestId });
const Upload = z.strictObject({ device: deviceId, oneTime: z.array(b64).max(32), lastResort: b64.optional() });
const Claim = z.strictObject({ name: z.string().min(1).max(USERNAME_INPUT_MAX) });

interface Signed {
  readonly session: StoredSession;
  readonly user: StoredUser;
  /** SHA-256 of the session's token. */
  readonly hash: Uint8Array;
}

export interface DeviceContext {
  readonly store: AccountStore;
  readonly limits: DeviceLimits;
  /** The request's session (a change with the cookie must carry an accepted Origin); bound to a device unless `needs` is `any`. */
  signedIn(req: IncomingMessage, what: 'read' | 'change', r: AccountsRequest, needs?: Needs): Promise<Signed>;
  send(res: ServerResponse, status: number, body: object): void;
  /** One claim by this user: throws RATE_LIMITED (with the bucket's Retry-After) when its bucket is empty. */
  takeClaim(userId: string): Promise<void>;
  /** New devices waiting for approval. */
  readonly requests: ApprovalStore;
  /** Tells the user's connected devices (NOTICE, docs/PROTOCOL.md §11.11). */
  notify(userId: string, what: number): void;
  /** A device left its account: its channels end at once. */
  removed(deviceId: string): void;
}

const b64u = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
const shown = (d: StoredDevice) => ({
  device: d.id,
  identityKey: b64u(d.identityKey),
  createdAt: d.createdAt,
});

export class DeviceEndpoints {
  constructor(private readonly ctx: DeviceContext) {}

  /** The account's first device, with the list entry it signed for itself; the session becomes the device's. */
  async add(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r, 'any');
    const body = await readJson(req, AddDevice);
    const identityKey = decode(body.identityKey, 32, true);
    if ((await this.ctx.store.devices(s.user.id)).length > 0) throw new AccountHttpError('DEVICE_APPROVAL_REQUIRED');
    const list = await checkNextEntry(this.ctx.store, s.user, body.list, { add: identityKey });
    this.ctx.send(res, 201, shown(await this.insert(s.user.id, identityKey, list, s.hash)));
  }

  async list(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'read', r, 'any');
    this.ctx.send(res, 200, { devices: (await this.ctx.store.devices(s.user.id)).map(shown) });
  }

  /**
   * A device leaves the account, with the entry (signed by one of its devices) that drops it; the
   * store ends its sessions and drops its mail and routing in the same transaction, and its channels
   * are closed here.
   */
  async remove(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r);
    const body = await readJson(req, RemoveDevice);
    const gone = (await this.ctx.store.devices(s.user.id)).find((d) => d.id === body.device);
    if (gone === undefined) throw new AccountHttpError('NO_SUCH_DEVICE');
    const list = await checkNextEntry(this.ctx.store, s.user, body.list, { remove: gone.identityKey });
    const done = await this.ctx.store.removeDevice(s.user.id, body.device, list);
    if (done === 'no-such-device') throw new AccountHttpError('NO_SUCH_DEVICE');
    if (done === 'stale') throw new AccountHttpError('DEVICE_LIST_STALE');
    this.ctx.removed(body.device);
    this.ctx.notify(s.user.id, NoticeWhat.DEVICE_LIST);
    this.ctx.send(res, 200, { removed: true });
  }

  /**
   * An account's device list after `after` (the caller's own without `name`): what every client
   * checks. A session not yet bound to a device reads only its own account's.
   */
  async deviceList(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'read', r, 'any');
    const body = await readJson(req, ListOf);
    // Judged before the name is looked up: an unbound session learns nothing of which names exist.
    if (body.name !== undefined && s.session.device === undefined && canonical(body.name) !== s.user.name) {
      throw new AccountHttpError('DEVICE_NOT_BOUND');
    }
    const user = body.name === undefined ? s.user : await this.userNamed(body.name);
    const entries = await this.ctx.store.deviceList(user.id, body.after);
    const head = entries.at(-1)?.version ?? (await this.ctx.store.deviceListHead(user.id))?.version ?? 0;
    // The relay's ids of the devices it routes to (as a claim shows them): what a member names in a commit's `remove` (§11.9).
    const devices = (await this.ctx.store.devices(user.id)).map((d) => ({ device: d.id, identityKey: b64u(d.identityKey) }));
    this.ctx.send(res, 200, { name: user.name, version: head, entries: entries.map((e) => b64u(e.entry)), devices });
  }

  /** A signed-in device that is not yet the account's asks to be approved (its session is bound to it once approved). */
  async ask(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r, 'any');
    if (s.session.device !== undefined) throw new AccountHttpError('SESSION_BOUND');
    const body = await readJson(req, Ask);
    const identityKey = decode(body.identityKey, 32, true);
    const devices = await this.ctx.store.devices(s.user.id);
    if (devices.length === 0) throw new AccountHttpError('NO_DEVICE_YET');
    if (devices.length >= this.ctx.limits.maxDevices) throw new AccountHttpError('TOO_MANY_DEVICES');
    const asked = await this.ctx.requests.add(s.user.id, s.hash, identityKey, decode(body.tag, 32, true));
    if (asked === undefined) throw new AccountHttpError('BUSY');
    this.ctx.notify(s.user.id, NoticeWhat.DEVICE_REQUEST);
    this.ctx.send(res, 201, { request: asked.id, expiresAt: asked.expiresAt });
  }

  /** The requests an existing device may approve. */
  async pending(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'read', r);
    const requests = (await this.ctx.requests.of(s.user.id)).map((q) => ({
      request: q.id,
      identityKey: b64u(q.identityKey),
      tag: b64u(q.tag),
      createdAt: q.createdAt,
      expiresAt: q.expiresAt,
    }));
    this.ctx.send(res, 200, { requests });
  }

  /** An existing device approves a request with the entry that adds its key; the asking session becomes the new device's. */
  async approve(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r);
    const body = await readJson(req, Approve);
    const asked = await this.ctx.requests.get(s.user.id, body.request);
    if (asked === undefined || asked.outcome !== undefined) throw new AccountHttpError('NO_SUCH_DEVICE_REQUEST');
    const list = await checkNextEntry(this.ctx.store, s.user, body.list, { add: asked.identityKey });
    const device = await this.insert(s.user.id, asked.identityKey, list, asked.asker);
    this.ctx.notify(s.user.id, NoticeWhat.DEVICE_LIST);
    await this.ctx.requests.settle(s.user.id, asked.id, { state: 'approved', device: device.id, confirm: decode(body.confirm, 32, true) });
    this.ctx.send(res, 201, shown(device));
  }

  async decline(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r);
    const id = (await readJson(req, OfRequest)).request;
    if (!(await this.ctx.requests.settle(s.user.id, id, { state: 'declined' }))) throw new AccountHttpError('NO_SUCH_DEVICE_REQUEST');
    this.ctx.send(res, 200, { declined: true });
  }

  /** The asking session reads its request's outcome. */
  async status(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'read', r, 'any');
    const asked = await this.ctx.requests.get(s.user.id, (await readJson(req, OfRequest)).request);
    if (asked === undefined || !this.ctx.requests.askedBy(asked, s.hash)) throw new AccountHttpError('NO_SUCH_DEVICE_REQUEST');
    const o = asked.outcome;
    if (o === undefined) this.ctx.send(res, 200, { state: 'pending', expiresAt: asked.expiresAt });
    else if (o.state === 'declined') this.ctx.send(res, 200, { state: 'declined' });
    else this.ctx.send(res, 200, { state: 'approved', device: o.device, confirm: b64u(o.confirm) });
  }

  /** Adds the device with its list entry, binding the session of token hash `bind` to it in the same transaction. */
  private async insert(userId: string, identityKey: Uint8Array, list: StoredListEntry, bind: Uint8Array): Promise<StoredDevice> {
    const device: StoredDevice = { id: randomBytes(16).toString('base64url'), userId, identityKey, createdAt: Date.now() };
    const added = await this.ctx.store.addDevice(device, this.ctx.limits.maxDevices, list, bind);
    if (added === 'exists') throw new AccountHttpError('DEVICE_EXISTS');
    if (added === 'too-many') throw new AccountHttpError('TOO_MANY_DEVICES');
    if (added === 'stale') throw new AccountHttpError('DEVICE_LIST_STALE');
    return device;
  }

  private async userNamed(text: string): Promise<StoredUser> {
    const name = canonical(text);
    if (name === undefined) throw new AccountHttpError('NO_SUCH_USER');
    const user = await this.ctx.store.userByName(name);
    if (user === undefined) throw new AccountHttpError('NO_SUCH_USER');
    return user;
  }

  /** KeyPackages of the session's own device (another device's: DEVICE_NOT_BOUND). */
  async upload(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r);
    const body = await readJson(req, Upload, MAX_UPLOAD_BYTES);
    if (body.device !== s.session.device) throw new AccountHttpError('DEVICE_NOT_BOUND');
    const max = this.ctx.limits.maxKeyPackageBytes;
    const oneTime = body.oneTime.map((k) => decode(k, max));
    const lastResort = body.lastResort === undefined ? undefined : decode(body.lastResort, max);
    const n = await this.ctx.store.addKeyPackages(s.user.id, body.device, oneTime, lastResort, this.ctx.limits.maxKeyPackages);
    if (n === undefined) throw new AccountHttpError('NO_SUCH_DEVICE');
    this.ctx.send(res, 200, { oneTime: n });
  }

  /** One KeyPackage for each device of the named account: what adding its devices to a group takes. */
  async claim(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r);
    const body = await readJson(req, Claim);
    await this.ctx.takeClaim(s.user.id);
    const user = await this.userNamed(body.name);
    const claimed = await this.ctx.store.claimKeyPackages(user.id);
    this.ctx.send(res, 200, {
      name: user.name,
      devices: claimed.map((c) => ({
        ...shown(c.device),
        keyPackage: b64u(c.keyPackage),
        lastResort: c.lastResort,
      })),
    });
  }
}

/** The canonical form of a username as typed, or undefined when it is none. */
function canonical(text: string): string | undefined {
  try {
    return normalizeUsername(text).name;
  } catch {
    return undefined;
  }
}

/** The bytes of canonical base64url text: at most `max` of them (with `exact`, exactly); BAD_REQUEST otherwise. */
function decode(text: string, max: number, exact = false): Uint8Array {
  const b = Buffer.from(text, 'base64url');
  if (b.byteLength === 0 || b.byteLength > max || (exact && b.byteLength !== max) || b.toString('base64url') !== text) {
    throw new AccountHttpError('BAD_REQUEST');
  }
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
