export * from './errors.js';
export { type Argon2Params, defaultArgon2Params, type RoomSecret, type RoomKeys, deriveRoomSecret, randomRoomSecret, deriveRoomKeys, inviteFragment, secretFromInvite } from './roomSecret.js';
export { type Profile, type MemberProfile, normalizeNick, MAX_NICK_CHARS } from './credential.js';
export { type IdentitySigner, type StoredIdentity, generateIdentity, identitySigner, ephemeralIdentity } from './identity.js';
export { type RoomState, type Member, type GroupSnapshot, type Incoming, type Outgoing, type OutgoingCommit, RoomCrypto, wipe } from './roomGroup.js';
export { Suites, type SuiteName } from './suite.js';
export { safetyNumber, formatSafetyNumber } from './safetyNumber.js';
export { seal, open } from './sealed.js';
