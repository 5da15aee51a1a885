export { type Relay, type RelayOptions, RelayConfigError, isLoopback, startRelay } from './relay.js';
export { type RelayLimits, defaultRelayLimits } from './limits.js';
export { type TlsMaterial, createSelfSigned, fingerprintOf } from './tls.js';
export { securityHeaders } from './http.js';
export {
  type BlobOptions,
  type ResolvedBlobOptions,
  BLOB_CHUNKS_HEADER,
  BLOB_ERROR_HEADER,
  BLOB_TICKET_HEADER,
  BLOB_TOKEN_HEADER,
  MAX_CHUNK_INDEX,
  MIN_CHUNK_CHARGE,
  defaultBlobOptions,
  resolveBlobOptions,
} from './blobOptions.js';
export { BlobHttp } from './blobHttp.js';
export { type BlobErrorName, type CloseErrorName, BlobError, BlobErrors, CloseError, CloseErrors } from './errors.js';
export { type Ticket, Tickets } from './tickets.js';
export { type RoomStore, type StoredDirect, type StoredEntry, type StoredRoom, type StoredSlot, noRoomStore } from './roomStore.js';
export { RoomStoreError, type RoomStoreErrorCode, RoomStoreErrors } from './errors.js';
export { openRoomStore } from './sqliteRoomStore.js';
export { type LogFields, type LogLevel, type RelayLogger, LOG_LEVELS, formatLine, lineLogger, silentLogger } from './logger.js';
export { pinoLogger } from './pinoLogger.js';
export type { ReadyCheck } from './readiness.js';
export type { MetricsOptions } from './metricsServer.js';
