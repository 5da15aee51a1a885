/**
 * File offers as a receiver holds them (files.ts): what each sender told of its transfers (the hash
 * once done, or a cancel), and whether each offer can still arrive. An offer stops being available
 * (FILE_UNAVAILABLE, docs/PROTOCOL.md §5.1) when its sender leaves before its upload was complete,
 * or when the relay no longer holds its blob (asked with HEAD: when a complete file is accepted,
 * when its sender leaves, while a download makes no progress, and after a reconnect).
 */
import { decodeFileHeader } from '@nullroom/crypto';
import { fileChunkCount } from '@nullroom/crypto/files';
import type { BlobTransport } from './blobs.js';
import type { FileSink } from './chunks.js';
import { fromBase64Url } from './encoding.js';
import { Emitter } from './emitter.js';
import { ClientError } from './errors.js';
import { type FilePayload, parsePayload } from './payload.js';
import type { Transfer } from './transfer.js';

export interface Thumbnail {
  mime: 'image/jpeg' | 'image/png' | 'image/webp';
  /** base64 */
  data: string;
  w: number;
  h: number;
}

/**
 * An offer as a client keeps it past a reload, to fetch it later (RoomFiles.adopt): the offer as it
 * came (with the file key: keep it sealed), who sent it, and the hash its sender announced, if it did.
 */
export interface SavedOffer {
  /** The sender's nickname then. */
  from: string;
  /** The sender's identity key (hex). */
  sender: string;
  offer: FilePayload;
  sha256?: string;
}

const HEX_KEY = /^[0-9a-f]{64}$/;
/** A saved offer read back strictly (it comes from storage): the offer through the one payload parser. */
export function savedOffer(v: SavedOffer): SavedOffer | undefined {
  if (typeof v !== 'object' || v === null || typeof v.from !== 'string' || typeof v.sender !== 'string' || !HEX_KEY.test(v.sender))
    return undefined;
  if (v.sha256 !== undefined && (typeof v.sha256 !== 'string' || !HEX_KEY.test(v.sha256))) return undefined;
  let offer;
  try {
    offer = parsePayload(new TextEncoder().encode(JSON.stringify(v.offer)));
  } catch {
    return undefined;
  }
  if (offer?.type !== 'file') return undefined;
  return { from: v.from, sender: v.sender, offer, ...(v.sha256 === undefined ? {} : { sha256: v.sha256 }) };
}

/** How many of our own finished offers a conversation keeps to be saved with its history. */
const OWN_OFFERS_MAX = 200;

/**
 * Our own offers, kept once their upload is complete so that a page can save them with its history
 * (RoomFiles.sentOffer): after a reload the sender fetches its own file from the relay like any
 * member (RoomFiles.adopt), instead of a card whose bytes are gone. Without `self` (a channel that
 * does not tell our identity key) none is kept.
 */
export class OwnOffers {
  readonly #kept = new Map<string, SavedOffer>();
  constructor(private readonly self: (() => { nick: string; identity: string }) | undefined) {}

  /** Our offer `body` left as message `id`. */
  offered(body: Omit<FilePayload, 'v' | 'id' | 'n' | 'ts'>, id: unknown): void {
    if (this.self === undefined || typeof id !== 'string') return;
    const me = this.self();
    // The message counter (`n`) of a kept offer is never read: only its file fields are.
    this.#kept.set(body.fid, { from: me.nick, sender: me.identity, offer: { ...body, v: 1, id, n: 1, ts: Date.now() } });
    if (this.#kept.size > OWN_OFFERS_MAX) this.#kept.delete(this.#kept.keys().next().value as string);
  }

  done(fid: string, sha256: string): void {
    const o = this.#kept.get(fid);
    if (o !== undefined) o.sha256 = sha256;
  }

  drop(fid: string): void {
    this.#kept.delete(fid);
  }

  /** The offer to keep, once its upload is complete (its hash told); undefined before, or if it failed. */
  saved(fid: string): SavedOffer | undefined {
    const o = this.#kept.get(fid);
    return o?.sha256 === undefined ? undefined : structuredClone(o);
  }
}

/**
 * A file a member offered in the room; `accept` downloads it into a sink. It emits `unavailable`
 * (once) when it can no longer be received (FILE_UNAVAILABLE: its sender left before its upload was
 * complete, or the relay no longer holds it), whether or not it was accepted.
 */
export class IncomingFile extends Emitter<{ unavailable: { error: ClientError } }> {
  #unavailable: ClientError | undefined;
  constructor(
    /** Starts the download (RoomFiles' own `receive`, kept off its public surface). */
    private readonly start: (file: IncomingFile, sink: FileSink) => Transfer,
    readonly from: string,
    /** The sender's identity key (hex). */
    readonly sender: string,
    readonly offer: FilePayload,
    /** Tells this file when it becomes unavailable (Offers.watch, at once if it already is). */
    watch: (gone: (e: ClientError) => void) => void,
    /** What its sender told of it since (Offers' entry). */
    private readonly told: () => Pick<Announced, 'sha256' | 'cancelled'>,
  ) {
    super();
    watch((e) => {
      if (this.#unavailable !== undefined) return;
      this.#unavailable = e;
      this.emit('unavailable', { error: e });
    });
  }
  /** Why the file can no longer be received (FILE_UNAVAILABLE), once it cannot. */
  get unavailable(): ClientError | undefined {
    return this.#unavailable;
  }
  get name(): string {
    return this.offer.name;
  }
  get size(): number {
    return this.offer.size;
  }
  get mime(): string {
    return this.offer.mime;
  }
  get thumbnail(): Thumbnail | undefined {
    return this.offer.thumb;
  }
  accept(sink: FileSink): Transfer {
    return this.start(this, sink);
  }
  /**
   * What to keep to fetch it again after a reload (RoomFiles.adopt); undefined once it cannot be
   * fetched (cancelled by its sender, or unavailable). It holds the file key: store it sealed.
   */
  save(): SavedOffer | undefined {
    const { sha256, cancelled } = this.told();
    if (cancelled === true || this.#unavailable !== undefined) return undefined;
    return { from: this.from, sender: this.sender, offer: this.offer, ...(sha256 === undefined ? {} : { sha256 }) };
  }
}

export interface Announced {
  sha256?: string;
  cancelled?: boolean;
  /** Why the file can no longer be received (FILE_UNAVAILABLE). */
  unavailable?: ClientError;
  /** Called at each change (kept until removed). */
  listeners: Set<() => void>;
  /** The offer, once it came (its sender's departure and the relay's blob are checked against it). */
  offer?: FilePayload;
  /** Someone accepted it here (a download watches its blob itself). */
  accepted?: boolean;
  /** Not complete when the last reconnect checked the offers: checked once its sender says it is. */
  checkWhenDone?: boolean;
}

/** Offers checked after a reconnect, newest first, at most. */
export const RECHECK_MAX = 32;

/** How long a 410 from the relay waits for its sender's `file-cancel` before it means "no longer available". */
export const CANCEL_GRACE_MS = 1500;
/** A download that made no progress this long asks the relay whether the blob is still there (at most this often). */
export const BLOB_CHECK_MS = 3000;

export const senderLeft = () =>
  new ClientError('FILE_UNAVAILABLE', 'the file is no longer available: its sender left before it was completely uploaded');
export const relayLost = () =>
  new ClientError('FILE_UNAVAILABLE', 'the file is no longer available: the relay no longer holds it (expired, or the relay restarted)');

/** What senders told us about their transfers, and which offers can still arrive, in one room or private chat. */
export class Offers {
  /** By `sender/fid` (the sender's identity key, hex). */
  private readonly announced = new Map<string, Announced>();
  /** The keys of the offers each sender made, by sender identity. */
  private readonly offersBy = new Map<string, Set<string>>();

  constructor(
    private readonly blobs: BlobTransport,
    /** Whether a member with this identity key is in the conversation now. */
    private readonly hasMember: (identity: string) => boolean,
  ) {}

  entry(key: string): Announced {
    let a = this.announced.get(key);
    if (a === undefined) {
      a = { listeners: new Set() };
      this.announced.set(key, a);
      // Forget what nobody asked about within a day.
      (
        setTimeout(() => {
          this.announced.delete(key);
          const sender = key.slice(0, key.indexOf('/'));
          this.offersBy.get(sender)?.delete(key);
          if (this.offersBy.get(sender)?.size === 0) this.offersBy.delete(sender);
        }, 24 * 3600_000) as { unref?: () => void }
      ).unref?.();
    }
    return a;
  }

  announce(key: string, update: (a: Announced) => void): void {
    const a = this.entry(key);
    update(a);
    for (const w of [...a.listeners]) w();
  }

  /**
   * Records a file offer; false for a second offer of the same fid from the same sender. `watch`
   * is how its IncomingFile hears that it became unavailable.
   */
  offered(
    offer: FilePayload,
    sender: string,
  ): { key: string; entry: Announced; watch: (gone: (e: ClientError) => void) => void } | undefined {
    const key = `${sender}/${offer.fid}`;
    const a = this.entry(key);
    if (a.offer !== undefined) return undefined; // one offer per fid and sender
    a.offer = offer;
    let keys = this.offersBy.get(sender);
    if (keys === undefined) this.offersBy.set(sender, (keys = new Set()));
    keys.add(key);
    const watch = (gone: (e: ClientError) => void) => {
      const look = () => {
        if (a.unavailable === undefined) return;
        a.listeners.delete(look);
        gone(a.unavailable);
      };
      a.listeners.add(look);
      look();
    };
    return { key, entry: a, watch };
  }

  /**
   * A member left: each of its offers whose upload was not complete can never be (FILE_UNAVAILABLE);
   * one that was is still there to fetch while the relay holds its blob, which is asked now.
   */
  senderGone(identity: string): void {
    if (this.hasMember(identity)) return; // another leaf of theirs is here (a rejoin)
    for (const key of this.offersBy.get(identity) ?? []) {
      const a = this.announced.get(key);
      if (a === undefined || a.unavailable !== undefined || a.cancelled) continue;
      if (a.sha256 === undefined) this.announce(key, (x) => (x.unavailable = senderLeft()));
      else if (a.offer !== undefined) void this.checkBlob(key, a.offer);
    }
  }

  /**
   * After a reconnect: asks the relay, one at a time, about the newest complete offers nobody
   * accepted here (a relay that restarted holds none of them any more).
   */
  async recheck(): Promise<void> {
    const waiting = [...this.announced]
      .filter(([, a]) => a.offer !== undefined && !a.accepted && !a.cancelled && a.unavailable === undefined)
      .slice(-RECHECK_MAX)
      .reverse();
    // One whose `file-done` is still on its way (re-sent by its sender once it is back) is asked about then.
    for (const [, a] of waiting) if (a.sha256 === undefined) a.checkWhenDone = true;
    for (const [key, a] of waiting) if (a.sha256 !== undefined) await this.checkBlob(key, a.offer!);
  }

  /** Its sender says the file is complete (`file-done`); an offer the last reconnect could not check yet is checked now. */
  done(key: string, sha256: string): void {
    this.announce(key, (a) => (a.sha256 ??= sha256));
    const a = this.entry(key);
    if (a.checkWhenDone !== true || a.offer === undefined) return;
    a.checkWhenDone = false;
    void this.checkBlob(key, a.offer);
  }

  /**
   * Asks the relay whether the file's blob is all there (once its sender announced it complete) or
   * there at all; marks the file unavailable when not. A relay that cannot be reached tells nothing.
   */
  async checkBlob(key: string, o: FilePayload): Promise<void> {
    const a = this.entry(key);
    let head: number | 'missing' | 'gone';
    try {
      head = await this.blobs.head(o.blob);
    } catch {
      return;
    }
    if (a.unavailable !== undefined || a.cancelled) return;
    let lost = head === 'gone';
    if (a.sha256 !== undefined && !lost) {
      let chunkSize: number;
      try {
        chunkSize = decodeFileHeader(fromBase64Url(o.header)).chunkSize;
      } catch {
        return; // a malformed offer: accepting it fails (FILE_REJECTED)
      }
      lost = head === 'missing' || (typeof head === 'number' && head < fileChunkCount(o.size, chunkSize));
    }
    if (!lost) return;
    // A blob deleted because its sender cancelled: the cancel may be a moment behind the 410.
    if (head === 'gone') await this.announcedWithin(a, CANCEL_GRACE_MS, () => a.cancelled === true);
    if (a.unavailable === undefined && !a.cancelled) this.announce(key, (x) => (x.unavailable = relayLost()));
  }

  /** Resolves once `done()` holds or `ms` passed. */
  announcedWithin(a: Announced, ms: number, done: () => boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        a.listeners.delete(look);
        resolve();
      };
      const look = () => done() && finish();
      const timer = setTimeout(finish, ms);
      a.listeners.add(look);
      look();
    });
  }
}
