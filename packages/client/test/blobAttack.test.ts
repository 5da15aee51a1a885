/**
 * The blob store under the upload lock-out of issue 11 (point 4), with real clients: trickling
 * uploads are cut for their pace and cannot keep honest members from sending files; an honest but
 * slow link, just above the relay's floor, still gets its file through. Attackers speak from other
 * loopback addresses (127.0.0.2...), as other hosts would.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import { SUBPROTOCOL, asLocator, asReqId, decodeRelayFrame, encodeFrame } from '@nullroom/protocol';
import { BlobStatusError, RoomFiles } from '../src/index.js';
import { fileSource, nodeBlobTransport, nodeSha256 } from '../src/node/index.js';
import { receiveNext, sha, tempFile } from './_files.js';
import { closeAll, twoMembers } from './_harness.js';

afterEach(closeAll);

const KiB = 1024;
const MiB = 1024 * KiB;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One bare connection from `from` that joins `rooms` fresh rooms and returns a ticket for each. */
async function tickets(url: string, from: string, rooms: number): Promise<{ tickets: string[]; close(): void }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, SUBPROTOCOL, { localAddress: from });
  const out: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    ws.on('message', (d: Buffer) => {
      const f = decodeRelayFrame(new Uint8Array(d));
      if (f.type === 'JOINED') ws.send(encodeFrame({ type: 'TICKET', reqId: asReqId(1000 + f.reqId), room: f.room }));
      if (f.type === 'TICKET_GRANT' && out.push(Buffer.from(f.ticket).toString('base64url')) === rooms) resolve();
      if (f.type === 'ERROR') reject(new Error(`relay error ${f.code}`));
    });
    ws.on('error', reject);
  });
  await new Promise<void>((resolve) => ws.once('open', () => resolve()));
  for (let i = 0; i < rooms; i++)
    ws.send(encodeFrame({ type: 'JOIN', reqId: asReqId(i + 1), room: asLocator(new Uint8Array(randomBytes(32))) }));
  await done;
  return { tickets: out, close: () => ws.close() };
}

/**
 * A PUT declaring `declared` bytes whose body trickles a byte every `everyMs`: its answer's status
 * (or 'closed'), and whether the relay closed the connection (it does when it cuts a body).
 */
function tricklingPut(
  port: number,
  from: string,
  ticket: string,
  declared: number,
  everyMs: number,
): { status: Promise<string>; closed: Promise<void>; stop(): void } {
  const sock = net.connect({ port, host: '127.0.0.1', localAddress: from });
  sock.on('error', () => undefined);
  let timer: ReturnType<typeof setInterval> | undefined;
  sock.once('connect', () => {
    const id = randomBytes(16).toString('base64url');
    const token = randomBytes(32).toString('base64url');
    sock.write(
      `PUT /blobs/${id}/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Nullroom-Blob-Token: ${token}\r\nX-Nullroom-Blob-Ticket: ${ticket}\r\nContent-Length: ${declared}\r\n\r\n`,
    );
    timer = setInterval(() => sock.write('x'), everyMs);
  });
  const status = new Promise<string>((resolve) => {
    sock.once('data', (d: Buffer) => resolve(/^HTTP\/1\.1 (\d{3})/.exec(d.toString('latin1'))?.[1] ?? '?'));
    sock.once('close', () => resolve('closed'));
  });
  const closed = new Promise<void>((resolve) => sock.on('close', () => (clearInterval(timer), resolve())));
  return { status, closed, stop: () => sock.destroy() };
}

/** 16 trickling PUTs of 4 MiB from `addresses`, then alice sends `size` bytes to bob through the SDK; resolves how long her upload took. */
async function underTrickle(addresses: string[], size: number): Promise<{ ms: number; statuses: string[] }> {
  const { r, a, b } = await twoMembers();
  try {
    const perAddress = 16 / addresses.length;
    const held = await Promise.all(addresses.map((from) => tickets(r.url, from, perAddress)));
    const puts = held.flatMap((h, i) => h.tickets.map((tk) => tricklingPut(r.port, addresses[i]!, tk, 4 * MiB, 2000)));
    await sleep(300); // every trickling body is in (or refused)
    const blobs = nodeBlobTransport(r.url);
    const fa = new RoomFiles(a.room, { blobs, hash: nodeSha256 });
    const fb = new RoomFiles(b.room, { blobs, hash: nodeSha256 });
    const got = receiveNext(fb);
    const data = randomBytes(size);
    const src = await fileSource(tempFile(data));
    const t0 = Date.now();
    await fa.send(src).done;
    const ms = Date.now() - t0;
    const res = await (await got).transfer.done;
    assert.equal(res.sha256, sha(data));
    assert.ok(readFileSync(res.path!).equals(data));
    await src.close();
    // Every trickling PUT was refused at once (429: its address's share is taken) or cut for its
    // pace (408, and the connection closed). (A refused one's connection is left to Node, which
    // drains the declared body and times it out: it holds a socket, not the upload budget.)
    const statuses = await Promise.all(puts.map((p) => p.status));
    await Promise.all(puts.map((p, i) => (statuses[i] === '408' ? p.closed : undefined)));
    puts.forEach((p) => p.stop());
    held.forEach((h) => h.close());
    return { ms, statuses };
  } finally {
    await r.close();
  }
}

test('16 trickling PUTs from one address: it gets its share only, the rest is refused at once, the held ones are cut; an honest 8 MiB upload goes through meanwhile', async (t) => {
  const { ms, statuses } = await underTrickle(['127.0.0.2'], 8 * MiB);
  t.diagnostic(`honest 8 MiB upload under the one-address trickle: ${ms} ms; attacker statuses: ${statuses.sort().join(' ')}`);
  assert.ok(ms < 5000, `the honest upload took ${ms} ms`);
  assert.deepEqual(
    [statuses.filter((s) => s === '408').length, statuses.filter((s) => s === '429').length],
    [4, 12],
    'four fit the address share (4 chunks) and are cut for their pace; twelve are refused',
  );
});

test('16 trickling PUTs from four addresses (the whole upload budget): they are cut after the grace, and the honest upload lands right after', async (t) => {
  const { ms, statuses } = await underTrickle(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'], 8 * MiB);
  // About the grace (3 s) plus a retry (at most 1 s apart while busy): ~3-5 s here. Bounded loosely
  // (a busy machine), but far below what waiting for the trickles to end would take (4 MiB at a byte every 2 s).
  t.diagnostic(`honest 8 MiB upload under the four-address trickle: ${ms} ms; attacker statuses: ${statuses.sort().join(' ')}`);
  assert.ok(ms < 20_000, `the honest upload took ${ms} ms`);
  assert.ok(
    statuses.every((s) => s === '408' || s === '429'),
    statuses.join(' '),
  );
  assert.ok(statuses.filter((s) => s === '408').length >= 12, 'the budget was held, then cut');
});

/**
 * A TCP proxy whose uploads (client to relay) share one link of `bytesPerSecond` fairly, as TCP
 * flows on one slow uplink do; downloads pass at full speed.
 */
async function slowUplink(target: number, bytesPerSecond: number) {
  const pending = new Map<net.Socket, Buffer[]>();
  const pump = setInterval(() => {
    let budget = Math.max(1, Math.floor(bytesPerSecond / 20));
    // Round robin, a small slice each, until this tick's budget is spent or nothing waits.
    while (budget > 0 && pending.size > 0) {
      for (const [up, q] of pending) {
        const head = q[0]!;
        const n = Math.min(budget, head.length, 256);
        if (!up.destroyed) up.write(head.subarray(0, n));
        budget -= n;
        if (n === head.length) q.shift();
        else q[0] = head.subarray(n);
        if (q.length === 0) pending.delete(up);
        if (budget <= 0) break;
      }
    }
  }, 50);
  const server = net.createServer((client) => {
    const up = net.connect(target, '127.0.0.1');
    client.on('data', (d: Buffer) => {
      const q = pending.get(up);
      if (q === undefined) pending.set(up, [d]);
      else q.push(d);
    });
    // The relay's answer (a 408 when it cuts a body) reaches the client before its end does.
    up.pipe(client);
    const end = () => (client.destroy(), up.destroy(), pending.delete(up));
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', () => pending.delete(up));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => (clearInterval(pump), server.close()),
  };
}

test('an honest slow link just above the floor: the upload goes one chunk at a time once a PUT is cut for its pace, and completes', async (t) => {
  const floor = 16 * KiB;
  const { r, a, b } = await twoMembers({ blobs: { minUploadBytesPerSecond: floor, uploadRateWindowMs: 3000, uploadGraceMs: 2000 } }, t);
  // 24 KiB/s: 1.5x the floor for one upload, 0.75x for each of two at once.
  const link = await slowUplink(r.port, 24 * KiB);
  t.after(() => link.close());
  const slow = nodeBlobTransport(link.url);
  const failures: string[] = [];
  const put = slow.put;
  slow.put = (...args) =>
    put(...args).catch((e: unknown) => {
      failures.push(e instanceof BlobStatusError ? String(e.status) : ((e as { code?: string }).code ?? 'error'));
      throw e;
    });
  const fa = new RoomFiles(a.room, { blobs: slow, hash: nodeSha256, chunkSize: 32 * KiB });
  const fb = new RoomFiles(b.room, { blobs: nodeBlobTransport(r.url), hash: nodeSha256, chunkSize: 32 * KiB });
  const got = receiveNext(fb);
  const data = randomBytes(192 * KiB);
  const src = await fileSource(tempFile(data));
  const t0 = Date.now();
  await fa.send(src).done;
  const res = await (await got).transfer.done;
  t.diagnostic(`192 KiB over a 24 KiB/s uplink (floor 16 KiB/s): ${Date.now() - t0} ms; failed PUTs: ${failures.join(' ')}`);
  assert.ok(
    failures.length >= 1 && failures.length <= 2,
    `two chunks at once fell below the floor, then one at a time kept it: ${failures.join(' ')}`,
  );
  assert.ok(readFileSync(res.path!).equals(data));
  await src.close();
});
