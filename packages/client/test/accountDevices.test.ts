/**
 * An account's devices through the SDK (src/accountDevices.ts, docs/PROTOCOL.md §11.8) against a
 * real relay, with real keys: the first device enrols, a second is approved with the code it
 * shows, one is removed, and a contact sees each change. Then the relay turns hostile (a `fetch`
 * that rewrites its answers, as a compromised relay would): a rewritten or rolled-back list, a
 * KeyPackage for a device of its own, a withheld device, a swapped approval, a request for its own
 * key: each is caught with its typed error or reported, none is trusted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as opaque from '@serenity-kit/opaque';
import { ephemeralIdentity, type IdentitySigner, signDeviceList, toBase64Url } from '@nullroom/crypto';
import { startRelay } from '@nullroom/server';
import { openSqliteAccountStore } from '@nullroom/server/accounts';
import { AccountClient, AccountDevices, AccountError, type AccountErrorCode, MemoryTrustedLists } from '../src/accounts.js';

const dir = mkdtempSync(join(tmpdir(), 'nullroom-client-devices-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function relay() {
  await opaque.ready;
  return startRelay({
    port: 0,
    blobs: false,
    accounts: { store: openSqliteAccountStore(join(dir, `a-${++n}.db`)), opaqueSetup: opaque.server.createSetup() },
  });
}

const fails = async (p: Promise<unknown>, code: AccountErrorCode, problem?: string) =>
  assert.rejects(
    p,
    (e: unknown) => e instanceof AccountError && e.code === code && (problem === undefined || e.details.problem === problem),
    `expected ${code}${problem === undefined ? '' : ` (${problem})`}`,
  );

type Rewrite = (path: string, body: Record<string, unknown>) => Record<string, unknown> | undefined;

/** A device of `name` signed in through a relay whose answers `rewrite` may change (a hostile relay). */
async function device(url: string, name: string, password: string, how: 'register' | 'login', rewrite?: { fn?: Rewrite }) {
  const hostile: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const path = new URL(String(input)).pathname;
    if (rewrite?.fn === undefined || !res.ok) return res;
    const body = (await res.json()) as Record<string, unknown>;
    const changed = rewrite.fn(path, body) ?? body;
    return new Response(JSON.stringify(changed), { status: res.status, headers: { 'content-type': 'application/json' } });
  };
  const client = new AccountClient({ url, fetch: hostile });
  await (how === 'register' ? client.register(name, password) : client.login(name, password));
  const me = await ephemeralIdentity();
  return { client, me, devices: new AccountDevices(client, name, me, new MemoryTrustedLists()) };
}

test('a second device approved with its code; a contact sees it added, then the first removed', async () => {
  const r = await relay();
  try {
    const phone = await device(r.url, 'alice', 'pw alice', 'register');
    await phone.devices.enrolFirst();
    const laptop = await device(r.url, 'alice', 'pw alice', 'login');
    await fails(laptop.devices.enrolFirst(), 'DEVICE_APPROVAL_REQUIRED');
    const bob = await device(r.url, 'bob', 'pw bob', 'register');
    await fails(bob.devices.requestApproval(), 'NO_DEVICE_YET');
    await bob.devices.enrolFirst(); // only a device reads other accounts' lists
    const seen = await bob.devices.deviceList('alice');
    assert.equal(seen.firstSeen, true);
    assert.deepEqual(seen.head.devices, [phone.me.publicKey]);

    const asked = await laptop.devices.requestApproval();
    assert.match(asked.code, /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    const waiting = asked.wait({ intervalMs: 50 });
    await fails(phone.devices.approve('not a code'), 'BAD_CODE');
    await fails(phone.devices.approve('0000-0000-0000'), 'NO_REQUEST_FOR_CODE');
    const typed = ` ${asked.code.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o').replace(/1/g, 'l')} `;
    const approved = await phone.devices.approve(typed);
    assert.deepEqual(approved.identityKey, laptop.me.publicKey);
    const approvedId = approved.device;
    const done = await waiting;
    assert.equal(done.device, approvedId);
    assert.equal(done.list.head.version, 2);
    assert.equal(done.list.head.devices.length, 2);

    const later = await bob.devices.deviceList('alice');
    assert.deepEqual([later.firstSeen, later.added, later.removed], [false, [laptop.me.publicKey], []]);
    const phoneId = (await laptop.devices.devices()).find((d) => d.identityKey.every((b, i) => b === phone.me.publicKey[i]))!.device;
    await laptop.devices.removeDevice(phoneId);
    const after = await bob.devices.deviceList('alice');
    assert.deepEqual([after.head.version, after.added, after.removed], [3, [], [phone.me.publicKey]]);
    // The removed phone's session ended with it; signed in again, it can no longer change the list: it is not in it.
    await fails(phone.devices.approve(asked.code), 'NOT_SIGNED_IN');
    await phone.client.login('alice', 'pw alice');
    await fails(phone.devices.removeDevice(approvedId), 'NOT_A_DEVICE');
    await fails(phone.devices.bind(phoneId), 'NO_SUCH_DEVICE');
    // The laptop signs in again elsewhere: its new session is nobody's until it proves its key.
    const again = new AccountClient({ url: r.url });
    await again.login('alice', 'pw alice');
    assert.equal((await again.whoami())?.device, undefined);
    await fails(again.contacts(), 'DEVICE_NOT_BOUND');
    await fails(new AccountDevices(again, 'alice', phone.me, new MemoryTrustedLists()).bind(approvedId), 'BIND_FAILED', 'SIGNATURE');
    await new AccountDevices(again, 'alice', laptop.me, new MemoryTrustedLists()).bind(approvedId);
    assert.equal((await again.whoami())?.device, approvedId);
    assert.deepEqual((await again.contacts()).contacts, []);
  } finally {
    await r.close();
  }
});

test('a hostile relay: a rewritten or rolled-back list, a KeyPackage of its own, a withheld device', async () => {
  const r = await relay();
  try {
    const alice = await device(r.url, 'alice', 'pw alice', 'register');
    const aliceId = await alice.devices.enrolFirst();
    const kp = new Uint8Array(300).fill(1);
    await alice.devices.uploadKeyPackages(aliceId, [kp], kp);
    const rewrite: { fn?: Rewrite } = {};
    const bob = await device(r.url, 'bob', 'pw bob', 'register', rewrite);
    await bob.devices.enrolFirst();
    const first = await bob.devices.claimKeyPackages('alice');
    assert.deepEqual(
      first.devices.map((d) => d.device),
      [aliceId],
    );
    assert.deepEqual(first.missing, []);

    // The relay's own key, with a first entry it signed for "alice": another history than the one bob knows.
    const relayKey: IdentitySigner = await ephemeralIdentity();
    const fake = await signDeviceList(relayKey, {
      version: 1,
      createdAt: 1,
      prev: new Uint8Array(32),
      name: 'alice',
      devices: [relayKey.publicKey],
    });
    const fake2 = await signDeviceList(relayKey, {
      version: 2,
      createdAt: 2,
      prev: new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(fake))),
      name: 'alice',
      devices: [relayKey.publicKey],
    });
    rewrite.fn = (path) => (path === '/api/devices/list' ? { name: 'alice', version: 2, entries: [toBase64Url(fake2)] } : undefined);
    await fails(bob.devices.deviceList('alice'), 'DEVICE_LIST_FORKED');
    rewrite.fn = (path) => (path === '/api/devices/list' ? { name: 'alice', version: 0, entries: [] } : undefined);
    await fails(bob.devices.deviceList('alice'), 'DEVICE_LIST_FORKED', 'ROLLBACK');
    rewrite.fn = (path) => (path === '/api/devices/list' ? { name: 'alice', version: 3, entries: [] } : undefined);
    await fails(bob.devices.deviceList('alice'), 'DEVICE_LIST_INVALID', 'INCOMPLETE');
    // A KeyPackage handed out for a device that is not in alice's signed list.
    rewrite.fn = (path, body) =>
      path === '/api/key-packages/claim'
        ? {
            ...body,
            devices: [
              ...(body.devices as object[]),
              { device: 'x'.repeat(22), identityKey: toBase64Url(relayKey.publicKey), createdAt: 1, keyPackage: 'AAAA', lastResort: true },
            ],
          }
        : undefined;
    await fails(bob.devices.claimKeyPackages('alice'), 'UNLISTED_DEVICE');
    // The relay withholds alice's only device: reported as missing, not hidden.
    rewrite.fn = (path, body) => (path === '/api/key-packages/claim' ? { ...body, devices: [] } : undefined);
    const withheld = await bob.devices.claimKeyPackages('alice');
    assert.deepEqual([withheld.devices, withheld.missing], [[], [alice.me.publicKey]]);
    // Only bob's decision (after comparing safety numbers) trusts a new history.
    rewrite.fn = undefined;
    assert.equal((await bob.devices.deviceList('alice')).head.version, 1, 'the honest list still continues what bob knows');
    await bob.devices.forget('alice');
    assert.equal((await bob.devices.deviceList('alice')).firstSeen, true);
  } finally {
    await r.close();
  }
});

test('a hostile relay during approval: its own key in the request list, a swapped confirmation', async () => {
  const r = await relay();
  try {
    const phoneHook: { fn?: Rewrite } = {};
    const phone = await device(r.url, 'alice', 'pw alice', 'register', phoneHook);
    await phone.devices.enrolFirst();
    const laptopHook: { fn?: Rewrite } = {};
    const laptop = await device(r.url, 'alice', 'pw alice', 'login', laptopHook);
    const asked = await laptop.devices.requestApproval();
    // The relay puts its own key in place of the laptop's: its tag cannot fit the code, so the phone finds nothing to approve.
    const relayKey = await ephemeralIdentity();
    phoneHook.fn = (path, body) =>
      path === '/api/devices/requests'
        ? { requests: (body.requests as Record<string, unknown>[]).map((q) => ({ ...q, identityKey: toBase64Url(relayKey.publicKey) })) }
        : undefined;
    await fails(phone.devices.approve(asked.code), 'NO_REQUEST_FOR_CODE');
    phoneHook.fn = undefined;
    // The relay answers the laptop with a confirmation that is not the phone's: the laptop does not trust the list.
    laptopHook.fn = (path, body) =>
      path === '/api/devices/request/status' && body.state === 'approved'
        ? { ...body, confirm: toBase64Url(new Uint8Array(32).fill(9)) }
        : undefined;
    const waiting = asked.wait({ intervalMs: 50 });
    await phone.devices.approve(asked.code);
    await fails(waiting, 'APPROVAL_NOT_CONFIRMED');
  } finally {
    await r.close();
  }
});
