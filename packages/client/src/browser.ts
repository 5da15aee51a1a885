import type { WebSocketFactory, WebSocketLike } from './transport.js';

/** Browser adapter: the page's own WebSocket (TLS trust is the browser's). */
export const browserWebSocket: WebSocketFactory = (url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike;
