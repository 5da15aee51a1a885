/**
 * The Nullroom wire envelope (docs/PROTOCOL.md §4). One binary frame per WebSocket message:
 *
 *   frame = type:u8 || fields...      (big-endian; no trailing bytes)
 *
 * Each frame type is one row of `schemas`: the codec below is driven by that table, so that the
 * encoder, the decoder and the documentation cannot drift apart. Opaque payloads (MLS messages,
 * encrypted GroupInfo) are returned as views into the received buffer, never copied.
 *
 * Size: over 400 lines because each of the 18 frame types has its typed interface and its schema
 * row here, side by side with the one codec that reads them; split, a frame's two halves would drift.
 */
import { Reader, Writer } from './_bytes.js';
import { ProtocolError } from './errors.js';
import type { ReqId, RelayEpoch, RoomLocator, Seq, Slot } from './ids.js';
import { type CodecLimits, defaultCodecLimits, LOCATOR_BYTES, RESUME_TOKEN_BYTES, TICKET_BYTES } from './limits.js';

export const FrameType = {
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
} as const;
export type FrameTypeName = keyof typeof FrameType;

/** GROUP_STATE.status: what a subscriber of the room must do next. */
export const GroupStatus = { WAIT: 0, CREATE: 1, READY: 2 } as const;
export type GroupStatusValue = (typeof GroupStatus)[keyof typeof GroupStatus];
/** DELIVER.kind */
export const DeliveryKind = { COMMIT: 1, APP: 2 } as const;
export type DeliveryKindValue = (typeof DeliveryKind)[keyof typeof DeliveryKind];

// --- client -> relay ---
export interface JoinFrame {
  type: 'JOIN';
  reqId: ReqId;
  room: RoomLocator;
}
export interface CreateFrame {
  type: 'CREATE';
  reqId: ReqId;
  room: RoomLocator;
  groupInfo: Uint8Array;
}
export interface CommitFrame {
  type: 'COMMIT';
  reqId: ReqId;
  room: RoomLocator;
  epoch: RelayEpoch;
  commit: Uint8Array;
  groupInfo: Uint8Array;
}
export interface AppFrame {
  type: 'APP';
  reqId: ReqId;
  room: RoomLocator;
  epoch: RelayEpoch;
  data: Uint8Array;
}
export interface LeaveFrame {
  type: 'LEAVE';
  reqId: ReqId;
  room: RoomLocator;
}
export interface SyncFrame {
  type: 'SYNC';
  reqId: ReqId;
  room: RoomLocator;
}
/** One opaque payload for the one connection holding slot `to` in the room (docs/PROTOCOL.md §4.4). */
export interface DirectFrame {
  type: 'DIRECT';
  reqId: ReqId;
  room: RoomLocator;
  to: Slot;
  data: Uint8Array;
}
/** Asks for a blob upload ticket for this connection's stay in `room` (docs/PROTOCOL.md §9.1). */
export interface TicketFrame {
  type: 'TICKET';
  reqId: ReqId;
  room: RoomLocator;
}
/**
 * Takes back slot `slot` of `room` after a lost connection, within the relay's grace period
 * (docs/PROTOCOL.md §4.5): `token` is the resume token JOINED gave for that slot, `seq` the last
 * delivery the client read. The relay replays every delivery after `seq`, then answers RESUMED.
 */
export interface ResumeFrame {
  type: 'RESUME';
  reqId: ReqId;
  room: RoomLocator;
  slot: Slot;
  token: Uint8Array;
  seq: Seq;
}
// --- relay -> client ---
export interface JoinedFrame {
  type: 'JOINED';
  reqId: ReqId;
  room: RoomLocator;
  slot: Slot;
  members: number;
  /** RESUME_TOKEN_BYTES random bytes: whoever holds them may resume this slot (RESUME). */
  resume: Uint8Array;
}
export interface GroupStateFrame {
  type: 'GROUP_STATE';
  room: RoomLocator;
  status: GroupStatusValue;
  epoch: RelayEpoch;
  seq: Seq;
  groupInfo: Uint8Array;
}
export interface DeliverFrame {
  type: 'DELIVER';
  room: RoomLocator;
  seq: Seq;
  kind: DeliveryKindValue;
  epoch: RelayEpoch;
  from: Slot;
  data: Uint8Array;
}
export interface AckFrame {
  type: 'ACK';
  reqId: ReqId;
  seq: Seq;
}
export interface PeerGoneFrame {
  type: 'PEER_GONE';
  room: RoomLocator;
  slot: Slot;
}
export interface ErrorFrame {
  type: 'ERROR';
  reqId: ReqId;
  code: number;
}
/** A DIRECT frame as its one recipient gets it: the sender's slot, not its reqId; not sequenced. */
export interface DirectDeliverFrame {
  type: 'DIRECT_DELIVER';
  room: RoomLocator;
  from: Slot;
  data: Uint8Array;
}
/** The answer to TICKET: TICKET_BYTES random bytes, valid while this connection stays in `room`. */
export interface TicketGrantFrame {
  type: 'TICKET_GRANT';
  reqId: ReqId;
  room: RoomLocator;
  ticket: Uint8Array;
}

/** RESUME succeeded: every delivery after the RESUME's `seq` was written before this; the connection holds the slot again. */
export interface ResumedFrame {
  type: 'RESUMED';
  reqId: ReqId;
  room: RoomLocator;
  /** The room's relay epoch (accepted commits) and delivery count now. */
  epoch: RelayEpoch;
  seq: Seq;
}

export type ClientFrame =
  | JoinFrame
  | CreateFrame
  | CommitFrame
  | AppFrame
  | LeaveFrame
  | SyncFrame
  | DirectFrame
  | TicketFrame
  | ResumeFrame;
export type RelayFrame =
  | JoinedFrame
  | GroupStateFrame
  | DeliverFrame
  | AckFrame
  | PeerGoneFrame
  | ErrorFrame
  | DirectDeliverFrame
  | TicketGrantFrame
  | ResumedFrame;
export type Frame = ClientFrame | RelayFrame;

type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'locator' | 'ticket' | 'token' | 'bytes';
type Field = readonly [name: string, kind: FieldKind, range?: readonly [min: number, max: number]];

/** One row per frame type: its fields in wire order; enumerated fields carry their valid range. */
const schemas: Record<FrameTypeName, readonly Field[]> = {
  JOIN: [
    ['reqId', 'u32'],
    ['room', 'locator'],
  ],
  CREATE: [
    ['reqId', 'u32'],
    ['room', 'locator'],
    ['groupInfo', 'bytes'],
  ],
  COMMIT: [
    ['reqId', 'u32'],
    ['room', 'locator'],
    ['epoch', 'u64'],
    ['commit', 'bytes'],
    ['groupInfo', 'bytes'],
  ],
  APP: [
    ['reqId', 'u32'],
    ['room', 'locator'],
    ['epoch', 'u64'],
    ['data', 'bytes'],
  ],
  LEAVE: [
    ['reqId', 'u32'],
    ['room', 'locator'],
  ],
  SYNC: [
    ['reqId', 'u32'],
    ['room', 'locator'],
  ],
  DIRECT: [
    ['reqId', 'u32'],
    ['room', 'locator'],
    ['to', 'u32'],
    ['data', 'bytes'],
  ],
  TICKET: [
    ['reqId', 'u32'],
    ['room', 'locator'],
  ],
  RESUME: [
    ['reqId', 'u32'],
    ['room', 'locator'],
    ['slot', 'u32'],
    ['token', 'token'],
    ['seq', 'u64'],
  ],
  JOINED: [
    ['reqId', 'u32'],
    ['room', 'locator'],
    ['slot', 'u32'],
    ['members', 'u32'],
    ['resume', 'token'],
  ],
  GROUP_STATE: [
    ['room', 'locator'],
    ['status', 'u8', [0, 2]],
    ['epoch', 'u64'],
    ['seq', 'u64'],
    ['groupInfo', 'bytes'],
  ],
  DELIVER: [
    ['room', 'locator'],
    ['seq', 'u64'],
    ['kind', 'u8', [1, 2]],
    ['epoch', 'u64'],
    ['from', 'u32'],
    ['data', 'bytes'],
  ],
  ACK: [
    ['reqId', 'u32'],
    ['seq', 'u64'],
  ],
  PEER_GONE: [
    ['room', 'locator'],
    ['slot', 'u32'],
  ],
  ERROR: [
    ['reqId', 'u32'],
    ['code', 'u16'],
  ],
  DIRECT_DELIVER: [
    ['room', 'locator'],
    ['from', 'u32'],
    ['data', 'bytes'],
  ],
  TICKET_GRANT: [
    ['reqId', 'u32'],
    ['room', 'locator'],
    ['ticket', 'ticket'],
  ],
  RESUMED: [
    ['reqId', 'u32'],
    ['room', 'locator'],
    ['epoch', 'u64'],
    ['seq', 'u64'],
  ],
};

const nameByType = new Map<number, FrameTypeName>((Object.entries(FrameType) as [FrameTypeName, number][]).map(([n, t]) => [t, n]));
const fixedSize: Record<Exclude<FieldKind, 'bytes'>, number> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  locator: LOCATOR_BYTES,
  ticket: TICKET_BYTES,
  token: RESUME_TOKEN_BYTES,
};

/** Frames a client may send; the relay rejects any other type as UNKNOWN_TYPE. */
export const clientFrameTypes: ReadonlySet<FrameTypeName> = new Set([
  'JOIN',
  'CREATE',
  'COMMIT',
  'APP',
  'LEAVE',
  'SYNC',
  'DIRECT',
  'TICKET',
  'RESUME',
]);

/** A schema row's field, ready for the encoder: its range (every integer field has one) and size. */
interface EncodedField {
  readonly name: string;
  readonly kind: FieldKind;
  readonly min: number;
  readonly max: number;
  /** Bytes it takes; for `bytes`, its length prefix (the payload comes on top). */
  readonly size: number;
}
const maxOf: Partial<Record<FieldKind, number>> = { u8: 0xff, u16: 0xffff, u32: 0xffff_ffff };
/**
 * The schemas, prepared once for the encoder (it runs for every frame the relay sends): no range
 * array made per field, and the fixed part of each frame's size summed in advance.
 */
const encoding = Object.fromEntries(
  (Object.entries(schemas) as [FrameTypeName, readonly Field[]][]).map(([type, fields]) => {
    const prepared: EncodedField[] = fields.map(([name, kind, range]) => ({
      name,
      kind,
      min: range?.[0] ?? 0,
      max: range?.[1] ?? maxOf[kind] ?? 0,
      size: kind === 'bytes' ? 4 : fixedSize[kind],
    }));
    const fixed = prepared.reduce((n, f) => n + f.size, 1);
    return [type, { fields: prepared, fixed, payloads: prepared.filter((f) => f.kind === 'bytes').map((f) => f.name) }];
  }),
) as unknown as Record<
  FrameTypeName,
  { readonly fields: readonly EncodedField[]; readonly fixed: number; readonly payloads: readonly string[] }
>;

/** Bytes the encoding of `frame` takes. */
export function encodedSize(frame: Frame): number {
  const e = encoding[frame.type];
  let size = e.fixed;
  const rec = frame as unknown as Record<string, unknown>;
  for (const name of e.payloads) {
    const v = rec[name];
    if (!(v instanceof Uint8Array)) throw new ProtocolError('BAD_VALUE', name);
    size += v.byteLength;
  }
  return size;
}

/** Encodes one frame. Throws ProtocolError(BAD_VALUE) for a value that cannot be represented. */
export function encodeFrame(frame: Frame): Uint8Array {
  const w = new Writer(encodedSize(frame));
  w.u8(FrameType[frame.type]);
  const rec = frame as unknown as Record<string, unknown>;
  for (const f of encoding[frame.type].fields) {
    const v = rec[f.name];
    switch (f.kind) {
      case 'u8':
      case 'u16':
      case 'u32':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < f.min || v > f.max) throw new ProtocolError('BAD_VALUE', f.name);
        w[f.kind](v);
        break;
      case 'u64':
        if (typeof v !== 'number') throw new ProtocolError('BAD_VALUE', f.name);
        w.u64(v, f.name);
        break;
      case 'locator':
      case 'ticket':
      case 'token':
        if (!(v instanceof Uint8Array) || v.byteLength !== f.size) throw new ProtocolError('BAD_VALUE', f.name);
        w.fixed(v);
        break;
      case 'bytes':
        w.bytes(v as Uint8Array); // checked by encodedSize
        break;
    }
  }
  return w.done();
}

/**
 * Decodes one frame, or throws ProtocolError: FRAME_TOO_LARGE before reading anything, TRUNCATED,
 * UNKNOWN_TYPE, FIELD_TOO_LARGE (checked on the declared length before any view is taken),
 * BAD_VALUE, TRAILING_BYTES.
 */
export function decodeFrame(buf: Uint8Array, limits: CodecLimits = defaultCodecLimits): Frame {
  if (buf.byteLength > limits.maxFrameBytes) throw new ProtocolError('FRAME_TOO_LARGE');
  const r = new Reader(buf);
  const t = r.u8('type');
  const type = nameByType.get(t);
  if (type === undefined) throw new ProtocolError('UNKNOWN_TYPE');
  const out: Record<string, unknown> = { type };
  for (const [name, kind, range] of schemas[type]) {
    switch (kind) {
      case 'u8':
      case 'u16':
      case 'u32':
      case 'u64': {
        const v = r[kind](name);
        if (range !== undefined && (v < range[0] || v > range[1])) throw new ProtocolError('BAD_VALUE', name);
        out[name] = v;
        break;
      }
      case 'locator':
      case 'ticket':
      case 'token':
        out[name] = r.fixed(fixedSize[kind], name);
        break;
      case 'bytes':
        out[name] = r.bytes(limits.maxPayloadBytes, name);
        break;
    }
  }
  r.end();
  return out as unknown as Frame;
}

/** Decodes a frame that a client sent; relay-only types are UNKNOWN_TYPE here. */
export function decodeClientFrame(buf: Uint8Array, limits?: CodecLimits): ClientFrame {
  const f = decodeFrame(buf, limits);
  if (!clientFrameTypes.has(f.type)) throw new ProtocolError('UNKNOWN_TYPE');
  return f as ClientFrame;
}

/** Decodes a frame that the relay sent; client-only types are UNKNOWN_TYPE here. */
export function decodeRelayFrame(buf: Uint8Array, limits?: CodecLimits): RelayFrame {
  const f = decodeFrame(buf, limits);
  if (clientFrameTypes.has(f.type)) throw new ProtocolError('UNKNOWN_TYPE');
  return f as RelayFrame;
}
