/**
 * What the accounts API tests share: a real relay with the embedded account store in a temporary
 * folder (its log lines kept), JSON calls, and the client's side of OPAQUE driven step by step.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { WebSocket } from 'ws';
import {
  ACCOUNT_AUTH_LABEL,
  ACCOUNT_SUBPROTOCOL,
  type AccountFrame,
  DEVICE_BIND_LABEL,
  decodeAccountFrame,
  deviceListSigningInput,
  encodeAccountFrame,
  encodeDeviceListBody,
} from '@nullroom/protocol';
import { type BlobOptions, type Relay, type RelayOptions, startRelay } from '../src/index.js';
import { openSqliteAccountStore } from '../src/accounts/sqliteAccountStore.js';
import type { AccountsOptions } from '../src/accounts/accountsHttp.js';
import type { AccountStore } from '../src/accounts/accountStore.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-accounts-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** An answer's JSON body: read field by field, as a client does (`undefined` where there is none). */
// biome-ignore lint/suspicious/noExplicitAny: the tests read whatever fields each answer has.
export type Body = any;

export interface Api {
  relay: Relay;
  store: AccountStore;
  logs: string[];
  dataDir: string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: Body; headers: Headers }>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: Body; headers: Headers }>;
}

/** A relay with accounts over `store` (default: a new embedded one). */
export async function relayWithAccounts(
  options: Omit<AccountsOptions, 'store' | 'opaqueSetup'> = {},
  given?: AccountStore,
  /** The blob store (default: none). */
  blobs: BlobOptions | false = false,
  /** More relay options (a logger, metrics), over the ones here. */
  more: Partial<RelayOptions> = {},
): Promise<Api> {
  await opaque.ready;
  const dataDir = join(dir, `relay-${++n}`);
  const logs: string[] = [];
  const store = given ?? openSqliteAccountStore(join(dataDir, 'accounts.db'));
  const relay = await startRelay({
    port: 0,
    blobs,
    log: (l) => logs.push(l),
    accounts: { store, opaqueSetup: opaque.server.createSetup(), ...options },
    ...more,
  });
  const call = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${relay.url}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: text === '' ? undefined : JSON.parse(text), headers: r.headers };
  };
  return { relay, store, logs, dataDir, post: (p, b, h) => call('POST', p, b, h), get: (p, h) => call('GET', p, undefined, h) };
}

export async function register(api: Api, name: string, password: string, session: 'cookie' | 'token' = 'token') {
  const start = opaque.client.startRegistration({ password });
  const r1 = await api.post('/api/register/start', { name, request: start.registrationRequest });
  assert.equal(r1.status, 200, JSON.stringify(r1.body));
  const fin = opaque.client.finishRegistration({
    clientRegistrationState: start.clientRegistrationState,
    registrationResponse: r1.body.response,
    password,
  });
  return api.post('/api/register/finish', { name, record: fin.registrationRecord, session });
}

/** A login up to the proof: the pending login's id and the proof, or undefined when the password is wrong. */
export async function prove(api: Api, name: string, password: string) {
  const start = opaque.client.startLogin({ password });
  const r = await api.post('/api/login/start', { name, request: start.startLoginRequest });
  if (r.status !== 200) return { status: r.status, body: r.body, headers: r.headers };
  const fin = opaque.client.finishLogin({ clientLoginState: start.clientLoginState, loginResponse: r.body.response, password });
  return { status: 200, login: r.body.login as string, finish: fin?.finishLoginRequest };
}

export async function login(api: Api, name: string, password: string, session: 'cookie' | 'token' = 'token') {
  const p = await prove(api, name, password);
  assert.equal(p.status, 200);
  assert.ok(p.finish, 'the password is right');
  return api.post('/api/login/finish', { login: p.login, finish: p.finish, session });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A device's Ed25519 identity key, through node:crypto: its raw public key (base64url) and a signer of list entries. */
export interface TestDevice {
  readonly key: Uint8Array;
  readonly b64: string;
  /** The entry after `prev` (undefined: the first) naming `devices`, signed by this device. */
  entry(name: string, prev: { version: number; entry: Uint8Array } | undefined, devices: readonly Uint8Array[]): Uint8Array;
  /** Ed25519 over `message` with this device's key. */
  sign(message: Uint8Array): Uint8Array;
}

export function testDevice(): TestDevice {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const key = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url'));
  return {
    key,
    b64: Buffer.from(key).toString('base64url'),
    entry(name, prev, devices) {
      const body = encodeDeviceListBody({
        version: (prev?.version ?? 0) + 1,
        createdAt: Date.now(),
        prev: prev === undefined ? new Uint8Array(32) : new Uint8Array(createHash('sha256').update(prev.entry).digest()),
        name,
        devices,
        signer: key,
      });
      const signature = sign(null, deviceListSigningInput(body), privateKey);
      return new Uint8Array(Buffer.concat([body, signature]));
    },
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}

export const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** Adds `d` as the first device of the account behind `auth`: its id and the list's first entry. */
export async function firstDevice(api: Api, name: string, auth: Record<string, string>, d = testDevice()) {
  const entry = d.entry(name, undefined, [d.key]);
  const r = await api.post('/api/devices/add', { identityKey: d.b64, list: b64u(entry) }, auth);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { device: r.body.device as string, d, head: { version: 1, entry } };
}

/** A new account whose registration session is its first device's (bound to it): what most tests start from. */
export async function withDevice(api: Api, name: string, password: string) {
  const reg = await register(api, name, password);
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const auth = bearer(reg.body.token);
  return { auth, token: reg.body.token as string, ...(await firstDevice(api, name, auth)) };
}

/** What `POST /api/devices/bind` takes for `device` (`d`'s id) over this session's fresh challenge. */
export async function bindBody(api: Api, auth: Record<string, string>, device: string, d: TestDevice) {
  const c = await api.post('/api/devices/bind/start', {}, auth);
  assert.equal(c.status, 200, JSON.stringify(c.body));
  const signed = Buffer.concat([DEVICE_BIND_LABEL, Buffer.from(c.body.challenge, 'base64url'), Buffer.from(device, 'base64url')]);
  return { device, signature: b64u(d.sign(signed)) };
}

/** A raw account channel (docs/PROTOCOL.md §11.11): its frames as they come, and its close code once closed. */
export interface RawChannel {
  ws: WebSocket;
  frames: AccountFrame[];
  closed: Promise<number>;
}

/**
 * Opens /account with `auth` and answers the challenge as device `device` with `sign`: the channel
 * once READY; rejects with `upgrade <status>` when the upgrade is refused, or `closed <code>` when the
 * channel closes before READY.
 */
export function openChannel(
  relayUrl: string,
  auth: Record<string, string>,
  device: string,
  sign: (message: Uint8Array) => Uint8Array,
): Promise<RawChannel> {
  const ws = new WebSocket(`${relayUrl.replace('http', 'ws')}/account`, ACCOUNT_SUBPROTOCOL, { headers: auth });
  const frames: AccountFrame[] = [];
  const closed = new Promise<number>((r) => ws.on('close', (c) => r(c)));
  const id = Buffer.from(device, 'base64url');
  return new Promise((ready, fail) => {
    ws.on('unexpected-response', (_req, res) => fail(new Error(`upgrade ${res.statusCode}`)));
    ws.on('error', () => undefined);
    void closed.then((code) => fail(new Error(`closed ${code}`)));
    ws.on('message', (d) => {
      const f = decodeAccountFrame(new Uint8Array(d as Buffer));
      frames.push(f);
      if (f.type === 'CHALLENGE') {
        const signature = sign(new Uint8Array(Buffer.concat([ACCOUNT_AUTH_LABEL, f.nonce, id])));
        ws.send(encodeAccountFrame({ type: 'AUTH', device: new Uint8Array(id), signature }));
      }
      if (f.type === 'READY') ready({ ws, frames, closed });
    });
  });
}
