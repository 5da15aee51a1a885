/**
 * The blind relay: HTTP(S) for the web app, and a WebSocket endpoint at /ws that decodes only the
 * envelope and applies the delivery-service rules in rooms.ts. It never parses a payload.
 *
 * This module puts the parts together and takes them apart: the server (httpServer.ts), the
 * upgrade (upgrade.ts), one connection (connection.ts), what is written (output.ts), the rooms
 * (rooms.ts) and the blob endpoint (blobHttp.ts).
 */
import type { Socket } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { addressKey, clientAddress, isLoopback } from './address.js';
import type { BlobHttp } from './blobHttp.js';
import type { BlobOptions } from './blobOptions.js';
import type { AccountsHttp, AccountsOptions } from './accounts/accountsHttp.js';
import { type Account, Accounts, localAddressFrames } from './budget.js';
import { RelayConfigError } from './configError.js';
import { Connection, type ConnectionContext, PingPayloads, type RelaySocket, type Wire, socketWire } from './connection.js';
import { RelayCounters } from './counters.js';
import { httpHandler } from './http.js';
import { HttpConnections, createRelayServer } from './httpServer.js';
import { type RelayLimits, defaultRelayLimits } from './limits.js';
import { type RelayLogger, relayLogger } from './logger.js';
import { type MetricsListener, type MetricsOptions, checkMetricsOptions } from './metricsServer.js';
import { OriginConfigError, type OriginPolicy, originPolicy } from './origin.js';
import { Output } from './output.js';
import type { Readiness, ReadyCheck } from './readiness.js';
import { listen, shutdown } from './relayLifecycle.js';
import { metricsListener, relayMetrics, relayReadiness } from './relayOps.js';
import type { RoomService } from './roomService.js';
import { openRooms, roomStats } from './relayRooms.js';
import { closeAccounts, openAccounts, openAccountShared } from './relayAccountParts.js';
import type { BlobRoutes } from './cluster/blobRoutes.js';
import { type ClusterOptions, advertiseUrl } from './cluster/clusterFiles.js';
import { openFiles } from './relayFiles.js';
import { type RoomStore, noRoomStore } from './roomStore.js';
import { upgradeHandler, webSocketServer } from './upgrade.js';

export { isLoopback };
export type { ClusterOptions };

export interface RelayOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  tls?: { cert: string | Uint8Array; key: string | Uint8Array };
  limits?: Partial<RelayLimits>;
  /**
   * Where the relay logs (logger.ts): a RelayLogger (`nullroom serve` gives pino's, pinoLogger.ts), or
   * a function that takes each line formatted as `message key=value ...`. Default: nothing is logged.
   */
  log?: RelayLogger | ((line: string) => void);
  /** More conditions of readiness (GET /readyz) besides the relay's own; `addReadyCheck` adds one later. */
  ready?: readonly ReadyCheck[];
  /** Serve Prometheus metrics on a listener of their own (metricsServer.ts); off by default. */
  metrics?: MetricsOptions;
  /** A directory served at / (the web app). */
  staticDir?: string;
  /** The blob store for encrypted file chunks (docs/PROTOCOL.md §9); on by default, `false` turns it off. */
  blobs?: BlobOptions | false;
  /**
   * Origins ("https://chat.example.com") whose pages may open /ws and use /blobs besides the
   * relay's own (scheme + the request's Host): the public name of a reverse proxy, for instance.
   */
  allowedOrigins?: readonly string[];
  /**
   * Behind a reverse proxy: take the client's address (for the per-address caps) from the last
   * X-Forwarded-For entry, the one the proxy appended. Only when every request comes through it.
   */
  trustProxy?: boolean;
  /**
   * Where rooms, their resumable slots and their logs are written so that they survive a restart
   * (docs/PROTOCOL.md §4.5 "Relay restarts"); loaded on start, closed by `close()`. Default: none.
   */
  store?: RoomStore;
  /**
   * Accounts (docs/PROTOCOL.md §11): the store and the OPAQUE server setup; the API under /api/
   * answers 404 without them. The relay closes the store when it closes.
   */
  accounts?: AccountsOptions;
  /**
   * Several relay nodes sharing their rooms through Redis (docs/PROTOCOL.md §12): every node given
   * the same Redis and prefix serves the same rooms. Excludes `store` (the rooms live in Redis).
   */
  cluster?: ClusterOptions;
  /**
   * How long `close()` lets HTTP requests in flight (file uploads and downloads) finish before
   * cutting them; WebSockets are told to go at once. Default 1000 ms.
   */
  drainMs?: number;
}

export interface Relay {
  readonly url: string;
  readonly port: number;
  /**
   * httpConnections: TCP connections counted against maxHttpConnections (not, or not yet, WebSockets);
   * logBytes: the rooms' logs of deliveries and held DIRECT frames (docs/PROTOCOL.md §4.5).
   */
  stats(): {
    connections: number;
    rooms: number;
    outputBytes: number;
    groupInfoBytes: number;
    logBytes: number;
    addresses: number;
    httpConnections: number;
  };
  /** Live blobs and their bytes on disk; undefined when the blob store is off. */
  blobStats(): { blobs: number; bytes: number } | undefined;
  /**
   * Starts draining (for a graceful stop, SIGTERM): new WebSocket upgrades are refused with 503
   * and `Retry-After`, /readyz answers 503; open connections stay until `close()`. Not undone.
   */
  drain(): void;
  readonly draining: boolean;
  /** Adds a condition of readiness (a cluster layer's "Redis connected"); its name shows when it fails. */
  addReadyCheck(check: ReadyCheck): void;
  /** What /readyz answers: ready, or the names of the failing checks. */
  ready(): Promise<{ ready: boolean; failing: string[] }>;
  /** The Prometheus exposition text (metrics.ts), whether or not a metrics listener runs. */
  metricsText(): Promise<string>;
  /** The metrics listener's URL, when `metrics` was given. */
  readonly metricsUrl: string | undefined;
  close(): Promise<void>;
}

export { RelayConfigError };

/** The relay, listening. */
export async function startRelay(opts: RelayOptions = {}): Promise<Relay> {
  return openRelay(opts, socketWire);
}

/** Checks the options that can be wrong (a RelayConfigError names the field, never a secret). */
function checkOptions(opts: RelayOptions, tls: boolean, host: string): OriginPolicy {
  if (!tls && !isLoopback(host)) {
    throw new RelayConfigError(`refusing to serve plain HTTP on ${host}: only loopback may go without TLS`);
  }
  if (opts.metrics !== undefined) checkMetricsOptions(opts.metrics, tls);
  try {
    return originPolicy(tls, opts.allowedOrigins ?? []);
  } catch (e) {
    if (e instanceof OriginConfigError) throw new RelayConfigError(e.message);
    throw e;
  }
}

/** The HTTP(S) server with what it serves (pages, /healthz, /blobs, /api) and its connection caps; not yet listening. */
function serveHttp(
  opts: RelayOptions,
  limits: RelayLimits,
  origins: OriginPolicy,
  trustProxy: boolean,
  blobs: ((req: IncomingMessage, res: ServerResponse) => void) | undefined,
  accounts: AccountsHttp | undefined,
  counters: RelayCounters,
  ready: () => Promise<{ ready: boolean; failing: string[] }>,
) {
  const handler = httpHandler({
    tls: opts.tls !== undefined,
    origins,
    counters,
    ready,
    ...(opts.staticDir !== undefined ? { staticDir: opts.staticDir } : {}),
    ...(blobs !== undefined ? { blobs } : {}),
    ...(accounts !== undefined
      ? {
          api: (req, res, path, origin) => accounts.handle(req, res, { path, origin, address: addressKey(clientAddress(req, trustProxy)) }),
        }
      : {}),
  });
  const httpConnections = new HttpConnections(limits, trustProxy, relayLogger(opts.log), counters);
  return { server: createRelayServer({ limits, tls: opts.tls, connections: httpConnections, handler, counters }), httpConnections };
}

/**
 * The relay with its frames going through `wire`: startRelay's is the socket itself; a test
 * decorates it (test/_instrumented.ts). Not part of the package's API.
 */
export async function openRelay(opts: RelayOptions, wire: Wire): Promise<Relay> {
  const host = opts.host ?? '127.0.0.1';
  const limits: RelayLimits = { ...defaultRelayLimits, ...opts.limits };
  const tls = opts.tls !== undefined;
  const origins = checkOptions(opts, tls, host);
  const trustProxy = opts.trustProxy === true;
  const log = relayLogger(opts.log);
  const counters = new RelayCounters();
  const accounts = new Accounts(limits);
  const store = opts.store ?? noRoomStore;
  const { rooms, tickets, node, hub } = await openRooms(opts, limits, store, advertiseUrl(opts.cluster, opts.blobs === false, host));
  const conns = new Set<Connection>();
  const output = new Output(conns, limits, () => rooms.groupInfoBytes + rooms.logBytes);
  const accountShared = await openAccountShared(opts);
  const cluster = { hub, node, limits };
  const { blobs, files, routes } = await openFiles(opts, tls, tickets, trustProxy, accountShared?.tickets, cluster);
  restoreRooms(rooms, store);
  const accountParts = await openAccounts(opts, tls, limits, files, accountShared);
  const [accountsHttp, channels] = [accountParts?.http, accountParts?.channels];
  for (const part of [blobs, accountsHttp, channels?.hub]) if (part !== undefined) part.counters = counters;
  // Readiness is asked through the server's handler, built before the server: the checks see it once made.
  const ready = () => readiness.check();
  const blobHandler = routes?.handle ?? blobs?.handle;
  const { server, httpConnections } = serveHttp(opts, limits, origins, trustProxy, blobHandler, accountsHttp, counters, ready);
  const readiness = relayReadiness(server, opts.accounts?.store, opts.ready);
  const wss = webSocketServer(limits);
  const ctx: ConnectionContext = {
    limits,
    rooms,
    tickets,
    output,
    wire,
    codecLimits: { maxFrameBytes: limits.maxFrameBytes, maxPayloadBytes: limits.maxPayloadBytes },
    log,
    counters,
    addressFrames: rooms.connections?.frames ?? localAddressFrames(limits),
    closed: (c) => conns.delete(c),
  };
  let nextConn = 1;
  const accept = (ws: RelaySocket, account: Account, socket: Socket) => {
    const c = new Connection(nextConn++, ws, socket, account, ctx);
    conns.add(c);
    counters.roomConnectionsOpened++;
    if (log.debugEnabled)
      log.debug('connection open', {
        conn: c.id,
        address: socket.remoteAddress ?? '?',
        fromAddress: account.connections,
        addressKey: account.key,
      });
  };
  const openConnections = () => conns.size + (channels?.hub.size ?? 0);
  const accountUpgrade = channels === undefined ? {} : { accountUpgrade: channels.upgrade };
  const draining = () => readiness.draining;
  const shared = rooms.connections === undefined ? {} : { shared: rooms.connections };
  const upgrades = { limits, origins, trustProxy, accounts, wss, httpConnections, openConnections, draining, log, counters, accept };
  server.on('upgrade', upgradeHandler({ ...upgrades, ...accountUpgrade, ...shared }));
  // Shared rooms: not ready while Redis cannot be reached.
  if (opts.cluster !== undefined) readiness.add({ name: 'redis', ready: () => rooms.ready() });
  const pinger = startTimer(conns, output, rooms, accounts, limits.pingIntervalMs, accountsHttp);
  const stop = () => {
    clearInterval(pinger);
    void routes?.stop(); // its files are no longer advertised
    store.close();
    channels?.hub.closeAll();
  };
  const stats = () => ({
    connections: conns.size,
    ...roomStats(rooms, output),
    addresses: accounts.size,
    httpConnections: httpConnections.size,
  });
  const channelCount = () => channels?.hub.size ?? 0;
  const closeAccountParts = () => closeAccounts(opts, channels, accountShared);
  const { advertise } = hub;
  const parts = { server, conns, rooms, stop, stats, channelCount, blobs, routes, advertise, readiness, counters, limits, log };
  return started(opts, { ...parts, closeAccountParts });
}

/** What `started` needs of a relay put together by openRelay. */
interface Parts {
  readonly server: Server;
  readonly conns: ReadonlySet<Connection>;
  readonly rooms: RoomService;
  /** Stops the timers, the rooms' store and the account channels. */
  readonly stop: () => void;
  readonly stats: () => ReturnType<Relay['stats']>;
  readonly channelCount: () => number;
  readonly blobs: BlobHttp | undefined;
  /** A cluster node's blob routes (cluster/blobRoutes.ts), advertised at `advertise` or the URL listened on. */
  readonly routes: BlobRoutes | undefined;
  readonly advertise: string | undefined;
  readonly readiness: Readiness;
  readonly counters: RelayCounters;
  readonly limits: RelayLimits;
  readonly log: RelayLogger;
  /** After the relay closed: the accounts' channels, shared state and store. */
  readonly closeAccountParts: () => Promise<void>;
}

/** Listens (the relay's port, then the metrics listener if asked for) and hands out the relay. */
async function started(opts: RelayOptions, p: Parts): Promise<Relay> {
  const { server, blobs, readiness, log } = p;
  const host = opts.host ?? '127.0.0.1';
  const port = await listen(server, opts.port ?? 8080, host, () => {
    p.stop();
    void p.rooms.stop().then(() => p.rooms.close());
    void p.closeAccountParts();
    void blobs?.dispose();
  });
  const url = `${opts.tls !== undefined ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  await p.routes?.start(p.advertise ?? url);
  let metricsServer: MetricsListener | undefined;
  const close = async () => {
    await metricsServer?.close();
    // First: this relay's slots stay resumable (in a cluster: handed to the other nodes).
    await p.rooms.stop();
    await shutdown(server, p.conns, () => (p.stop(), blobs?.stop()), blobs, opts.drainMs ?? 1000);
    p.rooms.close();
    p.routes?.close();
    await p.closeAccountParts();
    log.info('relay stopped');
  };
  const metrics = relayMetrics({
    ...p,
    stats: () => ({ ...p.stats(), accountChannels: p.channelCount() }),
    blobStats: () => (blobs === undefined ? undefined : { ...blobs.stats(), ...blobs.limits() }),
  });
  metricsServer = await metricsListener(opts.metrics, opts.tls, metrics).catch(async (e: unknown) => {
    await close();
    throw e;
  });
  log.info('relay listening', { url, accounts: opts.accounts !== undefined, blobs: blobs !== undefined, metrics: metricsServer?.url });
  return {
    url,
    port,
    stats: p.stats,
    blobStats: () => blobs?.stats(),
    drain: () => {
      if (!readiness.draining) log.info('relay draining');
      readiness.drain();
    },
    get draining() {
      return readiness.draining;
    },
    addReadyCheck: (c) => readiness.add(c),
    ready: () => readiness.check(),
    metricsText: () => metrics.text(),
    metricsUrl: metricsServer?.url,
    close,
  };
}

/**
 * One timer for liveness and output (Connection.check), the output budget, away slots whose grace
 * ended and old log entries (rooms.expire), and idle accounts.
 */
function startTimer(
  conns: ReadonlySet<Connection>,
  output: Output,
  rooms: RoomService,
  accounts: Accounts,
  intervalMs: number,
  accountsHttp: AccountsHttp | undefined,
) {
  const pinger = setInterval(() => {
    const payloads = new PingPayloads(conns.size);
    for (const c of conns) c.check(payloads);
    output.enforceBudget();
    rooms.expire(Date.now());
    accounts.prune(performance.now());
    accountsHttp?.expire();
  }, intervalMs);
  pinger.unref();
  return pinger;
}

/** Takes back the rooms the store kept (a restart); a store that cannot be read is a configuration error. */
function restoreRooms(rooms: RoomService, store: RoomStore): void {
  try {
    rooms.restore();
  } catch (e) {
    store.close();
    throw new RelayConfigError(`room store: ${e instanceof Error ? e.message : String(e)}`);
  }
}
