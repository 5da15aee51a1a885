/**
 * Accounts from the client's side (docs/PROTOCOL.md §11): register, log in, who am I, log out (here
 * or everywhere), change the password, delete the account, over the relay's /api/ with OPAQUE
 * (@nullroom/crypto's opaqueClient.ts): the password never leaves this object. Then the account's
 * devices and KeyPackages, and its contacts (contactsClient.ts).
 *
 * A browser page uses the session cookie (the relay sets it HttpOnly: this code never sees it); the
 * terminal asks for a token and keeps it (apps/cli). Either way the relay's OPAQUE public key can be
 * pinned (`serverKey`): a relay that answers with another key is refused with SERVER_KEY_CHANGED
 * before anything is sent that depends on it. Imported as `@nullroom/client/accounts`, so that a
 * page that only joins rooms never loads OPAQUE.
 */
import { AccountError, num, RELAY_CODES, str } from './accountErrors.js';
import { type AccountCall, type ContactChange, type ContactList, changeContact, listContacts } from './contactsClient.js';

export { AccountError, type AccountErrorCode, AccountErrors } from './accountErrors.js';
export {
  Messenger,
  type ConversationSummary,
  type MessengerEvents,
  type MessengerOptions,
  type ReceivedMessage,
  type StoredMessage,
} from './messenger.js';
export { RecordMessengerStore, RecordTrustedLists } from './recordStores.js';
export {
  type AccountFileOptions,
  type DownloadedFile,
  type DownloadFileOptions,
  type SendFileOptions,
  bytesSource,
} from './accountFiles.js';
export type { ConversationNotice, FileRef } from './historyRecord.js';
export { HISTORY_CHUNK, HISTORY_WINDOW, type HistoryEntry, MemoryRecords, MessageHistory, type NewMessage } from './messageHistory.js';
export { RECEIPT_MAX_DEVICES } from './conversationLog.js';
export { MAX_RECEIPT_IDS } from './payload.js';
export type { SealedRecords } from './browserKeyStore.js';
export { MemoryMessengerStore, type MessengerSnapshot, type MessengerStore, decodeSnapshot, encodeSnapshot } from './messengerStore.js';
export {
  AccountChannel,
  type ChannelEvents,
  ChannelError,
  type MailEvent,
  type SubmitResult,
  accountSocketUrl,
} from './accountChannel.js';
export { type DeviceListHead, NoticeWhat } from '@nullroom/protocol';
export { accountSafetyNumber, formatSafetyNumber } from '@nullroom/crypto';
export {
  AccountDevices,
  type AccountDevice,
  type ApprovalRequest,
  type ClaimedDevice,
  type DeviceListView,
  headFromJson,
  headToJson,
  MemoryTrustedLists,
  type SavedHead,
  type TrustedLists,
} from './accountDevices.js';
export type { ContactAction, ContactChange, ContactEntry, ContactList } from './contactsClient.js';

/**
 * OPAQUE (WebAssembly, about 160 KB gzip) is loaded on the first register, login or password
 * change: a page that only reads its conversations with a session it has never loads it.
 */
const opaque = () => import('@nullroom/crypto/opaque');

export interface AccountClientOptions {
  /** The relay's base URL (http(s)://host:port). */
  readonly url: string;
  /** `cookie` in a browser page; `token` in a terminal (default). */
  readonly session?: 'cookie' | 'token';
  /** A token from an earlier login (token sessions). */
  readonly token?: string;
  /** The relay's OPAQUE public key seen before: a different one is refused. */
  readonly serverKey?: string;
  readonly fetch?: typeof fetch;
}

export interface SignedIn {
  readonly name: string;
  readonly expiresAt: number;
  /** Token sessions only: keep it (0600) and pass it back as `token`. */
  readonly token?: string;
  /** The relay's OPAQUE public key: pin it. */
  readonly serverKey: string;
}

export class AccountClient {
  private token: string | undefined;
  private serverKey: string | undefined;
  private readonly base: string;
  private readonly kind: 'cookie' | 'token';
  private readonly fetch: typeof fetch;

  constructor(opts: AccountClientOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.kind = opts.session ?? 'token';
    this.token = opts.token;
    this.serverKey = opts.serverKey;
    this.fetch = opts.fetch ?? ((...a) => globalThis.fetch(...a));
  }

  /** Creates the account and signs in. */
  async register(name: string, password: string): Promise<SignedIn> {
    const reg = await (await opaque()).opaqueRegistration(password);
    const started = await this.call('POST', '/api/register/start', { name, request: reg.request });
    const { record, serverKey } = this.step(() => reg.finish(str(started.response)));
    this.pin(serverKey);
    const done = await this.call('POST', '/api/register/finish', { name: str(started.name), record, session: this.kind });
    return this.signedIn(done, serverKey);
  }

  async login(name: string, password: string): Promise<SignedIn> {
    const { login, proof, serverKey } = await this.prove(name, password);
    const done = await this.call('POST', '/api/login/finish', { login, finish: proof, session: this.kind });
    return this.signedIn(done, serverKey);
  }

  /**
   * The signed-in account, or undefined when there is no valid session; `device`: the device this
   * session is bound to, absent while it is bound to none (docs/PROTOCOL.md §11.8).
   */
  async whoami(): Promise<{ name: string; kind: 'web' | 'cli'; expiresAt: number; device?: string } | undefined> {
    try {
      const r = await this.call('GET', '/api/session');
      const device = typeof r.device === 'string' ? { device: r.device } : {};
      return { name: str(r.name), kind: r.kind === 'web' ? 'web' : 'cli', expiresAt: num(r.expiresAt), ...device };
    } catch (e) {
      if (e instanceof AccountError && e.code === 'NOT_SIGNED_IN') return undefined;
      throw e;
    }
  }

  async logout(): Promise<void> {
    await this.call('POST', '/api/logout', {});
    this.token = undefined;
  }

  /** Ends every session of the account, this one included: how many ended. */
  async logoutEverywhere(): Promise<number> {
    const r = await this.call('POST', '/api/logout-all', {});
    this.token = undefined;
    return num(r.ended);
  }

  /** Changes the password (proving the current one); every other session of the account ends. */
  async changePassword(name: string, current: string, next: string): Promise<void> {
    const reg = await (await opaque()).opaqueRegistration(next);
    const started = await this.call('POST', '/api/password/start', { request: reg.request });
    const { record, serverKey } = this.step(() => reg.finish(str(started.response)));
    this.pin(serverKey);
    const { login, proof } = await this.prove(name, current);
    await this.call('POST', '/api/password/finish', { login, finish: proof, record });
  }

  /** Deletes the account and everything the relay holds for it (proving the password). */
  async deleteAccount(name: string, password: string): Promise<void> {
    const { login, proof } = await this.prove(name, password);
    await this.call('POST', '/api/account/delete', { login, finish: proof });
    this.token = undefined;
  }

  /** The account's contacts, requests both ways and blocks (§11.10). */
  contacts(): Promise<ContactList> {
    return listContacts(this.caller);
  }

  /**
   * Asks `name` (an exact username) to be a contact; if they asked first, you are contacts at once.
   * A request stays `outgoing` until they accept it or you withdraw it (`removeContact`): whether
   * they declined it, blocked you, or have not looked is not told.
   */
  requestContact(name: string): Promise<ContactChange> {
    return changeContact(this.caller, 'request', name);
  }

  acceptContact(name: string): Promise<ContactChange> {
    return changeContact(this.caller, 'accept', name);
  }

  /** Takes their request out of your list; they are not told (theirs stays pending). */
  declineContact(name: string): Promise<ContactChange> {
    return changeContact(this.caller, 'decline', name);
  }

  /** Ends any contact or request with `name`, hides you from them and drops their requests unseen. */
  blockContact(name: string): Promise<ContactChange> {
    return changeContact(this.caller, 'block', name);
  }

  unblockContact(name: string): Promise<ContactChange> {
    return changeContact(this.caller, 'unblock', name);
  }

  /** Ends a contact on both sides, or withdraws your pending request. */
  removeContact(name: string): Promise<ContactChange> {
    return changeContact(this.caller, 'remove', name);
  }

  private readonly caller: AccountCall = (method, path, body) => this.call(method, path, body);

  /** A login up to its proof: LOGIN_FAILED here when the password is wrong (nothing more is sent). */
  private async prove(name: string, password: string): Promise<{ login: string; proof: string; serverKey: string }> {
    const l = await (await opaque()).opaqueLogin(password);
    const started = await this.call('POST', '/api/login/start', { name, request: l.request });
    const fin = this.step(() => l.finish(str(started.response)));
    if (fin === undefined) throw new AccountError('LOGIN_FAILED');
    this.pin(fin.serverKey);
    return { login: str(started.login), proof: fin.proof, serverKey: fin.serverKey };
  }

  private pin(serverKey: string): void {
    if (this.serverKey !== undefined && this.serverKey !== serverKey) throw new AccountError('SERVER_KEY_CHANGED');
    this.serverKey = serverKey;
  }

  private signedIn(r: Record<string, unknown>, serverKey: string): SignedIn {
    if (this.kind === 'token') this.token = str(r.token);
    return { name: str(r.name), expiresAt: num(r.expiresAt), serverKey, ...(this.kind === 'token' ? { token: this.token! } : {}) };
  }

  /** An OPAQUE step on the relay's answer: a throw means the answer was not OPAQUE's. */
  private step<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw new AccountError('BAD_RESPONSE', { cause: e });
    }
  }

  /**
   * One call of the relay's accounts API with this client's session: its JSON answer, or the
   * refusal as an AccountError. What the SDK's other account modules (accountDevices.ts) build on.
   */
  async call(method: 'GET' | 'POST', path: string, body?: object): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.kind === 'token' && this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await this.fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        credentials: 'same-origin',
      });
    } catch (e) {
      throw new AccountError('UNAVAILABLE', { cause: e });
    }
    let json: Record<string, unknown>;
    try {
      const v: unknown = await res.json();
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError('not an object');
      json = v as Record<string, unknown>;
    } catch (e) {
      throw new AccountError(res.status >= 500 ? 'UNAVAILABLE' : 'BAD_RESPONSE', { cause: e });
    }
    if (res.ok) return json;
    const relayCode = typeof json.error === 'string' ? json.error : `HTTP ${res.status}`;
    const code = Object.hasOwn(RELAY_CODES, relayCode) ? RELAY_CODES[relayCode]! : res.status >= 500 ? 'UNAVAILABLE' : 'REFUSED';
    throw new AccountError(code, {
      relayCode,
      ...(typeof json.problem === 'string' ? { problem: json.problem } : {}),
      ...(typeof json.retryAfter === 'number' ? { retryAfter: json.retryAfter } : {}),
      ...(typeof json.max === 'number' ? { max: json.max } : {}),
    });
  }
}
