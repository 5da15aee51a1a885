/**
 * One device's account channel on the relay (docs/PROTOCOL.md §11.11): a WebSocket on `/account`
 * opened with a session, on which the device proves its identity key (it signs the relay's
 * challenge), then receives its mailbox in seq order and acknowledges it, and submits its
 * conversations' commits and messages. The relay is the MLS Delivery Service here: it accepts one
 * commit per epoch and keeps every entry for every recipient device until that device
 * acknowledges it (conversationStore.ts), so nothing acknowledged by the relay is lost by a dead
 * connection or a restart: the device reads it again from the store when it reconnects.
 *
 * Flow: at most `window` entries are sent and not yet acknowledged; the mailbox is read from the
 * store a page at a time. An entry accepted while the device is connected and caught up is pushed
 * at once if it is the next seq; otherwise the pump reads the store, which holds every entry
 * committed (seqs are given in commit order, so the pump never skips one in flight).
 */
import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import {
  ACCOUNT_AUTH_LABEL,
  type AccountFrame,
  decodeAccountFrame,
  encodeAccountFrame,
  NoticeWhat,
  ProtocolError,
  type ResultStatusName,
} from '@nullroom/protocol';
import type { StoredDevice, StoredUser } from './accountStore.js';
import type { ChannelHub } from './channelHub.js';
import type { CommitResult, MailEntry } from './conversationStore.js';
import { nodeChainCrypto } from './deviceListCheck.js';

const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
const raw = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));

/** Close codes (4000-4999: the application's, RFC 6455 §7.4.2). */
export const ChannelClose = {
  BAD_FRAME: 4400,
  NOT_AUTHENTICATED: 4401,
  FORBIDDEN: 4403,
  REPLACED: 4409,
  /** The device was removed from its account's list (its sessions ended with it). */
  DEVICE_REMOVED: 4410,
  RATE: 4429,
} as const;

export class AccountChannel {
  private readonly nonce = randomBytes(32);
  device: StoredDevice | undefined;
  private sent = 0;
  private acked = 0;
  private caughtUp = false;
  private toldCaughtUp = false;
  private pumping = false;
  private again = false;
  private readonly reported = new Set<string>();
  private closed = false;
  private authenticating = false;
  /** Set by a pong; the hub's timer closes a channel that did not answer its last ping. */
  alive = true;
  private readonly authTimer: NodeJS.Timeout;
  /** Submits in the current second, for the rate limit. */
  private window = { start: 0, count: 0 };
  /** Submits run one after another, in the order they came: a device's messages stay in its order. */
  private submits: Promise<void> = Promise.resolve();
  /** Bytes of submit frames queued and not yet handled. */
  private queuedBytes = 0;

  constructor(
    private readonly ws: WebSocket,
    readonly user: StoredUser,
    /** The device the upgrading session is bound to: the only one this channel may authenticate as. */
    readonly boundTo: string,
    private readonly hub: ChannelHub,
  ) {
    this.authTimer = setTimeout(() => this.close(ChannelClose.NOT_AUTHENTICATED, 'authenticate first'), hub.limits.authTimeoutMs);
    ws.on('message', (data, isBinary) => {
      const counters = hub.counters;
      if (counters !== undefined) {
        counters.accountFramesIn++;
        counters.accountBytesIn += (data as Buffer).byteLength;
      }
      if (!isBinary) return this.close(ChannelClose.BAD_FRAME, 'binary frames only');
      void this.receive(data as Buffer).catch(() => this.close(1011, 'internal error'));
    });
    ws.on('close', () => this.ended());
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', () => this.ended());
    this.write({ type: 'CHALLENGE', nonce: this.nonce });
  }

  /** An entry stored for this device as a submit was accepted: pushed now if it is the next one, else read by the pump. */
  offer(entry: MailEntry): void {
    if (this.device === undefined || this.closed || entry.seq <= this.sent) return;
    const { limits } = this.hub;
    // Pushed only while the socket drains: a device that does not read gets no more than the pump would give it.
    const room = this.sent - this.acked < limits.window && this.ws.bufferedAmount <= limits.maxBufferedBytes;
    if (this.caughtUp && !this.pumping && entry.seq === this.sent + 1 && room) {
      this.sendMail(entry);
      return;
    }
    this.caughtUp = false;
    void this.pump();
  }

  /** Entries up to `seq` were stored for this device by a submit on another node: read from the store. */
  wake(seq: number): void {
    if (this.device === undefined || this.closed || seq <= this.sent) return;
    this.caughtUp = false;
    this.pump().catch(() => this.close(1011, 'internal error'));
  }

  /** A presence or notice frame. */
  tell(frame: AccountFrame): void {
    if (this.device !== undefined) this.write(frame);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason);
    this.ended();
  }

  /** The hub's liveness check: a channel that did not answer the last ping is ended; else it is pinged again. */
  check(): void {
    if (this.closed) return;
    if (!this.alive) {
      this.ws.terminate();
      this.ended();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  private async receive(data: Buffer): Promise<void> {
    let f: AccountFrame;
    try {
      f = decodeAccountFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.hub.codecLimits);
    } catch (e) {
      if (e instanceof ProtocolError) return this.close(ChannelClose.BAD_FRAME, e.code);
      throw e;
    }
    if (this.device === undefined) {
      // One AUTH, answered before anything else is read: a second one while the first is checked closes the channel.
      if (f.type !== 'AUTH' || this.authenticating) return this.close(ChannelClose.NOT_AUTHENTICATED, 'authenticate once, first');
      this.authenticating = true;
      return this.authenticate(f);
    }
    switch (f.type) {
      case 'ACK':
        return this.ack(f.seq);
      case 'CREATE':
      case 'COMMIT':
      case 'SEND':
        return this.queue(f, data.byteLength);
      default:
        return this.close(ChannelClose.BAD_FRAME, 'not a device frame');
    }
  }

  private async authenticate(f: Extract<AccountFrame, { type: 'AUTH' }>): Promise<void> {
    const id = b64(f.device);
    const device = id === this.boundTo ? (await this.hub.store.devices(this.user.id)).find((d) => d.id === id) : undefined;
    const signed = Buffer.concat([ACCOUNT_AUTH_LABEL, this.nonce, f.device]);
    if (device === undefined || !nodeChainCrypto.verify(device.identityKey, signed, f.signature)) {
      return this.close(ChannelClose.FORBIDDEN, 'not the device of this session');
    }
    if (this.closed) return;
    clearTimeout(this.authTimer);
    this.device = device;
    this.hub.ready(this);
    this.write({ type: 'READY', device: f.device, seq: 0 });
    await this.pump();
  }

  private async ack(seq: number): Promise<void> {
    const device = this.device as StoredDevice;
    if (seq > this.sent || seq <= this.acked) return; // nothing new, or beyond what was sent: ignored
    this.acked = seq;
    await this.hub.store.ack(device.id, seq);
    await this.pump();
  }

  /** Reads the mailbox after what was sent, a page at a time, while the window has room. */
  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        await this.pumpPages();
      } while (this.again && !this.closed);
    } finally {
      this.pumping = false;
    }
  }

  private async pumpPages(): Promise<void> {
    const { limits, store } = this.hub;
    const device = this.device as StoredDevice;
    for (;;) {
      const room = limits.window - (this.sent - this.acked);
      if (this.closed || room <= 0) return;
      if (this.ws.bufferedAmount > limits.maxBufferedBytes) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const ask = Math.min(limits.page, room);
      const { entries, lost } = await store.mailbox(device.id, this.sent, ask, Date.now());
      for (const l of lost) {
        const key = `${l.conversation}:${l.afterSeq}`;
        if (this.reported.has(key)) continue;
        this.reported.add(key);
        this.write({ type: 'LOST', conversation: raw(l.conversation), entries: l.entries, handshake: l.handshake, after: l.afterSeq });
      }
      for (const e of entries) if (e.seq > this.sent) this.sendMail(e);
      if (entries.length < ask) {
        this.caughtUp = true;
        if (!this.toldCaughtUp) this.write({ type: 'NOTICE', what: NoticeWhat.CAUGHT_UP });
        this.toldCaughtUp = true;
        return;
      }
    }
  }

  private sendMail(e: MailEntry): void {
    this.sent = e.seq;
    this.write({
      type: 'MAIL',
      seq: e.seq,
      conversation: raw(e.conversation),
      kind: e.kind,
      sender: raw(e.sender),
      epoch: e.epoch,
      at: e.createdAt,
      payload: e.payload,
    });
  }

  /**
   * A submit, counted against the rate as it arrives (one over it is answered RATE_LIMITED at once,
   * never queued), then queued behind the channel's others; more than `maxQueuedBytes` of frames
   * waiting closes the channel: a device cannot make the relay hold its flood.
   */
  private queue(f: Extract<AccountFrame, { type: 'CREATE' | 'COMMIT' | 'SEND' }>, bytes: number): Promise<void> {
    const { limits } = this.hub;
    const now = Date.now();
    if (now - this.window.start >= 1000) this.window = { start: now, count: 0 };
    if (++this.window.count > limits.submitsPerSecond) return Promise.resolve(this.result(f.req, 'RATE_LIMITED', 0));
    if (this.queuedBytes + bytes > limits.maxQueuedBytes) return Promise.resolve(this.close(ChannelClose.RATE, 'too much in flight'));
    this.queuedBytes += bytes;
    this.submits = this.submits
      .then(() => this.submit(f))
      .finally(() => {
        this.queuedBytes -= bytes;
      });
    return this.submits;
  }

  private async submit(f: Extract<AccountFrame, { type: 'CREATE' | 'COMMIT' | 'SEND' }>): Promise<void> {
    const now = Date.now();
    const device = (this.device as StoredDevice).id;
    const conversation = b64(f.conversation);
    try {
      if (f.type === 'CREATE') {
        const r = await this.hub.store.createConversation(conversation, device, now);
        return this.result(f.req, r === 'created' ? 'ACCEPTED' : r === 'exists' ? 'EXISTS' : 'UNKNOWN_DEVICE', 0);
      }
      const r: CommitResult =
        f.type === 'SEND'
          ? await this.hub.store.submitApp(
              { conversation, sender: device, epoch: f.epoch, payload: f.payload },
              this.hub.conversationLimits,
              now,
            )
          : await this.hub.store.submitCommit(
              {
                conversation,
                sender: device,
                epoch: f.epoch,
                payload: f.commit,
                add: f.add.map(b64),
                remove: f.remove.map(b64),
                ...(f.welcome.byteLength > 0 ? { welcome: f.welcome } : {}),
              },
              this.hub.conversationLimits,
              now,
            );
      if (r.status !== 'accepted') return this.result(f.req, refusal(r), 'epoch' in r ? r.epoch : 0);
      this.result(f.req, 'ACCEPTED', r.epoch);
      this.hub.delivered(r, { conversation, sender: device, now, frame: f });
    } catch {
      this.result(f.req, 'STORE_UNAVAILABLE', 0);
    }
  }

  private result(req: number, status: ResultStatusName, epoch: number): void {
    this.hub.counters?.accountResult(status);
    this.write({ type: 'RESULT', req, status, epoch });
  }

  private write(f: AccountFrame): void {
    if (this.closed || this.ws.readyState !== 1) return;
    const bytes = encodeAccountFrame(f);
    const counters = this.hub.counters;
    if (counters !== undefined) {
      counters.accountFramesOut++;
      counters.accountBytesOut += bytes.byteLength;
    }
    this.ws.send(bytes);
  }

  private ended(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.authTimer);
    this.hub.gone(this);
  }
}

function refusal(r: Exclude<CommitResult, { status: 'accepted' }>): ResultStatusName {
  switch (r.status) {
    case 'no-such-conversation':
      return 'NO_SUCH_CONVERSATION';
    case 'not-member':
      return 'NOT_MEMBER';
    case 'wrong-epoch':
      return 'WRONG_EPOCH';
    case 'unknown-device':
      return 'UNKNOWN_DEVICE';
    case 'bad-change':
      return 'BAD_CHANGE';
    case 'too-many-members':
      return 'TOO_MANY_MEMBERS';
  }
}
