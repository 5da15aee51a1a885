import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CloseCodes,
  ErrorCodes,
  GroupStatus,
  DeliveryKind,
  type RelayFrame,
  asEpoch,
  asReqId,
  asSeq,
  asSlot,
  decodeRelayFrame,
  encodeFrame,
} from '@nullroom/protocol';
import { startRelay, type Relay } from '../src/index.js';
import { type Peer, Rooms } from '../src/rooms.js';
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
  assert.deepEqual(
    got,
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.deepEqual(
    acks,
    Array.from({ length: 20 }, (_, i) => 2 + i),
  );
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
  assert.deepEqual(
    { connections: r.stats().connections, rooms: r.stats().rooms, groupInfoBytes: r.stats().groupInfoBytes },
    { connections: 0, rooms: 0, groupInfoBytes: 0 },
  );
});

test('a reader too slow for its traffic is cut off (4509) rather than buffered without bound', async (t) => {
  // A slot whose connection is lost leaves at once (no grace period, §4.5): PEER_GONE follows the cut.
  const r = await relay(t, { maxBufferedBytes: 256 * 1024, ratePerSecond: 1e6, rateBurst: 1e6, resumeGraceMs: 0 });
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

test('DIRECT reaches the one connection holding the slot, after the room traffic sent before it; nobody else sees a byte of it', async (t) => {
  const r = await relay(t);
  const [a, b, c] = await Promise.all([connect(r.url), connect(r.url), connect(r.url)]);
  a.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  await a.next('GROUP_STATE');
  a.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: R, groupInfo: gi(1) }));
  await a.next('ACK');
  for (const p of [b, c]) {
    p.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
    await p.next('GROUP_STATE');
  }
  const slotB = b.frames.find((f) => f.type === 'JOINED')!;
  assert.equal(slotB.type === 'JOINED' && slotB.slot, 2);
  const cBefore = c.frames.length;

  // A room message, then a direct one to b, then another room message: b reads them in that order.
  const secret = new Uint8Array(300).fill(0x5a);
  a.send(encodeFrame({ type: 'APP', reqId: rq(3), room: R, epoch: asEpoch(0), data: Uint8Array.of(1) }));
  a.send(encodeFrame({ type: 'DIRECT', reqId: rq(4), room: R, to: 2 as never, data: secret }));
  a.send(encodeFrame({ type: 'APP', reqId: rq(5), room: R, epoch: asEpoch(0), data: Uint8Array.of(2) }));
  const acks = [
    await a.next('ACK', (f) => f.reqId === 3),
    await a.next('ACK', (f) => f.reqId === 4),
    await a.next('ACK', (f) => f.reqId === 5),
  ];
  // A DIRECT takes no place in the room's sequence: its ACK carries the room's seq unchanged.
  assert.deepEqual(
    acks.map((f) => f.seq),
    [1, 1, 2],
  );
  const d = await b.next('DIRECT_DELIVER');
  assert.equal(d.from, 1);
  assert.deepEqual(d.room, R);
  assert.deepEqual(d.data, secret);
  const order = b.frames.filter((f) => f.type === 'DELIVER' || f.type === 'DIRECT_DELIVER').map((f) => f.type);
  assert.deepEqual(order, ['DELIVER', 'DIRECT_DELIVER', 'DELIVER']);

  // b answers a; c is still in the room and sees only the two room messages.
  b.send(encodeFrame({ type: 'DIRECT', reqId: rq(6), room: R, to: 1 as never, data: Uint8Array.of(7, 7) }));
  await b.next('ACK', (f) => f.reqId === 6);
  assert.deepEqual((await a.next('DIRECT_DELIVER')).from, 2);
  c.send(encodeFrame({ type: 'SYNC', reqId: rq(7), room: R }));
  await c.next('GROUP_STATE', (f) => f.seq === 2);
  const seenByC = c.frames.slice(cBefore).map((f) => f.type);
  assert.deepEqual(seenByC, ['DELIVER', 'DELIVER', 'GROUP_STATE']);
  for (const p of [a, b, c]) p.ws.close();
});

test('DIRECT counts against the rate limit like any frame, and respects the payload limit', async (t) => {
  const r = await relay(t, { ratePerSecond: 1, rateBurst: 6, maxPayloadBytes: 1000 });
  const [a, b] = await Promise.all([connect(r.url), connect(r.url)]);
  a.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  await a.next('GROUP_STATE');
  a.send(encodeFrame({ type: 'CREATE', reqId: rq(2), room: R, groupInfo: gi(1) }));
  await a.next('ACK');
  b.send(encodeFrame({ type: 'JOIN', reqId: rq(1), room: R }));
  await b.next('GROUP_STATE');
  for (let i = 0; i < 6; i++) a.send(encodeFrame({ type: 'DIRECT', reqId: rq(10 + i), room: R, to: 2 as never, data: Uint8Array.of(i) }));
  const answers = [];
  for (let i = 0; i < 6; i++)
    answers.push(await Promise.race([a.next('ACK', (f) => f.reqId === 10 + i), a.next('ERROR', (f) => f.reqId === 10 + i)]));
  assert.ok(answers.some((f) => f.type === 'ACK'));
  assert.ok(
    answers.some((f) => f.type === 'ERROR' && f.code === ErrorCodes.RATE_LIMITED),
    'over the bucket: refused',
  );
  const delivered = answers.filter((f) => f.type === 'ACK').length;
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(b.frames.filter((f) => f.type === 'DIRECT_DELIVER').length, delivered, 'exactly the acknowledged ones arrived');
  // Larger than the payload limit: a codec error, and the connection is closed.
  a.send(encodeFrame({ type: 'DIRECT', reqId: rq(30), room: R, to: 2 as never, data: new Uint8Array(1001) }));
  assert.equal((await a.next('ERROR', (f) => f.reqId === 0)).code, ErrorCodes.FIELD_TOO_LARGE);
  assert.equal(await a.closed, CloseCodes.MALFORMED);
  b.ws.close();
});

test('DIRECT to a connection that is already closing (its close not yet seen): held for its slot and replayed when it resumes; NO_SUCH_PEER when it cannot resume', () => {
  const peer = (id: number) => {
    const p = {
      id,
      open: true,
      got: [] as RelayFrame[],
      memberships: new Map(),
      send(bytes: Uint8Array) {
        if (!p.open) return false;
        p.got.push(decodeRelayFrame(bytes));
        return true;
      },
    };
    return p satisfies Peer;
  };
  for (const resumeGraceMs of [60_000, 0]) {
    const rooms = new Rooms({ maxMembersPerRoom: 10, maxRoomsPerConnection: 4, resumeGraceMs });
    const [a, b] = [peer(1), peer(2)];
    rooms.handle(a, { type: 'JOIN', reqId: rq(1), room: R });
    rooms.handle(a, { type: 'CREATE', reqId: rq(2), room: R, groupInfo: gi(1) });
    rooms.handle(b, { type: 'JOIN', reqId: rq(1), room: R });
    rooms.handle(a, { type: 'DIRECT', reqId: rq(3), room: R, to: asSlot(2), data: gi(2) });
    assert.deepEqual(a.got.at(-1), { type: 'ACK', reqId: 3, seq: 0 });
    assert.equal(b.got.at(-1)?.type, 'DIRECT_DELIVER');
    const joined = b.got.find((f) => f.type === 'JOINED');
    assert.ok(joined?.type === 'JOINED');
    b.open = false;
    rooms.handle(a, { type: 'DIRECT', reqId: rq(4), room: R, to: asSlot(2), data: gi(3) });
    if (resumeGraceMs === 0) {
      // Its close will end the slot: nothing can be held for it.
      assert.deepEqual(a.got.at(-1), { type: 'ERROR', reqId: 4, code: ErrorCodes.NO_SUCH_PEER });
      assert.equal(a.got.filter((f) => f.type === 'ACK' && f.reqId === 4).length, 0);
      continue;
    }
    // Its close turns the slot away: the frame is held for it, acknowledged, and replayed on RESUME.
    assert.deepEqual(a.got.at(-1), { type: 'ACK', reqId: 4, seq: 0 });
    rooms.drop(b);
    const b2 = peer(3);
    rooms.handle(b2, { type: 'RESUME', reqId: rq(1), room: R, slot: asSlot(2), token: joined.resume, seq: asSeq(0) });
    const replayed = b2.got.filter((f) => f.type === 'DIRECT_DELIVER');
    assert.equal(replayed.length, 1, 'the frame sent while its connection was closing');
    assert.deepEqual(replayed[0]?.type === 'DIRECT_DELIVER' && replayed[0].data, gi(3));
    assert.equal(b2.got.at(-1)?.type, 'RESUMED');
    rooms.dispose();
  }
});
