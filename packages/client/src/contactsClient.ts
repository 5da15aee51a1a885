/**
 * Contacts from the client's side (docs/PROTOCOL.md §11.10): the list, and the six changes, over the
 * relay's /api/contacts. AccountClient (accounts.ts) carries the session and exposes these as
 * `contacts()`, `requestContact(name)`, …; this file reads the relay's answers into typed values.
 *
 * A name that comes back from the relay is checked to be a username (letters, marks, digits, `-`,
 * `_`, at most 32 code points, §11.1) before it is handed on: a relay cannot slip terminal escapes
 * or invisible characters into a list a person reads.
 */
import { AccountError, list, num, str } from './accountErrors.js';

export type ContactAction = 'request' | 'accept' | 'decline' | 'block' | 'unblock' | 'remove';

/** An account in one of the lists, and since when (milliseconds since the epoch). */
export interface ContactEntry {
  readonly name: string;
  readonly since: number;
}

/** The signed-in account's own view of its relations, each part oldest first. */
export interface ContactList {
  /** Accepted both ways: these see each other's presence. */
  readonly contacts: readonly ContactEntry[];
  /** Requests waiting for this account's answer. */
  readonly incoming: readonly ContactEntry[];
  /** This account's requests, not (yet) accepted. */
  readonly outgoing: readonly ContactEntry[];
  readonly blocked: readonly ContactEntry[];
}

/** The relation with `name` after a change, as the signed-in account sees it (`none`: not in any list). */
export interface ContactChange {
  readonly name: string;
  readonly state: 'contact' | 'outgoing' | 'blocked' | 'none';
  readonly since?: number;
}

/** What the SDK needs of AccountClient: one call to the accounts API with the session. */
export type AccountCall = (method: 'GET' | 'POST', path: string, body?: object) => Promise<Record<string, unknown>>;

const USERNAME = /^[\p{L}\p{M}\p{N}_-]+$/u;
const STATES = new Set(['contact', 'outgoing', 'blocked', 'none']);

function username(v: unknown): string {
  const s = str(v);
  if (!USERNAME.test(s) || [...s].length > 32) throw new AccountError('BAD_RESPONSE');
  return s;
}

function entries(v: unknown): ContactEntry[] {
  return list(v).map((e) => {
    const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    return { name: username(o.name), since: num(o.since) };
  });
}

export async function listContacts(call: AccountCall): Promise<ContactList> {
  const r = await call('GET', '/api/contacts');
  return { contacts: entries(r.contacts), incoming: entries(r.incoming), outgoing: entries(r.outgoing), blocked: entries(r.blocked) };
}

export async function changeContact(call: AccountCall, action: ContactAction, name: string): Promise<ContactChange> {
  const r = await call('POST', `/api/contacts/${action}`, { name });
  const state = str(r.state);
  if (!STATES.has(state)) throw new AccountError('BAD_RESPONSE');
  return {
    name: username(r.name),
    state: state as ContactChange['state'],
    ...(r.since === undefined ? {} : { since: num(r.since) }),
  };
}
