/**
 * What an idle WebSocket keeps of what it last read. `ws`'s receiver queues every chunk read from
 * the socket in an array and shifts it out once parsed; the emptied array keeps its backing store
 * (17 slots, 152 bytes) until the next read. An idle connection's last read is the pong to our
 * ping, every ping interval: truncating the empty queue then (V8 trims the store) gives those bytes
 * back for the time the connection says nothing. Nothing is lost: only an empty queue is touched.
 */
import type { WebSocket } from 'ws';

/** What this relies on of `ws` (8.x): its receiver's queue of chunks read and not yet parsed. */
interface WsInternals {
  readonly _receiver?: { readonly _buffers?: unknown } | null;
}

/** Gives back the storage of `ws`'s queue of chunks read, if it holds none. */
export function releaseReadQueue(ws: WebSocket): void {
  const q = (ws as unknown as WsInternals)._receiver?._buffers;
  // Anything unexpected (a `ws` whose internals changed) is left as it is.
  if (Array.isArray(q) && q.length === 0) q.length = 0;
}
