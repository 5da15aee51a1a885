/**
 * One joined room as the UI sees it: its lines (messages and notices), members, unread count.
 * It listens to the SDK's Room for as long as the room is open, whether or not it is on screen,
 * so switching rooms loses nothing. Notices are kept as i18n keys and rendered in the current
 * language; peer text is kept as text and only ever rendered as text.
 */
import type { Room } from '@nullroom/client';

export type Line =
  | { key: number; kind: 'message'; from: string; text: string; ts: number; self: boolean }
  | { key: number; kind: 'notice' | 'warning' | 'error'; i18n: string; params: Record<string, string | number>; ts: number };

export interface MemberView {
  nick: string;
  self: boolean;
  verified: boolean;
  changed: boolean;
}

let nextKey = 0;
let nextId = 0;

export class RoomSession {
  readonly id = ++nextId;
  lines: Line[] = [];
  members: MemberView[] = [];
  unread = 0;
  private readonly listeners = new Set<() => void>();
  private readonly offs: (() => void)[];

  constructor(
    readonly room: Room,
    readonly name: string,
    /** The invite link, for rooms made from a random secret. */
    readonly invite: string | undefined,
    /** Called for each message from someone else (unread counts, notifications). */
    private readonly onMessage: (s: RoomSession) => void,
  ) {
    const others = room.members().length - 1;
    this.notice('notice', room.created ? 'chat.created' : 'chat.joined', room.created ? {} : { count: others });
    this.refreshMembers();
    this.offs = [
      room.on('message', (e) => {
        this.push({ key: nextKey++, kind: 'message', from: e.from, text: e.text, ts: e.ts, self: false });
        this.onMessage(this);
      }),
      room.on('member-joined', (e) => (this.notice('notice', 'chat.memberJoined', { nick: e.nick }), this.refreshMembers())),
      room.on('member-left', (e) => (this.notice('notice', 'chat.memberLeft', { nick: e.nick }), this.refreshMembers())),
      room.on('joined', (e) => (this.notice('notice', e.created ? 'chat.rejoinedCreated' : 'chat.rejoined', {}), this.refreshMembers())),
      room.on('key-changed', (e) => (this.notice('warning', e.wasVerified ? 'chat.keyChangedVerified' : 'chat.keyChanged', { nick: e.nick }), this.refreshMembers())),
      room.on('trust', () => this.refreshMembers()),
      room.on('error', (e) => this.notice('error', 'chat.error', { message: `${e.code}: ${e.message}` })),
    ];
  }

  /** Queues a message; it shows at once and is re-sent by the SDK until the relay acknowledges it. */
  send(text: string): void {
    try {
      this.room.send(text);
      this.push({ key: nextKey++, kind: 'message', from: this.room.nick, text, ts: Date.now(), self: true });
    } catch (err) {
      this.notice('error', 'chat.notSent', { message: err instanceof Error ? err.message : 'error' });
    }
  }

  markRead(): void {
    if (this.unread === 0) return;
    this.unread = 0;
    this.changed();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.offs.forEach((off) => off());
    this.listeners.clear();
  }

  private notice(kind: 'notice' | 'warning' | 'error', i18n: string, params: Record<string, string | number>): void {
    this.push({ key: nextKey++, kind, i18n, params, ts: Date.now() });
  }

  private push(line: Line): void {
    this.lines = [...this.lines, line];
    this.changed();
  }

  private refreshMembers(): void {
    this.members = this.room.members().map((m) => {
      const trust = this.room.trust(m.nick);
      return { nick: m.nick, self: m.self, verified: trust?.verified === true, changed: trust?.changed === true };
    });
    this.changed();
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }
}
