/**
 * Origins in a real browser (issue 11, point 2): a page on another origin cannot open the relay's
 * WebSocket, and a page reached through a rebound DNS name (DNS rebinding) gets 421 for the page and
 * its WebSocket. The raw-header tests are in packages/server/test/hardening.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import { startRelay } from '@nullroom/server';
import { ARGS, CHROMIUM, skip } from './_browser.js';

const probe = (wsUrl: string) => `<!doctype html><meta charset="utf-8"><title>probe</title><script>
  window.result = new Promise((resolve) => {
    const ws = new WebSocket(${JSON.stringify(wsUrl)}, 'nullroom.v1');
    ws.onopen = () => resolve('open');
    ws.onerror = () => resolve('error');
  });
</script>`;

test('a foreign page cannot open /ws; a rebound name gets 421; the relay serves its own origin', { skip }, async (t) => {
  const relay = await startRelay({ port: 0, blobs: false });
  t.after(() => relay.close());
  let page = '';
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(page);
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  t.after(() => evil.close());
  const evilPort = (evil.address() as { port: number }).port;
  // evil.example resolves to 127.0.0.1 in this browser: what a rebinding DNS server would arrange.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, '--host-resolver-rules=MAP evil.example 127.0.0.1'] });
  t.after(() => browser.close());
  const ctx = await browser.newContext();
  const p = await ctx.newPage();

  // Another origin (another port of the same host is another origin) opening the relay's /ws: 403.
  page = probe(`ws://127.0.0.1:${relay.port}/ws`);
  await p.goto(`http://127.0.0.1:${evilPort}/`);
  assert.equal(await p.evaluate('window.result'), 'error');

  // DNS rebinding: the page on evil.example, then the name pointed at the relay. Same origin for the
  // browser (evil.example:relayPort), but the relay sees Host: evil.example and answers 421.
  page = probe(`ws://evil.example:${relay.port}/ws`);
  await p.goto(`http://evil.example:${evilPort}/`);
  assert.equal(await p.evaluate('window.result'), 'error');
  const rebound = await p.goto(`http://evil.example:${relay.port}/`);
  assert.equal(rebound?.status(), 421);
  assert.equal(relay.stats().connections, 0, 'no WebSocket was accepted');

  // The relay's own page, on its own origin, still connects.
  const own = await p.goto(`${relay.url}/`);
  assert.equal(own?.status(), 200);
  await p.setContent('');
  assert.equal(
    await p.evaluate(
      `new Promise((resolve) => { const ws = new WebSocket(${JSON.stringify(`ws://127.0.0.1:${relay.port}/ws`)}, 'nullroom.v1'); ws.onopen = () => resolve('open'); ws.onerror = () => resolve('error'); })`,
    ),
    'open',
  );
});
