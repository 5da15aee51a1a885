import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { asReqId, encodeFrame } from '@nullroom/protocol';
import { createSelfSigned, startRelay, RelayConfigError, isLoopback } from '../src/index.js';
import { connect, locator } from './_raw.js';
import WebSocket from 'ws';

test('isLoopback and the plain-HTTP refusal off loopback', async () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '192.168.1.2', 'example.com', '128.0.0.1']) assert.ok(!isLoopback(h), h);
  await assert.rejects(startRelay({ host: '0.0.0.0', port: 0 }), RelayConfigError);
});

test('security headers on every response; the WebSocket needs /ws and the nullroom.v1 subprotocol', async (t) => {
  const r = await startRelay({ port: 0 });
  t.after(() => r.close());
  for (const path of ['/', '/healthz', '/nope']) {
    const res = await fetch(`${r.url}${path}`);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'.*frame-ancestors 'none'/);
    assert.doesNotMatch(res.headers.get('content-security-policy') ?? '', /'unsafe-inline'|'unsafe-eval'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    await res.arrayBuffer();
  }
  assert.equal((await fetch(`${r.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${r.url}/nope`)).status, 404);
  const noProto = new WebSocket(`${r.url.replace('http', 'ws')}/ws`);
  await new Promise<void>((resolve) => noProto.on('error', () => resolve()));
  const wrongPath = new WebSocket(`${r.url.replace('http', 'ws')}/other`, 'nullroom.v1');
  await new Promise<void>((resolve) => wrongPath.on('error', () => resolve()));
});

test('static files: served with headers, and no path escapes the directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nullroom-static-'));
  mkdirSync(join(dir, 'app'));
  writeFileSync(join(dir, 'app', 'index.html'), '<!doctype html><p>app</p>');
  writeFileSync(join(dir, 'secret.txt'), 'outside');
  const r = await startRelay({ port: 0, staticDir: join(dir, 'app') });
  t.after(() => r.close());
  const ok = await fetch(`${r.url}/`);
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /app/);
  for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/a/%00']) {
    const res = await fetch(`${r.url}${p}`);
    assert.ok([400, 404].includes(res.status), `${p} -> ${res.status}`);
    assert.doesNotMatch(await res.text(), /outside/);
  }
});

test('TLS with a self-signed certificate kept in the data dir: same fingerprint after reload, HSTS, wss works', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'nullroom-tls-'));
  const tls = await createSelfSigned(data);
  assert.match(tls.fingerprint, /^sha256:[0-9a-f]{64}$/);
  assert.equal((await createSelfSigned(data)).fingerprint, tls.fingerprint);
  const r = await startRelay({ host: '127.0.0.1', port: 0, tls });
  t.after(() => r.close());
  assert.match(r.url, /^https:/);
  const hsts = await new Promise<string | undefined>((resolve, reject) => {
    request(`${r.url}/healthz`, { ca: tls.cert }, (res) => {
      res.resume();
      resolve(res.headers['strict-transport-security'] as string | undefined);
    })
      .on('error', reject)
      .end();
  });
  assert.match(hsts ?? '', /max-age=/);
  const p = await connect(r.url, { ca: tls.cert });
  p.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room: locator(1) }));
  await p.next('JOINED');
  p.ws.close();
});
