/**
 * One outbox for every frame a conversation sends that waits for the relay's acknowledgement:
 * application messages (APP, part of the room's stream, docs/PROTOCOL.md §4.3 "Sending") and
 * direct frames (DIRECT, to one member's connection, §4.4). They share one token bucket (the send
 * rate, kept under the relay's limit), the acknowledgements, and re-sending after a reconnect;
 * each kind has its own window of unacknowledged frames (direct frames do not depend on the
 * group's epoch, so a commit in flight, which holds application messages, does not hold them).
 *
 * The outbox never sleeps on its conversation's queue: a frame that must wait for a token is
 * picked up by a timer that queues the next pump, and meanwhile every other frame is processed.
 *
 * Size: over 400 lines because one message's whole life is here (queued, encrypted, written to the
 * saved session, in flight, re-sent after a commit or a reconnect, recognised in a replay after a
 * RESUME, timed out, retried): those rules depend on each other and are checked together.
 */
import type { ClientFrame, RelayEpoch, ReqId, Slot } from '@nullroom/protocol';
import { ClientError } from './errors.js';
import { equalBytes, randomHex } from './encoding.js';
import { type Payload, encodePayload } from './payload.js';
import type { SavedMessage } from './roomSession.js';
import type { RoomTimings } from './roomTypes.js';

/** A payload as the caller gives it: the outbox fills in version, id, counter and time. */
export type PayloadBody = Payload extends infer P ? (P extends Payload ? Omit<P, 'v' | 'id' | 'n' | 'ts'> : never) : never;

/**
 * A hidden private message (privateChat.ts, docs/PROTOCOL.md §5.2): the chat's message `inner`,
 * sealed once by the chat, wrapped for the room at each (re)send (`OutboxHost.wrap`). It takes no
 * room counter `n`: it is not a room payload.
 */
export interface HiddenBody {
  readonly id: string;
  readonly inner: Uint8Array;
}

/** What one application message of the outbox carries: a room payload, or a hidden private message. */
export type AppBody = Payload | HiddenBody;
const isHidden = (b: AppBody): b is HiddenBody => 'inner' in b;

/** Where a direct frame goes: a slot not among `tried`, looked up at each (re)send; undefined when the peer is not in the room. */
export type DirectTarget = (tried: ReadonlySet<number>) => number | undefined;

/**
 * The narrow port through which a feature (private chats) sends: room payloads, and direct frames
 * sealed (and sealed again for a re-send) by the feature itself.
 */
export interface SendPort {
  /** Queues a payload for the room's stream; returns its id. */
  sendPayload(body: PayloadBody): string;
  /** Queues a hidden private message (a private chat's sealed message) for the room's stream; returns the room message's id. */
  sendHidden(inner: Uint8Array): string;
  /**
   * Queues one direct frame. Resolves once the relay handed it to the target's connection; rejects
   * with ClientError(PEER_UNAVAILABLE) when `target` finds nobody or the relay reports the
   * connection gone, (RELAY_ERROR) for another refusal, (NOT_JOINED) when the conversation is left first.
   */
  sendDirect(target: DirectTarget, seal: () => Promise<Uint8Array>): Promise<void>;
}

/** What the outbox needs from its conversation. */
export interface OutboxHost {
  /** Sends a frame to the relay; returns the request id its ACK or ERROR will carry. */
  request(build: (reqId: ReqId) => ClientFrame): ReqId;
  /** Runs `fn` on the conversation's serial queue. */
  run(fn: () => Promise<void> | void): void;
  /** Whether direct frames may go now (joined). */
  directOpen(): boolean;
  /** Our slot, to which nothing is sent. */
  ownSlot(): number | undefined;
  /** Whether application messages may go now (joined, no commit of ours in flight, somebody to read them). */
  appOpen(): boolean;
  /** Encrypts an application message in the current group state; the frame is built for the relay commit count returned. */
  encrypt(plaintext: Uint8Array): Promise<{ message: Uint8Array; commits: RelayEpoch }>;
  /** Wraps a hidden private message for the current group state (which it does not change), as `encrypt` does. */
  wrap(inner: Uint8Array): Promise<{ message: Uint8Array; commits: RelayEpoch }>;
  /** Builds the APP frame (the room's locator). */
  appFrame(reqId: ReqId, commits: RelayEpoch, data: Uint8Array): ClientFrame;
  directFrame(reqId: ReqId, to: Slot, data: Uint8Array): ClientFrame;
  /** Runs before an application message leaves, after it was encrypted: the room writes its session (roomSession.ts). */
  beforeSend(): Promise<void>;
  /** The relay acknowledged application message `id`. */
  sent(id: string): void;
  /** Application message `id` will not be sent (`code` says why); `retry(id)` queues it again. */
  unsent(id: string, error: ClientError): void;
  /** The relay refused an application message for a reason other than its rate (not dropped: re-sent later). */
  refused(relayCode: string): void;
  /** An application message could not be encrypted (a bug): it is dropped, not sent (and reported `unsent`). */
  failed(e: unknown): void;
}

/** The request id of a restored message that was in flight when its session was saved: no answer will name it. */
const RESTORED = 0 as ReqId;

/** Failed messages kept for `retry`, at most (the oldest forgotten first). */
const RETRY_KEPT = 256;

interface AppItem {
  body: AppBody;
  reqId: ReqId | undefined;
  /** The ciphertext last sent: the relay's replay after a RESUME names an accepted one by its bytes (§4.5). */
  data: Uint8Array | undefined;
  /** The relay commit count it was last sent under. */
  commits: RelayEpoch;
  /** Fires `sendTimeoutMs` after it was queued: not acknowledged by then, it is reported unsent. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface DirectItem {
  target: DirectTarget;
  /** Slots the relay said nobody holds (NO_SUCH_PEER): a peer that reconnected may hold another. */
  tried: Set<number>;
  /** The slot of the copy in flight. */
  to: number | undefined;
  seal: () => Promise<Uint8Array>;
  reqId: ReqId | undefined;
  resolve: () => void;
  reject: (e: unknown) => void;
  /** A liveness probe (empty, §4.3 "Departures"): dropped, not re-sent, when the connection drops. */
  probe: boolean;
}

/** Frames per second with a burst: `take` spends one token if there is one. */
export class TokenBucket {
  #tokens: number;
  #last = Date.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.#tokens = burst;
  }
  /** How long until a token is back (0: one is there now). */
  waitMs(): number {
    const now = Date.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.rate) / 1000);
    this.#last = now;
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * 1000) / this.rate);
  }
  take(): void {
    this.#tokens -= 1;
  }
  /** The relay is stricter than we thought: start again from empty. */
  drain(): void {
    this.#tokens = 0;
  }
}

export class Outbox {
  readonly #app: AppItem[] = [];
  readonly #direct: DirectItem[] = [];
  #appInflight = 0;
  #directInflight = 0;
  /** The last message counter `n` given (a re-send keeps its n, so receivers see one gap-free sequence). */
  #counter = 0;
  readonly #bucket: TokenBucket;
  #pumpQueued = false;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  /** Requests whose refusal we expect and ignore (messages already queued for re-sending). */
  readonly #abandoned = new Set<number>();
  readonly #flushWaiters: (() => void)[] = [];
  /** Messages reported unsent, by id, for `retry`. */
  readonly #failed = new Map<string, AppBody>();
  /** The message the pump is encrypting and writing to the saved session now (not yet in flight, not to be given up). */
  #sending: AppItem | undefined;

  constructor(
    private readonly host: OutboxHost,
    private readonly timings: Pick<RoomTimings, 'sendWindow' | 'sendRate' | 'sendBurst' | 'sendTimeoutMs'>,
  ) {
    this.#bucket = new TokenBucket(timings.sendRate, timings.sendBurst);
  }

  /** Application messages queued but not yet acknowledged. */
  get unsent(): number {
    return this.#app.length;
  }

  /** Queues an application message; returns its id. */
  enqueue(body: PayloadBody): string {
    const id = randomHex(16);
    // n = 0 until first sent.
    this.queue({ ...body, v: 1, id, n: 0, ts: Date.now() } as Payload);
    return id;
  }

  /** Queues a hidden private message (HiddenBody); returns the id its `sent`/`unsent` will name. */
  enqueueHidden(inner: Uint8Array): string {
    const id = randomHex(16);
    this.queue({ id, inner });
    return id;
  }

  /**
   * Queues again a message reported unsent (same id and counter, so receivers that somehow read it
   * drop the copy). False when no such message is kept (never failed, retried already, or forgotten).
   */
  retry(id: string): boolean {
    const body = this.#failed.get(id);
    if (body === undefined) return false;
    this.#failed.delete(id);
    this.queue(body);
    return true;
  }

  private queue(body: AppBody): void {
    const item: AppItem = { body, reqId: undefined, data: undefined, commits: 0 as RelayEpoch, timer: undefined };
    this.armTimeout(item, this.timings.sendTimeoutMs);
    this.#app.push(item);
    this.schedulePump();
  }

  /**
   * After `ms`, a message still waiting (not in flight: the connection is down, the room not
   * joined) is given up and reported unsent; one in flight, or being encrypted, waits for its answer
   * a little longer. Off the conversation's queue: a long operation there (a slow disk writing the
   * saved session, a large commit) never delays "not sent".
   */
  private armTimeout(item: AppItem, ms: number): void {
    const t = setTimeout(() => {
      if (!this.#app.includes(item)) return;
      if (item.reqId !== undefined || item === this.#sending) return this.armTimeout(item, 5000);
      this.give(item, new ClientError('SEND_TIMED_OUT', 'the message could not be sent in time: not sent'));
    }, ms);
    (t as { unref?: () => void }).unref?.();
    item.timer = t;
  }

  /** Takes a waiting message out of the queue and reports it unsent; kept for `retry`. */
  private give(item: AppItem, e: ClientError): void {
    const i = this.#app.indexOf(item);
    if (i < 0) return;
    this.#app.splice(i, 1);
    clearTimeout(item.timer);
    this.#failed.set(item.body.id, item.body);
    if (this.#failed.size > RETRY_KEPT) this.#failed.delete(this.#failed.keys().next().value!);
    if (this.#app.length === 0) for (const w of this.#flushWaiters.splice(0)) w();
    this.host.unsent(item.body.id, e);
  }

  /** Queues a direct frame (see SendPort.sendDirect). A probe is dropped when the connection drops. */
  direct(target: DirectTarget, seal: () => Promise<Uint8Array>, probe = false): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#direct.push({ target, tried: new Set(), to: undefined, seal, reqId: undefined, resolve, reject, probe });
      this.schedulePump();
    });
  }

  /** Resolves when every queued application message has been acknowledged. */
  flush(): Promise<void> {
    if (this.#app.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  /** Whether this request is a frame of ours waiting for its acknowledgement. */
  owns(reqId: ReqId): boolean {
    return (reqId !== RESTORED && this.#app.some((o) => o.reqId === reqId)) || this.#direct.some((o) => o.reqId === reqId);
  }

  /** Its refusal, when it comes, is expected (a lost commit race): ignored. */
  abandon(reqId: ReqId): void {
    this.#abandoned.add(reqId);
  }

  /** Runs `pump` once on the conversation's queue, however many sends asked for it. */
  schedulePump(delayMs = 0): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    const go = () =>
      this.host.run(() => {
        this.#pumpQueued = false;
        this.#pumpTimer = undefined;
        return this.pump();
      });
    if (delayMs > 0) this.#pumpTimer = setTimeout(go, delayMs);
    else go();
  }

  /**
   * Sends what waits, oldest first: direct frames, then application messages. At most `sendWindow`
   * of each kind unacknowledged, at most `sendRate` per second; whatever waits is picked up by the
   * next ACK or by a timer. Runs on the conversation's queue.
   */
  async pump(): Promise<void> {
    if (!this.host.directOpen()) return;
    if (!(await this.pumpDirect())) return;
    if (!this.host.appOpen()) return;
    // A copy: a message may time out (and leave the queue) while an earlier one is encrypted.
    for (const item of [...this.#app]) {
      if (item.reqId !== undefined || !this.#app.includes(item)) continue;
      if (this.#appInflight >= this.timings.sendWindow) return; // the next ACK pumps again
      if (!this.token()) return;
      this.#sending = item;
      try {
        if (!(await this.sendApp(item))) return this.schedulePump();
      } finally {
        this.#sending = undefined;
      }
    }
  }

  /**
   * Encrypts one message (a hidden private message: wraps it), writes the saved session, sends it;
   * false when it could not be encrypted (dropped, reported).
   */
  private async sendApp(item: AppItem): Promise<boolean> {
    const body = item.body;
    if (!isHidden(body) && body.n === 0) body.n = ++this.#counter;
    let out;
    try {
      out = await (isHidden(body) ? this.host.wrap(body.inner) : this.host.encrypt(encodePayload(body)));
    } catch (e) {
      const err = new ClientError('INTERNAL', 'a message could not be encrypted: not sent', { cause: e });
      this.give(item, err);
      this.host.failed(err);
      return false;
    }
    item.commits = out.commits;
    item.data = out.message; // possibly accepted from now on, until the relay answers (§4.5)
    await this.host.beforeSend(); // a saved session holds the state that encrypted it before it leaves
    this.#appInflight++;
    item.reqId = this.host.request((reqId) => this.host.appFrame(reqId, out.commits, out.message));
    return true;
  }

  /** False when out of tokens (a timer pumps again). */
  private async pumpDirect(): Promise<boolean> {
    for (const item of [...this.#direct]) {
      if (item.reqId !== undefined) continue;
      if (this.#directInflight >= this.timings.sendWindow) return true; // the next ACK pumps again
      if (this.#bucket.waitMs() > 0) return this.token();
      const to = item.target(item.tried);
      if (to === undefined || to === this.host.ownSlot()) {
        this.drop(item, new ClientError('PEER_UNAVAILABLE', 'the member is not in the room now: the message was not sent'));
        continue;
      }
      let data: Uint8Array;
      try {
        data = await item.seal();
      } catch (e) {
        this.drop(item, e);
        continue;
      }
      await this.host.beforeSend(); // as for application messages: saved with the state that sealed it before it leaves
      this.#bucket.take();
      this.#directInflight++;
      item.to = to;
      item.reqId = this.host.request((reqId) => this.host.directFrame(reqId, to as Slot, data));
    }
    return true;
  }

  /** Takes a token, or schedules the next pump for when one is back. */
  private token(): boolean {
    const wait = this.#bucket.waitMs();
    if (wait > 0) {
      this.schedulePump(wait);
      return false;
    }
    this.#bucket.take();
    return true;
  }

  private drop(item: DirectItem, e: unknown): void {
    const i = this.#direct.indexOf(item);
    if (i >= 0) this.#direct.splice(i, 1);
    item.reject(e);
  }

  /** An ACK: true when it was for a frame of ours (an application message's emits `sent`). */
  acked(reqId: ReqId): boolean {
    this.#abandoned.delete(reqId);
    const d = this.#direct.findIndex((o) => o.reqId === reqId);
    if (d >= 0) {
      const [item] = this.#direct.splice(d, 1);
      this.#directInflight--;
      item!.resolve();
      if (this.#direct.length > 0) this.schedulePump();
      return true;
    }
    const i = reqId === RESTORED ? -1 : this.#app.findIndex((o) => o.reqId === reqId);
    return i >= 0 && this.ackApp(i);
  }

  private ackApp(i: number): boolean {
    const [item] = this.#app.splice(i, 1);
    this.#appInflight--;
    item!.data = undefined;
    clearTimeout(item!.timer);
    this.host.sent(item!.body.id);
    if (this.#app.length === 0) for (const w of this.#flushWaiters.splice(0)) w();
    else this.schedulePump();
    return true;
  }

  /** A message of ours the relay replayed after a RESUME (§4.5): the one in flight with these bytes is acknowledged. */
  ackedByData(data: Uint8Array): boolean {
    const i = this.#app.findIndex((o) => o.reqId !== undefined && o.data !== undefined && equalBytes(o.data, data));
    return i >= 0 && this.ackApp(i);
  }

  /** What a saved session keeps (roomSession.ts): every message not yet acknowledged, with the ciphertext in flight. */
  saved(): { counter: number; messages: SavedMessage[] } {
    return { counter: this.#counter, messages: this.#app.map((o) => ({ body: o.body, data: o.data })) };
  }

  /**
   * Takes up a saved session's messages: those with a ciphertext count as in flight (the relay's
   * replay after RESUME acknowledges the ones it accepted), the rest wait; all keep id and counter.
   */
  restore(counter: number, messages: readonly SavedMessage[]): void {
    this.#counter = Math.max(this.#counter, counter);
    for (const m of messages) {
      const inflight = m.data !== undefined;
      const item: AppItem = {
        body: m.body,
        reqId: inflight ? RESTORED : undefined,
        data: m.data,
        commits: 0 as RelayEpoch,
        timer: undefined,
      };
      if (inflight) this.#appInflight++;
      this.armTimeout(item, this.timings.sendTimeoutMs);
      this.#app.push(item);
    }
  }

  /** Whether this refusal was expected (abandoned): consumed. */
  wasAbandoned(reqId: ReqId): boolean {
    return this.#abandoned.delete(reqId);
  }

  /** An ERROR for `reqId`, named `relayCode`: true when it was for a frame of ours. Nothing is silently dropped. */
  refusedFrame(reqId: ReqId, relayCode: string): boolean {
    if (reqId === RESTORED) return false; // ERROR{reqId 0} concerns the connection, never a restored message
    const d = this.#direct.findIndex((o) => o.reqId === reqId);
    if (d >= 0) {
      this.directRefused(this.#direct[d]!, relayCode);
      return true;
    }
    const item = this.#app.find((o) => o.reqId === reqId);
    if (item === undefined) return false;
    item.reqId = undefined; // retried later
    item.data = undefined;
    this.#appInflight--;
    if (relayCode === 'RATE_LIMITED') {
      this.#bucket.drain(); // the relay is stricter than we thought: back off for a while
      this.schedulePump();
    } else this.host.refused(relayCode);
    return true;
  }

  private directRefused(item: DirectItem, name: string): void {
    this.#directInflight--;
    if (
      name === 'RATE_LIMITED' ||
      (name === 'NO_SUCH_PEER' && item.to !== undefined && item.target(new Set([...item.tried, item.to])) !== undefined)
    ) {
      // Sent again later, like room messages; or, when the peer has another leaf (it reconnected
      // and its old one has not been removed yet), to that one.
      if (name === 'NO_SUCH_PEER') item.tried.add(item.to!);
      item.reqId = undefined;
      if (name === 'RATE_LIMITED') this.#bucket.drain();
      this.schedulePump(name === 'RATE_LIMITED' ? 1000 / this.timings.sendRate : 0);
      return;
    }
    this.drop(
      item,
      name === 'NO_SUCH_PEER'
        ? new ClientError('PEER_UNAVAILABLE', 'the member is not connected to the room now: the message was not delivered', {
            relayCode: name,
          })
        : new ClientError('RELAY_ERROR', `the relay refused a direct message: ${name}`, { relayCode: name }),
    );
    if (this.#direct.length > 0) this.schedulePump();
  }

  /**
   * A commit was sequenced: our unacknowledged application messages sent under an earlier relay
   * sequence number are refused (STALE_EPOCH, expected); they are re-sent, in order, in the new epoch.
   */
  commitSequenced(commits: RelayEpoch): void {
    for (const item of this.#app) {
      if (item.reqId !== undefined && item.commits < commits) {
        this.#abandoned.add(item.reqId);
        item.reqId = undefined;
        item.data = undefined;
        this.#appInflight--;
      }
    }
  }

  /** The connection dropped (or the conversation starts again): everything unacknowledged is sent again once joined; probes are dropped. */
  reset(): void {
    if (this.#pumpTimer !== undefined) clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    this.#pumpQueued = false;
    for (const item of this.#app) {
      item.reqId = undefined; // receivers drop duplicates by id
      item.data = undefined;
    }
    this.#appInflight = 0;
    for (let i = this.#direct.length - 1; i >= 0; i--) if (this.#direct[i]!.probe) this.#direct.splice(i, 1); // a rejoin probes afresh
    for (const item of this.#direct) item.reqId = undefined; // sealed and sent again; the peer drops duplicates by id
    this.#directInflight = 0;
    this.#abandoned.clear();
  }

  /** The conversation was left: messages not yet sent are reported unsent, flush waiters go, direct frames fail with `reason`. */
  close(reason: ClientError): void {
    for (const item of [...this.#app]) this.give(item, reason);
    for (const w of this.#flushWaiters.splice(0)) w();
    for (const d of this.#direct.splice(0)) d.reject(reason);
  }
}
