/**
 * Errors and warnings the client SDK reports. Codes are stable (docs/PROTOCOL.md §6); messages
 * never contain plaintext, keys, nicknames, room names or passwords.
 */
export const ClientErrorCodes = [
  'CONNECTION_FAILED', // could not reach the relay, or TLS failed (see `cause`)
  'TLS_PIN_MISMATCH', // the relay's certificate does not match the pinned fingerprint
  'RELAY_ERROR', // the relay answered a request with an ERROR frame (`relayCode` names it)
  'BAD_MESSAGE', // a message from the room did not decrypt or verify: dropped
  'BAD_COMMIT', // a group change did not decode, verify or process: void (ignored; the room keeps its state and repairs, docs/PROTOCOL.md §4.3)
  'FORBIDDEN_PROPOSAL', // a group change proposed something members never do: void, like BAD_COMMIT
  'BROKEN_ROOM_RULE', // a join or group change broke a room rule (slot not the joiner's own, a nickname another member holds): void, like BAD_COMMIT
  'BAD_GROUP_INFO', // the relay's stored group information does not open or cannot be joined through: members repair it, a joiner retries for a while
  'OUT_OF_ORDER', // a member's messages arrived out of order (the relay reordered them)
  'MISSING_MESSAGES', // a member's message counter skipped: messages were dropped on the way
  'BAD_PAYLOAD', // a decrypted message is not in our format
  'MESSAGE_TOO_LARGE', // the text exceeds the limit
  'NOT_JOINED', // the room is not joined (or was left)
  'JOIN_FAILED', // joining gave up after repeated lost races or a GroupInfo that does not open
  'CLOSED', // the client was closed
  'FILE_TRANSFER', // the relay's blob store could not be reached or refused a chunk (retried first; `cause` says why)
  'FILE_REJECTED', // a received file failed verification (altered, truncated, reordered chunks, or the hash): nothing was saved
  'FILE_CANCELLED', // the transfer was cancelled, by us or by the sender
  'KEY_STORE', // the key store failed (a browser without IndexedDB, a full disk): keys are kept in memory only
  'KEY_STORE_CORRUPT', // the key store's file or records do not parse: left untouched, never read as empty (that would reset trust)
  'KEY_STORE_UNSAFE', // the key store's file or folder is readable or writable by others, or belongs to another user: not used
  'KEY_STORE_LOCKED', // another process held the key store's lock for too long
  'PEER_UNAVAILABLE', // a direct private message could not be handed to the peer: it is not connected to the room now (not sent)
  'WRONG_SENDER', // a direct private message came from a connection that is not the chat's peer: dropped unread
] as const;
export type ClientErrorCode = (typeof ClientErrorCodes)[number];

export class ClientError extends Error {
  readonly code: ClientErrorCode;
  readonly relayCode: string | undefined;
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown; relayCode?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClientError';
    this.code = code;
    this.relayCode = options?.relayCode;
  }
}
