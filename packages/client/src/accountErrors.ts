/**
 * The SDK's account errors (docs/PROTOCOL.md §11): one typed AccountError with a stable code for
 * every refusal of the relay's accounts API and for a relay that cannot be reached or answers
 * something else; and the checks that read the relay's answers, each failing as BAD_RESPONSE.
 * Shared by accounts.ts, accountDevices.ts and contactsClient.ts; re-exported from
 * `@nullroom/client/accounts`.
 */
import { fromBase64Url, toBase64Url } from '@nullroom/crypto';

export const AccountErrors = {
  USERNAME_INVALID: 'the username breaks the rules (`problem`: LENGTH, CHARACTERS, SEPARATORS or CONFUSABLE_SCRIPT)',
  USERNAME_TAKEN: 'an account has that username',
  USERNAME_LOOK_ALIKE: 'an account has a username that looks the same (0/o, 1/l, rn/m, -/_ …)',
  LOGIN_FAILED: 'wrong username or password (the two are not told apart)',
  NOT_SIGNED_IN: 'no session, or it ended (logged out, expired, the password changed elsewhere)',
  RATE_LIMITED: 'too many attempts: `retryAfter` seconds',
  SERVER_KEY_CHANGED: "the relay's OPAQUE key is not the pinned one: another relay, or one whose setup was replaced",
  UNAVAILABLE: 'the relay could not be reached, or it or its store is busy or down',
  DEVICE_APPROVAL_REQUIRED: 'the account has a device already: a new one must be approved by it (AccountDevices.requestApproval)',
  NO_SUCH_DEVICE: 'the device is not one of the account’s',
  NO_SUCH_USER: 'no account has that name',
  NO_DEVICE_YET: 'the account has no device: enrol this one as its first (AccountDevices.enrolFirst)',
  DEVICE_LIST_INVALID: 'a device list does not verify (`problem` says why): the relay changed or made up an entry',
  DEVICE_LIST_FORKED: 'the relay shows a device list that does not continue the one seen before: verify the safety number',
  DEVICE_LIST_STALE: 'the device list changed meanwhile: read it again',
  UNLISTED_DEVICE: 'the relay handed out a KeyPackage for a device that is not in the account’s signed device list',
  NO_REACHABLE_DEVICE:
    'that account has no device that has published a KeyPackage yet (`problem` names it): it cannot be added until one of its devices comes online',
  NOT_A_DEVICE: 'this device is not in the account’s device list (removed, or never approved)',
  BAD_CODE: 'that is not an approval code (12 letters and digits)',
  NO_REQUEST_FOR_CODE: 'no device is waiting for approval with that code',
  NO_SUCH_DEVICE_REQUEST: 'the approval request expired (10 minutes) or was answered',
  APPROVAL_DECLINED: 'an existing device declined this one',
  APPROVAL_NOT_CONFIRMED: 'the approval does not carry the code shown here: the relay may have answered for another device',
  CONTACT_SELF: 'that is your own account',
  CONTACT_BLOCKED: 'you blocked that account: unblock it first',
  NO_SUCH_REQUEST: 'that account has no contact request waiting for you',
  NO_SUCH_CONTACT: 'that account is neither a contact nor asked by you',
  NOT_BLOCKED: 'that account is not blocked',
  TOO_MANY_CONTACTS: 'you have as many contacts and pending requests as the relay allows (`max`)',
  TOO_MANY_PENDING: 'you have as many pending requests as the relay allows (`max`): withdraw some',
  TOO_MANY_BLOCKED: 'you have blocked as many accounts as the relay allows (`max`)',
  DEVICE_NOT_BOUND: 'this session is not yet a device’s: enrol, be approved, or bind (AccountDevices.bind) first',
  SESSION_BOUND: 'this session belongs to a device already: it cannot ask for approval as another',
  BIND_FAILED: 'the relay did not accept this device’s proof (`problem`: CHALLENGE or SIGNATURE)',
  NOT_A_MEMBER: 'that account is not a member of the conversation',
  BAD_CONVERSATION_NAME: 'a conversation name is 1 to 64 characters, no space at either end, no control or direction-override character',
  REFUSED: 'the relay refused the request for another reason (`relayCode` names it)',
  BAD_RESPONSE: 'the relay answered with something that is not the accounts API',
} as const;

export type AccountErrorCode = keyof typeof AccountErrors;

export class AccountError extends Error {
  constructor(
    readonly code: AccountErrorCode,
    readonly details: { relayCode?: string; problem?: string; retryAfter?: number; max?: number; cause?: unknown } = {},
  ) {
    super(details.relayCode === undefined ? AccountErrors[code] : `${AccountErrors[code]} (${details.relayCode})`);
    this.name = 'AccountError';
  }
}

/** The relay's `error` codes (docs/PROTOCOL.md §11.4, §11.6, §11.8, §11.10) the SDK passes on as its own; any other is REFUSED (or UNAVAILABLE for a 5xx). */
export const RELAY_CODES: Readonly<Record<string, AccountErrorCode>> = {
  USERNAME_INVALID: 'USERNAME_INVALID',
  USERNAME_TAKEN: 'USERNAME_TAKEN',
  USERNAME_LOOK_ALIKE: 'USERNAME_LOOK_ALIKE',
  LOGIN_FAILED: 'LOGIN_FAILED',
  NOT_SIGNED_IN: 'NOT_SIGNED_IN',
  RATE_LIMITED: 'RATE_LIMITED',
  BUSY: 'UNAVAILABLE',
  STORE_UNAVAILABLE: 'UNAVAILABLE',
  DEVICE_APPROVAL_REQUIRED: 'DEVICE_APPROVAL_REQUIRED',
  NO_SUCH_DEVICE: 'NO_SUCH_DEVICE',
  NO_SUCH_USER: 'NO_SUCH_USER',
  NO_DEVICE_YET: 'NO_DEVICE_YET',
  NO_SUCH_DEVICE_REQUEST: 'NO_SUCH_DEVICE_REQUEST',
  DEVICE_LIST_INVALID: 'DEVICE_LIST_INVALID',
  DEVICE_LIST_STALE: 'DEVICE_LIST_STALE',
  CONTACT_SELF: 'CONTACT_SELF',
  CONTACT_BLOCKED: 'CONTACT_BLOCKED',
  NO_SUCH_REQUEST: 'NO_SUCH_REQUEST',
  NO_SUCH_CONTACT: 'NO_SUCH_CONTACT',
  NOT_BLOCKED: 'NOT_BLOCKED',
  TOO_MANY_CONTACTS: 'TOO_MANY_CONTACTS',
  TOO_MANY_PENDING: 'TOO_MANY_PENDING',
  TOO_MANY_BLOCKED: 'TOO_MANY_BLOCKED',
  DEVICE_NOT_BOUND: 'DEVICE_NOT_BOUND',
  SESSION_BOUND: 'SESSION_BOUND',
  BIND_FAILED: 'BIND_FAILED',
};

export const b64 = (b: Uint8Array): string => toBase64Url(b);
export function unb64(v: unknown): Uint8Array {
  try {
    if (typeof v === 'string' && v.length > 0) return fromBase64Url(v);
  } catch {
    // below
  }
  throw new AccountError('BAD_RESPONSE');
}
export function list(v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new AccountError('BAD_RESPONSE');
  return v;
}
export function str(v: unknown): string {
  if (typeof v !== 'string') throw new AccountError('BAD_RESPONSE');
  return v;
}
export function num(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new AccountError('BAD_RESPONSE');
  return v;
}
