/**
 * A device's account conversations (docs/PROTOCOL.md §11.9, §11.11): the MLS groups of
 * @nullroom/crypto's AccountGroups carried by the account channel, with the device's KeyPackages
 * kept published, its mailbox processed in order and acknowledged only once saved, and every
 * leaf checked against the device lists this device verified (§11.8).
 *
 *   start(names)  claims one KeyPackage for each device of each account (and of our own other
 *                 devices), creates the group, registers it (CREATE) and adds them (COMMIT + Welcome)
 *   send(id, t)   encrypts at the current epoch; a commit that came first (WRONG_EPOCH) is
 *                 processed from the mailbox and the message encrypted again
 *   mail          welcome: join with the pending KeyPackage it names; commit: apply; app: decrypt
 *
 * Order and once-only: the relay gives each entry a seq per device and keeps it until acknowledged;
 * entries are processed in the order they come, saved (MessengerStore), then acknowledged. One the
 * relay sends again (after a crash between save and acknowledgement, or as an attack) fails in MLS,
 * whose keys for it are spent, and is never shown twice. A payload's `id` is its message id.
 */
import {
  AccountGroups,
  type AccountPendingKeyPackage,
  type ConversationState,
  equalBytes,
  type IdentitySigner,
  toBase64Url,
  wipe,
} from '@nullroom/crypto';
import { NoticeWhat } from '@nullroom/protocol';
import { AccountChannel, type MailEvent } from './accountChannel.js';
import { ChannelLink, type LinkState } from './channelLink.js';
import type { AccountDevices } from './accountDevices.js';
import { AccountError } from './accountErrors.js';
import { Emitter } from './emitter.js';
import { randomHex } from './encoding.js';
import { encodePayload, parsePayload } from './payload.js';
import type { MessengerSnapshot, MessengerStore } from './messengerStore.js';
import type { WebSocketFactory } from './transport.js';

export interface MessengerOptions {
  readonly url: string;
  /** The signed-in account's canonical name, this device's identity and id, and its device tools. */
  readonly name: string;
  readonly me: IdentitySigner;
  readonly device: string;
  readonly devices: AccountDevices;
  /** Opens the account channel's WebSocket with the session attached. */
  readonly socket: WebSocketFactory;
  readonly store: MessengerStore;
  /** One-time KeyPackages kept published (default 10), besides the last-resort one. */
  readonly keyPackages?: number;
}

export interface ReceivedMessage {
  readonly conversation: string;
  /** The sending account and device (its identity key as the tree names it). */
  readonly from: string;
  readonly fromKey: Uint8Array;
  readonly id: string;
  readonly text: string;
  /** When the relay accepted it, and the sender's own clock. */
  readonly at: number;
  readonly sentAt: number;
  readonly seq: number;
}

export interface MessengerEvents extends Record<string, unknown> {
  message: ReceivedMessage;
  /** A conversation this device is now in (started here or joined from a Welcome), with its member accounts. */
  conversation: { id: string; members: string[] };
  /** A conversation's members changed (accounts, by name, as the tree now lists them). */
  members: { id: string; members: string[]; removedUs: boolean };
  presence: { name: string; online: boolean; at: number };
  /** The account channel: up, being opened again after a drop, or closed by the relay for good (its close code). */
  connection: LinkState;
  /** The relay says something changed for this account (NoticeWhat: device requests, device list, contacts). */
  notice: { what: number };
  /**
   * Something was refused or lost, or needs the user's eyes; the code says what: BAD_MESSAGE,
   * GROUP_BAD_WELCOME, LOST, LOST_HANDSHAKE, DEVICE_NOT_ADDED, DEVICES_CHANGED (`name`'s devices
   * changed: compare safety numbers), DEVICE_LIST_FORKED / DEVICE_LIST_INVALID (`name`'s list is not
   * the one seen before: nobody of it is trusted until the user decides), …
   */
  warning: { code: string; conversation?: string; name?: string };
}

export class Messenger extends Emitter<MessengerEvents> {
  private link!: ChannelLink;
  private get channel(): AccountChannel {
    return this.link.channel;
  }
  private readonly conversations = new Map<string, ConversationState>();
  private pending: AccountPendingKeyPackage[] = [];
  private acked = 0;
  private sent = 0;
  private queue: MailEvent[] = [];
  private working: Promise<void> = Promise.resolve();
  /** Resolves whoever waits for a conversation to reach an epoch. */
  private readonly epochWaiters = new Set<() => void>();
  private closed = false;
  private caughtUpResolve!: () => void;
  private readonly caughtUpDone = new Promise<void>((r) => {
    this.caughtUpResolve = r;
  });

  private constructor(
    private readonly o: MessengerOptions,
    private readonly g: AccountGroups,
  ) {
    super();
    this.holdUnheard(['message', 'conversation', 'members', 'warning'], 10_000);
  }

  /** Loads what the store kept, publishes KeyPackages as needed, and opens the channel (the mailbox follows). */
  static async start(o: MessengerOptions): Promise<Messenger> {
    const m = await Messenger.load(o);
    m.link = await ChannelLink.open(() => AccountChannel.open(o.url, o.socket, o.me, o.device), {
      mail: (mail) => m.enqueue(mail),
      presence: (p) => m.emit('presence', p),
      notice: (n) => {
        if (n.what === NoticeWhat.CAUGHT_UP) m.working = m.working.then(() => m.markCaughtUp()).catch(() => undefined);
        else m.emit('notice', n);
      },
      lost: (l) => m.emit('warning', { code: l.handshake ? 'LOST_HANDSHAKE' : 'LOST', conversation: l.conversation }),
      connection: (c) => m.emit('connection', c),
    });
    return m;
  }

  /**
   * Publishes this device's KeyPackages (kept in the store) without connecting: what a device does
   * as soon as it is one (enrolled or approved), so that others can start conversations with it
   * before it first reads its mailbox.
   */
  static async publish(o: Omit<MessengerOptions, 'url' | 'socket'>): Promise<void> {
    try {
      await Messenger.load({ ...o, url: '', socket: () => undefined as never });
    } finally {
      await o.store.close?.();
    }
  }

  private static async load(o: MessengerOptions): Promise<Messenger> {
    let m: Messenger | undefined;
    // Lists read in the last minute are used again, unless the key is not in them (a new device): one read per account, not per leaf.
    const recent = new Map<string, { devices: readonly Uint8Array[]; at: number }>();
    const isDevice = async (name: string, key: Uint8Array) => {
      const seen = recent.get(name);
      if (seen !== undefined && Date.now() - seen.at < 60_000 && seen.devices.some((d) => equalBytes(d, key))) return true;
      try {
        const view = await o.devices.deviceList(name);
        recent.set(name, { devices: view.head.devices, at: Date.now() });
        // A contact's devices changed since this device last looked: said every time, the relay cannot hide it.
        if (!view.firstSeen && (view.added.length > 0 || view.removed.length > 0)) {
          m?.emit('warning', { code: 'DEVICES_CHANGED', name });
        }
        return view.head.devices.some((d) => equalBytes(d, key));
      } catch (e) {
        if (!(e instanceof AccountError)) throw e;
        // A forked or invalid list: nobody of it is trusted, and the user is told.
        m?.emit('warning', { code: e.code, name });
        return false;
      }
    };
    m = new Messenger(o, await AccountGroups.open(isDevice));
    const saved = await o.store.load();
    if (saved !== undefined) m.restore(saved);
    await m.publishKeyPackages();
    return m;
  }

  /** Conversation ids, oldest first. */
  list(): string[] {
    return [...this.conversations.keys()];
  }

  /** The member accounts of a conversation (by name, each once). */
  async members(id: string): Promise<string[]> {
    const s = this.conversations.get(id);
    return s === undefined ? [] : [...new Set((await this.g.members(s)).map((m) => m.name))];
  }

  /**
   * A new conversation with these accounts (by name; ours is added for our other devices): one
   * KeyPackage claimed for each of their devices. Its id.
   */
  async startConversation(names: readonly string[]): Promise<string> {
    const claims = await Promise.all([...new Set([...names, this.o.name])].map((n) => this.o.devices.claimKeyPackages(n)));
    const unreachable = claims.find((c) => c.list.name !== this.o.name && c.devices.length === 0);
    if (unreachable !== undefined) throw new AccountError('NO_REACHABLE_DEVICE', { problem: unreachable.list.name });
    for (const c of claims) if (c.missing.length > 0) this.emit('warning', { code: 'DEVICE_NOT_ADDED' });
    const devices = claims.flatMap((c) => c.devices).filter((d) => d.device !== this.o.device);
    return this.serial(async () => {
      let state = await this.g.create(this.o.name, this.o.me);
      const id = toBase64Url(this.g.conversationId(state));
      const created = await this.channel.create(id);
      if (created.status !== 'ACCEPTED') throw new AccountError('REFUSED', { relayCode: created.status });
      if (devices.length > 0) {
        const add = await this.g.add(
          state,
          devices.map((d) => d.keyPackage),
        );
        const r = await this.channel.commit(
          id,
          0,
          add.commit,
          devices.map((d) => d.device),
          [],
          add.welcome,
        );
        if (r.status !== 'ACCEPTED') throw new AccountError('REFUSED', { relayCode: r.status });
        wipe(add.consumed);
        state = add.state;
      }
      this.conversations.set(id, state);
      await this.save();
      this.emit('conversation', { id, members: await this.members(id) });
      return id;
    });
  }

  /** Sends a text message: its id. */
  async sendText(id: string, text: string): Promise<string> {
    const msgId = randomHex(16);
    for (let attempt = 0; attempt < 5; attempt++) {
      const epoch = await this.serial(async () => {
        const state = this.conversations.get(id);
        if (state === undefined) throw new AccountError('REFUSED', { relayCode: 'NO_SUCH_CONVERSATION' });
        const payload = encodePayload({ v: 1, id: msgId, n: ++this.sent, ts: Date.now(), type: 'text', text });
        const out = await this.g.encrypt(state, payload);
        this.conversations.set(id, out.state);
        const r = await this.channel.send(id, this.g.epoch(out.state), out.message);
        await this.save();
        if (r.status === 'ACCEPTED') return undefined;
        if (r.status !== 'WRONG_EPOCH') throw new AccountError('REFUSED', { relayCode: r.status });
        return r.epoch;
      });
      if (epoch === undefined) return msgId;
      await this.untilEpoch(id, epoch); // a commit came first: process it, then encrypt again
    }
    throw new AccountError('REFUSED', { relayCode: 'WRONG_EPOCH' });
  }

  /** Closes the channel; the store's lock is given back once what is being processed is saved. */
  close(): void {
    this.closed = true;
    this.link?.close();
    void this.working.then(() => this.o.store.close?.()).catch(() => undefined);
  }

  /** Resolves once the mailbox the relay held when this device connected is processed, saved and acknowledged. */
  caughtUp(): Promise<void> {
    return this.caughtUpDone;
  }

  /** The conversation whose member accounts are exactly `names` and us (the oldest, if several). */
  async find(names: readonly string[]): Promise<string | undefined> {
    const want = [...new Set([...names, this.o.name])].sort().join('\n');
    for (const id of this.conversations.keys()) if ((await this.members(id)).sort().join('\n') === want) return id;
    return undefined;
  }

  private async markCaughtUp(): Promise<void> {
    await this.drain();
    this.caughtUpResolve();
  }

  /** Resolves once every mail received so far is processed and saved. */
  async settled(): Promise<void> {
    while (this.queue.length > 0) await this.working;
    await this.working;
  }

  private restore(s: MessengerSnapshot): void {
    this.acked = s.acked;
    this.sent = s.sent;
    for (const [id, bytes] of s.conversations) this.conversations.set(id, this.g.importState(bytes));
    this.pending = s.pending.map((p) => this.g.importPending(p));
  }

  /** Tops the published one-time KeyPackages up to the target, and publishes a last-resort one if there is none. */
  private async publishKeyPackages(): Promise<void> {
    const target = this.o.keyPackages ?? 10;
    const missing = Math.max(0, target + 1 - this.pending.length);
    if (missing === 0) return;
    const made = await Promise.all(Array.from({ length: missing }, () => this.g.newKeyPackage(this.o.name, this.o.me)));
    const hadLastResort = this.pending.length > 0;
    // Kept before they are published: a crash in between leaves spare keys, never a published KeyPackage without its key.
    this.pending = hadLastResort ? [...made.map((m) => m.pending), ...this.pending] : [...this.pending, ...made.map((m) => m.pending)];
    await this.save();
    const oneTime = hadLastResort ? made : made.slice(0, -1);
    const lastResort = hadLastResort ? undefined : made.at(-1)?.keyPackage;
    await this.o.devices.uploadKeyPackages(
      this.o.device,
      oneTime.map((m) => m.keyPackage),
      lastResort,
    );
  }

  private enqueue(mail: MailEvent): void {
    if (this.closed) return;
    this.queue.push(mail);
    this.working = this.working.then(() => this.drain()).catch(() => undefined);
  }

  /** Processes what is queued, saves once, then acknowledges the last seq. */
  private async drain(): Promise<void> {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    let usedPending = false;
    for (const mail of batch) {
      // Every entry is processed, also one at or below `acked`: a relay that renumbers cannot make
      // this device skip a message. What was processed already fails in MLS (its keys are spent)
      // and is dropped silently when its seq says it is the relay sending it again after a crash.
      usedPending = (await this.process(mail, mail.seq <= this.acked)) || usedPending;
      this.acked = Math.max(this.acked, mail.seq);
    }
    await this.save();
    this.channel.ack(this.acked);
    for (const w of [...this.epochWaiters]) w();
    if (usedPending) void this.publishKeyPackages().catch(() => this.emit('warning', { code: 'KEY_PACKAGES_NOT_PUBLISHED' }));
  }

  /** One entry; whether it used a pending KeyPackage. `again`: the relay may be sending it again (no warning if it fails). */
  private async process(mail: MailEvent, again: boolean): Promise<boolean> {
    const id = mail.conversation;
    try {
      if (mail.kind === 'welcome') {
        if (this.conversations.has(id)) return false;
        const { state, used } = await this.g.join(mail.payload, this.pending);
        const lastResort = used === this.pending.at(-1);
        if (!lastResort) this.pending = this.pending.filter((p) => p !== used);
        this.conversations.set(id, state);
        this.emit('conversation', { id, members: await this.members(id) });
        return !lastResort;
      }
      const state = this.conversations.get(id);
      if (state === undefined) return false;
      const r = await this.g.process(state, mail.payload);
      if (r.kind === 'message') {
        this.conversations.set(id, r.state);
        const p = parsePayload(r.plaintext);
        if (p?.type === 'text') {
          const m = { conversation: id, from: r.sender.name, fromKey: r.sender.identityKey, id: p.id, text: p.text };
          this.emit('message', { ...m, at: mail.at, sentAt: p.ts, seq: mail.seq });
        }
        return false;
      }
      if (r.removedUs) this.conversations.delete(id);
      else this.conversations.set(id, r.state);
      this.emit('members', { id, members: r.removedUs ? [] : await this.members(id), removedUs: r.removedUs });
    } catch (e) {
      if (!again) this.emit('warning', { code: (e as { code?: string }).code ?? 'BAD_MESSAGE', conversation: id });
    }
    return false;
  }

  private untilEpoch(id: string, epoch: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const s = this.conversations.get(id);
        if (s === undefined || this.g.epoch(s) >= epoch) {
          this.epochWaiters.delete(check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.epochWaiters.delete(check);
        reject(new AccountError('REFUSED', { relayCode: 'WRONG_EPOCH' }));
      }, 30_000);
      this.epochWaiters.add(check);
      check();
    });
  }

  /** Runs `fn` after the mail being processed, and before the next. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.working.then(fn);
    this.working = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private save(): Promise<void> {
    const conversations = new Map([...this.conversations].map(([id, s]) => [id, this.g.exportState(s)]));
    return this.o.store.save({
      acked: this.acked,
      sent: this.sent,
      conversations,
      pending: this.pending.map((p) => this.g.exportPending(p)),
    });
  }
}
