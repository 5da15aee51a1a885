/**
 * The forking relay of docs/SECURITY.md §3 and docs/PROTOCOL.md §8, shared by
 * packages/client/test/fork.test.ts and apps/web/test/web-fork.test.ts (which loads the compiled
 * module from this package's dist/test).
 */
import { DeliveryKind, type Frame, asSeq, decodeFrame, encodeFrame, errorNameOf } from '@nullroom/protocol';
import type { RelayHooks } from '@nullroom/server/instrumented';

type Transform = NonNullable<RelayHooks['transformOut']>;

/** The frame these bytes encode, or undefined when they are not one. */
export const decoded = (bytes: Uint8Array): Frame | undefined => {
  try {
    return decodeFrame(bytes);
  } catch {
    return undefined;
  }
};

/**
 * A `transformOut` hook that delivers honestly until `fork(slot)`: from then on it hides the next
 * commit delivered to that slot's connection and answers that member's own commit for the same
 * epoch (STALE_EPOCH) with ACK, then delivers everything again. `faked()` says whether it has.
 */
export function forkingRelay() {
  const slotOf = new Map<number, number>(); // connection id -> the room slot the relay gave it
  let attack: Transform | undefined;
  let faked = false;
  const transformOut: Transform = (conn, bytes) => {
    const f = decoded(bytes);
    if (f?.type === 'JOINED') slotOf.set(conn, f.slot);
    return attack === undefined ? [bytes] : attack(conn, bytes);
  };
  function fork(slot: number): void {
    let hidden = false;
    attack = (conn, bytes) => {
      if (slotOf.get(conn) !== slot) return [bytes];
      const f = decoded(bytes);
      if (!hidden && f?.type === 'DELIVER' && f.kind === DeliveryKind.COMMIT) {
        hidden = true;
        return [];
      }
      if (hidden && !faked && f?.type === 'ERROR' && errorNameOf(f.code) === 'STALE_EPOCH') {
        faked = true;
        return [encodeFrame({ type: 'ACK', reqId: f.reqId, seq: asSeq(0) })];
      }
      return [bytes];
    };
  }
  return { transformOut, fork, faked: () => faked };
}
