import { defaultCodecLimits } from '@nullroom/protocol';

/** Everything the relay bounds, with safe defaults (docs/PROTOCOL.md §4.1, docs/OPERATING.md "Limits"). */
export interface RelayLimits {
  /** Largest WebSocket message, in bytes (ws closes with 1009 above it, before buffering it). */
  maxFrameBytes: number;
  /** Largest opaque field (MLS message, sealed GroupInfo). */
  maxPayloadBytes: number;
  maxMembersPerRoom: number;
  maxRoomsPerConnection: number;
  maxConnections: number;
  /** Frames per second per connection (token bucket rate)... */
  ratePerSecond: number;
  /** ...and its bucket size. */
  rateBurst: number;
  /**
   * Frames per second for all connections from one address together (token bucket rate), so a
   * flood does not scale with the connections an address may open. Unset: 10 x ratePerSecond.
   */
  addressRatePerSecond?: number;
  /** ...and its bucket size. Unset: 10 x rateBurst. */
  addressRateBurst?: number;
  /**
   * COMMITs the relay accepts from one connection: a token bucket of this size (each accepted
   * commit takes a token; over it: RATE_LIMITED). Honest members commit rarely: a join, removals,
   * a self-update every 10 min, repairs after a void commit (docs/PROTOCOL.md §4.3)...
   */
  commitBurst: number;
  /** ...refilled by one token per this many milliseconds. */
  commitIntervalMs: number;
  /** COMMITs accepted from all connections of one address together: bucket size... */
  commitBurstPerAddress: number;
  /** ...refilled by one token per this many milliseconds. */
  commitIntervalPerAddressMs: number;
  /**
   * One ping (with a fresh random payload) per interval; a connection whose pong did not echo the
   * previous ping's payload is closed: dead peers are announced within ~2 intervals. The same timer
   * checks every connection's output backlog.
   */
  pingIntervalMs: number;
  /** Unsent bytes queued for one connection before it is closed as a slow consumer. */
  maxBufferedBytes: number;
  /**
   * Unsent bytes queued for all connections together (each connection's backlog counted in full,
   * even where frames share one buffer). Past it, the connections with the largest backlogs are
   * closed as slow consumers until the total is back under it.
   */
  maxOutputBytes: number;
  /** Sealed GroupInfos stored for all rooms together; a CREATE or COMMIT past it is refused (OVER_BUDGET). */
  maxGroupInfoBytes: number;
  /** ...and for the rooms whose current GroupInfo came from one address. */
  maxGroupInfoBytesPerAddress: number;
  /** WebSocket connections from one address (IPv4 address or IPv6 /64); more get 503. */
  maxConnectionsPerAddress: number;
  /** Room memberships held by all connections from one address (ADDRESS_LIMIT). */
  maxRoomsPerAddress: number;
  /**
   * JOINs that create a room record (a locator nobody is in: a new room, or a wrong password
   * guess) per address: a token bucket of this size (TOO_MANY_NEW_ROOMS)...
   */
  newRoomBurst: number;
  /** ...refilled by one token per this many milliseconds. */
  newRoomIntervalMs: number;
  /** The subscriber told to CREATE has this long to do it; then every subscriber may create, and the first CREATE wins. */
  createTimeoutMs: number;
  /**
   * How long a slot whose connection was lost without LEAVE stays *away*, resumable with RESUME,
   * before it is removed and PEER_GONE sent (docs/PROTOCOL.md §4.5). Checked once per ping
   * interval. 0: a lost connection leaves at once.
   */
  resumeGraceMs: number;
  /**
   * Bytes of a room's log (its encoded DELIVER frames, kept resumeGraceMs + 2 x pingIntervalMs,
   * and the DIRECT frames held for its away slots); past it the oldest deliveries are dropped.
   */
  maxLogBytesPerRoom: number;
  /** ...and for all rooms together: past it the oldest deliveries of the room with the largest log are dropped. */
  maxLogBytes: number;
  /**
   * TCP connections from one address that are not (yet) WebSockets: waiting for a request head,
   * serving a request, or idle between requests. More are answered 503 and closed at accept.
   * Not applied with trustProxy (every connection comes from the proxy then).
   */
  maxHttpConnectionsPerAddress: number;
  /** ...and from all addresses together. */
  maxHttpConnections: number;
  /** HTTP: the whole request head must arrive within this time (slowloris), else 408. */
  headersTimeoutMs: number;
  /** HTTP: the whole request, body included, within this time (Node's default; blob bodies are paced in blobs.ts). */
  requestTimeoutMs: number;
  /** HTTP: an idle keep-alive connection is closed after this time. */
  keepAliveTimeoutMs: number;
  /** HTTP: at most this many request headers are parsed (the rest are ignored). */
  maxHeadersCount: number;
  /** HTTP: the request line and headers together, in bytes; more gets 431. */
  maxHeaderBytes: number;
}

export const defaultRelayLimits: Readonly<RelayLimits> = Object.freeze({
  maxFrameBytes: defaultCodecLimits.maxFrameBytes,
  maxPayloadBytes: defaultCodecLimits.maxPayloadBytes,
  maxMembersPerRoom: 1000,
  maxRoomsPerConnection: 16,
  maxConnections: 10_000,
  ratePerSecond: 100,
  rateBurst: 200,
  commitBurst: 5,
  commitIntervalMs: 2000,
  commitBurstPerAddress: 50,
  commitIntervalPerAddressMs: 500,
  pingIntervalMs: 2500,
  maxBufferedBytes: 8 * 1024 * 1024,
  maxOutputBytes: 256 * 1024 * 1024,
  maxGroupInfoBytes: 256 * 1024 * 1024,
  maxGroupInfoBytesPerAddress: 32 * 1024 * 1024,
  maxConnectionsPerAddress: 256,
  maxRoomsPerAddress: 1024,
  newRoomBurst: 20,
  newRoomIntervalMs: 3000,
  createTimeoutMs: 5_000,
  resumeGraceMs: 120_000,
  maxLogBytesPerRoom: 16 * 1024 * 1024,
  maxLogBytes: 256 * 1024 * 1024,
  maxHttpConnectionsPerAddress: 128,
  maxHttpConnections: 2048,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 5_000,
  maxHeadersCount: 64,
  maxHeaderBytes: 16 * 1024,
});
