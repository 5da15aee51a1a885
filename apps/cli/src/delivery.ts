/**
 * Whether our messages reached the relay: each message we send, to the room or in a private chat,
 * is `pending` until the relay acknowledged it (the room's `sent` event, docs/PROTOCOL.md §4.3; a
 * private chat's `sent`, §5.2), then `sent`. One still pending when the room is left or lost is
 * `unsent` (it may not have reached anyone); a private message can also be reported `unsent` by its
 * chat, with the SDK's code (PEER_UNAVAILABLE: a `direct` message whose peer is not connected).
 */
import type { PrivateChat, PrivateChats, Room } from '@nullroom/client';
import type { ChatEvent, PendingEvent } from './output.js';

/** A message of ours not acknowledged yet: when it was queued and, for a private one, with whom. */
interface Pending {
  ts: number;
  with?: string;
  /** A room message's author and text, to show it pending again after `/retry`. */
  line?: { from: string; text: string };
}

export class Delivery {
  /** Message id -> when it was queued (and the peer, for a private message). */
  private readonly pending = new Map<string, Pending>();
  /** Room messages reported unsent that the SDK may still send again (`/retry`). */
  private readonly failed = new Map<string, { from: string; text: string }>();
  /** Our reactions, edits and deletes not acknowledged yet (`/react`, `/edit`, `/delete`): one never sent is an error. */
  private readonly actions = new Set<string>();

  constructor(
    room: Room,
    privateChats: PrivateChats,
    private readonly report: (e: ChatEvent) => void,
  ) {
    // A file offer (its id is not ours to show) finds nothing pending: ignored.
    room.on('sent', ({ id }) => this.actions.delete(id) || this.settle(id, 'sent'));
    // Not acknowledged within the SDK's sendTimeoutMs (SEND_TIMED_OUT): shown unsent, `/retry` sends it again.
    room.on('unsent', ({ id, code, message }) =>
      this.actions.delete(id) ? this.report({ event: 'error', code, message }) : this.settle(id, 'unsent', code),
    );
    privateChats.on('sent', ({ id }) => this.settle(id, 'sent'));
    privateChats.on('unsent', ({ id, code }) => this.settle(id, 'unsent', code));
    room.on('phase', ({ phase }) => phase === 'left' && this.lost());
  }

  /** A reaction, edit or delete the room queued: silent when acknowledged, an `error` (its code) when it never will be. */
  action(id: string): void {
    this.actions.add(id);
    if (this.actions.size > 256) this.actions.delete(this.actions.values().next().value!);
  }

  /** A message the room queued (`id` as Room.send returned it); `more`: its number and what it answers (chatLines.ts). */
  queued(id: string, from: string, text: string, more: Pick<PendingEvent, 'ref' | 're'> = {}): void {
    const ts = Date.now();
    this.pending.set(id, { ts, line: { from, text } });
    this.report({ event: 'pending', id, from, text, ts, ...more });
  }

  /** `/retry`: queues again every room message shown unsent (same id: `pending`, then `sent` or `unsent`); how many. */
  retry(room: Room): number {
    let n = 0;
    for (const [id, line] of [...this.failed]) {
      this.failed.delete(id);
      if (!room.retry(id)) continue;
      const ts = Date.now();
      this.pending.set(id, { ts, line });
      this.report({ event: 'pending', id, from: line.from, text: line.text, ts });
      n++;
    }
    return n;
  }

  /** A private message its chat queued (`id` as PrivateChat.send returned it). */
  queuedPrivate(chat: PrivateChat, id: string, text: string, more: Pick<PendingEvent, 'ref' | 're'> = {}): void {
    const ts = Date.now();
    const peer = chat.peer;
    this.pending.set(id, { ts, with: peer });
    this.report({ event: 'pending', id, from: chat.nick, text, ts, private: true, with: peer, ...more });
  }

  /** The room is gone: whatever was not acknowledged will not be. */
  lost(): void {
    for (const id of [...this.pending.keys()]) this.settle(id, 'unsent');
  }

  private settle(id: string, state: 'sent' | 'unsent', code?: string): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    if (state === 'unsent' && p.line !== undefined && code !== undefined) {
      this.failed.set(id, p.line);
      if (this.failed.size > 256) this.failed.delete(this.failed.keys().next().value!); // as many as the SDK keeps
    }
    const chat = p.with === undefined ? {} : { private: true as const, with: p.with };
    this.report(
      state === 'sent'
        ? { event: 'sent', id, ts: p.ts, ...chat }
        : { event: 'unsent', id, ts: p.ts, ...chat, ...(code === undefined ? {} : { code }) },
    );
  }
}
