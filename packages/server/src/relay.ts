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
import { type AccountFiles, accountBlobTickets, AccountTickets } from './accountTickets.js';
import { BlobHttp, type TicketCheck } from './blobHttp.js';
import type { BlobOptions } from './blobOptions.js';
import type { AccountsHttp, AccountsOptions } from './accounts/accountsHttp.js';
import { type Account, Accounts } from './budget.js';
import { RelayConfigError } from './configError.js';
import { Connection, type ConnectionContext, PingPayloads, type RelaySocket, type Wire, socketWire } from './connection.js';
import { httpHandler, securityHeaders } from './http.js';
import { HttpConnections, createRelayServer } from './httpServer.js';
import { type RelayLimits, defaultRelayLimits } from './limits.js';
import { OriginConfigError, type OriginPolicy, originPolicy } from './origin.js';
import { Output } from './output.js';
import { Rooms } from './rooms.js';
import type { RoomService } from './roomService.js';
import { type ClusterOptions, type ClusterParts, type Hub, advertiseUrl, announcing, openRoutes } from './cluster/clusterFiles.js';
import { type RoomStore, noRoomStore } from './roomStore.js';
import { Tickets } from './tickets.js';
import { upgradeHandler, webSocketServer } from './upgrade.js';

export { isLoopback };
export type { ClusterOptions };

export interface RelayOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  tls?: { cert: string | Uint8Array; key: string | Uint8Array };
  limits?: Partial<RelayLimits>;
  log?: (line: string) => void;
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
  try {
    return originPolicy(tls, opts.allowedOrigins ?? []);
  } catch (e) {
    if (e instanceof OriginConfigError) throw new RelayConfigError(e.message);
    throw e;
  }
}

async function openBlobs(opts: RelayOptions, tls: boolean, tickets: TicketCheck, trustProxy: boolean, hub: Hub): Promise<BlobHttp> {
  try {
    // A request another node forwarded counts against the client address it vouches for (cluster/forwardAuth.ts).
    return await BlobHttp.open(
      opts.blobs || {},
      securityHeaders(tls),
      opts.log,
      tickets,
      (req) => hub.routes?.trustedAddress(req) ?? addressKey(clientAddress(req, trustProxy)),
    );
  } catch (e) {
    throw new RelayConfigError(`blob store: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * The blob store, with the rooms' tickets and (with accounts) the account devices' (§9.3): a PUT's
 * ticket may be either.
 */
async function openFiles(opts: RelayOptions, tls: boolean, tickets: Tickets | undefined, trustProxy: boolean, cluster: ClusterParts) {
  const { hub, node, limits } = cluster;
  if (tickets === undefined) return { blobs: undefined, files: undefined, routes: undefined };
  const accountTickets = opts.accounts === undefined ? undefined : new AccountTickets();
  // In a cluster, a room ticket another node issued is good here too (cluster/blobRoutes.ts). (Each
  // awaited: an account's ticket may be looked up in Redis as well.)
  const check: TicketCheck = {
    check: async (h) => tickets.check(h) ?? (await accountTickets?.check(h)) ?? (await hub.routes?.remoteTicket(h)),
  };
  const blobs = await openBlobs(opts, tls, check, trustProxy, hub);
  const addressOf = (req: IncomingMessage) => addressKey(clientAddress(req, trustProxy));
  hub.routes = await openRoutes(opts.log, node, blobs, tickets, addressOf, limits);
  return { blobs, files: accountTickets === undefined ? undefined : { blobs, tickets: accountTickets }, routes: hub.routes };
}

/**
 * The accounts API and the account channel, loaded only for a relay with accounts: OPAQUE's
 * WebAssembly and zod stay out of one without.
 */
async function openAccounts(opts: RelayOptions, tls: boolean, limits: RelayLimits, files: AccountFiles | undefined) {
  if (opts.accounts === undefined) return undefined;
  const { AccountsHttp } = await import('./accounts/accountsHttp.js');
  const { accountChannels } = await import('./accounts/channelUpgrade.js');
  const blobTickets = files === undefined ? {} : { blobTickets: accountBlobTickets(files.tickets, files.blobs) };
  const http = await AccountsHttp.open({ ...opts.accounts, ...blobTickets }, securityHeaders(tls), opts.log);
  const channels = accountChannels(
    opts.accounts.store,
    { channel: opts.accounts.channelLimits, conversation: opts.accounts.conversationLimits },
    { maxFrameBytes: limits.maxFrameBytes, maxPayloadBytes: limits.maxPayloadBytes },
  );
  http.notify = (userId, what) => channels.hub.notify(userId, what);
  http.related = (a, b, contacts, blocked) => channels.hub.related(a, b, contacts, blocked);
  http.deviceRemoved = (deviceId) => {
    channels.hub.deviceRemoved(deviceId);
    files?.tickets.dropDevice(deviceId);
  };
  return { http, channels };
}

/** The HTTP(S) server with what it serves (pages, /healthz, /blobs, /api) and its connection caps; not yet listening. */
function serveHttp(
  opts: RelayOptions,
  limits: RelayLimits,
  origins: OriginPolicy,
  trustProxy: boolean,
  blobs: ((req: IncomingMessage, res: ServerResponse) => void) | undefined,
  accounts: AccountsHttp | undefined,
) {
  const handler = httpHandler({
    tls: opts.tls !== undefined,
    origins,
    ...(opts.staticDir !== undefined ? { staticDir: opts.staticDir } : {}),
    ...(blobs !== undefined ? { blobs } : {}),
    ...(accounts !== undefined
      ? {
          api: (req, res, path, origin) => accounts.handle(req, res, { path, origin, address: addressKey(clientAddress(req, trustProxy)) }),
        }
      : {}),
  });
  const httpConnections = new HttpConnections(limits, trustProxy, opts.log);
  return { server: createRelayServer({ limits, tls: opts.tls, connections: httpConnections, handler }), httpConnections };
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
  const log = opts.log;
  const accounts = new Accounts(limits);
  const store = opts.store ?? noRoomStore;
  const { rooms, tickets, node, hub } = await openRooms(opts, limits, store, advertiseUrl(opts.cluster, opts.blobs === false, host));
  const conns = new Set<Connection>();
  const output = new Output(conns, limits, () => rooms.groupInfoBytes + rooms.logBytes);
  const { blobs, files, routes } = await openFiles(opts, tls, tickets, trustProxy, { hub, node, limits });
  restoreRooms(rooms, store);
  const accountParts = await openAccounts(opts, tls, limits, files);
  const [accountsHttp, channels] = [accountParts?.http, accountParts?.channels];
  const { server, httpConnections } = serveHttp(opts, limits, origins, trustProxy, routes?.handle ?? blobs?.handle, accountsHttp);
  const wss = webSocketServer(limits);
  const ctx: ConnectionContext = {
    limits,
    rooms,
    tickets,
    output,
    wire,
    codecLimits: { maxFrameBytes: limits.maxFrameBytes, maxPayloadBytes: limits.maxPayloadBytes },
    log,
    closed: (c) => conns.delete(c),
  };
  let nextConn = 1;
  const accept = (ws: RelaySocket, account: Account, socket: Socket) => {
    const c = new Connection(nextConn++, ws, socket, account, ctx);
    conns.add(c);
    log?.(`conn ${c.id} open from ${socket.remoteAddress ?? '?'} (${account.connections} from ${account.key})`);
  };
  const openConnections = () => conns.size + (channels?.hub.size ?? 0);
  const accountUpgrade = channels === undefined ? {} : { accountUpgrade: channels.upgrade };
  const upgrades = { limits, origins, trustProxy, accounts, wss, httpConnections, openConnections, log, accept, ...accountUpgrade };
  server.on('upgrade', upgradeHandler(upgrades));
  const pinger = startTimer(conns, output, rooms, accounts, limits.pingIntervalMs, accountsHttp);

  const port = await listen(server, opts.port ?? 8080, host, () => {
    clearInterval(pinger);
    void routes?.stop();
    void rooms.stop().then(() => rooms.close());
    store.close();
    channels?.hub.closeAll();
    void opts.accounts?.store.close();
    void blobs?.dispose();
  });
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  await routes?.start(hub.advertise ?? url);
  return {
    url,
    port,
    stats: () => ({
      connections: conns.size,
      ...roomStats(rooms, output),
      addresses: accounts.size,
      httpConnections: httpConnections.size,
    }),
    blobStats: () => blobs?.stats(),
    close: async () => {
      clearInterval(pinger);
      // First: this relay's slots stay resumable (in a cluster: handed to the other nodes); its files are no longer advertised.
      await Promise.all([rooms.stop(), routes?.stop()]);
      await shutdown(
        server,
        conns,
        () => {
          store.close();
          blobs?.stop();
          channels?.hub.closeAll();
        },
        blobs,
      );
      rooms.close();
      await opts.accounts?.store.close();
    },
  };
}

const roomStats = (rooms: RoomService, output: Output) => ({
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
async function openRooms(opts: RelayOptions, limits: RelayLimits, store: RoomStore, advertise: string | undefined) {
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
  const rooms = new ClusterRooms(limits, wrapFrame, link, tickets && announcing(tickets, hub), opts.log);
  return { rooms: rooms as RoomService, node: { link, id: rooms.node } };
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

/** Listens; on failure runs `failed` and rejects. The port listened on. */
function listen(server: Server, port: number, host: string, failed: () => void): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onError = (e: Error) => {
      failed();
      reject(e);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
    });
  });
}

/**
 * Stops the relay: timers and waiting GETs first (`stop`), then a close frame to every connection,
 * terminated after 1 s if it lingers, then the server; the blob store is wiped last.
 */
function shutdown(server: Server, conns: ReadonlySet<Connection>, stop: () => void, blobs: BlobHttp | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    stop();
    for (const c of conns) c.goAway();
    const force = setTimeout(() => {
      for (const c of conns) c.terminate();
      server.closeAllConnections();
    }, 1000);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      if (blobs === undefined) resolve();
      else void blobs.dispose().then(resolve, resolve);
    });
    server.closeIdleConnections();
  });
}
