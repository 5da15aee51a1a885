/**
 * One joined room as the UI sees it: its lines (messages and notices), members, unread count.
 * It listens to the SDK's Room for as long as the room is open, whether or not it is on screen,
 * so switching rooms loses nothing. Notices are kept as i18n keys and rendered in the current
 * language; peer text is kept as text and only ever rendered as text.
 * Our own lines' delivery is kept by ownLines.ts, files' views by sessionFiles.ts, replies,
 * reactions, edits, deletes and typing by messageActions.ts (one for the room, one per private
 * chat), and the private chats' views by privateViews.ts.
 */
import {
  type IncomingFile,
  PrivateChats,
  type PrivateRouting,
  type Room,
  RoomFiles,
  type RoomName,
  type RoomNameEvents,
  fetchBlobTransport,
} from '@nullroom/client';
import { REPAIRED_CODES, watchDisruptions } from './disruptions.js';
import { avatarSeed } from './avatar.js';
import type { FileView, Line, MessageLine } from './timeline.js';
import type { RoomHistory } from './history.js';
import { fileSourceOf, releaseFile } from './browserFiles.js';
import { OwnLines } from './ownLines.js';
import { type PrivateView, PrivateViews } from './privateViews.js';
import { MessageActions } from './messageActions.js';
import { acceptFile, followTransfer, offeredView, prepared, sendingView } from './sessionFiles.js';

export type { PrivateView } from './privateViews.js';

export interface MemberView {
  nick: string;
  /** Their identity key as hex: what their avatar is drawn from. */
  seed: string;
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
  readonly files: RoomFiles;
  readonly privateChats: PrivateChats;
  /** The room's private chats (privateViews.ts). */
  readonly privateViews: PrivateViews;
  /** The room's name as its members set it (renames go through it); main.tsx attaches it. */
  names: RoomName | undefined;
  /** Replies, reactions, edits, deletes and typing in the room (messageActions.ts). */
  readonly actions: MessageActions;
  private readonly listeners = new Set<() => void>();
  private readonly offs: (() => void)[];
  /** Our room messages the relay has not acknowledged yet. */
  private readonly unacked = new OwnLines<'room'>();
  /** Whether we made the room (kept across reloads: the creator of an invite room is not "invited"). */
  readonly created: boolean;
  /** Ids of the messages shown before a reload: the room may read them again while resuming. */
  private readonly shown = new Set<string>();

  constructor(
    readonly room: Room,
    /** Shown in the room list and header: the room's name (`renamed`), or what to call it until it has one. */
    public name: string,
    /** The invite link, for rooms made from a random secret. */
    readonly invite: string | undefined,
    /** Called for each message from someone else (unread counts, notifications); `privateId` for private ones. */
    private readonly onMessage: (s: RoomSession, privateId?: string) => void,
    /** How our private messages travel (the user's setting; changed later through `privateChats.routing`). */
    routing: PrivateRouting = 'hidden',
    /** What was shown before a reload, for a restored room (reload.ts). */
    past?: RoomHistory,
  ) {
    this.files = new RoomFiles(room, { blobs: fetchBlobTransport(location.origin) });
    this.privateChats = new PrivateChats(room, { routing });
    this.privateViews = new PrivateViews(this.privateChats, {
      key: () => nextKey++,
      seedOf: (nick) => this.seedOf(nick),
      ownLine: (text) => this.ownLine(text),
      incoming: (id) => this.onMessage(this, id),
      offered: (f, view) => this.offered(f, view),
      error: (message) => this.notice('error', 'chat.error', { message }),
      changed: () => this.changed(),
    });
    const lines = () => this.lines;
    this.actions = new MessageActions(room, {
      get lines() {
        return lines();
      },
      changed: () => this.changed(),
      refused: (message) => this.notice('error', 'chat.notSent', { message }),
    });
    this.created = past?.created ?? room.created;
    if (past === undefined) {
      const others = room.members().length - 1;
      this.notice('notice', room.created ? 'chat.created' : 'chat.joined', room.created ? {} : { count: others });
    } else this.takeUp(past);
    this.refreshMembers();
    this.offs = [
      room.on('message', (e) => {
        if (this.shown.has(e.id)) return;
        const line: Line = {
          key: nextKey++,
          kind: 'message',
          from: e.from,
          text: e.text,
          ts: e.ts,
          self: false,
          seed: this.seedOf(e.from),
          id: e.id,
          replyTo: e.replyTo,
        };
        this.push(line);
        this.onMessage(this);
      }),
      room.on('member-joined', (e) => (this.notice('notice', 'chat.memberJoined', { nick: e.nick }), this.refreshMembers())),
      room.on('member-left', (e) => (this.notice('notice', 'chat.memberLeft', { nick: e.nick }), this.refreshMembers())),
      // A rejoin is told as a reconnection even when nobody else was left (the room was made anew): "created" would alarm for nothing.
      room.on('joined', () => (this.notice('notice', 'chat.rejoined', {}), this.refreshMembers())),
      room.on(
        'key-changed',
        (e) => (
          this.notice('warning', e.wasVerified ? 'chat.keyChangedVerified' : 'chat.keyChanged', { nick: e.nick }), this.refreshMembers()
        ),
      ),
      room.on('trust', () => this.refreshMembers()),
      room.on('sent', (e) => this.unacked.sent(e.id) && this.changed()),
      room.on('unsent', (e) => this.unsent(e.id)),
      // A reconnect keeps the room's outbox (it re-sends); only a room left for good loses it.
      room.on('phase', (e) => e.phase === 'left' && this.unacked.failAll() && this.changed()),
      room.on('fork-suspected', (e) => this.notice('warning', 'chat.forkSuspected', { epoch: e.epoch, fingerprint: e.fingerprint })),
      // Warnings the room found while joining (before this session existed) arrive here first: the room kept them for us.
      // What the room ignores and repairs is told calmly by watchDisruptions, not as an error.
      room.on('error', (e) =>
        e.code === 'KEY_STORE_CORRUPT'
          ? (this.notice('warning', 'chat.keyStoreCorrupt', {}), this.refreshMembers())
          : e.code === 'RESUME_FAILED'
            ? this.notice('warning', 'chat.resumeFailed', {})
            : REPAIRED_CODES.has(e.code) || this.notice('error', 'chat.error', { message: `${e.code}: ${e.message}` }),
      ),
      ...watchDisruptions(room, this, () => nextKey++),
      this.files.on('offer', (f) => this.offered(f)),
    ];
  }

  /**
   * A room restored after a reload: its lines as they were (our messages still unacknowledged wait
   * for the relay again: the room re-sends them), and its private chats' lines, which get their
   * chats back as the SDK takes them up (privateViews.ts).
   */
  private takeUp(past: RoomHistory): void {
    const renumbered = (lines: Line[]) => lines.map((l) => ({ ...l, key: nextKey++ }));
    // The room's log knows the kept messages again: their reactions, edits and deletes count (history.ts).
    this.room.remember(past.chat ?? []);
    this.lines = renumbered(past.lines).map((l) => (l.kind === 'file' ? { ...l, file: this.keptFile(l.file) } : l));
    for (const l of this.lines) {
      if (l.kind !== 'message' || l.id === undefined) continue;
      this.shown.add(l.id);
      if (l.self && l.delivery === 'pending') this.unacked.track(l.id, l, 'room');
      const known = this.room.message(l.id)?.reactions;
      if (known !== undefined && known.length > 0) l.reactions = known;
      else if (known !== undefined) delete l.reactions;
    }
    this.privateViews.takeUp(past.privates);
    this.notice('notice', 'chat.restored', {});
  }

  /** A file card kept past a reload: offered again if its offer was kept and can still be fetched (RoomFiles.adopt). */
  private keptFile(view: FileView): FileView {
    const { offer, again, ...rest } = view;
    const f = offer === undefined ? undefined : this.files.adopt(offer);
    if (f === undefined) return rest;
    const fresh = offeredView(f, () => this.changed());
    fresh.thumb ??= rest.thumb;
    if (again === true) fresh.again = true;
    return fresh;
  }

  /** What a reload keeps of this room (history.ts). */
  history(): RoomHistory {
    return {
      name: this.name,
      roomName: this.names?.name,
      invite: this.invite,
      created: this.created,
      lines: this.lines.map((l) => this.withOwnOffer(l)),
      privates: [...this.privates.values()].map((v) => ({ id: v.id, peer: v.peer, lines: v.lines })),
      chat: this.room.recall(this.lines.flatMap((l) => (l.kind === 'message' && l.id !== undefined ? [l.id] : []))),
    };
  }

  /** A file of ours sent in full keeps its offer, to fetch it from the relay again after a reload (RoomFiles.sentOffer). */
  private withOwnOffer(l: Line): Line {
    if (l.kind !== 'file' || l.file.direction !== 'send' || l.file.state !== 'done' || l.file.transfer === undefined) return l;
    const offer = this.files.sentOffer(l.file.transfer.fid);
    return offer === undefined ? l : { ...l, file: { ...l.file, offer } };
  }

  /** The room's name, as its members set it (RoomName): it names the room from now on, and a rename is said in the room. */
  renamed(e: RoomNameEvents['name']): void {
    this.name = e.name;
    if (e.told) this.changed();
    else this.notice('notice', e.self ? 'chat.renamedByUs' : 'chat.renamed', { nick: e.by, name: e.name });
  }

  /** A file offered in the room, or in one of its private chats. */
  private offered(f: IncomingFile, pv?: PrivateView): void {
    const line: Line = {
      key: nextKey++,
      kind: 'file',
      from: f.from,
      ts: Date.now(),
      self: false,
      file: offeredView(f, () => this.changed()),
      seed: this.seedOf(f.from),
    };
    if (pv === undefined) {
      this.push(line);
      this.onMessage(this);
    } else {
      pv.lines = [...pv.lines, line];
      this.onMessage(this, pv.id);
      this.changed();
    }
  }

  /** Sends files (and images, without their metadata unless `keepMetadata`) to the room or a private chat. */
  async sendFiles(files: File[], keepMetadata = false, pv?: PrivateView): Promise<void> {
    for (const file of files) {
      const { data, thumbnail } = await prepared(file, keepMetadata);
      if (pv !== undefined && pv.files === undefined) return;
      const t = (pv?.files ?? this.files).send(fileSourceOf(file, data), thumbnail === undefined ? {} : { thumbnail });
      const view = await sendingView(file, data, t, thumbnail);
      const line: Line = {
        key: nextKey++,
        kind: 'file',
        from: this.room.nick,
        ts: Date.now(),
        self: true,
        file: view,
        seed: this.seedOf(),
      };
      if (pv === undefined) this.push(line);
      else {
        pv.lines = [...pv.lines, line];
        this.changed();
      }
      followTransfer(t, view, () => this.changed());
    }
  }

  /** Downloads an offered file (or the full image behind a preview). */
  accept(view: FileView): Promise<void> {
    return acceptFile(view, () => this.changed());
  }

  /** Opens (or finds) the private chat with a member; returns its id. */
  async openPrivate(nick: string): Promise<string> {
    const chat = await this.privateChats.open(nick);
    return chat.id;
  }

  /** One of our own messages as it shows at once: `pending` until the relay acknowledges it. */
  ownLine(text: string): MessageLine {
    return {
      key: nextKey++,
      kind: 'message',
      from: this.room.nick,
      text,
      ts: Date.now(),
      self: true,
      seed: this.seedOf(),
    };
  }

  /** Sends a private message (privateViews.ts). */
  sendPrivate(view: PrivateView, text: string, replyTo?: string): void {
    this.privateViews.send(view, text, replyTo);
  }

  markPrivateRead(id: string): void {
    this.privateViews.markRead(id);
  }

  /** The room's private chats, by id. */
  get privates(): ReadonlyMap<string, PrivateView> {
    return this.privateViews.views;
  }

  /** Unread messages in the room and its private chats. */
  get totalUnread(): number {
    return this.unread + this.privateViews.unread;
  }

  /** Queues a message (answering the message `replyTo`); it shows at once and is re-sent by the SDK until the relay acknowledges it. */
  send(text: string, replyTo?: string): void {
    try {
      const id = this.room.send(text, { replyTo });
      const line = { ...this.ownLine(text), id, replyTo };
      this.unacked.track(id, line, 'room');
      this.push(line);
    } catch (err) {
      this.notice('error', 'chat.notSent', { message: err instanceof Error ? err.message : 'error' });
    }
  }

  /** A message of ours could not be sent in time (SEND_TIMED_OUT): failed, with a button to send it again. */
  private unsent(id: string): void {
    const own = this.unacked.unsent(id);
    if (own === undefined) return;
    own.line.retryId = id;
    this.changed();
  }

  /** Sends a failed message again (same id: receivers that somehow read it drop the copy). */
  retry(line: MessageLine): void {
    const id = line.retryId;
    if (id === undefined || this.room.state === 'left' || !this.room.retry(id)) return;
    delete line.retryId;
    this.unacked.track(id, line, 'room');
    this.changed();
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
    this.actions.close();
    for (const line of [...this.lines, ...[...this.privates.values()].flatMap((v) => v.lines)])
      if (line.kind === 'file') releaseFile(line.file.received);
    this.files.close();
    this.privateViews.close();
    this.names?.close();
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
      const seed = avatarSeed(m.identityKey);
      return { nick: m.nick, seed, self: m.self, verified: trust?.verified === true, changed: trust?.changed === true };
    });
    this.changed();
  }

  /** The identity key (hex) of a member now (ourselves without `nick`): the avatar of a line they sent. */
  private seedOf(nick?: string): string | undefined {
    const m = this.room.members().find((x) => (nick === undefined ? x.self : x.nick === nick && !x.self));
    return m === undefined ? undefined : avatarSeed(m.identityKey);
  }

  /** @internal Lines changed in place (a file's progress). */
  changed(): void {
    for (const fn of this.listeners) fn();
  }
}
