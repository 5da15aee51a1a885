/**
 * Every refusal of the accounts API (docs/PROTOCOL.md §11.4): the HTTP status, the stable `error`
 * code of the JSON body a client acts on, and when it is answered. A message never quotes what
 * the request carried.
 */
export const AccountErrors = {
  BAD_REQUEST: {
    status: 400,
    text: 'the request body is not what this endpoint takes',
    when: 'not JSON, a field missing or of the wrong shape, an OPAQUE message that does not parse',
  },
  UNSUPPORTED_TYPE: { status: 415, text: 'send application/json', when: 'a body whose Content-Type is not application/json' },
  TOO_LARGE: { status: 413, text: 'the request body is too large', when: 'a body over 16 KiB (declared or counted)' },
  NOT_FOUND: { status: 404, text: 'no such endpoint', when: 'a path under /api/ that is not one of §11.4' },
  METHOD_NOT_ALLOWED: { status: 405, text: 'method not allowed', when: 'a method the endpoint does not take' },
  USERNAME_INVALID: {
    status: 400,
    text: 'that username cannot be used',
    when: 'it fails the rules of §11.1 (the body’s `problem` says which)',
  },
  USERNAME_TAKEN: { status: 409, text: 'that username is taken', when: 'an account has exactly this name' },
  USERNAME_LOOK_ALIKE: {
    status: 409,
    text: 'that username looks like another account’s',
    when: 'an account has a name with the same look-alike key (§11.1)',
  },
  RATE_LIMITED: {
    status: 429,
    text: 'too many attempts: wait and try again',
    when: 'the address’s, the account name’s or the requesting account’s bucket is empty (`Retry-After`)',
  },
  BUSY: {
    status: 503,
    text: 'too many logins in progress: try again',
    when: 'pending logins are at their cap (in all, or for this address)',
  },
  LOGIN_FAILED: {
    status: 401,
    text: 'wrong username or password',
    when: 'the login’s proof failed, or it expired, or it was for a name with no account',
  },
  NOT_SIGNED_IN: { status: 401, text: 'not signed in', when: 'no session cookie or token, or one that is unknown or expired' },
  FORBIDDEN_ORIGIN: {
    status: 403,
    text: 'forbidden origin',
    when: 'a foreign Origin, or a cookie-authenticated change without an Origin (CSRF)',
  },
  DEVICE_APPROVAL_REQUIRED: {
    status: 403,
    text: 'a new device must be approved by one of the account’s devices',
    when: 'adding a device without approval to an account that has one already (§11.8: ask for approval instead)',
  },
  DEVICE_NOT_BOUND: {
    status: 403,
    text: 'this session is not bound to a device of the account: enrol, get approved or bind first',
    when: 'an endpoint only a device may use (§11.8), with a session that is not bound to one, or that names another device than the session’s',
  },
  SESSION_BOUND: {
    status: 409,
    text: 'this session is bound to another device already',
    when: 'binding a session bound to another device, or asking for approval with a session that is a device’s',
  },
  BIND_FAILED: {
    status: 403,
    text: 'the device did not prove its key',
    when: 'a bind whose challenge is missing, expired or used (`problem: CHALLENGE`), or whose signature does not verify (`problem: SIGNATURE`)',
  },
  NO_DEVICE_YET: {
    status: 409,
    text: 'the account has no device to approve this one: add it as the first',
    when: 'asking for approval on an account with no device',
  },
  NO_SUCH_DEVICE_REQUEST: {
    status: 404,
    text: 'no such device request',
    when: 'a request that expired (10 minutes), was answered already, or is not this account’s (or, for its outcome, this session’s)',
  },
  DEVICE_LIST_INVALID: {
    status: 400,
    text: 'the device-list entry does not verify',
    when: 'an entry that is malformed, badly signed, signed by a key that is not a device, or does not make exactly the change asked (`problem` says which)',
  },
  DEVICE_LIST_STALE: {
    status: 409,
    text: 'the device list changed meanwhile: read it and sign again',
    when: 'an entry for a version the list has passed',
  },
  DEVICE_EXISTS: {
    status: 409,
    text: 'that identity key is already a device’s',
    when: 'a device with this identity key exists (on any account)',
  },
  TOO_MANY_DEVICES: { status: 409, text: 'the account has as many devices as it may', when: 'the account is at `maxDevices` (10)' },
  NO_SUCH_DEVICE: { status: 404, text: 'no such device', when: 'the device is not one of the signed-in account’s' },
  NO_SUCH_USER: { status: 404, text: 'no such user', when: 'a claim or a contacts change names no account' },
  CONTACT_SELF: { status: 400, text: 'that is your own account', when: 'a contacts change that names the signed-in account' },
  CONTACT_BLOCKED: {
    status: 409,
    text: 'you blocked that account: unblock it first',
    when: 'a contact request to an account the signed-in one blocked',
  },
  NO_SUCH_REQUEST: {
    status: 404,
    text: 'no such contact request',
    when: 'accepting or declining where the signed-in account’s list shows no incoming request',
  },
  NO_SUCH_CONTACT: {
    status: 404,
    text: 'no such contact or request',
    when: 'removing where the signed-in account has neither a contact nor its own pending request',
  },
  NOT_BLOCKED: { status: 404, text: 'that account is not blocked', when: 'unblocking an account the signed-in one has not blocked' },
  TOO_MANY_CONTACTS: {
    status: 409,
    text: 'you have as many contacts and pending requests as you may',
    when: 'contacts and pending outgoing requests at `maxContacts` (5000; `max` says)',
  },
  TOO_MANY_PENDING: {
    status: 409,
    text: 'you have as many pending requests as you may: withdraw some',
    when: 'pending outgoing requests at `maxPending` (200; `max` says)',
  },
  TOO_MANY_BLOCKED: {
    status: 409,
    text: 'you have blocked as many accounts as you may',
    when: 'blocked accounts at `maxBlocked` (10,000; `max` says)',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    text: 'the account store is unavailable: try again',
    when: 'the store failed (PostgreSQL unreachable, disk error)',
  },
  INTERNAL: { status: 500, text: 'internal error', when: 'anything unexpected; logged as a code only' },
} as const satisfies Record<string, { readonly status: number; readonly text: string; readonly when: string }>;

export type AccountErrorCode = keyof typeof AccountErrors;

/** A refusal on its way to the client: the code, and for some codes one more field. */
export class AccountHttpError extends Error {
  constructor(
    readonly code: AccountErrorCode,
    readonly extra: Readonly<Record<string, string | number>> = {},
  ) {
    super(AccountErrors[code].text);
    this.name = 'AccountHttpError';
  }
}

/** An OPAQUE call on a client's message: its refusal (a message that does not parse) is BAD_REQUEST. */
export function opaqueCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch {
    throw new AccountHttpError('BAD_REQUEST');
  }
}

/** RATE_LIMITED, with the seconds to wait before trying again (`Retry-After`). */
export const limited = (intervalMs: number) =>
  new AccountHttpError('RATE_LIMITED', { retryAfter: Math.max(1, Math.ceil(intervalMs / 1000)) });
