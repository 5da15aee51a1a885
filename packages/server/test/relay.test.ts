import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCodes, ErrorCodes, GroupStatus, DeliveryKind, asEpoch, asReqId, encodeFrame } from '@nullroom/protocol';
import { startRelay, type Relay } from '../src/index.js';
import { connect, locator } from './_raw.js';

const R = locator(7);
const gi = (n: number) => new Uint8Array(64).fill(n);
const rq = asReqId;

async function relay(t: { after(fn: () => unknown): void }, limits = {}): Promise<Relay> {
  const r = await startRelay({ port: 0, limits });
  t.after(() => r.close());
  return r;
}

test('join flow: first subscriber creates, others wait, then READY; commits are one per epoch; APP fans out in order', async (t) => {
  const r = await relay(t);
  const a = await connect(r.url);
  a.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  const ja = await a.next('JOINED');
  assert.equal(ja.slot, 1);
  assert.equal(ja.members, 1);
  assert.equal((await a.next('GROUP_STATE')).status, GroupStatus.CREATE);

  const b = await connect(r.url);
  b.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  assert.equal((await b.next('JOINED')).members, 2);
  assert.equal((await b.next('GROUP_STATE')).status, GroupStatus.WAIT);

  a.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: R, groupInfo: gi(1) }));
  await a.next('ACK', (f) => f.reqId === 2);
  const ready = await b.next('GROUP_STATE');
  assert.equal(ready.status, GroupStatus.READY);
  assert.deepEqual(ready.groupInfo, gi(1));
  assert.equal(ready.epoch, 0);

  // Two commits race for epoch 0: exactly one wins.
  a.send(encodeFrame({ type: 'COMMIT', reqId: rq(3), room: R, epoch: asEpoch(0), commit: gi(2), groupInfo: gi(3) }));
  b.send(encodeFrame({ type: 'COMMIT', reqId: rq(3), room: R, epoch: asEpoch(0), commit: gi(4), groupInfo: gi(5) }));
  await a.next('ACK', (f) => f.reqId === 3);
  const lost = await b.next('ERROR', (f) => f.reqId === 3);
  assert.equal(lost.code, ErrorCodes.STALE_EPOCH);
  const d = await b.next('DELIVER');
  assert.equal(d.kind, DeliveryKind.COMMIT);
  assert.deepEqual(d.data, gi(2));
  assert.equal(d.from, 1);
  b.send(encodeFrame({ type: 'SYNC', reqId: rq(4), room: R }));
  const synced = await b.next('GROUP_STATE');
  assert.equal(synced.epoch, 1);
  assert.deepEqual(synced.groupInfo, gi(3));

  // Application messages only for the current epoch, delivered in order, acknowledged with their seq.
  a.send(encodeFrame({ type: 'APP', reqId: rq(5), room: R, epoch: asEpoch(0), data: gi(9) }));
  assert.equal((await a.next('ERROR', (f) => f.reqId === 5)).code, ErrorCodes.STALE_EPOCH);
  for (let i = 0; i < 20; i++) a.send(encodeFrame({ type: 'APP', reqId: rq(100 + i), room: R, epoch: asEpoch(1), data: Uint8Array.of(i) }));
  const acks = [];
  for (let i = 0; i < 20; i++) acks.push((await a.next('ACK', (f) => f.reqId === 100 + i)).seq);
  const got = [];
  for (let i = 0; i < 20; i++) got.push((await b.next('DELIVER')).data[0]);
  assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));
  assert.deepEqual(acks, Array.from({ length: 20 }, (_, i) => 2 + i));
  a.ws.close();
  b.ws.close();
});

test('the creator leaving before CREATE hands the job to the lowest remaining slot', async (t) => {
  const r = await relay(t);
  const [a, b, c] = await Promise.all([connect(r.url), connect(r.url), connect(r.url)]);
  for (const p of [a, b, c]) {
    p.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
    await p.next('JOINED');
  }
  assert.equal((await b.next('GROUP_STATE')).status, GroupStatus.WAIT);
  a.send(encodeFrame({ type: 'LEAVE', reqId: rq(2), room: R }));
  await a.next('ACK');
  assert.equal((await b.next('PEER_GONE')).slot, 1);
  assert.equal((await b.next('GROUP_STATE')).status, GroupStatus.CREATE);
  await c.next('PEER_GONE');
  c.send(encodeFrame({ type: 'CREATE', reqId: rq(3), room: R, groupInfo: gi(1) }));
  assert.equal((await c.next('ERROR')).code, ErrorCodes.NOT_CREATOR);
  for (const p of [a, b, c]) p.ws.close();
});

test('a connection that dies is announced to the room, and the last one out deletes the room', async (t) => {
  const r = await relay(t, { pingIntervalMs: 200 });
  const [a, b] = await Promise.all([connect(r.url), connect(r.url)]);
  for (const p of [a, b]) {
    p.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
    await p.next('JOINED');
  }
  assert.equal(r.stats().rooms, 1);
  // A peer that stops answering pings (socket paused, not closed) is dropped after one interval.
  (b.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const started = Date.now();
  assert.equal((await a.next('PEER_GONE', undefined, 3000)).slot, 2);
  assert.ok(Date.now() - started < 1500);
  a.ws.terminate(); // an abrupt close
  for (let i = 0; i < 100 && r.stats().rooms > 0; i++) await new Promise((res) => setTimeout(res, 10));
  assert.deepEqual(r.stats(), { connections: 0, rooms: 0 });
});

test('a reader too slow for its traffic is cut off (4509) rather than buffered without bound', async (t) => {
  const r = await relay(t, { maxBufferedBytes: 256 * 1024, ratePerSecond: 1e6, rateBurst: 1e6 });
  const [a, slow] = await Promise.all([connect(r.url), connect(r.url)]);
  a.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  await a.next('GROUP_STATE');
  a.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: R, groupInfo: gi(1) }));
  await a.next('ACK');
  slow.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  await slow.next('GROUP_STATE');
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const big = new Uint8Array(64 * 1024);
  for (let i = 0; i < 200; i++) a.send(encodeFrame({ type: 'APP', reqId: rq(10 + i), room: R, epoch: asEpoch(0), data: big }));
  // The relay drops the slow reader: the room hears it is gone, and the relay holds one connection.
  await a.next('PEER_GONE', undefined, 10_000);
  assert.equal(r.stats().connections, 1);
  (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  // Its close frame sits behind the backlog it could not read, so it may see 4509 or an abrupt 1006.
  assert.ok([CloseCodes.SLOW_CONSUMER, 1006].includes((await slow.closed) as 4509 | 1006));
  a.ws.close();
});
