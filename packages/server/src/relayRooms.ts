/**
 * The relay's rooms, as relay.ts opens them: one relay's own (rooms.ts, with its store), or shared
 * with other relay nodes through Redis (cluster/clusterRooms.ts, loaded only then), with the blob
 * upload tickets that live as long as a stay in them.
 */
import type { RelayOptions } from './relay.js';
import { RelayConfigError } from './configError.js';
import type { RelayLimits } from './limits.js';
import { relayLogger } from './logger.js';
import type { Output } from './output.js';
import { Rooms } from './rooms.js';
import type { RoomService } from './roomService.js';
import type { RoomStore } from './roomStore.js';
import { Tickets } from './tickets.js';
import { type Hub, announcing } from './cluster/clusterFiles.js';

export const roomStats = (rooms: RoomService, output: Output) => ({
  rooms: rooms.size,
  outputBytes: output.backlog(),
  groupInfoBytes: rooms.groupInfoBytes,
  logBytes: rooms.logBytes,
});

const wrapFrame = (f: Uint8Array): Uint8Array => Buffer.from(f.buffer, f.byteOffset, f.byteLength);

/**
 * The rooms, with the blob upload tickets (docs/PROTOCOL.md §9.1; only with a blob store), each
 * living as long as the stay it was issued for (RoomService.stayOf).
 */
export async function openRooms(opts: RelayOptions, limits: RelayLimits, store: RoomStore, advertise: string | undefined) {
  const shared: { rooms?: RoomService } = {};
  const hub: Hub = advertise === undefined ? {} : { advertise };
  const tickets = opts.blobs !== false ? new Tickets((p, r) => shared.rooms?.stayOf(p, r)) : undefined;
  const { rooms, node } = await roomService(opts, limits, tickets, store, hub);
  shared.rooms = rooms;
  return { rooms, tickets, node, hub };
}

/** The rooms of this relay alone (in process, with its store), or shared with other nodes through Redis. */
async function roomService(opts: RelayOptions, limits: RelayLimits, tickets: Tickets | undefined, store: RoomStore, hub: Hub) {
  if (opts.cluster === undefined) return { rooms: new Rooms(limits, wrapFrame, tickets, undefined, store) as RoomService, node: undefined };
  if (opts.store !== undefined)
    throw new RelayConfigError('a room store and a cluster exclude each other: the cluster keeps its rooms in Redis');
  const { RedisLink } = await import('./cluster/redisLink.js');
  const { ClusterRooms } = await import('./cluster/clusterRooms.js');
  const link = await RedisLink.open(opts.cluster).catch((e: unknown) => {
    throw new RelayConfigError(`cannot reach Redis for the cluster: ${e instanceof Error ? e.message : String(e)}`);
  });
  // A ticket is known to every node (cluster/blobRoutes.ts) before it is granted.
  const rooms = new ClusterRooms(limits, wrapFrame, link, tickets && announcing(tickets, hub), relayLogger(opts.log));
  return { rooms: rooms as RoomService, node: { link, id: rooms.node } };
}
