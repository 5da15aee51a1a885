/**
 * Shared setup of the account tests that run the SDK's Messenger on a real relay: an in-process relay
 * with accounts (SQLite, a fresh OPAQUE setup), a scratch folder removed at exit, accounts registered
 * with their first device enrolled, further devices approved by the first, and a bounded wait.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { ephemeralIdentity, toBase64Url } from '@nullroom/crypto';
import { type Relay, type RelayOptions, startRelay } from '@nullroom/server';
import { openSqliteAccountStore } from '@nullroom/server/accounts';
import { AccountClient, AccountDevices, MemoryMessengerStore, MemoryTrustedLists } from '../src/accounts.js';

/** A scratch folder for this test file, removed when the process exits. */
export function scratch(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `nullroom-${prefix}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A relay on a free port with accounts kept in the SQLite file `db` (no blobs unless `extra` says). */
export async function accountsRelay(db: string, extra: Partial<RelayOptions> = {}): Promise<Relay> {
  await opaque.ready;
  return startRelay({
    port: 0,
    blobs: false,
    accounts: { store: openSqliteAccountStore(db), opaqueSetup: opaque.server.createSetup() },
    ...extra,
  });
}

/** One signed-in device of an account: what a Messenger needs to start. */
export interface AccountDevice {
  name: string;
  /** The session's bearer token. */
  token: string;
  me: Awaited<ReturnType<typeof ephemeralIdentity>>;
  devices: AccountDevices;
  /** The relay's id of this device. */
  device: string;
  /** The device's public key (base64url), as receipts name it. */
  key: string;
  store: MemoryMessengerStore;
}

async function signIn(url: string, name: string, how: 'register' | 'login') {
  const client = new AccountClient({ url });
  const s = how === 'register' ? await client.register(name, `pw ${name}`) : await client.login(name, `pw ${name}`);
  const me = await ephemeralIdentity();
  return {
    name,
    token: s.token!,
    me,
    key: toBase64Url(me.publicKey),
    devices: new AccountDevices(client, name, me, new MemoryTrustedLists()),
    store: new MemoryMessengerStore(),
  };
}

/** A new account `name` (password `pw NAME`) with its first device enrolled. */
export async function registered(url: string, name: string): Promise<AccountDevice> {
  const d = await signIn(url, name, 'register');
  return { ...d, device: await d.devices.enrolFirst() };
}

/** Another device of `first`'s account, approved by it. */
export async function approved(url: string, first: Pick<AccountDevice, 'name' | 'devices'>): Promise<AccountDevice> {
  const d = await signIn(url, first.name, 'login');
  const asked = await d.devices.requestApproval();
  const waiting = asked.wait({ intervalMs: 50 });
  await first.devices.approve(asked.code);
  return { ...d, device: (await waiting).device };
}

/** Waits until `check` holds, polling, and fails naming `what` after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
