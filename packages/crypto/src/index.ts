export * from './errors.js';
export { type Argon2Params, defaultArgon2Params, type RoomSecret, type RoomKeys, deriveRoomSecret, randomRoomSecret, deriveRoomKeys, inviteFragment, secretFromInvite } from './roomSecret.js';
export { type Profile, type MemberProfile, normalizeNick, MAX_NICK_CHARS } from './credential.js';
export { type IdentitySigner, type StoredIdentity, generateIdentity, identitySigner, ephemeralIdentity } from './identity.js';
export { type RoomState, type Member, type GroupSnapshot, type Incoming, type Outgoing, type OutgoingCommit, RoomCrypto, wipe } from './roomGroup.js';
export { Suites, type SuiteName } from './suite.js';
export { safetyNumber, formatSafetyNumber } from './safetyNumber.js';
export { type FileKey, type FileHeader, type FileStreamOptions, type EncryptedFileStream, newFileKey, encodeFileHeader, decodeFileHeader, fileChunkCount, sealedFileSize, FileEncryptor, FileDecryptor, encryptStream, decryptStream, FILE_KEY_BYTES, FILE_ID_BYTES, FILE_TAG_BYTES, FILE_HEADER_BYTES, DEFAULT_FILE_CHUNK_SIZE, MIN_FILE_CHUNK_SIZE, MAX_FILE_CHUNK_SIZE, DEFAULT_FILE_CONCURRENCY } from './fileCrypto.js';
export { seal, open } from './sealed.js';
