/**
 * Our own messages between the moment they show and the moment the relay acknowledges them, in a
 * room or in one of its private chats: keyed by the id the SDK gave the send, each with where it
 * was sent (`W`: the room, or a private chat's view). The room and private chats report `sent` and
 * `unsent` by that id; ids this does not know (a file offer, a private chat's set-up) are not ours.
 */
import type { MessageLine } from './timeline.js';

export class OwnLines<W> {
  private readonly waiting = new Map<string, { line: MessageLine; where: W }>();

  /** A line now waiting for the relay: `pending`. */
  track(id: string, line: MessageLine, where: W): void {
    line.delivery = 'pending';
    this.waiting.set(id, { line, where });
  }

  /** The relay acknowledged it: `sent`. False when the id is not one of our lines. */
  sent(id: string): boolean {
    const own = this.waiting.get(id);
    if (own === undefined) return false;
    this.waiting.delete(id);
    own.line.delivery = 'sent';
    return true;
  }

  /** It will not be sent (timed out, could not be encrypted): `failed`, and returned for the caller to say why. */
  unsent(id: string): { line: MessageLine; where: W } | undefined {
    const own = this.waiting.get(id);
    if (own === undefined) return undefined;
    this.waiting.delete(id);
    own.line.delivery = 'failed';
    return own;
  }

  /** Everything still waiting fails (the room was left for good). False when nothing was waiting. */
  failAll(): boolean {
    if (this.waiting.size === 0) return false;
    for (const own of this.waiting.values()) own.line.delivery = 'failed';
    this.waiting.clear();
    return true;
  }
}
