/**
 * The signed-in account in this browser (docs/PROTOCOL.md §11.8–§11.11): this browser as one of
 * its devices, its contacts with their presence, and its conversations, for the Messages screen
 * (ui/Messages.tsx). Everything cryptographic is the SDK's Messenger; this keeps what the screen
 * shows and tells it when that changed.
 *
 * The device: an Ed25519 key made non-extractable in IndexedDB on first use (per relay and
 * account); the first device of an account enrols itself, a later one shows a code and waits for
 * an existing device to approve it. The conversations' MLS states, the verified device lists and
 * the history are sealed in IndexedDB under the page's non-extractable key (browserKeyStore.ts),
 * and one tab at a time uses them (MESSENGER_IN_USE in another).
 */
import { browserWebSocket, type IndexedDbKeyStore, type TransferProgress } from '@nullroom/client';
import {
  type AccountClient,
  AccountDevices,
  AccountError,
  type ContactList,
  MessageHistory,
  Messenger,
  NoticeWhat,
  RecordMessengerStore,
  RecordTrustedLists,
  accountSafetyNumber,
} from '@nullroom/client/accounts';
import { type Conversation, type Line, OneAtATime, SHOWN, SHOWN_WARNINGS, becomeDevice, fileOf, line, prefixed } from './accountLines.js';
import { type Received, downloadSink, fileSourceOf } from './browserFiles.js';
import { prepared } from './sessionFiles.js';

export type Phase =
  | { kind: 'starting' }
  | { kind: 'approval'; code: string; expiresAt: number }
  | { kind: 'ready' }
  | { kind: 'failed'; code: string };

export type { Conversation, Line } from './accountLines.js';

export interface Warning {
  readonly code: string;
  readonly name?: string;
  readonly conversation?: string;
}

const EMPTY: ContactList = { contacts: [], incoming: [], outgoing: [], blocked: [] };

export class AccountSession {
  phase: Phase = { kind: 'starting' };
  /** The account channel (it reconnects by itself after a drop). */
  connection: 'online' | 'reconnecting' | 'closed' = 'online';
  contacts: ContactList = EMPTY;
  readonly online = new Map<string, boolean>();
  readonly conversations = new Map<string, Conversation>();
  /** What needs the user's eyes (a contact's devices changed, messages the relay did not keep, …), until dismissed. */
  warnings: Warning[] = [];
  devices!: AccountDevices;
  /** This browser's device id, once it is one of the account's devices. */
  device: string | undefined;
  /** Called for each message that arrives unread (the page's attention: title, notification, tone). */
  onIncoming: (() => void) | undefined;
  /** The conversation on screen (its messages are read as they come). */
  open: string | undefined;
  private messenger: Messenger | undefined;
  private readonly listeners = new Set<() => void>();
  private closed = false;
  private approval: AbortController | undefined;
  private me!: Awaited<ReturnType<IndexedDbKeyStore['accountIdentity']>>;

  constructor(
    readonly client: AccountClient,
    readonly name: string,
    private readonly store: IndexedDbKeyStore,
  ) {}

  private readonly lists = new OneAtATime(
    () => this.readList(),
    () => this.changed(),
  );

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  private changed(): void {
    for (const fn of this.listeners) fn();
  }
  private set(phase: Phase): void {
    this.phase = phase;
    this.changed();
  }

  /** Makes this browser a device of the account (enrolling or waiting for approval), then opens its conversations. */
  async start(): Promise<void> {
    try {
      this.me = await this.store.accountIdentity(location.origin, this.name);
      const trust = new RecordTrustedLists(prefixed(this.store.records('account-trust'), `${location.origin}\0${this.name}`));
      this.devices = new AccountDevices(this.client, this.name, this.me, trust);
      this.device = await this.ensureDevice();
      if (this.closed) return;
      const prefix = `${location.origin}\0${this.name}`;
      const store = await RecordMessengerStore.open(prefixed(this.store.records('account-state'), prefix), prefix);
      const m = await Messenger.start({
        url: location.origin,
        name: this.name,
        me: this.me,
        device: this.device,
        devices: this.devices,
        socket: browserWebSocket,
        store,
        history: new MessageHistory(prefixed(this.store.records('account-history'), prefix)),
        files: { client: this.client },
      });
      if (this.closed) return void m.close();
      this.messenger = m;
      this.listen(m);
      // The first read goes through the same queue: one that a message starts meanwhile must not
      // end first and then be overwritten by this older snapshot.
      await this.lists.settled();
      await this.refreshContacts();
      this.set({ kind: 'ready' });
    } catch (e) {
      if (this.closed) return;
      const code = e instanceof AccountError ? e.code : ((e as { code?: string }).code ?? 'UNAVAILABLE');
      this.set({ kind: 'failed', code });
    }
  }

  private async ensureDevice(): Promise<string> {
    this.approval = new AbortController();
    return becomeDevice(this.client, this.devices, this.me.publicKey, this.approval.signal, (code, expiresAt) =>
      this.set({ kind: 'approval', code, expiresAt }),
    );
  }

  private listen(m: Messenger): void {
    m.on('conversation', (c) => {
      this.conversation(c.id, c.members);
      this.changed();
    });
    m.on('members', (c) => {
      // Removed: it stays, read-only, with its history (and the notice of who removed us).
      this.conversation(c.id, c.removedUs ? [] : c.members).gone = c.removedUs;
      this.changed();
    });
    m.on('message', (x) => {
      const c = this.conversation(x.conversation);
      this.put(c, {
        id: x.id,
        from: x.from,
        own: x.from === this.name,
        text: x.text,
        at: x.at,
        ...(x.file === undefined ? {} : { file: fileOf(x.file) }),
        ...(x.replyTo === undefined ? {} : { replyTo: x.replyTo }),
      });
      if (this.open !== x.conversation || document.hidden) this.onIncoming?.();
      else void m.markRead(x.conversation).catch(() => undefined);
      this.listChanged();
      this.changed();
    });
    m.on('changed', ({ message }) => {
      const c = this.conversation(message.conversation);
      this.put(c, line(message));
      if (message.notice?.what === 'renamed') c.name = message.notice.name;
      this.listChanged();
      this.changed();
    });
    m.on('sent', ({ message }) => {
      this.put(this.conversation(message.conversation), line(message));
      this.changed();
    });
    m.on('delivered', (d) => {
      const l = this.conversations.get(d.conversation)?.lines.find((x) => x.id === d.id);
      if (l === undefined) return;
      l.delivered = d.deliveredTo.length;
      l.recipients = d.recipients;
      this.changed();
    });
    m.on('connection', (c) => {
      this.connection = c.state;
      this.changed();
    });
    m.on('notice', (n) => {
      if (n.what === NoticeWhat.CONTACTS) void this.refreshContacts().catch(() => undefined);
    });
    m.on('presence', (p) => {
      this.online.set(p.name, p.online);
      this.changed();
    });
    m.on('warning', (w) => {
      // Shown until dismissed, each once (the same warning again is not a second line).
      if (!SHOWN_WARNINGS.has(w.code)) return;
      const same = (x: Warning) => x.code === w.code && x.name === w.name && x.conversation === w.conversation;
      if (!this.warnings.some(same)) this.warnings = [...this.warnings.slice(-9), w];
      this.changed();
    });
  }

  /** Adds a line, or updates the one with its id (a message of ours changing state). */
  private put(c: Conversation, l: Line): void {
    const i = c.lines.findIndex((x) => x.id === l.id);
    if (i >= 0) c.lines[i] = { ...c.lines[i], ...l };
    else c.lines.push(l);
    c.lastAt = Math.max(c.lastAt, l.at);
  }

  /** Reads the conversation's last messages from the history (once), and marks it read. */
  async show(id: string): Promise<void> {
    const m = this.messenger;
    const c = this.conversations.get(id);
    if (m === undefined || c === undefined) return;
    if (!c.loaded) {
      const past = (await m.messages(id, { limit: SHOWN })).map(line);
      const seen = new Set(past.map((l) => l.id));
      c.lines = [...past, ...c.lines.filter((l) => !seen.has(l.id))];
      c.loaded = true;
    }
    this.markRead(id);
    this.changed();
  }

  private conversation(id: string, members?: string[]): Conversation {
    let c = this.conversations.get(id);
    if (c === undefined) {
      c = { id, members: members ?? [], lines: [], loaded: false, unread: 0, lastAt: 0 };
      this.conversations.set(id, c);
    } else if (members !== undefined) c.members = members;
    return c;
  }

  /** The conversations, most recent first. */
  list(): Conversation[] {
    return [...this.conversations.values()].sort((a, b) => b.lastAt - a.lastAt);
  }

  /** The other members' names. */
  others(c: Conversation): string[] {
    return c.members.filter((n) => n !== this.name);
  }

  /** The conversation's title: its name, else the other members. */
  title(c: Conversation): string | undefined {
    const others = this.others(c);
    return c.name ?? (others.length === 0 ? undefined : others.join(', '));
  }

  /** Group management (§11.15): any member may add, remove and rename; leaving forgets it here. */
  async addMembers(id: string, names: string[]): Promise<void> {
    await this.ready().addMembers(id, names);
  }
  async removeMember(id: string, name: string): Promise<void> {
    await this.ready().removeMember(id, name);
  }
  async rename(id: string, name: string): Promise<void> {
    await this.ready().rename(id, name);
  }
  async leave(id: string): Promise<void> {
    await this.ready().leave(id);
    this.conversations.delete(id);
    this.changed();
  }

  async refreshContacts(): Promise<void> {
    this.contacts = await this.client.contacts();
    this.changed();
  }

  /** Runs a contact change, then reads the list again. */
  async contact(action: 'request' | 'accept' | 'decline' | 'block' | 'unblock' | 'remove', name: string): Promise<void> {
    const c = this.client;
    const run = {
      request: () => c.requestContact(name),
      accept: () => c.acceptContact(name),
      decline: () => c.declineContact(name),
      block: () => c.blockContact(name),
      unblock: () => c.unblockContact(name),
      remove: () => c.removeContact(name),
    }[action];
    await run();
    await this.refreshContacts();
  }

  /** The conversation with exactly these accounts, started if there is none: its id. */
  async conversationWith(names: string[]): Promise<string> {
    const m = this.ready();
    const id = (await m.find(names)) ?? (await m.startConversation(names));
    this.conversation(id, await m.members(id));
    this.changed();
    return id;
  }

  /** Sends a text (a reply to `replyTo`); the line appears (and changes state) through the Messenger's `sent` events. */
  async send(id: string, text: string, replyTo?: string): Promise<void> {
    try {
      await this.ready().sendText(id, text, replyTo === undefined ? {} : { replyTo });
    } finally {
      this.changed();
    }
  }

  /** Encrypts and uploads a file (an image without its metadata, with a preview), then sends it. */
  async sendFile(id: string, file: File, keepMetadata: boolean, onProgress: (p: TransferProgress) => void): Promise<void> {
    const { data, thumbnail } = await prepared(file, keepMetadata);
    try {
      await this.ready().sendFile(id, fileSourceOf(file, data), { onProgress, ...(thumbnail === undefined ? {} : { thumbnail }) });
    } finally {
      this.changed();
    }
  }

  /** Fetches, decrypts and verifies a file of the conversation (to this page's private folder): what the page may do with it. */
  async download(id: string, messageId: string, onProgress: (p: TransferProgress) => void): Promise<Received> {
    let got: Received | undefined;
    await this.ready().downloadFile(id, messageId, {
      onProgress,
      sink: (f) =>
        downloadSink((r) => {
          got = r;
        }, f.mime),
    });
    if (got === undefined) throw new AccountError('BAD_RESPONSE');
    return got;
  }

  /** The conversation is read: here at once, in the history (which keeps the count) after. */
  dismiss(w: Warning): void {
    this.warnings = this.warnings.filter((x) => x !== w);
    this.changed();
  }

  markRead(id: string): void {
    const c = this.conversations.get(id);
    if (c === undefined || c.unread === 0) return;
    c.unread = 0;
    this.changed();
    void this.messenger
      ?.markRead(id)
      .then(() => this.listChanged())
      .catch(() => undefined);
  }

  /**
   * Unread counts and last activity as the sealed history keeps them: the one count that a reload,
   * a message arriving while the list is read, and a conversation read meanwhile all agree on.
   */
  private async readList(): Promise<void> {
    const m = this.messenger;
    if (m === undefined) return;
    for (const c of await m.conversationList()) {
      const conv = this.conversation(c.id, c.members);
      conv.gone = c.members.length === 0; // we were removed, or left from another of our devices
      conv.unread = c.unread;
      conv.name = c.name;
      conv.lastAt = Math.max(conv.lastAt, c.last?.at ?? 0);
    }
  }

  /** Reads the list again after a change (one read at a time, one more if changes came meanwhile). */
  private listChanged(): void {
    this.lists.ask();
  }

  totalUnread(): number {
    let n = 0;
    for (const c of this.conversations.values()) n += c.unread;
    return n;
  }

  /** The safety number with `other` over both verified device lists (§11.12), and whether their devices changed. */
  async safetyNumber(other: string): Promise<{ digits: string; changed: boolean }> {
    const [mine, theirs] = [await this.devices.deviceList(this.name), await this.devices.deviceList(other)];
    const digits = accountSafetyNumber(
      { name: this.name, devices: mine.head.devices },
      { name: theirs.name, devices: theirs.head.devices },
    );
    return { digits, changed: !theirs.firstSeen && (theirs.added.length > 0 || theirs.removed.length > 0) };
  }

  private ready(): Messenger {
    if (this.messenger === undefined) throw new AccountError('NOT_SIGNED_IN');
    return this.messenger;
  }

  close(): void {
    this.closed = true;
    this.approval?.abort();
    this.messenger?.close();
    this.messenger = undefined;
  }
}
