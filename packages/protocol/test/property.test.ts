/**
 * Property tests (fast-check) for the frame codec of docs/PROTOCOL.md §4:
 *  (a) every valid frame survives encode -> decode unchanged;
 *  (b) any byte string, random or a mutation of a valid encoding, either decodes to a frame whose
 *      re-encoding is exactly those bytes (the encoding is canonical), or throws a ProtocolError
 *      with a codec code; never any other exception.
 * Run counts are chosen so that the whole file stays well under five seconds.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  type CodecLimits,
  type ErrorName,
  type Frame,
  type FrameTypeName,
  ProtocolError,
  asEpoch,
  asLocator,
  asReqId,
  asSeq,
  asSlot,
  clientFrameTypes,
  decodeClientFrame,
  decodeFrame,
  decodeRelayFrame,
  encodeFrame,
  encodedSize,
  FrameType,
} from '../src/index.js';

// --- arbitraries for every frame type ---
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** u64 fields: any safe integer, with the 32-bit and 53-bit edges drawn often. */
const u64 = fc.oneof(fc.maxSafeNat(), u32, fc.constantFrom(0, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1));
const reqId = u32.map(asReqId);
const slot = u32.map(asSlot);
const epoch = u64.map(asEpoch);
const seq = u64.map(asSeq);
const room = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(asLocator);
const payload = fc.uint8Array({ maxLength: 80 });

/** fc.record draws null-prototype objects; the decoder returns plain ones, and deepEqual compares prototypes. */
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(model).map((r) => ({ ...r }) as T);

const frameArbs: { [K in FrameTypeName]: fc.Arbitrary<Extract<Frame, { type: K }>> } = {
  JOIN: rec({ type: fc.constant('JOIN' as const), reqId, room }),
  CREATE: rec({ type: fc.constant('CREATE' as const), reqId, room, groupInfo: payload }),
  COMMIT: rec({ type: fc.constant('COMMIT' as const), reqId, room, epoch, commit: payload, groupInfo: payload }),
  APP: rec({ type: fc.constant('APP' as const), reqId, room, epoch, data: payload }),
  LEAVE: rec({ type: fc.constant('LEAVE' as const), reqId, room }),
  SYNC: rec({ type: fc.constant('SYNC' as const), reqId, room }),
  DIRECT: rec({ type: fc.constant('DIRECT' as const), reqId, room, to: slot, data: payload }),
  TICKET: rec({ type: fc.constant('TICKET' as const), reqId, room }),
  RESUME: rec({ type: fc.constant('RESUME' as const), reqId, room, slot, token: fc.uint8Array({ minLength: 32, maxLength: 32 }), seq }),
  JOINED: rec({
    type: fc.constant('JOINED' as const),
    reqId,
    room,
    slot,
    members: u32,
    resume: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  }),
  RESUMED: rec({ type: fc.constant('RESUMED' as const), reqId, room, epoch, seq }),
  GROUP_STATE: rec({
    type: fc.constant('GROUP_STATE' as const),
    room,
    status: fc.constantFrom(0 as const, 1 as const, 2 as const),
    epoch,
    seq,
    groupInfo: payload,
  }),
  DELIVER: rec({
    type: fc.constant('DELIVER' as const),
    room,
    seq,
    kind: fc.constantFrom(1 as const, 2 as const),
    epoch,
    from: slot,
    data: payload,
  }),
  ACK: rec({ type: fc.constant('ACK' as const), reqId, seq }),
  PEER_GONE: rec({ type: fc.constant('PEER_GONE' as const), room, slot }),
  ERROR: rec({ type: fc.constant('ERROR' as const), reqId, code: u16 }),
  DIRECT_DELIVER: rec({ type: fc.constant('DIRECT_DELIVER' as const), room, from: slot, data: payload }),
  TICKET_GRANT: rec({ type: fc.constant('TICKET_GRANT' as const), reqId, room, ticket: fc.uint8Array({ minLength: 32, maxLength: 32 }) }),
};
const anyFrame: fc.Arbitrary<Frame> = fc.oneof(...(Object.values(frameArbs) as fc.Arbitrary<Frame>[]));

const CODEC_CODES: ReadonlySet<ErrorName> = new Set([
  'TRUNCATED',
  'UNKNOWN_TYPE',
  'TRAILING_BYTES',
  'FRAME_TOO_LARGE',
  'FIELD_TOO_LARGE',
  'BAD_VALUE',
]);

/** What the decoders did across a property's runs: how many inputs decoded, and each error code seen. */
class Tally {
  decoded = 0;
  readonly codes = new Map<ErrorName, number>();
  add(code: ErrorName) {
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
  }
}

/**
 * The decoder contract on one input: a frame that re-encodes to exactly the input, or a
 * ProtocolError with a codec code. Any other exception fails the property. The direction
 * decoders obey the same contract and agree with decodeFrame.
 */
function decodesCanonicallyOrRefuses(bytes: Uint8Array, limits: CodecLimits | undefined, tally?: Tally): void {
  let frame: Frame;
  try {
    frame = decodeFrame(bytes, limits);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    assert.ok(CODEC_CODES.has(e.code), `codec error, not ${e.code}`);
    tally?.add(e.code);
    // The direction decoders refuse the same bytes with the same code.
    for (const dec of [decodeClientFrame, decodeRelayFrame]) {
      assert.throws(
        () => dec(bytes, limits),
        (e2: unknown) => e2 instanceof ProtocolError && e2.code === e.code,
      );
    }
    return;
  }
  if (tally) tally.decoded++;
  const again = encodeFrame(frame);
  assert.equal(encodedSize(frame), again.byteLength);
  assert.deepEqual(again, bytes);
  const isClient = clientFrameTypes.has(frame.type);
  const [accepts, refuses] = isClient ? [decodeClientFrame, decodeRelayFrame] : [decodeRelayFrame, decodeClientFrame];
  assert.deepEqual(accepts(bytes, limits), frame);
  assert.throws(
    () => refuses(bytes, limits),
    (e: unknown) => e instanceof ProtocolError && e.code === 'UNKNOWN_TYPE',
  );
}

/** Limits: mostly the defaults, sometimes small enough to trip FRAME_TOO_LARGE and FIELD_TOO_LARGE. */
const limitsArb: fc.Arbitrary<CodecLimits | undefined> = fc.option(
  fc.record({ maxFrameBytes: fc.integer({ min: 0, max: 400 }), maxPayloadBytes: fc.integer({ min: 0, max: 100 }) }),
  { freq: 3, nil: undefined },
);

/** One mutation of a valid encoding. */
type Mutation =
  | { kind: 'flip'; at: [index: number, mask: number][] }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'append'; extra: Uint8Array }
  | { kind: 'splice'; at: number; drop: number; insert: Uint8Array };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x01, 0x03, 0x20, 0x7f, 0x80, 0xff) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), drop: fc.nat({ max: 8 }), insert: fc.uint8Array({ maxLength: 8 }) }),
);

function mutate(valid: Uint8Array, m: Mutation): Uint8Array {
  const n = valid.byteLength;
  switch (m.kind) {
    case 'flip': {
      const out = valid.slice();
      for (const [i, mask] of m.at) out[i % n]! ^= mask;
      return out;
    }
    case 'set': {
      const out = valid.slice();
      out[m.at % n] = m.value;
      return out;
    }
    case 'truncate':
      return valid.slice(0, m.keep % n);
    case 'append': {
      const out = new Uint8Array(n + m.extra.byteLength);
      out.set(valid);
      out.set(m.extra, n);
      return out;
    }
    case 'splice': {
      const at = m.at % (n + 1);
      return Uint8Array.from([...valid.subarray(0, at), ...m.insert, ...valid.subarray(at + m.drop)]);
    }
  }
}

describe('codec properties (fast-check)', () => {
  test('(a) decode(encode(f)) deep-equals f for arbitrary valid frames of every type', () => {
    fc.assert(
      fc.property(anyFrame, (f) => {
        const bytes = encodeFrame(f);
        assert.equal(bytes.byteLength, encodedSize(f));
        assert.equal(bytes[0], FrameType[f.type]);
        assert.deepEqual(decodeFrame(bytes), f);
      }),
      { numRuns: 5000 },
    );
  });

  test('(a) every type is drawn and round-trips through its direction decoder', () => {
    for (const [type, arb] of Object.entries(frameArbs) as [FrameTypeName, fc.Arbitrary<Frame>][]) {
      fc.assert(
        fc.property(arb, (f) => {
          const bytes = encodeFrame(f);
          const back = clientFrameTypes.has(type) ? decodeClientFrame(bytes) : decodeRelayFrame(bytes);
          assert.deepEqual(back, f);
        }),
        { numRuns: 150 },
      );
    }
  });

  test('(a) every strict prefix of a valid encoding is TRUNCATED; any suffix is TRAILING_BYTES', () => {
    fc.assert(
      fc.property(anyFrame, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 32 }), (f, cut, extra) => {
        const bytes = encodeFrame(f);
        const prefix = bytes.subarray(0, cut % bytes.byteLength);
        assert.throws(
          () => decodeFrame(prefix),
          (e: unknown) => e instanceof ProtocolError && e.code === 'TRUNCATED',
        );
        const longer = new Uint8Array(bytes.byteLength + extra.byteLength);
        longer.set(bytes);
        longer.set(extra, bytes.byteLength);
        assert.throws(
          () => decodeFrame(longer),
          (e: unknown) => e instanceof ProtocolError && e.code === 'TRAILING_BYTES',
        );
      }),
      { numRuns: 1000 },
    );
  });

  test('(b) arbitrary bytes (0..300): canonical frame or ProtocolError, nothing else', () => {
    const tally = new Tally();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), limitsArb, (bytes, limits) => decodesCanonicallyOrRefuses(bytes, limits, tally)),
      { numRuns: 10_000 },
    );
    assert.ok(tally.codes.has('UNKNOWN_TYPE') && tally.codes.has('TRUNCATED'));
  });

  test('(b) a known type byte followed by arbitrary bytes: canonical frame or ProtocolError', () => {
    const types = Object.values(FrameType);
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 299 }), limitsArb, (t, tail, limits) => {
        const bytes = new Uint8Array(1 + tail.byteLength);
        bytes[0] = t;
        bytes.set(tail, 1);
        decodesCanonicallyOrRefuses(bytes, limits);
      }),
      { numRuns: 10_000 },
    );
  });

  test('(b) mutations of valid encodings (flips, truncations, appends, splices): canonical frame or ProtocolError', () => {
    const tally = new Tally();
    fc.assert(
      fc.property(anyFrame, mutationArb, limitsArb, (f, m, limits) => {
        decodesCanonicallyOrRefuses(mutate(encodeFrame(f), m), limits, tally);
      }),
      { numRuns: 20_000 },
    );
    // The property is not vacuous: mutated inputs both decode and fail, with every codec code.
    assert.ok(tally.decoded > 100, `only ${tally.decoded} mutated inputs decoded`);
    for (const code of CODEC_CODES) assert.ok(tally.codes.has(code), `no mutation produced ${code}`);
  });
});
