/**
 * The terminal client's own error codes, and its exit codes (both documented in docs/PROTOCOL.md §7
 * and the README). An `error` event carries either one of these codes or, passed through unchanged,
 * the code of the SDK's ClientError that caused it (docs/PROTOCOL.md §6.3): the CLI never renames an
 * SDK code nor invents one for a failure the SDK already names.
 *
 * This module is shared by `nullroom serve` and `nullroom chat`, so it imports neither the client
 * SDK nor the relay.
 */

/**
 * Code -> when it happens (docs/PROTOCOL.md §7 holds the same table; a test compares them).
 * Messages never contain a message's text, a nickname, a room name or a password.
 */
export const CliErrorCodes = {
  USAGE:
    'a chat command lacks its arguments (`/send` without a path, `/dm` or `/close` alone outside private mode, `/rename` alone; `/reply` in `talk` without a number and a text)',
  UNKNOWN_COMMAND: 'a line starts with `/` but names no command (`/help` lists them)',
  NO_SUCH_MEMBER:
    '`/verify`, `/verified` or `/dm NICK` (private mode) names no other member of the room (the same meaning as the SDK code of that name)',
  NO_SUCH_MESSAGE:
    '`/reply`, `/react`, `/edit` or `/delete` names a number no message (of the room or a private chat; in `talk`, of the conversation) was printed with, or one too old to be kept (the same meaning as the SDK code of that name)',
  NO_PRIVATE_CHAT: '`/close` names no one you have a private chat with',
  NOT_JOINED: '`/fingerprint` while the room is not joined (reconnecting): there is no epoch to show (the SDK code of that name)',
  NO_SUCH_FILE: 'a path given to `/send` or `/dmsend` cannot be read',
  FILE_TOO_LARGE: 'a file offered to you is larger than `--max-file`: it is not downloaded',
  FILE_SAVE: 'a received file cannot be created in `--download-dir` (permissions, disk full)',
  UNSENT: 'on leaving: messages the relay did not acknowledge in time (after their `unsent` events); the exit code is 1',
  INTERNAL: 'an unexpected failure (a bug): the message names only the kind of error',
  BAD_URL:
    '`chat` was given a relay URL that is not `http://` or `https://` (`ws://`, `ftp://`, no scheme): the message says which schemes work; exit 2',
  RELAY_UNREACHABLE:
    '`chat` could not reach the relay at start, after its retries (nothing listens there, or the name does not resolve), or it hung up at once (a TLS relay reached with `http://`: the message suggests `https://`); exit 4',
  RELAY_PLAIN_HTTP: '`chat` was given an `https://` URL but the relay speaks plain HTTP (the TLS handshake failed): use `http://`; exit 4',
  RELAY_SELF_SIGNED:
    '`chat` met a relay certificate no CA vouches for, without `--pin`: the message names `--pin` and the `fingerprint` line `nullroom serve` printed; exit 4',
  PORT_IN_USE:
    '`serve` cannot listen: the port is taken by another program (or not allowed): the message names the port and `--port`; exit 4',
} as const;
export type CliErrorCode = keyof typeof CliErrorCodes;

/** Exit codes of the `nullroom` command. */
export const Exit = { OK: 0, FAILURE: 1, USAGE: 2, CONNECTION: 4 } as const;

/**
 * A failure that ends the command: a message for the user, the exit code it maps to and, for the
 * failures a script may want to tell apart (a wrong URL, a relay that is down...), a code of the table.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code?: CliErrorCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
