/**
 * The accounts of a relay, as relay.ts opens and closes them: what they keep outside their store
 * (this relay's memory, or Redis for relay nodes), the API and the account channel, each loaded
 * only for a relay with accounts.
 */
import type { AccountFiles } from './accountTickets.js';
import type { AccountShared } from './accounts/accountShared.js';
import { RelayConfigError } from './configError.js';
import { securityHeaders } from './http.js';
import type { RelayLimits } from './limits.js';
import { relayLogger } from './logger.js';
import type { RelayOptions } from './relay.js';

/**
 * What the accounts keep outside their store (accounts/accountShared.ts): this relay's memory, or,
 * for relay nodes (`cluster`), Redis. Loaded only for a relay with accounts.
 */
export async function openAccountShared(opts: RelayOptions): Promise<AccountShared | undefined> {
  if (opts.accounts === undefined) return undefined;
  if (opts.cluster === undefined) return (await import('./accounts/localShared.js')).localShared();
  const { openRedisAccountShared } = await import('./cluster/accountShared.js');
  return openRedisAccountShared({ ...opts.cluster, opaqueSetup: opts.accounts.opaqueSetup, log: relayLogger(opts.log) }).catch(
    (e: unknown) => {
      throw new RelayConfigError(`cannot reach Redis for the cluster's accounts: ${e instanceof Error ? e.message : String(e)}`);
    },
  );
}

/**
 * The accounts API and the account channel (accounts/relayAccounts.ts), loaded only for a relay with
 * accounts: OPAQUE's WebAssembly and zod stay out of one without.
 */
export async function openAccounts(
  opts: RelayOptions,
  tls: boolean,
  limits: RelayLimits,
  files: AccountFiles | undefined,
  shared: AccountShared | undefined,
) {
  if (opts.accounts === undefined || shared === undefined) return undefined;
  const { wireAccounts } = await import('./accounts/relayAccounts.js');
  return wireAccounts(opts.accounts, opts.cluster !== undefined, securityHeaders(tls), relayLogger(opts.log), limits, files, shared);
}

/** After the relay closed: the presence of its channels that closed is told, then the accounts' Redis connections and store go. */
export async function closeAccounts(
  opts: RelayOptions,
  channels: { hub: { settled(): Promise<void> } } | undefined,
  shared: AccountShared | undefined,
): Promise<void> {
  await channels?.hub.settled();
  await shared?.close();
  await opts.accounts?.store.close();
}
