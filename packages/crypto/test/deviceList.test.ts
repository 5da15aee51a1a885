/**
 * Device lists and approval codes (src/deviceList.ts, @nullroom/protocol's deviceList.ts): the
 * codec accepts only canonical entries (keys ascending and unique, nothing trailing, bounded), a
 * chain is extended only by entries signed by a device of the entry before, and the approval
 * tags bind the code, the account name, the key and the entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeDeviceListEntry,
  DeviceListError,
  type DeviceListProblem,
  encodeDeviceListBody,
  extendDeviceList,
  MAX_DEVICE_LIST_ENTRY_BYTES,
  ProtocolError,
} from '@nullroom/protocol';
import {
  approvalTags,
  deviceListCrypto,
  deviceListHash,
  ephemeralIdentity,
  newApprovalCode,
  normalizeApprovalCode,
  signDeviceList,
} from '../src/index.js';

const ZERO = new Uint8Array(32);

test('the codec: canonical entries only', async () => {
  const a = await ephemeralIdentity();
  const entry = await signDeviceList(a, { version: 1, createdAt: 5, prev: ZERO, name: '张伟', devices: [a.publicKey] });
  const e = decodeDeviceListEntry(entry);
  assert.deepEqual([e.version, e.createdAt, e.name, e.devices.length], [1, 5, '张伟', 1]);
  assert.throws(() => decodeDeviceListEntry(new Uint8Array([...entry, 0])), ProtocolError, 'trailing bytes');
  assert.throws(() => decodeDeviceListEntry(entry.subarray(0, entry.length - 1)), ProtocolError, 'truncated');
  assert.throws(() => decodeDeviceListEntry(new Uint8Array(MAX_DEVICE_LIST_ENTRY_BYTES + 1)), ProtocolError, 'too large');
  // Two keys out of order, or twice: not canonical.
  const body = encodeDeviceListBody({
    version: 2,
    createdAt: 1,
    prev: ZERO,
    name: 'a',
    devices: [new Uint8Array(32).fill(2), new Uint8Array(32).fill(1)],
    signer: ZERO,
  });
  const keysAt = body.length - 32 - 64;
  const swapped = new Uint8Array([...body, ...new Uint8Array(64)]);
  swapped.set(new Uint8Array(32).fill(2), keysAt);
  swapped.set(new Uint8Array(32).fill(1), keysAt + 32);
  assert.throws(() => decodeDeviceListEntry(swapped), /not ascending/);
  swapped.set(new Uint8Array(32).fill(2), keysAt);
  assert.throws(() => decodeDeviceListEntry(swapped), /not ascending/);
  assert.throws(
    () => encodeDeviceListBody({ version: 1, createdAt: 1, prev: ZERO, name: '', devices: [ZERO], signer: ZERO }),
    ProtocolError,
  );
});

test('the chain: each entry signed by a device of the one before, continuing its hash', async () => {
  const [a, b, c] = await Promise.all([ephemeralIdentity(), ephemeralIdentity(), ephemeralIdentity()]);
  const e1 = await signDeviceList(a, { version: 1, createdAt: 1, prev: ZERO, name: 'alice', devices: [a.publicKey] });
  const e2 = await signDeviceList(a, {
    version: 2,
    createdAt: 2,
    prev: deviceListHash(e1),
    name: 'alice',
    devices: [a.publicKey, b.publicKey],
  });
  const e3 = await signDeviceList(b, { version: 3, createdAt: 3, prev: deviceListHash(e2), name: 'alice', devices: [b.publicKey] });
  const head = await extendDeviceList('alice', undefined, [e1, e2, e3], deviceListCrypto);
  assert.deepEqual([head.version, head.devices], [3, [b.publicKey]]);
  const h1 = await extendDeviceList('alice', undefined, [e1], deviceListCrypto);
  assert.deepEqual(await extendDeviceList('alice', h1, [e2, e3], deviceListCrypto), head);

  const problem = async (p: Promise<unknown>, want: DeviceListProblem) =>
    assert.rejects(p, (e: unknown) => e instanceof DeviceListError && e.problem === want, want);
  // Signed by a key that was never a device (c), or by one removed before (a after e3).
  const byC = await signDeviceList(c, {
    version: 2,
    createdAt: 2,
    prev: deviceListHash(e1),
    name: 'alice',
    devices: [a.publicKey, c.publicKey],
  });
  await problem(extendDeviceList('alice', h1, [byC], deviceListCrypto), 'SIGNER_NOT_DEVICE');
  const byA = await signDeviceList(a, { version: 4, createdAt: 4, prev: deviceListHash(e3), name: 'alice', devices: [a.publicKey] });
  await problem(extendDeviceList('alice', head, [byA], deviceListCrypto), 'SIGNER_NOT_DEVICE');
  // Another history: a second version 2 does not continue one that passed it; a skipped version; a replayed one.
  const other = await signDeviceList(a, {
    version: 2,
    createdAt: 9,
    prev: deviceListHash(e1),
    name: 'alice',
    devices: [a.publicKey, c.publicKey],
  });
  await problem(
    extendDeviceList('alice', await extendDeviceList('alice', h1, [e2], deviceListCrypto), [other], deviceListCrypto),
    'NOT_NEXT',
  );
  await problem(extendDeviceList('alice', h1, [e3], deviceListCrypto), 'NOT_NEXT');
  await problem(extendDeviceList('alice', head, [e3], deviceListCrypto), 'NOT_NEXT');
  await problem(extendDeviceList('bob', undefined, [e1], deviceListCrypto), 'WRONG_NAME');
  await problem(extendDeviceList('alice', undefined, [e2], deviceListCrypto), 'NOT_NEXT');
  const flipped = new Uint8Array(e2);
  flipped[12]! ^= 1; // created_at (bytes 9 to 16)
  await problem(extendDeviceList('alice', h1, [flipped], deviceListCrypto), 'BAD_SIGNATURE');
});

test('approval codes: 60 random bits, typed loosely, tags bound to code, name, key and entry', async () => {
  const codes = new Set(Array.from({ length: 200 }, () => newApprovalCode()));
  assert.equal(codes.size, 200);
  for (const c of codes) assert.match(c, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){2}$/);
  assert.equal(normalizeApprovalCode(' 0ab1-cdef-ghjk '), '0AB1CDEFGHJK');
  assert.equal(normalizeApprovalCode('oabl cdef ghjk'), '0AB1CDEFGHJK', 'O is 0, L is 1');
  assert.equal(normalizeApprovalCode('0AB1-CDEF-GHJU'), undefined, 'U is not in the alphabet');
  assert.equal(normalizeApprovalCode('0AB1-CDEF-GHJ'), undefined);
  const key = new Uint8Array(32).fill(3);
  const t = approvalTags('0AB1-CDEF-GHJK', 'alice');
  assert.ok(approvalTags('oabl cdef ghjk', 'alice').checkRequest(key, t.request(key)), 'the same code typed loosely');
  assert.ok(!approvalTags('0AB1-CDEF-GHJM', 'alice').checkRequest(key, t.request(key)), 'another code');
  assert.ok(!approvalTags('0AB1-CDEF-GHJK', 'bob').checkRequest(key, t.request(key)), 'another account');
  assert.ok(!t.checkRequest(new Uint8Array(32).fill(4), t.request(key)), 'another key');
  const entry = new Uint8Array([1, 2, 3]);
  assert.ok(t.checkConfirm(entry, t.confirm(entry)));
  assert.ok(!t.checkConfirm(new Uint8Array([1, 2, 4]), t.confirm(entry)), 'another entry');
  assert.ok(!t.checkConfirm(entry, t.request(entry)), 'a request tag is not a confirmation');
  assert.throws(() => approvalTags('nope', 'alice'));
});
