export * from './errors.js';
export {
  toHex,
  fromHex,
  randomBytes,
  randomHex,
  concat,
  equalBytes,
  toBase64,
  fromBase64,
  toBase64Url,
  fromBase64Url,
} from './bytes.js';
export { parseInvite } from './roomSecret.js';
export {
  type Argon2Params,
  defaultArgon2Params,
  type RoomSecret,
  type RoomKeys,
  deriveRoomSecret,
  randomRoomSecret,
  deriveRoomKeys,
  inviteFragment,
  secretFromInvite,
  roomLabel,
} from './roomSecret.js';
export { type Profile, type MemberProfile, normalizeNick, nickKey, uniqueNick, MAX_NICK_CHARS } from './credential.js';
export { decodeMlsMessage, framedEpoch, MAX_MLS_MESSAGE_BYTES } from './mlsMessage.js';
export {
  type IdentitySigner,
  type StoredIdentity,
  generateIdentity,
  identitySigner,
  ephemeralIdentity,
  verifyIdentitySignature,
} from './identity.js';
export {
  type ApprovalTags,
  APPROVAL_CODE_CHARS,
  approvalTags,
  deviceListCrypto,
  deviceListHash,
  newApprovalCode,
  normalizeApprovalCode,
  signDeviceList,
} from './deviceList.js';
export {
  type RoomState,
  type Member,
  type GroupSnapshot,
  type Incoming,
  type Outgoing,
  type OutgoingCommit,
  RoomGroup,
  wipe,
} from './roomGroup.js';
export { type HiddenMessage, HIDDEN_LEAF } from './hiddenMessage.js';
export { Suites, type SuiteName } from './suite.js';
export { safetyNumber, formatSafetyNumber, accountSafetyNumber } from './safetyNumber.js';
export {
  type FileKey,
  type FileHeader,
  type AesGcm,
  type AesGcmFactory,
  webCryptoAesGcm,
  newFileKey,
  encodeFileHeader,
  decodeFileHeader,
  fileChunkCount,
  sealedFileSize,
  FileEncryptor,
  FileDecryptor,
  FILE_KEY_BYTES,
  FILE_ID_BYTES,
  FILE_TAG_BYTES,
  FILE_HEADER_BYTES,
  DEFAULT_FILE_CHUNK_SIZE,
  MIN_FILE_CHUNK_SIZE,
  MAX_FILE_CHUNK_SIZE,
  DEFAULT_FILE_CONCURRENCY,
} from './fileCrypto.js';
export { type FileStreamOptions, type EncryptedFileStream, encryptStream, decryptStream } from './fileStream.js';
export { seal, open } from './sealed.js';
export { type IncrementalHash, sha256Incremental } from './hash.js';
export {
  type PrivateChatId,
  type PrivatePeer,
  type PrivateGroupState,
  type PendingKeyPackage,
  type KeyPackageOffer,
  type CreatedPrivateChat,
  type PrivateIncoming,
  type PrivateOutgoing,
  type PrivateOutgoingUpdate,
  PrivateGroup,
  discardPending,
  privateMessageGroupId,
  PRIVATE_CHAT_ID_BYTES,
  MAX_KEY_PACKAGE_BYTES,
  MAX_WELCOME_BYTES,
  MAX_PRIVATE_MESSAGE_BYTES,
} from './privateGroup.js';
export {
  type RoomFingerprint,
  roomFingerprint,
  formatRoomFingerprint,
  formatFingerprintDigits,
  ROOM_FINGERPRINT_LABEL,
  ROOM_FINGERPRINT_DIGITS,
} from './roomFingerprint.js';
export {
  AccountAuthenticationService,
  type AccountMember,
  type IsDevice,
  accountCredential,
  openAccountCredential,
} from './accountCredential.js';
export {
  AccountGroups,
  CONVERSATION_ID_BYTES,
  type ConversationIncoming,
  type ConversationMember,
  type ConversationState,
  type OutgoingCommit as ConversationCommit,
  type PendingKeyPackage as AccountPendingKeyPackage,
} from './accountGroup.js';
