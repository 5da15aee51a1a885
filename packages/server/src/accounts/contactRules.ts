/**
 * What each contacts change does to a pair's two rows (docs/PROTOCOL.md §11.10): a pure function of
 * the actor's row, the other's row and the counts, shared by every store so that SQLite and
 * PostgreSQL cannot drift apart. The store reads, calls `decide`, and writes the answer in the same
 * transaction.
 *
 * Three rules carry the privacy of it (docs/SECURITY.md §13.7):
 *   1. A requester's own row changes only by its own action or by the other's acceptance. So a
 *      request that was declined, dropped by a block or over the other's incoming cap stays
 *      `outgoing`, exactly as one that is merely unanswered.
 *   2. A refusal depends only on the actor's row and the actor's counts, never on the other's:
 *      no answer tells a blocked account anything.
 *   3. The other's row is written only where it shows the actor's own doing (a request it can see,
 *      a contact that begins or ends); a block leaves it as it was, or ends the contact as removing
 *      it would.
 * Contacts and pending outgoing requests count together against `maxContacts`, and only the actor's
 * count is checked: an accepted request turns the requester's `outgoing` into `contact`, which does
 * not change its count, so no account passes the cap and none learns whether another is full.
 */
import type { ContactAction, ContactLimits, ContactRefusal, ContactState } from './contactStore.js';

/** An account's rows by state. */
export type ContactCounts = Readonly<Record<ContactState, number>>;

export interface PairView {
  /** The actor's row for the other (undefined: none). */
  readonly mine: ContactState | undefined;
  /** The other's row for the actor. */
  readonly theirs: ContactState | undefined;
  readonly myCounts: ContactCounts;
  /** The other's `incoming` rows. */
  readonly theirIncoming: number;
}

/** A row's new state: `keep` leaves it (and its `since`) as it is; `none` deletes it. */
export type RowChange = ContactState | 'none' | 'keep';

export type Decision = { readonly mine: RowChange; readonly theirs: RowChange } | { readonly refusal: ContactRefusal };

const keep = { mine: 'keep', theirs: 'keep' } as const;

/** What `action` by the actor does to the pair. */
export function decide(action: ContactAction, v: PairView, limits: ContactLimits): Decision {
  switch (action) {
    case 'request':
      return request(v, limits);
    case 'accept':
      return v.mine === 'incoming' ? becomeContacts(v, limits) : { refusal: 'no-such-request' };
    case 'decline':
      // Rule 1: the requester's row stays `outgoing`; only the decliner's list forgets the request.
      return v.mine === 'incoming' ? { mine: 'none', theirs: 'keep' } : { refusal: 'no-such-request' };
    case 'block':
      return block(v, limits);
    case 'unblock':
      return v.mine === 'blocked' ? { mine: 'none', theirs: 'keep' } : { refusal: 'not-blocked' };
    case 'remove':
      if (v.mine === 'contact') return { mine: 'none', theirs: 'none' };
      // Withdrawing one's own request takes it out of the other's list too (if it was shown there).
      if (v.mine === 'outgoing') return { mine: 'none', theirs: v.theirs === 'incoming' ? 'none' : 'keep' };
      return { refusal: 'no-such-contact' };
  }
}

function request(v: PairView, limits: ContactLimits): Decision {
  if (v.mine === 'contact' || v.mine === 'outgoing') return keep;
  if (v.mine === 'blocked') return { refusal: 'you-blocked' };
  // They asked first (and it may be hidden from us, if we declined or blocked then): mutual, contacts.
  if (v.mine === 'incoming' || v.theirs === 'outgoing') return becomeContacts(v, limits);
  if (v.myCounts.outgoing >= limits.maxPending) return { refusal: 'too-many-pending' };
  if (v.myCounts.contact + v.myCounts.outgoing >= limits.maxContacts) return { refusal: 'too-many-contacts' };
  // Shown to them only where nothing stands in the way; a block or a full list drops it silently.
  const shown = v.theirs === undefined && v.theirIncoming < limits.maxIncoming;
  return { mine: 'outgoing', theirs: shown ? 'incoming' : 'keep' };
}

/** Both rows become `contact`; the other's was `outgoing`, so only the actor's count grows. */
function becomeContacts(v: PairView, limits: ContactLimits): Decision {
  if (v.myCounts.contact + v.myCounts.outgoing >= limits.maxContacts) return { refusal: 'too-many-contacts' };
  return { mine: 'contact', theirs: 'contact' };
}

function block(v: PairView, limits: ContactLimits): Decision {
  if (v.mine === 'blocked') return keep;
  if (v.myCounts.blocked >= limits.maxBlocked) return { refusal: 'too-many-blocked' };
  // A contact ends on both sides, as `remove` ends it: the blocked side cannot tell the two apart.
  if (v.mine === 'contact') return { mine: 'blocked', theirs: 'none' };
  // Our own request is withdrawn from their list; their request to us stays pending on their side.
  if (v.mine === 'outgoing') return { mine: 'blocked', theirs: v.theirs === 'incoming' ? 'none' : 'keep' };
  return { mine: 'blocked', theirs: 'keep' };
}
