/**
 * Hostile clients for relay tests, below the `ws` library: raw HTTP over a TCP socket, and a
 * WebSocket peer that completes the handshake and then does only what the test says (never reads,
 * sends unsolicited pongs, ...).
 */
import { connect as tcp, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SUBPROTOCOL } from '@nullroom/protocol';

/** Sends raw bytes, returns everything the server answered until it closed (or `ms` passed). */
export function rawHttp(port: number, request: string | Uint8Array, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = tcp(port, '127.0.0.1');
    const got: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(got).toString('latin1'));
    };
    const timer = setTimeout(done, ms);
    s.on('data', (d) => got.push(d));
    s.on('error', done);
    s.on('close', done);
    s.write(request);
  });
}

/** The status code of a raw HTTP answer, or 0 when there was none. */
export const statusOf = (answer: string): number => Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0);

export function upgradeRequest(target: string, headers: Record<string, string> = {}): string {
  const h: Record<string, string> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Protocol': SUBPROTOCOL,
    ...headers,
  };
  return `GET ${target} HTTP/1.1\r\n${Object.entries(h)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

/** A masked client frame (RFC 6455 §5.2): opcode 0x2 binary, 0x9 ping, 0xa pong. */
export function clientFrame(opcode: number, payload: Uint8Array): Buffer {
  const n = payload.byteLength;
  const head =
    n < 126
      ? Buffer.from([0x80 | opcode, 0x80 | n])
      : n < 65536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), u64(n)]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

export interface SilentPeer {
  socket: Socket;
  /** Sends one binary message (a relay frame). */
  send(frame: Uint8Array): void;
  /** Resolves when the relay closed the TCP connection. */
  closed: Promise<void>;
  readonly isClosed: boolean;
}

/**
 * A WebSocket client that completes the handshake and then stops reading (its socket is paused):
 * whatever the relay sends piles up in the kernel buffers and then in the relay's memory.
 */
export function silentPeer(port: number, headers: Record<string, string> = {}): Promise<SilentPeer> {
  return new Promise((resolve, reject) => {
    const socket = tcp(port, '127.0.0.1');
    // A small receive buffer, so the relay's own queue fills sooner (the kernel's would hide it).
    socket.on('connect', () => socket.write(upgradeRequest('/ws', headers)));
    let closedFlag = false;
    const closed = new Promise<void>((res) => socket.on('close', () => ((closedFlag = true), res())));
    socket.on('error', () => undefined);
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      // A paused socket never sees the peer's FIN; an empty unsolicited pong (no answer, no proof
      // of life) every 100 ms finds out when the relay has dropped the connection (EPIPE/RST).
      const probe = setInterval(() => socket.write(clientFrame(0xa, new Uint8Array(0))), 100);
      probe.unref();
      socket.once('close', () => clearInterval(probe));
      if (statusOf(head) !== 101) return reject(new Error(`upgrade answered ${statusOf(head)}`));
      resolve({
        socket,
        send: (f) => socket.write(clientFrame(0x2, f)),
        closed,
        get isClosed() {
          return closedFlag;
        },
      });
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('closed during the handshake')));
  });
}
