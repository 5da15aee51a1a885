/**
 * Writing a binary message to a WebSocket's socket ourselves, the way `ws` would: a server frame is
 * the same bytes for every recipient (no mask), so a frame fanned out to a room gets its header
 * made once and then two writes per recipient, instead of `ws.send`'s per-recipient options object,
 * buffer checks and header. Used only while `ws`'s sender holds nothing back (no compression, no
 * queued frames: then `ws.send` writes at once too, and the order of frames on the socket is the
 * order of the calls); otherwise the frame goes through `ws.send`.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** What this relies on of `ws` (8.x): the socket it writes to, and its sender's queue and state. */
interface WsInternals {
  readonly _socket: Socket | null | undefined;
  readonly _sender: { readonly _state: number; readonly _queue: readonly unknown[] } | null | undefined;
}

/** RFC 6455 §5.2: FIN, opcode 2 (binary), no RSV bits, no mask; the length in 7, 16 or 64 bits. */
function header(len: number): Buffer {
  if (len < 126) return Buffer.from([0x82, len]);
  if (len < 0x1_0000) return Buffer.from([0x82, 126, len >>> 8, len & 0xff]);
  const h = Buffer.alloc(10);
  h[0] = 0x82;
  h[1] = 127;
  h.writeUIntBE(len, 4, 6);
  return h;
}

// The frame last written and its header: a fan-out writes one frame to every recipient in a row.
let lastFrame: Uint8Array | undefined;
let lastHeader: Buffer = Buffer.alloc(0);

/**
 * Writes `bytes` as one binary message on `ws` (which must be open); `done` runs once it is
 * written. False: not written, `ws.send` must do it (its sender is holding frames back).
 */
export function writeDirect(ws: WebSocket, bytes: Buffer, done?: (err?: Error | null) => void): boolean {
  const w = ws as unknown as WsInternals;
  const sender = w._sender;
  const socket = w._socket;
  // Anything unexpected (a `ws` whose internals changed) falls back to `ws.send`.
  if (!socket || !sender || sender._state !== 0 || !Array.isArray(sender._queue) || sender._queue.length > 0) return false;
  if (bytes !== lastFrame) {
    lastHeader = header(bytes.byteLength);
    lastFrame = bytes;
  }
  socket.write(lastHeader);
  socket.write(bytes, done);
  return true;
}
