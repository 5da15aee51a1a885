/**
 * Shared fixtures for the codec tests: one sample of every frame type, with distinctive values
 * (so that a field written at the wrong offset cannot decode back to the same frame), and the
 * field layout of docs/PROTOCOL.md §4 restated independently of `src/frame.ts`.
 */
import {
  type Frame,
  type FrameTypeName,
  type RoomLocator,
  asEpoch,
  asLocator,
  asReqId,
  asSeq,
  asSlot,
  LOCATOR_BYTES,
  RESUME_TOKEN_BYTES,
  TICKET_BYTES,
} from '../src/index.js';

/** A locator whose bytes are `seed, seed+1, ...` (mod 256). */
export function locator(seed: number): RoomLocator {
  return asLocator(Uint8Array.from({ length: LOCATOR_BYTES }, (_, i) => (seed + i) & 0xff));
}

export function bytesOf(len: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (seed * 7 + i * 13) & 0xff);
}

/** One frame of every type. Values near the top of each range, so byte order matters. */
export const samples: { [K in FrameTypeName]: Extract<Frame, { type: K }> } = {
  JOIN: { type: 'JOIN', reqId: asReqId(0x01020304), room: locator(1) },
  CREATE: { type: 'CREATE', reqId: asReqId(7), room: locator(2), groupInfo: bytesOf(100, 1) },
  COMMIT: {
    type: 'COMMIT',
    reqId: asReqId(0xffff_ffff),
    room: locator(3),
    epoch: asEpoch(2 ** 53 - 1),
    commit: bytesOf(33, 2),
    groupInfo: bytesOf(17, 3),
  },
  APP: { type: 'APP', reqId: asReqId(9), room: locator(4), epoch: asEpoch(0x1_0000_0001), data: bytesOf(1024, 4) },
  LEAVE: { type: 'LEAVE', reqId: asReqId(0), room: locator(5) },
  SYNC: { type: 'SYNC', reqId: asReqId(11), room: locator(6) },
  DIRECT: { type: 'DIRECT', reqId: asReqId(0x0a0b0c0d), room: locator(11), to: asSlot(0xfeed_f00d), data: bytesOf(300, 6) },
  TICKET: { type: 'TICKET', reqId: asReqId(0x0badf00d), room: locator(13) },
  RESUME: {
    type: 'RESUME',
    reqId: asReqId(0x0c0ffee0),
    room: locator(15),
    slot: asSlot(0xabcd_0123),
    token: bytesOf(RESUME_TOKEN_BYTES, 9),
    seq: asSeq(2 ** 52 + 5),
  },
  JOINED: {
    type: 'JOINED',
    reqId: asReqId(12),
    room: locator(7),
    slot: asSlot(0xdead_beef),
    members: 1000,
    resume: bytesOf(RESUME_TOKEN_BYTES, 10),
  },
  GROUP_STATE: { type: 'GROUP_STATE', room: locator(8), status: 2, epoch: asEpoch(5), seq: asSeq(2 ** 40 + 3), groupInfo: bytesOf(0, 0) },
  DELIVER: {
    type: 'DELIVER',
    room: locator(9),
    seq: asSeq(77),
    kind: 1,
    epoch: asEpoch(78),
    from: asSlot(79),
    data: bytesOf(5, 5),
  },
  ACK: { type: 'ACK', reqId: asReqId(13), seq: asSeq(0xffff_ffff) },
  PEER_GONE: { type: 'PEER_GONE', room: locator(10), slot: asSlot(3) },
  ERROR: { type: 'ERROR', reqId: asReqId(14), code: 0xfffe },
  DIRECT_DELIVER: { type: 'DIRECT_DELIVER', room: locator(12), from: asSlot(0x8000_0001), data: bytesOf(7, 7) },
  TICKET_GRANT: { type: 'TICKET_GRANT', reqId: asReqId(0xfeed_beef), room: locator(14), ticket: bytesOf(TICKET_BYTES, 8) },
  RESUMED: { type: 'RESUMED', reqId: asReqId(0x7fff_fff1), room: locator(16), epoch: asEpoch(2 ** 33 + 1), seq: asSeq(2 ** 35 + 9) },
};

export const allSamples: Frame[] = Object.values(samples);

/** Wire type bytes, restated from docs/PROTOCOL.md §4 (not imported, so a drift shows). */
export const wireType: Record<FrameTypeName, number> = {
  JOIN: 0x01,
  CREATE: 0x02,
  COMMIT: 0x03,
  APP: 0x04,
  LEAVE: 0x05,
  SYNC: 0x06,
  DIRECT: 0x07,
  TICKET: 0x08,
  RESUME: 0x09,
  JOINED: 0x41,
  GROUP_STATE: 0x42,
  DELIVER: 0x43,
  ACK: 0x44,
  PEER_GONE: 0x45,
  ERROR: 0x46,
  DIRECT_DELIVER: 0x47,
  TICKET_GRANT: 0x48,
  RESUMED: 0x49,
};

export const clientTypes: FrameTypeName[] = ['JOIN', 'CREATE', 'COMMIT', 'APP', 'LEAVE', 'SYNC', 'DIRECT', 'TICKET', 'RESUME'];
export const relayTypes: FrameTypeName[] = [
  'JOINED',
  'GROUP_STATE',
  'DELIVER',
  'ACK',
  'PEER_GONE',
  'ERROR',
  'DIRECT_DELIVER',
  'TICKET_GRANT',
  'RESUMED',
];

/** Hand-written big-endian builders for raw-bytes tests (deliberately not the codec's Writer). */
export const be = {
  u8: (v: number) => [v & 0xff],
  u16: (v: number) => [(v >>> 8) & 0xff, v & 0xff],
  u32: (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff],
  /** A u64 from its two 32-bit halves. */
  u64: (hi: number, lo: number) => [...be.u32(hi), ...be.u32(lo)],
  locator: (seed: number) => Array.from(locator(seed)),
};

export const raw = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
