/**
 * One raw-bytes test per codec error code (docs/PROTOCOL.md §6): each input is written by hand,
 * never produced by the encoder, and must fail with exactly that code, naming the field at fault
 * and never its value. Then the encoder's BAD_VALUE refusals and the error tables themselves.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type CodecLimits,
  type ErrorName,
  type Frame,
  ErrorCodes,
  ProtocolError,
  decodeFrame,
  defaultCodecLimits,
  encodeFrame,
  errorMessageOf,
  errorNameOf,
} from '../src/index.js';
import { be, raw, samples } from './_frames.js';

/** Asserts `fn` throws ProtocolError(code[, field]) whose message is the fixed text for that code. */
function throwsCode(fn: () => unknown, code: ErrorName, field?: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown instanceof ProtocolError, `expected ProtocolError(${code}), got ${String(thrown)}`);
  assert.equal(thrown.code, code);
  assert.equal(thrown.wireCode, ErrorCodes[code]);
  assert.equal(thrown.name, 'ProtocolError');
  if (field !== undefined) assert.equal(thrown.field, field);
  // The message is the fixed text, plus at most the field's name: never a value.
  const expected = thrown.field === undefined ? errorMessageOf(code) : `${errorMessageOf(code)} (${thrown.field})`;
  assert.equal(thrown.message, expected);
}

const decode = (bytes: number[] | Uint8Array, limits?: CodecLimits) => () =>
  decodeFrame(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes), limits);

describe('decoder: one raw-bytes test per error code', () => {
  test('TRUNCATED: the frame ends before a field is complete', () => {
    throwsCode(decode([]), 'TRUNCATED', 'type');
    throwsCode(decode([0x01, 0x00, 0x00, 0x00]), 'TRUNCATED', 'reqId'); // JOIN, reqId 3 of 4 bytes
    throwsCode(decode(raw([0x01], be.u32(1), be.locator(0).slice(0, 31))), 'TRUNCATED', 'room');
    throwsCode(decode([0x46, 0, 0, 0, 1, 0x00]), 'TRUNCATED', 'code'); // ERROR, code 1 of 2 bytes
    throwsCode(decode(raw([0x44], be.u32(1), [0, 0, 0, 0, 0, 0, 0])), 'TRUNCATED', 'seq'); // ACK, seq 7 of 8 bytes
    // CREATE declares 10 payload bytes but carries 2.
    throwsCode(decode(raw([0x02], be.u32(1), be.locator(0), be.u32(10), [0xaa, 0xbb])), 'TRUNCATED', 'groupInfo');
    // CREATE whose length prefix itself is cut short.
    throwsCode(decode(raw([0x02], be.u32(1), be.locator(0), [0, 0])), 'TRUNCATED', 'groupInfo');
    // DIRECT: the target slot cut after 2 bytes; DIRECT_DELIVER declaring 4 data bytes, carrying 1.
    throwsCode(decode(raw([0x07], be.u32(1), be.locator(0), [0, 0])), 'TRUNCATED', 'to');
    throwsCode(decode(raw([0x47], be.locator(0), be.u32(2), be.u32(4), [0x61])), 'TRUNCATED', 'data');
    // TICKET_GRANT: a ticket of 31 bytes (it has no length prefix: exactly 32).
    throwsCode(decode(raw([0x48], be.u32(1), be.locator(0), new Array(31).fill(7))), 'TRUNCATED', 'ticket');
    // COMMIT: first payload complete, second missing entirely.
    throwsCode(decode(raw([0x03], be.u32(1), be.locator(0), be.u64(0, 1), be.u32(1), [0x55])), 'TRUNCATED', 'groupInfo');
  });

  test('UNKNOWN_TYPE: a type byte no frame has', () => {
    for (const t of [0x00, 0x0a, 0x40, 0x4a, 0x81, 0xff]) {
      throwsCode(decode([t]), 'UNKNOWN_TYPE');
      throwsCode(decode(raw([t], be.u32(1), be.locator(0))), 'UNKNOWN_TYPE');
    }
  });

  test('TRAILING_BYTES: bytes after the last field', () => {
    throwsCode(decode(raw([0x46], be.u32(1), be.u16(6), [0x00])), 'TRAILING_BYTES'); // ERROR + 1
    throwsCode(decode(raw([0x05], be.u32(1), be.locator(0), [1, 2, 3])), 'TRAILING_BYTES'); // LEAVE + 3
    throwsCode(decode(raw([0x07], be.u32(1), be.locator(0), be.u32(2), be.u32(1), [0x61, 0x62])), 'TRAILING_BYTES'); // DIRECT, data 1 + 1
    // DELIVER whose payload length says 1 but 2 bytes follow.
    throwsCode(decode(raw([0x43], be.locator(0), be.u64(0, 1), [2], be.u64(0, 1), be.u32(1), be.u32(1), [0x61, 0x62])), 'TRAILING_BYTES');
  });

  test('FRAME_TOO_LARGE: checked on the byte count before anything is read', () => {
    const limits = { maxFrameBytes: 7, maxPayloadBytes: 4 };
    const error7 = raw([0x46], be.u32(1), be.u16(6)); // a valid 7-byte ERROR frame
    assert.equal(decodeFrame(error7, limits).type, 'ERROR');
    // One more byte: FRAME_TOO_LARGE wins over TRAILING_BYTES ...
    throwsCode(decode(raw([0x46], be.u32(1), be.u16(6), [0]), limits), 'FRAME_TOO_LARGE');
    // ... and over UNKNOWN_TYPE: the type byte is not even looked at.
    throwsCode(decode([0x00, 0, 0, 0, 0, 0, 0, 0], limits), 'FRAME_TOO_LARGE');
    throwsCode(decode(new Uint8Array(1000), limits), 'FRAME_TOO_LARGE');
    // The default limit: 2 MiB.
    throwsCode(decode(new Uint8Array(defaultCodecLimits.maxFrameBytes + 1)), 'FRAME_TOO_LARGE');
  });

  test('FIELD_TOO_LARGE: a declared length above maxPayloadBytes, before the bytes exist', () => {
    // CREATE declaring 2^32 - 1 payload bytes and carrying none: the limit, not TRUNCATED.
    throwsCode(decode(raw([0x02], be.u32(1), be.locator(0), be.u32(0xffff_ffff))), 'FIELD_TOO_LARGE', 'groupInfo');
    // Just above the default limit, still with no bytes behind it.
    throwsCode(
      decode(raw([0x02], be.u32(1), be.locator(0), be.u32(defaultCodecLimits.maxPayloadBytes + 1))),
      'FIELD_TOO_LARGE',
      'groupInfo',
    );
    // Small custom limits: 5 declared and present, limit 4.
    const limits = { maxFrameBytes: 1024, maxPayloadBytes: 4 };
    throwsCode(decode(raw([0x02], be.u32(1), be.locator(0), be.u32(5), [1, 2, 3, 4, 5]), limits), 'FIELD_TOO_LARGE', 'groupInfo');
    assert.equal(decodeFrame(raw([0x02], be.u32(1), be.locator(0), be.u32(4), [1, 2, 3, 4]), limits).type, 'CREATE');
    // A DIRECT's data, against the same limit as APP's.
    throwsCode(decode(raw([0x07], be.u32(1), be.locator(0), be.u32(2), be.u32(5), [1, 2, 3, 4, 5]), limits), 'FIELD_TOO_LARGE', 'data');
    // The second payload of a COMMIT is checked too.
    throwsCode(
      decode(raw([0x03], be.u32(1), be.locator(0), be.u64(0, 1), be.u32(1), [9], be.u32(5)), limits),
      'FIELD_TOO_LARGE',
      'groupInfo',
    );
  });

  test('BAD_VALUE: u64 above 2^53 - 1', () => {
    // ACK seq = 2^53 (hi word 0x00200000): one above the largest safe integer.
    throwsCode(decode(raw([0x44], be.u32(1), be.u64(0x0020_0000, 0))), 'BAD_VALUE', 'seq');
    throwsCode(decode(raw([0x44], be.u32(1), be.u64(0xffff_ffff, 0xffff_ffff))), 'BAD_VALUE', 'seq');
    // 2^53 - 1 itself is fine.
    const ok = decodeFrame(raw([0x44], be.u32(1), be.u64(0x001f_ffff, 0xffff_ffff)));
    assert.equal(ok.type === 'ACK' && ok.seq, Number.MAX_SAFE_INTEGER);
    // COMMIT epoch.
    throwsCode(decode(raw([0x03], be.u32(1), be.locator(0), be.u64(0x8000_0000, 0), be.u32(0), be.u32(0))), 'BAD_VALUE', 'epoch');
  });

  test('BAD_VALUE: GROUP_STATE status 3', () => {
    throwsCode(decode(raw([0x42], be.locator(0), [3], be.u64(0, 1), be.u64(0, 1), be.u32(0))), 'BAD_VALUE', 'status');
    throwsCode(decode(raw([0x42], be.locator(0), [0xff], be.u64(0, 1), be.u64(0, 1), be.u32(0))), 'BAD_VALUE', 'status');
    // Checked as soon as the field is read, before the rest of the frame.
    throwsCode(decode(raw([0x42], be.locator(0), [3])), 'BAD_VALUE', 'status');
  });

  test('BAD_VALUE: DELIVER kind 0 and 3', () => {
    for (const kind of [0, 3, 0xff]) {
      throwsCode(decode(raw([0x43], be.locator(0), be.u64(0, 1), [kind], be.u64(0, 1), be.u32(1), be.u32(1), [0x61])), 'BAD_VALUE', 'kind');
    }
  });
});

describe('encoder: BAD_VALUE for what the wire cannot carry', () => {
  const cases: [label: string, frame: unknown, field: string][] = [
    ['reqId -1', { ...samples.JOIN, reqId: -1 }, 'reqId'],
    ['reqId 2^32', { ...samples.JOIN, reqId: 2 ** 32 }, 'reqId'],
    ['reqId 1.5', { ...samples.JOIN, reqId: 1.5 }, 'reqId'],
    ['reqId NaN', { ...samples.JOIN, reqId: Number.NaN }, 'reqId'],
    ['reqId as a string', { ...samples.JOIN, reqId: '1' }, 'reqId'],
    ['slot Infinity', { ...samples.PEER_GONE, slot: Infinity }, 'slot'],
    ['DIRECT to -1', { ...samples.DIRECT, to: -1 }, 'to'],
    ['DIRECT to 2^32', { ...samples.DIRECT, to: 2 ** 32 }, 'to'],
    ['DIRECT_DELIVER from 1.5', { ...samples.DIRECT_DELIVER, from: 1.5 }, 'from'],
    ['TICKET_GRANT ticket of 16 bytes', { ...samples.TICKET_GRANT, ticket: new Uint8Array(16) }, 'ticket'],
    ['TICKET_GRANT ticket of 33 bytes', { ...samples.TICKET_GRANT, ticket: new Uint8Array(33) }, 'ticket'],
    ['TICKET_GRANT ticket as an array', { ...samples.TICKET_GRANT, ticket: new Array(32).fill(0) }, 'ticket'],
    ['members -1', { ...samples.JOINED, members: -1 }, 'members'],
    ['ERROR code 2^16', { ...samples.ERROR, code: 0x1_0000 }, 'code'],
    ['ERROR code -1', { ...samples.ERROR, code: -1 }, 'code'],
    ['GROUP_STATE status 3', { ...samples.GROUP_STATE, status: 3 }, 'status'],
    ['GROUP_STATE status -1', { ...samples.GROUP_STATE, status: -1 }, 'status'],
    ['DELIVER kind 0', { ...samples.DELIVER, kind: 0 }, 'kind'],
    ['DELIVER kind 3', { ...samples.DELIVER, kind: 3 }, 'kind'],
    ['locator of 31 bytes', { ...samples.JOIN, room: new Uint8Array(31) }, 'room'],
    ['locator of 33 bytes', { ...samples.SYNC, room: new Uint8Array(33) }, 'room'],
    ['locator of 0 bytes', { ...samples.LEAVE, room: new Uint8Array(0) }, 'room'],
    ['locator as a plain array', { ...samples.JOIN, room: Array.from(new Uint8Array(32)) }, 'room'],
  ];
  for (const [label, frame, field] of cases) {
    test(label, () => throwsCode(() => encodeFrame(frame as Frame), 'BAD_VALUE', field));
  }

  // The u64 check lives in the Writer, which names the kind rather than the field.
  const u64cases: [string, unknown][] = [
    ['epoch 2^53', { ...samples.APP, epoch: 2 ** 53 }],
    ['epoch -1', { ...samples.APP, epoch: -1 }],
    ['epoch 0.5', { ...samples.COMMIT, epoch: 0.5 }],
    ['seq NaN', { ...samples.ACK, seq: Number.NaN }],
    ['seq Infinity', { ...samples.DELIVER, seq: Infinity }],
  ];
  for (const [label, frame] of u64cases) {
    test(label, () => throwsCode(() => encodeFrame(frame as Frame), 'BAD_VALUE'));
  }
  test('epoch as a bigint or string', () => {
    throwsCode(() => encodeFrame({ ...samples.APP, epoch: 5n } as unknown as Frame), 'BAD_VALUE', 'epoch');
    throwsCode(() => encodeFrame({ ...samples.APP, epoch: '5' } as unknown as Frame), 'BAD_VALUE', 'epoch');
  });

  // A payload that is not a Uint8Array must be BAD_VALUE naming the field, not a RangeError from
  // sizing the buffer (encodedSize checks the type before it reads the length).
  test('payload that is not a Uint8Array', () => {
    throwsCode(() => encodeFrame({ ...samples.CREATE, groupInfo: 'abc' } as unknown as Frame), 'BAD_VALUE', 'groupInfo');
    throwsCode(() => encodeFrame({ ...samples.APP, data: undefined } as unknown as Frame), 'BAD_VALUE', 'data');
  });
});

describe('error tables', () => {
  const names = Object.keys(ErrorCodes) as ErrorName[];

  test('errorNameOf maps every code back to its name', () => {
    for (const name of names) assert.equal(errorNameOf(ErrorCodes[name]), name);
  });

  test('codes are distinct and unknown codes have no name', () => {
    const codes = names.map((n) => ErrorCodes[n]);
    assert.equal(new Set(codes).size, codes.length);
    for (const c of [0, 7, 9, 21, 31, 255, 0xffff, -1, 1.5, Number.NaN]) assert.equal(errorNameOf(c), undefined, String(c));
  });

  test('the codec codes are 1..6, as documented', () => {
    assert.deepEqual(
      ['TRUNCATED', 'UNKNOWN_TYPE', 'TRAILING_BYTES', 'FRAME_TOO_LARGE', 'FIELD_TOO_LARGE', 'BAD_VALUE'].map(
        (n) => ErrorCodes[n as ErrorName],
      ),
      [1, 2, 3, 4, 5, 6],
    );
  });

  test('errorMessageOf gives every code its own fixed, non-empty message', () => {
    const messages = names.map((n) => errorMessageOf(n));
    for (const [i, m] of messages.entries()) {
      assert.equal(typeof m, 'string', names[i]);
      assert.ok(m.length > 0, names[i]);
      assert.doesNotMatch(m, /\$\{|%[sd]|\{\}/, `${names[i]} has no placeholders`);
    }
    assert.equal(new Set(messages).size, messages.length, 'messages are distinct');
  });

  test('a ProtocolError carries name, code, wire code and field; its message never carries a value', () => {
    for (const name of names) {
      const bare = new ProtocolError(name);
      assert.equal(bare.message, errorMessageOf(name));
      assert.equal(bare.wireCode, ErrorCodes[name]);
      assert.equal(bare.field, undefined);
      assert.ok(bare instanceof Error);
    }
    // Values from the failing inputs never reach the message.
    const secretish = 0x5eed_cafe;
    for (const f of [
      { ...samples.JOIN, reqId: secretish * 2 ** 10 },
      { ...samples.APP, epoch: 2 ** 60 + secretish },
      { ...samples.ERROR, code: secretish },
    ]) {
      try {
        encodeFrame(f as Frame);
        assert.fail('should have thrown');
      } catch (e) {
        assert.ok(e instanceof ProtocolError);
        assert.doesNotMatch(e.message, /\d{3,}/, 'no number from the input');
      }
    }
    const ackBytes = raw([0x44], be.u32(0x1234_5678), be.u64(0xffff_ffff, 0x9abc_def0));
    try {
      decodeFrame(ackBytes);
      assert.fail('should have thrown');
    } catch (e) {
      assert.ok(e instanceof ProtocolError);
      for (const v of ['305419896', '12345678', '9abcdef0', '2596069104', 'ffffffff', '4294967295']) {
        assert.ok(!e.message.toLowerCase().includes(v), 'no value from the input');
      }
    }
  });
});
