/**
 * The state and plumbing every room shares, below its group logic (roomMembership.ts) and its
 * public API (room.ts): the one serial queue everything runs on, the MLS state, the membership
 * state machine's state (phase, slot, relay commit count, members... membershipState.ts, changed
 * only through `advance`), the join waiters, timers of the current stay, and the parts of the
 * conversation core wired to this room: the outbox (outbox.ts), trust (trust.ts) and the upload
 * ticket (uploadTicket.ts).
 *
 * "relayCommits" is the relay's commit count (the relay's frames call it `epoch`: commits it
 * accepted); "epoch" is only ever the MLS epoch.
 */
import type { ClientFrame, RelayEpoch, ReqId, Slot } from '@nullroom/protocol';
import { type Member, type RoomState, CryptoError, type RoomGroup, normalizeNick } from '@nullroom/crypto';
import { ClientError, type ClientErrorCode, asClientError } from './errors.js';
import { Emitter } from './emitter.js';
import type { KeyStore } from './keyStore.js';
import { step } from './membershipMachine.js';
import { type MembershipEffect, type MembershipEvent, type MembershipState, initialMembership } from './membershipState.js';
import { Outbox } from './outbox.js';
import type { StaySnapshot } from './roomSession.js';
import { Trust } from './trust.js';
import { UploadTicket } from './uploadTicket.js';
import type { RoomEvents, RoomPhase, RoomTimings } from './roomTypes.js';

/** What a room needs from its connection. */
export interface RoomLink {
  request(room: RoomBase, frame: (reqId: ReqId) => ClientFrame): ReqId;
  /** Whether a frame sent now goes out on an open connection (the room hears of a drop only after what is on its queue). */
  online(): boolean;
  detach(room: RoomBase): void;
}

/** A saved session is written at most this often while things change (and before each message leaves). */
const SAVE_DEBOUNCE_MS = 250;

export abstract class RoomBase extends Emitter<RoomEvents> {
  /** The membership state machine's state (membershipMachine.ts): changed only by `advance`. */
  #membership: MembershipState = initialMembership('joining');
  #queue: Promise<void> = Promise.resolve();
  protected mls: RoomState | undefined;
  protected crypto: RoomGroup;
  /** The JOIN of this stay: only its refusal fails the join. */
  protected joinReq: ReqId | undefined;
  protected rejoin = false;
  /** Timers of this stay, cleared on reset. */
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** SYNCs in flight (answered by a GROUP_STATE, which names no request): a refused one is not an error to show. */
  readonly #syncs = new Set<number>();
  protected leaveAck: (() => void) | undefined;
  protected readonly joinWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  protected readonly outbox: Outbox;
  protected readonly trusted: Trust;
  protected readonly ticket: UploadTicket;
  /** The nickname we asked for; `nick` is what we got (a suffix is added on a clash). */
  readonly requestedNick: string;
  #nick: string;
  #created = false;
  /** Our slot's resume token (JOINED.resume) and the last delivery we read in this stay (§4.5). */
  #token: Uint8Array | undefined;
  #lastSeq = 0;
  /** The connection dropped while joined: the stay (group state, slot, outbox) is kept to be resumed. */
  protected suspendedStay = false;
  /** Reading the deliveries the relay replayed after RESUMED: nothing is sent meanwhile. */
  protected replaying = false;

  /** Where the stay is written to be taken up after a restart (the client's SessionStore); undefined: removed. */
  readonly #session: ((stay: StaySnapshot | undefined) => Promise<void>) | undefined;
  #saveTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    crypto: RoomGroup,
    nick: string,
    protected readonly link: RoomLink,
    protected readonly timings: RoomTimings,
    store: KeyStore,
    session?: (stay: StaySnapshot | undefined) => Promise<void>,
  ) {
    super();
    // Found while joining, before `join` resolves and the caller can listen: kept for the first listener.
    this.holdUnheard(['key-changed', 'error']);
    this.crypto = crypto;
    this.#session = session;
    this.requestedNick = normalizeNick(nick);
    this.#nick = this.requestedNick;
    const locator = crypto.locator;
    this.outbox = new Outbox(
      {
        request: (build) => this.link.request(this, build),
        run: (fn) => this.run(fn),
        directOpen: () => this.phase === 'joined' && !this.replaying && this.link.online(),
        ownSlot: () => this.slot,
        // Back after a reconnect but alone (the others have not rejoined yet): what was typed offline
        // was meant for them, and newcomers never see earlier messages, so hold it until someone is here.
        appOpen: () =>
          this.phase === 'joined' &&
          !this.replaying &&
          this.mls !== undefined &&
          !this.commitInFlight() &&
          !(this.rejoin && this.memberList.length <= 1),
        encrypt: async (plaintext) => {
          const out = await this.crypto.encrypt(this.mls!, plaintext);
          this.mls = out.state;
          return { message: out.message, commits: this.relayCommits };
        },
        wrap: async (inner) => ({ message: await this.crypto.wrapHidden(this.mls!, inner), commits: this.relayCommits }),
        appFrame: (reqId, commits, data) => ({ type: 'APP', reqId, room: locator, epoch: commits, data }),
        directFrame: (reqId, to, data) => ({ type: 'DIRECT', reqId, room: locator, to, data }),
        beforeSend: () => this.saveSession(),
        sent: (id) => this.emit('sent', { id }),
        unsent: (id, e) => this.emit('unsent', { id, code: e.code, message: e.message }),
        refused: (name) => this.report('RELAY_ERROR', new ClientError('RELAY_ERROR', `the relay refused a message: ${name}`), name),
        failed: (e) => this.report('INTERNAL', e),
      },
      timings,
    );
    this.trusted = new Trust(store, locator, {
      keyChanged: (n, wasVerified) => this.emit('key-changed', { nick: n, wasVerified }),
      verified: (n) => this.emit('trust', { nick: n }),
      storeFailed: (code, e) => this.report(code, e),
    });
    this.ticket = new UploadTicket({
      whenJoined: () =>
        this.phase === 'joined' ? Promise.resolve() : new Promise((resolve, reject) => this.joinWaiters.push({ resolve, reject })),
      run: (fn) => this.run(fn),
      joined: () => this.phase === 'joined',
      requestTicket: () => this.link.request(this, (reqId) => ({ type: 'TICKET', reqId, room: locator })),
    });
  }

  /** Our nickname in the room (what we asked for, with a suffix on a clash). */
  get nick(): string {
    return this.#nick;
  }
  /** Whether this client created the room's group (or re-founded it). */
  get created(): boolean {
    return this.#created;
  }
  /** Joined: under this nickname, as the creator or not. */
  protected named(nick: string, created: boolean): void {
    this.#nick = nick;
    this.#created = created;
  }

  protected get membership(): MembershipState {
    return this.#membership;
  }
  protected get phase(): RoomPhase {
    return this.#membership.phase;
  }
  protected get slot(): Slot | undefined {
    return this.#membership.slot;
  }
  /** The relay's commit count: the `epoch` the next commit must name. */
  protected get relayCommits(): RelayEpoch {
    return this.#membership.commits;
  }
  protected get memberList(): readonly Member[] {
    return this.#membership.members;
  }
  /** Whether a commit of ours is in flight (application messages wait: it would change the epoch under them). */
  protected commitInFlight(): boolean {
    return this.#membership.pending !== undefined;
  }

  /** JOINED: our slot, and the token that lets us take it back after a lost connection. */
  protected joinedSlot(slot: Slot, token: Uint8Array): void {
    this.#token = new Uint8Array(token); // the frame is a view into the socket's buffer
    this.#lastSeq = 0;
    this.advance({ type: 'slot', slot });
  }
  /** A delivery (or an ACK, which follows every delivery sequenced before it) of this stay was read. */
  protected noteSeq(seq: number): void {
    if (seq > this.#lastSeq) this.#lastSeq = seq;
  }
  /** What a RESUME needs (§4.5): undefined when this stay cannot be resumed. */
  protected resumable(): { slot: Slot; token: Uint8Array; seq: number } | undefined {
    const slot = this.slot;
    if (this.mls === undefined || slot === undefined || this.#token === undefined) return undefined;
    return { slot, token: this.#token, seq: this.#lastSeq };
  }

  /**
   * The connection dropped while joined: keep the stay to resume it (§4.5). Its timers stop, SYNCs
   * and the upload ticket go with the connection; the outbox keeps what is in flight (the relay's
   * replay says what it accepted).
   */
  protected suspend(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#syncs.clear();
    this.ticket.reset();
    this.suspendedStay = true;
    for (const fx of this.advance({ type: 'suspended' })) if (fx.kind === 'phase-changed') this.emit('phase', { phase: fx.phase });
  }

  /** The stay as a saved session writes it (roomSession.ts); undefined when there is none to resume. */
  protected abstract stay(): StaySnapshot | undefined;

  /** Waits, before a stay is written, for the parts of it kept elsewhere to read what the room handed them (Room: its private chats). */
  protected abstract settleSession(): Promise<void>;

  /** Writes the session soon (debounced): something changed that a restart should not lose. */
  protected saveSoon(): void {
    if (this.#session === undefined || this.#saveTimer !== undefined) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.run(() => this.saveSession());
    }, SAVE_DEBOUNCE_MS);
    (this.#saveTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Writes the session now (on the queue, before a message encrypted in this state leaves). If it
   * cannot be written, the saved one is removed: an older state must never encrypt again.
   */
  protected async saveSession(): Promise<void> {
    const save = this.#session;
    if (save === undefined) return;
    try {
      await this.settleSession();
      await save(this.phase === 'left' ? undefined : this.stay());
    } catch (e) {
      this.report('KEY_STORE', e);
      await save(undefined).catch(() => undefined);
    }
  }

  /** Takes up a saved stay's slot, token and position (Room.restore): resumed on the next connection. */
  protected restoreResume(token: Uint8Array, seq: number): void {
    this.#token = new Uint8Array(token);
    this.#lastSeq = seq;
    this.suspendedStay = true;
  }

  /** Steps the membership state machine with `e`; returns the effects to carry out, in order. */
  protected advance(e: MembershipEvent): MembershipEffect[] {
    const next = step(this.#membership, e, { timings: this.timings, now: Date.now(), random: Math.random });
    this.#membership = next.state;
    return next.effects;
  }
  /** Forgets what a stay knew of others' messages (Room). */
  protected abstract forgetStay(): void;

  /**
   * Runs `fn` on the queue. Whatever it throws that nothing else caught is a bug: reported as
   * INTERNAL, and the operation waiting on the queue (a join, a leave) fails instead of hanging.
   */
  protected run(fn: () => Promise<void> | void): void {
    this.#queue = this.#queue.then(fn).catch((e: unknown) => {
      const err = asClientError(e);
      if (this.phase === 'joining') return this.failJoin(err); // reports it
      this.report(err.code, err);
      if (this.leaveAck !== undefined) this.finishLeave();
    });
  }

  protected report(code: ClientErrorCode, e: unknown, relayCode?: string): void {
    const message = e instanceof CryptoError || e instanceof ClientError ? e.message : e instanceof Error ? `${e.name}` : String(e);
    this.emit('error', relayCode === undefined ? { code, message } : { code, message, relayCode });
  }

  protected setPhase(p: RoomPhase): void {
    for (const fx of this.advance({ type: 'phase', phase: p })) if (fx.kind === 'phase-changed') this.emit('phase', { phase: fx.phase });
  }

  /** Runs `fn` on the queue after `ms` (never sleeping inside the queue), unless the room was left meanwhile. */
  protected after(ms: number, fn: () => Promise<void> | void): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      this.run(async () => (this.phase === 'left' ? undefined : fn()));
    }, ms);
    (t as { unref?: () => void }).unref?.();
    this.#timers.add(t);
    return t;
  }

  protected reset(phase: RoomPhase): void {
    this.mls = undefined;
    this.#token = undefined;
    this.#lastSeq = 0;
    this.suspendedStay = false;
    this.replaying = false;
    this.advance({ type: 'stay-ended' }); // no effects: the stay's timers are cleared below
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.forgetStay();
    this.outbox.reset();
    this.#syncs.clear();
    this.ticket.reset(); // the relay ends a ticket with the stay it was granted for
    this.setPhase(phase);
  }

  protected finishLeave(): void {
    if (this.phase === 'left') return;
    this.reset('left');
    void this.#session?.(undefined).catch(() => undefined); // nothing left to resume
    this.leaveAck = undefined;
    this.link.detach(this);
    this.outbox.close(new ClientError('NOT_JOINED', 'the room was left before the message was sent'));
  }

  protected rejectJoin(err: ClientError): void {
    for (const w of this.joinWaiters.splice(0)) w.reject(err);
  }

  /** Joining failed: the join promise rejects with `err`, the relay is told we left. */
  protected failJoin(err: ClientError): void {
    this.report(err.code, err, err.relayCode);
    this.rejectJoin(err);
    this.link.request(this, (reqId) => ({ type: 'LEAVE', reqId, room: this.crypto.locator }));
    this.finishLeave();
  }

  /** (Re)starts joining, on the queue after what is on it now. */
  protected restart(rejoin: boolean): void {
    this.run(async () => {
      if (this.phase === 'left') return;
      this.rejoin = rejoin;
      this.reset('joining');
      this.joinReq = this.link.request(this, (reqId) => ({ type: 'JOIN', reqId, room: this.crypto.locator }));
    });
  }

  /** Asks the relay for the room's state (GROUP_STATE); the answer is handled by onGroupState. */
  protected requestSync(): void {
    this.#syncs.add(this.link.request(this, (r) => ({ type: 'SYNC', reqId: r, room: this.crypto.locator })));
    if (this.#syncs.size > 64) this.#syncs.delete(this.#syncs.values().next().value!);
  }

  /** Whether `reqId` was one of our SYNCs (consumed). */
  protected wasSync(reqId: ReqId): boolean {
    return this.#syncs.delete(reqId);
  }
}
