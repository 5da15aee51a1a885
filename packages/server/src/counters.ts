/**
 * What the relay counts for its metrics (metrics.ts): plain numbers that the hot paths increment
 * (a frame in, a frame out, a delivery, a refusal) and that /metrics reads at scrape time. Nothing
 * here names a room, a person, an address or a locator: the only keys are names from fixed sets
 * (the protocol's error codes, the relay's close reasons, the refusal reasons below).
 */
import { ErrorCodes, type ErrorName, FrameType } from '@nullroom/protocol';

/** Why an HTTP request was refused before any route served it, or by the page handler (http.ts, httpServer.ts). */
export const HttpRefusals = {
  connections: 503,
  bad_target: 400,
  misdirected: 421,
  forbidden_origin: 403,
  method_not_allowed: 405,
  not_found: 404,
  bad_path: 400,
  header_overflow: 431,
  request_timeout: 408,
  bad_request: 400,
  internal: 500,
} as const;
export type HttpRefusal = keyof typeof HttpRefusals;

/** Why a WebSocket upgrade (/ws or /account) was refused (upgrade.ts, accounts/channelUpgrade.ts). */
export const UpgradeRefusals = {
  not_websocket: 400,
  bad_target: 400,
  not_found: 404,
  misdirected: 421,
  forbidden_origin: 403,
  bad_subprotocol: 400,
  draining: 503,
  capacity: 503,
  address_limit: 503,
  not_signed_in: 401,
  device_not_bound: 403,
  store_unavailable: 503,
  internal: 500,
} as const;
export type UpgradeRefusal = keyof typeof UpgradeRefusals;

const zeroes = <K extends string>(keys: readonly K[]): Record<K, number> =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

/** ERROR code number -> its name (the protocol's table, inverted once). */
const errorNames = new Map<number, ErrorName>(Object.entries(ErrorCodes).map(([name, code]) => [code, name as ErrorName]));

export class RelayCounters {
  /** Room WebSocket frames and their bytes, as read from and handed to the sockets. */
  roomFramesIn = 0;
  roomBytesIn = 0;
  roomFramesOut = 0;
  roomBytesOut = 0;
  /** Account channel frames (accounts/accountChannel.ts). */
  accountFramesIn = 0;
  accountBytesIn = 0;
  accountFramesOut = 0;
  accountBytesOut = 0;
  /** DELIVER and DIRECT_DELIVER frames written to a room connection, and their bytes (each recipient counts). */
  deliveries = 0;
  deliveryBytes = 0;
  /** Room WebSockets opened since start. */
  roomConnectionsOpened = 0;
  /** HTTP requests handed to the handler (not those refused at accept). */
  httpRequests = 0;
  /** ERROR frames sent on room connections, by code name. */
  readonly relayErrors: Record<ErrorName, number> = zeroes(Object.keys(ErrorCodes) as ErrorName[]);
  /** Room connections the relay closed, by CloseErrors name. */
  readonly closes = new Map<string, number>();
  readonly httpRefused: Record<HttpRefusal, number> = zeroes(Object.keys(HttpRefusals) as HttpRefusal[]);
  readonly upgradeRefused: Record<UpgradeRefusal, number> = zeroes(Object.keys(UpgradeRefusals) as UpgradeRefusal[]);
  /** Refusals of the blob endpoint by BlobErrors name, of the accounts API by AccountErrors name, of account channel submits by ResultStatus name. */
  readonly blobRefused = new Map<string, { status: number; count: number }>();
  readonly apiRefused = new Map<string, { status: number; count: number }>();
  readonly accountResults = new Map<string, number>();

  /** One frame handed to a room connection's socket (connection.ts send): a cheap look at its type byte only. */
  roomFrameOut(bytes: Uint8Array): void {
    this.roomFramesOut++;
    this.roomBytesOut += bytes.byteLength;
    const type = bytes[0];
    if (type === FrameType.DELIVER || type === FrameType.DIRECT_DELIVER) {
      this.deliveries++;
      this.deliveryBytes += bytes.byteLength;
    } else if (type === FrameType.ERROR && bytes.byteLength >= 7) {
      // ERROR = type:u8 reqId:u32 code:u16 (docs/PROTOCOL.md §4, frame.ts).
      const name = errorNames.get((bytes[5]! << 8) | bytes[6]!);
      if (name !== undefined) this.relayErrors[name]++;
    }
  }

  closed(reason: string): void {
    this.closes.set(reason, (this.closes.get(reason) ?? 0) + 1);
  }

  /** `code` comes from a fixed table (BlobErrors, AccountErrors): the map stays as small as it. */
  refused(area: 'blobs' | 'api', code: string, status: number): void {
    const m = area === 'blobs' ? this.blobRefused : this.apiRefused;
    const e = m.get(code);
    if (e === undefined) m.set(code, { status, count: 1 });
    else e.count++;
  }

  accountResult(status: string): void {
    this.accountResults.set(status, (this.accountResults.get(status) ?? 0) + 1);
  }
}
