/**
 * The accounts SDK's errors (accounts.ts, accountDevices.ts): every code a caller acts on, the
 * relay's refusal codes mapped onto them, and the checks of the relay's JSON answers (a field that
 * is not what the API promises is BAD_RESPONSE, never a crash further on).
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
  NOT_A_DEVICE: 'this device is not in the account’s device list (removed, or never approved)',
  BAD_CODE: 'that is not an approval code (12 letters and digits)',
  NO_REQUEST_FOR_CODE: 'no device is waiting for approval with that code',
  NO_SUCH_REQUEST: 'the approval request expired (10 minutes) or was answered',
  APPROVAL_DECLINED: 'an existing device declined this one',
  APPROVAL_NOT_CONFIRMED: 'the approval does not carry the code shown here: the relay may have answered for another device',
  REFUSED: 'the relay refused the request for another reason (`relayCode` names it)',
  BAD_RESPONSE: 'the relay answered with something that is not the accounts API',
} as const;

export type AccountErrorCode = keyof typeof AccountErrors;

export class AccountError extends Error {
  constructor(
    readonly code: AccountErrorCode,
    readonly details: { relayCode?: string; problem?: string; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(details.relayCode === undefined ? AccountErrors[code] : `${AccountErrors[code]} (${details.relayCode})`);
    this.name = 'AccountError';
  }
}

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
  NO_SUCH_REQUEST: 'NO_SUCH_REQUEST',
  DEVICE_LIST_INVALID: 'DEVICE_LIST_INVALID',
  DEVICE_LIST_STALE: 'DEVICE_LIST_STALE',
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
