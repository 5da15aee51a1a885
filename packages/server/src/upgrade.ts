/**
 * The WebSocket upgrades at /ws (rooms) and /account (the account channel, when the relay has
 * accounts): what a request must be to become a connection (the token "websocket", the path, the
 * origin, the subprotocol), and the caps in all and per address.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Server as WsServer, WebSocketServer } from 'ws';
import { RelaySocket } from './connection.js';
import { ACCOUNT_SUBPROTOCOL, SUBPROTOCOL } from '@nullroom/protocol';
import { addressKey, clientAddress, forgetPeerAddress } from './address.js';
import type { Account, Accounts } from './budget.js';
import { type RelayCounters, type UpgradeRefusal, UpgradeRefusals } from './counters.js';
import { type HttpConnections, answerRaw } from './httpServer.js';
import type { RelayLimits } from './limits.js';
import type { SharedConnections } from './roomService.js';
import type { RelayLogger } from './logger.js';
import { type OriginPolicy, checkOrigin } from './origin.js';
import { parseTarget } from './target.js';

export interface UpgradeContext {
  readonly limits: RelayLimits;
  readonly origins: OriginPolicy;
  readonly trustProxy: boolean;
  readonly accounts: Accounts;
  readonly wss: WsServer<typeof RelaySocket>;
  readonly httpConnections: HttpConnections;
  /** Open WebSocket connections now. */
  readonly openConnections: () => number;
  /** The relay drains (relay.ts drain()): every upgrade is refused, saying so. */
  readonly draining: () => boolean;
  readonly log: RelayLogger;
  readonly counters: RelayCounters;
  /** A WebSocket is open: `socket` is the upgrade request's, the TCP/TLS socket under `ws`. */
  readonly accept: (ws: RelaySocket, account: Account, socket: Socket) => void;
  /**
   * The account channel at /account (accounts/channelUpgrade.ts), when the relay has accounts:
   * takes over a request that passed the checks here; `done` when its socket is a WebSocket or gone.
   */
  readonly accountUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer, done: (upgraded: boolean) => void) => void;
  /** Several relay nodes: the per-address cap counts every node's connections (roomService.ts). */
  readonly shared?: SharedConnections;
}

/** The WebSocket side of the upgrade: binary frames up to the frame limit, no compression, our subprotocol only. */
export function webSocketServer(limits: Pick<RelayLimits, 'maxFrameBytes'>): WsServer<typeof RelaySocket> {
  return new WebSocketServer<typeof RelaySocket>({
    noServer: true,
    maxPayload: limits.maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
    WebSocket: RelaySocket,
    handleProtocols: (set) => (set.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
}

/** Until the upgrade completes, a socket error ends the socket (no input may end the process). */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  421: 'Misdirected Request',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A draining relay says so, and when to try again (elsewhere, once a load balancer has seen /readyz). */
const DRAINING = { headers: { 'Retry-After': '5' }, body: 'draining: this relay takes no new connections, connect again\n' };

/** Refuses an upgrade: counted by reason (counters.ts), answered with its status. */
export function refuseUpgrade(socket: Duplex, reason: UpgradeRefusal, counters: RelayCounters | undefined): void {
  if (counters !== undefined) counters.upgradeRefused[reason]++;
  const status = UpgradeRefusals[reason];
  if (socket.writable) answerRaw(socket, status, STATUS_TEXT[status] ?? 'Error', reason === 'draining' ? DRAINING : {});
  else socket.destroy();
}

/** The server's 'upgrade' listener. No input may end the process: whatever throws answers this socket only. */
export function upgradeHandler(ctx: UpgradeContext): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    socket.on('error', destroyOnError);
    if (ctx.httpConnections.isRefused(socket)) return void socket.destroy();
    ctx.httpConnections.leave(req.socket);
    try {
      upgrade(ctx, req, socket, head);
    } catch {
      ctx.log.error('upgrade internal error');
      try {
        refuseUpgrade(socket, 'internal', ctx.counters);
      } catch {
        socket.destroy();
      }
    }
  };
}

function upgrade(ctx: UpgradeContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const { limits } = ctx;
  const reject = (reason: UpgradeRefusal) => refuseUpgrade(socket, reason, ctx.counters);
  // Node hands over any request with an Upgrade header, whatever it names ('chunked', 'h2c',
  // 'TLS/1.2'): only a WebSocket is spoken here (RFC 9110 §7.8; RFC 6455 §4.2.1 wants the token
  // "websocket", case-insensitive).
  const wanted = req.headers.upgrade;
  if (typeof wanted !== 'string' || wanted.trim().toLowerCase() !== 'websocket') return reject('not_websocket');
  const target = parseTarget(req.url);
  if (target === undefined) return reject('bad_target');
  const channel = target.pathname === '/account' ? ctx.accountUpgrade : undefined;
  if (target.pathname !== '/ws' && channel === undefined) return reject('not_found');
  if (ctx.draining()) return reject('draining');
  const verdict = checkOrigin(req.headers, ctx.origins);
  if (verdict === 'misdirected') return reject('misdirected');
  if (verdict === 'forbidden') return reject('forbidden_origin');
  const offered = req.headers['sec-websocket-protocol'];
  const protocols = (typeof offered === 'string' ? offered : '').split(',').map((s) => s.trim());
  if (!protocols.includes(channel === undefined ? SUBPROTOCOL : ACCOUNT_SUBPROTOCOL)) return reject('bad_subprotocol');
  if (ctx.openConnections() >= limits.maxConnections) return reject('capacity');
  const key = addressKey(clientAddress(req, ctx.trustProxy));
  const account = ctx.accounts.get(key, performance.now());
  if (account.connections >= limits.maxConnectionsPerAddress) {
    ctx.log.debug('upgrade refused', { reason: 'address_limit', max: limits.maxConnectionsPerAddress, address: key });
    return reject('address_limit');
  }
  // Counted from now, not once the handshake completes, so parallel handshakes cannot overshoot.
  const pending = countPending(socket, account);
  const shared = ctx.shared;
  if (shared === undefined) return accept(ctx, req, socket, head, channel, account, pending);
  shared
    .take(account, limits.maxConnectionsPerAddress)
    .then(
      (ok) => {
        if (!ok) {
          ctx.log.debug('upgrade refused', { reason: 'address_limit', max: limits.maxConnectionsPerAddress, address: key, nodes: 'all' });
          return reject('address_limit');
        }
        if (socket.destroyed) return shared.release(account);
        socket.once('close', () => shared.release(account));
        accept(ctx, req, socket, head, channel, account, pending);
      },
      () => reject('store_unavailable'),
    )
    .catch(() => {
      ctx.log.error('upgrade internal error');
      socket.destroy();
    });
}

/** The checks passed: the handshake, for the account channel or a room connection. */
function accept(
  ctx: UpgradeContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  channel: UpgradeContext['accountUpgrade'],
  account: Account,
  pending: { accepted(): void },
): void {
  if (channel !== undefined) {
    return channel(req, socket, head, (upgraded) => {
      if (!upgraded) return;
      // Counted against its address while open, as a room connection is.
      pending.accepted();
      socket.off('error', destroyOnError);
      socket.once('close', () => account.connections--);
      forgetPeerAddress(socket);
    });
  }
  const tcp = req.socket;
  ctx.wss.handleUpgrade(req, socket, head, (ws) => {
    pending.accepted();
    // `ws` has its own error listener on the socket now (it destroys it too).
    socket.off('error', destroyOnError);
    ctx.accept(ws, account, tcp);
    forgetPeerAddress(tcp);
  });
}

/**
 * Counts a handshake against its address until it completes (the connection counts from then on)
 * or its socket closes first. Its own function, so that the listener it leaves on the socket for
 * the connection's lifetime holds the account only, not the upgrade request and its headers.
 */
function countPending(socket: Duplex, account: Account): { accepted(): void } {
  account.connections++;
  const closed = () => account.connections--;
  socket.once('close', closed);
  return { accepted: () => socket.off('close', closed) };
}
