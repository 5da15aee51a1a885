export { NullroomClient, type ClientOptions, type ClientEvents, type ConnectionState } from './client.js';
export { Room, type RoomEvents, type RoomPhase, type RoomTimings, type DisruptionReason, defaultRoomTimings } from './room.js';
export { ClientError, type ClientErrorCode, type ClientErrorOptions, ClientErrorCodes, ClientErrors } from './errors.js';
export { type WebSocketFactory, type WebSocketLike, relaySocketUrl } from './transport.js';
export { MAX_TEXT_CHARS, MAX_REACTION_BYTES, isReaction } from './payload.js';
export {
  type Reaction,
  type ChatMessageInfo,
  type ChatEvents,
  type ChatLimits,
  type RememberedMessage,
  defaultChatLimits,
} from './chatLog.js';
export {
  deriveRoomSecret,
  randomRoomSecret,
  inviteFragment,
  secretFromInvite,
  roomLabel,
  type RoomSecret,
  normalizeNick,
  formatSafetyNumber,
  Suites,
  type SuiteName,
} from '@nullroom/crypto';
export { browserWebSocket } from './browser.js';
export { type KeyStore, type KnownKey, MemoryKeyStore } from './keyStore.js';
export { type SessionStore } from './roomSession.js';
export { IndexedDbKeyStore, type SealedRecords } from './browserKeyStore.js';
export { type BlobTransport, type BlobRead, BlobRefused, BlobStatusError, BlobTicketRefused, fetchBlobTransport } from './blobs.js';
export {
  type FileSource,
  type FileSink,
  type Thumbnail,
  type SavedOffer,
  type FileTransferOptions,
  IncomingFile,
  RoomFiles,
  DEFAULT_TRANSFER_CHUNK,
  DEFAULT_TRANSFER_CONCURRENCY,
} from './files.js';
export { type TransferProgress, type TransferResult, Transfer, formatBytes } from './transfer.js';
export { type PayloadRoutes, type PayloadHandler, type PayloadSender, type PayloadType } from './payloadRouter.js';
export { type SendPort, type DirectTarget } from './outbox.js';
export {
  PrivateChats,
  PrivateChat,
  type PrivateChatEvents,
  type PrivateChatsOptions,
  type PrivateRouting,
  PRIVATE_ROUTINGS,
} from './privateChats.js';
export { RoomName, type RoomNameEvents, MAX_ROOM_NAME_CHARS, checkRoomName } from './roomName.js';
export { toBase64 } from './encoding.js';
export {
  PREVIEW_TYPES,
  type PreviewType,
  isPreviewType,
  sniffImage,
  SNIFF_BYTES,
  receivedType,
  safeFileName,
  MAX_FILE_NAME_BYTES,
} from './fileSafety.js';
export { type RoomFingerprint, formatRoomFingerprint, formatFingerprintDigits } from '@nullroom/crypto';
export { type ForkSuspected, FORK_EVIDENCE_THRESHOLD } from './forkWatch.js';
