/**
 * Contacts in the account store (docs/PROTOCOL.md §11.10, docs/SECURITY.md §13.7): the part of the
 * AccountStore interface (accountStore.ts) that keeps who knows whom, implemented by
 * sqliteContacts.ts and pgContacts.ts and held to one contract (test/contactStore.test.ts).
 *
 * Each account has at most one row per other account: *its own view* of the relation. Two rows
 * describe a pair, and they need not agree: a request to someone who blocked you is `outgoing` in
 * your row while theirs stays `blocked`, and that difference is what keeps a block (and a decline)
 * from being seen. What each change does to the two rows is decided in one place, contactRules.ts;
 * a store only reads the two rows and the counts, and writes what the rules say, atomically.
 */

/** One account's view of another: what its own list shows. */
export type ContactState = 'contact' | 'outgoing' | 'incoming' | 'blocked';

export type ContactAction = 'request' | 'accept' | 'decline' | 'block' | 'unblock' | 'remove';

/** Why a change was refused: each is about the actor's own row, never about the other's. */
export type ContactRefusal =
  | 'no-such-user'
  | 'self'
  | 'you-blocked'
  | 'no-such-request'
  | 'no-such-contact'
  | 'not-blocked'
  | 'too-many-contacts'
  | 'too-many-pending'
  | 'too-many-blocked';

export interface ContactLimits {
  /** Contacts and pending outgoing requests together, per account. */
  readonly maxContacts: number;
  /** Pending outgoing requests per account. */
  readonly maxPending: number;
  /** Incoming requests shown per account: beyond it, a new request is dropped as a blocked one is. */
  readonly maxIncoming: number;
  /** Accounts one account may block. */
  readonly maxBlocked: number;
}

/** One row of an account's list: the other account's canonical name, and since when. */
export interface ContactEntry {
  readonly name: string;
  readonly state: ContactState;
  /** Milliseconds since the epoch. */
  readonly since: number;
}

/** The actor's view of the relation after a change (`none`: no row), or why there was no change. */
export type ContactResult =
  | { readonly ok: true; readonly state: ContactState | 'none'; readonly since?: number }
  | { readonly ok: false; readonly refusal: ContactRefusal };

/** Another account, as presence needs it. */
export interface ContactRef {
  readonly id: string;
  readonly name: string;
}

export interface ContactStore {
  /**
   * Applies `action` by `userId` on its relation with `otherId` (contactRules.ts), atomically: two
   * changes on one pair, or on one account's counts, never interleave (both requesting each other
   * at once makes them contacts, never two crossed pending requests). `no-such-user` when either
   * account does not exist (any more).
   */
  changeContact(action: ContactAction, userId: string, otherId: string, now: number, limits: ContactLimits): Promise<ContactResult>;
  /** The account's rows with the other account's name, oldest first (then by name). */
  contacts(userId: string): Promise<ContactEntry[]>;
  /** The accounts that are the account's contacts (accepted both ways): whom its presence goes to. */
  acceptedContacts(userId: string): Promise<ContactRef[]>;
  /** Whether `a` and `b` are contacts (accepted both ways). */
  isContact(a: string, b: string): Promise<boolean>;
}
