/**
 * Node adapter: WebSockets through `ws`, with TLS trust either from a CA file or from a pinned
 * certificate fingerprint (`sha256:HEX` of the DER certificate, as `nullroom serve --self-signed` prints).
 */
import type tls from 'node:tls';
import WebSocket from 'ws';
import type { WebSocketFactory, WebSocketLike } from '../transport.js';
import { type NodeTlsOptions, parsePin, pinnedTlsConnect } from './tls.js';

export { type NodeTlsOptions, parsePin, certificateFingerprint, pinnedTlsConnect } from './tls.js';

export function nodeWebSocket(opts: NodeTlsOptions = {}): WebSocketFactory {
  const pin = opts.pin === undefined ? undefined : parsePin(opts.pin);
  return (url, protocol) => {
    const ws = new WebSocket(url, protocol, {
      perMessageDeflate: false,
      maxPayload: 4 * 1024 * 1024,
      handshakeTimeout: 10_000,
      ...(opts.headers !== undefined ? { headers: opts.headers } : {}),
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      ...(pin !== undefined
        ? {
            rejectUnauthorized: false,
            createConnection: ((options: tls.ConnectionOptions) =>
              pinnedTlsConnect(options, pin)) as unknown as WebSocket.ClientOptions['createConnection'],
          }
        : {}),
    });
    return ws as unknown as WebSocketLike;
  };
}
