/**
 * The account channel's upgrade (docs/PROTOCOL.md §11.11): a request to /account that passed the
 * relay's checks (upgrade.ts: the origin, the subprotocol `nullroom.account.v1`, the caps) becomes
 * a channel only with a valid session bound to a device (§11.8), the browser's cookie or the
 * terminal's bearer token; without a session it is answered 401, with one not bound to a device
 * 403 `DEVICE_NOT_BOUND`, and never becomes a WebSocket. The channel then serves that device only.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ACCOUNT_SUBPROTOCOL, type CodecLimits } from '@nullroom/protocol';
import { refuseUpgrade } from '../upgrade.js';
import { AccountErrors } from './accountErrors.js';
import type { AccountBus } from './accountShared.js';
import type { AccountStore, StoredUser } from './accountStore.js';
import { ChannelHub, type ChannelLimits, defaultChannelLimits } from './channelHub.js';
import { type ConversationLimits, defaultConversationLimits } from './conversationStore.js';
import { presented, tokenHash } from './sessions.js';

/** The signed-in user of an upgrade request and the device its session is bound to, or undefined. */
async function signedIn(store: AccountStore, req: IncomingMessage): Promise<{ user: StoredUser; device?: string } | undefined> {
  const p = presented(req.headers);
  if (p === undefined) return undefined;
  const found = await store.session(tokenHash(p.token), Date.now());
  return found === undefined ? undefined : { user: found.user, device: found.session.device };
}

/** The refusal of an upgrade whose session is not a device's: 403 with the accounts API's JSON body. */
function notBound(socket: Duplex, hub: ChannelHub): void {
  if (hub.counters !== undefined) hub.counters.upgradeRefused.device_not_bound++;
  const body = JSON.stringify({ error: 'DEVICE_NOT_BOUND', message: AccountErrors.DEVICE_NOT_BOUND.text });
  socket.end(
    `HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Cache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The relay's account channels: the hub, and the upgrade handler for upgrade.ts. */
export function accountChannels(
  store: AccountStore,
  limits: { channel?: Partial<ChannelLimits>; conversation?: Partial<ConversationLimits> },
  codec: CodecLimits,
  bus: AccountBus,
) {
  const hub = new ChannelHub(
    store,
    { ...defaultConversationLimits, ...limits.conversation },
    { ...defaultChannelLimits, ...limits.channel },
    codec,
    bus,
  );
  return { hub, upgrade: channelUpgrade(store, hub, codec.maxFrameBytes) };
}

function channelUpgrade(store: AccountStore, hub: ChannelHub, maxFrameBytes: number) {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (set) => (set.has(ACCOUNT_SUBPROTOCOL) ? ACCOUNT_SUBPROTOCOL : false),
  });
  return (req: IncomingMessage, socket: Duplex, head: Buffer, done: (upgraded: boolean) => void): void => {
    signedIn(store, req).then(
      (s) => {
        if (socket.destroyed) return done(false);
        if (s === undefined) {
          refuseUpgrade(socket, 'not_signed_in', hub.counters);
          return done(false);
        }
        const device = s.device;
        if (device === undefined) {
          notBound(socket, hub);
          return done(false);
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          done(true);
          hub.attach(ws, s.user, device);
        });
      },
      () => {
        if (!socket.destroyed) refuseUpgrade(socket, 'store_unavailable', hub.counters);
        done(false);
      },
    );
  };
}
