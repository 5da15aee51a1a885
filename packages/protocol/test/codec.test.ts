/**
 * The frame codec of docs/PROTOCOL.md §4: every frame type round-trips, its size is announced
 * exactly, its bytes follow the documented layout, and each direction refuses the other's frames.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type Frame,
  type FrameTypeName,
  ProtocolError,
  FrameType,
  clientFrameTypes,
  decodeClientFrame,
  decodeFrame,
  decodeRelayFrame,
  encodeFrame,
  encodedSize,
} from '../src/index.js';
import { allSamples, be, bytesOf, clientTypes, locator, raw, relayTypes, samples, wireType } from './_frames.js';

const PAYLOAD_FIELDS = new Set(['groupInfo', 'commit', 'data']);

/** The documented layout of each frame, written out by hand (PROTOCOL.md §4), for the samples. */
const layouts: Record<FrameTypeName, Uint8Array> = {
  JOIN: raw([0x01], be.u32(0x01020304), be.locator(1)),
  CREATE: raw([0x02], be.u32(7), be.locator(2), be.u32(100), Array.from(bytesOf(100, 1))),
  COMMIT: raw(
    [0x03],
    be.u32(0xffff_ffff),
    be.locator(3),
    be.u64(0x1f_ffff, 0xffff_ffff),
    be.u32(33),
    Array.from(bytesOf(33, 2)),
    be.u32(17),
    Array.from(bytesOf(17, 3)),
  ),
  APP: raw([0x04], be.u32(9), be.locator(4), be.u64(1, 1), be.u32(1024), Array.from(bytesOf(1024, 4))),
  LEAVE: raw([0x05], be.u32(0), be.locator(5)),
  SYNC: raw([0x06], be.u32(11), be.locator(6)),
  DIRECT: raw([0x07], be.u32(0x0a0b0c0d), be.locator(11), be.u32(0xfeed_f00d), be.u32(300), Array.from(bytesOf(300, 6))),
  // The resume token is a fixed 32 bytes, no length prefix.
  JOINED: raw([0x41], be.u32(12), be.locator(7), be.u32(0xdead_beef), be.u32(1000), Array.from(bytesOf(32, 10))),
  RESUME: raw([0x09], be.u32(0x0c0ffee0), be.locator(15), be.u32(0xabcd_0123), Array.from(bytesOf(32, 9)), be.u64(0x10_0000, 5)),
  RESUMED: raw([0x49], be.u32(0x7fff_fff1), be.locator(16), be.u64(2, 1), be.u64(8, 9)),
  GROUP_STATE: raw([0x42], be.locator(8), [2], be.u64(0, 5), be.u64(0x100, 3), be.u32(0)),
  DELIVER: raw([0x43], be.locator(9), be.u64(0, 77), [1], be.u64(0, 78), be.u32(79), be.u32(5), Array.from(bytesOf(5, 5))),
  ACK: raw([0x44], be.u32(13), be.u64(0, 0xffff_ffff)),
  PEER_GONE: raw([0x45], be.locator(10), be.u32(3)),
  ERROR: raw([0x46], be.u32(14), be.u16(0xfffe)),
  DIRECT_DELIVER: raw([0x47], be.locator(12), be.u32(0x8000_0001), be.u32(7), Array.from(bytesOf(7, 7))),
  TICKET: raw([0x08], be.u32(0x0badf00d), be.locator(13)),
  // The ticket is a fixed 32 bytes, no length prefix.
  TICKET_GRANT: raw([0x48], be.u32(0xfeed_beef), be.locator(14), Array.from(bytesOf(32, 8))),
};

function payloadsOf(f: Frame): [string, Uint8Array][] {
  return Object.entries(f).filter(([k]) => PAYLOAD_FIELDS.has(k)) as [string, Uint8Array][];
}

describe('frame codec round trip (PROTOCOL.md §4)', () => {
  for (const frame of allSamples) {
    test(`${frame.type}: decode(encode(f)) equals f, size is exact, layout is as documented`, () => {
      const bytes = encodeFrame(frame);
      assert.equal(encodedSize(frame), bytes.byteLength);
      assert.equal(bytes[0], wireType[frame.type]);
      assert.deepEqual(bytes, layouts[frame.type], 'wire layout');
      const back = decodeFrame(bytes);
      assert.deepEqual(back, frame);
      // Payloads come back as views into the received buffer, with the right bytes.
      for (const [name, payload] of payloadsOf(back)) {
        assert.ok(payload instanceof Uint8Array, name);
        assert.equal(payload.buffer, bytes.buffer, `${name} is a view, not a copy`);
        assert.deepEqual(payload, (frame as unknown as Record<string, Uint8Array>)[name], name);
      }
      if ('room' in back) assert.equal(back.room.buffer, bytes.buffer, 'room is a view');
    });
  }

  test('decodes a frame that sits at an offset inside a larger buffer', () => {
    for (const frame of allSamples) {
      const bytes = encodeFrame(frame);
      const big = new Uint8Array(bytes.byteLength + 19).fill(0xee);
      big.set(bytes, 11);
      const view = big.subarray(11, 11 + bytes.byteLength);
      const back = decodeFrame(view);
      assert.deepEqual(back, frame, frame.type);
      for (const [name, payload] of payloadsOf(back)) assert.equal(payload.buffer, big.buffer, name);
    }
  });

  test('empty payloads and payloads of exactly maxPayloadBytes round-trip', () => {
    const limits = { maxFrameBytes: 1 + 32 + 8 + 1 + 8 + 4 + 4 + 64, maxPayloadBytes: 64 };
    for (const len of [0, 1, 64]) {
      const f: Frame = { ...samples.DELIVER, data: bytesOf(len, len) };
      const bytes = encodeFrame(f);
      assert.deepEqual(decodeFrame(bytes, limits), f, `len ${len}`);
    }
    // A frame of exactly maxFrameBytes is accepted.
    const exact = encodeFrame({ ...samples.DELIVER, data: bytesOf(64, 1) });
    assert.equal(exact.byteLength, limits.maxFrameBytes);
    assert.equal(decodeFrame(exact, limits).type, 'DELIVER');
  });

  test('the boundaries of every integer field round-trip', () => {
    const frames: Frame[] = [
      { ...samples.JOINED, reqId: samples.JOIN.reqId, slot: samples.PEER_GONE.slot, members: 0 },
      { ...samples.JOINED, slot: 0xffff_ffff as never, members: 0xffff_ffff },
      { ...samples.ERROR, code: 0 },
      { ...samples.ERROR, code: 0xffff },
      { ...samples.ACK, seq: 0 as never },
      { ...samples.ACK, seq: (2 ** 53 - 1) as never },
      { ...samples.ACK, seq: (2 ** 32) as never },
      { ...samples.GROUP_STATE, status: 0 },
      { ...samples.GROUP_STATE, status: 1 },
      { ...samples.DELIVER, kind: 2 },
      { ...samples.DIRECT, to: 0 as never },
      { ...samples.DIRECT, to: 0xffff_ffff as never, data: bytesOf(0, 0) },
      { ...samples.DIRECT_DELIVER, from: 0 as never },
      { ...samples.DIRECT_DELIVER, from: 0xffff_ffff as never },
    ];
    for (const f of frames) assert.deepEqual(decodeFrame(encodeFrame(f)), f);
  });

  test('encoding copies: changing the frame afterwards does not change the bytes', () => {
    const data = bytesOf(8, 3);
    const f: Frame = { ...samples.APP, data };
    const bytes = encodeFrame(f);
    const before = bytes.slice();
    data.fill(0);
    assert.deepEqual(bytes, before);
  });
});

describe('frame type tables', () => {
  test('FrameType matches the documented type bytes', () => {
    assert.deepEqual({ ...FrameType }, wireType);
  });
  test('clientFrameTypes is exactly the client -> relay frames', () => {
    assert.deepEqual([...clientFrameTypes].sort(), [...clientTypes].sort());
  });
});

describe("direction: each side refuses the other side's frames", () => {
  const isUnknownType = (e: unknown) => e instanceof ProtocolError && e.code === 'UNKNOWN_TYPE' && e.wireCode === 2;

  for (const t of clientTypes) {
    test(`${t}: decodeClientFrame accepts it, decodeRelayFrame says UNKNOWN_TYPE`, () => {
      const bytes = encodeFrame(samples[t]);
      assert.deepEqual(decodeClientFrame(bytes), samples[t]);
      assert.throws(() => decodeRelayFrame(bytes), isUnknownType);
    });
  }
  for (const t of relayTypes) {
    test(`${t}: decodeRelayFrame accepts it, decodeClientFrame says UNKNOWN_TYPE`, () => {
      const bytes = encodeFrame(samples[t]);
      assert.deepEqual(decodeRelayFrame(bytes), samples[t]);
      assert.throws(() => decodeClientFrame(bytes), isUnknownType);
    });
  }

  test('the direction decoders pass their limits through', () => {
    const bytes = encodeFrame(samples.APP);
    const small = { maxFrameBytes: bytes.byteLength - 1, maxPayloadBytes: 4096 };
    assert.throws(
      () => decodeClientFrame(bytes, small),
      (e: unknown) => e instanceof ProtocolError && e.code === 'FRAME_TOO_LARGE',
    );
    const relay = encodeFrame(samples.DELIVER);
    assert.throws(
      () => decodeRelayFrame(relay, { maxFrameBytes: 4096, maxPayloadBytes: 4 }),
      (e: unknown) => e instanceof ProtocolError && e.code === 'FIELD_TOO_LARGE' && e.field === 'data',
    );
  });
});

test('sample locators differ (fixtures sanity)', () => {
  assert.notDeepEqual(locator(1), locator(2));
});
