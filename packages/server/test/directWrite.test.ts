/**
 * directWrite.ts frames a binary message itself: its header must be the one `ws` makes (checked
 * against ws's own Sender.frame for each length encoding), it writes header and payload to the
 * socket `ws` writes to (joined in one buffer, made once per frame, up to JOIN_HEADER_MAX; above it
 * the payload itself, uncopied), and it leaves the frame to `ws.send` whenever ws's sender holds
 * frames back.
 * Every relay test also reads these frames through a real `ws` client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket } from 'ws';
import * as wsModule from 'ws';
import { JOIN_HEADER_MAX, writeDirect } from '../src/directWrite.js';

type Frame = (data: Buffer, o: Record<string, unknown>) => Buffer[];
const wsFrame = (wsModule as unknown as { Sender: { frame: Frame } }).Sender.frame;

/** A stand-in for a server-side `ws` socket: what is written to its socket, and its sender's state. */
function fakeWs(state = 0, queued = 0) {
  const written: Buffer[] = [];
  const ws = {
    _socket: { write: (b: Buffer) => written.push(b) },
    _sender: { _state: state, _queue: new Array(queued).fill({}) },
  };
  return { ws: ws as unknown as WebSocket, written };
}

test('the header is the one ws makes, for 7-, 16- and 64-bit lengths, followed by the payload itself', () => {
  for (const len of [0, 1, 125, 126, 1024, 65_535, 65_536, 2 * 1024 * 1024 + 7]) {
    const payload = Buffer.alloc(len, 0x5a);
    const { ws, written } = fakeWs();
    assert.equal(writeDirect(ws, payload), true);
    const ours = Buffer.concat(written);
    assert.ok(
      ours.equals(Buffer.concat(wsFrame(payload, { fin: true, rsv1: false, opcode: 2, mask: false, readOnly: true }))),
      `${len} bytes`,
    );
    if (len > JOIN_HEADER_MAX) assert.equal(written[1], payload, 'a large payload goes as it is, not copied');
    else assert.equal(written.length, 1, 'a small frame is one write');
  }
});

test('the same frame to many sockets in a row is framed once; a new frame gets its own', () => {
  for (const size of [300, JOIN_HEADER_MAX + 1]) {
    const a = Buffer.alloc(size);
    const first = fakeWs();
    const second = fakeWs();
    writeDirect(first.ws, a);
    writeDirect(second.ws, a);
    assert.equal(first.written.length, second.written.length);
    first.written.forEach((b, i) => assert.equal(b, second.written[i], `${size} bytes: the same buffers, not copies per socket`));
  }
  const other = fakeWs();
  writeDirect(other.ws, Buffer.alloc(10, 7));
  assert.deepEqual(other.written[0], Buffer.concat([Buffer.from([0x82, 10]), Buffer.alloc(10, 7)]));
});

test("nothing is written while ws's sender holds frames back (compressing, or a queue): ws.send must order them", () => {
  for (const [state, queued] of [
    [1, 0],
    [0, 1],
  ] as const) {
    const { ws, written } = fakeWs(state, queued);
    assert.equal(writeDirect(ws, Buffer.alloc(5)), false);
    assert.equal(written.length, 0);
  }
});
