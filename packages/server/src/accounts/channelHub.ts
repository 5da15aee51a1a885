/**
 * The account channels of one relay (accountChannel.ts; docs/PROTOCOL.md §11.11): which device is
 * connected where, the entries an accepted submit stored handed to the connected recipients, and
 * presence: a user is online while one of its devices has a channel, and only its accepted
 * contacts are told (ContactStore.acceptedContacts), when it comes and when it goes.
 */
import type WebSocket from 'ws';
import type { AccountFrame, CodecLimits } from '@nullroom/protocol';
import type { RelayCounters } from '../counters.js';
import { AccountChannel, ChannelClose } from './accountChannel.js';
import type { AccountStore, StoredUser } from './accountStore.js';
import type { Accepted, ConversationLimits, MailEntry } from './conversationStore.js';

export interface ChannelLimits {
  /** Time to answer the challenge. */
  readonly authTimeoutMs: number;
  /** Entries sent and not yet acknowledged, per channel. */
  readonly window: number;
  /** Entries read from the store at a time. */
  readonly page: number;
  /** A channel whose socket holds more unsent bytes waits before the next page. */
  readonly maxBufferedBytes: number;
  /** Creates, commits and sends per channel per second. */
  readonly submitsPerSecond: number;
  /** Bytes of submits a channel may have waiting (beyond: the channel is closed). */
  readonly maxQueuedBytes: number;
  /** Channels per account (its devices, and a few spare for reconnects). */
  readonly maxChannelsPerUser: number;
  /** How often a channel is pinged; one that did not answer the previous ping is closed. */
  readonly pingIntervalMs: number;
}

export const defaultChannelLimits: ChannelLimits = {
  authTimeoutMs: 10_000,
  window: 2000,
  page: 500,
  maxBufferedBytes: 8 * 2 ** 20,
  submitsPerSecond: 50,
  maxQueuedBytes: 8 * 2 ** 20,
  maxChannelsPerUser: 20,
  pingIntervalMs: 30_000,
};

/** What an accepted submit was, to build the entries it stored without reading them back. */
interface Submitted {
  readonly conversation: string;
  readonly sender: string;
  readonly now: number;
  readonly frame: Extract<AccountFrame, { type: 'COMMIT' | 'SEND' }>;
}

export class ChannelHub {
  private readonly byDevice = new Map<string, AccountChannel>();
  private readonly byUser = new Map<string, Set<AccountChannel>>();
  private readonly all = new Set<AccountChannel>();
  /** Channels per account, authenticated or not (the cap of attach). */
  private readonly perUser = new Map<string, number>();
  private readonly pinger: NodeJS.Timeout;
  /** The relay's metrics counters (counters.ts), set by the relay. */
  counters: RelayCounters | undefined = undefined;

  constructor(
    readonly store: AccountStore,
    readonly conversationLimits: ConversationLimits,
    readonly limits: ChannelLimits,
    readonly codecLimits: CodecLimits,
  ) {
    this.pinger = setInterval(() => {
      for (const ch of [...this.all]) ch.check();
    }, limits.pingIntervalMs);
    this.pinger.unref();
  }

  /** Channels open now (authenticated or not). */
  get size(): number {
    return this.all.size;
  }

  /** A WebSocket upgraded on /account for a signed-in user whose session is bound to `device`. */
  attach(ws: WebSocket, user: StoredUser, device: string): void {
    const mine = this.perUser.get(user.id) ?? 0;
    if (mine >= this.limits.maxChannelsPerUser) {
      ws.close(ChannelClose.RATE, 'too many channels for this account');
      return;
    }
    this.perUser.set(user.id, mine + 1);
    this.all.add(new AccountChannel(ws, user, device, this));
  }

  /**
   * A device left its account: every channel opened for it, authenticated or still answering its
   * challenge, is closed now (4410). Its sessions, mailbox and routing are gone from the store already.
   */
  deviceRemoved(device: string): void {
    for (const ch of [...this.all]) if (ch.boundTo === device) ch.close(ChannelClose.DEVICE_REMOVED, 'the device was removed');
  }

  /** A channel authenticated its device: an older channel of that device is replaced; contacts learn the user is online. */
  ready(ch: AccountChannel): void {
    const device = ch.device!.id;
    this.byDevice.get(device)?.close(ChannelClose.REPLACED, 'the device connected again');
    this.byDevice.set(device, ch);
    let set = this.byUser.get(ch.user.id);
    const first = set === undefined || set.size === 0;
    if (set === undefined) this.byUser.set(ch.user.id, (set = new Set()));
    set.add(ch);
    void this.presence(ch, first).catch(() => undefined);
  }

  gone(ch: AccountChannel): void {
    if (!this.all.delete(ch)) return;
    const n = (this.perUser.get(ch.user.id) ?? 1) - 1;
    if (n > 0) this.perUser.set(ch.user.id, n);
    else this.perUser.delete(ch.user.id);
    const device = ch.device?.id;
    if (device === undefined) return;
    if (this.byDevice.get(device) === ch) this.byDevice.delete(device);
    const set = this.byUser.get(ch.user.id);
    set?.delete(ch);
    if (set !== undefined && set.size === 0) {
      this.byUser.delete(ch.user.id);
      void this.announce(ch.user, false).catch(() => undefined);
    }
  }

  /** Hands what an accepted submit stored to the recipients connected here. */
  delivered(r: Accepted, s: Submitted): void {
    for (const d of r.delivered) {
      const ch = this.byDevice.get(d.device);
      if (ch === undefined) continue;
      const f = s.frame;
      const payload = f.type === 'SEND' ? f.payload : d.kind === 'welcome' ? f.welcome : f.commit;
      const entry: MailEntry = {
        seq: d.seq,
        conversation: s.conversation,
        kind: d.kind,
        sender: s.sender,
        epoch: d.kind === 'welcome' ? r.epoch : f.epoch,
        payload,
        createdAt: s.now,
      };
      ch.offer(entry);
    }
  }

  /** Tells every connected device of `userId` that something changed (NOTICE). */
  notify(userId: string, what: number): void {
    for (const ch of this.byUser.get(userId) ?? []) ch.tell({ type: 'NOTICE', what });
  }

  /**
   * Two accounts became contacts: each side online learns the other's presence now, not at its next
   * connection. They stopped being ones: `a` (who removed or blocked) sees `b` offline, and `b`
   * sees `a` offline only after a removal (a block must look to `b` like nothing happened).
   */
  related(a: StoredUser, b: StoredUser, contacts: boolean, blocked = false): void {
    const tell = (to: StoredUser, about: StoredUser) => {
      const online = contacts && this.byUser.has(about.id);
      if (contacts && !online) return;
      const frame: AccountFrame = { type: 'PRESENCE', name: about.name, online, at: Date.now() };
      for (const ch of this.byUser.get(to.id) ?? []) ch.tell(frame);
    };
    tell(a, b);
    if (!blocked) tell(b, a);
  }

  /** Ends every channel (the relay stops). */
  closeAll(): void {
    clearInterval(this.pinger);
    for (const ch of [...this.all]) ch.close(1001, 'the relay is stopping');
  }

  /** The new channel learns which contacts are online; if the user just came online, its contacts learn it. */
  private async presence(ch: AccountChannel, cameOnline: boolean): Promise<void> {
    const contacts = await this.store.acceptedContacts(ch.user.id);
    for (const c of contacts) {
      if (this.byUser.has(c.id)) ch.tell({ type: 'PRESENCE', name: c.name, online: true, at: Date.now() });
    }
    if (cameOnline) this.tellContacts(ch.user, contacts, true);
  }

  private async announce(user: StoredUser, online: boolean): Promise<void> {
    this.tellContacts(user, await this.store.acceptedContacts(user.id), online);
  }

  private tellContacts(user: StoredUser, contacts: readonly { id: string }[], online: boolean): void {
    const frame: AccountFrame = { type: 'PRESENCE', name: user.name, online, at: Date.now() };
    for (const c of contacts) for (const other of this.byUser.get(c.id) ?? []) other.tell(frame);
  }
}
