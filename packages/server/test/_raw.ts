/** A raw WebSocket peer for relay tests: sends hand-made bytes, collects decoded relay frames. */
import WebSocket from 'ws';
import { type RelayFrame, type RoomLocator, SUBPROTOCOL, asLocator, asReqId, decodeRelayFrame, encodeFrame } from '@nullroom/protocol';

export interface RawPeer {
  ws: WebSocket;
  frames: RelayFrame[];
  closed: Promise<number>;
  send(bytes: Uint8Array): void;
  /** The first frame of that type (and predicate) not returned before, waiting for it if needed. */
  next<T extends RelayFrame['type']>(
    type: T,
    pred?: (f: Extract<RelayFrame, { type: T }>) => boolean,
    ms?: number,
  ): Promise<Extract<RelayFrame, { type: T }>>;
}

export async function connect(url: string, opts: WebSocket.ClientOptions = {}): Promise<RawPeer> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, SUBPROTOCOL, { perMessageDeflate: false, ...opts });
  const frames: RelayFrame[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data: Buffer) => {
    frames.push(decodeRelayFrame(new Uint8Array(data)));
    for (const w of waiters) w();
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const taken = new Set<number>();
  return {
    ws,
    frames,
    closed,
    send: (bytes) => ws.send(bytes),
    next: (type, pred, ms = 5000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          for (let i = 0; i < frames.length; i++) {
            const f = frames[i]!;
            if (!taken.has(i) && f.type === type && (pred === undefined || pred(f as never))) {
              taken.add(i);
              waiters.delete(check);
              clearTimeout(timer);
              return resolve(f as never);
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no ${type} frame within ${ms} ms; got ${frames
                .filter((_, i) => !taken.has(i))
                .map((f) => f.type)
                .join(',')}`,
            ),
          );
        }, ms);
        waiters.add(check);
        check();
      }),
  };
}

export function locator(n: number): RoomLocator {
  return asLocator(new Uint8Array(32).fill(n));
}

/** Big-endian byte helpers for hand-written frames. */
export const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
export const u64 = (n: number) => [...u32(Math.floor(n / 2 ** 32)), ...u32(n >>> 0)];
export const bytes = (...parts: (number | number[] | Uint8Array)[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === 'number' ? [p] : [...p])));

/** A raw connection that joined `room` and the upload ticket it was granted (docs/PROTOCOL.md §9.1), in base64url. */
export async function ticketed(url: string, room: RoomLocator): Promise<{ peer: RawPeer; ticket: string }> {
  const peer = await connect(url);
  peer.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room }));
  await peer.next('JOINED');
  peer.send(encodeFrame({ type: 'TICKET', reqId: asReqId(2), room }));
  const grant = await peer.next('TICKET_GRANT');
  return { peer, ticket: Buffer.from(grant.ticket).toString('base64url') };
}
