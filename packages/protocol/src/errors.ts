/**
 * Every error the protocol can name, with its stable wire code. The relay sends these in ERROR
 * frames; clients and the relay throw them as `ProtocolError`. Messages are fixed strings: they
 * never carry a key, plaintext, nickname, room name or password. Documented in docs/PROTOCOL.md §6.
 */
export const ErrorCodes = {
  // Codec: the bytes do not form a valid frame.
  TRUNCATED: 1,
  UNKNOWN_TYPE: 2,
  TRAILING_BYTES: 3,
  FRAME_TOO_LARGE: 4,
  FIELD_TOO_LARGE: 5,
  BAD_VALUE: 6,
  // Relay rules.
  NOT_IN_ROOM: 10,
  ALREADY_IN_ROOM: 11,
  ROOM_FULL: 12,
  TOO_MANY_ROOMS: 13,
  STALE_EPOCH: 14,
  NOT_CREATOR: 15,
  NO_GROUP: 16,
  NO_SUCH_PEER: 17,
  // Resuming a slot (docs/PROTOCOL.md §4.5).
  CANNOT_RESUME: 19,
  // Blob tickets (docs/PROTOCOL.md §9.1).
  NO_BLOB_STORE: 18,
  RATE_LIMITED: 20,
  // Budgets and per-address caps (docs/PROTOCOL.md §4.1).
  OVER_BUDGET: 40,
  TOO_MANY_NEW_ROOMS: 41,
  ADDRESS_LIMIT: 42,
  INTERNAL: 30,
} as const;

export type ErrorName = keyof typeof ErrorCodes;
export type ErrorCode = (typeof ErrorCodes)[ErrorName];

const messages: Record<ErrorName, string> = {
  TRUNCATED: 'frame ends before a field is complete',
  UNKNOWN_TYPE: 'unknown frame type',
  TRAILING_BYTES: 'bytes after the end of the frame',
  FRAME_TOO_LARGE: 'frame exceeds the size limit',
  FIELD_TOO_LARGE: 'field exceeds its size limit',
  BAD_VALUE: 'field holds a value outside its range',
  NOT_IN_ROOM: 'not joined to that room',
  ALREADY_IN_ROOM: 'already joined to that room',
  ROOM_FULL: 'room has reached its member limit',
  TOO_MANY_ROOMS: 'connection has joined too many rooms',
  STALE_EPOCH: 'commit or message is not for the current epoch',
  NOT_CREATOR: 'this connection may not create the group',
  NO_GROUP: 'the room has no group yet',
  NO_SUCH_PEER: 'no other connection holds that slot in the room',
  CANNOT_RESUME: 'that slot cannot be resumed (unknown, expired, or deliveries since were dropped): join again',
  NO_BLOB_STORE: 'this relay keeps no blobs: no upload ticket',
  RATE_LIMITED: 'too many frames; slow down',
  OVER_BUDGET: 'the relay is holding too much group state; try again later',
  TOO_MANY_NEW_ROOMS: 'too many new rooms from this address; try again later',
  ADDRESS_LIMIT: 'too many rooms joined from this address',
  INTERNAL: 'internal relay error',
};

const byCode = new Map<number, ErrorName>((Object.entries(ErrorCodes) as [ErrorName, number][]).map(([name, code]) => [code, name]));

/** The name for a wire code, or undefined when the code is not one we know. */
export function errorNameOf(code: number): ErrorName | undefined {
  return byCode.get(code);
}

export function errorMessageOf(name: ErrorName): string {
  return messages[name];
}

/** A typed protocol error. `field` names the field at fault, never its value. */
export class ProtocolError extends Error {
  readonly code: ErrorName;
  readonly wireCode: ErrorCode;
  readonly field: string | undefined;
  constructor(code: ErrorName, field?: string) {
    super(field === undefined ? messages[code] : `${messages[code]} (${field})`);
    this.name = 'ProtocolError';
    this.code = code;
    this.wireCode = ErrorCodes[code];
    this.field = field;
  }
}

/** WebSocket close codes the relay uses (RFC 6455 §7.4.2 private range 4000-4999). */
export const CloseCodes = {
  /** The peer sent bytes that are not a valid frame. */
  MALFORMED: 4400,
  /** The peer kept exceeding its rate after being told. */
  RATE_LIMITED: 4429,
  /** The peer did not answer pings in time. */
  TIMEOUT: 4408,
  /** The peer read too slowly: its unsent backlog passed the relay's limit. */
  SLOW_CONSUMER: 4509,
  /** The relay is shutting down. */
  GOING_AWAY: 1001,
} as const;
