/**
 * The relay with its wire decorated, for tests that watch or rewrite what crosses it: every frame
 * received and sent (searching for plaintext, counting bytes), and a malicious relay that drops,
 * changes or adds frames. The production API (startRelay) has no such access.
 * Other packages' tests import it as `@nullroom/server/instrumented`.
 */
import { type Wire, socketWire } from '../src/connection.js';
import { type Relay, type RelayOptions, openRelay } from '../src/relay.js';

export interface RelayHooks {
  /** Sees every WebSocket message received ('in') and sent ('out'); for tests that search for plaintext. */
  onWire?(dir: 'in' | 'out', connId: number, bytes: Uint8Array): void;
  /** Rewrites what is sent to one connection (none, one or several frames); lets a test build a malicious relay. */
  transformOut?(connId: number, bytes: Uint8Array): Uint8Array[];
}

/** Decorates `inner`: frames pass through the hooks on their way in and out. */
export function instrumentedWire(inner: Wire, hooks: RelayHooks): Wire {
  return {
    write(ws, conn, bytes, done) {
      const out = hooks.transformOut ? hooks.transformOut(conn, bytes) : [bytes];
      if (out.length === 0) done?.(); // dropped by the hook: nothing stays queued
      let n = 0;
      out.forEach((b, i) => {
        hooks.onWire?.('out', conn, b);
        n += inner.write(ws, conn, b, i === out.length - 1 ? done : undefined);
      });
      return n;
    },
    read(conn, bytes) {
      hooks.onWire?.('in', conn, bytes);
      inner.read(conn, bytes);
    },
  };
}

/** startRelay, with the hooks on its wire. */
export function startInstrumentedRelay(opts: RelayOptions, hooks: RelayHooks): Promise<Relay> {
  return openRelay(opts, instrumentedWire(socketWire, hooks));
}
