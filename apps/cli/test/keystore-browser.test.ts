/**
 * The key-store contract (packages/client/test/keyStoreContract.ts) run on IndexedDbKeyStore in
 * Chromium: the same cases as MemoryKeyStore and FileKeyStore in Node, bundled with the store by
 * Vite and run in a page of a loopback origin (a secure context, with its own IndexedDB).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Rolldown } from 'vite';
import { launch, skip } from './_browser.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

const ENTRY = `
import { IndexedDbKeyStore } from ${JSON.stringify(join(root, 'packages/client/dist/src/browserKeyStore.js'))};
import { keyStoreContract } from ${JSON.stringify(join(root, 'packages/client/dist/test/keyStoreContract.js'))};

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

export async function runAll() {
  const results = [];
  for (const [i, c] of keyStoreContract.entries()) {
    const name = 'contract-' + i;
    try {
      await c.run({ open: () => IndexedDbKeyStore.open(name), persistent: true, dump: () => dump(name) });
      results.push({ name: c.name, ok: true });
    } catch (e) {
      results.push({ name: c.name, ok: false, error: String((e && e.stack) || e) });
    }
  }
  return results;
}
`;

async function bundle(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'nullroom-contract-'));
  try {
    const entry = join(dir, 'entry.js');
    writeFileSync(entry, ENTRY);
    const out = (await build({
      configFile: false,
      logLevel: 'silent',
      root,
      build: { write: false, minify: false, target: 'es2022', lib: { entry, formats: ['es'], fileName: 'contract' }, rollupOptions: { output: { inlineDynamicImports: true } } },
    })) as Rolldown.RolldownOutput | Rolldown.RolldownOutput[];
    const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output);
    const chunks = outputs.filter((o): o is Rolldown.OutputChunk => o.type === 'chunk');
    assert.equal(chunks.length, 1, 'one bundle');
    return chunks[0]!.code;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('IndexedDbKeyStore keeps the key-store contract in Chromium', { skip }, async (t) => {
  const code = await bundle();
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
    assert.ok(results.length >= 10, 'every case ran');
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
