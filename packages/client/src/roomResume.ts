/**
 * Resuming a room's stay after a lost connection (docs/PROTOCOL.md §4.5), between the group side
 * (roomMembership.ts) and the public API (room.ts): a room joined when its connection dropped
 * keeps its group state, slot and outbox (suspended), and on the next connection asks for its slot
 * back (RESUME). The deliveries the relay replays are held until RESUMED, then read in order; a
 * refusal falls back to joining afresh (RESUME_FAILED).
 */
import { type RelayFrame, type ReqId, type ResumedFrame, asSeq, errorNameOf } from '@nullroom/protocol';
import { ClientError } from './errors.js';
import { RoomMembership } from './roomMembership.js';

export abstract class RoomResume extends RoomMembership {
  /** The RESUME in flight, and the deliveries replayed before its RESUMED. */
  #resumeReq: ReqId | undefined;
  #replay: RelayFrame[] = [];

  /** Reads one frame from the relay (Room). */
  protected abstract onFrame(f: RelayFrame): Promise<void>;

  /** On a fresh connection: takes our slot back (RESUME, §4.5) if we were joined, else (re)starts joining. */
  start(rejoin: boolean): void {
    this.run(() => (this.suspendedStay ? this.requestResume() : this.restart(rejoin)));
  }

  /**
   * The connection dropped. Joined, we keep the stay (group state, slot, outbox) and resume it on
   * the next connection (§4.5); otherwise the outbox is kept and we join afresh.
   */
  disconnected(): void {
    this.run(async () => {
      if (this.phase === 'left') return;
      this.#resumeReq = undefined;
      this.#replay = [];
      if (this.suspendedStay) return; // a RESUME went with the connection: asked again on the next one
      if (this.phase === 'joined' && this.resumable() !== undefined) return this.suspend();
      this.reset('reconnecting');
    });
  }

  /** What the relay replays before RESUMED is read once RESUMED says the slot is ours again. */
  protected heldForReplay(f: RelayFrame): boolean {
    if (this.#resumeReq === undefined || (f.type !== 'DELIVER' && f.type !== 'DIRECT_DELIVER')) return false;
    this.#replay.push(f);
    return true;
  }

  /** Asks for our slot back, with its token and the last delivery we read (§4.5). */
  private requestResume(): void {
    const r = this.resumable();
    if (r === undefined) return this.restart(true);
    this.#replay = [];
    const room = this.crypto.locator;
    this.#resumeReq = this.link.request(this, (reqId) => ({
      type: 'RESUME',
      reqId,
      room,
      slot: r.slot,
      token: r.token,
      seq: asSeq(r.seq),
    }));
  }

  /**
   * RESUMED: joined again in the same slot and leaf. The replayed deliveries are read in order (our
   * own among them acknowledge what the relay accepted); whatever is still in flight was not
   * accepted and is sent again, and a pending commit of ours is given up (the machine looks again).
   */
  protected async onResumed(f: ResumedFrame): Promise<void> {
    if (f.reqId !== this.#resumeReq) return;
    this.#resumeReq = undefined;
    this.suspendedStay = false;
    const replay = this.#replay.splice(0);
    this.replaying = true;
    try {
      await this.dispatch({ type: 'resumed' });
      for (const r of replay) await this.onFrame(r);
    } finally {
      this.replaying = false;
    }
    this.noteSeq(f.seq);
    this.outbox.reset();
    await this.dispatch({ type: 'replayed' });
    for (const w of this.joinWaiters.splice(0)) w.resolve(); // a restored room's `whenJoined`
  }

  /** CANNOT_RESUME (or another refusal) of our RESUME: join again as a newcomer, and say that messages may be missing. */
  protected resumeRefused(reqId: ReqId, code: number): boolean {
    if (reqId !== this.#resumeReq) return false;
    this.#resumeReq = undefined;
    this.#replay = [];
    const name = errorNameOf(code) ?? `code ${code}`;
    this.report(
      'RESUME_FAILED',
      new ClientError('RESUME_FAILED', 'our place in the room was lost: joined again', { relayCode: name }),
      name,
    );
    this.restart(true);
    return true;
  }
}
