/**
 * Devices and the KeyPackage directory (src/accounts/devicesHttp.ts, docs/PROTOCOL.md §11.6) on a
 * real relay: an account's first device is added, a second is refused until approval exists; an
 * identity key belongs to one device; KeyPackages are handed out one per device per claim, a
 * one-time one never twice, the last-resort one kept; sizes, counts and claims are bounded; a
 * removed device and a deleted account take their KeyPackages with them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, prove, register, relayWithAccounts } from './_accounts.js';

const key = (n: number) => Buffer.alloc(32, n).toString('base64url');
const kp = (n: number, size = 300) => Buffer.alloc(size, n).toString('base64url');

test('devices: the first is added, a second waits for approval, a key is one device’s', async () => {
  const api = await relayWithAccounts();
  try {
    const alice = bearer((await register(api, 'alice', 'pw a')).body.token);
    const bob = bearer((await register(api, 'bob', 'pw b')).body.token);
    const added = await api.post('/api/devices/add', { identityKey: key(1) }, alice);
    assert.equal(added.status, 201);
    assert.match(added.body.device, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(added.body.identityKey, key(1));
    const second = await api.post('/api/devices/add', { identityKey: key(2) }, alice);
    assert.deepEqual([second.status, second.body.error], [403, 'DEVICE_APPROVAL_REQUIRED']);
    const stolen = await api.post('/api/devices/add', { identityKey: key(1) }, bob);
    assert.deepEqual([stolen.status, stolen.body.error], [409, 'DEVICE_EXISTS']);
    for (const bad of [Buffer.alloc(31).toString('base64url'), `${key(3).slice(0, -1)}!`, 'B'.repeat(43)]) {
      const r = await api.post('/api/devices/add', { identityKey: bad }, bob);
      assert.equal(r.status, 400, bad);
    }
    assert.deepEqual(
      (await api.get('/api/devices', alice)).body.devices.map((d: { device: string }) => d.device),
      [added.body.device],
    );
    assert.equal((await api.get('/api/devices')).body.error, 'NOT_SIGNED_IN');
    const notBobs = await api.post('/api/devices/remove', { device: added.body.device }, bob);
    assert.deepEqual([notBobs.status, notBobs.body.error], [404, 'NO_SUCH_DEVICE']);
    assert.equal((await api.post('/api/devices/remove', { device: added.body.device }, alice)).status, 200);
    assert.deepEqual((await api.get('/api/devices', alice)).body.devices, []);
    assert.equal(
      (await api.post('/api/devices/add', { identityKey: key(2) }, alice)).status,
      201,
      'with none left, a device is added again',
    );
  } finally {
    await api.relay.close();
  }
});

test('KeyPackages: one per device per claim, one-time ones once, the last-resort one kept; bounded', async () => {
  const api = await relayWithAccounts({ deviceLimits: { maxKeyPackages: 3, maxKeyPackageBytes: 1000 } });
  try {
    const alice = bearer((await register(api, 'alice', 'pw a')).body.token);
    const bob = bearer((await register(api, 'bob', 'pw b')).body.token);
    const device = (await api.post('/api/devices/add', { identityKey: key(1) }, alice)).body.device as string;
    const up = await api.post('/api/key-packages', { device, oneTime: [kp(1), kp(2), kp(3), kp(4)], lastResort: kp(9) }, alice);
    assert.deepEqual([up.status, up.body.oneTime], [200, 3], 'the fourth is over the cap: not stored');
    const notBobs = await api.post('/api/key-packages', { device, oneTime: [kp(5)] }, bob);
    assert.equal(notBobs.body.error, 'NO_SUCH_DEVICE');
    const tooBig = await api.post('/api/key-packages', { device, oneTime: [kp(6, 1001)] }, alice);
    assert.equal(tooBig.body.error, 'BAD_REQUEST');
    const claim = async () => {
      const r = await api.post('/api/key-packages/claim', { name: 'ALICE' }, bob);
      assert.equal(r.status, 200);
      assert.equal(r.body.name, 'alice');
      return r.body.devices.map((d: { device: string; identityKey: string; keyPackage: string; lastResort: boolean }) => {
        assert.equal(d.device, device);
        assert.equal(d.identityKey, key(1));
        return [Buffer.from(d.keyPackage, 'base64url')[0], d.lastResort];
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
    const dave = bearer((await register(api, 'dave', 'pw d')).body.token);
    const erin = bearer((await register(api, 'erin', 'pw e')).body.token);
    for (let i = 0; i < 3; i++) assert.equal((await api.post('/api/key-packages/claim', { name: 'carol' }, dave)).status, 200);
    const limited = await api.post('/api/key-packages/claim', { name: 'carol' }, dave);
    assert.deepEqual([limited.status, limited.body.error, limited.headers.get('retry-after')], [429, 'RATE_LIMITED', '60']);
    assert.equal((await api.post('/api/key-packages/claim', { name: 'carol' }, erin)).status, 200, 'another account has its own bucket');
  } finally {
    await api.relay.close();
  }
});
