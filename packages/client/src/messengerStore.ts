/**
 * What a device keeps of its account conversations (messenger.ts): every conversation's MLS state,
 * the private halves of the KeyPackages it published, and how far it has read its mailbox. It
 * holds every secret of every conversation: a store seals it at rest (the terminal's in a 0600
 * file under a key in another 0600 file, node/fileMessengerStore.ts; the browser's in IndexedDB
 * under a non-extractable key).
 *
 * A snapshot is written whole, after the entries it covers are processed and before they are
 * acknowledged: a crash between the two only makes the relay send them again, and `acked` makes
 * the device skip what it already processed.
 */
import { fromBase64, toBase64 } from './encoding.js';

export interface MessengerSnapshot {
  /** The highest mailbox seq whose entry is processed and saved. */
  readonly acked: number;
  /** base64url conversation id -> `AccountGroups.exportState`. */
  readonly conversations: ReadonlyMap<string, Uint8Array>;
  /** `AccountGroups.exportPending`, one per KeyPackage published and not yet used; the last one is the last-resort one. */
  readonly pending: readonly Uint8Array[];
  /** Messages this device sent (the payload's `n`). */
  readonly sent: number;
  /** Conversation id -> accounts that asked to leave it and whose leaves this device has not yet seen removed (§11.15). */
  readonly leaving?: ReadonlyMap<string, readonly string[]>;
}

export interface MessengerStore {
  load(): Promise<MessengerSnapshot | undefined>;
  /** Durable when it resolves. */
  save(s: MessengerSnapshot): Promise<void>;
  /** Lets another process use the store (a file store's lock). */
  close?(): Promise<void>;
}

export class MemoryMessengerStore implements MessengerStore {
  private saved: Uint8Array | undefined;
  async load(): Promise<MessengerSnapshot | undefined> {
    return this.saved === undefined ? undefined : decodeSnapshot(this.saved);
  }
  async save(s: MessengerSnapshot): Promise<void> {
    this.saved = encodeSnapshot(s);
  }
}

/** The snapshot as bytes (JSON with base64): what a store seals. */
export function encodeSnapshot(s: MessengerSnapshot): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      acked: s.acked,
      sent: s.sent,
      conversations: [...s.conversations].map(([id, state]) => [id, toBase64(state)]),
      pending: s.pending.map(toBase64),
      ...(s.leaving !== undefined && s.leaving.size > 0 && { leaving: [...s.leaving] }),
    }),
  );
}

/** A snapshot `encodeSnapshot` wrote; a TypeError when it is not one. */
export function decodeSnapshot(bytes: Uint8Array): MessengerSnapshot {
  const o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  const ok =
    o.v === 1 &&
    Number.isSafeInteger(o.acked) &&
    Number.isSafeInteger(o.sent) &&
    Array.isArray(o.conversations) &&
    Array.isArray(o.pending) &&
    o.conversations.every((c) => Array.isArray(c) && c.length === 2 && typeof c[0] === 'string' && typeof c[1] === 'string') &&
    o.pending.every((p) => typeof p === 'string') &&
    (o.leaving === undefined ||
      (Array.isArray(o.leaving) &&
        o.leaving.every(
          (l) =>
            Array.isArray(l) &&
            l.length === 2 &&
            typeof l[0] === 'string' &&
            Array.isArray(l[1]) &&
            l[1].every((n: unknown) => typeof n === 'string'),
        )));
  if (!ok) throw new TypeError('not a messenger snapshot');
  return {
    acked: o.acked as number,
    sent: o.sent as number,
    conversations: new Map((o.conversations as [string, string][]).map(([id, st]) => [id, fromBase64(st)])),
    pending: (o.pending as string[]).map(fromBase64),
    ...(o.leaving !== undefined && { leaving: new Map(o.leaving as [string, string[]][]) }),
  };
}
