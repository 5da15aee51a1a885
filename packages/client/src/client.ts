/**
 * The client SDK's connection: one WebSocket to one relay, any number of rooms over it, automatic
 * reconnection with backoff (rooms rejoin by themselves and re-send what was not acknowledged).
 */
import {
  type ClientFrame,
  ProtocolError,
  type ReqId,
  SUBPROTOCOL,
  asReqId,
  decodeRelayFrame,
  encodeFrame,
  errorNameOf,
  locatorKey,
} from '@nullroom/protocol';
import { type RoomSecret, RoomGroup, type SuiteName, Suites, deriveRoomKeys } from '@nullroom/crypto';
import { ClientError } from './errors.js';
import { Emitter } from './emitter.js';
import { Room, type RoomLink, type RoomTimings, defaultRoomTimings } from './room.js';
import { type KeyStore, MemoryKeyStore } from './keyStore.js';
import { type SessionStore, type StaySnapshot, decodeSnapshot, encodeSnapshot } from './roomSession.js';
import { toHex } from './encoding.js';
import { type WebSocketFactory, type WebSocketLike, relaySocketUrl } from './transport.js';

export type ConnectionState = 'connecting' | 'online' | 'reconnecting' | 'closed';

export interface ClientOptions {
  /** The relay URL as `nullroom serve` prints it (http(s)://host:port). */
  url: string;
  /**
   * Other nodes of the same relay cluster (docs/OPERATING.md "Several nodes"): a connection that
   * drops is opened again on the next one in turn, and the first connection tries each in turn.
   */
  fallbackUrls?: readonly string[];
  webSocket: WebSocketFactory;
  /** Reconnect after an unexpected drop (default true). */
  reconnect?: boolean;
  /** Cipher suite for rooms this client creates (joiners follow the room's suite). */
  suite?: SuiteName;
  timings?: Partial<RoomTimings>;
  /** Identity keys and what we know of members' keys (default: in memory for this process). */
  keyStore?: KeyStore;
  /**
   * Where each joined room's stay is written (sealed by the store), to be taken up after a restart
   * with `restore` (roomSession.ts; docs/PROTOCOL.md §4.5). Default: none, nothing is written.
   */
  sessions?: SessionStore;
}

export interface ClientEvents extends Record<string, unknown> {
  connection: { state: ConnectionState; error?: ClientError };
  error: { code: 'RELAY_ERROR'; message: string; relayCode: string };
}

export class NullroomClient extends Emitter<ClientEvents> implements RoomLink {
  private ws: WebSocketLike | undefined;
  private state: ConnectionState = 'connecting';
  private nextReq = 1;
  private readonly requests = new Map<number, Room>();
  private readonly rooms = new Map<string, Room>();
  private readonly timings: RoomTimings;
  private backoff = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly urls: readonly string[];
  /** The node connected to (or tried) now, in `urls`. */
  private at = 0;
  private everOnline = false;
  private readonly keyStore: KeyStore;

  constructor(private readonly opts: ClientOptions) {
    super();
    this.urls = [opts.url, ...(opts.fallbackUrls ?? [])].map(relaySocketUrl);
    this.timings = { ...defaultRoomTimings, ...opts.timings };
    this.keyStore = opts.keyStore ?? new MemoryKeyStore();
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  /** Opens the first connection; rejects with ClientError(CONNECTION_FAILED) if the relay cannot be reached. */
  connect(): Promise<void> {
    const attempt = (left: number): Promise<void> =>
      new Promise<void>((resolve, reject) => this.open(resolve, reject)).catch((e: unknown) => {
        if (left <= 1 || !(e instanceof ClientError) || e.code !== 'CONNECTION_FAILED') throw e;
        this.at = (this.at + 1) % this.urls.length;
        this.state = 'connecting';
        return attempt(left - 1);
      });
    return attempt(this.urls.length);
  }

  /**
   * Joins (or creates) the room for `secret` under `nick`; resolves once joined. `onRoom` gets the
   * Room as soon as it exists, before it has joined, to show what happens while joining
   * (`repair-wait`, docs/PROTOCOL.md §4.3). A listener for `error` or `key-changed` added there
   * takes the events the Room would otherwise hold for the first listener after `join` resolves.
   */
  async join(opts: { secret: RoomSecret; nick: string; suite?: SuiteName; onRoom?: (room: Room) => void }): Promise<Room> {
    if (this.state === 'closed') throw new ClientError('CLOSED', 'the client was closed');
    const keys = await deriveRoomKeys(opts.secret);
    if (this.rooms.has(locatorKey(keys.locator))) throw new ClientError('ALREADY_JOINED', 'this client is in that room already');
    const crypto = await RoomGroup.create(
      keys,
      opts.suite ?? this.opts.suite ?? Suites.default,
      await this.keyStore.identity(keys.locator, opts.nick),
    );
    const room = new Room(crypto, opts.nick, this, this.timings, this.keyStore, this.sessionOf(opts.secret, keys.locator));
    this.rooms.set(locatorKey(keys.locator), room);
    opts.onRoom?.(room);
    const joined = room.whenJoined();
    if (this.state === 'online') room.start(false);
    await joined;
    return room;
  }

  /**
   * Takes up a room from a session `sessions` saved (after a reload): the room resumes its slot
   * (RESUME, §4.5) as soon as the client is online, or joins afresh if the relay cannot give it back
   * (RESUME_FAILED). Rejects with ClientError(SESSION_INVALID) for a snapshot that does not parse or
   * open, (ALREADY_JOINED) if that room is open here already.
   */
  async restore(snapshot: Uint8Array): Promise<Room> {
    if (this.state === 'closed') throw new ClientError('CLOSED', 'the client was closed');
    const s = decodeSnapshot(snapshot);
    const secret = s.secret as RoomSecret;
    const keys = await deriveRoomKeys(secret);
    const key = locatorKey(keys.locator);
    if (this.rooms.has(key)) throw new ClientError('ALREADY_JOINED', 'this client is in that room already');
    let room: Room;
    try {
      const crypto = await RoomGroup.create(keys, s.suite, await this.keyStore.identity(keys.locator, s.requestedNick));
      room = await Room.restore(crypto, s, this, this.timings, this.keyStore, this.sessionOf(secret, keys.locator));
    } catch (e) {
      throw new ClientError('SESSION_INVALID', 'a saved session does not open for its room: it is not used', { cause: e });
    }
    this.rooms.set(key, room);
    if (this.state === 'online') room.start(true);
    return room;
  }

  /**
   * The room a saved session is for (its locator, hex: the key `sessions` stores it under), without
   * taking it up, so that an app can claim the room first (a browser: one tab per room). Rejects
   * with ClientError(SESSION_INVALID) for a snapshot that does not parse.
   */
  static async snapshotRoom(snapshot: Uint8Array): Promise<string> {
    return toHex((await deriveRoomKeys(decodeSnapshot(snapshot).secret as RoomSecret)).locator);
  }

  /** Leaves every room and closes the connection. */
  async close(): Promise<void> {
    await Promise.all([...this.rooms.values()].map((r) => r.leave(2000).catch(() => undefined)));
    this.setState('closed');
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    for (const r of this.rooms.values()) r.closed();
    this.ws?.close(1000, 'bye');
    this.ws = undefined;
  }

  // ---- RoomLink ----

  request(room: Room, build: (reqId: ReqId) => ClientFrame): ReqId {
    const reqId = asReqId(this.nextReq);
    this.nextReq = this.nextReq >= 0xffff_fffe ? 1 : this.nextReq + 1;
    this.requests.set(reqId, room);
    this.sendFrame(build(reqId));
    return reqId;
  }

  online(): boolean {
    return this.ws !== undefined && this.ws.readyState === 1;
  }

  detach(room: Room): void {
    this.rooms.delete(locatorKey(room.locator));
    for (const [id, r] of this.requests) if (r === room) this.requests.delete(id);
  }

  // ---- internals ----

  /** Writes (or, given nothing, removes) one room's saved session, with its secret; undefined without a store. */
  private sessionOf(secret: RoomSecret, locator: Uint8Array) {
    const store = this.opts.sessions;
    if (store === undefined) return undefined;
    const key = toHex(locator);
    return (stay: StaySnapshot | undefined): Promise<void> =>
      stay === undefined ? store.remove(key) : store.save(key, encodeSnapshot({ ...stay, secret, savedAt: Date.now() }));
  }

  private sendFrame(f: ClientFrame): void {
    if (this.ws === undefined || this.ws.readyState !== 1) return; // rooms re-send after reconnecting
    this.ws.send(encodeFrame(f));
  }

  private setState(s: ConnectionState, error?: ClientError): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('connection', error === undefined ? { state: s } : { state: s, error });
  }

  private open(onOpen?: () => void, onFail?: (e: unknown) => void): void {
    let ws: WebSocketLike;
    try {
      ws = this.opts.webSocket(this.urls[this.at]!, SUBPROTOCOL);
    } catch (e) {
      onFail?.(new ClientError('CONNECTION_FAILED', 'cannot open a connection to the relay', { cause: e }));
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let opened = false;
    let lastError: unknown;
    ws.onopen = () => {
      opened = true;
      this.backoff = 0;
      this.requests.clear();
      this.setState('online');
      onOpen?.();
      for (const r of this.rooms.values()) r.start(this.everOnline);
      this.everOnline = true;
    };
    ws.onerror = (e) => {
      lastError = (e as { error?: unknown }).error ?? e;
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (!opened && onFail !== undefined) {
        const pin = lastError instanceof ClientError ? lastError : undefined;
        const err = pin ?? new ClientError('CONNECTION_FAILED', describe(lastError), { cause: lastError, closeCode: ev.code });
        this.setState('closed', err);
        onFail(err);
        return;
      }
      if (this.state === 'closed') return;
      for (const r of this.rooms.values()) r.disconnected();
      if (this.opts.reconnect === false) {
        this.setState('closed', new ClientError('CLOSED', 'the relay closed the connection', { closeCode: ev.code }));
        for (const r of this.rooms.values()) r.closed(ev.code);
        return;
      }
      this.setState('reconnecting');
      // Another node of the cluster, if there are others: this one may be the one that went away.
      this.at = (this.at + 1) % this.urls.length;
      const delay = Math.min(5000, 250 * 2 ** this.backoff++) * (0.5 + Math.random() / 2);
      this.reconnectTimer = setTimeout(() => this.open(), delay);
    };
    ws.onmessage = (ev) => this.onMessage(ev.data);
  }

  private onMessage(data: unknown): void {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : undefined;
    if (bytes === undefined) return this.protocolViolation(new ProtocolError('BAD_VALUE', 'text frame'));
    let f;
    try {
      f = decodeRelayFrame(bytes);
    } catch (e) {
      return this.protocolViolation(e);
    }
    if (f.type === 'ACK' || f.type === 'ERROR') {
      const room = this.requests.get(f.reqId);
      this.requests.delete(f.reqId);
      if (room !== undefined) return room.handle(f);
      if (f.type === 'ERROR') {
        const relayCode = errorNameOf(f.code) ?? `code ${f.code}`;
        this.emit('error', { code: 'RELAY_ERROR', message: `the relay reported: ${relayCode}`, relayCode });
      }
      return;
    }
    if (f.type === 'TICKET_GRANT') this.requests.delete(f.reqId);
    this.rooms.get(locatorKey(f.room))?.handle(f);
  }

  /** The relay sent bytes that are not a frame: drop the connection and reconnect (the relay is faulty or hostile). */
  private protocolViolation(e: unknown): void {
    const code = e instanceof ProtocolError ? e.code : 'BAD_VALUE';
    this.emit('error', { code: 'RELAY_ERROR', message: `the relay sent an invalid frame (${code})`, relayCode: code });
    this.ws?.close(4400, 'malformed');
  }
}

function describe(e: unknown): string {
  const code = (e as { code?: unknown } | undefined)?.code;
  const msg = e instanceof Error ? e.message : '';
  if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME/.test(code)) return `TLS failed: ${code}`;
  if (typeof code === 'string') return `cannot connect to the relay: ${code}`;
  return msg !== '' ? `cannot connect to the relay: ${msg}` : 'cannot connect to the relay';
}
