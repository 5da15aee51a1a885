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
export { AccountStoreError, type AccountStoreErrorCode, AccountStoreErrors } from './errors.js';
export type { AccountStore, StoredUser, StoredSession, SessionKind, CreateUserResult } from './accounts/accountStore.js';
export { openSqliteAccountStore } from './accounts/sqliteAccountStore.js';
export { type PgAccountStoreOptions, openPgAccountStore } from './accounts/pgAccountStore.js';
export { type AccountsOptions } from './accounts/accountsHttp.js';
export { AccountErrors as AccountHttpErrors, type AccountErrorCode as AccountHttpErrorCode } from './accounts/accountErrors.js';
export { type LoginLimits, defaultLoginLimits } from './accounts/loginGate.js';
export { OPAQUE_SETUP_ENV, loadOpaqueSetup } from './accounts/opaqueSetup.js';
export { USERNAME_MAX, USERNAME_MIN, UsernameError, normalizeUsername } from './accounts/username.js';
