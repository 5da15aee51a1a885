/**
 * Devices, their signed list and the KeyPackage directory (src/accounts/devicesHttp.ts,
 * deviceApproval.ts, deviceListCheck.ts; docs/PROTOCOL.md §11.6, §11.8) on a real relay with real
 * Ed25519 signatures: an account's first device signs its own entry, a second is approved by it;
 * every forged, mis-signed, mis-named or wrong entry is refused with the problem named; an
 * identity key belongs to one device; KeyPackages are handed out one per device per claim, a
 * one-time one never twice, the last-resort one kept; sizes, counts and claims are bounded; a
 * removed device and a deleted account take their KeyPackages with them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Body, b64u, bearer, firstDevice, login, prove, register, relayWithAccounts, testDevice, withDevice } from './_accounts.js';

const kp = (n: number, size = 300) => Buffer.alloc(size, n).toString('base64url');

test('devices: the first signs its own list entry; a second needs approval; a key is one device’s; entries are checked', async () => {
  const api = await relayWithAccounts();
  try {
    const alice = bearer((await register(api, 'alice', 'pw a')).body.token);
    const bob = bearer((await register(api, 'bob', 'pw b')).body.token);
    const a1 = testDevice();
    const forged = testDevice();
    const add = (auth: Record<string, string>, identityKey: string, list: Uint8Array) =>
      api.post('/api/devices/add', { identityKey, list: b64u(list) }, auth);
    const refused = async (p: Promise<{ status: number; body: Body }>, status: number, error: string, problem?: string) => {
      const r = await p;
      assert.deepEqual([r.status, r.body.error, r.body.problem], [status, error, problem], JSON.stringify(r.body));
    };
    // A first entry signed by another key, naming another account, naming two devices, or for another key: refused.
    await refused(add(alice, a1.b64, forged.entry('alice', undefined, [a1.key])), 400, 'DEVICE_LIST_INVALID', 'BAD_GENESIS');
    await refused(add(alice, a1.b64, a1.entry('bob', undefined, [a1.key])), 400, 'DEVICE_LIST_INVALID', 'WRONG_NAME');
    await refused(add(alice, a1.b64, a1.entry('alice', undefined, [a1.key, forged.key])), 400, 'DEVICE_LIST_INVALID', 'BAD_GENESIS');
    await refused(add(alice, forged.b64, a1.entry('alice', undefined, [a1.key])), 400, 'DEVICE_LIST_INVALID', 'WRONG_CHANGE');
    const tampered = a1.entry('alice', undefined, [a1.key]);
    tampered[tampered.length - 1]! ^= 1;
    await refused(add(alice, a1.b64, tampered), 400, 'DEVICE_LIST_INVALID', 'BAD_SIGNATURE');
    await refused(add(alice, a1.b64, new Uint8Array(40)), 400, 'DEVICE_LIST_INVALID', 'MALFORMED');
    assert.deepEqual((await api.post('/api/devices/list', { after: 0 }, alice)).body, {
      name: 'alice',
      version: 0,
      entries: [],
      devices: [],
    });

    const first = await firstDevice(api, 'alice', alice, a1);
    assert.match(first.device, /^[A-Za-z0-9_-]{22}$/);
    const a2 = testDevice();
    await refused(add(alice, a2.b64, a1.entry('alice', first.head, [a1.key, a2.key])), 403, 'DEVICE_APPROVAL_REQUIRED');
    const b1 = a1.entry('bob', undefined, [a1.key]);
    await refused(api.post('/api/devices/add', { identityKey: a1.b64, list: b64u(b1) }, bob), 409, 'DEVICE_EXISTS');
    const stolen = testDevice().entry('bob', undefined, [a1.key]);
    await refused(
      api.post('/api/devices/add', { identityKey: a1.b64, list: b64u(stolen) }, bob),
      400,
      'DEVICE_LIST_INVALID',
      'BAD_GENESIS',
    );
    for (const bad of [Buffer.alloc(31).toString('base64url'), `${a2.b64.slice(0, -1)}!`, 'B'.repeat(43)]) {
      const r = await api.post('/api/devices/add', { identityKey: bad, list: b64u(a2.entry('bob', undefined, [a2.key])) }, bob);
      assert.equal(r.status, 400, bad);
    }
    // A session without a device reads only its own account's list; a device reads anyone's (what it checks
    // their devices against), handed out as signed.
    assert.equal((await api.post('/api/devices/list', { name: 'alice', after: 0 }, bob)).body.error, 'DEVICE_NOT_BOUND');
    assert.equal((await api.post('/api/devices/list', { name: 'bob', after: 0 }, bob)).body.version, 0);
    await firstDevice(api, 'bob', bob);
    const listed = await api.post('/api/devices/list', { name: 'ALICE', after: 0 }, bob);
    // With the relay's id of each listed device (a member needs it to remove a living device's leaf, PROTOCOL §11.15).
    assert.deepEqual(
      { ...listed.body, devices: undefined },
      { name: 'alice', version: 1, entries: [b64u(first.head.entry)], devices: undefined },
    );
    assert.deepEqual(listed.body.devices, [{ device: first.device, identityKey: first.d.b64 }]);
    assert.deepEqual((await api.post('/api/devices/list', { name: 'alice', after: 1 }, bob)).body.entries, []);
    assert.equal((await api.post('/api/devices/list', { name: 'nobody', after: 0 }, bob)).body.error, 'NO_SUCH_USER');
    assert.equal((await api.get('/api/devices')).body.error, 'NOT_SIGNED_IN');
    const notBobs = await api.post(
      '/api/devices/remove',
      { device: first.device, list: b64u(a1.entry('alice', first.head, [a2.key])) },
      bob,
    );
    assert.deepEqual([notBobs.status, notBobs.body.error], [404, 'NO_SUCH_DEVICE']);
    // The last device cannot be removed: a list names at least one device.
    assert.equal((await api.post('/api/devices/remove', { device: first.device, list: b64u(new Uint8Array(60)) }, alice)).status, 400);
  } finally {
    await api.relay.close();
  }
});

test('approval: a request, listed for the account’s devices, approved with the entry that adds exactly its key; status only to its asker', async () => {
  const api = await relayWithAccounts();
  try {
    const phone = bearer((await register(api, 'alice', 'pw a')).body.token);
    const { head, d: a1 } = await firstDevice(api, 'alice', phone);
    const laptop = bearer((await login(api, 'alice', 'pw a')).body.token);
    const other = bearer((await login(api, 'alice', 'pw a')).body.token);
    const a2 = testDevice();
    const tag = Buffer.alloc(32, 7).toString('base64url');
    const asked = await api.post('/api/devices/request', { identityKey: a2.b64, tag }, laptop);
    assert.equal(asked.status, 201);
    const request = asked.body.request as string;
    const pending = (await api.get('/api/devices/requests', phone)).body.requests;
    assert.deepEqual(
      pending.map((q: Body) => [q.request, q.identityKey, q.tag]),
      [[request, a2.b64, tag]],
    );
    const status = (auth: Record<string, string>) => api.post('/api/devices/request/status', { request }, auth);
    assert.equal((await status(laptop)).body.state, 'pending');
    assert.equal((await status(other)).body.error, 'NO_SUCH_DEVICE_REQUEST', 'another session of the account cannot read it');
    // The entry must add exactly the requested key, signed by a device of the list.
    const intruder = testDevice();
    const approve = (list: Uint8Array) => api.post('/api/devices/approve', { request, list: b64u(list), confirm: tag }, phone);
    assert.equal((await approve(a1.entry('alice', head, [a1.key, intruder.key]))).body.problem, 'WRONG_CHANGE');
    assert.equal((await approve(a1.entry('alice', head, [a1.key, a2.key, intruder.key]))).body.problem, 'WRONG_CHANGE');
    assert.equal((await approve(intruder.entry('alice', head, [a1.key, a2.key]))).body.problem, 'SIGNER_NOT_DEVICE');
    assert.equal((await approve(a1.entry('alice', undefined, [a2.key]))).body.error, 'DEVICE_LIST_STALE');
    const entry2 = a1.entry('alice', head, [a1.key, a2.key]);
    const ok = await approve(entry2);
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal((await approve(entry2)).body.error, 'NO_SUCH_DEVICE_REQUEST', 'answered once');
    assert.deepEqual((await status(laptop)).body, { state: 'approved', device: ok.body.device, confirm: tag });
    assert.deepEqual((await api.get('/api/devices/requests', phone)).body.requests, []);
    // The new device removes the old one with an entry it signs.
    const old = (await api.get('/api/devices', phone)).body.devices[0].device;
    const v2 = { version: 2, entry: entry2 };
    const removed = await api.post('/api/devices/remove', { device: old, list: b64u(a2.entry('alice', v2, [a2.key])) }, laptop);
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.equal((await api.get('/api/session', phone)).body.error, 'NOT_SIGNED_IN', 'the removed device’s session ended with it');
    assert.equal((await api.post('/api/devices/list', { after: 0 }, laptop)).body.entries.length, 3);
    // A declined request reads as declined; an account without a device has nothing to approve with.
    const a3 = testDevice();
    const again = (await api.post('/api/devices/request', { identityKey: a3.b64, tag }, other)).body.request;
    assert.equal((await api.post('/api/devices/decline', { request: again }, laptop)).status, 200);
    assert.equal((await api.post('/api/devices/request/status', { request: again }, other)).body.state, 'declined');
    const bob = bearer((await register(api, 'bob', 'pw b')).body.token);
    assert.equal((await api.post('/api/devices/request', { identityKey: a3.b64, tag }, bob)).body.error, 'NO_DEVICE_YET');
    assert.equal((await api.post('/api/devices/request/status', { request: again }, bob)).body.error, 'NO_SUCH_DEVICE_REQUEST');
  } finally {
    await api.relay.close();
  }
});

test('approval requests are bounded: three per account, the oldest replaced', async () => {
  const api = await relayWithAccounts();
  try {
    const phone = bearer((await register(api, 'alice', 'pw a')).body.token);
    await firstDevice(api, 'alice', phone);
    const tag = Buffer.alloc(32, 1).toString('base64url');
    const asked = await api.post('/api/devices/request', { identityKey: testDevice().b64, tag }, phone);
    assert.deepEqual([asked.status, asked.body.error], [409, 'SESSION_BOUND'], 'a device’s session does not ask for another');
    const laptop = bearer((await login(api, 'alice', 'pw a')).body.token);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await api.post('/api/devices/request', { identityKey: testDevice().b64, tag }, laptop)).body.request);
    assert.deepEqual(
      (await api.get('/api/devices/requests', phone)).body.requests.map((q: Body) => q.request),
      ids.slice(2),
    );
  } finally {
    await api.relay.close();
  }
});

test('KeyPackages: one per device per claim, one-time ones once, the last-resort one kept; bounded', async () => {
  const api = await relayWithAccounts({ deviceLimits: { maxKeyPackages: 3, maxKeyPackageBytes: 1000 } });
  try {
    const { auth: alice, device, d } = await withDevice(api, 'alice', 'pw a');
    const bob = (await withDevice(api, 'bob', 'pw b')).auth;
    const up = await api.post('/api/key-packages', { device, oneTime: [kp(1), kp(2), kp(3), kp(4)], lastResort: kp(9) }, alice);
    assert.deepEqual([up.status, up.body.oneTime], [200, 3], 'the fourth is over the cap: not stored');
    const notBobs = await api.post('/api/key-packages', { device, oneTime: [kp(5)] }, bob);
    assert.equal(notBobs.body.error, 'DEVICE_NOT_BOUND', 'a session uploads for its own device only');
    const tooBig = await api.post('/api/key-packages', { device, oneTime: [kp(6, 1001)] }, alice);
    assert.equal(tooBig.body.error, 'BAD_REQUEST');
    const claim = async () => {
      const r = await api.post('/api/key-packages/claim', { name: 'ALICE' }, bob);
      assert.equal(r.status, 200);
      assert.equal(r.body.name, 'alice');
      return r.body.devices.map((c: { device: string; identityKey: string; keyPackage: string; lastResort: boolean }) => {
        assert.equal(c.device, device);
        assert.equal(c.identityKey, d.b64);
        return [Buffer.from(c.keyPackage, 'base64url')[0], c.lastResort];
      });
    };
    assert.deepEqual(await claim(), [[1, false]]);
    assert.deepEqual(await claim(), [[2, false]]);
    assert.deepEqual(await claim(), [[3, false]]);
    assert.deepEqual(await claim(), [[9, true]]);
    assert.deepEqual(await claim(), [[9, true]]);
    const nobody = await api.post('/api/key-packages/claim', { name: 'nobody' }, bob);
    assert.deepEqual([nobody.status, nobody.body.error], [404, 'NO_SUCH_USER']);
    assert.equal((await api.post('/api/key-packages/claim', { name: 'alice' })).body.error, 'NOT_SIGNED_IN');
    // The account deleted: its devices and KeyPackages go with it.
    const proof = await prove(api, 'alice', 'pw a');
    await api.post('/api/account/delete', { login: proof.login, finish: proof.finish }, alice);
    assert.equal((await api.post('/api/key-packages/claim', { name: 'alice' }, bob)).body.error, 'NO_SUCH_USER');
  } finally {
    await api.relay.close();
  }
});

test('claims are rate-limited per claiming account', async () => {
  const api = await relayWithAccounts({ limits: { claimBurst: 3, claimIntervalMs: 60_000 } });
  try {
    await register(api, 'carol', 'pw c');
    const dave = (await withDevice(api, 'dave', 'pw d')).auth;
    const erin = (await withDevice(api, 'erin', 'pw e')).auth;
    for (let i = 0; i < 3; i++) assert.equal((await api.post('/api/key-packages/claim', { name: 'carol' }, dave)).status, 200);
    const limited = await api.post('/api/key-packages/claim', { name: 'carol' }, dave);
    assert.deepEqual([limited.status, limited.body.error, limited.headers.get('retry-after')], [429, 'RATE_LIMITED', '60']);
    assert.equal((await api.post('/api/key-packages/claim', { name: 'carol' }, erin)).status, 200, 'another account has its own bucket');
  } finally {
    await api.relay.close();
  }
});
