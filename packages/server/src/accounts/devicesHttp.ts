/**
 * Devices and the KeyPackage directory (docs/PROTOCOL.md §11.6): every device of an account has its
 * own identity key and publishes MLS KeyPackages (one-time ones and a last-resort one) that others
 * claim to add it to a conversation while it is offline. The relay stores them as opaque bytes:
 * it never parses MLS, so every check of a KeyPackage (its signature, its credential's identity
 * key) is the claiming client's; the relay only bounds their number and size.
 *
 * Until approval by an existing device lands (issue #15), an account's first device is added
 * freely and any further one is refused with DEVICE_APPROVAL_REQUIRED.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { AccountHttpError } from './accountErrors.js';
import type { AccountStore, StoredDevice, StoredSession, StoredUser } from './accountStore.js';
import { readJson } from './jsonBody.js';
import type { AccountsRequest } from './accountsHttp.js';
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
const AddDevice = z.strictObject({ identityKey: b64.length(43) });
const RemoveDevice = z.strictObject({ device: deviceId });
const Upload = z.strictObject({ device: deviceId, oneTime: z.array(b64).max(32), lastResort: b64.optional() });
const Claim = z.strictObject({ name: z.string().min(1).max(USERNAME_INPUT_MAX) });

interface Signed {
  readonly session: StoredSession;
  readonly user: StoredUser;
}

export interface DeviceContext {
  readonly store: AccountStore;
  readonly limits: DeviceLimits;
  /** The request's session (a change with the cookie must carry an accepted Origin). */
  signedIn(req: IncomingMessage, what: 'read' | 'change', r: AccountsRequest): Promise<Signed>;
  send(res: ServerResponse, status: number, body: object): void;
  /** One claim by this user: throws RATE_LIMITED (with the bucket's Retry-After) when its bucket is empty. */
  takeClaim(userId: string): void;
}

const shown = (d: StoredDevice) => ({
  device: d.id,
  identityKey: Buffer.from(d.identityKey).toString('base64url'),
  createdAt: d.createdAt,
});

export class DeviceEndpoints {
  constructor(private readonly ctx: DeviceContext) {}

  async add(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r);
    const body = await readJson(req, AddDevice);
    const identityKey = decode(body.identityKey, 32, true);
    if ((await this.ctx.store.devices(s.user.id)).length > 0) throw new AccountHttpError('DEVICE_APPROVAL_REQUIRED');
    const device: StoredDevice = { id: randomBytes(16).toString('base64url'), userId: s.user.id, identityKey, createdAt: Date.now() };
    const added = await this.ctx.store.addDevice(device, this.ctx.limits.maxDevices);
    if (added === 'exists') throw new AccountHttpError('DEVICE_EXISTS');
    if (added === 'too-many') throw new AccountHttpError('TOO_MANY_DEVICES');
    this.ctx.send(res, 201, shown(device));
  }

  async list(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'read', r);
    this.ctx.send(res, 200, { devices: (await this.ctx.store.devices(s.user.id)).map(shown) });
  }

  async remove(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r);
    const body = await readJson(req, RemoveDevice);
    if (!(await this.ctx.store.removeDevice(s.user.id, body.device))) throw new AccountHttpError('NO_SUCH_DEVICE');
    this.ctx.send(res, 200, { removed: true });
  }

  async upload(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r);
    const body = await readJson(req, Upload, MAX_UPLOAD_BYTES);
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
    this.ctx.takeClaim(s.user.id);
    let name: string;
    try {
      name = normalizeUsername(body.name).name;
    } catch {
      throw new AccountHttpError('NO_SUCH_USER');
    }
    const user = await this.ctx.store.userByName(name);
    if (user === undefined) throw new AccountHttpError('NO_SUCH_USER');
    const claimed = await this.ctx.store.claimKeyPackages(user.id);
    this.ctx.send(res, 200, {
      name: user.name,
      devices: claimed.map((c) => ({
        ...shown(c.device),
        keyPackage: Buffer.from(c.keyPackage).toString('base64url'),
        lastResort: c.lastResort,
      })),
    });
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
