/**
 * The crypto layer's error table (docs/PROTOCOL.md §6.4). A CryptoError's `code` is the table's key
 * and the only thing callers compare; the table says when each code happens. Messages are fixed
 * strings that never carry key material, plaintext, nicknames, room names or passwords.
 *
 * Everything that depends on bytes we received or values a person typed throws a CryptoError. An
 * argument outside its documented range from the calling code itself (a concurrency of 0, an epoch
 * authenticator of the wrong size) is a programming error and throws RangeError, as the platform does.
 */
export const CryptoErrorCodes = {
  BAD_GROUP_INFO:
    'The GroupInfo the relay stores does not open with the room secret, does not decode strictly, names a cipher suite we do not offer (§2), or cannot be joined through (§3.2).',
  BAD_CREDENTIAL:
    "A leaf credential in a room group, or a private chat peer's after its self-update, does not open with the room secret for its signature key (§3.3).",
  BAD_MESSAGE:
    'An MLS message does not decode strictly (one MLSMessage, MLS 1.0, an expected wireformat, no trailing bytes), is not for this group, does not decrypt or verify, or its sender cannot be identified (§4.3, §5.2).',
  FORBIDDEN_PROPOSAL:
    "A message proposes what members never do: a standalone proposal, a member commit with anything but removals, an external commit with anything but external_init (§3.4), or in a private chat anything but the peer's self-update (§5.2).",
  BROKEN_ROOM_RULE:
    "A commit verifies under MLS but breaks a room rule: a joiner's slot or nickname, or a member commit that adds or changes a leaf (§3.6).",
  BAD_NICK:
    'A nickname is not 1 to 32 code points after NFC, has control, format or lone surrogate characters, or surrounding spaces (§3.3).',
  FILE_BAD_KEY: 'A file key is not 32 bytes (§5.1).',
  FILE_BAD_HEADER:
    'A file header has the wrong length, an unknown version, a chunk size out of range, or a file id of the wrong length; or an announced file hash is not 32 bytes (§5.1).',
  FILE_BAD_CHUNK:
    'A chunk handed to the file encryptor has the wrong length for its place, or the file has more chunks than can be counted (§5.1).',
  FILE_TAMPERED: 'An encrypted file chunk fails authentication (§5.1).',
  FILE_TRUNCATED: 'An encrypted file ends before its final chunk, or its stream was cancelled before then (§5.1).',
  FILE_OUT_OF_ORDER: 'The file decryptor is handed a chunk other than the next one (§5.1).',
  FILE_AFTER_LAST: 'A file chunk comes after the final chunk (§5.1).',
  FILE_HASH_MISMATCH: "A decrypted file's SHA-256 is not the hash its sender announced (§5.1).",
  PRIVATE_BAD_KEY_PACKAGE:
    "A private chat's KeyPackage is malformed, of another protocol version or cipher suite, its credential does not open with the room secret, or MLS refuses it (§5.2).",
  PRIVATE_WRONG_PEER:
    "A private chat's KeyPackage, Welcome or self-update names another identity key than the peer the caller expected, or our own (§5.2).",
  PRIVATE_BAD_WELCOME:
    "A private chat's Welcome is malformed, of another suite, not for our KeyPackage, or not a fresh chat of exactly us and one peer without external senders (§5.2).",
  GROUP_BAD_KEY_PACKAGE:
    "A KeyPackage for an account conversation is malformed, of another protocol version or cipher suite, or its leaf is not a listed device of its account (its credential's binding fails, or the caller's verified device list does not name the key) (§11.9).",
  GROUP_BAD_WELCOME:
    'A Welcome to an account conversation is malformed, of another suite, for none of our pending KeyPackages, names an external sender, or MLS refuses it (a leaf of its tree is not a listed device of its account) (§11.9).',
  BAD_SAVED_STATE: 'A saved group state (a session kept across a restart) does not decode, or is not a state of this room: it is not used.',
  BAD_INVITE: "An invite link's fragment is not `#k=` and the canonical base64url of a 32-byte room secret (§3).",
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
