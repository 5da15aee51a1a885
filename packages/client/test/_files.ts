/** Helpers shared by the file-transfer tests: temporary files, a receiver that takes the next offer, a room of members. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Relay } from '@nullroom/server';
import WebSocket from 'ws';
import { SUBPROTOCOL, asLocator, asReqId, decodeRelayFrame, encodeFrame } from '@nullroom/protocol';
import { ClientError, type FileSource, type RoomFiles, type Transfer, type TransferProgress } from '../src/index.js';
import { folderSink } from '../src/node/index.js';
import { converged, member, randomRoomSecret, relay, type TestClient, until } from './_harness.js';

export const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** `bytes` written to a fresh temporary folder as payload.bin; returns its path. */
export function tempFile(bytes: Uint8Array): string {
  const path = join(mkdtempSync(join(tmpdir(), 'nullroom-send-')), 'payload.bin');
  writeFileSync(path, bytes);
  return path;
}

/** Receives the next offered file into a fresh folder. */
export function receiveNext(f: RoomFiles): Promise<{ transfer: Transfer; dir: string; progress: TransferProgress[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'nullroom-recv-'));
  return new Promise((resolve) => {
    const off = f.on('offer', (offer) => {
      off();
      void folderSink(dir, offer.name).then((sink) => {
        const transfer = offer.accept(sink);
        const progress: TransferProgress[] = [];
        transfer.on('progress', (p) => progress.push(p));
        resolve({ transfer, dir, progress });
      });
    });
  });
}

/** A relay and n members (alice, bob, carol) of one room, converged. */
export async function fileRoom(n: number): Promise<{ r: Relay; cs: TestClient[] }> {
  const r = await relay();
  const secret = randomRoomSecret();
  const names = ['alice', 'bob', 'carol'].slice(0, n);
  const cs: TestClient[] = [];
  for (const nick of names) cs.push(await member(r.url, secret, nick));
  await until(() => converged(cs, names), 'members converge');
  return { r, cs };
}

/** `a` sends `data` (`src`) to bob and carol; bob cancels his download once `after` bytes are in: nothing is saved for him, carol gets the file. */
export async function receiverCancelsOwnOnly(
  fa: RoomFiles,
  fb: RoomFiles,
  fc: RoomFiles,
  src: FileSource,
  data: Uint8Array,
  after: number,
): Promise<void> {
  const gotB = receiveNext(fb);
  const gotC = receiveNext(fc);
  const sending = fa.send(src);
  const b = await gotB;
  await until(() => b.transfer.transferred > after, 'download under way');
  b.transfer.cancel();
  await assert.rejects(b.transfer.done, (e: unknown) => e instanceof ClientError && e.code === 'FILE_CANCELLED');
  await until(() => readdirSync(b.dir).length === 0, 'nothing saved for bob');
  await sending.done;
  const c = await (await gotC).transfer.done;
  assert.ok(readFileSync(c.path!).equals(data), 'carol still got it');
}

/**
 * An upload ticket (docs/PROTOCOL.md §9.1) from a bare connection that joined a fresh room (TLS
 * unchecked: for tests of the blob transports alone). Closing the connection ends the ticket.
 */
export async function rawTicket(url: string): Promise<{ ticket: string; close(): void }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, SUBPROTOCOL, { rejectUnauthorized: false });
  const room = asLocator(new Uint8Array(32).map(() => Math.floor(Math.random() * 256)));
  const grant = new Promise<Uint8Array>((resolve, reject) => {
    ws.on('message', (d: Buffer) => {
      const f = decodeRelayFrame(new Uint8Array(d));
      if (f.type === 'JOINED') ws.send(encodeFrame({ type: 'TICKET', reqId: asReqId(2), room }));
      if (f.type === 'TICKET_GRANT') resolve(f.ticket);
      if (f.type === 'ERROR') reject(new Error(`relay error ${f.code}`));
    });
    ws.on('error', reject);
  });
  ws.on('open', () => ws.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room })));
  return { ticket: Buffer.from(await grant).toString('base64url'), close: () => ws.close() };
}
