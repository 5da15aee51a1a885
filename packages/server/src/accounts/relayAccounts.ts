/**
 * The accounts of a relay put together (relay.ts loads this only for a relay with accounts): the API
 * under /api/, the account channels, and what joins them: a change made through the API reaches
 * the channels it concerns on every node (notices, presence, removed devices), and a removed device
 * loses its blob ticket. Relay nodes (`cluster`) also tell each other of a deleted account, so that
 * every node's blob store drops its blobs (the blobs stay each node's, docs/PROTOCOL.md §12).
 */
import { type AccountFiles, accountBlobTickets, accountKey } from '../accountTickets.js';
import type { RelayLimits } from '../limits.js';
import type { RelayLogger } from '../logger.js';
import { AccountsHttp, type AccountsOptions } from './accountsHttp.js';
import type { AccountShared } from './accountShared.js';
import { accountChannels } from './channelUpgrade.js';

export async function wireAccounts(
  opts: AccountsOptions,
  cluster: boolean,
  headers: Readonly<Record<string, string>>,
  log: RelayLogger,
  limits: RelayLimits,
  files: AccountFiles | undefined,
  shared: AccountShared,
) {
  const { bus } = shared;
  const others = cluster ? (user: string) => bus.publish({ type: 'deleted', user }) : undefined;
  const blobTickets = files === undefined ? {} : { blobTickets: accountBlobTickets(files.tickets, files.blobs, others) };
  const http = await AccountsHttp.open({ ...opts, ...blobTickets }, headers, log, shared);
  const channels = accountChannels(
    opts.store,
    { channel: opts.channelLimits, conversation: opts.conversationLimits },
    { maxFrameBytes: limits.maxFrameBytes, maxPayloadBytes: limits.maxPayloadBytes },
    bus,
  );
  if (others !== undefined && files !== undefined) {
    bus.listen((e) => {
      if (e.type === 'deleted') void files.blobs.removeAll(accountKey(e.user)).catch(() => undefined);
    });
  }
  http.notify = (userId, what) => channels.hub.notify(userId, what);
  http.related = (a, b, contacts, blocked) => channels.hub.related(a, b, contacts, blocked);
  http.deviceRemoved = (deviceId) => {
    channels.hub.deviceRemoved(deviceId);
    void files?.tickets.dropDevice(deviceId).catch(() => undefined);
  };
  return { http, channels };
}
