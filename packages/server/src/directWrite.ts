/**
 * Writing a binary message to a WebSocket's socket ourselves, the way `ws` would: a server frame is
 * the same bytes for every recipient (no mask), so a frame fanned out to a room gets its header
 * made once (joined to a small frame once: one write per recipient), instead of `ws.send`'s per-recipient options object,
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

/**
 * Frames up to this size are written with their header in one buffer (a copy made once per frame:
 * each recipient then costs one write, one entry in the socket's queue and its writev, not two;
 * about 4% of the relay's CPU per delivery at 1 KiB). Larger ones go as header and payload, uncopied.
 */
export const JOIN_HEADER_MAX = 16 * 1024;

// The frame last written, with what goes on the wire for it: a fan-out writes one frame to every
// recipient in a row.
let lastFrame: Uint8Array | undefined;
let lastWire: Buffer = Buffer.alloc(0);
let lastHeader: Buffer | undefined;

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
    const h = header(bytes.byteLength);
    lastFrame = bytes;
    lastHeader = bytes.byteLength <= JOIN_HEADER_MAX ? undefined : h;
    lastWire = lastHeader === undefined ? Buffer.concat([h, bytes]) : bytes;
  }
  if (lastHeader !== undefined) socket.write(lastHeader);
  socket.write(lastWire, done);
  return true;
}
