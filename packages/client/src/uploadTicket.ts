/**
 * The blob upload ticket of one stay in a room (docs/PROTOCOL.md §9.1): asked for once, when the
 * first upload needs it, and kept until the connection drops (the relay ends a ticket with the
 * stay it was granted for).
 */
import type { ReqId } from '@nullroom/protocol';
import { ClientError } from './errors.js';
import { toBase64Url } from './encoding.js';

/** What the ticket needs from its room. */
export interface UploadTicketHost {
  /** Resolves once the room is joined (rejects when joining fails or the room is left). */
  whenJoined(): Promise<void>;
  /** Runs `fn` on the room's queue. */
  run(fn: () => void): void;
  joined(): boolean;
  /** Sends TICKET; returns its request id. */
  requestTicket(): ReqId;
}

interface Ask {
  promise: Promise<string>;
  reqId?: ReqId;
  resolve(t: string): void;
  reject(e: unknown): void;
}

/** How long a relay that never answers may hold an upload: the caller retries after. */
const TICKET_TIMEOUT_MS = 30_000;

export class UploadTicket {
  #ticket: string | undefined;
  #ask: Ask | undefined;

  constructor(private readonly host: UploadTicketHost) {}

  /**
   * The ticket, asked for if need be. `refused`: the ticket the relay just refused, to be replaced.
   * Rejects with ClientError(FILE_TRANSFER) when the relay refuses or does not answer in time, or
   * the connection drops first (callers retry).
   */
  get(refused?: string): Promise<string> {
    if (refused !== undefined && refused === this.#ticket) this.#ticket = undefined;
    if (this.#ticket !== undefined) return Promise.resolve(this.#ticket);
    if (this.#ask !== undefined) return this.#ask.promise;
    let settle!: { resolve(t: string): void; reject(e: unknown): void };
    const promise = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
    const ask: Ask = { promise, ...settle };
    this.#ask = ask;
    const done = () => {
      if (this.#ask === ask) this.#ask = undefined;
    };
    promise.then(done, done);
    const timer = setTimeout(
      () => ask.reject(new ClientError('FILE_TRANSFER', 'the relay did not grant an upload ticket in time')),
      TICKET_TIMEOUT_MS,
    );
    (timer as { unref?: () => void }).unref?.();
    void promise.finally(() => clearTimeout(timer)).catch(() => undefined);
    this.host.whenJoined().then(
      () =>
        this.host.run(() => {
          if (this.#ask !== ask) return;
          if (!this.host.joined()) return ask.reject(dropped());
          ask.reqId = this.host.requestTicket();
        }),
      (e: unknown) => ask.reject(e),
    );
    return promise;
  }

  /** A TICKET_GRANT: true when it answered our request. */
  granted(reqId: ReqId, ticket: Uint8Array): boolean {
    const ask = this.#ask;
    if (ask === undefined || ask.reqId !== reqId || !this.host.joined()) return false;
    this.#ask = undefined;
    this.#ticket = toBase64Url(ticket);
    ask.resolve(this.#ticket);
    return true;
  }

  /** An ERROR: true when it refused our request. */
  refused(reqId: ReqId, relayCode: string): boolean {
    const ask = this.#ask;
    if (ask === undefined || ask.reqId !== reqId) return false;
    this.#ask = undefined;
    ask.reject(new ClientError('FILE_TRANSFER', `the relay refused an upload ticket: ${relayCode}`, { relayCode }));
    return true;
  }

  /** The stay ended (connection dropped, room left): the ticket with it. */
  reset(): void {
    this.#ticket = undefined;
    this.#ask?.reject(dropped());
    this.#ask = undefined;
  }
}

const dropped = () => new ClientError('FILE_TRANSFER', 'the connection dropped before the relay granted an upload ticket');
