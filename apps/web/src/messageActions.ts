/**
 * Replies, reactions, edits, deletes and typing for one timeline (a room's, or one of its private
 * chats'), over the SDK's everyday chat (react/edit/delete/typing, docs/PROTOCOL.md §5.4). The SDK
 * decides what counts (only a message's sender edits or deletes it, reactions are bounded); this
 * keeps the lines in step with its events, by message id, and says who is typing.
 */
import type { ChatEvents, ChatMessageInfo, ClientErrorCode } from '@nullroom/client';
import type { Line, MessageLine } from './timeline.js';

/** What the actions work on: the room's lines, and how to say they changed (RoomSession). */
export interface ActionsHost {
  readonly lines: Line[];
  changed(): void;
  /** Reports a refused action (an error line). */
  refused(message: string): void;
}

/** A quote of the message a reply answers: its sender and text now, or why there is none. */
export type Quote = { state: 'ok'; from: string; text: string } | { state: 'deleted'; from: string } | { state: 'missing' };

type SurfaceEvents = Omit<ChatEvents, 'message'> & { sent: { id: string }; unsent: { id: string; code: ClientErrorCode; message: string } };

/** What a conversation offers (Room, PrivateChat). */
export interface ChatSurface {
  react(id: string, emoji: string, on: boolean): string;
  edit(id: string, text: string): string;
  delete(id: string): string;
  typing(on: boolean): boolean;
  message(id: string): ChatMessageInfo | undefined;
  typingNow(): string[];
  on<K extends keyof SurfaceEvents>(type: K, fn: (e: SurfaceEvents[K]) => void): () => void;
}

export class MessageActions {
  /** Nicknames of the members typing now. */
  typing: string[] = [];
  private readonly offs: (() => void)[];
  /** Our reactions, edits and deletes the relay has not acknowledged yet: one reported unsent is said. */
  private readonly waiting = new Set<string>();

  constructor(
    private readonly room: ChatSurface,
    private readonly host: ActionsHost,
  ) {
    this.offs = [
      room.on('reaction', (e) => this.patch(e.id, (l) => (l.reactions = e.reactions))),
      room.on('edited', (e) =>
        this.patch(e.id, (l) => {
          l.text = e.text;
          l.edited = true;
        }),
      ),
      room.on('deleted', (e) =>
        this.patch(e.id, (l) => {
          l.text = '';
          l.deleted = true;
          delete l.reactions;
        }),
      ),
      room.on('sent', (e) => this.waiting.delete(e.id)),
      room.on('unsent', (e) => this.waiting.delete(e.id) && host.refused(`${e.code}: ${e.message}`)),
      room.on('typing', () => {
        this.typing = room.typingNow();
        host.changed();
      }),
    ];
  }

  /** The message a reply answers, as the room's log has it now. */
  quote(id: string): Quote {
    const m = this.room.message(id);
    if (m === undefined) return this.shownQuote(id);
    return m.deleted ? { state: 'deleted', from: m.from } : { state: 'ok', from: m.from, text: m.text };
  }

  /** A message the SDK's log does not hold (shown before a reload: history.ts), as the timeline still shows it. */
  private shownQuote(id: string): Quote {
    const l = this.host.lines.find((x): x is MessageLine => x.kind === 'message' && x.id === id);
    if (l === undefined) return { state: 'missing' };
    return l.deleted === true ? { state: 'deleted', from: l.from } : { state: 'ok', from: l.from, text: l.text };
  }

  /** Adds our `emoji` on `line`, or takes it back if it is ours already. */
  toggleReaction(line: MessageLine, emoji: string): void {
    if (line.id === undefined) return;
    const mine = line.reactions?.some((r) => r.emoji === emoji && r.mine) === true;
    this.attempt(() => this.room.react(line.id!, emoji, !mine));
  }

  edit(line: MessageLine, text: string): void {
    if (line.id === undefined || text.trim() === '' || text === line.text) return;
    this.attempt(() => this.room.edit(line.id!, text));
  }

  delete(line: MessageLine): void {
    if (line.id !== undefined) this.attempt(() => this.room.delete(line.id!));
  }

  /** The composer changed: typing while it holds text (the SDK rate limits), stopped once it is empty. */
  composing(hasText: boolean): void {
    this.room.typing(hasText);
  }

  close(): void {
    for (const off of this.offs) off();
  }

  private attempt(fn: () => string): void {
    try {
      this.waiting.add(fn());
      if (this.waiting.size > 256) this.waiting.delete(this.waiting.values().next().value!);
    } catch (err) {
      this.host.refused(err instanceof Error ? err.message : 'error');
    }
  }

  /** Changes the line of message `id` (the newest with that id) and re-renders. */
  private patch(id: string, fn: (l: MessageLine) => void): void {
    for (let i = this.host.lines.length - 1; i >= 0; i--) {
      const l = this.host.lines[i]!;
      if (l.kind === 'message' && l.id === id) {
        fn(l);
        this.host.changed();
        return;
      }
    }
  }
}
