/**
 * The relay's Prometheus metrics (docs/OPERATING.md "Metrics"), on a registry of its own
 * (prom-client, loaded only when metrics are first read). Counters come from RelayCounters, which
 * the hot paths increment as plain numbers; gauges are read from the relay at scrape time. Labels
 * take values from fixed sets only (channel, kind, error and close code names, refusal reasons and
 * their HTTP statuses): nothing names a room, a person, an address or a locator.
 */
import type { Counter, Gauge, Registry } from 'prom-client';
import { type RelayCounters, HttpRefusals, UpgradeRefusals } from './counters.js';

/** What the metrics read from the relay at scrape time. */
export interface MetricSources {
  readonly counters: RelayCounters;
  connections(): { room: number; account: number; http: number };
  rooms(): number;
  budgets(): {
    outputBytes: number;
    maxOutputBytes: number;
    groupInfoBytes: number;
    maxGroupInfoBytes: number;
    logBytes: number;
    maxLogBytes: number;
  };
  /** Undefined without a blob store. */
  blobs(): { blobs: number; bytes: number; maxBlobs: number; maxBytes: number } | undefined;
  draining(): boolean;
}

export interface RelayMetrics {
  readonly contentType: string;
  /** The exposition text of every metric, default process metrics included. */
  text(): Promise<string>;
}

type PromClient = typeof import('prom-client');

/** Metrics built on first use: a relay whose metrics are never read never loads prom-client. */
export function lazyMetrics(src: MetricSources): { text(): Promise<string>; get(): Promise<RelayMetrics> } {
  let made: Promise<RelayMetrics> | undefined;
  const get = () => {
    made ??= import('prom-client').then((p) => buildMetrics(p, src));
    return made;
  };
  return { get, text: async () => (await get()).text() };
}

function buildMetrics(p: PromClient, src: MetricSources): RelayMetrics {
  const registry = new p.Registry();
  p.collectDefaultMetrics({ register: registry });
  gauges(p, registry, src);
  counters(p, registry, src.counters);
  return { contentType: registry.contentType, text: () => registry.metrics() };
}

/** A gauge whose value is read at scrape time. */
function gauge(p: PromClient, registry: Registry, name: string, help: string, read: () => number | undefined): void {
  new p.Gauge({
    name,
    help,
    registers: [registry],
    collect(this: Gauge) {
      const v = read();
      if (v === undefined) this.reset();
      else this.set(v);
    },
  });
}

function gauges(p: PromClient, registry: Registry, src: MetricSources): void {
  new p.Gauge({
    name: 'nullroom_connections',
    help: 'Open connections: room WebSockets, account channels, plain HTTP (not yet WebSockets)',
    labelNames: ['kind'],
    registers: [registry],
    collect(this: Gauge<'kind'>) {
      const c = src.connections();
      this.set({ kind: 'room' }, c.room);
      this.set({ kind: 'account' }, c.account);
      this.set({ kind: 'http' }, c.http);
    },
  });
  gauge(p, registry, 'nullroom_rooms', 'Rooms the relay holds (with a member, or an away slot)', () => src.rooms());
  const b = () => src.budgets();
  gauge(p, registry, 'nullroom_output_backlog_bytes', 'Unsent output to all connections', () => b().outputBytes);
  gauge(p, registry, 'nullroom_output_backlog_limit_bytes', 'Its budget (--max-output)', () => b().maxOutputBytes);
  gauge(p, registry, 'nullroom_group_info_bytes', 'Stored GroupInfos (each counted twice)', () => b().groupInfoBytes);
  gauge(p, registry, 'nullroom_group_info_limit_bytes', 'Their budget (--max-group-info)', () => b().maxGroupInfoBytes);
  gauge(p, registry, 'nullroom_room_log_bytes', 'The rooms’ logs of deliveries and held DIRECT frames', () => b().logBytes);
  gauge(p, registry, 'nullroom_room_log_limit_bytes', 'Their budget (maxLogBytes)', () => b().maxLogBytes);
  gauge(p, registry, 'nullroom_blobs', 'Live blobs (encrypted files)', () => src.blobs()?.blobs);
  gauge(p, registry, 'nullroom_blobs_limit', 'Their number’s limit', () => src.blobs()?.maxBlobs);
  gauge(p, registry, 'nullroom_blob_bytes', 'Bytes of live blobs on disk', () => src.blobs()?.bytes);
  gauge(p, registry, 'nullroom_blob_limit_bytes', 'Their quota (--blob-quota)', () => src.blobs()?.maxBytes);
  gauge(p, registry, 'nullroom_draining', '1 while the relay drains (refuses new WebSockets, /readyz 503)', () => (src.draining() ? 1 : 0));
}

/** A counter that shows a running total kept elsewhere (reset and set at each scrape). */
function total<L extends string>(
  p: PromClient,
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: (set: (labels: Partial<Record<L, string>>, v: number) => void) => void,
): void {
  new p.Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Counter<L>) {
      this.reset();
      read((labels, v) => this.inc(labels as Record<L, string>, v));
    },
  });
}

function counters(p: PromClient, registry: Registry, c: RelayCounters): void {
  const channels = (f: (ch: 'room' | 'account') => number) => (set: (l: { channel: string }, v: number) => void) => {
    set({ channel: 'room' }, f('room'));
    set({ channel: 'account' }, f('account'));
  };
  total(
    p,
    registry,
    'nullroom_frames_received_total',
    'WebSocket frames received',
    ['channel'],
    channels((ch) => (ch === 'room' ? c.roomFramesIn : c.accountFramesIn)),
  );
  total(
    p,
    registry,
    'nullroom_frames_received_bytes_total',
    'Their bytes',
    ['channel'],
    channels((ch) => (ch === 'room' ? c.roomBytesIn : c.accountBytesIn)),
  );
  total(
    p,
    registry,
    'nullroom_frames_sent_total',
    'WebSocket frames sent',
    ['channel'],
    channels((ch) => (ch === 'room' ? c.roomFramesOut : c.accountFramesOut)),
  );
  total(
    p,
    registry,
    'nullroom_frames_sent_bytes_total',
    'Their bytes',
    ['channel'],
    channels((ch) => (ch === 'room' ? c.roomBytesOut : c.accountBytesOut)),
  );
  total(p, registry, 'nullroom_deliveries_total', 'Room frames delivered (DELIVER, DIRECT_DELIVER), each recipient counted', [], (set) =>
    set({}, c.deliveries),
  );
  total(p, registry, 'nullroom_delivery_bytes_total', 'Their bytes', [], (set) => set({}, c.deliveryBytes));
  total(p, registry, 'nullroom_room_connections_opened_total', 'Room WebSockets opened', [], (set) => set({}, c.roomConnectionsOpened));
  total(
    p,
    registry,
    'nullroom_room_connections_closed_by_relay_total',
    'Room WebSockets the relay closed, by reason',
    ['reason'],
    (set) => {
      for (const [reason, n] of c.closes) set({ reason }, n);
    },
  );
  total(p, registry, 'nullroom_relay_errors_total', 'ERROR frames sent on room connections, by code', ['code'], (set) => {
    for (const [code, n] of Object.entries(c.relayErrors)) set({ code }, n);
  });
  total(p, registry, 'nullroom_account_results_total', 'Account channel submits answered, by status', ['status'], (set) => {
    for (const [status, n] of c.accountResults) set({ status }, n);
  });
  total(p, registry, 'nullroom_http_requests_total', 'HTTP requests served (not those refused at accept)', [], (set) =>
    set({}, c.httpRequests),
  );
  total(
    p,
    registry,
    'nullroom_http_refused_total',
    'HTTP requests refused, by area, reason and status',
    ['area', 'reason', 'status'],
    (set) => {
      for (const [reason, n] of Object.entries(c.httpRefused))
        set({ area: 'http', reason, status: String(HttpRefusals[reason as keyof typeof HttpRefusals]) }, n);
      for (const [reason, e] of c.blobRefused) set({ area: 'blobs', reason, status: String(e.status) }, e.count);
      for (const [reason, e] of c.apiRefused) set({ area: 'api', reason, status: String(e.status) }, e.count);
    },
  );
  total(p, registry, 'nullroom_upgrade_refused_total', 'WebSocket upgrades refused, by reason and status', ['reason', 'status'], (set) => {
    for (const [reason, n] of Object.entries(c.upgradeRefused))
      set({ reason, status: String(UpgradeRefusals[reason as keyof typeof UpgradeRefusals]) }, n);
  });
}
