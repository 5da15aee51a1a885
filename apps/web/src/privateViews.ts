/**
 * A room's private chats as the UI sees them (one PrivateView each): their lines, unread counts,
 * whether they are closed or their peer is out of the room, and our private messages' delivery.
 * It listens to the room's PrivateChats for the session (session.ts), which places what the views
 * need from the room through `PrivateHost`. After a reload the chats the room's saved session held
 * are taken up again (the SDK restores them: PrivateChats `restored`) and their views get their
 * lines back (history.ts); a chat that could not be is kept to read, closed and read-only.
 */
import { ClientError, type IncomingFile, type PrivateChat, type PrivateChats, RoomFiles, fetchBlobTransport } from '@nullroom/client';
import type { SavedPrivate } from './history.js';
import { type ChatSurface, MessageActions } from './messageActions.js';
import { OwnLines } from './ownLines.js';
import type { Line, MessageLine } from './timeline.js';

/** A private chat with one member of the room (without `chat`: one being taken up after a reload, or that could not be, kept to read). */
export interface PrivateView {
  id: string;
  peer: string;
  chat?: PrivateChat;
  /** Files sent in this private chat (only its two members can open them). */
  files?: RoomFiles;
  lines: Line[];
  unread: number;
  closed: boolean;
  /** The peer left the room: nothing can be sent until it is back (PEER_LEFT). */
  peerLeft: boolean;
  /** Replies, reactions, edits, deletes and typing in this chat (without `chat`: read-only, nothing is sent anywhere). */
  actions: MessageActions;
}

/** The notices that end a chat's timeline: after a reload, nothing more to tell. */
const ENDED = new Set(['private.closedByUs', 'private.closedByThem', 'private.endedByReload']);

/** A conversation that sends nothing: the actions of a view without its chat refuse everything, and never fall back on the room. */
const readOnly: ChatSurface = {
  react: () => {
    throw new ClientError('NOT_JOINED', 'the private chat is closed');
  },
  edit: () => {
    throw new ClientError('NOT_JOINED', 'the private chat is closed');
  },
  delete: () => {
    throw new ClientError('NOT_JOINED', 'the private chat is closed');
  },
  typing: () => false,
  message: () => undefined,
  typingNow: () => [],
  on: () => () => undefined,
};

/** What the views need from their session. */
export interface PrivateHost {
  /** A new line key. */
  key(): number;
  /** The avatar seed of a member now (ourselves without `nick`). */
  seedOf(nick?: string): string | undefined;
  /** One of our messages as it shows at once. */
  ownLine(text: string): MessageLine;
  /** Something arrived in chat `id` from its peer (unread counts, notifications). */
  incoming(id: string): void;
  /** A file offered in a chat. */
  offered(f: IncomingFile, view: PrivateView): void;
  /** An error the chats reported, for the room's timeline. */
  error(message: string): void;
  changed(): void;
}

export class PrivateViews {
  readonly views = new Map<string, PrivateView>();
  /** Our private messages the relay has not acknowledged yet, with their chat. */
  private readonly unacked = new OwnLines<PrivateView>();
  private readonly offs: (() => void)[];
  /** Chats closed before a reload that its saved session still held: closed as soon as they are taken up. */
  private readonly ended = new Set<string>();

  constructor(
    readonly chats: PrivateChats,
    private readonly host: PrivateHost,
  ) {
    this.offs = [
      chats.on('opened', (e) => this.opened(e.chat, e.byUs)),
      chats.on('restored', (e) => this.restored(e.chats, e.lost)),
      chats.on('message', (e) => {
        const view = this.views.get(e.chat.id);
        // A message shown before a reload may be read again while the room resumes: shown once.
        if (view === undefined || view.lines.some((l) => l.kind === 'message' && l.id === e.id)) return;
        const seed = host.seedOf(e.from);
        const line: Line = {
          key: host.key(),
          kind: 'message',
          from: e.from,
          text: e.text,
          ts: e.ts,
          self: false,
          seed,
          id: e.id,
          replyTo: e.replyTo,
        };
        view.lines = [...view.lines, line];
        host.incoming(view.id);
        host.changed();
      }),
      chats.on('sent', (e) => this.unacked.sent(e.id) && host.changed()),
      chats.on('unsent', (e) => {
        const own = this.unacked.unsent(e.id);
        if (own !== undefined) this.unsent(own.line, own.where, `${e.code}: ${e.message}`);
      }),
      chats.on('error', (e) => host.error(`${e.code}: ${e.message}`)),
      chats.on('closed', (e) => {
        const view = this.views.get(e.chat.id);
        if (view === undefined || view.chat === undefined) return; // a view without its chat is closed already
        view.closed = true;
        this.notice(view, e.byUs ? 'private.closedByUs' : 'private.closedByThem');
      }),
      chats.on('peer-left', (e) => this.presence(e.chat.id, true)),
      chats.on('peer-back', (e) => this.presence(e.chat.id, false)),
    ];
  }

  private opened(chat: PrivateChat, byUs: boolean): void {
    const view = this.view(chat.id, chat.peer, [], false);
    this.attach(view, chat, byUs ? 'private.openedByUs' : 'private.openedByThem');
    if (!byUs) this.host.incoming(view.id);
  }

  /** A view, kept by its chat's id, without its chat yet (its actions read-only). */
  private view(id: string, peer: string, lines: Line[], closed: boolean): PrivateView {
    let view: PrivateView | undefined;
    const actions = this.actionsOf(readOnly, () => view);
    view = { id, peer, lines, unread: 0, closed, peerLeft: false, actions };
    this.views.set(id, view);
    return view;
  }

  private actionsOf(surface: ChatSurface, viewOf: () => PrivateView | undefined): MessageActions {
    return new MessageActions(surface, {
      get lines() {
        return viewOf()?.lines ?? [];
      },
      changed: () => this.host.changed(),
      refused: (message) => {
        const view = viewOf();
        if (view !== undefined) this.unsent(undefined, view, message);
      },
    });
  }

  /** A view gets its chat (opened now, or taken up after a reload): its files, its actions, and a line that says so. */
  private attach(view: PrivateView, chat: PrivateChat, notice: string): void {
    const files = new RoomFiles(chat, { blobs: fetchBlobTransport(location.origin) });
    files.on('offer', (f) => this.host.offered(f, view));
    view.actions.close();
    Object.assign(view, {
      chat,
      files,
      peer: chat.peer,
      closed: false,
      peerLeft: chat.peerLeft,
      actions: this.actionsOf(chat, () => view),
    });
    this.notice(view, notice);
  }

  /** The chats a reload took up get their views back, open; those that could not be taken up end, read-only. */
  private restored(chats: readonly PrivateChat[], lost: readonly string[]): void {
    for (const chat of chats.filter((c) => this.ended.delete(c.id))) chat.close(); // its view stays read-only
    for (const chat of chats.filter((c) => !c.closed))
      this.attach(this.views.get(chat.id) ?? this.view(chat.id, chat.peer, [], false), chat, 'private.resumed');
    for (const id of lost) {
      const view = this.views.get(id);
      if (view === undefined || view.chat !== undefined) continue;
      view.closed = true;
      this.notice(view, 'private.endedByReload');
    }
  }

  /**
   * Sends a private message: it shows at once, `pending` until its chat reports it `sent` (the
   * relay acknowledged it: hidden routing, the room message carrying it; direct routing, its
   * hand-over to the peer's connection) or `unsent` (failed, with the reason as a line).
   */
  send(view: PrivateView, text: string, replyTo?: string): void {
    const line: MessageLine = { ...this.host.ownLine(text), replyTo };
    view.lines = [...view.lines, line];
    try {
      if (view.chat === undefined) throw new Error('closed');
      line.id = view.chat.send(text, { replyTo });
      this.unacked.track(line.id, line, view);
      this.host.changed();
    } catch (err) {
      this.unsent(line, view, err instanceof Error ? err.message : 'error');
    }
  }

  /**
   * The private chats shown before a reload, with their lines. Those the room's saved session held
   * wait for their chat (PrivateChats `restored`); the others are kept to read, closed and
   * read-only, their peers told (PrivateChats.forget). Our messages still pending then wait for the
   * relay again if the chat coming back still awaits them (hidden routing: the room re-sends them);
   * the others are shown failed: what became of them is not known.
   */
  takeUp(saved: readonly SavedPrivate[]): void {
    for (const p of saved) {
      const awaited = new Set(this.chats.restoring.get(p.id) ?? []);
      const lines: Line[] = p.lines.map((l) =>
        l.kind === 'message' && l.delivery === 'pending' && (l.id === undefined || !awaited.has(l.id))
          ? { ...l, key: this.host.key(), delivery: 'failed' as const }
          : { ...l, key: this.host.key() },
      );
      const coming = this.chats.restoring.has(p.id);
      // A chat closed before the reload says so already (its saved session, a moment older, may still hold it: closed when it comes).
      const ended = lines.some((l) => l.kind === 'notice' && ENDED.has(l.i18n));
      const view = this.view(p.id, p.peer, lines, ended || !coming);
      for (const l of lines) if (l.kind === 'message' && l.delivery === 'pending' && l.id !== undefined) this.unacked.track(l.id, l, view);
      if (ended && coming) this.ended.add(p.id);
      if (ended || coming) continue;
      this.notice(view, 'private.endedByReload'); // one that was open ends now, its peer told
      this.chats.forget(p.id);
    }
  }

  markRead(id: string): void {
    const v = this.views.get(id);
    if (v !== undefined && v.unread > 0) {
      v.unread = 0;
      this.host.changed();
    }
  }

  get unread(): number {
    let n = 0;
    for (const v of this.views.values()) n += v.unread;
    return n;
  }

  close(): void {
    this.offs.forEach((off) => off());
    for (const v of this.views.values()) v.files?.close(), v.actions.close();
    this.chats.close();
  }

  /** A private message of ours will not be sent: marked failed, and why shown in its chat. */
  private unsent(line: MessageLine | undefined, view: PrivateView, message: string): void {
    if (line !== undefined) line.delivery = 'failed';
    view.lines = [...view.lines, { key: this.host.key(), kind: 'error', i18n: 'chat.notSent', params: { message }, ts: Date.now() }];
    this.host.changed();
  }

  /** A chat's peer left the room (its chat refuses to send) or came back. */
  private presence(id: string, left: boolean): void {
    const view = this.views.get(id);
    if (view === undefined) return;
    view.peerLeft = left;
    this.notice(view, left ? 'private.peerLeft' : 'private.peerBack');
  }

  private notice(view: PrivateView, i18n: string): void {
    view.lines = [...view.lines, { key: this.host.key(), kind: 'notice', i18n, params: { nick: view.peer }, ts: Date.now() }];
    this.host.changed();
  }
}
