/**
 * The account channel's upgrade (docs/PROTOCOL.md §11.11): a request to /account that passed the
 * relay's checks (upgrade.ts: the origin, the subprotocol `nullroom.account.v1`, the caps) becomes
 * a channel only with a valid session, the browser's cookie or the terminal's bearer token;
 * otherwise it is answered 401 and never becomes a WebSocket.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ACCOUNT_SUBPROTOCOL, type CodecLimits } from '@nullroom/protocol';
import { answerRaw } from '../httpServer.js';
import type { AccountStore, StoredUser } from './accountStore.js';
import { ChannelHub, type ChannelLimits, defaultChannelLimits } from './channelHub.js';
import { type ConversationLimits, defaultConversationLimits } from './conversationStore.js';
import { presented, tokenHash } from './sessions.js';

/** The signed-in user of an upgrade request, or undefined. */
async function userOf(store: AccountStore, req: IncomingMessage): Promise<StoredUser | undefined> {
  const p = presented(req.headers);
  if (p === undefined) return undefined;
  return (await store.session(tokenHash(p.token), Date.now()))?.user;
}

/** The relay's account channels: the hub, and the upgrade handler for upgrade.ts. */
export function accountChannels(
  store: AccountStore,
  limits: { channel?: Partial<ChannelLimits>; conversation?: Partial<ConversationLimits> },
  codec: CodecLimits,
) {
  const hub = new ChannelHub(
    store,
    { ...defaultConversationLimits, ...limits.conversation },
    { ...defaultChannelLimits, ...limits.channel },
    codec,
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
    userOf(store, req).then(
      (user) => {
        if (socket.destroyed) return done(false);
        if (user === undefined) {
          answerRaw(socket, 401, 'Unauthorized');
          return done(false);
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          done(true);
          hub.attach(ws, user);
        });
      },
      () => {
        if (!socket.destroyed) answerRaw(socket, 503, 'Service Unavailable');
        done(false);
      },
    );
  };
}
