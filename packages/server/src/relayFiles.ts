/**
 * The relay's files, as relay.ts opens them: the blob store (blobHttp.ts) with the tickets a PUT
 * may carry (the rooms', tickets.ts; the account devices', accountTickets.ts), and on a node of a
 * cluster the blob routes that serve the files other nodes hold (cluster/blobRoutes.ts).
 */
import type { IncomingMessage } from 'node:http';
import { addressKey, clientAddress } from './address.js';
import type { AccountTicketStore } from './accounts/accountShared.js';
import { BlobHttp, type TicketCheck } from './blobHttp.js';
import { type ClusterParts, type Hub, openRoutes } from './cluster/clusterFiles.js';
import { RelayConfigError } from './configError.js';
import { securityHeaders } from './http.js';
import { relayLogger } from './logger.js';
import type { RelayOptions } from './relay.js';
import type { Tickets } from './tickets.js';

async function openBlobs(opts: RelayOptions, tls: boolean, tickets: TicketCheck, trustProxy: boolean, hub: Hub): Promise<BlobHttp> {
  try {
    // A request another node forwarded counts against the client address it vouches for (cluster/forwardAuth.ts).
    return await BlobHttp.open(
      opts.blobs || {},
      securityHeaders(tls),
      relayLogger(opts.log),
      tickets,
      (req) => hub.routes?.trustedAddress(req) ?? addressKey(clientAddress(req, trustProxy)),
    );
  } catch (e) {
    throw new RelayConfigError(`blob store: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * The blob store, with the rooms' tickets and (with accounts) the account devices' (§9.3): a PUT's
 * ticket may be either; on a node of a cluster, also a room ticket another node issued.
 */
export async function openFiles(
  opts: RelayOptions,
  tls: boolean,
  tickets: Tickets | undefined,
  trustProxy: boolean,
  accountTickets: AccountTicketStore | undefined,
  cluster: ClusterParts,
) {
  const { hub, node, limits } = cluster;
  if (tickets === undefined) return { blobs: undefined, files: undefined, routes: undefined };
  // Each awaited: an account's ticket is a Promise (it may be looked up in Redis).
  const check: TicketCheck = {
    check: async (h) => tickets.check(h) ?? (await accountTickets?.check(h)) ?? (await hub.routes?.remoteTicket(h)),
  };
  const blobs = await openBlobs(opts, tls, check, trustProxy, hub);
  const addressOf = (req: IncomingMessage) => addressKey(clientAddress(req, trustProxy));
  hub.routes = await openRoutes(relayLogger(opts.log), node, blobs, tickets, addressOf, limits);
  return { blobs, files: accountTickets === undefined ? undefined : { blobs, tickets: accountTickets }, routes: hub.routes };
}
