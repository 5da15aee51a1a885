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
import { type Member, type RoomFingerprint, type RoomGroup, type SuiteName, CryptoError, safetyNumber } from '@nullroom/crypto';
import { ClientError } from './errors.js';
import { toHex } from './encoding.js';
import { type KeyStore, MemoryKeyStore } from './keyStore.js';
import { ForkWatch } from './forkWatch.js';
import { MAX_TEXT_CHARS, parsePayload } from './payload.js';
import { type DirectTarget, type PayloadBody, type SendPort } from './outbox.js';
import { type PayloadHandler, type PayloadRoutes, type PayloadType, PayloadRouter } from './payloadRouter.js';
import { RoomResume } from './roomResume.js';
import type { StaySnapshot } from './roomSession.js';
import type { RoomLink } from './roomBase.js';
import { type RoomPhase, type RoomTimings, defaultRoomTimings } from './roomTypes.js';

export type { RoomLink } from './roomBase.js';
export type { RoomEvents, RoomPhase, RoomTimings, DisruptionReason } from './roomTypes.js';
export { defaultRoomTimings } from './roomTypes.js';

const SEEN_IDS = 4096;

export class Room extends RoomResume implements SendPort, PayloadRoutes {
  readonly #router = new PayloadRouter();
  readonly #directHandlers = new Set<(from: number, data: Uint8Array) => void>();
  readonly #lastN = new Map<string, number>();
  readonly #seen = new Set<string>();
  readonly #forkWatch = new ForkWatch();

  constructor(
    crypto: RoomGroup,
    nick: string,
    link: RoomLink,
    timings: RoomTimings = defaultRoomTimings,
    store: KeyStore = new MemoryKeyStore(),
    session?: (stay: StaySnapshot | undefined) => Promise<void>,
  ) {
    super(crypto, nick, link, timings, store, session);
    this.#router.route('text', (p, s) =>
      this.emit('message', { from: s.from, text: p.text, ts: p.ts, id: p.id, outOfOrder: s.outOfOrder }),
    );
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
    return room;
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
  /** Current members (from the MLS ratchet tree), you included. */
  members(): readonly Member[] {
    return this.memberList;
  }

  /** Resolves once joined; rejects with ClientError(JOIN_FAILED) when joining is impossible. */
  whenJoined(): Promise<void> {
    if (this.phase === 'joined') return Promise.resolve();
    return new Promise((resolve, reject) => this.joinWaiters.push({ resolve, reject }));
  }

  /** Queues a text message; it is sent as soon as the room is joined, and re-sent after a reconnect until acknowledged. */
  send(text: string): string {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    if (text.length === 0 || [...text].length > MAX_TEXT_CHARS) {
      throw new ClientError('MESSAGE_TOO_LARGE', `a message must be 1 to ${MAX_TEXT_CHARS} characters`);
    }
    return this.sendPayload({ type: 'text', text });
  }

  /** Queues any payload (files and private chats send theirs this way); returns its id. */
  sendPayload(body: PayloadBody): string {
    if (this.phase === 'left') throw new ClientError('NOT_JOINED', 'the room was left');
    this.saveSoon();
    return this.outbox.enqueue(body);
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
    return this.trusted.of(nick);
  }

  /** Marks a member's current key verified (after comparing safety numbers) or not; remembered by the key store. ClientError(NO_SUCH_MEMBER) for an unknown nickname. */
  setVerified(nick: string, verified: boolean): Promise<void> {
    return this.trusted.setVerified(nick, verified);
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
    };
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
