/**
 * The relay's operational surface (docs/OPERATING.md "Signals, logs, health"), put together for
 * relay.ts: readiness (listening, not draining, the account store answering, and whatever checks
 * the caller adds), the metrics read at scrape time (metrics.ts), and their own listener
 * (metricsServer.ts) when asked for.
 */
import type { Server } from 'node:http';
import type { AccountStore } from './accounts/accountStore.js';
import type { RelayCounters } from './counters.js';
import type { RelayLimits } from './limits.js';
import { type MetricSources, lazyMetrics } from './metrics.js';
import { type MetricsListener, type MetricsOptions, serveMetrics } from './metricsServer.js';
import { type ReadyCheck, Readiness } from './readiness.js';

/** Readiness with the relay's own checks first, then the caller's. */
export function relayReadiness(server: Server, accountStore: AccountStore | undefined, more: readonly ReadyCheck[] = []): Readiness {
  const own: ReadyCheck[] = [{ name: 'listening', ready: () => server.listening }];
  if (accountStore?.ping !== undefined) {
    const store = accountStore;
    own.push({ name: 'account-store', ready: async () => (await store.ping?.(), true) });
  }
  return new Readiness([...own, ...more]);
}

/** What the relay's parts report, read at scrape time. */
export interface RelayParts {
  readonly counters: RelayCounters;
  readonly limits: RelayLimits;
  readonly readiness: Readiness;
  stats(): {
    connections: number;
    accountChannels: number;
    httpConnections: number;
    rooms: number;
    outputBytes: number;
    groupInfoBytes: number;
    logBytes: number;
  };
  blobStats(): { blobs: number; bytes: number; maxBlobs: number; maxBytes: number } | undefined;
}

export function relayMetrics(parts: RelayParts) {
  const { limits } = parts;
  const src: MetricSources = {
    counters: parts.counters,
    connections: () => {
      const s = parts.stats();
      return { room: s.connections, account: s.accountChannels, http: s.httpConnections };
    },
    rooms: () => parts.stats().rooms,
    budgets: () => {
      const s = parts.stats();
      return {
        outputBytes: s.outputBytes,
        maxOutputBytes: limits.maxOutputBytes,
        groupInfoBytes: s.groupInfoBytes,
        maxGroupInfoBytes: limits.maxGroupInfoBytes,
        logBytes: s.logBytes,
        maxLogBytes: limits.maxLogBytes,
      };
    },
    blobs: () => parts.blobStats(),
    draining: () => parts.readiness.draining,
  };
  return lazyMetrics(src);
}

/** The metrics listener, when `o` asks for one. */
export async function metricsListener(
  o: MetricsOptions | undefined,
  tls: { cert: string | Uint8Array; key: string | Uint8Array } | undefined,
  metrics: ReturnType<typeof relayMetrics>,
): Promise<MetricsListener | undefined> {
  if (o === undefined) return undefined;
  return serveMetrics(o, tls, async () => {
    const m = await metrics.get();
    return { contentType: m.contentType, text: await m.text() };
  });
}
