/** Shared helpers for tests that run a real relay and real clients over real sockets on 127.0.0.1. */
import { startRelay, type Relay, type RelayOptions } from '@nullroom/server';
import { type RelayHooks, startInstrumentedRelay } from '@nullroom/server/instrumented';
import {
  type KeyStore,
  NullroomClient,
  type Room,
  type RoomEvents,
  type RoomTimings,
  randomRoomSecret,
  type RoomSecret,
} from '../src/index.js';
import { type NodeTlsOptions, nodeWebSocket } from '../src/node/index.js';
import type { WebSocketLike } from '../src/transport.js';

export { randomRoomSecret, type RoomSecret };

export interface TestClient {
  client: NullroomClient;
  room: Room;
  /** The client's current socket, to simulate a network failure. */
  socket(): WebSocketLike | undefined;
  events: { type: string; e: unknown }[];
  messages: { from: string; text: string }[];
}

/** A relay on a free loopback port; with `hooks`, its wire decorated (@nullroom/server/instrumented). */
export async function relay({ hooks, ...opts }: RelayOptions & { hooks?: RelayHooks } = {}): Promise<Relay> {
  const o = { host: '127.0.0.1', port: 0, ...opts };
  return hooks === undefined ? startRelay(o) : startInstrumentedRelay(o, hooks);
}

const open = new Set<NullroomClient>();
/** Closes every client `member` made (call from afterEach): a failed test must not leave clients reconnecting forever. */
export async function closeAll(): Promise<void> {
  const all = [...open];
  open.clear();
  await Promise.all(all.map((c) => c.close().catch(() => undefined)));
}

export async function member(
  url: string,
  secret: RoomSecret,
  nick: string,
  timings: Partial<RoomTimings> = {},
  keyStore?: KeyStore,
  tls: NodeTlsOptions = {},
  /** Called with the Room before it joins (features that must hear what comes right after the join). */
  onRoom?: (room: Room) => void,
): Promise<TestClient> {
  let current: WebSocketLike | undefined;
  const base = nodeWebSocket(tls);
  const client = new NullroomClient({
    url,
    webSocket: (u, p) => (current = base(u, p)),
    timings: { removalGraceMs: 300, ...timings },
    ...(keyStore === undefined ? {} : { keyStore }),
  });
  open.add(client);
  await client.connect();
  const room = await client.join(onRoom === undefined ? { secret, nick } : { secret, nick, onRoom });
  const events: TestClient['events'] = [];
  const messages: TestClient['messages'] = [];
  for (const type of ['member-joined', 'member-left', 'message', 'error', 'joined', 'phase', 'key-changed', 'disruption'] as const) {
    room.on(type, (e) => events.push({ type, e }));
  }
  room.on('message', (e) => messages.push({ from: e.from, text: e.text }));
  return { client, room, socket: () => current, events, messages };
}

/** Polls `cond` every 20 ms until it holds, or fails after `ms` with `what`. */
export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function nicks(c: TestClient): string[] {
  return c.room
    .members()
    .map((m) => m.nick)
    .sort();
}

export function once<K extends keyof RoomEvents>(room: Room, type: K): Promise<RoomEvents[K]> {
  return new Promise((resolve) => {
    const off = room.on(type, (e) => {
      off();
      resolve(e);
    });
  });
}

/** Every client sees the same members and is in the same epoch. */
export function converged(cs: TestClient[], expected: string[]): boolean {
  const want = [...expected].sort().join(',');
  const epoch = cs[0]?.room.epoch;
  return cs.every((c) => c.room.state === 'joined' && nicks(c).join(',') === want && c.room.epoch === epoch);
}

/**
 * A relay (with `opts`) and alice and bob in one new room; resolves once both list both. With `t`,
 * the relay is closed after the test (registered before anyone joins).
 */
export async function twoMembers(
  opts: RelayOptions = {},
  t?: { after(fn: () => unknown): void },
): Promise<{ r: Relay; secret: RoomSecret; a: TestClient; b: TestClient }> {
  const r = await relay(opts);
  t?.after(() => r.close());
  const secret = randomRoomSecret();
  const a = await member(r.url, secret, 'alice');
  const b = await member(r.url, secret, 'bob');
  await until(() => converged([a, b], ['alice', 'bob']), 'two members');
  return { r, secret, a, b };
}

/**
 * Relay limits for tests of what follows a lost connection when the client joins again instead of
 * resuming: the lost slot leaves at once (resumeGraceMs 0, docs/PROTOCOL.md §4.5), so PEER_GONE
 * comes now rather than after the grace period, and DIRECT to it is NO_SUCH_PEER.
 */
export const GONE_AT_ONCE = { resumeGraceMs: 0 } as const;

/** A SessionStore in memory (a page's IndexedDB, a terminal's folder), and what it holds. */
export function memorySessions() {
  const saved = new Map<string, Uint8Array>();
  const sessions = {
    save: async (k: string, b: Uint8Array) => void saved.set(k, b),
    remove: async (k: string) => void saved.delete(k),
    load: async () => [...saved.values()],
  };
  return { saved, sessions };
}
