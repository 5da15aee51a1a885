/**
 * Errors and warnings the client SDK reports: one table, every code with when it happens
 * (docs/PROTOCOL.md §6.3 repeats it). Codes are stable; messages never contain plaintext, keys,
 * nicknames, room names or passwords.
 *
 * A ClientError caused by another error keeps it as `cause` (a crypto layer's `CryptoError`, with
 * its own code, docs/PROTOCOL.md §6.4, a key store's or the platform's error). One the relay caused carries the
 * relay's error name as `relayCode` (docs/PROTOCOL.md §6.1), and one a closed connection caused
 * carries the WebSocket close code as `closeCode` (§6.2), as `ws` does.
 */
export const ClientErrors = {
  CONNECTION_FAILED: 'the relay could not be reached, the connection closed before it opened, or TLS failed (`cause`, `closeCode`)',
  TLS_PIN_MISMATCH: "the relay's certificate does not match the pinned fingerprint",
  RELAY_ERROR: 'the relay refused a request with an ERROR frame (`relayCode` names it), or sent bytes that are not a frame',
  ALREADY_JOINED: 'this client already has the room open: `join` again is refused (no relay involved)',
  BAD_MESSAGE: 'a message from the room (or a private chat) did not decrypt or verify: dropped',
  BAD_COMMIT: 'a group change did not decode, verify or process: void (the room keeps its state and repairs, §4.3)',
  FORBIDDEN_PROPOSAL: 'a group change proposed something members never do (§3.4): void, like BAD_COMMIT',
  BROKEN_ROOM_RULE: 'a join or group change broke a room rule (§3.6): void, like BAD_COMMIT',
  BAD_GROUP_INFO: "the relay's group information does not open, decode, join or match: members repair it, a joiner retries (§4.3)",
  OUT_OF_ORDER: "a member's messages arrived out of order (the relay reordered them)",
  MISSING_MESSAGES: "a member's message counter skipped: messages were dropped on the way",
  BAD_PAYLOAD: 'a decrypted message is not in our format (§5)',
  MESSAGE_TOO_LARGE: 'a text is empty or longer than the limit',
  NOT_JOINED: 'the room (or private chat) was left or closed: nothing more is sent',
  NO_SUCH_MESSAGE: 'a reply, reaction, edit or delete names a message this conversation does not know (never seen, deleted, or forgotten)',
  NOT_YOURS: 'an edit or delete of a message another member sent: only its sender can',
  BAD_REACTION: 'a reaction is not one emoji (one grapheme of at most 32 bytes)',
  NO_SUCH_MEMBER: 'no other member has that nickname (verify, open a private chat)',
  TIMED_OUT: 'a member did not answer in time (a private chat request)',
  JOIN_FAILED:
    'joining gave up: repeated lost races, a GroupInfo that never became usable, a refused JOIN (`relayCode`), or a failure creating the group (`cause`)',
  CLOSED: 'the client was closed (`closeCode` when the relay closed the connection and it does not reconnect)',
  FILE_TRANSFER: "the relay's blob store could not be reached or refused a chunk or ticket (retried first; `cause` says why)",
  FILE_REJECTED: 'a received file failed verification (altered, truncated, reordered chunks, or the hash): nothing was saved',
  FILE_CANCELLED: 'the transfer was cancelled, by us or by the sender',
  FILE_UNAVAILABLE:
    'the file is no longer available: its sender left the conversation (or its connection is gone for good) before we had it, or the relay no longer holds it (expired, deleted, or wiped by a relay restart without its store): nothing was saved',
  FILE_QUOTA:
    "the relay will not keep the file: larger than its file limit, or past the account's files or bytes quota (`relayCode`: ACCOUNT_QUOTA, BLOB_TOO_LARGE, …); nothing was sent",
  KEY_STORE: 'the key store failed (a browser without IndexedDB, a full disk): keys are kept in memory only',
  KEY_STORE_CORRUPT:
    "the key store's file, or a browser key-store record, does not parse, open under the device key or fit its schema: left untouched and never read as empty (that would reset trust); a room reports it once per check",
  KEY_STORE_UNSAFE:
    "the key store's file is readable or writable by others, its folder writable by them, either belongs to another user, or the file is a symbolic link: not used",
  KEY_STORE_LOCKED: "another process held the key store's lock past the timeout (10 s)",
  MESSENGER_IN_USE:
    "another process holds this device's lock on an account's saved conversations: two would each advance the same MLS states and undo each other's",
  MESSENGER_STORE_CORRUPT:
    "an account's saved conversations do not open under their key or do not parse: left untouched and never read as empty (that would make the device a stranger to its own conversations)",
  HISTORY_CORRUPT:
    "a record of an account's message history does not open under its key, does not parse, or is missing where the history needs it: left untouched and never read as empty (that would overwrite the messages kept)",
  PEER_UNAVAILABLE:
    'a direct frame (a `direct` private message) could not be handed to the peer: it is not connected to the room now; the chat reports the message `unsent` (the send of a file payload rejects), nothing was sent',
  PEER_LEFT:
    "the private chat's peer left the room (no leaf carries its identity key now): the chat refuses new messages and files at once, nothing is sent; it opens again if the peer comes back with the same identity key",
  BAD_ROOM_NAME: 'a room name is empty, longer than 64 characters, has spaces at either end or control characters: not sent',
  WRONG_SENDER:
    "a private message (direct, or hidden and opening for one of our chats) came from a connection that is not the chat's peer: dropped unread",
  SEND_TIMED_OUT:
    'a message was not acknowledged within `sendTimeoutMs` of being queued (the relay unreachable, the room not joined): reported `unsent`, `retry(id)` queues it again',
  SESSION_INVALID:
    'a saved session (`restore`) does not parse, or its group state does not open for its room (`cause`): it is not used; join the room again',
  RESUME_FAILED:
    'the relay could not give our place in the room back after a lost connection (the grace period ended, or what we missed no longer fits its log; §4.5): we joined again as a newcomer, and messages sent while we were away may be missing',
  INTERNAL: 'a bug: an operation failed in a way no other code describes (`cause`); the operation waiting on it fails with this code',
} as const;

export type ClientErrorCode = keyof typeof ClientErrors;
export const ClientErrorCodes = Object.keys(ClientErrors) as readonly ClientErrorCode[];

export interface ClientErrorOptions {
  cause?: unknown;
  /** The relay's error name (docs/PROTOCOL.md §6.1) when the relay refused something. */
  relayCode?: string;
  /** The WebSocket close code (docs/PROTOCOL.md §6.2) when a closed connection caused the error. */
  closeCode?: number;
}

export class ClientError extends Error {
  readonly code: ClientErrorCode;
  readonly relayCode: string | undefined;
  readonly closeCode: number | undefined;
  constructor(code: ClientErrorCode, message: string, options?: ClientErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClientError';
    this.code = code;
    this.relayCode = options?.relayCode;
    this.closeCode = options?.closeCode;
  }
}

/** `e` when it is a ClientError already, else an INTERNAL one that keeps `e` as its cause (its message is not copied: it may name anything). */
export function asClientError(e: unknown): ClientError {
  return e instanceof ClientError
    ? e
    : new ClientError('INTERNAL', `internal error${e instanceof Error ? ` (${e.name})` : ''}`, { cause: e });
}
