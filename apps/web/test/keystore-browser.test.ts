/**
 * The key-store contract (packages/client/test/keyStoreContract.ts) run on IndexedDbKeyStore in
 * Chromium: the same cases as MemoryKeyStore and FileKeyStore in Node, bundled by Vite with the
 * store as the SDK exports it (its public entry) and run in a page of a loopback origin (a secure
 * context, with its own IndexedDB); then what only the browser store promises (adopting an earlier per-room identity, damaged records).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { launch, skip } from './_browser.js';
import { bundle, under } from './_bundle.js';

const ENTRY = `
import { IndexedDbKeyStore } from ${under('packages/client/dist/src/index.js')};
import { keyStoreContract } from ${under('packages/client/dist/test/keyStoreContract.js')};
import { seal } from ${under('packages/crypto/dist/src/sealed.js')};

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
/** Every record of the database as text (keys are CryptoKeys: only their type shows). */
async function dump(name) {
  const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const store = db.transaction('kv', 'readonly').objectStore('kv');
  const [keys, values] = await Promise.all([store.getAllKeys(), store.getAll()].map((r) => new Promise((res) => (r.onsuccess = () => res(r.result)))));
  db.close();
  const show = (v) => v instanceof Uint8Array ? hex(v) : v instanceof CryptoKey ? '[CryptoKey]' : v !== null && typeof v === 'object' ? Object.entries(v).map(([k, x]) => k + '=' + show(x)).join(',') : String(v);
  return keys.map((k, i) => String(k) + ' ' + show(values[i])).join('\\n');
}

/** Overwrites every known-keys record with random bytes (as a bit flip or a bad restore would leave it). */
async function damage(name) {
  const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const keys = await new Promise((res) => { const r = db.transaction('kv', 'readonly').objectStore('kv').getAllKeys(); r.onsuccess = () => res(r.result); });
  const tx = db.transaction('kv', 'readwrite');
  for (const k of keys) if (String(k).startsWith('keys:')) tx.objectStore('kv').put(crypto.getRandomValues(new Uint8Array(80)), k);
  await new Promise((res, rej) => { tx.oncomplete = res; tx.onerror = () => rej(tx.error); });
  db.close();
}

async function db(name) {
  return new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
}
async function get(name, key) {
  const d = await db(name);
  const v = await new Promise((res) => { const r = d.transaction('kv', 'readonly').objectStore('kv').get(key); r.onsuccess = () => res(r.result); });
  d.close();
  return v;
}
async function put(name, key, value) {
  const d = await db(name);
  const tx = d.transaction('kv', 'readwrite');
  tx.objectStore('kv').put(value, key);
  await new Promise((res, rej) => { tx.oncomplete = res; tx.onerror = () => rej(tx.error); });
  d.close();
}
/** The record name of a room, computed as the store does, with the page's own (non-extractable but usable) device key. */
async function roomRecord(name, room) {
  const device = await get(name, 'device');
  return hex(new Uint8Array(await crypto.subtle.sign('HMAC', device.index, room)));
}
function check(cond, what) { if (!cond) throw new Error(what); }
async function rejectsCorrupt(p, what) {
  const e = await p.then(() => undefined, (e) => e);
  check(e && e.code === 'KEY_STORE_CORRUPT', what + ': expected KEY_STORE_CORRUPT, got ' + String(e && (e.code || e)));
}

/** What only the browser store promises, beyond the contract. */
const browserCases = [
  {
    name: 'browser: a per-room identity from an earlier version is adopted by the first nickname that asks, and moved (not copied)',
    async run(name) {
      const store = await IndexedDbKeyStore.open(name);
      const room = crypto.getRandomValues(new Uint8Array(32));
      const r = await roomRecord(name, room);
      const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
      const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
      await put(name, 'id:' + r, { privateKey: pair.privateKey, publicKey });
      const alice = await store.identity(room, 'alice');
      check(hex(alice.publicKey) === hex(publicKey), 'alice keeps the identity the others already know');
      check((await get(name, 'id:' + r)) === undefined, 'the old record is gone');
      const bob = await store.identity(room, 'bob');
      check(hex(bob.publicKey) !== hex(publicKey), 'a second nickname gets its own identity');
      const again = await (await IndexedDbKeyStore.open(name)).identity(room, 'alice');
      check(hex(again.publicKey) === hex(publicKey), 'and keeps it after a reload');
    },
  },
  {
    name: 'browser: known keys that open but break the format are KEY_STORE_CORRUPT, and are left as they were',
    async run(name) {
      const store = await IndexedDbKeyStore.open(name);
      const device = await get(name, 'device');
      const room = crypto.getRandomValues(new Uint8Array(32));
      const record = 'keys:' + (await roomRecord(name, room));
      const good = hex(crypto.getRandomValues(new Uint8Array(32)));
      const bad = [
        'not json',
        '{"bob":1}',
        JSON.stringify([['bob', good]]),
        JSON.stringify([['bob', good, 'yes']]),
        JSON.stringify([['', good, true]]),
        JSON.stringify([['bob', 'XYZ', true]]),
        JSON.stringify([['bob', good, true], ['bob', good, false]]),
        JSON.stringify([['x'.repeat(257), good, true]]),
      ];
      for (const [i, text] of bad.entries()) {
        const sealed = await seal(device.wrap, new TextEncoder().encode(text), new TextEncoder().encode('nullroom/v1/known-keys'));
        await put(name, record, sealed);
        await rejectsCorrupt(store.known(room, 'bob'), 'case ' + i + ' known');
        await rejectsCorrupt(store.remember(room, 'carol', { identityKey: new Uint8Array(32), verified: false }), 'case ' + i + ' remember');
        check(hex(await get(name, record)) === hex(sealed), 'case ' + i + ': left as it was');
      }
      await put(name, record, 'a string, not bytes');
      await rejectsCorrupt(store.known(room, 'bob'), 'a record that is not bytes');
    },
  },
  {
    name: 'browser: a damaged identity or device record is KEY_STORE_CORRUPT, never replaced by a new key',
    async run(name) {
      let store = await IndexedDbKeyStore.open(name);
      const room = crypto.getRandomValues(new Uint8Array(32));
      await store.identity(room, 'alice');
      const d = await db(name);
      const keys = await new Promise((res) => { const r = d.transaction('kv', 'readonly').objectStore('kv').getAllKeys(); r.onsuccess = () => res(r.result); });
      d.close();
      const id = keys.find((k) => String(k).startsWith('id:'));
      for (const v of [{ privateKey: 'x', publicKey: new Uint8Array(32) }, { publicKey: new Uint8Array(32) }, 'junk']) {
        await put(name, id, v);
        await rejectsCorrupt(store.identity(room, 'alice'), 'identity');
        check(JSON.stringify(await get(name, id)) === JSON.stringify(v), 'the identity record is left as it was');
      }
      await put(name, 'device', { index: 'x', wrap: 'y' });
      await rejectsCorrupt(IndexedDbKeyStore.open(name), 'open with damaged device keys');
      check((await get(name, 'device')).index === 'x', 'the device record is left as it was');
    },
  },
];

export async function runAll() {
  const results = [];
  for (const [i, c] of keyStoreContract.entries()) {
    const name = 'contract-' + i;
    try {
      await c.run({ open: () => IndexedDbKeyStore.open(name), persistent: true, dump: () => dump(name), damage: () => damage(name) });
      results.push({ name: c.name, ok: true });
    } catch (e) {
      results.push({ name: c.name, ok: false, error: String((e && e.stack) || e) });
    }
  }
  for (const [i, c] of browserCases.entries()) {
    try {
      await c.run('browser-' + i);
      results.push({ name: c.name, ok: true });
    } catch (e) {
      results.push({ name: c.name, ok: false, error: String((e && e.stack) || e) });
    }
  }
  return results;
}
`;

test('IndexedDbKeyStore keeps the key-store contract in Chromium', { skip }, async (t) => {
  const code = await bundle(ENTRY);
  const server = createServer((req, res) => {
    if (req.url === '/contract.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>contract</title>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
    const results = (await page.evaluate(async () => {
      const m = (await import('/contract.js' as string)) as { runAll(): Promise<unknown> };
      return m.runAll();
    })) as { name: string; ok: boolean; error?: string }[];
    assert.ok(results.length >= 16, 'every case ran');
    for (const r of results) {
      await t.test(r.name, () => {
        if (!r.ok) assert.fail(r.error);
      });
    }
  } finally {
    await browser.close();
    server.close();
  }
});
