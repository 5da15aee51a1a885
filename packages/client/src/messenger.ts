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
 * entries are processed in the order they come, their messages appended to the history
 * (MessageHistory, conversationLog.ts), the state saved (MessengerStore), then acknowledged. One the
 * relay sends again after the state was saved (a crash before the acknowledgement, or an attack)
 * fails in MLS, whose keys for it are spent; one processed again because the state was not saved
 * is already in the history, which keeps and shows it once. A payload's `id` is its message id.
 * A failure to append or save stops the Messenger (`warning`, then closed): acknowledging later
 * entries would drop the ones not kept.
 *
 * Sending: the message is recorded 'sending' and the state saved (a crash then never encrypts twice
 * under one key) before SEND; 'sent' once ACCEPTED, 'failed' if refused. Receipts are encrypted
 * during a drain, saved with it and sent after its acknowledgement, never waited for.
 */
import { AccountGroups, toBase64Url, wipe } from '@nullroom/crypto';
import { NoticeWhat } from '@nullroom/protocol';
import { AccountChannel, type MailEvent } from './accountChannel.js';
import { ChannelLink } from './channelLink.js';
import { AccountError } from './accountErrors.js';
import type { ConversationSummary, ReceivedMessage } from './conversationLog.js';
import { randomHex } from './encoding.js';
import type { StoredMessage } from './messageHistory.js';
import { MessengerMembers } from './conversationMembers.js';
import { deviceCheck, type MessengerOptions } from './messengerBase.js';
import { encodePayload, parsePayload } from './payload.js';
import {
  type AttachmentBody,
  attachmentBody,
  type DownloadedFile,
  type DownloadFileOptions,
  fileRefOf,
  findMessage,
  type SendFileOptions,
} from './accountFiles.js';
import type { FileSource } from './chunks.js';
import { ClientError } from './errors.js';
import type { FileRef } from './historyRecord.js';

export type { MessengerEvents, MessengerOptions } from './messengerBase.js';
export type { ConversationNotice } from './messageHistory.js';
export type { ConversationSummary, ReceivedMessage, StoredMessage };

export class Messenger extends MessengerMembers {
  private queue: MailEvent[] = [];
  private caughtUpResolve!: () => void;
  private caughtUpReject!: (e: unknown) => void;
  private readonly caughtUpDone = new Promise<void>((resolve, reject) => {
    this.caughtUpResolve = resolve;
    this.caughtUpReject = reject;
  });

  private constructor(o: MessengerOptions, g: AccountGroups) {
    super(o, g);
    this.caughtUpDone.catch(() => undefined);
  }

  /** Loads what the store kept, publishes KeyPackages as needed, and opens the channel (the mailbox follows). */
  static async start(o: MessengerOptions): Promise<Messenger> {
    const m = await Messenger.load(o);
    m.link = await ChannelLink.open(() => AccountChannel.open(o.url, o.socket, o.me, o.device), {
      mail: (mail) => m.enqueue(mail),
      presence: (p) => m.emit('presence', p),
      notice: (n) => {
        if (n.what === NoticeWhat.CAUGHT_UP) m.working = m.working.then(() => m.markCaughtUp()).catch((e) => m.fail(e));
        else m.emit('notice', n);
        if (n.what === NoticeWhat.DEVICE_LIST) m.ownDevicesChanged();
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
    const warn = (w: { code: string; name: string }) => {
      m?.emit('warning', w);
      if (w.code === 'DEVICES_CHANGED') void m?.checkDeparted(w.name).catch(() => undefined);
    };
    m = new Messenger(o, await AccountGroups.open(deviceCheck(o.devices, warn)));
    const saved = await o.store.load();
    if (saved !== undefined) m.restore(saved);
    await m.publishKeyPackages();
    return m;
  }

  /**
   * A conversation's messages, oldest first: the `limit` (default 50, at most 1000) before the one
   * whose `index` is `before` (default: after the newest). Page back with the first one's index.
   */
  messages(id: string, o?: { before?: number; limit?: number }): Promise<StoredMessage[]> {
    return this.log.history.messages(id, o);
  }

  /** Every conversation (also those with no message yet, or that removed us), the most recently active first. */
  conversationList(): Promise<ConversationSummary[]> {
    return this.log.summaries(this.list(), (id) => this.members(id));
  }

  /** The conversation's messages so far count as read (its unread count is kept in the history). */
  markRead(id: string): Promise<void> {
    return this.log.history.markRead(id);
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
      await this.log.history.open(id, Date.now());
      await this.save();
      this.emit('conversation', { id, members: await this.members(id) });
      return id;
    });
  }

  /**
   * Sends a text message (recorded in the history: `sent` events follow its status): its id.
   * `replyTo`: the id of a message of this conversation's history it answers (NO_SUCH_MESSAGE if none).
   */
  async sendText(id: string, text: string, o: { replyTo?: string } = {}): Promise<string> {
    const re = o.replyTo;
    if (re === undefined) return this.sendMessage(id, { type: 'text', text }, { text });
    const target = /^[0-9a-f]{32}$/.test(re) ? await this.message(id, re) : undefined;
    if (target === undefined || target.kind === 'notice')
      throw new ClientError('NO_SUCH_MESSAGE', 'the message replied to is not in this conversation');
    return this.sendMessage(id, { type: 'text', text, re }, { text, replyTo: re });
  }

  /** The message `messageId` of the conversation's history (the newest first, paged back), for a reply's quote. */
  message(conversationId: string, messageId: string): Promise<StoredMessage | undefined> {
    return findMessage(this.log.history, conversationId, messageId);
  }

  /**
   * Encrypts and uploads a file to the relay, then sends it as a message (accountFiles.ts,
   * docs/PROTOCOL.md §11.14) recorded in the history like a text, with its `file`: its id.
   * FILE_QUOTA when the relay will not keep it; needs MessengerOptions.files.
   */
  sendFile(id: string, source: FileSource, o: SendFileOptions = {}): Promise<string> {
    return this.accountFiles().send(source, o, (file) => this.sendMessage(id, attachmentBody(file), { text: '', file }));
  }

  /**
   * Fetches, opens and verifies the file of message `messageId` (FILE_REJECTED if it does not
   * verify, FILE_UNAVAILABLE once the relay no longer holds it): its bytes, or into `o.sink`.
   */
  async downloadFile(id: string, messageId: string, o: DownloadFileOptions = {}): Promise<DownloadedFile> {
    const m = await findMessage(this.log.history, id, messageId);
    if (m === undefined) throw new ClientError('NO_SUCH_MESSAGE', 'no such message in this conversation');
    return this.accountFiles().download(m, o);
  }

  /** Sends one text or file payload, recorded in the history first (`sent` events follow its status): its id. */
  private async sendMessage(
    id: string,
    body: { type: 'text'; text: string; re?: string } | AttachmentBody,
    record: { text: string; file?: FileRef; replyTo?: string },
  ) {
    const msgId = randomHex(16);
    let recorded = false;
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        const epoch = await this.serial(async () => {
          const state = this.conversations.get(id);
          if (state === undefined) throw new AccountError('REFUSED', { relayCode: 'NO_SUCH_CONVERSATION' });
          const ts = Date.now();
          const out = await this.g.encrypt(state, encodePayload({ v: 1, id: msgId, n: ++this.sent, ts, ...body }));
          this.conversations.set(id, out.state);
          if (!recorded) {
            const recipients = (await this.g.members(out.state)).length - 1;
            await this.log.sending({
              conversation: id,
              id: msgId,
              from: this.o.name,
              fromDevice: this.myKey,
              ...record,
              at: ts,
              sentAt: ts,
              recipients,
            });
            recorded = true;
          }
          await this.save();
          const r = await this.channel.send(id, this.g.epoch(out.state), out.message);
          if (r.status === 'ACCEPTED') return undefined;
          if (r.status !== 'WRONG_EPOCH') throw new AccountError('REFUSED', { relayCode: r.status });
          return r.epoch;
        });
        if (epoch === undefined) {
          await this.log.status(id, msgId, 'sent');
          return msgId;
        }
        await this.untilEpoch(id, epoch); // a commit came first: process it, then encrypt again
      }
      throw new AccountError('REFUSED', { relayCode: 'WRONG_EPOCH' });
    } catch (e) {
      if (recorded) await this.log.status(id, msgId, 'failed').catch(() => undefined);
      throw e;
    }
  }

  /** Closes the channel; the store's lock is given back once what is being processed is saved. */
  close(): void {
    this.closed = true;
    this.stopMembers();
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
    void this.checkDeparted().catch(() => undefined);
  }

  /** Resolves once every mail received so far is processed and saved. */
  async settled(): Promise<void> {
    while (this.queue.length > 0) await this.working;
    await this.working;
  }

  private enqueue(mail: MailEvent): void {
    if (this.closed) return;
    this.queue.push(mail);
    this.working = this.working.then(() => this.drain()).catch((e) => this.fail(e));
  }

  /** What a drain processed could not be kept: nothing more is processed or acknowledged (the relay keeps it all). */
  private fail(e: unknown): void {
    if (this.closed) return;
    const code = (e as { code?: unknown }).code;
    this.emit('warning', { code: typeof code === 'string' ? code : 'STORE_FAILED' });
    this.closed = true;
    this.queue = [];
    this.link?.close();
    this.caughtUpReject(e);
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
    const devices = new Map<string, number>();
    for (const id of this.log.touched()) {
      const s = this.conversations.get(id);
      if (s !== undefined) devices.set(id, (await this.g.members(s)).length);
    }
    await this.log.record(devices); // before the save and the acknowledgement: a crash now makes the relay send it again
    const receipts = await this.encryptReceipts(devices);
    await this.save();
    this.channel.ack(this.acked);
    for (const w of [...this.epochWaiters]) w();
    for (const r of receipts) {
      // Never waited for (the next drain waits behind this one). Refused for a commit first, or lost with a
      // dropped channel: confirmed with the next drain.
      void this.channel.send(r.conversation, r.epoch, r.message).then(
        (res) => res.status === 'WRONG_EPOCH' && this.log.unsent(r.conversation, r.ids),
        () => this.log.unsent(r.conversation, r.ids),
      );
    }
    if (usedPending) void this.publishKeyPackages().catch(() => this.emit('warning', { code: 'KEY_PACKAGES_NOT_PUBLISHED' }));
  }

  /** This drain's receipts, encrypted (the states they advance are saved with the drain). */
  private async encryptReceipts(devices: ReadonlyMap<string, number>) {
    const out: { conversation: string; epoch: number; message: Uint8Array; ids: string[] }[] = [];
    for (const { conversation, ids } of this.log.takeReceipts(devices)) {
      const state = this.conversations.get(conversation);
      if (state === undefined) continue;
      const payload = encodePayload({ v: 1, id: randomHex(16), n: ++this.sent, ts: Date.now(), type: 'receipt', ids });
      const enc = await this.g.encrypt(state, payload);
      this.conversations.set(conversation, enc.state);
      out.push({ conversation, epoch: this.g.epoch(enc.state), message: enc.message, ids });
    }
    return out;
  }

  /** One entry; whether it used a pending KeyPackage. `again`: the relay may be sending it again (no warning if it fails). */
  private async process(mail: MailEvent, again: boolean): Promise<boolean> {
    const id = mail.conversation;
    try {
      if (mail.kind === 'welcome') {
        if (this.conversations.has(id)) return false;
        const { state, used } = await this.g.join(mail.payload, this.pending, this.pending.at(-1));
        const lastResort = used === this.pending.at(-1);
        if (!lastResort) this.pending = this.pending.filter((p) => p !== used);
        this.conversations.set(id, state);
        await this.log.history.open(id, mail.at);
        this.emit('conversation', { id, members: await this.members(id) });
        return !lastResort;
      }
      const state = this.conversations.get(id);
      if (state === undefined) return false;
      const r = await this.g.process(state, mail.payload);
      if (r.kind === 'message') {
        this.conversations.set(id, r.state);
        const p = parsePayload(r.plaintext, { looseReply: true });
        const device = toBase64Url(r.sender.identityKey);
        if (p?.type === 'text' || p?.type === 'attachment') {
          const content =
            p.type === 'text' ? { text: p.text, ...(p.re !== undefined && { replyTo: p.re }) } : { text: '', file: fileRefOf(p) };
          const m = { conversation: id, from: r.sender.name, fromKey: r.sender.identityKey, id: p.id, ...content };
          this.log.text({ ...m, at: mail.at, sentAt: p.ts, seq: mail.seq }, device);
        } else if (p?.type === 'receipt') this.log.receipt(id, device, p.ids);
        else if (p !== undefined) await this.onControl(id, p, r.sender.name, device, mail.at);
        return false;
      }
      await this.onCommit(id, r, mail.at);
    } catch (e) {
      if (!again) this.emit('warning', { code: (e as { code?: string }).code ?? 'BAD_MESSAGE', conversation: id });
    }
    return false;
  }
}
