/**
 * What the accounts keep outside their store (docs/PROTOCOL.md §11, §12): rate buckets, pending
 * logins, bind challenges, device approval requests, account blob tickets, and the account
 * channels' events (notices, presence, new mail, removed devices). One relay keeps them in its
 * memory (the in-process implementations beside each user: loginGate.ts, deviceBinding.ts,
 * deviceApproval.ts, accountTickets.ts, localAccountBus.ts); relay nodes that form one service keep
 * them in Redis (cluster/account*.ts), so that a user's devices, and the two ends of a conversation,
 * may sit on different nodes. One contract suite per interface (test/accountShared.contract.ts)
 * holds both implementations to the same behaviour.
 */
import type { Ticket } from '../tickets.js';

/** Which limit a bucket belongs to (each has its own keys). */
export type BucketSpace = 'name' | 'address' | 'claim' | 'contact';

/** Token buckets: `burst` tokens, one more every `intervalMs`. */
export interface Buckets {
  /** Takes a token from the bucket of `key`: 0 when one was taken, else the milliseconds until the next one. */
  take(space: BucketSpace, key: string, burst: number, intervalMs: number): Promise<number>;
  /** The bucket is full again. */
  fill(space: BucketSpace, key: string): Promise<void>;
  /** Forgets full buckets (the relay's timer). */
  expire(): void;
}

export interface PendingLogin {
  /** The canonical name the login is for (its OPAQUE user identifier). */
  readonly name: string;
  /** The user, when the name exists (a login for a name that does not is finished as a failure). */
  readonly userId: string | undefined;
  /** The server's OPAQUE login state. */
  readonly state: string;
  readonly address: string;
}

/** The server's side of logins between start and finish (finished on any node). */
export interface PendingLogins {
  /** Whether one more may be held (`max` in all, `maxPerAddress` for `address`), expired ones forgotten first. */
  room(address: string, max: number, maxPerAddress: number): Promise<boolean>;
  /** Keeps a started login `ttlMs`: its id (base64url of 16 random bytes). */
  hold(login: PendingLogin, ttlMs: number): Promise<string>;
  /** Takes it out (a login is finished once); undefined when unknown or expired. */
  take(id: string): Promise<PendingLogin | undefined>;
  expire(): void;
}

/** Bind challenges (deviceBinding.ts), one per session. */
export interface BindChallengeStore {
  /** A new challenge for the session (replacing its earlier one); undefined when `total` are held. */
  issue(tokenHash: Uint8Array): Promise<{ nonce: Uint8Array; expiresAt: number } | undefined>;
  /** The session's live challenge, taken: it is never handed out again. */
  take(tokenHash: Uint8Array): Promise<Uint8Array | undefined>;
  expire(): void;
}

export type RequestOutcome =
  | { readonly state: 'approved'; readonly device: string; readonly confirm: Uint8Array }
  | { readonly state: 'declined' };

export interface DeviceRequest {
  readonly id: string;
  readonly userId: string;
  /** The asking session's token hash, as the store keys it: bound to the device when it is approved. */
  readonly asker: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly tag: Uint8Array;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly outcome?: RequestOutcome;
}

/** Requests of new devices waiting for approval (deviceApproval.ts). */
export interface ApprovalStore {
  /** A new request (replacing the account's oldest open one when it has `perAccount`); undefined when `total` are held. */
  add(userId: string, tokenHash: Uint8Array, identityKey: Uint8Array, tag: Uint8Array): Promise<DeviceRequest | undefined>;
  /** The account's live requests without an outcome, oldest first. */
  of(userId: string): Promise<DeviceRequest[]>;
  /** The account's live request `id` (any outcome). */
  get(userId: string, id: string): Promise<DeviceRequest | undefined>;
  /** Gives the live request its outcome, if it has none yet: whether it did. */
  settle(userId: string, id: string, outcome: RequestOutcome): Promise<boolean>;
  /** Whether this session asked for `r`. */
  askedBy(r: DeviceRequest, tokenHash: Uint8Array): boolean;
  /** Forgets every request of an account (deleted). */
  forget(userId: string): Promise<void>;
  expire(): void;
}

/** Blob upload tickets of account devices (accountTickets.ts). */
export interface AccountTicketStore {
  /** The ticket of `device` (of account `user`): the same one while it is valid, a new one once it expired. */
  issue(user: string, device: string): Promise<{ ticket: string; expiresAt: number }>;
  /** The ticket a request header names, if it is well-formed, was issued (on any node) and has not expired. */
  check(header: string | string[] | undefined): Promise<Ticket | undefined>;
  dropDevice(device: string): Promise<void>;
  dropUser(user: string): Promise<void>;
}

/**
 * What one node tells every node (its own included) about the account channels. Names ride along
 * only in process: a shared bus leaves them out and the receiving node reads them from the store.
 */
export type BusEvent =
  /** Something of the user changed (NOTICE `what`). */
  | { readonly type: 'notify'; readonly user: string; readonly what: number }
  /** Two accounts became contacts or stopped being ones, with each one's presence as it was. */
  | {
      readonly type: 'related';
      readonly a: string;
      readonly b: string;
      readonly aOnline: boolean;
      readonly bOnline: boolean;
      readonly contacts: boolean;
      readonly blocked: boolean;
      readonly aName?: string;
      readonly bName?: string;
    }
  /** A device left its account: its channels close (4410). */
  | { readonly type: 'removed'; readonly device: string }
  /** Entries were stored for these devices, up to these seqs: their channels read their mailboxes. */
  | { readonly type: 'mail'; readonly devices: readonly (readonly [string, number])[] }
  /** The user came online or went offline: its contacts `to` are told. */
  | {
      readonly type: 'presence';
      readonly user: string;
      readonly online: boolean;
      readonly at: number;
      readonly to: readonly string[];
      readonly name?: string;
    }
  /** A channel of the device authenticated as generation `gen`: every older channel of it closes (4409). */
  | { readonly type: 'device'; readonly device: string; readonly gen: number }
  /** The account was deleted: each node drops what it holds of it (its blobs). */
  | { readonly type: 'deleted'; readonly user: string }
  /** Only to this node: the user's presence may have changed unseen (a node died); announce it again. */
  | { readonly type: 'recheck'; readonly user: string };

export type PublishedEvent = Extract<BusEvent, { type: 'notify' | 'related' | 'removed' | 'mail' | 'deleted' }>;

/** The account channels' events and presence across nodes. */
export interface AccountBus {
  /** Every event of every node, in the order the bus orders them. */
  listen(f: (e: BusEvent) => void): void;
  publish(e: PublishedEvent): Promise<void>;
  /** A channel of `device` (of `user`) authenticated here: its generation (a `device` event tells every node). */
  up(user: string, device: string): Promise<number>;
  /** A channel that authenticated here closed: whether the user has no channel left on any live node. */
  down(user: string, device: string): Promise<boolean>;
  /** Which of `users` have a channel on a live node. */
  online(users: readonly string[]): Promise<Set<string>>;
  /**
   * Tells the user's contacts (`to`) its presence (a `presence` event) if it is not what they were
   * told last: calls made in any order, on any node, leave them told the truth, once.
   */
  announce(user: string, to: readonly string[], name: string): Promise<void>;
  /** The node stops: its channels are gone for every other node. */
  stop(): Promise<void>;
  close(): void;
}

/** What the accounts API (accountsHttp.ts) keeps outside its store. */
export interface AccountsState {
  readonly buckets: Buckets;
  readonly logins: PendingLogins;
  readonly challenges: BindChallengeStore;
  readonly requests: ApprovalStore;
}

/** Everything of the above that one relay uses. */
export interface AccountShared extends AccountsState {
  readonly tickets: AccountTicketStore;
  readonly bus: AccountBus;
  /** After the relay closed: the connections to Redis. */
  close(): Promise<void>;
}
