/**
 * The relay's own errors (docs/PROTOCOL.md §6.5): every refusal the blob HTTP endpoint answers, and
 * every reason the relay closes a WebSocket. One table: the name, what the client sees (an HTTP
 * status and body word, the stable code in `X-Nullroom-Blob-Error` where a client acts on it, or a
 * WebSocket close code) and when it happens. The frame-level `ERROR.code` values are the
 * protocol's (packages/protocol/src/errors.ts, §6.1).
 */
import { CloseCodes } from '@nullroom/protocol';

interface HttpEntry {
  readonly status: number;
  /** The short plain-text body (a newline is added). */
  readonly text: string;
  /** Sent in X-Nullroom-Blob-Error: the stable code a client acts on. */
  readonly wire?: string;
  /** Headers this refusal always carries. */
  readonly headers?: Readonly<Record<string, string | number>>;
  readonly when: string;
}

interface CloseEntry {
  /** The WebSocket close code; none where the socket is dropped without a close frame. */
  readonly close: number | undefined;
  /** The close frame's reason. */
  readonly text: string;
  readonly when: string;
}

const retry = { 'Retry-After': 1 } as const;
const closeConnection = { Connection: 'close' } as const;

export const BlobErrors = {
  NOT_FOUND: { status: 404, text: 'not found', when: 'no such blob or chunk, the wait ran out, or a path under /blobs of another shape' },
  GONE: { status: 410, text: 'gone', when: 'the blob was deleted or expired (remembered for one TTL)' },
  BAD_BLOB_ID: { status: 400, text: 'bad blob id', when: 'the id is not the canonical base64url of 16 bytes' },
  BAD_CHUNK_INDEX: { status: 400, text: 'bad chunk index', when: 'the index is not a decimal 0 … 2^31 − 1 without leading zeros' },
  BAD_WAIT: { status: 400, text: 'bad wait', when: '`?wait=` is not a decimal of at most 10 digits' },
  SHORT_BODY: { status: 400, text: 'body shorter than Content-Length', when: 'a PUT body ended before its declared length' },
  METHOD_NOT_ALLOWED: { status: 405, text: 'method not allowed', when: 'a method the path does not take (`Allow` lists those it does)' },
  FORBIDDEN: { status: 403, text: 'forbidden', when: 'a DELETE whose token is missing, malformed or not the blob’s' },
  BAD_TICKET: {
    status: 403,
    text: 'bad ticket',
    wire: 'BAD_TICKET',
    when: 'a PUT whose ticket is missing, malformed, never granted or ended (§9.1)',
  },
  BAD_TOKEN: { status: 403, text: 'forbidden', wire: 'BAD_TOKEN', when: 'a PUT whose token is missing, malformed or not the blob’s' },
  LENGTH_REQUIRED: { status: 411, text: 'length required', when: 'a PUT without a decimal Content-Length (chunked bodies are refused)' },
  CHUNK_TOO_LARGE: { status: 413, text: 'chunk too large', when: 'the body exceeds the chunk limit (declared, or counted as it arrives)' },
  BLOB_TOO_LARGE: { status: 413, text: 'blob too large', when: 'the chunk would take the blob past the per-blob limit' },
  STORE_FULL: { status: 507, text: 'store full', wire: 'STORE_FULL', when: 'the store’s byte quota or its number of blobs is used up' },
  ROOM_QUOTA: { status: 507, text: 'room quota', wire: 'ROOM_QUOTA', when: 'the room’s blobs or bytes are used up' },
  ACCOUNT_QUOTA: {
    status: 507,
    text: 'account quota',
    wire: 'ACCOUNT_QUOTA',
    when: 'the account’s blobs or bytes are used up (§9.3)',
  },
  TICKET_QUOTA: { status: 507, text: 'ticket quota', wire: 'TICKET_QUOTA', when: 'the ticket’s blobs or uploaded bytes are used up' },
  IP_QUOTA: { status: 507, text: 'address quota', wire: 'IP_QUOTA', when: 'the address’s blobs or bytes are used up' },
  BUSY: { status: 503, text: 'busy', wire: 'BUSY', when: 'upload bodies in memory would exceed their budget: retry later' },
  SHARE: {
    status: 429,
    text: 'busy',
    wire: 'SHARE',
    headers: retry,
    when: 'this address’s or this ticket’s share of the upload-body budget is in use: retry',
  },
  WAITERS_BUSY: { status: 503, text: 'too many waiting requests', wire: 'BUSY', when: 'too many GETs are waiting: retry later' },
  WAITERS_SHARE: {
    status: 429,
    text: 'too many waiting requests',
    wire: 'SHARE',
    headers: retry,
    when: 'this address has its share of waiting GETs: retry',
  },
  TOO_SLOW: {
    status: 408,
    text: 'upload too slow',
    wire: 'TOO_SLOW',
    headers: closeConnection,
    when: 'the body fell below the pace floor (§9.2); the connection is closed',
  },
  TOO_LONG: {
    status: 408,
    text: 'upload took too long',
    wire: 'TOO_SLOW',
    headers: closeConnection,
    when: 'the body ran past the upload deadline (§9.2); the connection is closed',
  },
  SHUTTING_DOWN: {
    status: 503,
    text: 'shutting down',
    headers: closeConnection,
    when: 'the relay is stopping: waiting GETs end, new requests are refused',
  },
  NODE_DOWN: {
    status: 503,
    text: 'node unavailable',
    wire: 'BUSY',
    headers: retry,
    when: 'a PUT to a blob whose node (of a cluster, §12) is not reachable now: retry',
  },
  BAD_FORWARD: {
    status: 403,
    text: 'forbidden',
    when: 'a request carrying the nodes’ forwarding header (§12) whose signature does not verify',
  },
  INTERNAL: { status: 500, text: 'internal error', when: 'anything unexpected (a disk error); logged as a code only' },
} as const satisfies Record<string, HttpEntry>;

export type BlobErrorName = keyof typeof BlobErrors;

export const CloseErrors = {
  MALFORMED: {
    close: CloseCodes.MALFORMED,
    text: 'malformed frame',
    when: 'a text frame, or a frame the codec refuses (after ERROR{reqId: 0})',
  },
  RATE_LIMITED: {
    close: CloseCodes.RATE_LIMITED,
    text: 'rate limited',
    when: 'more than 10 × rateBurst frames refused for rate on one connection',
  },
  SLOW_CONSUMER: {
    close: CloseCodes.SLOW_CONSUMER,
    text: 'slow consumer',
    when: 'unsent backlog over the limit, no progress for two ping intervals, or among the largest backlogs over the output budget',
  },
  GOING_AWAY: { close: CloseCodes.GOING_AWAY, text: 'relay shutting down', when: 'the relay is stopping' },
  TIMED_OUT: {
    close: undefined,
    text: 'timed out',
    when: 'no echo of the last ping in one interval and no output drained: dropped without a close frame',
  },
} as const satisfies Record<string, CloseEntry>;

export type CloseErrorName = keyof typeof CloseErrors;

/** A refusal of the blob HTTP endpoint; answered by blobHttp.ts from its table entry. */
export class BlobError extends Error {
  readonly status: number;
  /** X-Nullroom-Blob-Error, where the refusal has a stable code. */
  readonly wire: string | undefined;
  readonly headers: Readonly<Record<string, string | number>>;

  constructor(
    readonly code: BlobErrorName,
    /** Headers that depend on the request (`Allow`). */
    extra: Readonly<Record<string, string | number>> = {},
  ) {
    const e: HttpEntry = BlobErrors[code];
    super(e.text);
    this.name = 'BlobError';
    this.status = e.status;
    this.wire = e.wire;
    this.headers = { ...e.headers, ...extra };
  }
}

/** Why the relay closes a WebSocket, with the close code it sends (as `ws` errors carry theirs). */
export class CloseError extends Error {
  readonly closeCode: number | undefined;

  constructor(readonly code: CloseErrorName) {
    const e: CloseEntry = CloseErrors[code];
    super(e.text);
    this.name = 'CloseError';
    this.closeCode = e.close;
  }
}

export const RoomStoreErrors = {
  NOT_OURS: { text: 'is not a Nullroom room store', when: 'the file is not SQLite, or another SQLite database' },
  NEWER_SCHEMA: { text: 'was written by a newer Nullroom', when: 'its schema version is above the one this relay knows' },
  UNREADABLE: { text: 'cannot be opened or read', when: 'a missing permission, a directory, a damaged file, an I/O error' },
  IN_USE: { text: 'is in use by another process', when: 'another relay holds its lock (one relay per data directory)' },
  WRITE_FAILED: { text: 'could not be written', when: 'a write failed (disk full, I/O error) or was refused by the schema' },
  NO_SUCH_ROOM: { text: 'has no such room', when: 'a change to a room that was never created, or was deleted' },
} as const satisfies Record<string, { readonly text: string; readonly when: string }>;

export type RoomStoreErrorCode = keyof typeof RoomStoreErrors;

/**
 * The relay's room store (sqliteRoomStore.ts) could not be opened or written. The message names the
 * file's path and what went wrong, never what the file holds.
 */
export class RoomStoreError extends Error {
  constructor(
    readonly code: RoomStoreErrorCode,
    readonly path: string,
    /** The underlying error's code: SQLite's (`SQLITE_FULL`, …) or the file system's (`EACCES`, …). */
    readonly detail?: string,
  ) {
    super(`room store ${path} ${RoomStoreErrors[code].text}${detail === undefined ? '' : ` (${detail})`}`);
    this.name = 'RoomStoreError';
  }
}

export const AccountStoreErrors = {
  NOT_OURS: {
    text: 'is not a Nullroom account store',
    when: 'the file or schema is not ours (another SQLite database, tables of another program)',
  },
  NEWER_SCHEMA: { text: 'was written by a newer Nullroom', when: 'its schema version is above the one this relay knows' },
  UNREADABLE: { text: 'cannot be opened or read', when: 'a missing permission, a directory, a damaged file, an I/O error' },
  IN_USE: { text: 'is in use by another process', when: 'another relay holds the embedded file’s lock' },
  UNAVAILABLE: { text: 'cannot be reached', when: 'PostgreSQL refused the connection, or it dropped' },
  WRITE_FAILED: { text: 'could not be written or read', when: 'a statement failed (disk full, I/O error, a lost connection)' },
} as const satisfies Record<string, { readonly text: string; readonly when: string }>;

export type AccountStoreErrorCode = keyof typeof AccountStoreErrors;

/**
 * The account store (accounts/sqliteAccountStore.ts, accounts/pgAccountStore.ts) could not be opened
 * or used. The message names where (a path, or "PostgreSQL") and what went wrong, never a row.
 */
export class AccountStoreError extends Error {
  constructor(
    readonly code: AccountStoreErrorCode,
    readonly where: string,
    /** The underlying error's code: SQLite's, PostgreSQL's SQLSTATE, or the file system's. */
    readonly detail?: string,
  ) {
    super(`account store ${where} ${AccountStoreErrors[code].text}${detail === undefined ? '' : ` (${detail})`}`);
    this.name = 'AccountStoreError';
  }
}
