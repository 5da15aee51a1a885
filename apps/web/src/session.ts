/**
 * One joined room as the UI sees it: its lines (messages and notices), members, unread count.
 * It listens to the SDK's Room for as long as the room is open, whether or not it is on screen,
 * so switching rooms loses nothing. Notices are kept as i18n keys and rendered in the current
 * language; peer text is kept as text and only ever rendered as text.
 *
 * Size: a little over 400 lines since our own lines' delivery (pending, sent, failed, sent again)
 * joined the room's and private chats' events here; the delivery half moves to its own module when
 * the session is restored after a reload (issue 13).
 */
import {
  ClientError,
  type IncomingFile,
  type PrivateChat,
  PrivateChats,
  type PrivateRouting,
  type Room,
  RoomFiles,
  type Transfer,
  fetchBlobTransport,
} from '@nullroom/client';
import { REPAIRED_CODES, watchDisruptions } from './disruptions.js';
import { avatarSeed } from './avatar.js';
import type { FileView, Line, MessageLine } from './timeline.js';
import {
  downloadSink,
  fileSourceOf,
  isImage,
  receivedFile,
  releaseFile,
  thumbnailOf,
  thumbnailUrl,
  withoutMetadata,
} from './browserFiles.js';

/** A private chat with one member of the room. */
export interface PrivateView {
  id: string;
  chat: PrivateChat;
  /** Files sent in this private chat (only its two members can open them). */
  files: RoomFiles;
  lines: Line[];
  unread: number;
  closed: boolean;
}

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
  readonly privates = new Map<string, PrivateView>();
  private readonly listeners = new Set<() => void>();
  private readonly offs: (() => void)[];
  /** Our room messages the relay has not acknowledged yet, by the id `room.send` gave them. */
  private readonly unacked = new Map<string, MessageLine>();
  /** Our private messages the relay has not acknowledged yet, by the id `chat.send` gave them. */
  private readonly unackedPrivate = new Map<string, { line: MessageLine; view: PrivateView }>();

  constructor(
    readonly room: Room,
    readonly name: string,
    /** The invite link, for rooms made from a random secret. */
    readonly invite: string | undefined,
    /** Called for each message from someone else (unread counts, notifications); `privateId` for private ones. */
    private readonly onMessage: (s: RoomSession, privateId?: string) => void,
    /** How our private messages travel (the user's setting; changed later through `privateChats.routing`). */
    routing: PrivateRouting = 'hidden',
  ) {
    this.files = new RoomFiles(room, { blobs: fetchBlobTransport(location.origin) });
    this.privateChats = new PrivateChats(room, { routing });
    const others = room.members().length - 1;
    this.notice('notice', room.created ? 'chat.created' : 'chat.joined', room.created ? {} : { count: others });
    this.refreshMembers();
    this.offs = [
      room.on('message', (e) => {
        this.push({ key: nextKey++, kind: 'message', from: e.from, text: e.text, ts: e.ts, self: false, seed: this.seedOf(e.from) });
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
      room.on('sent', (e) => this.delivered(e.id)),
      room.on('unsent', (e) => this.unsent(e.id)),
      // A reconnect keeps the room's outbox (it re-sends); only a room left for good loses it.
      room.on('phase', (e) => e.phase === 'left' && this.undelivered()),
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
      this.privateChats.on('opened', (e) => {
        const files = new RoomFiles(e.chat, { blobs: fetchBlobTransport(location.origin) });
        const view: PrivateView = { id: e.chat.id, chat: e.chat, files, lines: [], unread: 0, closed: false };
        files.on('offer', (f) => this.offered(f, view));
        this.privates.set(view.id, view);
        view.lines = [
          {
            key: nextKey++,
            kind: 'notice',
            i18n: e.byUs ? 'private.openedByUs' : 'private.openedByThem',
            params: { nick: e.chat.peer },
            ts: Date.now(),
          },
        ];
        if (!e.byUs) this.onMessage(this, view.id);
        this.changed();
      }),
      this.privateChats.on('message', (e) => {
        const view = this.privates.get(e.chat.id);
        if (view === undefined) return;
        const seed = this.seedOf(e.from);
        view.lines = [...view.lines, { key: nextKey++, kind: 'message', from: e.from, text: e.text, ts: e.ts, self: false, seed }];
        this.onMessage(this, view.id);
        this.changed();
      }),
      this.privateChats.on('sent', (e) => this.privateDelivered(e.id)),
      this.privateChats.on('unsent', (e) => {
        const sent = this.unackedPrivate.get(e.id);
        if (sent === undefined) return;
        this.unackedPrivate.delete(e.id);
        this.privateUnsent(sent.line, sent.view, `${e.code}: ${e.message}`);
      }),
      this.privateChats.on('error', (e) => this.notice('error', 'chat.error', { message: `${e.code}: ${e.message}` })),
      this.privateChats.on('closed', (e) => {
        const view = this.privates.get(e.chat.id);
        if (view === undefined) return;
        view.closed = true;
        view.lines = [
          ...view.lines,
          { key: nextKey++, kind: 'notice', i18n: 'private.closed', params: { nick: e.chat.peer }, ts: Date.now() },
        ];
        this.changed();
      }),
    ];
  }

  /** A file offered in the room, or in one of its private chats. */
  private offered(f: IncomingFile, pv?: PrivateView): void {
    const thumb = f.thumbnail === undefined ? undefined : thumbnailUrl(f.thumbnail);
    const view: FileView = {
      name: f.name,
      size: f.size,
      mime: f.mime,
      direction: 'receive',
      state: 'offered',
      incoming: f,
      ...(thumb === undefined ? {} : { thumb }),
    };
    const line: Line = { key: nextKey++, kind: 'file', from: f.from, ts: Date.now(), self: false, file: view, seed: this.seedOf(f.from) };
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
      let data: Blob = file;
      let thumbnail;
      if (isImage(file.type)) {
        if (!keepMetadata) data = await withoutMetadata(file).catch(() => file);
        thumbnail = await thumbnailOf(data);
      }
      const t = (pv?.files ?? this.files).send(fileSourceOf(file, data), thumbnail === undefined ? {} : { thumbnail });
      const view: FileView = {
        name: file.name || 'file',
        size: data.size,
        mime: file.type,
        direction: 'send',
        state: 'active',
        transfer: t,
        // Our own file, but perhaps one we were sent elsewhere: the same rules as a received one.
        received: await receivedFile(data, file.type),
        ...(thumbnail === undefined ? {} : { thumb: `data:${thumbnail.mime};base64,${thumbnail.data}` }),
      };
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
      this.track(t, view);
    }
  }

  /** Downloads an offered file (or the full image behind a preview). */
  async accept(view: FileView): Promise<void> {
    if (view.incoming === undefined || view.state !== 'offered') return;
    view.state = 'active';
    this.changed();
    const sink = await downloadSink((r) => (view.received = r), view.mime);
    const t = view.incoming.accept(sink);
    view.transfer = t;
    this.track(t, view);
  }

  private track(t: Transfer, view: FileView): void {
    t.on('progress', (p) => {
      view.progress = p;
      this.changed();
    });
    t.done.then(
      () => {
        view.state = 'done';
        this.changed();
      },
      (e: unknown) => {
        view.state = e instanceof ClientError && e.code === 'FILE_CANCELLED' ? 'cancelled' : 'failed';
        view.error = e instanceof Error ? e.message : String(e);
        this.changed();
      },
    );
  }

  /** Opens (or finds) the private chat with a member; returns its id. */
  async openPrivate(nick: string): Promise<string> {
    const chat = await this.privateChats.open(nick);
    return chat.id;
  }

  /** One of our own messages as it shows at once: `pending` until the relay acknowledges it. */
  private ownLine(text: string): MessageLine {
    return {
      key: nextKey++,
      kind: 'message',
      from: this.room.nick,
      text,
      ts: Date.now(),
      self: true,
      delivery: 'pending',
      seed: this.seedOf(),
    };
  }

  /**
   * Sends a private message: it shows at once, `pending` until its chat reports it `sent` (the
   * relay acknowledged it: hidden routing, the room message carrying it; direct routing, its
   * hand-over to the peer's connection) or `unsent` (failed, with the reason as a line).
   */
  sendPrivate(view: PrivateView, text: string): void {
    const line = this.ownLine(text);
    view.lines = [...view.lines, line];
    try {
      this.unackedPrivate.set(view.chat.send(text), { line, view });
      this.changed();
    } catch (err) {
      this.privateUnsent(line, view, err instanceof Error ? err.message : 'error');
    }
  }

  /** One of our private messages was acknowledged (PrivateChats' `sent`). */
  private privateDelivered(id: string): void {
    const sent = this.unackedPrivate.get(id);
    if (sent === undefined) return; // a file offer in a private chat, not a line of ours
    this.unackedPrivate.delete(id);
    sent.line.delivery = 'sent';
    this.changed();
  }

  /** A private message of ours will not be sent: marked failed, and why shown in its chat. */
  private privateUnsent(line: MessageLine, view: PrivateView, message: string): void {
    line.delivery = 'failed';
    view.lines = [...view.lines, { key: nextKey++, kind: 'error', i18n: 'chat.notSent', params: { message }, ts: Date.now() }];
    this.changed();
  }

  markPrivateRead(id: string): void {
    const v = this.privates.get(id);
    if (v !== undefined && v.unread > 0) {
      v.unread = 0;
      this.changed();
    }
  }

  /** Unread messages in the room and its private chats. */
  get totalUnread(): number {
    let n = this.unread;
    for (const v of this.privates.values()) n += v.unread;
    return n;
  }

  /** Queues a message; it shows at once and is re-sent by the SDK until the relay acknowledges it. */
  send(text: string): void {
    try {
      const id = this.room.send(text);
      const line = this.ownLine(text);
      this.unacked.set(id, line);
      this.push(line);
    } catch (err) {
      this.notice('error', 'chat.notSent', { message: err instanceof Error ? err.message : 'error' });
    }
  }

  /** The relay acknowledged one of our messages (the room's `sent` event). */
  private delivered(id: string): void {
    const line = this.unacked.get(id);
    if (line === undefined) return; // a file offer or a private-chat frame, not a line of ours
    this.unacked.delete(id);
    line.delivery = 'sent';
    this.changed();
  }

  /** A message of ours could not be sent in time (SEND_TIMED_OUT): failed, with a button to send it again. */
  private unsent(id: string): void {
    const line = this.unacked.get(id);
    if (line === undefined) return;
    this.unacked.delete(id);
    line.delivery = 'failed';
    line.retryId = id;
    this.changed();
  }

  /** Sends a failed message again (same id: receivers that somehow read it drop the copy). */
  retry(line: MessageLine): void {
    const id = line.retryId;
    if (id === undefined || this.room.state === 'left' || !this.room.retry(id)) return;
    delete line.retryId;
    line.delivery = 'pending';
    this.unacked.set(id, line);
    this.changed();
  }

  /** The room was left with messages still unacknowledged: they will never be sent. */
  private undelivered(): void {
    if (this.unacked.size === 0) return;
    for (const line of this.unacked.values()) line.delivery = 'failed';
    this.unacked.clear();
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
    for (const line of [...this.lines, ...[...this.privates.values()].flatMap((v) => v.lines)])
      if (line.kind === 'file') releaseFile(line.file.received);
    this.files.close();
    for (const v of this.privates.values()) v.files.close();
    this.privateChats.close();
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
