/**
 * The accounts API under /api/ (docs/PROTOCOL.md §11.4): registration, login, sessions, password
 * change and account deletion, all through OPAQUE (RFC 9807, `@serenity-kit/opaque`): the password
 * never reaches the relay in any form, and what it stores cannot be used to test one offline.
 *
 * Every body is JSON under 16 KiB checked by a schema (jsonBody.ts); every answer is JSON with
 * `Cache-Control: no-store`; every refusal one of accountErrors.ts. A change made with a session
 * cookie must carry the relay's own Origin (with SameSite=Strict: no cross-site request forgery);
 * a foreign Origin is refused everywhere.
 */
import * as opaque from '@serenity-kit/opaque';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { AccountStoreError } from '../errors.js';
import { AccountErrors, AccountHttpError, limited, opaqueCall } from './accountErrors.js';
import type { ChannelLimits } from './channelHub.js';
import type { ConversationLimits } from './conversationStore.js';
import type { AccountStore, SessionKind, StoredSession, StoredUser } from './accountStore.js';
import type { AccountsState } from './accountShared.js';
import { bind, bindStart } from './deviceBinding.js';
import { localShared } from './localShared.js';
import { type ContactsLimits, ContactEndpoints, defaultContactsLimits } from './contactsHttp.js';
import { type DeviceLimits, DeviceEndpoints, defaultDeviceLimits } from './devicesHttp.js';
import { readJson } from './jsonBody.js';
import { type LoginLimits, LoginGate, type PendingLogin, defaultLoginLimits } from './loginGate.js';
import { ROUTES } from './accountRoutes.js';
import type { BlobTicketSource } from './blobTicketHttp.js';
import { newToken, presented, sessionCookie, tokenHash } from './sessions.js';
import { UsernameError, USERNAME_INPUT_MAX, normalizeUsername } from './username.js';
import type { RelayCounters } from '../counters.js';
import type { RelayLogger } from '../logger.js';

export interface AccountsOptions {
  readonly store: AccountStore;
  /** The OPAQUE server setup (opaqueSetup.ts), never stored with the accounts. */
  readonly opaqueSetup: string;
  readonly limits?: Partial<LoginLimits>;
  /** How long a session lasts (default 30 days). */
  readonly sessionTtlMs?: number;
  readonly deviceLimits?: Partial<DeviceLimits>;
  readonly contactLimits?: Partial<ContactsLimits>;
  /** The account channel (channelHub.ts) and the mailboxes' quotas and retention (conversationStore.ts). */
  readonly channelLimits?: Partial<ChannelLimits>;
  readonly conversationLimits?: Partial<ConversationLimits>;
  /** Blob tickets for devices (§9.3, blobTicketHttp.ts), from the relay's blob store; without it, no such endpoint. */
  readonly blobTickets?: BlobTicketSource;
}

/** What the relay's HTTP handler tells us of a request. */
export interface AccountsRequest {
  readonly path: string;
  /** The Origin check's verdict (origin.ts), and whether the request carried an Origin. */
  readonly origin: 'ok' | 'forbidden';
  readonly address: string;
}

const DAY = 86_400_000;
/** base64url of an OPAQUE message: the library's own parser checks the rest. */
const msg = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[A-Za-z0-9_-]+$/);
const name = z.string().min(1).max(USERNAME_INPUT_MAX);
const sessionKind = z.enum(['cookie', 'token']).default('cookie');
const Start = z.strictObject({ name, request: msg });
const RegisterFinish = z.strictObject({ name, record: msg, session: sessionKind });
const LoginFinish = z.strictObject({ login: z.string().regex(/^[A-Za-z0-9_-]{22}$/), finish: msg, session: sessionKind });
const PasswordStart = z.strictObject({ request: msg });
const Proof = z.strictObject({ login: z.string().regex(/^[A-Za-z0-9_-]{22}$/), finish: msg });
const PasswordFinish = z.strictObject({ login: z.string().regex(/^[A-Za-z0-9_-]{22}$/), finish: msg, record: msg });
type Headers = Readonly<Record<string, string>>;
type Signed = { session: StoredSession; user: StoredUser; via: 'cookie' | 'bearer'; hash: Uint8Array };
/**
 * Which sessions an endpoint takes: `device` (the default: fail closed) only one bound to a device of
 * the account; `any` also one that is not bound yet (what a new device needs, §11.8).
 */
export type Needs = 'device' | 'any';

export class AccountsHttp {
  private readonly gate: LoginGate;
  private readonly limits: LoginLimits;
  private readonly ttl: number;
  /** The device and KeyPackage endpoints (devicesHttp.ts). */
  readonly devices: DeviceEndpoints;
  /** The contacts endpoints (contactsHttp.ts). */
  readonly contacts: ContactEndpoints;
  private lastPrune = 0;
  /** Tells a user's connected devices that something changed (the account channel's hub sets it). */
  notify: (userId: string, what: number) => void = () => undefined;
  /** Two accounts became contacts or stopped being ones (the hub's presence follows). */
  related: (a: StoredUser, b: StoredUser, contacts: boolean, blocked?: boolean) => void = () => undefined;
  /** Ends the channels (and blob tickets) of a device removed from its account (the relay sets it). */
  deviceRemoved: (deviceId: string) => void = () => undefined;
  /** The relay's metrics counters (counters.ts), set by the relay: refusals by AccountErrors name. */
  counters: RelayCounters | undefined = undefined;

  private constructor(
    readonly opts: AccountsOptions,
    private readonly headers: Headers,
    private readonly log: RelayLogger,
    private readonly shared: AccountsState,
  ) {
    this.limits = { ...defaultLoginLimits, ...opts.limits };
    this.gate = new LoginGate(this.limits, shared.buckets, shared.logins);
    this.ttl = opts.sessionTtlMs ?? 30 * DAY;
    this.devices = new DeviceEndpoints({
      store: opts.store,
      limits: { ...defaultDeviceLimits, ...opts.deviceLimits },
      signedIn: (req, what, r, needs) => this.signedIn(req, what, r, needs),
      send: (res, status, body) => this.send(res, status, body),
      takeClaim: async (userId) => {
        if (!(await this.gate.takeClaim(userId))) throw limited(this.limits.claimIntervalMs);
      },
      requests: shared.requests,
      notify: (userId, what) => this.notify(userId, what),
      removed: (deviceId) => this.deviceRemoved(deviceId),
    });
    this.contacts = new ContactEndpoints({
      store: opts.store,
      limits: { ...defaultContactsLimits, ...opts.contactLimits },
      signedIn: (req, what, r) => this.signedIn(req, what, r),
      send: (res, status, body) => this.send(res, status, body),
      buckets: shared.buckets,
      notify: (userId, what) => this.notify(userId, what),
      related: (a, b, contacts, blocked) => this.related(a, b, contacts, blocked),
    });
  }

  /** Waits for OPAQUE's WebAssembly. `shared`: this relay's memory by default; relay nodes share Redis. */
  static async open(opts: AccountsOptions, headers: Headers, log: RelayLogger, shared = localShared()): Promise<AccountsHttp> {
    await opaque.ready;
    return new AccountsHttp(opts, headers, log, shared);
  }

  /** Expired logins, full buckets, (once a minute) expired sessions and mail: the relay's timer. */
  expire(now = Date.now()): void {
    this.gate.expire();
    this.shared.requests.expire();
    this.shared.challenges.expire();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    this.opts.store.pruneSessions(now).catch(() => this.log.warn('accounts: pruning sessions failed'));
    this.opts.store.pruneMail(now).catch(() => this.log.warn('accounts: pruning mail failed'));
  }

  /** Answers one request under /api/. */
  async handle(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    try {
      if (r.origin === 'forbidden') throw new AccountHttpError('FORBIDDEN_ORIGIN');
      const route = ROUTES[r.path];
      if (route === undefined) throw new AccountHttpError('NOT_FOUND');
      if (req.method !== route.method) {
        res.setHeader('Allow', route.method);
        throw new AccountHttpError('METHOD_NOT_ALLOWED');
      }
      await route.run(this, req, res, r);
    } catch (e) {
      this.refuse(res, e);
    }
  }

  // ---- the endpoints ----

  async registerStart(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const body = await readJson(req, Start);
    if (!(await this.gate.takeAddress(r.address))) throw this.addressLimited();
    const u = username(body.name);
    await this.free(u.name, u.key);
    const { registrationResponse } = opaqueCall(() =>
      opaque.server.createRegistrationResponse({
        serverSetup: this.opts.opaqueSetup,
        userIdentifier: u.name,
        registrationRequest: body.request,
      }),
    );
    this.send(res, 200, { name: u.name, response: registrationResponse });
  }

  async registerFinish(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const body = await readJson(req, RegisterFinish);
    if (!(await this.gate.takeAddress(r.address))) throw this.addressLimited();
    const u = username(body.name);
    const user: StoredUser = {
      id: randomBytes(16).toString('base64url'),
      name: u.name,
      key: u.key,
      record: body.record,
      createdAt: Date.now(),
    };
    const made = await this.opts.store.createUser(user);
    if (made === 'taken') throw new AccountHttpError('USERNAME_TAKEN');
    if (made === 'look-alike') throw new AccountHttpError('USERNAME_LOOK_ALIKE');
    await this.signIn(res, 201, user, body.session);
  }

  async loginStart(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const body = await readJson(req, Start);
    const u = username(body.name);
    const refused = await this.gate.startLogin(u.name, r.address);
    if (refused === 'PENDING') throw new AccountHttpError('BUSY');
    if (refused !== undefined) {
      throw limited(refused === 'ADDRESS' ? this.limits.addressIntervalMs : this.limits.loginIntervalMs);
    }
    const user = await this.opts.store.userByName(u.name);
    // A name with no account gets an answer made from a fake record: the reply does not tell.
    const { loginResponse, serverLoginState } = opaqueCall(() =>
      opaque.server.startLogin({
        serverSetup: this.opts.opaqueSetup,
        userIdentifier: u.name,
        registrationRecord: user?.record ?? null,
        startLoginRequest: body.request,
      }),
    );
    const login = await this.gate.hold({ name: u.name, userId: user?.id, state: serverLoginState, address: r.address });
    this.send(res, 200, { login, response: loginResponse });
  }

  async loginFinish(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req, LoginFinish);
    const { user } = await this.proven(body);
    await this.signIn(res, 200, user, body.session);
  }

  /** Who is signed in, and the device the session is bound to (null: none yet, §11.8). */
  async whoami(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = await this.signedIn(req, 'read', undefined, 'any');
    this.send(res, 200, { name: s.user.name, kind: s.session.kind, expiresAt: s.session.expiresAt, device: s.session.device ?? null });
  }

  async logout(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.signedIn(req, 'change', r, 'any');
    await this.opts.store.deleteSession(s.hash);
    this.ended(res, s, { ended: 1 });
  }

  async logoutAll(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.signedIn(req, 'change', r, 'any');
    const ended = await this.opts.store.deleteSessions(s.user.id);
    this.ended(res, s, { ended });
  }

  async passwordStart(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.signedIn(req, 'change', r, 'any');
    const body = await readJson(req, PasswordStart);
    if (!(await this.gate.takeAddress(r.address))) throw this.addressLimited();
    const { registrationResponse } = opaqueCall(() =>
      opaque.server.createRegistrationResponse({
        serverSetup: this.opts.opaqueSetup,
        userIdentifier: s.user.name,
        registrationRequest: body.request,
      }),
    );
    this.send(res, 200, { response: registrationResponse });
  }

  /** The new record, with a fresh login proof of the old password; every other session ends. */
  async passwordFinish(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.signedIn(req, 'change', r, 'any');
    const body = await readJson(req, PasswordFinish);
    await this.proven(body, s.user.id);
    if (!(await this.opts.store.replaceRecord(s.user.id, body.record, s.hash))) throw new AccountHttpError('NOT_SIGNED_IN');
    this.send(res, 200, { changed: true });
  }

  /** `POST /api/devices/bind/start`, `/api/devices/bind` (deviceBinding.ts): any session of the account. */
  bindStart(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    return bindStart(this.binding, req, res, r);
  }
  bind(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    return bind(this.binding, req, res, r);
  }
  private get binding() {
    return {
      store: this.opts.store,
      challenges: this.shared.challenges,
      signedIn: (req: IncomingMessage, r: AccountsRequest) => this.signedIn(req, 'change', r, 'any'),
      send: (res: ServerResponse, status: number, body: object) => this.send(res, status, body),
    };
  }

  /** Deletes the account and everything the relay holds for it, with a fresh login proof. */
  async deleteAccount(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.signedIn(req, 'change', r, 'any');
    const body = await readJson(req, Proof);
    await this.proven(body, s.user.id);
    await this.opts.store.deleteUser(s.user.id);
    await this.shared.requests.forget(s.user.id);
    await this.opts.blobTickets?.accountDeleted(s.user.id);
    this.ended(res, s, { deleted: true });
  }

  // ---- the parts ----

  private addressLimited(): AccountHttpError {
    return limited(this.limits.addressIntervalMs);
  }

  /** Refuses a name already someone's, or a look-alike of one. */
  private async free(name: string, key: string): Promise<void> {
    if ((await this.opts.store.userByName(name)) !== undefined) throw new AccountHttpError('USERNAME_TAKEN');
    if ((await this.opts.store.userByKey(key)) !== undefined) throw new AccountHttpError('USERNAME_LOOK_ALIKE');
  }

  /** Finishes a pending login: its user, when the proof holds (and, with `userId`, is that user's). */
  private async proven(body: { login: string; finish: string }, userId?: string): Promise<{ user: StoredUser; pending: PendingLogin }> {
    const pending = await this.gate.take(body.login);
    if (pending?.userId === undefined || (userId !== undefined && pending.userId !== userId)) throw new AccountHttpError('LOGIN_FAILED');
    try {
      opaque.server.finishLogin({ finishLoginRequest: body.finish, serverLoginState: pending.state });
    } catch {
      throw new AccountHttpError('LOGIN_FAILED');
    }
    const user = await this.opts.store.userById(pending.userId);
    if (user === undefined) throw new AccountHttpError('LOGIN_FAILED');
    await this.gate.succeeded(pending.name);
    return { user, pending };
  }

  /** A new session for the user: a cookie for a browser, the token in the body for the terminal. */
  private async signIn(res: ServerResponse, status: number, user: StoredUser, as: 'cookie' | 'token'): Promise<void> {
    const token = newToken();
    const now = Date.now();
    const kind: SessionKind = as === 'cookie' ? 'web' : 'cli';
    const session: StoredSession = { tokenHash: tokenHash(token), userId: user.id, kind, createdAt: now, expiresAt: now + this.ttl };
    await this.opts.store.createSession(session);
    if (as === 'cookie') res.setHeader('Set-Cookie', sessionCookie(token, this.ttl / 1000));
    this.send(res, status, { name: user.name, expiresAt: session.expiresAt, ...(as === 'token' ? { token } : {}) });
  }

  /**
   * The session the request presents. A change made with the cookie must carry an Origin the
   * relay accepts (the handler refused a foreign one already): without one it may be a forgery.
   * Unless the endpoint takes `any`, the session must be bound to a device (DEVICE_NOT_BOUND).
   */
  async signedIn(req: IncomingMessage, what: 'read' | 'change', r?: AccountsRequest, needs: Needs = 'device'): Promise<Signed> {
    const p = presented(req.headers);
    if (p === undefined) throw new AccountHttpError('NOT_SIGNED_IN');
    if (what === 'change' && p.via === 'cookie' && (req.headers.origin === undefined || r?.origin !== 'ok')) {
      throw new AccountHttpError('FORBIDDEN_ORIGIN');
    }
    const hash = tokenHash(p.token);
    const found = await this.opts.store.session(hash, Date.now());
    if (found === undefined) throw new AccountHttpError('NOT_SIGNED_IN');
    if (needs === 'device' && found.session.device === undefined) throw new AccountHttpError('DEVICE_NOT_BOUND');
    return { ...found, via: p.via, hash };
  }

  private ended(res: ServerResponse, s: Signed, body: object): void {
    if (s.via === 'cookie') res.setHeader('Set-Cookie', sessionCookie('', 0));
    this.send(res, 200, body);
  }

  send(res: ServerResponse, status: number, body: object): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      ...this.headers,
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    res.end(text);
  }

  private refuse(res: ServerResponse, e: unknown): void {
    let err: AccountHttpError;
    if (e instanceof AccountHttpError) err = e;
    else if (e instanceof AccountStoreError) {
      this.log.error('accounts: store error', { code: e.code, detail: e.detail });
      err = new AccountHttpError('STORE_UNAVAILABLE');
    } else {
      this.log.error('accounts: internal error', { error: e instanceof Error ? e.name : typeof e });
      err = new AccountHttpError('INTERNAL');
    }
    if (res.headersSent) return void res.destroy();
    const entry = AccountErrors[err.code];
    this.counters?.refused('api', err.code, entry.status);
    if (err.code === 'RATE_LIMITED') res.setHeader('Retry-After', String(err.extra.retryAfter ?? 1));
    // A body that was refused before it was read leaves the connection in an unknown state.
    if (err.code === 'TOO_LARGE' || err.code === 'UNSUPPORTED_TYPE') res.setHeader('Connection', 'close');
    this.send(res, entry.status, { error: err.code, message: entry.text, ...err.extra });
  }
}

/** The username, or USERNAME_INVALID with the problem. */
function username(input: string) {
  try {
    return normalizeUsername(input);
  } catch (e) {
    if (e instanceof UsernameError) throw new AccountHttpError('USERNAME_INVALID', { problem: e.problem, detail: e.message });
    throw e;
  }
}
