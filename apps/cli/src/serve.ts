import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  type BlobOptions,
  type RelayLimits,
  RelayConfigError,
  createSelfSigned,
  defaultRelayLimits,
  isLoopback,
  LOG_LEVELS,
  type LogLevel,
  pinoLogger,
  startRelay,
  type RelayOptions,
  type RoomStore,
  RoomStoreError,
  openRoomStore,
} from '@nullroom/server';
import type { AccountStore, AccountsOptions } from '@nullroom/server/accounts';
import { CliError, Exit } from './errors.js';
import { parseSize } from './size.js';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The built web app, when it sits next to this command: in this repository apps/web/dist, in the
 * installed package (scripts/pack-cli.mjs) its `web/` folder, both relative to dist/src/serve.js.
 */
export function defaultWebDir(): string | undefined {
  for (const rel of ['../../../web/dist/', '../../web/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return undefined;
}

export interface ServeOptions {
  /** A JSON file of these settings (serveConfig.ts), else NULLROOM_CONFIG. */
  config?: string;
  host: string;
  port: string;
  data?: string;
  cert?: string;
  key?: string;
  selfSigned?: boolean;
  verbose?: boolean;
  /** debug, info, warn or error (else NULLROOM_LOG_LEVEL; `--verbose` is debug; default info). */
  logLevel?: string;
  web?: string;
  blobDir?: string;
  blobMax?: string;
  blobQuota?: string;
  blobTtl?: string;
  accountFileTtl?: string;
  accountFileQuota?: string;
  allowOrigin?: string[];
  trustProxy?: boolean;
  maxOutput?: string;
  maxGroupInfo?: string;
  /** WebSocket connections of all addresses together (rooms and account channels). */
  maxConns?: string;
  maxConnsPerIp?: string;
  maxRoomsPerIp?: string;
  newRoomsPerMinute?: string;
  maxHttpConnsPerIp?: string;
  maxHttpConns?: string;
  /** Seconds a member whose connection dropped may take its slot back (docs/PROTOCOL.md §4.5). */
  resumeGrace?: string;
  /** false (`--no-room-store`): rooms live in memory only, a restart forgets them. */
  roomStore?: boolean;
  /** false (`--no-accounts`): no accounts API. */
  accounts?: boolean;
  /** PostgreSQL for the account store (else NULLROOM_DATABASE_URL, else the embedded accounts.db). */
  databaseUrl?: string;
  /** Its schema (else NULLROOM_DATABASE_SCHEMA, else `nullroom`): several relays or tests in one database. */
  databaseSchema?: string;
  /** Seconds SIGTERM lets file transfers in flight finish. */
  drainSeconds?: string;
  /** Redis of a cluster of relay nodes (else NULLROOM_REDIS_URL; docs/OPERATING.md "Several nodes"). */
  redisUrl?: string;
  /** Its key prefix (else NULLROOM_CLUSTER_PREFIX, else `nr:`). */
  clusterPrefix?: string;
  /** Where the other nodes reach this one for its files (else NULLROOM_ADVERTISE_URL, else the URL it listens on). */
  advertiseUrl?: string;
  /** Serve /metrics on this port (off without it), on `metricsHost` (default 127.0.0.1). */
  metricsPort?: string;
  metricsHost?: string;
  /** The bearer token a scrape must carry (else NULLROOM_METRICS_TOKEN); required off loopback. */
  metricsToken?: string;
}

/**
 * The cluster this node joins, if any. Its own variable names (NULLROOM_REDIS_URL, not REDIS_URL):
 * a machine's REDIS_URL meant for another program must not make a relay a node of a cluster.
 */
export function clusterOptions(o: ServeOptions): RelayOptions['cluster'] {
  const url = o.redisUrl ?? process.env['NULLROOM_REDIS_URL'];
  if (url === undefined || url === '') return undefined;
  if (!/^rediss?:\/\//.test(url)) throw new CliError('--redis-url must start with redis:// or rediss://', Exit.USAGE);
  const prefix = o.clusterPrefix ?? process.env['NULLROOM_CLUSTER_PREFIX'];
  const advertiseUrl = o.advertiseUrl ?? process.env['NULLROOM_ADVERTISE_URL'];
  return {
    url,
    ...(prefix === undefined || prefix === '' ? {} : { prefix }),
    ...(advertiseUrl === undefined || advertiseUrl === '' ? {} : { advertiseUrl }),
  };
}

/**
 * The log level: `--log-level`, else `-v` (debug), else NULLROOM_LOG_LEVEL, else the config file's
 * (logLevel, then verbose), else info. `given` tells a flag typed on the command line.
 */
export function logLevel(o: ServeOptions, given: (key: string) => boolean): LogLevel {
  const check = (v: string, where: string): LogLevel => {
    if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
    throw new CliError(`${where} must be one of ${LOG_LEVELS.join(', ')}`, Exit.USAGE);
  };
  if (given('logLevel') && o.logLevel !== undefined) return check(o.logLevel, '--log-level');
  if (given('verbose') && o.verbose) return 'debug';
  const env = process.env['NULLROOM_LOG_LEVEL'];
  if (env !== undefined && env !== '') return check(env, 'NULLROOM_LOG_LEVEL');
  if (o.logLevel !== undefined) return check(o.logLevel, 'logLevel (config file)');
  return o.verbose ? 'debug' : 'info';
}

/** The metrics listener (docs/OPERATING.md "Metrics"): off unless --metrics-port is given. */
function metricsOptions(o: ServeOptions): RelayOptions['metrics'] {
  if (o.metricsPort === undefined) {
    if (o.metricsHost !== undefined || o.metricsToken !== undefined)
      throw new CliError('--metrics-host and --metrics-token need --metrics-port', Exit.USAGE);
    return undefined;
  }
  const port = /^[0-9]{1,5}$/.test(o.metricsPort) ? Number(o.metricsPort) : -1;
  if (port < 0 || port > 65535) throw new CliError('--metrics-port must be a number from 0 to 65535', Exit.USAGE);
  const token = o.metricsToken ?? process.env['NULLROOM_METRICS_TOKEN'];
  return {
    port,
    ...(o.metricsHost === undefined ? {} : { host: o.metricsHost }),
    ...(token === undefined || token === '' ? {} : { token }),
  };
}

/** The relay's budgets and per-address caps from the command line (docs/OPERATING.md "Limits"). */
export function relayLimits(o: ServeOptions): Partial<RelayLimits> {
  const l: Partial<RelayLimits> = {};
  const size = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const n = parseSize(v);
    if (n === undefined) throw new CliError(`${flag} must be a size in bytes, such as 256M or 1G`, Exit.USAGE);
    return n;
  };
  const count = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const n = /^[0-9]{1,9}$/.test(v) ? Number(v) : 0;
    if (n < 1) throw new CliError(`${flag} must be a whole number, at least 1`, Exit.USAGE);
    return n;
  };
  const out = size(o.maxOutput, '--max-output');
  if (out !== undefined) l.maxOutputBytes = out;
  const gi = size(o.maxGroupInfo, '--max-group-info');
  if (gi !== undefined) {
    l.maxGroupInfoBytes = gi;
    l.maxGroupInfoBytesPerAddress = Math.min(defaultRelayLimits.maxGroupInfoBytesPerAddress, gi);
  }
  const all = count(o.maxConns, '--max-conns');
  if (all !== undefined) l.maxConnections = all;
  const conns = count(o.maxConnsPerIp, '--max-conns-per-ip');
  if (conns !== undefined) l.maxConnectionsPerAddress = conns;
  const rooms = count(o.maxRoomsPerIp, '--max-rooms-per-ip');
  if (rooms !== undefined) l.maxRoomsPerAddress = rooms;
  const perMinute = count(o.newRoomsPerMinute, '--new-rooms-per-minute');
  if (perMinute !== undefined) l.newRoomIntervalMs = Math.ceil(60_000 / perMinute);
  const httpPerIp = count(o.maxHttpConnsPerIp, '--max-http-conns-per-ip');
  if (httpPerIp !== undefined) l.maxHttpConnectionsPerAddress = httpPerIp;
  const http = count(o.maxHttpConns, '--max-http-conns');
  if (http !== undefined) l.maxHttpConnections = http;
  if (o.resumeGrace !== undefined) {
    // 0 is allowed: a lost connection leaves at once.
    if (!/^[0-9]{1,6}$/.test(o.resumeGrace)) throw new CliError('--resume-grace must be a whole number of seconds', Exit.USAGE);
    l.resumeGraceMs = Number(o.resumeGrace) * 1000;
  }
  return l;
}

/**
 * The blob-store options from the command line; undefined values keep the relay's defaults. With
 * the room store (the default), files are kept beside it (`blobs/` in the data directory, or
 * --blob-dir) across restarts, like the rooms that offered them; without it, they go with the relay.
 */
export function blobOptions(o: ServeOptions, dataDir?: string): BlobOptions {
  const b: BlobOptions = {};
  if (o.blobDir !== undefined) {
    if (o.blobDir.trim() === '') throw new CliError('--blob-dir must name a directory', Exit.USAGE);
    b.dir = o.blobDir;
  } else if (o.data !== undefined || (dataDir !== undefined && o.roomStore !== false)) {
    b.dir = join(o.data ?? dataDir!, 'blobs');
  }
  if (b.dir !== undefined && o.roomStore !== false && dataDir !== undefined) b.keep = true;
  if (o.blobMax !== undefined) {
    const n = parseSize(o.blobMax);
    if (n === undefined) throw new CliError('--blob-max must be a size in bytes, such as 4G or 512M', Exit.USAGE);
    b.maxBlobBytes = n;
  }
  if (o.blobQuota !== undefined) {
    const n = parseSize(o.blobQuota);
    if (n === undefined) throw new CliError('--blob-quota must be a size in bytes, such as 16G or 512M', Exit.USAGE);
    b.maxTotalBytes = n;
  }
  if (o.blobTtl !== undefined) {
    const n = /^[0-9]{1,9}$/.test(o.blobTtl) ? Number(o.blobTtl) : 0;
    if (n < 1) throw new CliError('--blob-ttl must be a whole number of seconds, at least 1', Exit.USAGE);
    b.ttlMs = n * 1000;
  }
  if (o.accountFileTtl !== undefined) {
    const n = /^[0-9]{1,9}$/.test(o.accountFileTtl) ? Number(o.accountFileTtl) : 0;
    if (n < 1) throw new CliError('--account-file-ttl must be a whole number of seconds, at least 1', Exit.USAGE);
    b.accountTtlMs = n * 1000;
  }
  if (o.accountFileQuota !== undefined) {
    const n = parseSize(o.accountFileQuota);
    if (n === undefined) throw new CliError('--account-file-quota must be a size in bytes, such as 2G or 512M', Exit.USAGE);
    b.maxBytesPerAccount = n;
  }
  return b;
}

/**
 * The room store, `rooms.db` in the data directory (docs/OPERATING.md "Room store"): what lets
 * members resume their rooms after the relay restarts. A RoomStoreError names the file, never its contents.
 */
function roomStore(o: ServeOptions, dataDir: string): RoomStore | undefined {
  if (o.roomStore === false) return undefined;
  try {
    return openRoomStore(join(dataDir, 'rooms.db'));
  } catch (e) {
    if (e instanceof RoomStoreError) throw new CliError(`room store: ${e.message}`, Exit.FAILURE);
    throw e;
  }
}

/**
 * The accounts (docs/OPERATING.md "Accounts"): the store (PostgreSQL with --database-url or
 * NULLROOM_DATABASE_URL, else `accounts.db` in the data directory) and the OPAQUE server setup
 * (NULLROOM_OPAQUE_SETUP, else `opaque-setup` in the data directory, made on first start).
 */
async function accounts(o: ServeOptions, dataDir: string): Promise<AccountsOptions | undefined> {
  if (o.accounts === false) return undefined;
  const { AccountStoreError, loadOpaqueSetup, openPgAccountStore, openSqliteAccountStore } = await import('@nullroom/server/accounts');
  const url = o.databaseUrl ?? process.env['NULLROOM_DATABASE_URL'];
  let store: AccountStore;
  try {
    store =
      url !== undefined && url !== ''
        ? await openPgAccountStore({ connectionString: url, ...pgSchema(o) })
        : openSqliteAccountStore(join(dataDir, 'accounts.db'));
  } catch (e) {
    if (e instanceof AccountStoreError) throw new CliError(e.message, e.code === 'UNAVAILABLE' ? Exit.CONNECTION : Exit.FAILURE);
    throw e;
  }
  try {
    return { store, opaqueSetup: await loadOpaqueSetup(join(dataDir, 'opaque-setup')) };
  } catch (e) {
    await store.close();
    if (e instanceof RelayConfigError) throw new CliError(e.message, Exit.USAGE);
    throw e;
  }
}

function pgSchema(o: ServeOptions): { schema?: string } {
  const schema = o.databaseSchema ?? process.env['NULLROOM_DATABASE_SCHEMA'];
  return schema === undefined || schema === '' ? {} : { schema };
}

export function defaultDataDir(): string {
  const base = process.env['XDG_DATA_HOME'] ?? join(homedir(), '.local', 'share');
  return join(base, 'nullroom');
}

/** `given(key)`: that option was typed on the command line (commander's value source), which the config file does not override. */
export async function serve(flags: ServeOptions, given: (key: string) => boolean = () => true): Promise<void> {
  const file = flags.config ?? process.env['NULLROOM_CONFIG'];
  let o = flags;
  if (file !== undefined && file !== '') {
    const { loadServeConfig, withConfig } = await import('./serveConfig.js');
    o = withConfig(flags, await loadServeConfig(file), given);
  }
  const log = pinoLogger({ level: logLevel(o, given) });
  const metrics = metricsOptions(o);
  const port = /^[0-9]{1,5}$/.test(o.port) ? Number(o.port) : -1;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError('--port must be a number from 0 to 65535', Exit.USAGE);
  if ((o.cert === undefined) !== (o.key === undefined)) throw new CliError('--cert and --key go together', Exit.USAGE);
  if (o.cert !== undefined && o.selfSigned) throw new CliError('use either --cert/--key or --self-signed, not both', Exit.USAGE);
  const dataDir = o.data ?? defaultDataDir();
  let tls: RelayOptions['tls'];
  let fingerprint: string | undefined;
  if (o.cert !== undefined && o.key !== undefined) {
    try {
      tls = { cert: await readFile(o.cert, 'utf8'), key: await readFile(o.key, 'utf8') };
    } catch {
      throw new CliError('cannot read the certificate or key file', Exit.USAGE);
    }
  } else if (o.selfSigned) {
    const s = await createSelfSigned(dataDir);
    tls = { cert: s.cert, key: s.key };
    fingerprint = s.fingerprint;
  } else if (!isLoopback(o.host)) {
    throw new CliError(
      `refusing to serve plain HTTP on ${o.host}: only loopback may go without TLS. Use --cert F --key F, or --self-signed.`,
      Exit.USAGE,
    );
  }
  const blobs = blobOptions(o, dataDir);
  const limits = relayLimits(o);
  if (o.web !== undefined && !existsSync(join(o.web, 'index.html')))
    throw new CliError(`no index.html in ${o.web}: build the web app first`, Exit.USAGE);
  const web = o.web ?? defaultWebDir();
  const cluster = clusterOptions(o);
  const drain = o.drainSeconds === undefined ? 30 : /^[0-9]{1,5}$/.test(o.drainSeconds) ? Number(o.drainSeconds) : -1;
  if (drain < 0) throw new CliError('--drain-seconds must be a whole number of seconds', Exit.USAGE);
  // In a cluster the rooms live in Redis, for every node alike.
  const store = cluster === undefined ? roomStore(o, dataDir) : undefined;
  const accountOptions = await accounts(o, dataDir).catch((e: unknown) => {
    store?.close();
    throw e;
  });
  const relay = await startRelay({
    ...(accountOptions === undefined ? {} : { accounts: accountOptions }),
    host: o.host,
    port,
    ...(store === undefined ? {} : { store }),
    ...(cluster === undefined ? {} : { cluster }),
    drainMs: drain * 1000,
    ...(web === undefined ? {} : { staticDir: web }),
    ...(tls === undefined ? {} : { tls }),
    blobs,
    limits,
    ...(o.allowOrigin === undefined ? {} : { allowedOrigins: o.allowOrigin }),
    ...(o.trustProxy ? { trustProxy: true } : {}),
    ...(metrics === undefined ? {} : { metrics }),
    log,
  }).catch(async (e: unknown) => {
    store?.close();
    await accountOptions?.store.close();
    if (e instanceof RelayConfigError) throw new CliError(e.message, Exit.USAGE);
    const code = (e as { code?: string }).code;
    if (code === 'EADDRINUSE')
      throw new CliError(
        `port ${port} on ${o.host} is already in use (another nullroom, or another program): stop it, or choose another port with --port, e.g. --port ${port === 65535 ? 8081 : port + 1}`,
        Exit.CONNECTION,
        'PORT_IN_USE',
      );
    if (code === 'EACCES')
      throw new CliError(
        `not allowed to listen on port ${port} of ${o.host} (ports below 1024 need privileges): choose another with --port, e.g. --port 8080`,
        Exit.CONNECTION,
        'PORT_IN_USE',
      );
    throw new CliError(`cannot start the relay: ${code ?? (e instanceof Error ? e.message : String(e))}`, Exit.FAILURE);
  });
  process.stdout.write(`nullroom listening on ${relay.url}\n`);
  if (fingerprint !== undefined) process.stdout.write(`fingerprint ${fingerprint}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      // Drain: no new connections (and /readyz 503), the rooms handed on, transfers in flight finish.
      relay.drain();
      relay.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
