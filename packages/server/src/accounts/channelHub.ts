/**
 * The account channels of one relay (accountChannel.ts; docs/PROTOCOL.md §11.11): which device is
 * connected where, the entries an accepted submit stored handed to the connected recipients, and
 * presence: a user is online while one of its devices has a channel, and only its accepted
 * contacts are told (ContactStore.acceptedContacts), when it comes and when it goes.
 *
 * What concerns channels elsewhere goes through the AccountBus (accountShared.ts): in process for
 * one relay, through Redis for relay nodes (docs/PROTOCOL.md §12). Every node acts on its own
 * channels: a notice, a removed device (4410), a newer channel of the same device (4409), mail
 * stored for a device connected here by a submit on another node, presence. Presence is the bus's:
 * online while a channel is open on any live node, and told to contacts once per change.
 */
import type WebSocket from 'ws';
import type { AccountFrame, CodecLimits } from '@nullroom/protocol';
import type { RelayCounters } from '../counters.js';
import { AccountChannel, ChannelClose } from './accountChannel.js';
import type { AccountBus, BusEvent } from './accountShared.js';
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
  /** Authenticated channels by device (more than one only until the older is replaced) and by user. */
  private readonly byDevice = new Map<string, Set<AccountChannel>>();
  private readonly byUser = new Map<string, Set<AccountChannel>>();
  private readonly all = new Set<AccountChannel>();
  /** Channels per account, authenticated or not (the cap of attach). */
  private readonly perUser = new Map<string, number>();
  /** Each authenticated channel's generation (AccountBus.up), and the newest of its device seen before it knew its own. */
  private readonly gens = new WeakMap<AccountChannel, number>();
  private readonly newer = new WeakMap<AccountChannel, number>();
  /** Presence work in flight (awaited when the relay stops), and the events waiting for a name from the store, in order. */
  private readonly work = new Set<Promise<unknown>>();
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private readonly pinger: NodeJS.Timeout;
  /** The relay's metrics counters (counters.ts), set by the relay. */
  counters: RelayCounters | undefined = undefined;

  constructor(
    readonly store: AccountStore,
    readonly conversationLimits: ConversationLimits,
    readonly limits: ChannelLimits,
    readonly codecLimits: CodecLimits,
    private readonly bus: AccountBus,
  ) {
    this.pinger = setInterval(() => {
      for (const ch of [...this.all]) ch.check();
    }, limits.pingIntervalMs);
    this.pinger.unref();
    bus.listen((e) => this.event(e));
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
   * A device left its account: every channel opened for it, on every node, authenticated or still
   * answering its challenge, is closed now (4410). Its sessions, mailbox and routing are gone from the store already.
   */
  deviceRemoved(device: string): void {
    this.track(this.bus.publish({ type: 'removed', device }));
  }

  /** A channel authenticated its device: an older channel of that device (on any node) is replaced; contacts learn the user is online. */
  ready(ch: AccountChannel): void {
    const device = ch.device!.id;
    add(this.byDevice, device, ch);
    add(this.byUser, ch.user.id, ch);
    this.track(
      this.bus.up(ch.user.id, device).then((gen) => {
        this.gens.set(ch, gen);
        if ((this.newer.get(ch) ?? 0) > gen) return ch.close(ChannelClose.REPLACED, 'the device connected again');
        return this.presence(ch);
      }),
    );
  }

  gone(ch: AccountChannel): void {
    if (!this.all.delete(ch)) return;
    const n = (this.perUser.get(ch.user.id) ?? 1) - 1;
    if (n > 0) this.perUser.set(ch.user.id, n);
    else this.perUser.delete(ch.user.id);
    const device = ch.device?.id;
    if (device === undefined) return;
    remove(this.byDevice, device, ch);
    remove(this.byUser, ch.user.id, ch);
    this.track(this.bus.down(ch.user.id, device).then((offline) => (offline ? this.announce(ch.user) : undefined)));
  }

  /** Hands what an accepted submit stored to the recipients connected here; the other nodes are told to read it. */
  delivered(r: Accepted, s: Submitted): void {
    const elsewhere: [string, number][] = [];
    for (const d of r.delivered) {
      const here = this.byDevice.get(d.device);
      if (here === undefined) {
        elsewhere.push([d.device, d.seq]);
        continue;
      }
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
      for (const ch of here) ch.offer(entry);
    }
    if (elsewhere.length > 0) this.track(this.bus.publish({ type: 'mail', devices: elsewhere }));
  }

  /** Tells every connected device of `userId`, on every node, that something changed (NOTICE). */
  notify(userId: string, what: number): void {
    this.track(this.bus.publish({ type: 'notify', user: userId, what }));
  }

  /**
   * Two accounts became contacts: each side online learns the other's presence now, not at its next
   * connection. They stopped being ones: `a` (who removed or blocked) sees `b` offline, and `b`
   * sees `a` offline only after a removal (a block must look to `b` like nothing happened).
   */
  related(a: StoredUser, b: StoredUser, contacts: boolean, blocked = false): void {
    const told = this.bus.online([a.id, b.id]).then((on) =>
      this.bus.publish({
        type: 'related',
        a: a.id,
        b: b.id,
        aOnline: on.has(a.id),
        bOnline: on.has(b.id),
        contacts,
        blocked,
        aName: a.name,
        bName: b.name,
      }),
    );
    this.track(told);
  }

  /** Ends every channel (the relay stops). */
  closeAll(): void {
    clearInterval(this.pinger);
    for (const ch of [...this.all]) ch.close(1001, 'the relay is stopping');
  }

  /** Once the presence work of the channels that closed is done (before the bus closes). */
  async settled(): Promise<void> {
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
  }

  private event(e: BusEvent): void {
    switch (e.type) {
      case 'notify':
        for (const ch of this.byUser.get(e.user) ?? []) ch.tell({ type: 'NOTICE', what: e.what });
        return;
      case 'removed':
        for (const ch of [...this.all]) if (ch.boundTo === e.device) ch.close(ChannelClose.DEVICE_REMOVED, 'the device was removed');
        return;
      case 'mail':
        for (const [device, seq] of e.devices) for (const ch of this.byDevice.get(device) ?? []) ch.wake(seq);
        return;
      case 'device':
        for (const ch of [...(this.byDevice.get(e.device) ?? [])]) {
          const gen = this.gens.get(ch);
          if (gen === undefined) this.newer.set(ch, Math.max(e.gen, this.newer.get(ch) ?? 0));
          else if (gen < e.gen) ch.close(ChannelClose.REPLACED, 'the device connected again');
        }
        return;
      case 'presence':
        if (e.to.some((c) => this.byUser.has(c))) this.withNames([[e.user, e.name]], ([name]) => this.tellPresence(e, name));
        return;
      case 'related':
        if (this.byUser.has(e.a) || this.byUser.has(e.b)) {
          this.withNames(
            [
              [e.a, e.aName],
              [e.b, e.bName],
            ],
            ([aName, bName]) => this.tellRelated(e, aName, bName),
          );
        }
        return;
      case 'recheck':
        this.track(this.store.userById(e.user).then((u) => (u === undefined ? undefined : this.announce(u))));
        return;
      case 'deleted':
        return;
    }
  }

  /** Runs `f` with the names of these users: at once when the event carried them, else read from the store, in event order. */
  private withNames(users: [string, string | undefined][], f: (names: (string | undefined)[]) => void): void {
    if (this.queued === 0 && users.every(([, n]) => n !== undefined)) return f(users.map(([, n]) => n));
    this.queued++;
    const names = Promise.all(users.map(([id, n]) => (n !== undefined ? n : this.store.userById(id).then((u) => u?.name))));
    this.chain = this.chain
      .then(() => names.then(f))
      .catch(() => undefined)
      .finally(() => {
        this.queued--;
      });
  }

  private tellPresence(e: Extract<BusEvent, { type: 'presence' }>, name: string | undefined): void {
    if (name === undefined) return;
    const frame: AccountFrame = { type: 'PRESENCE', name, online: e.online, at: e.at };
    for (const c of e.to) for (const ch of this.byUser.get(c) ?? []) ch.tell(frame);
  }

  private tellRelated(e: Extract<BusEvent, { type: 'related' }>, aName: string | undefined, bName: string | undefined): void {
    const tell = (to: string, aboutName: string | undefined, aboutOnline: boolean) => {
      const online = e.contacts && aboutOnline;
      if ((e.contacts && !online) || aboutName === undefined) return;
      const frame: AccountFrame = { type: 'PRESENCE', name: aboutName, online, at: Date.now() };
      for (const ch of this.byUser.get(to) ?? []) ch.tell(frame);
    };
    tell(e.a, bName, e.bOnline);
    if (!e.blocked) tell(e.b, aName, e.aOnline);
  }

  /** The new channel learns which contacts are online; if the user just came online, its contacts learn it. */
  private async presence(ch: AccountChannel): Promise<void> {
    const contacts = await this.store.acceptedContacts(ch.user.id);
    const online = await this.bus.online(contacts.map((c) => c.id));
    for (const c of contacts) {
      if (online.has(c.id)) ch.tell({ type: 'PRESENCE', name: c.name, online: true, at: Date.now() });
    }
    await this.bus.announce(
      ch.user.id,
      contacts.map((c) => c.id),
      ch.user.name,
    );
  }

  private async announce(user: StoredUser): Promise<void> {
    const contacts = await this.store.acceptedContacts(user.id);
    await this.bus.announce(
      user.id,
      contacts.map((c) => c.id),
      user.name,
    );
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch(() => undefined);
    this.work.add(q);
    void q.finally(() => this.work.delete(q));
  }
}

function add<T>(map: Map<string, Set<T>>, key: string, v: T): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(v);
}

function remove<T>(map: Map<string, Set<T>>, key: string, v: T): void {
  const set = map.get(key);
  set?.delete(v);
  if (set?.size === 0) map.delete(key);
}
