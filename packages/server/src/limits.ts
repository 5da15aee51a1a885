import { defaultCodecLimits } from '@nullroom/protocol';

/** Everything the relay bounds, with safe defaults (docs/PROTOCOL.md §4.1). */
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
  /** A connection that misses a pong for one interval is closed: dead peers are announced within ~2 intervals. */
  pingIntervalMs: number;
  /** Unsent bytes queued for one connection before it is closed as a slow consumer. */
  maxBufferedBytes: number;
}

export const defaultRelayLimits: Readonly<RelayLimits> = Object.freeze({
  maxFrameBytes: defaultCodecLimits.maxFrameBytes,
  maxPayloadBytes: defaultCodecLimits.maxPayloadBytes,
  maxMembersPerRoom: 1000,
  maxRoomsPerConnection: 16,
  maxConnections: 10_000,
  ratePerSecond: 100,
  rateBurst: 200,
  pingIntervalMs: 2500,
  maxBufferedBytes: 8 * 1024 * 1024,
});
