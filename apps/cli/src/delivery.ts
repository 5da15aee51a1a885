/**
 * Whether our messages reached the relay: each message we send is `pending` until the room's
 * `sent` event (the relay acknowledged it, docs/PROTOCOL.md §4.3), then `sent`; one still pending
 * when the room is left or lost is `unsent` (it may not have reached anyone).
 */
import type { Room } from '@nullroom/client';
import type { ChatEvent } from './output.js';

export class Delivery {
  /** Message id -> when it was queued. */
  private readonly pending = new Map<string, number>();

  constructor(
    room: Room,
    private readonly report: (e: ChatEvent) => void,
  ) {
    room.on('sent', ({ id }) => {
      const ts = this.pending.get(id);
      if (ts === undefined) return; // a file offer, or a private message in hidden routing: not a line of ours
      this.pending.delete(id);
      report({ event: 'sent', id, ts });
    });
    room.on('phase', ({ phase }) => phase === 'left' && this.lost());
  }

  /** A message the room queued (`id` as Room.send returned it). */
  queued(id: string, from: string, text: string): void {
    const ts = Date.now();
    this.pending.set(id, ts);
    this.report({ event: 'pending', id, from, text, ts });
  }

  /** The room is gone: whatever was not acknowledged will not be. */
  lost(): void {
    for (const [id, ts] of this.pending) this.report({ event: 'unsent', id, ts });
    this.pending.clear();
  }
}
