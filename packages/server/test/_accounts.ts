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
import { deviceListSigningInput, encodeDeviceListBody } from '@nullroom/protocol';
import { type Relay, startRelay } from '../src/index.js';
import { openSqliteAccountStore } from '../src/accounts/sqliteAccountStore.js';
import type { AccountsOptions } from '../src/accounts/accountsHttp.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-accounts-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** An answer's JSON body: read field by field, as a client does (`undefined` where there is none). */
// biome-ignore lint/suspicious/noExplicitAny: the tests read whatever fields each answer has.
export type Body = any;

export interface Api {
  relay: Relay;
  logs: string[];
  dataDir: string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: Body; headers: Headers }>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: Body; headers: Headers }>;
}

export async function relayWithAccounts(options: Omit<AccountsOptions, 'store' | 'opaqueSetup'> = {}): Promise<Api> {
  await opaque.ready;
  const dataDir = join(dir, `relay-${++n}`);
  const logs: string[] = [];
  const store = openSqliteAccountStore(join(dataDir, 'accounts.db'));
  const relay = await startRelay({
    port: 0,
    blobs: false,
    log: (l) => logs.push(l),
    accounts: { store, opaqueSetup: opaque.server.createSetup(), ...options },
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
  return { relay, logs, dataDir, post: (p, b, h) => call('POST', p, b, h), get: (p, h) => call('GET', p, undefined, h) };
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
