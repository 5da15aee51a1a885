/**
 * The account channel's codec (src/accountFrame.ts, docs/PROTOCOL.md §11.11): every frame
 * round-trips, MAIL's bytes follow the documented layout, and hostile bytes (truncated, trailing,
 * unknown type or kind, oversized lists and payloads, a flag that is not 0 or 1) are ProtocolErrors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AccountFrame, ProtocolError, decodeAccountFrame, encodeAccountFrame, MAX_COMMIT_DEVICES } from '../src/index.js';

const b = (n: number, v: number) => new Uint8Array(n).fill(v);
const samples: AccountFrame[] = [
  { type: 'AUTH', device: b(16, 1), signature: b(64, 2) },
  { type: 'ACK', seq: 2 ** 40 + 3 },
  { type: 'CREATE', req: 7, conversation: b(16, 3) },
  {
    type: 'COMMIT',
    req: 8,
    conversation: b(16, 4),
    epoch: 5,
    add: [b(16, 5), b(16, 6)],
    remove: [b(16, 7)],
    commit: b(300, 8),
    welcome: b(900, 9),
  },
  { type: 'COMMIT', req: 9, conversation: b(16, 4), epoch: 6, add: [], remove: [], commit: b(10, 8), welcome: new Uint8Array(0) },
  { type: 'SEND', req: 10, conversation: b(16, 4), epoch: 6, payload: b(1200, 1) },
  { type: 'CHALLENGE', nonce: b(32, 11) },
  { type: 'READY', device: b(16, 12), seq: 0 },
  {
    type: 'MAIL',
    seq: 42,
    conversation: b(16, 13),
    kind: 'welcome',
    sender: b(16, 14),
    epoch: 1,
    at: 1_764_000_000_000,
    payload: b(5, 15),
  },
  { type: 'LOST', conversation: b(16, 16), entries: 3, handshake: true, after: 40 },
  { type: 'RESULT', req: 11, status: 'WRONG_EPOCH', epoch: 9 },
  { type: 'PRESENCE', name: '张伟', online: true, at: 0 },
  { type: 'NOTICE', what: 1 },
];

test('every frame round-trips', () => {
  for (const f of samples) assert.deepEqual(decodeAccountFrame(encodeAccountFrame(f)), f, f.type);
});

test('MAIL is laid out as documented', () => {
  const bytes = encodeAccountFrame(samples[8]!);
  const expected = [0xc3, ...[0, 0, 0, 0, 0, 0, 0, 42], ...b(16, 13), 1, ...b(16, 14), ...[0, 0, 0, 0, 0, 0, 0, 1]];
  assert.deepEqual([...bytes.subarray(0, expected.length)], expected);
  assert.deepEqual([...bytes.subarray(-9)], [0, 0, 0, 5, 15, 15, 15, 15, 15]);
});

test('hostile bytes are typed refusals', () => {
  const bad = (bytes: Uint8Array, code: string) =>
    assert.throws(
      () => decodeAccountFrame(bytes),
      (e: unknown) => e instanceof ProtocolError && e.name === 'ProtocolError' && e.code === code,
      code,
    );
  const send = encodeAccountFrame(samples[5]!);
  bad(send.subarray(0, send.length - 1), 'TRUNCATED');
  bad(new Uint8Array([...send, 0]), 'TRAILING_BYTES');
  bad(new Uint8Array([0x99]), 'UNKNOWN_TYPE');
  bad(new Uint8Array([0x01, 0, 0, 0, 1]), 'UNKNOWN_TYPE'); // a room frame is not an account frame
  const mail = encodeAccountFrame(samples[8]!);
  const wrongKind = new Uint8Array(mail);
  wrongKind[1 + 8 + 16] = 9;
  bad(wrongKind, 'BAD_VALUE');
  const lost = encodeAccountFrame(samples[9]!);
  const twoFlag = new Uint8Array(lost);
  twoFlag[1 + 16 + 4] = 2;
  bad(twoFlag, 'BAD_VALUE');
  // A list longer than any commit may name, and a payload length beyond the limit, fail before allocating.
  const hugeList = new Uint8Array(1 + 4 + 16 + 8 + 2);
  hugeList[0] = 0x84;
  hugeList.set([0xff, 0xff], hugeList.length - 2);
  bad(hugeList, 'FIELD_TOO_LARGE');
  assert.ok(MAX_COMMIT_DEVICES < 0xffff);
  const hugePayload = new Uint8Array(1 + 4 + 16 + 8 + 4);
  hugePayload[0] = 0x85;
  hugePayload.set([0x7f, 0xff, 0xff, 0xff], hugePayload.length - 4);
  bad(hugePayload, 'FIELD_TOO_LARGE');
  bad(new Uint8Array(3 * 1024 * 1024), 'FRAME_TOO_LARGE');
  assert.throws(() => encodeAccountFrame({ type: 'CREATE', req: 1, conversation: b(15, 1) }), ProtocolError);
});
