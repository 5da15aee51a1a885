/**
 * `@nullroom/server/accounts`: the account stores, the OPAQUE setup and the username rules
 * (docs/PROTOCOL.md §11). A subpath of its own, so that a relay without accounts never loads
 * PostgreSQL's driver, OPAQUE's WebAssembly or the username tables.
 */
export { AccountStoreError, type AccountStoreErrorCode, AccountStoreErrors } from '../errors.js';
export type { AccountStore, StoredUser, StoredSession, SessionKind, CreateUserResult } from './accountStore.js';
export type {
  ConversationStore,
  ConversationLimits,
  MailEntry,
  MailKind,
  LostMail,
  Delivered,
  AppResult,
  CommitResult,
} from './conversationStore.js';
export { defaultConversationLimits, MAILBOX_PAGE_MAX } from './conversationStore.js';
export { openSqliteAccountStore } from './sqliteAccountStore.js';
export { type PgAccountStoreOptions, openPgAccountStore } from './pgAccountStore.js';
export { type AccountsOptions } from './accountsHttp.js';
export { AccountErrors as AccountHttpErrors, type AccountErrorCode as AccountHttpErrorCode } from './accountErrors.js';
export { type LoginLimits, defaultLoginLimits } from './loginGate.js';
export { type ContactsLimits, defaultContactsLimits } from './contactsHttp.js';
export type { ContactEntry, ContactRef, ContactState } from './contactStore.js';
export { OPAQUE_SETUP_ENV, loadOpaqueSetup } from './opaqueSetup.js';
export { USERNAME_MAX, USERNAME_MIN, UsernameError, normalizeUsername } from './username.js';
