/**
 * One joined room: the client side of the MLS delivery-service rules (docs/PROTOCOL.md §4-5).
 *
 * Everything that touches the room's MLS state runs on one serial queue, in the order the relay
 * delivered it, so that processing is deterministic: frames, local sends and timers alike.
 */
import {
  type ClientFrame,
  DeliveryKind,
  type DeliverFrame,
  type GroupStateFrame,
  GroupStatus,
  type RelayFrame,
  type ReqId,
  type RelayEpoch,
  type Slot,
  asEpoch,
  errorMessageOf,
  errorNameOf,
} from '@nullroom/protocol';
import { type Member, type RoomFingerprint, type RoomState, type SuiteName, CryptoError, RoomGroup, framedEpoch, nickKey, normalizeNick, safetyNumber, uniqueNick, wipe } from '@nullroom/crypto';
import { ClientError, type ClientErrorCode } from './errors.js';
import { randomHex, toBase64Url, toHex } from './encoding.js';
import { Emitter } from './emitter.js';
import { type KeyStore, MemoryKeyStore, sameKey } from './keyStore.js';
import { type ForkSuspected, ForkWatch } from './forkWatch.js';
import { type FileCancelPayload, type FileDonePayload, type FilePayload, MAX_TEXT_CHARS, type Payload, type PrivatePayload, encodePayload, parsePayload } from './payload.js';

/** A payload as the caller gives it: the room fills in version, id, counter and time. */
type PayloadBody = Payload extends infer P ? (P extends Payload ? Omit<P, 'v' | 'id' | 'n' | 'ts'> : never) : never;

export type RoomPhase = 'joining' | 'joined' | 'reconnecting' | 'left';

export interface RoomEvents extends Record<string, unknown> {
  joined: { created: boolean; nick: string; members: string[]; rejoin: boolean };
  'member-joined': { nick: string };
  'member-left': { nick: string };
  /** A member uses another identity key than the one we saw under this nickname before: warn the user. */
  'key-changed': { nick: string; wasVerified: boolean };
  /** A member's verification state changed (`trust(nick)`). */
  trust: { nick: string };
  message: { from: string; text: string; ts: number; id: string; outOfOrder: boolean };
  /** A member offers a file (files.ts turns this into an IncomingFile). */
  /** File traffic (files.ts); `sender` is the sender's identity key (hex), authenticated by MLS. */
  'file-offer': { from: string; sender: string; offer: FilePayload };
  'file-done': { from: string; sender: string; done: FileDonePayload };
  'file-cancel': { from: string; sender: string; cancel: FileCancelPayload };
  /** Private-chat set-up and traffic (privateChats.ts); `identityKey` and `slot` are the sender's, authenticated by MLS. */
  private: { from: string; identityKey: Uint8Array; slot: number; payload: PrivatePayload };
  /**
   * A DIRECT_DELIVER for us (privateChats.ts): `from` is the sender's slot as the relay names it
   * (unauthenticated: the payload must authenticate itself), `data` opaque bytes.
   */
  direct: { from: number; data: Uint8Array };
  sent: { id: string };
  /**
   * A member (or a connection that never became one) disrupted the room: a void commit, a join
   * that broke a room rule, or a GroupInfo joiners cannot use (docs/PROTOCOL.md §4.3). The room
   * repaired itself (and removed the member, if it was one); `count` counts this identity key's (or,
   * for a non-member, this slot's) disruptions since this Room was made. `nick` only when it is a member;
   * `formerNick` when it is not, but its identity key was a member's that disrupted before (the
   * repair removed it): the last nickname that key had here.
   */
  disruption: { slot: number; nick?: string; formerNick?: string; count: number; reason: DisruptionReason };
  error: { code: ClientErrorCode; message: string; relayCode?: string };
  /**
   * Joining (or rejoining): the relay's group information does not open or cannot be joined
   * through, so the room waits for the members to repair it (docs/PROTOCOL.md §4.3), retrying
   * until `badGroupInfoWaitMs` after `since`. Once per retry, beside the BAD_GROUP_INFO `error`;
   * unlike `error` it is not held for a later listener, so an app can show the wait while joining.
   */
  'repair-wait': { since: number };
  phase: { phase: RoomPhase };
  /** Messages stopped decrypting in a way only a split room explains (forkWatch.ts): compare room fingerprints out of band. */
  'fork-suspected': ForkSuspected;
}

export type DisruptionReason = 'bad-commit' | 'forbidden-proposal' | 'broken-room-rule' | 'bad-group-info';

/** What a room needs from its connection. */
export interface RoomLink {
  request(room: Room, frame: (reqId: ReqId) => ClientFrame): ReqId;
  detach(room: Room): void;
}

export interface RoomTimings {
  /** Application frames sent but not yet acknowledged, at most. */
  sendWindow: number;
  /** Application frames per second we send at most (kept under the relay's default limit of 100/s)... */
  sendRate: number;
  /** ...with this burst. */
  sendBurst: number;
  /** How long a member that is not the designated remover waits before removing a departed member itself. */
  removalGraceMs: number;
  /**
   * A member commits a self-update (fresh path keys) this often, jittered by ±20% and never more
   * often than once per (members × 2 s), so that a stolen key stops working even in a room whose
   * membership never changes (post-compromise security).
   */
  selfUpdateMs: number;
  /** ...and at most once per (members × this) in big rooms. */
  selfUpdatePerMemberMs: number;
  /** Lost commit races we tolerate in a row before giving up on a join. */
  maxJoinAttempts: number;
  /**
   * How long a joiner keeps retrying (SYNC, with backoff) while the relay's GroupInfo does not
   * open or cannot be joined through, waiting for the members to repair it, before JOIN_FAILED.
   */
  badGroupInfoWaitMs: number;
}
export const defaultRoomTimings: RoomTimings = {
  sendWindow: 32,
  sendRate: 80,
  sendBurst: 150,
  removalGraceMs: 1500,
  selfUpdateMs: 10 * 60_000,
  selfUpdatePerMemberMs: 2000,
  maxJoinAttempts: 60,
  badGroupInfoWaitMs: 30_000,
};

interface OutItem {
  payload: Payload;
  reqId: ReqId | undefined;
  /** The relay epoch it was last sent in. */
  epoch: RelayEpoch;
}
/** A direct frame waiting to be sent (docs/PROTOCOL.md §4.4): sealed, and sealed again for a re-send, by its private chat. */
interface DirectItem {
  /** The slot to send it to, looked up at each (re)send, not one of `tried`; undefined when the peer is not in the room. */
  target: (tried: ReadonlySet<number>) => number | undefined;
  /** Slots the relay said nobody holds (NO_SUCH_PEER): a peer that reconnected may hold another. */
  tried: Set<number>;
  /** The slot of the copy in flight. */
  to: number | undefined;
  /** The bytes to send; called again (a fresh ciphertext of the same message) after a reconnect. */
  seal: () => Promise<Uint8Array>;
  reqId: ReqId | undefined;
  resolve: () => void;
  reject: (e: unknown) => void;
  /** A liveness probe (empty, §4.3 "Departures"): dropped, not re-sent, when the connection drops. */
  probe?: true;
}
type Pending =
  | { kind: 'create'; reqId: ReqId; state: RoomState; relayEpoch: RelayEpoch }
  | { kind: 'join'; reqId: ReqId; state: RoomState; epoch: RelayEpoch; nick: string }
  | { kind: 'remove'; reqId: ReqId; state: RoomState; removed: Member[]; consumed: Uint8Array[] };

const SEEN_IDS = 4096;
/** After a refused repair or removal commit (RATE_LIMITED): about the relay's default commit interval (§4.1). */
const COMMIT_BACKOFF_MS = 2000;
/** After a refused SYNC (RATE_LIMITED). */
const SYNC_BACKOFF_MS = 1000;

/** A key store's own code (KEY_STORE_CORRUPT, _UNSAFE, _LOCKED) when it gave one, else KEY_STORE. */
const storeErrorCode = (e: unknown): ClientErrorCode => (e instanceof ClientError && e.code.startsWith('KEY_STORE') ? e.code : 'KEY_STORE');

export class Room extends Emitter<RoomEvents> {
  private phase: RoomPhase = 'joining';
  private queue: Promise<void> = Promise.resolve();
  private mls: RoomState | undefined;
  private crypto: RoomGroup;
  private slot: Slot | undefined;
  private relayEpoch: RelayEpoch = asEpoch(0);
  private pending: Pending | undefined;
  private joinAttempts = 0;
  /** The JOIN of this stay: only its refusal fails the join. */
  private joinReq: ReqId | undefined;
  private rejoin = false;
  private memberList: Member[] = [];
  /** Per nickname: the identity key in use now, whether the user verified it, whether it changed. */
  private readonly trustState = new Map<string, { key: Uint8Array; verified: boolean; changed: boolean }>();
  private readonly gone = new Set<number>();
  /** Slots that disrupted the room (void commits, bad GroupInfos): removed by the next repair if members. */
  private readonly culprits = new Set<number>();
  /** The relay stores a GroupInfo joiners cannot use (after a void commit): commit a repair. */
  private repairNeeded = false;
  /** A SYNC we sent to check the relay's GroupInfo (§4.3), and why: its GROUP_STATE answers it. */
  private giCheck: { why: 'after-commit' | 'out-of-step'; culprit: number; reason: DisruptionReason } | undefined;
  /** The identity key (hex), or `slot:N` for a non-member, each disrupting slot was counted under. */
  private readonly culpritKeys = new Map<number, string>();
  /** Disruptions per identity key (hex) or, for non-members, per `slot:N`. */
  private readonly disruptions = new Map<string, number>();
  /** The last nickname of each identity key (hex) that disrupted while a member, for `formerNick`. */
  private readonly culpritNicks = new Map<string, string>();
  /** Joining: when the relay's GroupInfo first failed us, and the retry timer. */
  private badInfoSince: number | undefined;
  private badInfoAttempts = 0;
  private badInfoTimer: ReturnType<typeof setTimeout> | undefined;
  private removalTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly outbox: OutItem[] = [];
  private readonly directOut: DirectItem[] = [];
  private directInflight = 0;
  private counter = 0;
  private inflight = 0;
  private tokens: number;
  private lastRefill = Date.now();
  private pumpQueued = false;
  private pumpTimer: ReturnType<typeof setTimeout> | undefined;
  private updateTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly lastN = new Map<string, number>();
  private readonly seen = new Set<string>();
  /** Requests whose refusal we expect and ignore (messages already queued for re-sending). */
  private readonly abandoned = new Set<number>();
  /** SYNCs in flight (answered by a GROUP_STATE, which names no request): a refused one is not an error to show. */
  private readonly syncs = new Set<number>();
  private readonly flushWaiters: (() => void)[] = [];
  private readonly forkWatch = new ForkWatch();
  private leaveAck: (() => void) | undefined;
  private joinWaiter: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  /** The blob upload ticket of this stay in the room (docs/PROTOCOL.md §9.1); it ends with the connection. */
  private ticket: string | undefined;
  /** A ticket being asked for: its request, once sent, and who waits for it. */
  private ticketAsk: { promise: Promise<string>; reqId?: ReqId; resolve(t: string): void; reject(e: unknown): void } | undefined;
  /** The nickname we asked for; `nick` is what we got (a suffix is added on a clash). */
  readonly requestedNick: string;
  nick: string;
  created = false;

  constructor(
    crypto: RoomGroup,
    nick: string,
    private readonly link: RoomLink,
    private readonly timings: RoomTimings = defaultRoomTimings,
    private readonly store: KeyStore = new MemoryKeyStore(),
  ) {
    super();
    // Found while joining, before `join` resolves and the caller can listen: kept for the first listener.
    this.holdUnheard(['key-changed', 'error']);
    this.crypto = crypto;
    this.tokens = timings.sendBurst;
    this.requestedNick = normalizeNick(nick);
    this.nick = this.requestedNick;
  }

  get locator() {
    return this.crypto.locator;
  }
  get state(): RoomPhase {
    return this.phase;
  }
  /** The room's cipher suite (the creator's choice). */
  get suite(): SuiteName {
    return this.crypto.suite;
  }
  /** The MLS epoch of our group state (undefined until joined). */
  get epoch(): number | undefined {
    return this.mls === undefined ? undefined : this.crypto.epochOf(this.mls);
  }
  /** Current members (from the MLS ratchet tree), you included. */
  members(): readonly Member[] {
    return this.memberList;
  }

  /** Resolves once joined; rejects with ClientError(JOIN_FAILED) when joining is impossible. */
  whenJoined(): Promise<void> {
    if (this.phase === 'joined') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const prev = this.joinWaiter;
      this.joinWaiter = {
        resolve: () => (prev?.resolve(), resolve()),
        reject: (e) => (prev?.reject(e), reject(e)),
      };
    });
  }

  /** Queues a text message; it is sent as soon as the room is joined, and re-sent after a reconnect until acknowledged. */
  send(text: string): string {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    if (text.length === 0 || [...text].length > MAX_TEXT_CHARS) {
      throw new ClientError('MESSAGE_TOO_LARGE', `a message must be 1 to ${MAX_TEXT_CHARS} characters`);
    }
    return this.sendPayload({ type: 'text', text });
  }

  /** Queues any payload (files.ts sends file offers this way); returns its id. */
  sendPayload(body: PayloadBody): string {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    const id = randomHex(16);
    // n = 0 until first sent; a re-send keeps its n, so receivers see one gap-free sequence.
    this.outbox.push({ payload: { ...body, v: 1, id, n: 0, ts: Date.now() } as Payload, reqId: undefined, epoch: asEpoch(0) });
    this.schedulePump();
    return id;
  }

  /**
   * Sends one opaque payload to one member's connection only (a DIRECT frame; privateChats.ts uses
   * it for the `direct` routing). Queued like room messages (sent once joined, at most `sendWindow`
   * unacknowledged, within the send rate, re-sealed and re-sent after a reconnect) but never part
   * of the room's stream. Resolves when the relay acknowledges that it handed the frame to that
   * connection; rejects with ClientError(PEER_UNAVAILABLE) when `target` finds no such member or
   * the relay reports its connection gone, (RELAY_ERROR) for another refusal, (NOT_JOINED) when
   * the room is left first.
   */
  sendDirect(target: (tried: ReadonlySet<number>) => number | undefined, seal: () => Promise<Uint8Array>): Promise<void> {
    if (this.phase === 'left') return Promise.reject(new ClientError('NOT_JOINED', 'the room was left'));
    return new Promise((resolve, reject) => {
      this.directOut.push({ target, tried: new Set(), to: undefined, seal, reqId: undefined, resolve, reject });
      this.schedulePump();
    });
  }

  /**
   * An upload ticket for the relay's blob store (docs/PROTOCOL.md §9.1): granted to this
   * connection while it is in the room, asked for once and kept until the connection drops.
   * `refused`: the ticket the relay just refused, to be replaced. Waits for the room to be joined
   * (after a reconnect, too); rejects with ClientError(FILE_TRANSFER) when the relay refuses, or
   * the connection drops before it answers (callers retry), (NOT_JOINED) once the room is left.
   */
  blobTicket(refused?: string): Promise<string> {
    if (this.phase === 'left') return Promise.reject(new ClientError('NOT_JOINED', 'the room was left'));
    if (refused !== undefined && refused === this.ticket) this.ticket = undefined;
    if (this.ticket !== undefined) return Promise.resolve(this.ticket);
    if (this.ticketAsk !== undefined) return this.ticketAsk.promise;
    let settle!: { resolve(t: string): void; reject(e: unknown): void };
    const promise = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
    const ask: NonNullable<Room['ticketAsk']> = { promise, ...settle };
    this.ticketAsk = ask;
    const done = () => {
      if (this.ticketAsk === ask) this.ticketAsk = undefined;
    };
    promise.then(done, done);
    // A relay that never answers must not hold the upload for ever: the caller retries.
    const timer = setTimeout(() => ask.reject(new ClientError('FILE_TRANSFER', 'the relay did not grant an upload ticket in time')), 30_000);
    (timer as { unref?: () => void }).unref?.();
    void promise.finally(() => clearTimeout(timer)).catch(() => undefined);
    this.whenJoined().then(
      () =>
        this.run(() => {
          if (this.ticketAsk !== ask) return;
          if (this.phase !== 'joined') return ask.reject(new ClientError('FILE_TRANSFER', 'the connection dropped before the relay granted an upload ticket'));
          ask.reqId = this.link.request(this, (reqId) => ({ type: 'TICKET', reqId, room: this.locator }));
        }),
      (e: unknown) => ask.reject(e),
    );
    return promise;
  }

  /** Resolves when every queued message has been acknowledged by the relay. */
  flush(): Promise<void> {
    if (this.outbox.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /** Messages queued but not yet acknowledged by the relay. */
  get unsent(): number {
    return this.outbox.length;
  }

  /**
   * Waits (up to `timeoutMs`) for queued messages to be acknowledged, then leaves the room cleanly.
   * Resolves with the number of messages that could not be delivered in that time (0 normally).
   */
  async leave(timeoutMs = 10_000): Promise<number> {
    if (this.phase === 'left') return this.outbox.length;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.flush(), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    const unsent = this.outbox.length;
    await new Promise<void>((resolve) => {
      this.run(async () => {
        if (this.phase === 'left') return resolve();
        const timer = setTimeout(() => this.run(async () => this.finishLeave()), 3000);
        this.leaveAck = () => {
          clearTimeout(timer);
          this.finishLeave();
        };
        this.link.request(this, (reqId) => ({ type: 'LEAVE', reqId, room: this.locator }));
      });
      this.on('phase', (p) => p.phase === 'left' && resolve());
    });
    return unsent;
  }

  /** The 60-digit safety number you share with a member (by nickname), or undefined if no such member. */
  safetyNumber(nick: string): string | undefined {
    const self = this.memberList.find((m) => m.self);
    const them = this.memberList.find((m) => !m.self && m.nick === nick);
    if (self === undefined || them === undefined) return undefined;
    return safetyNumber(self.identityKey, them.identityKey);
  }

  /** The room fingerprint of our current epoch (docs/PROTOCOL.md §8.1), or undefined until joined. */
  fingerprint(): RoomFingerprint | undefined {
    return this.mls === undefined ? undefined : this.crypto.fingerprint(this.mls);
  }

  /** Our profile in the room (slot and nickname), for credentials of groups made beside it (private chats). */
  profile(): { slot: number; nick: string } | undefined {
    return this.slot === undefined ? undefined : { slot: this.slot, nick: this.nick };
  }

  /** The room's MLS layer (its keys, suite and our identity), for private chats made beside it. */
  get roomCrypto(): RoomGroup {
    return this.crypto;
  }

  /** Whether the user verified this member's safety number, and whether its key changed since we first saw it. */
  trust(nick: string): { verified: boolean; changed: boolean } | undefined {
    const t = this.trustState.get(nick);
    return t === undefined ? undefined : { verified: t.verified, changed: t.changed };
  }

  /** Marks a member's current key verified (after comparing safety numbers) or not; remembered by the key store. */
  async setVerified(nick: string, verified: boolean): Promise<void> {
    const t = this.trustState.get(nick);
    if (t === undefined) throw new ClientError('NOT_JOINED', 'no such member');
    t.verified = verified;
    if (verified) t.changed = false;
    try {
      await this.store.remember(this.locator, nick, { identityKey: t.key, verified });
    } catch (e) {
      this.report(storeErrorCode(e), e);
    }
    this.emit('trust', { nick });
  }

  /** Compares members' identity keys with what the key store remembers (trust on first use). */
  private async checkKeys(): Promise<void> {
    let storeFailed = false; // one report per check, not one per member
    for (const m of this.memberList) {
      if (m.self) continue;
      const current = this.trustState.get(m.nick);
      if (current !== undefined && sameKey(current.key, m.identityKey)) continue;
      let known;
      let unreadable = false;
      try {
        known = await this.store.known(this.locator, m.nick);
      } catch (e) {
        // KEY_STORE_CORRUPT keeps its code, and nothing is written over what could not be read (that would reset trust).
        if (!storeFailed) this.report(storeErrorCode(e), e);
        storeFailed = unreadable = true;
      }
      const before = known?.identityKey ?? current?.key;
      const changed = before !== undefined && !sameKey(before, m.identityKey);
      const wasVerified = (current?.verified ?? known?.verified) === true;
      this.trustState.set(m.nick, { key: m.identityKey, verified: !changed && known?.verified === true, changed: changed || current?.changed === true });
      if (!unreadable && (known === undefined || changed)) {
        await this.store.remember(this.locator, m.nick, { identityKey: m.identityKey, verified: false }).catch((e: unknown) => this.report('KEY_STORE', e));
      }
      if (changed) this.emit('key-changed', { nick: m.nick, wasVerified });
    }
  }

  // ---- called by the connection ----

  /** (Re)starts joining on a fresh connection. */
  start(rejoin: boolean): void {
    this.run(async () => {
      if (this.phase === 'left') return;
      this.rejoin = rejoin;
      this.reset('joining');
      this.joinReq = this.link.request(this, (reqId) => ({ type: 'JOIN', reqId, room: this.locator }));
    });
  }

  /** The connection dropped: keep the outbox, forget the group (we rejoin with a fresh leaf). */
  disconnected(): void {
    this.run(async () => {
      if (this.phase !== 'left') this.reset('reconnecting');
    });
  }

  /** The client is closing: fail any waiter, stop timers. */
  closed(): void {
    this.run(async () => {
      this.joinWaiter?.reject(new ClientError('CLOSED', 'the client was closed'));
      this.joinWaiter = undefined;
      this.finishLeave();
    });
  }

  handle(frame: RelayFrame): void {
    this.run(() => this.onFrame(frame));
  }

  // ---- internals ----

  private run(fn: () => Promise<void> | void): void {
    this.queue = this.queue.then(fn).catch((e: unknown) => this.report('BAD_MESSAGE', e));
  }

  private setPhase(p: RoomPhase): void {
    if (this.phase === p) return;
    this.phase = p;
    this.emit('phase', { phase: p });
  }

  private reset(phase: RoomPhase): void {
    this.mls = undefined;
    this.slot = undefined;
    this.pending = undefined;
    this.joinAttempts = 0;
    this.memberList = [];
    this.gone.clear();
    this.culprits.clear();
    this.repairNeeded = false;
    this.giCheck = undefined;
    this.badInfoSince = undefined;
    this.badInfoAttempts = 0;
    if (this.badInfoTimer !== undefined) clearTimeout(this.badInfoTimer);
    this.badInfoTimer = undefined;
    this.lastN.clear();
    if (this.removalTimer !== undefined) clearTimeout(this.removalTimer);
    this.removalTimer = undefined;
    if (this.pumpTimer !== undefined) clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    if (this.updateTimer !== undefined) clearTimeout(this.updateTimer);
    this.updateTimer = undefined;
    this.pumpQueued = false;
    for (const item of this.outbox) item.reqId = undefined; // re-sent after rejoining; receivers drop duplicates by id
    this.inflight = 0;
    for (let i = this.directOut.length - 1; i >= 0; i--) if (this.directOut[i]!.probe) this.directOut.splice(i, 1); // a rejoin probes afresh
    for (const item of this.directOut) item.reqId = undefined; // sealed and sent again once joined; the peer drops duplicates by id
    this.directInflight = 0;
    this.abandoned.clear();
    this.syncs.clear();
    // The relay ends a ticket with the stay it was granted for.
    this.ticket = undefined;
    this.ticketAsk?.reject(new ClientError('FILE_TRANSFER', 'the connection dropped before the relay granted an upload ticket'));
    this.ticketAsk = undefined;
    this.setPhase(phase);
  }

  private finishLeave(): void {
    if (this.phase === 'left') return;
    this.reset('left');
    this.leaveAck = undefined;
    this.link.detach(this);
    for (const w of this.flushWaiters.splice(0)) w();
    for (const d of this.directOut.splice(0)) d.reject(new ClientError('NOT_JOINED', 'the room was left before the message was sent'));
  }

  private report(code: ClientErrorCode, e: unknown, relayCode?: string): void {
    const message = e instanceof CryptoError || e instanceof ClientError ? e.message : e instanceof Error ? `${e.name}` : String(e);
    this.emit('error', relayCode === undefined ? { code, message } : { code, message, relayCode });
  }

  private async onFrame(f: RelayFrame): Promise<void> {
    if (this.phase === 'left' && f.type !== 'ACK') return;
    switch (f.type) {
      case 'JOINED':
        this.slot = f.slot;
        return;
      case 'GROUP_STATE':
        return this.onGroupState(f);
      case 'DELIVER':
        return this.onDeliver(f);
      case 'DIRECT_DELIVER':
        if (f.data.length === 0) return; // a member's liveness probe (§4.3 "Departures"): nothing to read
        // On the room's queue, so that it is read after every room message the relay sent before it
        // (a chat's Welcome comes through the room, its first direct message after it).
        return void this.emit('direct', { from: f.from, data: f.data });
      case 'PEER_GONE':
        this.gone.add(f.slot);
        if (this.gone.size > 4096) this.gone.delete(this.gone.values().next().value!);
        return this.scheduleRemovals(false);
      case 'ACK':
        return this.onAck(f.reqId);
      case 'ERROR':
        return this.onError(f.reqId, f.code);
      case 'TICKET_GRANT': {
        const ask = this.ticketAsk;
        if (ask === undefined || ask.reqId !== f.reqId || this.phase !== 'joined') return;
        this.ticketAsk = undefined;
        this.ticket = toBase64Url(f.ticket);
        return ask.resolve(this.ticket);
      }
    }
  }

  private async onGroupState(f: GroupStateFrame): Promise<void> {
    if (this.phase === 'joined') {
      // Answer to a SYNC: after a lost commit race (learn the relay's epoch, then retry removals),
      // or to check the GroupInfo the relay stores for joiners (§4.3).
      const check = this.giCheck;
      this.giCheck = undefined;
      const current = f.epoch === this.relayEpoch; // no commit reached us since: the GroupInfo is the latest one
      this.relayEpoch = f.epoch;
      if (check !== undefined && current && f.status === GroupStatus.READY && this.mls !== undefined && this.slot !== undefined) {
        // After a valid commit only "is it ours?" matters (cheap); out of step, also "is it joinable?".
        const verdict =
          check.why === 'after-commit'
            ? (await this.crypto.groupInfoMatches(this.mls, f.groupInfo)) ? 'ours' : 'bad'
            : await this.crypto.checkGroupInfo(this.mls, f.groupInfo, { nick: this.nick, slot: this.slot });
        if (check.why === 'out-of-step') {
          // A commit we could not process was made for another state than ours. If the relay holds
          // a joinable GroupInfo of our group in another state, we are the ones out of step: rejoin.
          if (verdict === 'other') return this.rejoinFresh();
          this.disrupted(check.culprit, check.reason); // otherwise it was a disruption after all
          this.repairNeeded = true;
        } else if (verdict !== 'ours') {
          this.report('BAD_GROUP_INFO', new ClientError('BAD_GROUP_INFO', 'the relay holds group information joiners cannot use: repairing'));
          this.disrupted(check.culprit, 'bad-group-info');
          this.repairNeeded = true;
        }
      }
      return this.scheduleRemovals(false);
    }
    if (this.phase !== 'joining' || this.slot === undefined || this.pending !== undefined) return;
    if (f.status === GroupStatus.WAIT) return;
    if (f.status === GroupStatus.CREATE) {
      const { state, groupInfo } = await this.crypto.createGroup({ nick: this.requestedNick, slot: this.slot });
      const reqId = this.link.request(this, (reqId) => ({ type: 'CREATE', reqId, room: this.locator, groupInfo }));
      this.pending = { kind: 'create', reqId, state, relayEpoch: asEpoch(0) };
      return;
    }
    // READY: join through an external commit.
    let out, nick;
    try {
      const snapshot = await this.crypto.readGroupInfo(f.groupInfo);
      this.crypto = await this.crypto.withSuite(snapshot.suite);
      nick = this.requestedNick;
      out = await this.crypto.joinExternal(snapshot, { nick, slot: this.slot });
      // docs/PROTOCOL.md §3.5: unique by nickKey among every leaf but our new one (our own old leaf,
      // still there after a reconnect, counts too: members would list us twice otherwise).
      const others = (await this.crypto.members(out.state)).filter((m) => !m.self);
      nick = uniqueNick(this.requestedNick, new Set(others.map((m) => nickKey(m.nick))));
      if (nick !== this.requestedNick) out = await this.crypto.joinExternal(snapshot, { nick, slot: this.slot });
    } catch (e) {
      return this.retryBadGroupInfo(e, f);
    }
    this.badInfoSince = undefined;
    this.badInfoAttempts = 0;
    const epoch = f.epoch;
    const { message, groupInfo, state } = out;
    const reqId = this.link.request(this, (reqId) => ({ type: 'COMMIT', reqId, room: this.locator, epoch, commit: message, groupInfo }));
    this.pending = { kind: 'join', reqId, state, epoch, nick };
  }

  /**
   * The relay's GroupInfo does not open or cannot be joined through: a member may have stored a
   * bad one, which the members repair (§4.3). Say so, and ask again with backoff (0.1 s doubling to
   * 2 s, jittered) until `badGroupInfoWaitMs` has passed; then JOIN_FAILED.
   * If no commit was ever accepted (relay epoch 0) and the GroupInfo does not even open as one, the
   * creator stored garbage and is the only one who could be in that group: nobody can repair it.
   * Then we found the group anew (§4.3 "Re-founding"), once, after a random delay.
   */
  private async retryBadGroupInfo(e: unknown, f: GroupStateFrame): Promise<void> {
    const now = Date.now();
    this.badInfoSince ??= now;
    if (now - this.badInfoSince >= this.timings.badGroupInfoWaitMs) return this.failJoin(e);
    this.report('BAD_GROUP_INFO', e);
    this.emit('repair-wait', { since: this.badInfoSince });
    const refound = f.epoch === 0 && !(await this.crypto.groupInfoOpens(f.groupInfo));
    const delay = refound ? Math.random() * 500 : Math.min(2000, 100 * 2 ** this.badInfoAttempts++) * (0.5 + Math.random() / 2);
    this.badInfoTimer = setTimeout(() => {
      this.badInfoTimer = undefined;
      this.run(async () => {
        if (this.phase !== 'joining' || this.pending !== undefined || this.slot === undefined) return;
        if (!refound) return this.requestSync();
        // COMMIT{epoch 0}: `commit` repeats the sealed GroupInfo (nothing the relay could not see
        // already; a member, if one existed, would find it void). A lost race (STALE_EPOCH) SYNCs
        // and joins the winner's group.
        const { state, groupInfo } = await this.crypto.createGroup({ nick: this.requestedNick, slot: this.slot });
        const reqId = this.link.request(this, (r) => ({ type: 'COMMIT', reqId: r, room: this.locator, epoch: f.epoch, commit: groupInfo, groupInfo }));
        this.pending = { kind: 'create', reqId, state, relayEpoch: asEpoch(f.epoch + 1) };
      });
    }, delay);
  }

  private failJoin(e: unknown): void {
    const err = new ClientError('JOIN_FAILED', e instanceof Error ? e.message : 'join failed', { cause: e });
    this.report('JOIN_FAILED', err);
    this.joinWaiter?.reject(err);
    this.joinWaiter = undefined;
    this.link.request(this, (reqId) => ({ type: 'LEAVE', reqId, room: this.locator }));
    this.finishLeave();
  }

  private async onAck(reqId: ReqId): Promise<void> {
    this.abandoned.delete(reqId);
    if (this.leaveAck !== undefined && this.pending?.reqId !== reqId && !this.outbox.some((o) => o.reqId === reqId) && !this.directOut.some((o) => o.reqId === reqId)) {
      return this.leaveAck();
    }
    const p = this.pending;
    if (p !== undefined && p.reqId === reqId) {
      this.pending = undefined;
      this.mls = p.state;
      if (p.kind === 'create' || p.kind === 'join') {
        this.relayEpoch = p.kind === 'create' ? p.relayEpoch : asEpoch(p.epoch + 1);
        this.created = p.kind === 'create';
        if (p.kind === 'join') this.nick = p.nick;
        this.memberList = await this.crypto.members(p.state);
        await this.checkKeys();
        this.setPhase('joined');
        this.scheduleSelfUpdate();
        if (p.kind === 'join') this.probeLeaves();
        this.emit('joined', { created: this.created, nick: this.nick, members: this.memberList.map((m) => m.nick), rejoin: this.rejoin });
        this.joinWaiter?.resolve();
        this.joinWaiter = undefined;
      } else {
        wipe(p.consumed); // accepted: the old epoch's secrets are no longer needed
        this.relayEpoch = asEpoch(this.relayEpoch + 1);
        this.repairNeeded = false; // our commit stored a GroupInfo of our new state
        this.memberList = await this.crypto.members(p.state);
        for (const m of p.removed) this.emit('member-left', { nick: m.nick });
      }
      await this.scheduleRemovals(false);
      return this.pump();
    }
    const d = this.directOut.findIndex((o) => o.reqId === reqId);
    if (d >= 0) {
      const [item] = this.directOut.splice(d, 1);
      this.directInflight--;
      item!.resolve();
      if (this.directOut.length > 0) this.schedulePump();
      return;
    }
    const i = this.outbox.findIndex((o) => o.reqId === reqId);
    if (i >= 0) {
      const [item] = this.outbox.splice(i, 1);
      this.inflight--;
      this.emit('sent', { id: item!.payload.id });
      if (this.outbox.length === 0) for (const w of this.flushWaiters.splice(0)) w();
      else this.schedulePump();
    }
  }

  private async onError(reqId: ReqId, code: number): Promise<void> {
    const name = errorNameOf(code) ?? `code ${code}`;
    if (this.abandoned.delete(reqId)) return;
    if (this.syncs.delete(reqId)) {
      // A refused SYNC: over the relay's frame rate, ask again a little later; anything else
      // (NOT_IN_ROOM for the stay we just left) needs no answer.
      if (name === 'RATE_LIMITED') this.later(SYNC_BACKOFF_MS, () => this.requestSync());
      return;
    }
    if (this.ticketAsk !== undefined && this.ticketAsk.reqId === reqId) {
      const ask = this.ticketAsk;
      this.ticketAsk = undefined;
      return ask.reject(new ClientError('FILE_TRANSFER', `the relay refused an upload ticket: ${name}`, { relayCode: name }));
    }
    const p = this.pending;
    if (p !== undefined && p.reqId === reqId) {
      this.pending = undefined;
      if (p.kind === 'remove') {
        // Over the relay's commit rate (docs/PROTOCOL.md §4.1): look again once a token is back.
        if (name === 'RATE_LIMITED') return this.later(COMMIT_BACKOFF_MS, () => this.requestSync());
        // Lost the race: someone else committed first. Learn the relay's epoch and look again.
        this.requestSync();
        return;
      }
      if (name === 'STALE_EPOCH' || name === 'NOT_CREATOR' || name === 'RATE_LIMITED') {
        if (++this.joinAttempts > this.timings.maxJoinAttempts) return this.failJoin(new ClientError('JOIN_FAILED', 'gave up after repeated lost races'));
        await new Promise((r) => setTimeout(r, Math.random() * 20 * Math.min(this.joinAttempts, 10)));
        this.requestSync();
        return;
      }
      return this.failJoin(new ClientError('RELAY_ERROR', `the relay refused: ${name}`, { relayCode: name }));
    }
    const direct = this.directOut.findIndex((o) => o.reqId === reqId);
    if (direct >= 0) {
      const item = this.directOut[direct]!;
      this.directInflight--;
      if (name === 'RATE_LIMITED' || (name === 'NO_SUCH_PEER' && item.to !== undefined && item.target(new Set([...item.tried, item.to])) !== undefined)) {
        // Sent again later, like room messages; or, when the peer has another leaf (it reconnected
        // and its old one has not been removed yet), to that one.
        if (name === 'NO_SUCH_PEER') item.tried.add(item.to!);
        item.reqId = undefined;
        if (name === 'RATE_LIMITED') this.tokens = 0;
        this.schedulePump(name === 'RATE_LIMITED' ? 1000 / this.timings.sendRate : 0);
        return;
      }
      this.directOut.splice(direct, 1);
      item.reject(
        name === 'NO_SUCH_PEER'
          ? new ClientError('PEER_UNAVAILABLE', 'the member is not connected to the room now: the message was not delivered', { relayCode: name })
          : new ClientError('RELAY_ERROR', `the relay refused a direct message: ${name}`, { relayCode: name }),
      );
      if (this.directOut.length > 0) this.schedulePump();
      return;
    }
    const item = this.outbox.find((o) => o.reqId === reqId);
    if (item !== undefined) {
      item.reqId = undefined; // retry later (rate limit) — never silently dropped
      this.inflight--;
      if (name === 'RATE_LIMITED') {
        this.tokens = 0; // the relay is stricter than we thought: back off for a while
        this.schedulePump();
      }
      else this.report('RELAY_ERROR', new ClientError('RELAY_ERROR', `the relay refused a message: ${name}`), name);
      return;
    }
    // The JOIN itself was refused (ROOM_FULL, TOO_MANY_NEW_ROOMS, ADDRESS_LIMIT, ...): fail the join with the relay's reason.
    if (this.phase === 'joining' && this.slot === undefined) {
      // Only the JOIN's own refusal: after `rejoinFresh` (LEAVE, then JOIN on the same connection) a
      // SYNC or message of the stay we left can still be answered NOT_IN_ROOM; that is no refusal.
      if (reqId !== this.joinReq) return;
      const why = errorNameOf(code) === undefined ? name : `${name}: ${errorMessageOf(errorNameOf(code)!)}`;
      return this.failJoin(new ClientError('RELAY_ERROR', `the relay refused to join (${why})`, { relayCode: name }));
    }
    if (name === 'NOT_IN_ROOM' && this.leaveAck !== undefined) return this.leaveAck();
    this.report('RELAY_ERROR', new ClientError('RELAY_ERROR', `the relay reported: ${name}`), name);
  }

  private async onDeliver(f: DeliverFrame): Promise<void> {
    if (this.phase !== 'joined' || this.mls === undefined) return; // traffic from before we joined: not ours to read
    if (f.kind === DeliveryKind.COMMIT) {
      this.relayEpoch = asEpoch(f.epoch + 1);
      // This commit stored its own GroupInfo: an answer to a check we sent for an earlier one would
      // describe this commit's, and blame the wrong member. Processing it may start a new check.
      this.giCheck = undefined;
      // Our unacknowledged messages were sequenced after this commit, in the epoch it ended: the
      // relay refuses them (STALE_EPOCH). Re-send them, in order, once we are in the new epoch.
      for (const item of this.outbox) {
        if (item.reqId !== undefined && item.epoch < this.relayEpoch) {
          this.abandoned.add(item.reqId);
          item.reqId = undefined;
          this.inflight--;
        }
      }
      if (this.pending?.kind === 'remove') {
        // Ours lost the race: its STALE_EPOCH follows and is expected. Look again once this one is applied.
        this.abandoned.add(this.pending.reqId);
        this.pending = undefined;
      }
      let r;
      try {
        r = await this.crypto.process(this.mls, f.data, f.from);
        if (r.kind !== 'commit') throw new CryptoError('BAD_MESSAGE', 'an application message was delivered as a commit');
      } catch (e) {
        return this.voidCommit(f, e);
      }
      this.mls = r.state;
      if (r.removedSelf) return this.rejoinFresh();
      this.repairNeeded = false; // a valid commit stored a new GroupInfo (checked below)
      this.memberList = await this.crypto.members(r.state);
      for (const m of r.removed) this.emit('member-left', { nick: m.nick });
      for (const m of r.added) this.emit('member-joined', { nick: m.nick });
      await this.checkKeys();
      this.checkGroupInfoAfter(f.from);
      await this.scheduleRemovals(false);
      return this.pump();
    }
    let r;
    try {
      r = await this.crypto.process(this.mls, f.data, f.from);
    } catch (e) {
      this.report('BAD_MESSAGE', e);
      const fork = await this.forkWatch.unreadable(this.crypto, this.mls, this.relayEpoch, f, this.memberList);
      return fork === undefined ? undefined : this.emit('fork-suspected', fork);
    }
    if (r.kind !== 'app') return this.report('BAD_MESSAGE', new Error('a commit arrived as an application message'));
    this.mls = r.state;
    const p = parsePayload(r.plaintext);
    if (p === undefined) return this.report('BAD_PAYLOAD', new ClientError('BAD_PAYLOAD', 'a message is not in the expected format'));
    if (this.seen.has(p.id)) return; // a copy re-sent after a reconnect
    this.seen.add(p.id);
    if (this.seen.size > SEEN_IDS) this.seen.delete(this.seen.values().next().value!);
    const who = toHex(r.sender.signaturePublicKey);
    const last = this.lastN.get(who);
    let outOfOrder = false;
    if (last !== undefined && p.n <= last) {
      outOfOrder = true;
      this.report('OUT_OF_ORDER', new ClientError('OUT_OF_ORDER', 'messages from a member arrived out of order'));
    } else {
      if (last !== undefined && p.n > last + 1) {
        this.report('MISSING_MESSAGES', new ClientError('MISSING_MESSAGES', `${p.n - last - 1} message(s) from a member never arrived`));
      }
      this.lastN.set(who, p.n);
    }
    const from = r.sender.nick;
    switch (p.type) {
      case 'text':
        return this.emit('message', { from, text: p.text, ts: p.ts, id: p.id, outOfOrder });
      case 'file':
        return this.emit('file-offer', { from, sender: toHex(r.sender.identityKey), offer: p });
      case 'file-done':
        return this.emit('file-done', { from, sender: toHex(r.sender.identityKey), done: p });
      case 'file-cancel':
        return this.emit('file-cancel', { from, sender: toHex(r.sender.identityKey), cancel: p });
      default:
        return this.emit('private', { from, identityKey: r.sender.identityKey, slot: r.sender.slot, payload: p });
    }
  }

  /**
   * A commit that does not decode, verify or process, proposes what §3.4 forbids, or breaks a
   * room rule (§3.5) is void (docs/PROTOCOL.md §4.3): MLS processing is deterministic, so every
   * honest member in our state reaches the same verdict. We keep our MLS state (only the relay
   * epoch moved, above), name the culprit, and repair: the relay now holds the culprit's GroupInfo.
   * A commit framed for another MLS epoch than ours may instead mean that we are the ones out of
   * step (a commit that only some members could process): check the relay's GroupInfo first.
   */
  private async voidCommit(f: DeliverFrame, e: unknown): Promise<void> {
    const code = e instanceof CryptoError && e.code === 'FORBIDDEN_PROPOSAL' ? 'FORBIDDEN_PROPOSAL' : e instanceof CryptoError && e.code === 'BROKEN_ROOM_RULE' ? 'BROKEN_ROOM_RULE' : 'BAD_COMMIT';
    this.report(code, e);
    const reason: DisruptionReason = code === 'FORBIDDEN_PROPOSAL' ? 'forbidden-proposal' : code === 'BROKEN_ROOM_RULE' ? 'broken-room-rule' : 'bad-commit';
    if (f.epoch === 0 && this.slot !== undefined) {
      // The first commit of the room: a joiner that could not open the creator's GroupInfo founds
      // the group anew, its COMMIT carrying the new group's sealed GroupInfo as `commit` (§4.3
      // "Re-founding"). If that is what this is, we (the creator) join the new group.
      if ((await this.crypto.checkGroupInfo(this.mls!, f.data, { nick: this.nick, slot: this.slot })) === 'foreign') return this.rejoinFresh();
    }
    const framed = framedEpoch(f.data);
    if (framed !== undefined && framed !== BigInt(this.crypto.epochOf(this.mls!))) {
      // Not yet a disruption: the sender may be in step and we not (the check decides).
      this.giCheck = { why: 'out-of-step', culprit: f.from, reason };
      this.requestSync();
      return this.pump();
    }
    this.disrupted(f.from, reason);
    this.repairNeeded = true;
    await this.scheduleRemovals(false);
    return this.pump();
  }

  /** Records a disruption by `slot` (removed by the next repair if it is a member) and tells the app. */
  private disrupted(slot: number, reason: DisruptionReason): void {
    this.culprits.add(slot);
    if (this.culprits.size > 4096) this.culprits.delete(this.culprits.values().next().value!);
    const m = this.memberList.find((x) => x.slot === slot && !x.self);
    // Counted per identity key, also once the repair removed that member's leaf.
    const who = m === undefined ? (this.culpritKeys.get(slot) ?? `slot:${slot}`) : toHex(m.identityKey);
    this.culpritKeys.set(slot, who);
    if (this.culpritKeys.size > 4096) this.culpritKeys.delete(this.culpritKeys.keys().next().value!);
    const count = (this.disruptions.get(who) ?? 0) + 1;
    this.disruptions.set(who, count);
    if (this.disruptions.size > 4096) this.disruptions.delete(this.disruptions.keys().next().value!);
    if (m !== undefined) {
      this.culpritNicks.delete(who); // re-inserted: the most recent stays longest
      this.culpritNicks.set(who, m.nick);
      if (this.culpritNicks.size > 4096) this.culpritNicks.delete(this.culpritNicks.keys().next().value!);
      return this.emit('disruption', { slot, nick: m.nick, count, reason });
    }
    const formerNick = this.culpritNicks.get(who);
    this.emit('disruption', formerNick === undefined ? { slot, count, reason } : { slot, formerNick, count, reason });
  }

  /**
   * After a valid commit by another member, one member checks the GroupInfo that member stored
   * (a valid commit can come with a GroupInfo no joiner can use): the member with the lowest leaf
   * among those staying, the committer excluded (it may be the culprit), sends one SYNC.
   */
  private checkGroupInfoAfter(committer: number): void {
    const candidates = this.memberList.filter((m) => m.self || (m.slot !== committer && !this.gone.has(m.slot) && !this.culprits.has(m.slot)));
    const checker = candidates.reduce<Member | undefined>((a, b) => (a === undefined || b.leaf < a.leaf ? b : a), undefined);
    if (checker?.self !== true) return;
    this.giCheck = { why: 'after-commit', culprit: committer, reason: 'bad-group-info' };
    this.requestSync();
  }

  private scheduleSelfUpdate(): void {
    if (this.updateTimer !== undefined) clearTimeout(this.updateTimer);
    // In big rooms every member's update costs every other member a commit: space them out so the
    // room as a whole sees about one self-update every two seconds at most.
    const base = Math.max(this.timings.selfUpdateMs, this.memberList.length * this.timings.selfUpdatePerMemberMs);
    const delay = base * (0.8 + Math.random() * 0.4);
    this.updateTimer = setTimeout(() => {
      this.updateTimer = undefined;
      this.run(async () => {
        if (this.phase !== 'joined' || this.mls === undefined) return;
        this.scheduleSelfUpdate();
        if (this.pending !== undefined) return; // a commit of ours is in flight already
        await this.commitRemoval([]);
      });
    }, delay);
    (this.updateTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Members whose connection the relay reported gone are removed by one commit. The member with the
   * lowest leaf among those staying does it at once; the others step in after a grace period.
   */
  private async scheduleRemovals(force: boolean): Promise<void> {
    if (this.phase !== 'joined' || this.mls === undefined || this.pending !== undefined) return;
    // Departed members, and members that disrupted the room; a repair with no one to remove is a
    // self-update, whose commit stores a fresh GroupInfo for joiners.
    const out = (m: Member) => this.gone.has(m.slot) || this.culprits.has(m.slot);
    const targets = this.memberList.filter((m) => !m.self && out(m));
    if (targets.length === 0 && !this.repairNeeded) return;
    const staying = this.memberList.filter((m) => m.self || !out(m));
    const designated = staying.reduce((a, b) => (b.leaf < a.leaf ? b : a));
    if (!designated.self && !force) {
      if (this.removalTimer === undefined) {
        this.removalTimer = setTimeout(() => {
          this.removalTimer = undefined;
          this.run(() => this.scheduleRemovals(true));
        }, this.timings.removalGraceMs + Math.random() * this.timings.removalGraceMs);
      }
      return;
    }
    await this.commitRemoval(targets);
  }

  /**
   * A joiner never got the PEER_GONE of members that left before it joined; if every member that
   * did left too (or rejoined, which forgets), nobody would ever remove those leaves (ghosts). So a
   * joiner asks the relay about every leaf it found: an empty DIRECT to the leaf's slot. The relay
   * refuses one for a slot nobody holds (NO_SUCH_PEER; slots are never reused in a room), and the
   * leaf is then treated as departed, exactly as after a PEER_GONE (docs/PROTOCOL.md §4.3
   * "Departures"). The recipient of a probe reads nothing. Probes use the direct-frame window and
   * send rate; one per leaf per join.
   */
  private probeLeaves(): void {
    for (const m of this.memberList) {
      if (m.self) continue;
      const slot = m.slot;
      this.directOut.push({
        // Not sent once the leaf is gone from the tree (or already known to be gone).
        target: (tried) => (tried.has(slot) || this.gone.has(slot) || !this.memberList.some((x) => x.slot === slot) ? undefined : slot),
        tried: new Set(),
        to: undefined,
        seal: () => Promise.resolve(new Uint8Array(0)),
        reqId: undefined,
        resolve: () => undefined,
        reject: (e) => {
          if (!(e instanceof ClientError) || e.relayCode !== 'NO_SUCH_PEER' || this.phase !== 'joined') return;
          this.gone.add(slot);
          if (this.gone.size > 4096) this.gone.delete(this.gone.values().next().value!);
          this.run(() => this.scheduleRemovals(false));
        },
        probe: true,
      });
    }
    if (this.directOut.length > 0) this.schedulePump();
  }

  /** Commits the removal of `members` (none: a self-update) for the relay's current epoch; applied on ACK. */
  private async commitRemoval(members: Member[]): Promise<void> {
    const out = await this.crypto.remove(this.mls!, members.map((m) => m.leaf));
    const epoch = this.relayEpoch;
    const reqId = this.link.request(this, (r) => ({ type: 'COMMIT', reqId: r, room: this.locator, epoch, commit: out.message, groupInfo: out.groupInfo }));
    this.pending = { kind: 'remove', reqId, state: out.state, removed: members, consumed: out.consumed };
  }

  /** Leaves our current leaf behind and joins again with a fresh one (peers remove the old one on PEER_GONE). */
  private rejoinFresh(): void {
    this.link.request(this, (reqId) => ({ type: 'LEAVE', reqId, room: this.locator }));
    this.start(true);
  }

  /** Asks the relay for the room's state (GROUP_STATE); the answer is handled by onGroupState. */
  private requestSync(): void {
    this.syncs.add(this.link.request(this, (r) => ({ type: 'SYNC', reqId: r, room: this.locator })));
    if (this.syncs.size > 64) this.syncs.delete(this.syncs.values().next().value!);
  }

  /** Runs `fn` on the queue after `ms` (not sleeping inside the queue), unless the room was left meanwhile. */
  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => this.run(async () => (this.phase === 'left' ? undefined : fn())), ms * (0.75 + Math.random() * 0.5));
    (t as { unref?: () => void }).unref?.();
  }

  /** Runs `pump` once on the queue, however many sends asked for it. */
  private schedulePump(delayMs = 0): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    const go = () =>
      this.run(() => {
        this.pumpQueued = false;
        this.pumpTimer = undefined;
        return this.pump();
      });
    if (delayMs > 0) this.pumpTimer = setTimeout(go, delayMs);
    else go();
  }

  /**
   * Encrypts and sends queued messages, oldest first: at most `sendWindow` unacknowledged, at most
   * `sendRate` per second, and not while a commit of ours is in flight (it would change the epoch
   * under them). Whatever waits is picked up by the next ACK or timer.
   */
  private async pump(): Promise<void> {
    // Direct frames first: they do not depend on the room's epoch, so a commit in flight does not hold them.
    await this.pumpDirect();
    if (this.phase !== 'joined' || this.mls === undefined || this.pending !== undefined) return;
    // Back after a reconnect but alone (the others have not rejoined yet): what was typed offline
    // was meant for them, and newcomers never see earlier messages, so hold it until someone is here.
    if (this.rejoin && this.memberList.length <= 1 && this.outbox.some((o) => o.reqId === undefined)) return;
    this.refill();
    for (const item of this.outbox) {
      if (item.reqId !== undefined) continue;
      if (this.inflight >= this.timings.sendWindow) return; // the next ACK pumps again
      if (this.tokens < 1) return this.schedulePump(Math.ceil(((1 - this.tokens) * 1000) / this.timings.sendRate));
      this.tokens -= 1;
      this.inflight++;
      if (item.payload.n === 0) item.payload.n = ++this.counter;
      const out = await this.crypto.encrypt(this.mls, encodePayload(item.payload));
      this.mls = out.state;
      const epoch = this.relayEpoch;
      item.epoch = epoch;
      item.reqId = this.link.request(this, (reqId) => ({ type: 'APP', reqId, room: this.locator, epoch, data: out.message }));
    }
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.timings.sendBurst, this.tokens + ((now - this.lastRefill) * this.timings.sendRate) / 1000);
    this.lastRefill = now;
  }

  /** Sends queued direct frames, oldest first, under the same window and rate as room messages. */
  private async pumpDirect(): Promise<void> {
    if (this.phase !== 'joined' || this.directOut.length === 0) return;
    this.refill();
    for (const item of [...this.directOut]) {
      if (item.reqId !== undefined) continue;
      if (this.directInflight >= this.timings.sendWindow) return; // the next ACK pumps again
      if (this.tokens < 1) return this.schedulePump(Math.ceil(((1 - this.tokens) * 1000) / this.timings.sendRate));
      const drop = (e: unknown) => {
        const i = this.directOut.indexOf(item);
        if (i >= 0) this.directOut.splice(i, 1);
        item.reject(e);
      };
      const to = item.target(item.tried);
      if (to === undefined || to === this.slot) {
        drop(new ClientError('PEER_UNAVAILABLE', 'the member is not in the room now: the message was not sent'));
        continue;
      }
      let data: Uint8Array;
      try {
        data = await item.seal();
      } catch (e) {
        drop(e);
        continue;
      }
      this.tokens -= 1;
      this.directInflight++;
      item.to = to;
      item.reqId = this.link.request(this, (reqId) => ({ type: 'DIRECT', reqId, room: this.locator, to: to as Slot, data }));
    }
  }

}
