/**
 * The blob-transport contract (blobTransportContract.ts) in Node, against a real relay: on
 * nodeBlobTransport (node:http, what the terminal uses) and on fetchBlobTransport over Node's own
 * fetch (what the browser uses; apps/web/test/blobs-browser.test.ts runs it in Chromium). The
 * upload tickets come from a member that joined a room on that relay through the SDK.
 */
import { after, before, test } from 'node:test';
import { type Relay } from '@nullroom/server';
import { type BlobTransport, fetchBlobTransport } from '../src/index.js';
import { nodeBlobTransport } from '../src/node/index.js';
import { type TestClient, closeAll, member, randomRoomSecret, relay } from './_harness.js';
import { type BlobFront, blobFront } from './_blobFront.js';
import { blobTransportContract } from './blobTransportContract.js';

const MAX_CHUNK = 256 * 1024;
let r: Relay;
let front: BlobFront;
let owner: TestClient;

before(async () => {
  r = await relay({ blobs: { maxChunkBytes: MAX_CHUNK } });
  front = await blobFront(r.url);
  owner = await member(r.url, randomRoomSecret(), 'owner');
});
after(async () => {
  await closeAll();
  await front.close();
  await r.close();
});

const transports: [string, () => BlobTransport][] = [
  ['nodeBlobTransport', () => nodeBlobTransport(front.url)],
  ['fetchBlobTransport (Node fetch)', () => fetchBlobTransport(front.url)],
];
for (const [name, make] of transports) {
  for (const c of blobTransportContract) {
    test(`${name}: ${c.name}`, () =>
      c.run({
        transport: make(),
        ticket: () => owner.room.blobTicket(),
        fault: async (status, code) => front.fault(status, code),
        maxChunkBytes: MAX_CHUNK,
      }));
  }
}
