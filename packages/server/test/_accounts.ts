/**
 * What the accounts API tests share: a real relay with the embedded account store in a temporary
 * folder (its log lines kept), JSON calls, and the client's side of OPAQUE driven step by step.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
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
