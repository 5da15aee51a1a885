/**
 * Account conversations and their offline delivery (issue #15): what the relay keeps as the MLS
 * Delivery Service of conversations whose members are devices (one-to-one chats and groups). The
 * interface every account store implements (sqliteConversations.ts, pgConversations.ts), checked by
 * one contract suite (test/conversationStore.contract.ts), and the rules both apply, here once.
 *
 * Per conversation the relay keeps its epoch and its *routing view*: the member devices. That view
 * is what the committer declares (`add`, `remove`); the relay cannot read an MLS commit to check it,
 * and the members' clients hold the real membership in their group state. A committer who lies can
 * only misroute: a device left out misses a commit and sees the gap in epochs.
 *
 * Per device the relay keeps a mailbox: every handshake and application message addressed to it,
 * in the order they were accepted, under a sequence number of its own that only ever grows (acks
 * never give one back), until the device acknowledges it. A payload is stored once however many
 * devices it is for; it goes with its last delivery (ack, expiry, or the device deleted).
 *
 * Changes from the first sketch of this interface, and why:
 * - An accepted submit returns, for each recipient, the seq its entry got (`delivered`), so that a
 *   relay can push the entry to a connected device at once without reading that device's mailbox.
 * - Losses are per conversation (`LostMail`), not one flag per device: a device in fifty
 *   conversations learns which ones it must resync, and whether a handshake message was among what
 *   it lost (if not, its group state is still good). Expired entries are losses too: an entry is
 *   either delivered or reported lost, never dropped silently. A loss is reported by every
 *   `mailbox()` until the device acknowledges an entry stored after it (see `ack`), so a device
 *   cannot clear a loss it has not been shown.
 * - A commit's change is checked (`bad-change`): adding a member, removing a non-member, a device
 *   twice, a welcome without additions or additions without one, and the committer removing itself
 *   (RFC 9420 §12.2, proposal list validation, forbids it; ts-mls refuses it too): a member leaves
 *   by being removed by another.
 * - The member cap (1000) is held here, atomically with the change (`too-many-members`).
 * - A conversation can only lose its last member by device deletion (a commit cannot remove its
 *   committer): from then on it does not exist for `members` and `submit*`, and `pruneMail` deletes
 *   its row. Mail already queued for former members stays theirs until they ack it.
 * - A device removed from its account's list is deleted with everything the relay holds for it
 *   (its mailbox, its KeyPackages, its sessions) and leaves every routing view at once: nothing is
 *   stored for it after. Its MLS leaf stays until a member commits its removal, and that commit
 *   names a device the view no longer has: a `remove` of a device that no longer exists at all is
 *   accepted and changes nothing (`departed`), while one of an existing non-member is still
 *   `not-member`. Device ids are random and never reused, so a departed id cannot come back.
 * - A message's sender is kept as the device id it was, also after that device is deleted: a
 *   commit it sent is still needed by every other member (deleting it would break their group).
 */

/** `welcome`: for a device the commit added; `commit`: any other handshake; `app`: an application message. */
export type MailKind = 'welcome' | 'commit' | 'app';

export interface MailEntry {
  /** The device's own sequence number: 1, 2, 3, … in the order the relay accepted the messages. */
  readonly seq: number;
  readonly conversation: string;
  readonly kind: MailKind;
  /** The device that sent it (perhaps since deleted). */
  readonly sender: string;
  /** The epoch it was sent in; for a welcome, the epoch it welcomes into (the commit's + 1). */
  readonly epoch: number;
  readonly payload: Uint8Array;
  readonly createdAt: number;
}

/** Entries of one conversation that were not stored for the device (over quota) or expired unread. */
export interface LostMail {
  readonly conversation: string;
  /** How many. */
  readonly entries: number;
  /** A commit or a welcome was among them: the device's group state for it is stale (it must be re-added). */
  readonly handshake: boolean;
  /** The device's last seq when the latest of them was lost: the loss is reported until an entry after it is acknowledged. */
  readonly afterSeq: number;
}

export interface ConversationLimits {
  /** Member devices per conversation (default 1000). */
  readonly maxMembers: number;
  /** Entries queued per device (default 50,000). */
  readonly maxEntriesPerDevice: number;
  /** Payload bytes queued per device (default 256 MiB). */
  readonly maxBytesPerDevice: number;
  /** How long an entry is kept unacknowledged (default 30 days). */
  readonly retentionMs: number;
}

export const defaultConversationLimits: ConversationLimits = {
  maxMembers: 1000,
  maxEntriesPerDevice: 50_000,
  maxBytesPerDevice: 256 * 2 ** 20,
  retentionMs: 30 * 24 * 3600 * 1000,
};

/** The most entries one `mailbox()` call returns, whatever the limit asked. */
export const MAILBOX_PAGE_MAX = 1000;

/** One entry stored by a submit: for whom, under which seq, and which (a welcome for an added device). */
export interface Delivered {
  readonly device: string;
  readonly seq: number;
  readonly kind: MailKind;
}

export interface Accepted {
  readonly status: 'accepted';
  /** The conversation's epoch after. */
  readonly epoch: number;
  /** Every entry stored, in no particular order. */
  readonly delivered: Delivered[];
  /** Devices over quota: nothing stored for them (a loss recorded instead). */
  readonly overflowed: string[];
}

/** Refusals of every submit; nothing changes. */
export type SubmitRefusal =
  | { readonly status: 'no-such-conversation' }
  | { readonly status: 'not-member' }
  | { readonly status: 'wrong-epoch'; readonly epoch: number };

export type BadChange = 'welcome-mismatch' | 'duplicate' | 'self-remove' | 'already-member' | 'not-member';

/** Refusals of a commit only. */
export type CommitRefusal =
  | SubmitRefusal
  | { readonly status: 'unknown-device'; readonly device: string }
  | { readonly status: 'bad-change'; readonly reason: BadChange; readonly device?: string }
  | { readonly status: 'too-many-members'; readonly max: number };

export type AppResult = Accepted | SubmitRefusal;
export type CommitResult = Accepted | CommitRefusal;

export interface CommitSubmission {
  readonly conversation: string;
  readonly sender: string;
  /** Must equal the conversation's epoch: exactly one commit per epoch is accepted. */
  readonly epoch: number;
  readonly payload: Uint8Array;
  readonly add: readonly string[];
  readonly remove: readonly string[];
  /** Required exactly when `add` is not empty. */
  readonly welcome?: Uint8Array;
}

export interface AppSubmission {
  readonly conversation: string;
  readonly sender: string;
  /** Must equal the conversation's epoch (a message of another epoch would need keys its readers left). */
  readonly epoch: number;
  readonly payload: Uint8Array;
}

export interface ConversationStore {
  /**
   * A conversation (its id: base64url of 16 random bytes chosen by the creating client) whose only
   * member is the creator device, at epoch 0.
   */
  createConversation(id: string, creatorDevice: string, now: number): Promise<'created' | 'exists' | 'unknown-device'>;
  /**
   * A commit at the conversation's epoch by a member: stored for every member but the sender
   * (removed members included, so they learn of it), the welcome for every added device; then the
   * members become members + add − remove and the epoch goes up by one. Atomic, and serialised per
   * conversation (PostgreSQL: its row locked FOR UPDATE), so seq order in every mailbox is
   * acceptance order: commits in epoch order, an application message after the commit of its epoch.
   */
  submitCommit(c: CommitSubmission, limits: ConversationLimits, now: number): Promise<CommitResult>;
  /** An application message at the conversation's epoch by a member, for every other member. */
  submitApp(m: AppSubmission, limits: ConversationLimits, now: number): Promise<AppResult>;
  /** The epoch and member devices (sorted); undefined when there is no such conversation (or it has no member left). */
  members(conversation: string): Promise<{ epoch: number; devices: string[] } | undefined>;
  /** The conversations the device is a member of (sorted). */
  conversationsOf(device: string): Promise<string[]>;
  /**
   * Up to `limit` (at most MAILBOX_PAGE_MAX) entries after `afterSeq`, in seq order, and the
   * device's losses. Entries expired at `now` are never returned: they are deleted on the way and
   * reported in `lost`.
   */
  mailbox(device: string, afterSeq: number, limit: number, now: number): Promise<{ entries: MailEntry[]; lost: LostMail[] }>;
  /**
   * Acknowledges every entry up to and including `upToSeq`: they are deleted (with every payload no
   * device still needs), and so is every loss whose `afterSeq` is below `upToSeq` (the device read
   * past it, so its `mailbox()` had shown it). How many entries.
   */
  ack(device: string, upToSeq: number): Promise<number>;
  /** What the device has queued, as the quotas count it: entries and payload bytes. */
  usage(device: string): Promise<{ entries: number; bytes: number }>;
  /**
   * Deletes every entry past retention at `now` (recording the losses) and every conversation left
   * without members: how many entries.
   */
  pruneMail(now: number): Promise<number>;
}

/** A conversation's state, as a store read it under its lock. */
export interface ConversationState {
  readonly epoch: number;
  readonly members: readonly string[];
}

/** Why a submit by `sender` at `epoch` is refused, or undefined when it may go on. */
export function judgeSubmit(state: ConversationState | undefined, sender: string, epoch: number): SubmitRefusal | undefined {
  if (state === undefined || state.members.length === 0) return { status: 'no-such-conversation' };
  if (!state.members.includes(sender)) return { status: 'not-member' };
  if (epoch !== state.epoch) return { status: 'wrong-epoch', epoch: state.epoch };
  return undefined;
}

/** A commit's effect on the routing view: who gets the commit, who the welcome, and who stays. */
export interface CommitPlan {
  /** Every member but the sender, removed ones included; sorted. */
  readonly commitTo: string[];
  /** The added devices; sorted. */
  readonly welcomeTo: string[];
  readonly remove: string[];
}

/**
 * Checks a commit against the conversation's state and the limits (not whether added devices
 * exist: the store asks its devices table); the plan, or why not. `departed`: those of the commit's
 * `remove` that are no device at all any more (the store asks its devices table): their removal is
 * accepted and changes nothing.
 */
export function judgeCommit(
  state: ConversationState | undefined,
  c: CommitSubmission,
  limits: ConversationLimits,
  departed: ReadonlySet<string> = new Set(),
): CommitPlan | CommitRefusal {
  const refused = judgeSubmit(state, c.sender, c.epoch);
  if (refused !== undefined) return refused;
  const members = new Set((state as ConversationState).members);
  if (c.add.length > 0 !== (c.welcome !== undefined)) return { status: 'bad-change', reason: 'welcome-mismatch' };
  const seen = new Set<string>();
  for (const d of [...c.add, ...c.remove]) {
    if (seen.has(d)) return { status: 'bad-change', reason: 'duplicate', device: d };
    seen.add(d);
  }
  if (c.remove.includes(c.sender)) return { status: 'bad-change', reason: 'self-remove', device: c.sender };
  for (const d of c.add) if (members.has(d)) return { status: 'bad-change', reason: 'already-member', device: d };
  // A departed device's leaf is removed by a later commit: nothing left to change in the routing view.
  const remove = c.remove.filter((d) => members.has(d) || !departed.has(d));
  for (const d of remove) if (!members.has(d)) return { status: 'bad-change', reason: 'not-member', device: d };
  if (members.size + c.add.length - remove.length > limits.maxMembers) return { status: 'too-many-members', max: limits.maxMembers };
  return {
    commitTo: [...members].filter((d) => d !== c.sender).sort(),
    welcomeTo: [...c.add].sort(),
    remove,
  };
}

/** Whether a value from judgeCommit is a refusal. */
export const isRefusal = (p: CommitPlan | CommitRefusal): p is CommitRefusal => 'status' in p;

/** A page size within 0..MAILBOX_PAGE_MAX. */
export const pageSize = (limit: number): number => Math.max(0, Math.min(MAILBOX_PAGE_MAX, Math.floor(limit)));
