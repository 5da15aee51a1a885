/**
 * One device's channel to the relay in accounts mode (docs/PROTOCOL.md §11.11): a WebSocket on
 * `/account`, opened with the session (the browser's cookie, the terminal's bearer token), on
 * which the device proves its identity key by signing the relay's challenge. Then the relay
 * streams the device's mailbox in order (`mail` events, each to be acknowledged once stored:
 * `ack`), pushes new entries as they are accepted, and answers the device's creates, commits and
 * sends (`RESULT`). Presence of contacts and notices arrive as events.
 *
 * This object is the transport only: it neither decrypts nor reorders. Reconnection is the
 * caller's (a Messenger reconnects and resumes from its last acknowledged entry, which the relay
 * keeps until acknowledged).
 */
import type { IdentitySigner } from '@nullroom/crypto';
import {
  ACCOUNT_AUTH_LABEL,
  ACCOUNT_SUBPROTOCOL,
  type AccountFrame,
  decodeAccountFrame,
  encodeAccountFrame,
  type MailKindName,
  type ResultStatusName,
} from '@nullroom/protocol';
import { Emitter } from './emitter.js';
import { fromBase64Url, toBase64Url } from './encoding.js';
import type { WebSocketFactory, WebSocketLike } from './transport.js';

export interface MailEvent {
  readonly seq: number;
  /** base64url of the conversation's 16 bytes, as the HTTP API names it. */
  readonly conversation: string;
  readonly kind: MailKindName;
  /** The sending device's id. */
  readonly sender: string;
  readonly epoch: number;
  readonly at: number;
  readonly payload: Uint8Array;
}

export interface ChannelEvents extends Record<string, unknown> {
  mail: MailEvent;
  lost: { conversation: string; entries: number; handshake: boolean; after: number };
  presence: { name: string; online: boolean; at: number };
  notice: { what: number };
  closed: { code: number; reason: string };
}

export interface SubmitResult {
  readonly status: ResultStatusName;
  /** The conversation's epoch after (accepted), or now (WRONG_EPOCH). */
  readonly epoch: number;
}

export class ChannelError extends Error {
  constructor(readonly code: 'CHANNEL_CLOSED' | 'CHANNEL_REFUSED' | 'CHANNEL_TIMEOUT' | 'BAD_FRAME') {
    super(code);
    this.name = 'ChannelError';
  }
}

/** `http(s)://host:port` -> `ws(s)://host:port/account`. */
export function accountSocketUrl(url: string): string {
  const u = new URL(url);
  u.protocol = u.protocol === 'https:' ? 'wss:' : u.protocol === 'http:' ? 'ws:' : u.protocol;
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError('relay URL must be http(s) or ws(s)');
  u.pathname = `${u.pathname.replace(/\/(ws|account)?$/, '')}/account`;
  return u.toString();
}

const id16 = (s: string) => {
  const b = fromBase64Url(s);
  if (b.byteLength !== 16) throw new TypeError('an id is 16 bytes');
  return b;
};

export class AccountChannel extends Emitter<ChannelEvents> {
  private ws: WebSocketLike | undefined;
  private nextReq = 1;
  /** Requests sent and not yet answered: on close each fails with CHANNEL_CLOSED (it may or may not have been accepted). */
  private readonly waiting = new Map<number, { resolve: (r: SubmitResult) => void; reject: (e: Error) => void }>();
  private closed = false;

  private constructor(
    private readonly me: IdentitySigner,
    private readonly device: string,
  ) {
    super();
    // The mailbox follows READY at once, before the caller of `open` can listen: held until it does
    // (more than the relay's window, so none is dropped; an entry never acknowledged comes again anyway).
    this.holdUnheard(['mail', 'lost', 'presence', 'notice'], 4096);
  }

  /**
   * Opens the channel and authenticates this device; resolves once the relay said READY (its
   * mailbox follows as `mail` events). `socket` opens the WebSocket with the session attached.
   */
  static open(url: string, socket: WebSocketFactory, me: IdentitySigner, device: string, timeoutMs = 10_000): Promise<AccountChannel> {
    const ch = new AccountChannel(me, device);
    return new Promise((resolve, reject) => {
      const ws = socket(accountSocketUrl(url), ACCOUNT_SUBPROTOCOL);
      ws.binaryType = 'arraybuffer';
      ch.ws = ws;
      let ready = false;
      const timer = setTimeout(() => fail(new ChannelError('CHANNEL_TIMEOUT')), timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        ch.shut();
        reject(e);
      };
      ws.onmessage = (ev) => {
        if (ch.closed) return; // closed by us: what still arrives is not read (the relay sends it again)
        let f: AccountFrame;
        try {
          f = decodeAccountFrame(new Uint8Array(ev.data as ArrayBuffer));
        } catch {
          return fail(new ChannelError('BAD_FRAME'));
        }
        if (ready) return ch.receive(f);
        if (f.type === 'CHALLENGE') void ch.answer(f.nonce).catch(fail);
        else if (f.type === 'READY') {
          ready = true;
          clearTimeout(timer);
          resolve(ch);
        } else fail(new ChannelError('BAD_FRAME'));
      };
      ws.onerror = () => undefined;
      ws.onclose = (ev) => {
        if (!ready) fail(new ChannelError('CHANNEL_REFUSED'));
        ch.ended(ev.code, ev.reason);
      };
    });
  }

  /** Acknowledges every entry up to `seq`: the relay deletes them. */
  ack(seq: number): void {
    this.write({ type: 'ACK', seq });
  }

  /** Registers a new conversation whose only member is this device. */
  create(conversation: string): Promise<SubmitResult> {
    return this.request((req) => ({ type: 'CREATE', req, conversation: id16(conversation) }));
  }

  /** A commit at `epoch`, with the routing change it makes (device ids) and the Welcome for the devices added. */
  commit(
    conversation: string,
    epoch: number,
    commit: Uint8Array,
    add: string[],
    remove: string[],
    welcome?: Uint8Array,
  ): Promise<SubmitResult> {
    return this.request((req) => ({
      type: 'COMMIT',
      req,
      conversation: id16(conversation),
      epoch,
      add: add.map(id16),
      remove: remove.map(id16),
      commit,
      welcome: welcome ?? new Uint8Array(0),
    }));
  }

  /** An application message at `epoch`. */
  send(conversation: string, epoch: number, payload: Uint8Array): Promise<SubmitResult> {
    return this.request((req) => ({ type: 'SEND', req, conversation: id16(conversation), epoch, payload }));
  }

  close(): void {
    this.shut();
  }

  private async answer(nonce: Uint8Array): Promise<void> {
    const device = id16(this.device);
    const msg = new Uint8Array(ACCOUNT_AUTH_LABEL.byteLength + nonce.byteLength + 16);
    msg.set(ACCOUNT_AUTH_LABEL);
    msg.set(nonce, ACCOUNT_AUTH_LABEL.byteLength);
    msg.set(device, ACCOUNT_AUTH_LABEL.byteLength + nonce.byteLength);
    this.write({ type: 'AUTH', device, signature: await this.me.sign(msg) });
  }

  private request(make: (req: number) => AccountFrame): Promise<SubmitResult> {
    if (this.closed) return Promise.reject(new ChannelError('CHANNEL_CLOSED'));
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      this.waiting.set(req, { resolve, reject });
      this.write(make(req));
    });
  }

  private receive(f: AccountFrame): void {
    switch (f.type) {
      case 'MAIL':
        return this.emit('mail', {
          seq: f.seq,
          conversation: toBase64Url(f.conversation),
          kind: f.kind,
          sender: toBase64Url(f.sender),
          epoch: f.epoch,
          at: f.at,
          payload: f.payload,
        });
      case 'LOST':
        return this.emit('lost', { conversation: toBase64Url(f.conversation), entries: f.entries, handshake: f.handshake, after: f.after });
      case 'RESULT': {
        const done = this.waiting.get(f.req);
        this.waiting.delete(f.req);
        return done?.resolve({ status: f.status, epoch: f.epoch });
      }
      case 'PRESENCE':
        return this.emit('presence', { name: f.name, online: f.online, at: f.at });
      case 'NOTICE':
        return this.emit('notice', { what: f.what });
      default:
        this.shut(); // a client frame, or a second CHALLENGE: not a relay speaking this protocol
    }
  }

  private write(f: AccountFrame): void {
    if (this.ws === undefined || this.closed || this.ws.readyState !== 1) return;
    this.ws.send(encodeAccountFrame(f));
  }

  private shut(): void {
    if (this.closed) return;
    this.ws?.close(1000);
    this.ended(1000, 'closed');
  }

  private ended(code: number, reason: string): void {
    const first = !this.closed;
    this.closed = true;
    for (const done of this.waiting.values()) done.reject(new ChannelError('CHANNEL_CLOSED'));
    this.waiting.clear();
    if (first) this.emit('closed', { code, reason });
  }
}
