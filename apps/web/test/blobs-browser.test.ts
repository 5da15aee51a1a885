/**
 * The blob-transport contract (packages/client/test/blobTransportContract.ts) in Chromium, on
 * fetchBlobTransport against a real relay, as Node runs it on both transports
 * (packages/client/test/blobTransport.test.ts). The SDK runs in the page, bundled by Vite from its
 * public entry: a NullroomClient with the IndexedDB key store joins a fresh room on the relay over
 * the browser's WebSocket, and its room grants the upload tickets. The page is served by the blob
 * front (packages/client/test/_blobFront.ts), which forwards /blobs/* to the relay (same origin for
 * the page's fetches) and fails requests when the contract asks it to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Relay, startRelay } from '@nullroom/server';
import type * as Front from '../../../packages/client/dist/test/_blobFront.js';
import { launch, skip } from './_browser.js';
import { bundle, under } from './_bundle.js';

const { blobFront } = (await import(new URL('../../../packages/client/dist/test/_blobFront.js', import.meta.url).href)) as typeof Front;

const MAX_CHUNK = 256 * 1024;

const ENTRY = `
import { IndexedDbKeyStore, NullroomClient, browserWebSocket, fetchBlobTransport, randomRoomSecret } from ${under('packages/client/dist/src/index.js')};
import { blobTransportContract } from ${under('packages/client/dist/test/blobTransportContract.js')};

export async function runAll(relayUrl, maxChunkBytes) {
  const client = new NullroomClient({ url: relayUrl, webSocket: browserWebSocket, keyStore: await IndexedDbKeyStore.open('blob-contract') });
  await client.connect();
  const room = await client.join({ secret: randomRoomSecret(), nick: 'owner' });
  const results = [];
  for (const c of blobTransportContract) {
    try {
      await c.run({
        transport: fetchBlobTransport(location.origin),
        ticket: () => room.blobTicket(),
        fault: (status, code) => window.nrFault(status ?? null, code ?? null),
        maxChunkBytes,
      });
      results.push({ name: c.name, ok: true });
    } catch (e) {
      results.push({ name: c.name, ok: false, error: String((e && e.stack) || e) });
    }
  }
  await room.leave(2000);
  await client.close();
  return results;
}
`;

test('fetchBlobTransport keeps the blob-transport contract in Chromium, with the SDK in the page', { skip }, async (t) => {
  let relay: Relay | undefined;
  const front = await blobFront(() => relay!.url, { html: '<!doctype html><title>blob contract</title>', script: await bundle(ENTRY) });
  // The page's origin is the front's: the relay lets its WebSocket in.
  relay = await startRelay({ host: '127.0.0.1', port: 0, allowedOrigins: [front.url], blobs: { maxChunkBytes: MAX_CHUNK } });
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.exposeFunction('nrFault', (status: number | null, code: string | null) =>
      front.fault(status ?? undefined, code ?? undefined),
    );
    await page.goto(`${front.url}/`);
    const results = (await page.evaluate(
      async ([url, max]) => {
        const m = (await import('/contract.js' as string)) as { runAll(url: string, max: number): Promise<unknown> };
        return m.runAll(url, max);
      },
      [relay.url, MAX_CHUNK] as const,
    )) as { name: string; ok: boolean; error?: string }[];
    assert.ok(results.length >= 10, 'every case ran');
    for (const r of results) {
      await t.test(r.name, () => {
        if (!r.ok) assert.fail(r.error);
      });
    }
  } finally {
    await browser.close();
    await front.close();
    await relay.close();
  }
});
