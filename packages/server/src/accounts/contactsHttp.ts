/**
 * Contacts (docs/PROTOCOL.md §11.10): find an account by its exact username, ask it to be a contact,
 * accept, decline, block, unblock, remove; the list of one's contacts, requests both ways and blocks.
 * What each change does is contactRules.ts's; here are the bounds, the rate and the answers.
 *
 * Every answer is the signed-in account's own view, and every refusal is about its own rows (a block
 * by the other side is never one): docs/SECURITY.md §13.7. Nothing here logs, so no username or
 * relation reaches a log line; a store failure is logged by accountsHttp.ts as its code only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { NoticeWhat } from '@nullroom/protocol';
import { AccountHttpError } from './accountErrors.js';
import type { AccountStore, StoredSession, StoredUser } from './accountStore.js';
import type { Buckets } from './accountShared.js';
import type { ContactAction, ContactLimits, ContactRefusal } from './contactStore.js';
import { readJson } from './jsonBody.js';
import type { AccountsRequest } from './accountsHttp.js';
import { USERNAME_INPUT_MAX, normalizeUsername } from './username.js';

export interface ContactsLimits extends ContactLimits {
  /** Requests per account: a burst, then one every `requestIntervalMs`. */
  readonly requestBurst: number;
  readonly requestIntervalMs: number;
}

export const defaultContactsLimits: ContactsLimits = {
  maxContacts: 5000,
  maxPending: 200,
  maxIncoming: 1000,
  maxBlocked: 10_000,
  requestBurst: 30,
  requestIntervalMs: 60_000,
};

const Named = z.strictObject({ name: z.string().min(1).max(USERNAME_INPUT_MAX) });

interface Signed {
  readonly session: StoredSession;
  readonly user: StoredUser;
}

export interface ContactContext {
  readonly store: AccountStore;
  readonly limits: ContactsLimits;
  /** The request's session (a change with the cookie must carry an accepted Origin). */
  signedIn(req: IncomingMessage, what: 'read' | 'change', r: AccountsRequest): Promise<Signed>;
  send(res: ServerResponse, status: number, body: object): void;
  /** The request buckets (one relay's memory, or shared by relay nodes). */
  readonly buckets: Buckets;
  /** Tells a user's connected devices that its contact lists changed (NOTICE CONTACTS). */
  notify(userId: string, what: number): void;
  /** Two accounts became contacts (`true`: each online one learns the other's presence) or stopped being ones. */
  related(a: StoredUser, b: StoredUser, contacts: boolean, blocked?: boolean): void;
}

/** Each refusal of the store as the API's error, with the bound it hit where there is one. */
function refused(why: ContactRefusal, limits: ContactsLimits): AccountHttpError {
  switch (why) {
    case 'no-such-user':
      return new AccountHttpError('NO_SUCH_USER');
    case 'self':
      return new AccountHttpError('CONTACT_SELF');
    case 'you-blocked':
      return new AccountHttpError('CONTACT_BLOCKED');
    case 'no-such-request':
      return new AccountHttpError('NO_SUCH_REQUEST');
    case 'no-such-contact':
      return new AccountHttpError('NO_SUCH_CONTACT');
    case 'not-blocked':
      return new AccountHttpError('NOT_BLOCKED');
    case 'too-many-contacts':
      return new AccountHttpError('TOO_MANY_CONTACTS', { max: limits.maxContacts });
    case 'too-many-pending':
      return new AccountHttpError('TOO_MANY_PENDING', { max: limits.maxPending });
    case 'too-many-blocked':
      return new AccountHttpError('TOO_MANY_BLOCKED', { max: limits.maxBlocked });
  }
}

export class ContactEndpoints {
  constructor(private readonly ctx: ContactContext) {}

  /** `{contacts, incoming, outgoing, blocked}`, each `[{name, since}]`, oldest first. */
  async list(req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'read', r);
    const out = { contacts: [] as Entry[], incoming: [] as Entry[], outgoing: [] as Entry[], blocked: [] as Entry[] };
    for (const e of await this.ctx.store.contacts(s.user.id)) {
      (e.state === 'contact' ? out.contacts : out[e.state]).push({ name: e.name, since: e.since });
    }
    this.ctx.send(res, 200, out);
  }

  /** One change by the signed-in account on its relation with `{name}`: its view after, `{name, state, since?}`. */
  async change(action: ContactAction, req: IncomingMessage, res: ServerResponse, r: AccountsRequest): Promise<void> {
    const s = await this.ctx.signedIn(req, 'change', r);
    const body = await readJson(req, Named);
    // Counted before the name is looked up: the bucket also bounds how fast names can be tried.
    if (action === 'request') await this.take(s.user.id);
    const other = await this.account(body.name);
    if (other.id === s.user.id) throw new AccountHttpError('CONTACT_SELF');
    const done = await this.ctx.store.changeContact(action, s.user.id, other.id, Date.now(), this.ctx.limits);
    if (!done.ok) throw refused(done.refusal, this.ctx.limits);
    // Our other devices always learn of the change. The other account learns of what it would see in
    // its own list anyway (a request, an acceptance, a removal); a decline or a block is never told.
    this.ctx.notify(s.user.id, NoticeWhat.CONTACTS);
    if (action === 'request' || action === 'accept' || action === 'remove') this.ctx.notify(other.id, NoticeWhat.CONTACTS);
    if (done.state === 'contact') this.ctx.related(s.user, other, true);
    else if (action === 'remove' || action === 'block') this.ctx.related(s.user, other, false, action === 'block');
    this.ctx.send(res, 200, { name: other.name, state: done.state, ...(done.since === undefined ? {} : { since: done.since }) });
  }

  private async take(userId: string): Promise<void> {
    const { requestBurst: burst, requestIntervalMs: interval } = this.ctx.limits;
    const wait = await this.ctx.buckets.take('contact', userId, burst, interval);
    if (wait > 0) throw new AccountHttpError('RATE_LIMITED', { retryAfter: Math.max(1, Math.ceil(wait / 1000)) });
  }

  /** The account with exactly this name (after §11.1's normalisation); a name that cannot be one has none. */
  private async account(input: string): Promise<StoredUser> {
    let name: string;
    try {
      name = normalizeUsername(input).name;
    } catch {
      throw new AccountHttpError('NO_SUCH_USER');
    }
    const user = await this.ctx.store.userByName(name);
    if (user === undefined) throw new AccountHttpError('NO_SUCH_USER');
    return user;
  }
}

interface Entry {
  readonly name: string;
  readonly since: number;
}
