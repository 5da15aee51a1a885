/**
 * Budgets and per-address caps (issue 11, points 3, 4, 8 and the CREATE stall), each attacked
 * through a real relay with raw clients: peers that never read, unsolicited pongs, floods of SYNC,
 * big GroupInfos, many connections from one address, guessed locators, a creator that never creates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCodes, ErrorCodes, GroupStatus, asEpoch, asReqId, encodeFrame } from '@nullroom/protocol';
import { type Relay, type RelayOptions, startRelay } from '../src/index.js';
import { connect, locator } from './_raw.js';
import { clientFrame, rawHttp, silentPeer, statusOf, upgradeRequest } from './_hostile.js';

const rq = asReqId;
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function relay(t: { after(fn: () => unknown): void }, opts: RelayOptions = {}): Promise<Relay> {
  const r = await startRelay({ port: 0, ...opts });
  t.after(() => r.close());
  return r;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

/** A room whose group exists, with a GroupInfo of `size` bytes; returns its creator. */
async function bigRoom(r: Relay, n: number, size: number) {
  const a = await connect(r.url);
  a.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: locator(n) }));
  assert.equal((await a.next('GROUP_STATE')).status, GroupStatus.CREATE);
  a.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: locator(n), groupInfo: new Uint8Array(size).fill(n) }));
  await a.next('ACK', (f) => f.reqId === 2);
  return a;
}

test('only a pong that echoes our ping proves life: unsolicited pongs do not keep a silent peer open', async (t) => {
  const r = await relay(t, { limits: { pingIntervalMs: 200 } });
  const liar = await silentPeer(r.port);
  const timer = setInterval(() => liar.socket.write(clientFrame(0xa, Buffer.from('alive'))), 50);
  t.after(() => clearInterval(timer));
  const honest = await connect(r.url); // `ws` answers pings with their payload
  await liar.closed;
  clearInterval(timer);
  assert.equal(honest.ws.readyState, honest.ws.OPEN, 'the honest peer echoing pings stays');
  honest.ws.close();
});

test('SYNC from a peer that never reads pins nothing: the READY frame is one shared buffer, and a SYNC while one is queued adds none', async (t) => {
  const r = await relay(t, { limits: { pingIntervalMs: 60_000 } });
  await bigRoom(r, 1, 1 * MiB);
  const p = await silentPeer(r.port);
  p.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: locator(1) }));
  for (let i = 0; i < 50; i++) p.send(encodeFrame({ type: 'SYNC', reqId: rq(10 + i), room: locator(1) }));
  await sleep(300);
  // One READY answer (the JOIN's) at most is queued: the 50 SYNCs were answered by it.
  assert.ok(r.stats().outputBytes < 1.5 * MiB, `queued ${r.stats().outputBytes}`);
});

test('a peer that stops reading is cut on the timer (its backlog made no progress, and our ping queued behind it went unanswered), with nothing new sent to it', async (t) => {
  const r = await relay(t, { limits: { pingIntervalMs: 200 } });
  await bigRoom(r, 1, 1.5 * MiB);
  const rooms = [1, 2, 3, 4, 5];
  for (const n of rooms.slice(1)) await bigRoom(r, n, 1.5 * MiB);
  const p = await silentPeer(r.port);
  // ~7.5 MiB of READY answers: more than the kernel buffers hold, less than maxBufferedBytes.
  for (const n of rooms) p.send(encodeFrame({ type: 'JOIN', reqId: rq(n), room: locator(n) }));
  await until(() => r.stats().outputBytes > 0, 'a backlog');
  const started = Date.now();
  await p.closed;
  assert.ok(Date.now() - started < 2000, 'cut within a few intervals');
  await until(() => r.stats().outputBytes === 0, 'its backlog released');
});

test('a READY frame shared by many silent peers is one buffer: counted per connection, but nobody is cut while the real bytes fit', async (t) => {
  // In this process the test's own garbage counts in arrayBuffers too (~20 MiB here), hence 40 MiB.
  const r = await relay(t, { limits: { pingIntervalMs: 60_000, maxOutputBytes: 40 * MiB, maxBufferedBytes: 64 * MiB } });
  for (const n of [1, 2, 3, 4]) await bigRoom(r, n, 1.8 * MiB);
  const silent = [];
  for (let i = 0; i < 16; i++) {
    const p = await silentPeer(r.port);
    // ~7.2 MiB each: more than the kernel's socket buffers take, so most of it stays queued.
    for (const n of [1, 2, 3, 4]) p.send(encodeFrame({ type: 'JOIN', reqId: rq(n), room: locator(n) }));
    silent.push(p);
  }
  await sleep(400);
  assert.ok(r.stats().outputBytes > 40 * MiB, `counted ${r.stats().outputBytes}: over the budget`);
  assert.equal(silent.filter((p) => p.isClosed).length, 0);
});

test('the global output budget: past it, the largest backlogs are cut first, and an honest room keeps chatting', async (t) => {
  // No timer during the test: the budget is enforced when the large frames are queued.
  const r = await relay(t, { limits: { pingIntervalMs: 60_000, maxOutputBytes: 3 * MiB, maxBufferedBytes: 64 * MiB } });
  const creators = [];
  for (const n of [1, 2, 3, 4]) creators.push(await bigRoom(r, n, 1.8 * MiB));
  const a = await bigRoom(r, 50, 64);
  const b = await connect(r.url);
  b.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: locator(50) }));
  await b.next('GROUP_STATE');
  const silent = [];
  for (let i = 0; i < 6; i++) {
    const p = await silentPeer(r.port);
    for (const n of [1, 2, 3, 4].slice(0, 1 + (i % 4))) {
      // A message in the room first: its seq changes, so this READY answer is a new buffer, not
      // the one already queued for the others (shared buffers are not what the budget is about).
      creators[n - 1]!.send(encodeFrame({ type: 'APP', reqId: rq(100 + i), room: locator(n), epoch: asEpoch(0), data: Uint8Array.of(i) }));
      await creators[n - 1]!.next('ACK', (f) => f.reqId === 100 + i);
      p.send(encodeFrame({ type: 'JOIN', reqId: rq(n), room: locator(n) }));
    }
    silent.push(p);
  }
  await sleep(400);
  assert.ok(r.stats().outputBytes <= 3 * MiB, `output ${r.stats().outputBytes}`);
  assert.ok(
    silent.some((p) => p.isClosed),
    'some were cut',
  );
  a.send(encodeFrame({ type: 'APP', reqId: rq(9), room: locator(50), epoch: asEpoch(0), data: Uint8Array.of(1, 2, 3) }));
  assert.deepEqual((await b.next('DELIVER')).data, Uint8Array.of(1, 2, 3));
});

test('OVER_BUDGET: stored GroupInfos have a global and a per-address budget; a refused COMMIT delivers nothing', async (t) => {
  const r = await relay(t, { limits: { maxGroupInfoBytes: 2 * 3000, maxGroupInfoBytesPerAddress: 2 * 2000, resumeGraceMs: 0 } });
  const a = await connect(r.url);
  a.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: locator(1) }));
  await a.next('GROUP_STATE');
  // Charged twice its size (the stored copy and its encoded READY answer): 2 × 2001 > 4000.
  a.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: locator(1), groupInfo: new Uint8Array(2001) }));
  assert.equal((await a.next('ERROR', (f) => f.reqId === 2)).code, ErrorCodes.OVER_BUDGET);
  a.send(encodeFrame({ type: 'CREATE', reqId: rq(3), room: locator(1), groupInfo: new Uint8Array(1500) }));
  await a.next('ACK', (f) => f.reqId === 3);
  assert.equal(r.stats().groupInfoBytes, 3000);
  const b = await connect(r.url);
  b.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: locator(1) }));
  await b.next('GROUP_STATE');
  // Replacing the address's own GroupInfo: its old charge is released first.
  a.send(
    encodeFrame({
      type: 'COMMIT',
      reqId: rq(4),
      room: locator(1),
      epoch: asEpoch(0),
      commit: Uint8Array.of(1),
      groupInfo: new Uint8Array(2000),
    }),
  );
  await a.next('ACK', (f) => f.reqId === 4);
  a.send(
    encodeFrame({
      type: 'COMMIT',
      reqId: rq(5),
      room: locator(1),
      epoch: asEpoch(1),
      commit: Uint8Array.of(2),
      groupInfo: new Uint8Array(2001),
    }),
  );
  assert.equal((await a.next('ERROR', (f) => f.reqId === 5)).code, ErrorCodes.OVER_BUDGET);
  await b.next('DELIVER');
  await sleep(100);
  assert.equal(b.frames.filter((f) => f.type === 'DELIVER').length, 1, 'the refused commit was not delivered');
  // Global: a second room's CREATE past the total.
  a.send(encodeFrame({ type: 'JOIN', reqId: rq(6), room: locator(2) }));
  await a.next('GROUP_STATE', (f) => f.status === GroupStatus.CREATE);
  a.send(encodeFrame({ type: 'CREATE', reqId: rq(7), room: locator(2), groupInfo: new Uint8Array(600) }));
  assert.equal((await a.next('ERROR', (f) => f.reqId === 7)).code, ErrorCodes.OVER_BUDGET);
  // The last one out releases the room's charge.
  a.ws.close();
  b.ws.close();
  await until(() => r.stats().groupInfoBytes === 0, 'charges released');
});

test('per-address caps: connections (503 on upgrade), memberships (ADDRESS_LIMIT); X-Forwarded-For only with trustProxy', async (t) => {
  const r = await relay(t, { limits: { maxConnectionsPerAddress: 3, maxRoomsPerAddress: 4 } });
  const ps = [await connect(r.url), await connect(r.url), await connect(r.url)];
  assert.equal(statusOf(await rawHttp(r.port, upgradeRequest('/ws'), 1000)), 503);
  // A forged X-Forwarded-For does not help without trustProxy.
  assert.equal(statusOf(await rawHttp(r.port, upgradeRequest('/ws', { 'X-Forwarded-For': '198.51.100.1' }), 1000)), 503);
  for (const [i, n] of [1, 2, 3, 4].entries()) {
    ps[i % 3]!.send(encodeFrame({ type: 'JOIN', reqId: rq(n), room: locator(n) }));
    await ps[i % 3]!.next('JOINED', (f) => f.reqId === n);
  }
  ps[2]!.send(encodeFrame({ type: 'JOIN', reqId: rq(9), room: locator(1) }));
  assert.equal((await ps[2]!.next('ERROR', (f) => f.reqId === 9)).code, ErrorCodes.ADDRESS_LIMIT);
  // Leaving frees a membership; closing frees a connection.
  ps[0]!.send(encodeFrame({ type: 'LEAVE', reqId: rq(10), room: locator(1) }));
  await ps[0]!.next('ACK', (f) => f.reqId === 10);
  ps[2]!.send(encodeFrame({ type: 'JOIN', reqId: rq(11), room: locator(1) }));
  await ps[2]!.next('JOINED', (f) => f.reqId === 11);
  ps[1]!.ws.close();
  await until(() => r.stats().connections === 2, 'closed');
  (await connect(r.url)).ws.close();

  const behind = await relay(t, { trustProxy: true, limits: { maxConnectionsPerAddress: 1 } });
  const via = (ip: string) => rawHttp(behind.port, upgradeRequest('/ws', { 'X-Forwarded-For': `10.0.0.1, ${ip}` }), 300).then(statusOf);
  assert.equal(await via('198.51.100.1'), 101);
  assert.equal(await via('198.51.100.2'), 101);
  assert.equal(await via('2001:db8:1:2::1'), 101);
  // Connections counted until they close: the raw helper closes them, so wait for that.
  await until(() => behind.stats().connections === 0, 'raw peers closed');
  const held = await silentPeer(behind.port, { 'X-Forwarded-For': '2001:db8:1:2::1' });
  await assert.rejects(silentPeer(behind.port, { 'X-Forwarded-For': '2001:db8:1:2:ffff::9' }), /503/, 'same /64');
  held.socket.destroy();
});

test('TOO_MANY_NEW_ROOMS: JOINs that create a room record are a token bucket per address; joining an existing room is not', async (t) => {
  const r = await relay(t, { limits: { newRoomBurst: 3, newRoomIntervalMs: 400 } });
  const a = await connect(r.url);
  for (const n of [1, 2, 3]) {
    a.send(encodeFrame({ type: 'JOIN', reqId: rq(n), room: locator(n) }));
    await a.next('JOINED', (f) => f.reqId === n);
  }
  a.send(encodeFrame({ type: 'JOIN', reqId: rq(4), room: locator(4) }));
  assert.equal((await a.next('ERROR', (f) => f.reqId === 4)).code, ErrorCodes.TOO_MANY_NEW_ROOMS);
  // Another connection from the same address shares the bucket, but may join rooms that exist.
  const b = await connect(r.url);
  b.send(encodeFrame({ type: 'JOIN', reqId: rq(5), room: locator(5) }));
  assert.equal((await b.next('ERROR', (f) => f.reqId === 5)).code, ErrorCodes.TOO_MANY_NEW_ROOMS);
  b.send(encodeFrame({ type: 'JOIN', reqId: rq(6), room: locator(1) }));
  await b.next('JOINED', (f) => f.reqId === 6);
  // Reconnecting does not refill it; time does.
  b.ws.close();
  const c = await connect(r.url);
  c.send(encodeFrame({ type: 'JOIN', reqId: rq(7), room: locator(7) }));
  assert.equal((await c.next('ERROR', (f) => f.reqId === 7)).code, ErrorCodes.TOO_MANY_NEW_ROOMS);
  await sleep(450);
  c.send(encodeFrame({ type: 'JOIN', reqId: rq(8), room: locator(8) }));
  await c.next('JOINED', (f) => f.reqId === 8);
});

test('the CREATE stall: once the creator misses createTimeoutMs, every subscriber may create and the first CREATE wins', async (t) => {
  const r = await relay(t, { limits: { createTimeoutMs: 300 } });
  const R = locator(1);
  const staller = await connect(r.url);
  staller.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  assert.equal((await staller.next('GROUP_STATE')).status, GroupStatus.CREATE);
  const started = Date.now();
  const b = await connect(r.url);
  b.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  // WAIT first, unless b's JOIN arrived after the deadline (a slow machine): then CREATE at once.
  await b.next('GROUP_STATE', (f) => f.status === GroupStatus.CREATE);
  assert.ok(Date.now() - started >= 280, 'not before the deadline');
  // However many connections the staller holds, a newcomer after the deadline is asked at once too.
  const c = await connect(r.url);
  c.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  assert.equal((await c.next('GROUP_STATE')).status, GroupStatus.CREATE);
  b.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: R, groupInfo: Uint8Array.of(2) }));
  await b.next('ACK', (f) => f.reqId === 2);
  // The race is decided: later CREATEs lose, and everyone else is READY.
  staller.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: R, groupInfo: Uint8Array.of(1) }));
  assert.equal((await staller.next('ERROR', (f) => f.reqId === 2)).code, ErrorCodes.NOT_CREATOR);
  c.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: R, groupInfo: Uint8Array.of(3) }));
  assert.equal((await c.next('ERROR', (f) => f.reqId === 2)).code, ErrorCodes.NOT_CREATOR);
  assert.deepEqual([...(await c.next('GROUP_STATE', (f) => f.status === GroupStatus.READY)).groupInfo], [2]);
  await staller.next('GROUP_STATE', (f) => f.status === GroupStatus.READY);

  // Alone past the deadline: the next one to join is asked at once, and either may create.
  const lone = await connect(r.url);
  lone.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: locator(2) }));
  await lone.next('GROUP_STATE');
  await sleep(400);
  const late = await connect(r.url);
  late.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: locator(2) }));
  // (Under load the lone creator's timer may fire just after `late` joined: then `late` sees WAIT, then CREATE.)
  await late.next('GROUP_STATE', (f) => f.status === GroupStatus.CREATE);
  late.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: locator(2), groupInfo: Uint8Array.of(4) }));
  await late.next('ACK', (f) => f.reqId === 2);
  await lone.next('GROUP_STATE', (f) => f.status === GroupStatus.READY);
});

test('a flood of frames from a peer that never reads its ERRORs/ACKs is bounded too', async (t) => {
  const r = await relay(t, { limits: { pingIntervalMs: 200, ratePerSecond: 1e6, rateBurst: 1e6 } });
  const p = await silentPeer(r.port);
  const frame = encodeFrame({ type: 'SYNC', reqId: rq(1), room: locator(9) });
  for (let i = 0; i < 20_000; i++) p.send(frame);
  await p.closed.catch(() => undefined);
  assert.equal(r.stats().connections, 0);
  void CloseCodes;
});
