/**
 * Fork detection (docs/PROTOCOL.md §8.2). The relay sequences every commit, so a malicious relay can
 * show one commit to some members and another commit for the same epoch to others: each side then
 * lives in its own history of the room. Members compare room fingerprints out of band to find that
 * out for certain (§8.1); this module raises the alarm when the traffic itself shows it.
 *
 * The rule: an application message is *fork evidence* when
 *   1. the relay delivered it in our current relay epoch, the relay's commit count (after every commit we applied),
 *   2. the relay names as its sender a slot that is another member of our ratchet tree,
 *   3. it is an MLS PrivateMessage naming our group id and our MLS epoch, and
 *   4. its SenderData does not open with our epoch's sender_data_secret (RFC 9420 §6.3.2).
 * Every member of one epoch of one group holds the same sender_data_secret, so an honest member's
 * message, in any race or after any reconnect, never meets 1-4 (a message from an older or newer
 * epoch fails 1 or 3; a replay or an altered body still opens its SenderData). When
 * `FORK_EVIDENCE_THRESHOLD` such messages arrive while we are in one group state (counted per
 * fingerprint, so a commit or a rejoin starts again at zero), the room emits `fork-suspected` once.
 * A single one is reported only as BAD_MESSAGE: one altered message is tampering, a stream of
 * messages under other keys is another history.
 */
import { DeliveryKind, type DeliverFrame } from '@nullroom/protocol';
import { type Member, type RoomGroup, type RoomState, formatFingerprintDigits } from '@nullroom/crypto';

/** Unreadable messages of another history, in one group state, before we warn. */
export const FORK_EVIDENCE_THRESHOLD = 2;

/** The `fork-suspected` event: what we saw, and our fingerprint to compare with the other members'. */
export interface ForkSuspected {
  /** Our MLS epoch. */
  epoch: number;
  /** Our room fingerprint for that epoch ("4821 0937 5512"): members who see other digits for this epoch are in another history. */
  fingerprint: string;
  /** Messages of this epoch that named our group and epoch but were sealed with keys we do not have. */
  unreadable: number;
}

export class ForkWatch {
  /** The group state the count belongs to (epoch and fingerprint digits). */
  private state = '';
  private count = 0;

  constructor(private readonly threshold = FORK_EVIDENCE_THRESHOLD) {}

  /**
   * Looks at an application message that did not decrypt (`crypto.process` threw). Returns the
   * event to emit when this message completes the evidence for the current state, else undefined.
   */
  async unreadable(
    crypto: RoomGroup,
    state: RoomState,
    relayCommits: number,
    f: DeliverFrame,
    members: readonly Member[],
  ): Promise<ForkSuspected | undefined> {
    if (f.kind !== DeliveryKind.APP || f.epoch !== relayCommits) return undefined; // rule 1
    if (!members.some((m) => !m.self && m.slot === f.from)) return undefined; // rule 2
    const fp = crypto.fingerprint(state);
    const key = `${fp.epoch}:${fp.digits}`;
    if (key !== this.state) {
      this.state = key;
      this.count = 0;
    }
    // Once per group state: past the threshold, spare the SenderData check (~0.3-1 ms a message).
    if (this.count >= this.threshold) return undefined;
    if (!(await crypto.sealedForAnotherHistory(state, f.data))) return undefined; // rules 3 and 4
    if (++this.count < this.threshold) return undefined;
    return { epoch: fp.epoch, fingerprint: formatFingerprintDigits(fp), unreadable: this.count };
  }
}
