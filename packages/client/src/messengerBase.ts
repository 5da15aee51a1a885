/**
 * The state and plumbing of a Messenger (messenger.ts), below its public API and its mail path:
 * the conversations' MLS states, the pending KeyPackages, the mailbox position, the one serial
 * queue sends and drains run on, saving to the MessengerStore, epoch waiters, the history and
 * receipts (conversationLog.ts), and the check of every leaf against the verified device lists.
 */
import {
  type AccountGroups,
  type AccountPendingKeyPackage,
  type ConversationState,
  equalBytes,
  type IdentitySigner,
  toBase64Url,
} from '@nullroom/crypto';
import type { AccountChannel } from './accountChannel.js';
import { type AccountFileOptions, AccountFiles } from './accountFiles.js';
import { ClientError } from './errors.js';
import type { ChannelLink, LinkState } from './channelLink.js';
import type { AccountDevices } from './accountDevices.js';
import { AccountError } from './accountErrors.js';
import { ConversationLog, type LogEvents, RECEIPT_MAX_DEVICES, type ReceivedMessage } from './conversationLog.js';
import { Emitter } from './emitter.js';
import { MessageHistory } from './messageHistory.js';
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
  /** Where messages are kept (default: in memory, lost with the process). */
  readonly history?: MessageHistory;
  /** Receipts are sent only in conversations of at most this many devices (default and most: 50). */
  readonly receiptMaxDevices?: number;
  /** Files (accountFiles.ts): the account API with this device's session, and the blob store. Without it, sendFile and downloadFile refuse. */
  readonly files?: AccountFileOptions;
  /**
   * Membership changes this device makes on its own (removing those who left and departed devices,
   * adding this account's new devices: §11.15) wait this long per device ranked before it (default 2000 ms).
   */
  readonly memberStepMs?: number;
}

export interface MessengerEvents extends LogEvents {
  /** A message from another device, once it is in the history (shown once). */
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
   * the one seen before: nobody of it is trusted until the user decides), HISTORY_CORRUPT,
   * MESSENGER_STORE_CORRUPT or STORE_FAILED (what arrived could not be kept: the Messenger stops),
   * MEMBERS_NOT_CHANGED (a change this device made on its own, §11.15, failed: `conversation`), …
   */
  warning: { code: string; conversation?: string; name?: string };
}

/**
 * Whether `key` is a device of `name` in the list this device verified. Lists read in the last
 * minute are used again unless the key is not in them (a new device): one read per account, not
 * per leaf. A changed list is a DEVICES_CHANGED warning; a forked or invalid one trusts nobody.
 */
export function deviceCheck(devices: AccountDevices, warn: (w: { code: string; name: string }) => void) {
  const recent = new Map<string, { devices: readonly Uint8Array[]; at: number }>();
  return async (name: string, key: Uint8Array): Promise<boolean> => {
    const seen = recent.get(name);
    if (seen !== undefined && Date.now() - seen.at < 60_000 && seen.devices.some((d) => equalBytes(d, key))) return true;
    try {
      const view = await devices.deviceList(name);
      recent.set(name, { devices: view.head.devices, at: Date.now() });
      // A contact's devices changed since this device last looked: said every time, the relay cannot hide it.
      if (!view.firstSeen && (view.added.length > 0 || view.removed.length > 0)) warn({ code: 'DEVICES_CHANGED', name });
      return view.head.devices.some((d) => equalBytes(d, key));
    } catch (e) {
      if (!(e instanceof AccountError)) throw e;
      warn({ code: e.code, name });
      return false;
    }
  };
}

export abstract class MessengerBase extends Emitter<MessengerEvents> {
  protected link!: ChannelLink;
  protected get channel(): AccountChannel {
    return this.link.channel;
  }
  protected readonly conversations = new Map<string, ConversationState>();
  protected pending: AccountPendingKeyPackage[] = [];
  /** Conversation id -> accounts that asked to leave it, until their leaves are seen removed (conversationMembers.ts). */
  protected readonly leaving = new Map<string, Set<string>>();
  protected acked = 0;
  protected sent = 0;
  protected working: Promise<void> = Promise.resolve();
  /** Resolves whoever waits for a conversation to reach an epoch. */
  protected readonly epochWaiters = new Set<() => void>();
  protected closed = false;
  protected readonly log: ConversationLog;
  /** This device's identity key, base64url (as `fromDevice` and `deliveredTo` name devices). */
  protected readonly myKey: string;

  protected constructor(
    protected readonly o: MessengerOptions,
    protected readonly g: AccountGroups,
  ) {
    super();
    this.holdUnheard(['message', 'conversation', 'members', 'warning', 'sent', 'delivered', 'changed'], 10_000);
    const receiptMax = Math.min(o.receiptMaxDevices ?? RECEIPT_MAX_DEVICES, RECEIPT_MAX_DEVICES);
    this.log = new ConversationLog(o.history ?? MessageHistory.memory(), (t, e) => this.emit(t, e), o.name, receiptMax);
    this.myKey = toBase64Url(o.me.publicKey);
  }

  private files: AccountFiles | undefined;
  /** The file transfers of this device (MessengerOptions.files). */
  protected accountFiles(): AccountFiles {
    if (this.o.files === undefined)
      throw new ClientError('FILE_TRANSFER', 'this Messenger was started without `files`: it cannot send or fetch files');
    this.files ??= new AccountFiles(this.o.url, this.o.files, this.o.name);
    return this.files;
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

  protected restore(s: MessengerSnapshot): void {
    this.acked = s.acked;
    this.sent = s.sent;
    for (const [id, bytes] of s.conversations) this.conversations.set(id, this.g.importState(bytes));
    this.pending = s.pending.map((p) => this.g.importPending(p));
    for (const [id, names] of s.leaving ?? []) this.leaving.set(id, new Set(names));
  }

  /** Tops the published one-time KeyPackages up to the target, and publishes a last-resort one if there is none. */
  protected async publishKeyPackages(): Promise<void> {
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

  protected untilEpoch(id: string, epoch: number): Promise<void> {
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
  protected serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.working.then(fn);
    this.working = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  protected save(): Promise<void> {
    const conversations = new Map([...this.conversations].map(([id, s]) => [id, this.g.exportState(s)]));
    return this.o.store.save({
      acked: this.acked,
      sent: this.sent,
      conversations,
      pending: this.pending.map((p) => this.g.exportPending(p)),
      leaving: new Map([...this.leaving].filter(([, s]) => s.size > 0).map(([id, s]) => [id, [...s]])),
    });
  }
}
