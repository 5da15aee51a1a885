/**
 * One joined room: the shell of the conversation core (docs/PROTOCOL.md §4-5). It owns the room's
 * MLS state and one serial queue on which everything that touches it runs, in the order the relay
 * delivered it (frames, local sends, timers), and wires the core's parts together: membership
 * as a pure state machine (membershipMachine.ts, over membership.ts's decisions), the outbox for
 * every outgoing frame (outbox.ts), trust in members' keys (trust.ts), the payload router features
 * register with (payloadRouter.ts) and the upload ticket (uploadTicket.ts). The group side (join,
 * commits, repairs, removals, self-updates) is carried out by roomMembership.ts, the RoomMembership
 * this class extends; the queue and the state they share in roomBase.ts.
 */
import { type DeliverFrame, type RelayFrame, asEpoch, asSlot } from '@nullroom/protocol';
import { type HiddenMessage, type RoomGroup, type SuiteName, CryptoError } from '@nullroom/crypto';
import { ClientError } from './errors.js';
import { toHex } from './encoding.js';
import { type KeyStore, MemoryKeyStore } from './keyStore.js';
import { ForkWatch } from './forkWatch.js';
import { parsePayload } from './payload.js';
import { type ChatMessageInfo, ChatLog, type RememberedMessage } from './chatLog.js';
import { type DirectTarget, type PayloadBody, type SendPort } from './outbox.js';
import { type PayloadHandler, type PayloadRoutes, type PayloadType, PayloadRouter } from './payloadRouter.js';
import { RoomResume } from './roomResume.js';
import type { SavedPrivateChat, SessionPart, StaySnapshot } from './roomSession.js';
import type { RoomLink } from './roomBase.js';
import { type RoomEvents, type RoomPhase, type RoomTimings, defaultRoomTimings } from './roomTypes.js';

export type { RoomLink } from './roomBase.js';
export type { RoomEvents, RoomPhase, RoomTimings, DisruptionReason } from './roomTypes.js';
export { defaultRoomTimings } from './roomTypes.js';

const SEEN_IDS = 4096;

export class Room extends RoomResume implements SendPort, PayloadRoutes {
  readonly #router = new PayloadRouter();
  readonly #directHandlers = new Set<(from: number, data: Uint8Array) => void>();
  readonly #hiddenHandlers = new Set<(from: number, hidden: HiddenMessage) => void>();
  readonly #lastN = new Map<string, number>();
  readonly #seen = new Set<string>();
  readonly #forkWatch = new ForkWatch();
  readonly #chat: ChatLog;
  /** The private chats a restored session held, until the room's PrivateChats takes them; then who keeps them. */
  #privateSaved: SavedPrivateChat[] = [];
  #privatePart: SessionPart | undefined;

  constructor(
    crypto: RoomGroup,
    nick: string,
    link: RoomLink,
    timings: RoomTimings = defaultRoomTimings,
    store: KeyStore = new MemoryKeyStore(),
    session?: (stay: StaySnapshot | undefined) => Promise<void>,
  ) {
    super(crypto, nick, link, timings, store, session);
    const self = () => ({ sender: toHex(this.crypto.identity.publicKey), nick: this.nick });
    const live = () => this.phase === 'joined' && this.outbox.unsent === 0;
    this.#chat = new ChatLog({ sendPayload: (b) => this.sendPayload(b), route: (t, h) => this.route(t, h), self, live }, (t, e) =>
      this.emit(t, e as RoomEvents[typeof t]),
    );
    this.on('phase', (p) => p.phase === 'left' && this.#chat.close());
  }

  /**
   * A room taken up from a saved session (NullroomClient.restore): its group state, slot and
   * outbox as written, suspended; `start` resumes it (RESUME, §4.5), or joins afresh if the relay
   * cannot give the slot back. Throws CryptoError(BAD_SAVED_STATE) for a state that does not open.
   */
  static async restore(
    crypto: RoomGroup,
    s: StaySnapshot,
    link: RoomLink,
    timings: RoomTimings,
    store: KeyStore,
    session?: (stay: StaySnapshot | undefined) => Promise<void>,
  ): Promise<Room> {
    const room = new Room(crypto, s.requestedNick, link, timings, store, session);
    const mls = crypto.importState(s.mls);
    const members = await crypto.members(mls);
    if (!members.some((m) => m.self && m.slot === s.slot)) throw new CryptoError('BAD_SAVED_STATE', 'the saved state is not at its slot');
    room.mls = mls;
    room.advance({ type: 'restored', slot: asSlot(s.slot), commits: asEpoch(s.commits), members });
    room.named(s.nick, s.created);
    room.restoreResume(s.token, s.lastSeq);
    room.outbox.restore(s.counter, s.outbox);
    for (const [k, n] of s.lastN) room.#lastN.set(k, n);
    room.#privateSaved = [...(s.privateChats ?? [])];
    return room;
  }

  /** The room's private chats keep their part of its saved session (privateChats.ts); returns the chats a restored one held, once. */
  keepInSession(part: SessionPart): readonly SavedPrivateChat[] {
    this.#privatePart = part;
    return this.#privateSaved.splice(0);
  }

  /** Something the saved session holds changed outside the room (a private chat read a message): written soon. */
  sessionChanged(): void {
    if (this.phase !== 'left') this.saveSoon();
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
  /** The MLS epoch of our group state (undefined until joined). Not the relay's commit count. */
  get epoch(): number | undefined {
    return this.mls === undefined ? undefined : this.crypto.epochOf(this.mls);
  }
  /** Resolves once joined; rejects with ClientError(JOIN_FAILED) when joining is impossible. */
  whenJoined(): Promise<void> {
    if (this.phase === 'joined') return Promise.resolve();
    return new Promise((resolve, reject) => this.joinWaiters.push({ resolve, reject }));
  }

  /**
   * Queues a text message (`replyTo`: the id of a message it answers); it is sent as soon as the
   * room is joined, and re-sent after a reconnect until acknowledged. ClientError(MESSAGE_TOO_LARGE),
   * (NO_SUCH_MESSAGE) for a `replyTo` this room does not know, (NOT_JOINED).
   */
  send(text: string, options: { replyTo?: string | undefined } = {}): string {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    return this.#chat.send(text, options.replyTo);
  }

  /** Adds (`on`, the default) or takes back our reaction `emoji` (one emoji) on message `id` (chatLog.ts, docs/PROTOCOL.md §5.4). */
  react(id: string, emoji: string, on = true): string {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    return this.#chat.react(id, emoji, on);
  }

  /** Replaces the text of our message `id` for everyone; ClientError(NOT_YOURS) for another member's. Queued like a message. */
  edit(id: string, text: string): string {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    return this.#chat.edit(id, text);
  }

  /** Deletes our message `id` for everyone; ClientError(NOT_YOURS) for another member's. Queued like a message. */
  delete(id: string): string {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    return this.#chat.delete(id);
  }

  /** Tells the room we started or stopped typing (rate limited: at most one `on` per 3 s); false when nothing was sent. */
  typing(on: boolean): boolean {
    return this.phase !== 'left' && this.#chat.typing(on);
  }

  /** A message this room remembers (its text now, reactions, whether edited or deleted), for quotes; undefined if it never saw it or forgot it. */
  message(id: string): ChatMessageInfo | undefined {
    return this.#chat.info(id);
  }

  /** The members typing now (nicknames). */
  typingNow(): string[] {
    return this.#chat.typingNow();
  }

  /** What the room's log knows of these messages, to keep past a reload (chatLog.ts `recall`). */
  recall(ids: Iterable<string>): RememberedMessage[] {
    return this.#chat.recall(ids);
  }

  /** Seeds a restored room's log with messages kept from before the reload (chatLog.ts `remember`): their reactions, edits and deletes count again. */
  remember(messages: readonly RememberedMessage[]): number {
    return this.#chat.remember(messages);
  }

  /** Queues any payload (files and private chats send theirs this way); returns its id. */
  sendPayload(body: PayloadBody): string {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    this.saveSoon();
    return this.outbox.enqueue(body);
  }

  /**
   * Queues a hidden private message (docs/PROTOCOL.md §5.2): a chat's sealed message, wrapped for
   * the room's epoch at each (re)send; in the room's stream, but no room payload (no counter `n`).
   */
  sendHidden(inner: Uint8Array): string {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    this.saveSoon();
    return this.outbox.enqueueHidden(inner);
  }

  /**
   * Sends one opaque payload to one member's connection only (a DIRECT frame, docs/PROTOCOL.md
   * §4.4; private chats' `direct` routing). Queued in the outbox with room messages, but never part
   * of the room's stream. Resolves when the relay acknowledges that it handed the frame over;
   * rejects with ClientError(PEER_UNAVAILABLE) when `target` finds no such member or the relay
   * reports its connection gone, (RELAY_ERROR) for another refusal, (NOT_JOINED) when the room is left first.
   */
  sendDirect(target: DirectTarget, seal: () => Promise<Uint8Array>): Promise<void> {
    if (this.phase === 'left') return Promise.reject(new ClientError('NOT_JOINED', 'the room was left'));
    return this.outbox.direct(target, seal);
  }

  /** Registers a feature's handler for one payload type (files, private chats); returns the function that unregisters it. */
  route<K extends PayloadType>(type: K, handler: PayloadHandler<K>): () => void {
    return this.#router.route(type, handler);
  }

  /**
   * Registers a handler for DIRECT_DELIVER frames for us (private chats' `direct` routing): `from`
   * is the sender's slot as the relay names it (unauthenticated: the data must authenticate itself).
   */
  routeDirect(handler: (from: number, data: Uint8Array) => void): () => void {
    this.#directHandlers.add(handler);
    return () => this.#directHandlers.delete(handler);
  }

  /**
   * Registers a handler for hidden private messages (private chats; `from`: the relay's word, the
   * chat authenticates). `hidden` is a view into the received frame, valid during the call only: a
   * handler that reads it later copies it first.
   */
  routeHidden(handler: (from: number, hidden: HiddenMessage) => void): () => void {
    this.#hiddenHandlers.add(handler);
    return () => this.#hiddenHandlers.delete(handler);
  }

  /**
   * An upload ticket for the relay's blob store (docs/PROTOCOL.md §9.1), granted to this connection
   * while it is in the room; `refused`: the one the relay just refused. Rejects with
   * ClientError(FILE_TRANSFER) when the relay refuses or the connection drops first (callers
   * retry), (NOT_JOINED) once the room is left.
   */
  blobTicket(refused?: string): Promise<string> {
    if (this.phase === 'left') return Promise.reject(new ClientError('NOT_JOINED', 'the room was left'));
    return this.ticket.get(refused);
  }

  /** Queues again a message reported `unsent` (same id); false when it is not kept (retried already, or too old). */
  retry(id: string): boolean {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    return this.outbox.retry(id);
  }

  /** Resolves when every queued message has been acknowledged by the relay. */
  flush(): Promise<void> {
    return this.outbox.flush();
  }

  /** Messages queued but not yet acknowledged by the relay. */
  get unsent(): number {
    return this.outbox.unsent;
  }

  /**
   * Waits (up to `timeoutMs`) for queued messages to be acknowledged, then leaves the room cleanly.
   * Resolves with the number of messages that could not be delivered in that time (0 normally).
   */
  async leave(timeoutMs = 10_000): Promise<number> {
    if (this.phase === 'left') return this.outbox.unsent;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.flush(), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    const unsent = this.outbox.unsent;
    let off: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      off = this.on('phase', (p) => p.phase === 'left' && resolve());
      this.run(async () => {
        if (this.phase === 'left') return resolve();
        const timer = setTimeout(() => this.run(async () => this.finishLeave()), 3000);
        this.leaveAck = () => {
          clearTimeout(timer);
          this.finishLeave();
        };
        this.link.request(this, (reqId) => ({ type: 'LEAVE', reqId, room: this.locator }));
      });
    });
    off?.();
    return unsent;
  }

  /** The room's MLS layer (its keys, suite and our identity), for private chats made beside it. */
  get roomCrypto(): RoomGroup {
    return this.crypto;
  }

  // ---- called by the connection ----

  /** The client is closing: fail any waiter, stop timers. `closeCode`: the relay's, when it closed the connection. */
  closed(closeCode?: number): void {
    this.run(async () => {
      this.rejectJoin(new ClientError('CLOSED', 'the client was closed', closeCode === undefined ? undefined : { closeCode }));
      this.finishLeave();
    });
  }

  handle(frame: RelayFrame): void {
    this.run(() => this.onFrame(frame));
    this.saveSoon();
  }

  // ---- internals ----

  protected override async onFrame(f: RelayFrame): Promise<void> {
    if (this.phase === 'left' && f.type !== 'ACK') return;
    if (this.heldForReplay(f)) return;
    switch (f.type) {
      case 'JOINED':
        this.joinedSlot(f.slot, f.resume);
        return;
      case 'RESUMED':
        return this.onResumed(f);
      case 'GROUP_STATE':
        return this.onGroupState(f);
      case 'DELIVER':
        return this.onDeliver(f);
      case 'DIRECT_DELIVER':
        if (f.data.length === 0) return; // a member's liveness probe (§4.3 "Departures"): nothing to read
        // On the room's queue, so that it is read after every room message the relay sent before it
        // (a chat's Welcome comes through the room, its first direct message after it).
        for (const fn of [...this.#directHandlers]) fn(f.from, f.data);
        return;
      case 'PEER_GONE':
        return this.peerGone(f.slot);
      case 'ACK':
        this.noteSeq(f.seq);
        return this.onAck(f.reqId);
      case 'ERROR':
        return this.resumeRefused(f.reqId, f.code) ? undefined : this.onError(f.reqId, f.code);
      case 'TICKET_GRANT':
        this.ticket.granted(f.reqId, f.ticket);
        return;
    }
  }

  protected override stay(): StaySnapshot | undefined {
    const r = this.resumable();
    if (r === undefined || (this.phase !== 'joined' && !this.suspendedStay)) return undefined;
    const { counter, messages } = this.outbox.saved();
    return {
      suite: this.crypto.suite,
      requestedNick: this.requestedNick,
      nick: this.nick,
      created: this.created,
      slot: r.slot,
      token: r.token,
      lastSeq: r.seq,
      commits: this.relayCommits,
      mls: this.crypto.exportState(this.mls!),
      counter,
      outbox: messages,
      lastN: [...this.#lastN],
      privateChats: this.#privatePart?.saved() ?? this.#privateSaved,
    };
  }

  protected override settleSession(): Promise<void> {
    return this.#privatePart?.settled() ?? Promise.resolve();
  }

  protected override forgetStay(): void {
    this.#lastN.clear();
  }

  protected override async onAppDeliver(f: DeliverFrame): Promise<void> {
    let r;
    try {
      r = await this.crypto.process(this.mls!, f.data, f.from);
    } catch (e) {
      this.report('BAD_MESSAGE', e);
      const fork = await this.#forkWatch.unreadable(this.crypto, this.mls!, this.relayCommits, f, this.memberList);
      return fork === undefined ? undefined : this.emit('fork-suspected', fork);
    }
    if (r.kind === 'hidden') {
      for (const fn of [...this.#hiddenHandlers]) fn(f.from, r.hidden);
      return;
    }
    if (r.kind !== 'app') return this.report('BAD_MESSAGE', new CryptoError('BAD_MESSAGE', 'a commit arrived as an application message'));
    this.mls = r.state;
    const p = parsePayload(r.plaintext);
    if (p === undefined) return this.report('BAD_PAYLOAD', new ClientError('BAD_PAYLOAD', 'a message is not in the expected format'));
    if (this.#seen.has(p.id)) return; // a copy re-sent after a reconnect
    this.#seen.add(p.id);
    if (this.#seen.size > SEEN_IDS) this.#seen.delete(this.#seen.values().next().value!);
    const who = toHex(r.sender.signaturePublicKey);
    const last = this.#lastN.get(who);
    let outOfOrder = false;
    if (last !== undefined && p.n <= last) {
      outOfOrder = true;
      this.report('OUT_OF_ORDER', new ClientError('OUT_OF_ORDER', 'messages from a member arrived out of order'));
    } else {
      if (last !== undefined && p.n > last + 1) {
        this.report('MISSING_MESSAGES', new ClientError('MISSING_MESSAGES', `${p.n - last - 1} message(s) from a member never arrived`));
      }
      this.#lastN.set(who, p.n);
    }
    const s = r.sender;
    this.#router.dispatch(p, { from: s.nick, sender: toHex(s.identityKey), identityKey: s.identityKey, slot: s.slot, outOfOrder });
  }
}
