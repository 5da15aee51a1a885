/**
 * Blob upload tickets, quotas, the upload pace and the per-address shares (docs/PROTOCOL.md §9.1,
 * §9.2), against a real relay over raw HTTP. An "attacker" speaks from 127.0.0.2, honest clients
 * from 127.0.0.1 (both loopback): per-address limits tell them apart as they would two hosts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { type Socket, connect as tcp } from 'node:net';
import { asReqId, encodeFrame } from '@nullroom/protocol';
import { type BlobOptions, type Relay, startRelay } from '../src/index.js';
import { type RawPeer, connect, locator } from './_raw.js';

const KiB = 1024;
const newId = () => randomBytes(16).toString('base64url');
const newToken = () => randomBytes(32).toString('base64url');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ATTACKER = '127.0.0.2';

async function relay(t: TestContext, blobs: BlobOptions = {}): Promise<Relay> {
  const r = await startRelay({ port: 0, blobs });
  t.after(() => r.close());
  return r;
}

let nextRoom = 1;
async function join(
  r: Relay,
  peer?: RawPeer,
  room = locator(nextRoom++ % 256),
): Promise<{ peer: RawPeer; room: ReturnType<typeof locator> }> {
  const p = peer ?? (await connect(r.url));
  p.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room }));
  await p.next('JOINED', (f) => f.room.every((b, i) => b === room[i]));
  return { peer: p, room };
}

let nextReq = 100;
async function ticketOf(peer: RawPeer, room: ReturnType<typeof locator>): Promise<string> {
  const reqId = asReqId(nextReq++);
  peer.send(encodeFrame({ type: 'TICKET', reqId, room }));
  const grant = await peer.next('TICKET_GRANT', (f) => f.reqId === reqId);
  return Buffer.from(grant.ticket).toString('base64url');
}

interface Answer {
  status: number;
  code: string | undefined;
  text: string;
}

/** One HTTP request from `from` (a loopback address), on its own connection unless an agent is given. */
function send(
  r: Relay,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Uint8Array,
  from = '127.0.0.1',
  agent?: Agent,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: r.port, localAddress: from, method, path, headers, ...(agent ? { agent } : { agent: false }) },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const code = res.headers['x-nullroom-blob-error'];
          resolve({
            status: res.statusCode ?? 0,
            code: typeof code === 'string' ? code : undefined,
            text: Buffer.concat(parts).toString().trim(),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : Buffer.from(body));
  });
}

const put = (r: Relay, id: string, index: number, body: Uint8Array, token: string, ticket?: string, from?: string, agent?: Agent) =>
  send(
    r,
    'PUT',
    `/blobs/${id}/${index}`,
    { 'X-Nullroom-Blob-Token': token, ...(ticket === undefined ? {} : { 'X-Nullroom-Blob-Ticket': ticket }) },
    body,
    from,
    agent,
  );

/** A PUT whose headers declare `declared` bytes and whose body then trickles (or never comes). */
async function heldPut(
  r: Relay,
  ticket: string,
  declared: number,
  from = ATTACKER,
): Promise<{ sock: Socket; answer: Promise<string>; closed: Promise<void> }> {
  const sock = tcp({ port: r.port, host: '127.0.0.1', localAddress: from });
  sock.on('error', () => undefined);
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  let got = '';
  const answer = new Promise<string>((resolve) => sock.on('data', (d: Buffer) => resolve((got += d.toString('latin1')))));
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  sock.write(
    `PUT /blobs/${newId()}/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Nullroom-Blob-Token: ${newToken()}\r\nX-Nullroom-Blob-Ticket: ${ticket}\r\nContent-Length: ${declared}\r\n\r\n`,
  );
  return { sock, answer, closed };
}

test('PUT without a ticket, or with one the relay never granted: 403 BAD_TICKET before a byte of the body is read', async (t) => {
  const r = await relay(t);
  // Headers that declare 1 MiB, and no body at all: the answer comes anyway.
  for (const ticket of [undefined, 'short', randomBytes(32).toString('base64url'), `${randomBytes(32).toString('base64url')}=`]) {
    const held = await heldPut(r, ticket ?? '', 1024 * KiB, '127.0.0.1');
    const answer = await held.answer;
    assert.match(answer, /^HTTP\/1\.1 403 /);
    assert.match(answer, /x-nullroom-blob-error: BAD_TICKET/i);
    held.sock.destroy();
  }
  assert.deepEqual(r.blobStats(), { blobs: 0, bytes: 0 });
  // A member of a room gets one; reading needs none (ids are capabilities); deleting needs the token only.
  const { peer, room } = await join(r);
  const ticket = await ticketOf(peer, room);
  assert.equal(await ticketOf(peer, room), ticket, 'asked again during the same stay: the same ticket (same quotas)');
  const [id, token] = [newId(), newToken()];
  assert.equal((await put(r, id, 0, Buffer.from('hello'), token, ticket)).status, 204);
  assert.equal((await send(r, 'GET', `/blobs/${id}/0`, {})).text, 'hello');
  assert.equal((await send(r, 'DELETE', `/blobs/${id}`, { 'X-Nullroom-Blob-Token': token })).status, 204);
});

test('a ticket ends with its stay: after LEAVE, after a disconnect, and after a later JOIN of the same room; the new stay gets a new one', async (t) => {
  const r = await relay(t);
  const { peer, room } = await join(r);
  const first = await ticketOf(peer, room);
  const [id, token] = [newId(), newToken()];
  assert.equal((await put(r, id, 0, randomBytes(10), token, first)).status, 204);
  peer.send(encodeFrame({ type: 'LEAVE', reqId: asReqId(7), room }));
  await peer.next('ACK');
  const refused = await put(r, id, 1, randomBytes(10), token, first);
  assert.deepEqual([refused.status, refused.code], [403, 'BAD_TICKET']);
  // Not in the room: no ticket at all.
  peer.send(encodeFrame({ type: 'TICKET', reqId: asReqId(8), room }));
  assert.equal((await peer.next('ERROR', (f) => f.reqId === 8)).code, 10 /* NOT_IN_ROOM */);
  // Back in the room: a new stay, a new ticket; the old one stays dead. The upload resumes with it.
  await join(r, peer, room);
  const second = await ticketOf(peer, room);
  assert.notEqual(second, first);
  assert.equal((await put(r, id, 1, randomBytes(10), token, first)).status, 403);
  assert.equal((await put(r, id, 1, randomBytes(10), token, second)).status, 204, 'resumed with the new ticket');
  peer.ws.close();
  await peer.closed;
  await sleep(50);
  assert.equal((await put(r, id, 2, randomBytes(10), token, second)).code, 'BAD_TICKET', 'the connection closed');
  // A relay without a blob store grants none.
  const off = await startRelay({ port: 0, blobs: false });
  t.after(() => off.close());
  const { peer: p2, room: room2 } = await join(off);
  p2.send(encodeFrame({ type: 'TICKET', reqId: asReqId(9), room: room2 }));
  assert.equal((await p2.next('ERROR', (f) => f.reqId === 9)).code, 18 /* NO_BLOB_STORE */);
});

test('quotas: blobs per ticket, blobs and bytes per room (507 before the body is read), freed when blobs are deleted', async (t) => {
  const r = await relay(t, { maxChunkBytes: 64 * KiB, maxBlobsPerTicket: 3, maxBlobsPerRoom: 5, maxBytesPerRoom: 8 * 64 * KiB });
  const { peer, room } = await join(r);
  const one = await ticketOf(peer, room);
  const mine: [string, string][] = [];
  for (let i = 0; i < 3; i++) {
    const blob: [string, string] = [newId(), newToken()];
    assert.equal((await put(r, blob[0], 0, randomBytes(10), blob[1], one)).status, 204);
    mine.push(blob);
  }
  const over = await put(r, newId(), 0, randomBytes(10), newToken(), one);
  assert.deepEqual([over.status, over.code], [507, 'TICKET_QUOTA']);
  // Its existing blobs still take more chunks (the per-ticket count is of blobs made).
  assert.equal((await put(r, mine[0]![0], 1, randomBytes(10), mine[0]![1], one)).status, 204);
  // Another member of the same room: its own ticket, but the room's count is shared.
  const other = await join(r, undefined, room);
  const two = await ticketOf(other.peer, room);
  assert.equal((await put(r, newId(), 0, randomBytes(10), newToken(), two)).status, 204);
  assert.equal((await put(r, newId(), 0, randomBytes(10), newToken(), two)).status, 204);
  const full = await put(r, newId(), 0, randomBytes(10), newToken(), two);
  assert.deepEqual([full.status, full.code], [507, 'ROOM_QUOTA']);
  // Another room is not affected.
  const elsewhere = await join(r);
  assert.equal((await put(r, newId(), 0, randomBytes(10), newToken(), await ticketOf(elsewhere.peer, elsewhere.room))).status, 204);
  // Deleting frees the room's place.
  assert.equal((await send(r, 'DELETE', `/blobs/${mine[1]![0]}`, { 'X-Nullroom-Blob-Token': mine[1]![1] })).status, 204);
  assert.equal((await put(r, newId(), 0, randomBytes(10), newToken(), two)).status, 204);
  // Bytes per room: 8 chunks' worth (each counts at least 64 KiB); 6 are stored, 2 more fit, not 3.
  const [id, token] = mine[0]!;
  assert.equal((await put(r, id, 2, randomBytes(64 * KiB), token, one)).status, 204);
  assert.equal((await put(r, id, 3, randomBytes(10), token, one)).status, 204, 'exactly the quota');
  const bytes = await put(r, id, 4, randomBytes(64 * KiB), token, one);
  assert.deepEqual([bytes.status, bytes.code], [507, 'ROOM_QUOTA']);
});

test('bytes per ticket: what one ticket uploads is bounded, re-sends included', async (t) => {
  const r = await relay(t, { maxChunkBytes: 64 * KiB, maxBytesPerTicket: 3 * 64 * KiB });
  const { peer, room } = await join(r);
  const ticket = await ticketOf(peer, room);
  const [id, token] = [newId(), newToken()];
  for (let i = 0; i < 3; i++) assert.equal((await put(r, id, 0, randomBytes(64 * KiB), token, ticket)).status, 204);
  const over = await put(r, id, 0, randomBytes(1), token, ticket);
  assert.deepEqual([over.status, over.code], [507, 'TICKET_QUOTA']);
});

test('the tiny-PUT flood: 3,000 one-byte PUTs from one address are refused past the quotas; the store keeps room for others', async (t) => {
  // Default options: 1024 blobs per ticket, 4096 per room and per address.
  const r = await relay(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 32, localAddress: ATTACKER } as ConstructorParameters<typeof Agent>[0]);
  t.after(() => agent.destroy());
  const attacker = await join(r);
  const ticket = await ticketOf(attacker.peer, attacker.room);
  const statuses = new Map<string, number>();
  for (let i = 0; i < 3000; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: 50 }, () => put(r, newId(), 0, Uint8Array.of(1), newToken(), ticket, ATTACKER, agent)),
    );
    for (const a of batch)
      statuses.set(`${a.status} ${a.code ?? ''}`.trim(), (statuses.get(`${a.status} ${a.code ?? ''}`.trim()) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(statuses), { '204': 1024, '507 TICKET_QUOTA': 1976 });
  assert.equal(r.blobStats()!.blobs, 1024);
  // An honest member elsewhere uploads as before.
  const honest = await join(r);
  assert.equal((await put(r, newId(), 0, randomBytes(100), newToken(), await ticketOf(honest.peer, honest.room))).status, 204);
});

test('blobs per address: more tickets (more rooms) do not lift the address quota', async (t) => {
  const r = await relay(t, { maxBlobsPerTicket: 4, maxBlobsPerIp: 10 });
  const peer = await connect(r.url);
  const codes: string[] = [];
  for (let room = 0; room < 4; room++) {
    const { room: loc } = await join(r, peer);
    const ticket = await ticketOf(peer, loc);
    for (let i = 0; i < 4; i++) codes.push((await put(r, newId(), 0, Uint8Array.of(1), newToken(), ticket, ATTACKER)).code ?? '204');
  }
  assert.deepEqual(codes, [...Array<string>(10).fill('204'), ...Array<string>(6).fill('IP_QUOTA')]);
  const honest = await join(r);
  assert.equal(
    (await put(r, newId(), 0, Uint8Array.of(1), newToken(), await ticketOf(honest.peer, honest.room))).status,
    204,
    'another address is not affected',
  );
});

test('the pace: trickling bodies are cut (408, connection closed) once the grace is over, and give their reservation back at once', async (t) => {
  const r = await relay(t, {
    maxChunkBytes: 64 * KiB,
    maxUploadBufferBytes: 4 * 64 * KiB,
    minUploadBytesPerSecond: 16 * KiB,
    uploadRateWindowMs: 1000,
    uploadGraceMs: 500,
  });
  const tickets = [];
  for (let i = 0; i < 4; i++) {
    const { peer, room } = await join(r);
    tickets.push(await ticketOf(peer, room));
  }
  // Four bodies that hold the whole budget and send a byte now and then.
  const held = await Promise.all(tickets.map((tk) => heldPut(r, tk, 64 * KiB, '127.0.0.1')));
  const trickle = setInterval(() => held.forEach((h) => h.sock.write('x')), 200);
  t.after(() => clearInterval(trickle));
  await sleep(100);
  const { peer, room } = await join(r);
  const honest = await ticketOf(peer, room);
  assert.equal((await put(r, newId(), 0, randomBytes(10), newToken(), honest)).status, 503, 'the budget is taken');
  const t0 = Date.now();
  for (const h of held) {
    assert.match(await h.answer, /^HTTP\/1\.1 408 [^]*x-nullroom-blob-error: TOO_SLOW[^]*upload too slow/i);
    await h.closed;
  }
  const cutAfter = Date.now() - t0;
  assert.ok(cutAfter < 3000, `cut after ${cutAfter} ms`);
  assert.equal((await put(r, newId(), 0, randomBytes(10), newToken(), honest)).status, 204, 'room again');
  assert.deepEqual(r.blobStats(), { blobs: 5, bytes: 10 }, 'the cut bodies stored nothing');
});

test('the deadline: a body that keeps the pace but never ends is cut at maxUploadMs', async (t) => {
  const r = await relay(t, {
    maxChunkBytes: 1024 * KiB,
    minUploadBytesPerSecond: 1024,
    uploadRateWindowMs: 500,
    uploadGraceMs: 200,
    maxUploadMs: 1500,
  });
  const { peer, room } = await join(r);
  const h = await heldPut(r, await ticketOf(peer, room), 1024 * KiB, '127.0.0.1');
  const feed = setInterval(() => h.sock.write(randomBytes(1024)), 100); // 10 KiB/s: above the floor, but 100 s for the body
  t.after(() => clearInterval(feed));
  const t0 = Date.now();
  assert.match(await h.answer, /^HTTP\/1\.1 408 [^]*upload took too long/);
  await h.closed;
  assert.ok(Date.now() - t0 < 3000);
});

test('the upload-body budget is shared: one address, or one ticket, holds at most its share; others still upload', async (t) => {
  const r = await relay(t, {
    maxChunkBytes: 64 * KiB,
    maxUploadBufferBytes: 8 * 64 * KiB,
    maxUploadBufferBytesPerIp: 3 * 64 * KiB,
    maxUploadBufferBytesPerTicket: 2 * 64 * KiB,
  });
  const a = await join(r);
  const ta = await ticketOf(a.peer, a.room);
  const b = await join(r);
  const tb = await ticketOf(b.peer, b.room);
  // The attacker's address: two bodies with one ticket fill that ticket's share...
  const held = [await heldPut(r, ta, 64 * KiB), await heldPut(r, ta, 64 * KiB)];
  t.after(() => held.forEach((h) => h.sock.destroy()));
  await sleep(50);
  const share = await put(r, newId(), 0, randomBytes(10), newToken(), ta, ATTACKER);
  assert.deepEqual([share.status, share.code], [429, 'SHARE']);
  // ...a second ticket from the same address gets what is left of the address's share...
  held.push(await heldPut(r, tb, 64 * KiB));
  await sleep(50);
  assert.equal((await put(r, newId(), 0, randomBytes(10), newToken(), tb, ATTACKER)).status, 429);
  // ...and another address uploads at once.
  const honest = await join(r);
  assert.equal((await put(r, newId(), 0, randomBytes(10), newToken(), await ticketOf(honest.peer, honest.room))).status, 204);
});

test('waiting GETs are capped per address as well as globally: one address cannot lock out the others', async (t) => {
  const r = await relay(t, { maxWaiters: 8, maxWaitersPerIp: 5 });
  const waits: Promise<Answer>[] = [];
  for (let i = 0; i < 5; i++) waits.push(send(r, 'GET', `/blobs/${newId()}/0?wait=2000`, {}, undefined, ATTACKER));
  await sleep(100);
  const sixth = await send(r, 'GET', `/blobs/${newId()}/0?wait=2000`, {}, undefined, ATTACKER);
  assert.deepEqual([sixth.status, sixth.code], [429, 'SHARE']);
  // Another address still waits, and gets its chunk when it lands.
  const { peer, room } = await join(r);
  const [id, token] = [newId(), newToken()];
  const waiting = send(r, 'GET', `/blobs/${id}/0?wait=5000`, {});
  await sleep(100);
  assert.equal((await put(r, id, 0, Buffer.from('here'), token, await ticketOf(peer, room))).status, 204);
  assert.deepEqual([(await waiting).status, (await waiting).text], [200, 'here']);
  for (const w of await Promise.all(waits)) assert.equal(w.status, 404, 'the wait ran out');
});
