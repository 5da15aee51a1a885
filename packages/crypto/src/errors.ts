/**
 * Typed errors of the crypto layer. Codes are stable (docs/PROTOCOL.md §6); messages are fixed
 * strings that never carry key material, plaintext, nicknames, room names or passwords.
 */
export const CryptoErrorCodes = {
  BAD_GROUP_INFO: 'NR_CRYPTO_BAD_GROUP_INFO',
  BAD_CREDENTIAL: 'NR_CRYPTO_BAD_CREDENTIAL',
  BAD_MESSAGE: 'NR_CRYPTO_BAD_MESSAGE',
  FORBIDDEN_PROPOSAL: 'NR_CRYPTO_FORBIDDEN_PROPOSAL',
  /** A commit verifies under MLS but breaks a Nullroom membership rule (docs/PROTOCOL.md §3.5): slot, nickname, or a changed credential. */
  BROKEN_ROOM_RULE: 'NR_CRYPTO_BROKEN_ROOM_RULE',
  BAD_NICK: 'NR_CRYPTO_BAD_NICK',
  WRONG_EPOCH: 'NR_CRYPTO_WRONG_EPOCH',
  FILE_BAD_KEY: 'NR_CRYPTO_FILE_BAD_KEY',
  FILE_BAD_HEADER: 'NR_CRYPTO_FILE_BAD_HEADER',
  FILE_BAD_CHUNK: 'NR_CRYPTO_FILE_BAD_CHUNK',
  FILE_TAMPERED: 'NR_CRYPTO_FILE_TAMPERED',
  FILE_TRUNCATED: 'NR_CRYPTO_FILE_TRUNCATED',
  FILE_OUT_OF_ORDER: 'NR_CRYPTO_FILE_OUT_OF_ORDER',
  FILE_AFTER_LAST: 'NR_CRYPTO_FILE_AFTER_LAST',
  FILE_HASH_MISMATCH: 'NR_CRYPTO_FILE_HASH_MISMATCH',
  /** A private chat's KeyPackage is malformed, of another suite, or its credential does not open with the room secret. */
  PRIVATE_BAD_KEY_PACKAGE: 'NR_CRYPTO_PRIVATE_BAD_KEY_PACKAGE',
  /** A private chat's KeyPackage, Welcome or commit names another identity key than the peer expected. */
  PRIVATE_WRONG_PEER: 'NR_CRYPTO_PRIVATE_WRONG_PEER',
  /** A private chat's Welcome is malformed, not for our KeyPackage, or not a fresh two-member chat. */
  PRIVATE_BAD_WELCOME: 'NR_CRYPTO_PRIVATE_BAD_WELCOME',
  /** An invite link's fragment is not `#k=` and the canonical base64url of a 32-byte room secret. */
  BAD_INVITE: 'NR_CRYPTO_BAD_INVITE',
} as const;
export type CryptoErrorCode = keyof typeof CryptoErrorCodes;

export class CryptoError extends Error {
  readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CryptoError';
    this.code = code;
  }
}
