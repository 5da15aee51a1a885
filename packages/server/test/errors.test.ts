/**
 * One raw-bytes test per error the relay can emit (docs/PROTOCOL.md §6): hand-written frames, the
 * ERROR code and close code asserted, and the relay still serving another connection afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCodes, ErrorCodes, asEpoch, asReqId, encodeFrame } from '@nullroom/protocol';
import { startRelay, type Relay, type RelayLimits } from '../src/index.js';
import { bytes, connect, locator, u32, u64, type RawPeer } from './_raw.js';

const ROOM = [...locator(3)];

async function withRelay(limits: Partial<RelayLimits>, fn: (r: Relay) => Promise<void>): Promise<void> {
  const r = await startRelay({ port: 0, limits });
  try {
    await fn(r);
    // The relay keeps serving: a fresh connection can still join a room.
    const ok = await connect(r.url);
    ok.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room: locator(99) }));
    await ok.next('JOINED');
    ok.ws.close();
  } finally {
    await r.close();
  }
}

async function malformed(r: Relay, frame: Uint8Array, code: keyof typeof ErrorCodes): Promise<void> {
  const p = await connect(r.url);
  p.send(frame);
  const e = await p.next('ERROR');
  assert.equal(e.reqId, 0);
  assert.equal(e.code, ErrorCodes[code]);
  assert.equal(await p.closed, CloseCodes.MALFORMED);
}

async function joined(r: Relay, room = locator(3)): Promise<RawPeer> {
  const p = await connect(r.url);
  p.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room }));
  await p.next('GROUP_STATE');
  return p;
}

async function refused(p: RawPeer, frame: Uint8Array, reqId: number, code: keyof typeof ErrorCodes): Promise<void> {
  p.send(frame);
  const e = await p.next('ERROR', (f) => f.reqId === reqId);
  assert.equal(e.code, ErrorCodes[code]);
  assert.equal(p.ws.readyState, p.ws.OPEN, 'a refused request does not close the connection');
}

test('TRUNCATED: a JOIN cut inside its locator', () =>
  withRelay({}, (r) => malformed(r, bytes(0x01, u32(1), ROOM.slice(0, 10)), 'TRUNCATED')));

test('UNKNOWN_TYPE: type 0x7f, and a relay-only type (DELIVER) sent by a client', () =>
  withRelay({}, async (r) => {
    await malformed(r, bytes(0x7f, u32(1)), 'UNKNOWN_TYPE');
    await malformed(r, bytes(0x45, ROOM, u32(1)), 'UNKNOWN_TYPE');
  }));

test('TRAILING_BYTES: a LEAVE with one byte too many', () =>
  withRelay({}, (r) => malformed(r, bytes(0x05, u32(1), ROOM, 0), 'TRAILING_BYTES')));

test('FIELD_TOO_LARGE: an APP whose declared length exceeds the payload limit', () =>
  withRelay({ maxPayloadBytes: 100 }, (r) =>
    malformed(r, bytes(0x04, u32(1), ROOM, u64(0), u32(101), new Uint8Array(101)), 'FIELD_TOO_LARGE'),
  ));

test('BAD_VALUE: an epoch above 2^53 - 1', () =>
  withRelay({}, (r) => malformed(r, bytes(0x04, u32(1), ROOM, [0x00, 0x20, 0, 0, 0, 0, 0, 0], u32(0)), 'BAD_VALUE')));

test('BAD_VALUE: a text WebSocket message', () =>
  withRelay({}, async (r) => {
    const p = await connect(r.url);
    p.ws.send('hello');
    assert.equal((await p.next('ERROR')).code, ErrorCodes.BAD_VALUE);
    assert.equal(await p.closed, CloseCodes.MALFORMED);
  }));

test('FRAME_TOO_LARGE: a WebSocket message over the frame limit is refused by ws before buffering (1009)', () =>
  withRelay({ maxFrameBytes: 1024 }, async (r) => {
    const p = await connect(r.url);
    p.send(bytes(0x04, u32(1), ROOM, u64(0), u32(2000), new Uint8Array(2000)));
    assert.equal(await p.closed, 1009);
  }));

test('NOT_IN_ROOM: APP to a room never joined', () =>
  withRelay({}, async (r) => {
    const p = await connect(r.url);
    await refused(p, bytes(0x04, u32(9), ROOM, u64(0), u32(1), 0xaa), 9, 'NOT_IN_ROOM');
  }));

test('ALREADY_IN_ROOM: a second JOIN of the same room', () =>
  withRelay({}, async (r) => {
    const p = await joined(r);
    await refused(p, bytes(0x01, u32(2), ROOM), 2, 'ALREADY_IN_ROOM');
  }));

test('ROOM_FULL: one member more than the limit', () =>
  withRelay({ maxMembersPerRoom: 2 }, async (r) => {
    await joined(r);
    await joined(r);
    const third = await connect(r.url);
    await refused(third, bytes(0x01, u32(5), ROOM), 5, 'ROOM_FULL');
  }));

test('TOO_MANY_ROOMS: one room more than the per-connection limit', () =>
  withRelay({ maxRoomsPerConnection: 2 }, async (r) => {
    const p = await connect(r.url);
    for (const n of [1, 2]) {
      p.send(bytes(0x01, u32(n), [...locator(n)]));
      await p.next('JOINED');
    }
    await refused(p, bytes(0x01, u32(3), [...locator(3)]), 3, 'TOO_MANY_ROOMS');
  }));

test('STALE_EPOCH: a COMMIT for an epoch that is not the current one', () =>
  withRelay({}, async (r) => {
    const p = await joined(r);
    p.send(encodeFrame({ type: 'CREATE', reqId: asReqId(2), room: locator(3), groupInfo: Uint8Array.of(1) }));
    await p.next('ACK');
    await refused(p, bytes(0x03, u32(3), ROOM, u64(5), u32(1), 0xcc, u32(1), 0xdd), 3, 'STALE_EPOCH');
  }));

test('NOT_CREATOR: CREATE from a subscriber that was not asked to create', () =>
  withRelay({}, async (r) => {
    await joined(r);
    const second = await joined(r);
    await refused(second, bytes(0x02, u32(4), ROOM, u32(1), 0xee), 4, 'NOT_CREATOR');
  }));

test('NO_GROUP: APP and COMMIT before the group exists', () =>
  withRelay({}, async (r) => {
    const p = await joined(r);
    await refused(p, bytes(0x04, u32(6), ROOM, u64(0), u32(1), 0xaa), 6, 'NO_GROUP');
    await refused(p, bytes(0x03, u32(7), ROOM, u64(0), u32(1), 0xcc, u32(1), 0xdd), 7, 'NO_GROUP');
  }));

test('NO_SUCH_PEER: DIRECT to a slot nobody holds, to one that left, and to oneself', () =>
  withRelay({}, async (r) => {
    const p = await joined(r);
    p.send(encodeFrame({ type: 'CREATE', reqId: asReqId(2), room: locator(3), groupInfo: Uint8Array.of(1) }));
    await p.next('ACK');
    await refused(p, bytes(0x07, u32(3), ROOM, u32(99), u32(1), 0xaa), 3, 'NO_SUCH_PEER');
    const q = await joined(r); // slot 2
    q.send(encodeFrame({ type: 'LEAVE', reqId: asReqId(2), room: locator(3) }));
    await q.next('ACK');
    await refused(p, bytes(0x07, u32(4), ROOM, u32(2), u32(1), 0xaa), 4, 'NO_SUCH_PEER');
    await refused(p, bytes(0x07, u32(5), ROOM, u32(1), u32(1), 0xaa), 5, 'NO_SUCH_PEER');
  }));

test('NOT_IN_ROOM and NO_GROUP for DIRECT: a non-member, and a room whose group does not exist yet', () =>
  withRelay({}, async (r) => {
    const member = await joined(r); // slot 1, asked to create but has not
    const second = await joined(r); // slot 2
    await refused(member, bytes(0x07, u32(6), ROOM, u32(2), u32(1), 0xaa), 6, 'NO_GROUP');
    const outsider = await connect(r.url);
    await refused(outsider, bytes(0x07, u32(7), ROOM, u32(1), u32(1), 0xaa), 7, 'NOT_IN_ROOM');
    assert.equal(
      second.frames.some((f) => f.type === 'DIRECT_DELIVER'),
      false,
    );
  }));

test('CANNOT_RESUME: RESUME of a slot nobody ever held, and with a wrong token', () =>
  withRelay({}, async (r) => {
    const p = await joined(r);
    p.send(encodeFrame({ type: 'CREATE', reqId: asReqId(2), room: locator(3), groupInfo: Uint8Array.of(1) }));
    await p.next('ACK');
    const q = await connect(r.url);
    await refused(q, bytes(0x09, u32(8), ROOM, u32(99), new Uint8Array(32), u64(0)), 8, 'CANNOT_RESUME');
    await refused(q, bytes(0x09, u32(9), ROOM, u32(1), new Uint8Array(32), u64(0)), 9, 'CANNOT_RESUME');
  }));

test('RATE_LIMITED: frames over the bucket are refused, and a flood is closed with 4429', () =>
  withRelay({ ratePerSecond: 1, rateBurst: 5 }, async (r) => {
    const p = await connect(r.url);
    for (let i = 0; i < 5; i++) p.send(encodeFrame({ type: 'SYNC', reqId: asReqId(100 + i), room: locator(3) }));
    p.send(encodeFrame({ type: 'SYNC', reqId: asReqId(200), room: locator(3) }));
    assert.equal((await p.next('ERROR', (f) => f.reqId === 200)).code, ErrorCodes.RATE_LIMITED);
    for (let i = 0; i < 60; i++) p.send(encodeFrame({ type: 'SYNC', reqId: asReqId(300 + i), room: locator(3) }));
    assert.equal(await p.closed, CloseCodes.RATE_LIMITED);
  }));

test('NO_BLOB_STORE: a TICKET to a relay without a blob store; NOT_IN_ROOM: a TICKET for a room not joined', async () => {
  const r = await startRelay({ port: 0, blobs: false });
  try {
    const member = await joined(r);
    await refused(member, bytes(0x08, u32(8), ROOM), 8, 'NO_BLOB_STORE');
    const outsider = await connect(r.url);
    await refused(outsider, bytes(0x08, u32(9), ROOM), 9, 'NOT_IN_ROOM');
  } finally {
    await r.close();
  }
});

test('every relay error code has a raw-bytes test above', () => {
  const covered = [
    'TRUNCATED',
    'UNKNOWN_TYPE',
    'TRAILING_BYTES',
    'FRAME_TOO_LARGE',
    'FIELD_TOO_LARGE',
    'BAD_VALUE',
    'NOT_IN_ROOM',
    'ALREADY_IN_ROOM',
    'ROOM_FULL',
    'TOO_MANY_ROOMS',
    'STALE_EPOCH',
    'NOT_CREATOR',
    'NO_GROUP',
    'NO_SUCH_PEER',
    'CANNOT_RESUME',
    'RATE_LIMITED',
    // In budget.test.ts.
    'OVER_BUDGET',
    'TOO_MANY_NEW_ROOMS',
    'ADDRESS_LIMIT',
    'NO_BLOB_STORE',
  ];
  // INTERNAL is the catch-all for a relay bug: no input is supposed to reach it.
  assert.deepEqual(
    Object.keys(ErrorCodes).filter((c) => !covered.includes(c)),
    ['INTERNAL'],
  );
  void asEpoch;
});
