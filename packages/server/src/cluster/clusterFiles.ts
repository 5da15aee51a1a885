/**
 * A cluster node's files (docs/PROTOCOL.md §12 "Files across nodes"), as the relay (relay.ts) opens
 * them: where the other nodes reach this one, the blob routes (blobRoutes.ts), and the blob quotas
 * held with the other nodes (blobQuotaShare.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { BlobHttp } from '../blobHttp.js';
import { RelayConfigError } from '../configError.js';
import { isLoopback } from '../address.js';
import type { RelayLimits } from '../limits.js';
import type { RelayLogger } from '../logger.js';
import type { Peer } from '../roomState.js';
import type { Tickets } from '../tickets.js';
import { RedisQuotaShare } from './blobQuotaShare.js';
import { BlobRoutes } from './blobRoutes.js';
import type { RedisLink, RedisLinkOptions } from './redisLink.js';

/** The blob routes of a cluster node, once open (they and the rooms' tickets refer to each other). */
export interface Hub {
  routes?: BlobRoutes;
  /** ClusterOptions.advertiseUrl, checked (advertiseUrl); else the URL the relay listens on. */
  readonly advertise?: string;
}

/** What the relay's blob store needs of the cluster (nothing when the relay is not a node of one). */
export interface ClusterParts {
  readonly hub: Hub;
  readonly node: { link: RedisLink; id: string } | undefined;
  readonly limits: RelayLimits;
}

/** The rooms' tickets, each known to every node (blobRoutes.ts) before the relay grants it. */
export function announcing(tickets: Tickets, hub: Hub) {
  return {
    issue: async (peer: Peer, stay: object, room: string): Promise<Uint8Array> => {
      const t = tickets.issue(peer, stay, room);
      await hub.routes?.ticketIssued(t, room);
      return t;
    },
  };
}

export interface ClusterOptions extends RedisLinkOptions {
  /**
   * Where the other nodes reach this one for the files it holds ("https://node-b.internal:8443";
   * docs/PROTOCOL.md §12 "Files across nodes"). Default: the URL the relay listens on; a node
   * listening on every address (0.0.0.0, ::) must give it.
   */
  advertiseUrl?: string;
}

/**
 * A cluster node's blob routes: files held by another node are fetched from it; and its blob
 * quotas of rooms, accounts and addresses are held with the other nodes' from now on.
 */
export async function openRoutes(
  log: RelayLogger,
  node: { link: RedisLink; id: string } | undefined,
  blobs: BlobHttp | undefined,
  tickets: Tickets | undefined,
  addressOf: (req: IncomingMessage) => string,
  limits: RelayLimits,
): Promise<BlobRoutes | undefined> {
  if (node === undefined || blobs === undefined || tickets === undefined) return undefined;
  const heartbeatMs = 4 * limits.pingIntervalMs; // as ClusterRooms writes it
  const share = new RedisQuotaShare({ redis: node.link.commands, prefix: node.link.prefix, node: node.id, heartbeatMs, log });
  await blobs.shareQuotas(share).catch((e: unknown) => {
    throw new RelayConfigError(`cluster blob quotas: ${e instanceof Error ? e.message : String(e)}`);
  });
  return BlobRoutes.open({
    redis: node.link.commands,
    prefix: node.link.prefix,
    node: node.id,
    blobs,
    tickets,
    addressOf,
    pingIntervalMs: limits.pingIntervalMs,
    log,
  }).catch((e: unknown) => {
    throw new RelayConfigError(`cluster files: ${e instanceof Error ? e.message : String(e)}`);
  });
}

/** Where the other nodes of a cluster reach this one (ClusterOptions.advertiseUrl); undefined: the URL it listens on. */
export function advertiseUrl(cluster: ClusterOptions | undefined, noBlobs: boolean, host: string): string | undefined {
  const given = cluster?.advertiseUrl;
  if (cluster === undefined || noBlobs) return undefined;
  if (given === undefined) {
    if (['0.0.0.0', '::', '[::]', ''].includes(host))
      throw new RelayConfigError(`a cluster node listening on every address (${host}) needs advertiseUrl: where the other nodes reach it`);
    return undefined;
  }
  let u: URL;
  try {
    u = new URL(given);
  } catch {
    throw new RelayConfigError('advertiseUrl must be a URL such as https://node-b.internal:8443');
  }
  const bare = u.username === '' && u.password === '' && (u.pathname === '/' || u.pathname === '') && u.search === '' && u.hash === '';
  if (!bare || (u.protocol !== 'https:' && u.protocol !== 'http:'))
    throw new RelayConfigError('advertiseUrl is a scheme and a host (and port), such as https://node-b.internal:8443');
  if (u.protocol === 'http:' && !isLoopback(u.hostname))
    throw new RelayConfigError('advertiseUrl on plain http must name loopback: other machines reach a node over https');
  return u.origin;
}
