/**
 * Where a conversation's decrypted payloads go (docs/PROTOCOL.md §5): features (text, files,
 * private chats) register a handler per payload type, and the conversation hands each payload,
 * once authenticated, de-duplicated and counted, to the handlers of its type. The conversation
 * knows no feature; a payload no feature registered for is dropped.
 */
import type { Payload } from './payload.js';

/** Who sent a payload, as the conversation authenticated it (MLS), never as the relay said. */
export interface PayloadSender {
  /** The sender's nickname now. */
  from: string;
  /** The sender's identity key (hex): what transfers and chats match, nicknames can change. */
  sender: string;
  identityKey: Uint8Array;
  /** The slot in the sender's credential (the connection that holds its state). */
  slot: number;
  /** The sender's counter went back: the relay reordered its messages. */
  outOfOrder: boolean;
}

export type PayloadType = Payload['type'];
export type PayloadOf<T extends PayloadType> = Extract<Payload, { type: T }>;
export type PayloadHandler<T extends PayloadType> = (p: PayloadOf<T>, sender: PayloadSender) => void;

/** What a conversation offers features: `route` returns the function that unregisters. */
export interface PayloadRoutes<T extends PayloadType = PayloadType> {
  route<K extends T>(type: K, handler: PayloadHandler<K>): () => void;
}

type AnyHandler = (p: Payload, sender: PayloadSender) => void;

export class PayloadRouter<T extends PayloadType = PayloadType> implements PayloadRoutes<T> {
  readonly #handlers = new Map<PayloadType, Set<AnyHandler>>();

  route<K extends T>(type: K, handler: PayloadHandler<K>): () => void {
    let set = this.#handlers.get(type);
    if (set === undefined) this.#handlers.set(type, (set = new Set()));
    const fn = handler as unknown as AnyHandler;
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Hands `p` to every handler of its type (a throwing handler does not stop the others); false when none took it. */
  dispatch(p: PayloadOf<T>, sender: PayloadSender): boolean {
    const set = this.#handlers.get(p.type);
    if (set === undefined || set.size === 0) return false;
    for (const fn of [...set]) {
      try {
        fn(p, sender);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    return true;
  }
}
