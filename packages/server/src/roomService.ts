/**
 * What a connection and the relay need of the rooms, whoever keeps them: the in-process Rooms of
 * one relay (rooms.ts) or rooms shared by relay nodes through Redis (cluster/clusterRooms.ts). One
 * contract test suite (test/roomService.contract.ts) holds both to the same behaviour.
 */
import type { ClientFrame } from '@nullroom/protocol';
import type { Account, AddressFrames } from './budget.js';
import type { Peer } from './roomState.js';

export interface RoomService {
  /** A frame from a connection, in the order the connection sent them. */
  handle(peer: Peer, f: ClientFrame): void;
  /** The connection is gone: its slots go away (docs/PROTOCOL.md §4.5). */
  drop(peer: Peer): void;
  /** Once per ping interval: grace periods and deadlines that ended, old log entries. `now`: Date.now(). */
  expire(now: number): void;
  /** Takes back what a store kept (a restart). */
  restore(): void;
  /**
   * The relay is stopping: its connections closing from now on leave their slots resumable. The
   * promise settles once that holds for every node (a shared room service hands them on).
   */
  stop(): Promise<void>;
  /** After the relay closed: lets go of what the service holds open (Redis connections). */
  close(): void;
  /** The connection's current stay in the room with this locator key (a later stay is another object). */
  stayOf(peer: Peer, key: string): object | undefined;
  /** Rooms held here (shared rooms: those with a connection of this node). */
  readonly size: number;
  /** Bytes of GroupInfos and logs held in this process (not those a shared service keeps in Redis). */
  readonly groupInfoBytes: number;
  readonly logBytes: number;
  /** False while the rooms cannot be served (a shared service that lost Redis). */
  ready(): boolean;
  /** Shared rooms: WebSocket connections per address counted over all nodes. */
  readonly connections?: SharedConnections;
}

/** Connections of one address over all relay nodes (the per-address cap, docs/PROTOCOL.md §12). */
export interface SharedConnections {
  /** Counts one more for the address if it holds fewer than `max` in all; false: refuse. */
  take(account: Account, max: number): Promise<boolean>;
  release(account: Account): void;
  /** The address frame buckets, shared by the nodes as well. */
  readonly frames: AddressFrames;
}
