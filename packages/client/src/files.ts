/**
 * End-to-end encrypted file transfer in a room or private chat (docs/PROTOCOL.md §5 and §9).
 *
 * The sender picks a fresh file key, seals the file chunk by chunk (STREAM over AES-256-GCM,
 * @nullroom/crypto fileCrypto.ts) and uploads the sealed chunks to the relay's blob store, while a
 * `file` message inside MLS tells the room the name, type, size, key and blob. Receivers fetch the
 * chunks as they land (long-polling), open and write them in order, and once the sender's
 * `file-done` message brings the plaintext's SHA-256 and every chunk verified, the sink makes the
 * file visible under its final name. Anything altered, truncated, reordered or duplicated fails the
 * transfer and nothing is saved. Neither side ever holds more than a few chunks in memory.
 *
 * Network failures (a relay restart, a dropped connection) are retried chunk by chunk: an upload
 * re-sends the chunks the relay did not confirm, a download re-fetches from the first chunk it has
 * not verified yet. The sender can cancel (its blob is deleted and receivers are told); a receiver
 * can cancel its own download.
 */
import {
  type AesGcmFactory,
  type IncrementalHash,
  decodeFileHeader,
  encodeFileHeader,
  newFileKey,
  sha256Incremental,
} from '@nullroom/crypto';
import type { BlobTransport } from './blobs.js';
import {
  type ChunkPipe,
  DEFAULT_STALL_MS,
  DEFAULT_TRANSFER_CHUNK,
  DEFAULT_TRANSFER_CONCURRENCY,
  DEFAULT_WAIT_MS,
  type FileSink,
  type FileSource,
  inlinePipe,
  abortReason,
  senderCancelled,
} from './chunks.js';
import { ClientError } from './errors.js';
import { fromBase64Url, randomBytes, toBase64Url, toHex } from './encoding.js';
import { Emitter } from './emitter.js';
import type { FileCancelPayload, FileDonePayload, FilePayload } from './payload.js';
import type { PayloadRoutes } from './payloadRouter.js';
import { Transfer, type TransferHandle, type TransferResult } from './transfer.js';

type FileBody =
  | Omit<FilePayload, 'v' | 'id' | 'n' | 'ts'>
  | Omit<FileDonePayload, 'v' | 'id' | 'n' | 'ts'>
  | Omit<FileCancelPayload, 'v' | 'id' | 'n' | 'ts'>;

/**
 * Where file offers travel: a room (Room) or a private chat (PrivateChat). Both authenticate the
 * sender of what they deliver and encrypt what they send, so a file follows the conversation's
 * audience: a file sent in a private chat can be opened by its two members only.
 */
export interface FileChannelEvents {
  /** Someone (re)joined the conversation: they saw nothing sent while they were away. */
  'member-joined': { nick: string };
}
/** The payload types files register for with their channel's router (payloadRouter.ts). */
export type FilePayloadType = 'file' | 'file-done' | 'file-cancel';
export interface FileChannel extends PayloadRoutes<FilePayloadType> {
  /** Our nickname there. */
  readonly nick: string;
  sendPayload(body: FileBody): unknown;
  /**
   * An upload ticket for the relay's blob store (docs/PROTOCOL.md §9.1), granted to our connection
   * while it is in the room; given the one the relay just refused, a new one (after a reconnect).
   */
  blobTicket(refused?: string): Promise<string>;
  on<K extends keyof FileChannelEvents>(type: K, fn: (e: FileChannelEvents[K]) => void): () => void;
}

export { type FileSink, type FileSource, DEFAULT_TRANSFER_CHUNK, DEFAULT_TRANSFER_CONCURRENCY } from './chunks.js';

export interface Thumbnail {
  mime: 'image/jpeg' | 'image/png' | 'image/webp';
  /** base64 */
  data: string;
  w: number;
  h: number;
}

export interface FileTransferOptions {
  blobs: BlobTransport;
  /** Plaintext bytes per sealed chunk, and so per blob request (default 4 MiB). */
  chunkSize?: number;
  /** Chunks sealed and uploaded, or fetched ahead, at once (default 2). */
  concurrency?: number;
  /** SHA-256 implementation (default: hash-wasm; the Node adapter passes node:crypto's). */
  hash?: () => Promise<IncrementalHash>;
  /** AES-256-GCM implementation (default: Web Crypto; the Node adapter passes node:crypto's). */
  aead?: AesGcmFactory;
  /** How long one GET waits on the relay for a chunk the sender has not uploaded yet (ms). */
  waitMs?: number;
  /** A transfer that makes no progress for this long fails (ms). */
  stallMs?: number;
  /**
   * Where the chunk work runs (reading, hashing, sealing, uploading; fetching, opening, writing).
   * Default: here, with `blobs`, `hash`, `aead`, `concurrency` and `waitMs`. A pipe brings its own
   * (the Node adapter's `nodeFileOptions` runs files on disk in a worker thread); `blobs` still
   * deletes a cancelled upload's blob.
   */
  pipe?: ChunkPipe;
}

/**
 * How long a sender keeps telling members who (re)join the hash of a file it finished: a receiver
 * that was reconnecting when `file-done` went out has verified every chunk but cannot save the file
 * without the sender's word on its hash (another member also holds the file key, so only the
 * sender's hash proves the content is the sender's).
 */
export const FILE_DONE_REPEAT_MS = 10 * 60_000;
const FILE_DONE_REPEAT_MAX = 32;

/** A file a member offered in the room; `accept` downloads it into a sink. */
export class IncomingFile {
  constructor(
    /** Starts the download (RoomFiles' own `receive`, kept off its public surface). */
    private readonly start: (file: IncomingFile, sink: FileSink) => Transfer,
    readonly from: string,
    /** The sender's identity key (hex). */
    readonly sender: string,
    readonly offer: FilePayload,
  ) {}
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
}

interface Announced {
  sha256?: string;
  cancelled?: boolean;
  waiters: (() => void)[];
}

/** File transfer in one room or private chat. */
export class RoomFiles extends Emitter<{ offer: IncomingFile }> {
  private readonly chunkSize: number;
  private readonly stallMs: number;
  private readonly pipe: ChunkPipe;
  /** What senders told us about their transfers (hash when done, or cancel), by sender identity and fid. */
  private readonly announced = new Map<string, Announced>();
  /** Our own finished sends, newest last, told again to members who (re)join (FILE_DONE_REPEAT_MS). */
  private readonly finished: { fid: string; sha256: string; at: number }[] = [];
  private repeat: ReturnType<typeof setTimeout> | undefined;
  private readonly offs: (() => void)[];

  constructor(
    private readonly room: FileChannel,
    private readonly opts: FileTransferOptions,
  ) {
    super();
    this.chunkSize = opts.chunkSize ?? DEFAULT_TRANSFER_CHUNK;
    this.stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
    this.pipe =
      opts.pipe ??
      inlinePipe({
        blobs: opts.blobs,
        hash: opts.hash ?? sha256Incremental,
        ...(opts.aead ? { aead: opts.aead } : {}),
        concurrency: opts.concurrency ?? DEFAULT_TRANSFER_CONCURRENCY,
        waitMs: opts.waitMs ?? DEFAULT_WAIT_MS,
        stallMs: this.stallMs,
      });
    this.offs = [
      // `sender`: the sender's identity key (hex) as the channel authenticated it. Transfers are matched
      // by it, not by nickname, which can change when a member rejoins (`alice` -> `alice-2`).
      room.route('file', (offer, s) => this.emit('offer', new IncomingFile((f, sink) => this.receive(f, sink), s.from, s.sender, offer))),
      // Only the member who offered a file can finish or cancel it, and only once.
      room.route('file-done', (done, s) => this.announce(`${s.sender}/${done.fid}`, (a) => (a.sha256 ??= done.sha256))),
      room.route('file-cancel', (cancel, s) => this.announce(`${s.sender}/${cancel.fid}`, (a) => (a.cancelled = true))),
      room.on('member-joined', () => this.repeatDone()),
    ];
  }

  close(): void {
    this.offs.forEach((off) => off());
    clearTimeout(this.repeat);
  }

  /** Tells the hashes of our recent sends again, once for a burst of joins (receivers keep the first they get). */
  private repeatDone(): void {
    if (this.repeat !== undefined || this.finished.length === 0) return;
    this.repeat = setTimeout(() => {
      this.repeat = undefined;
      const since = Date.now() - FILE_DONE_REPEAT_MS;
      while (this.finished.length > 0 && this.finished[0]!.at < since) this.finished.shift();
      for (const f of this.finished) {
        // (sendPayload throws at once on a room that was left meanwhile)
        Promise.resolve()
          .then(() => this.room.sendPayload({ type: 'file-done', fid: f.fid, sha256: f.sha256 }))
          .catch(() => undefined);
      }
    }, 250);
    (this.repeat as { unref?: () => void }).unref?.();
  }

  private entry(fid: string): Announced {
    let a = this.announced.get(fid);
    if (a === undefined) {
      a = { waiters: [] };
      this.announced.set(fid, a);
      // Forget what nobody asked about within a day.
      (setTimeout(() => this.announced.delete(fid), 24 * 3600_000) as { unref?: () => void }).unref?.();
    }
    return a;
  }

  private announce(fid: string, update: (a: Announced) => void): void {
    const a = this.entry(fid);
    update(a);
    for (const w of a.waiters.splice(0)) w();
  }

  /** Sends a file to everyone in the room. */
  send(source: FileSource, extra: { thumbnail?: Thumbnail } = {}): Transfer {
    const fid = toHex(randomBytes(16));
    const { transfer: t, handle: h } = Transfer.open(fid, 'send', source.name, source.size, source.mime, this.room.nick);
    void this.upload(t, h, source, extra).then(
      (r) => h.finish(r),
      (e: unknown) => h.fail(e),
    );
    return t;
  }

  private async upload(t: Transfer, h: TransferHandle, source: FileSource, extra: { thumbnail?: Thumbnail }): Promise<TransferResult> {
    const key = newFileKey();
    const blob = toBase64Url(randomBytes(16));
    const token = toBase64Url(randomBytes(32));
    let announced = false;
    let sha256: string;
    try {
      sha256 = await this.pipe.upload(
        { key, chunkSize: this.chunkSize, blob, token },
        source,
        h.control,
        async (header) => {
          // Awaited: a private chat encrypts before it sends, and may refuse (closed).
          await this.room.sendPayload({
            type: 'file',
            fid: t.fid,
            name: source.name,
            mime: source.mime,
            size: source.size,
            key: toBase64Url(key),
            header: toBase64Url(encodeFileHeader(header)),
            blob,
            ...(extra.thumbnail === undefined ? {} : { thumb: extra.thumbnail }),
          });
          announced = true;
        },
        (refused) => this.room.blobTicket(refused),
      );
    } catch (e) {
      if (!announced) throw e;
      h.fail(e);
      // Tell the room, and free the relay's space at once.
      await Promise.resolve()
        .then(() => this.room.sendPayload({ type: 'file-cancel', fid: t.fid }))
        .catch(() => undefined);
      await this.opts.blobs.delete(blob, token).catch(() => undefined);
      throw e;
    }
    await this.room.sendPayload({ type: 'file-done', fid: t.fid, sha256 });
    this.finished.push({ fid: t.fid, sha256, at: Date.now() });
    if (this.finished.length > FILE_DONE_REPEAT_MAX) this.finished.shift();
    return { sha256 };
  }

  /** Downloads an offered file into `sink` (IncomingFile.accept). */
  private receive(file: IncomingFile, sink: FileSink): Transfer {
    const o = file.offer;
    const { transfer: t, handle: h } = Transfer.open(o.fid, 'receive', o.name, o.size, o.mime, file.from);
    void this.download(h, file.sender, o, sink).then(
      (r) => h.finish(r),
      async (e: unknown) => {
        h.fail(e);
        await sink.abort().catch(() => undefined);
      },
    );
    return t;
  }

  private async download(h: TransferHandle, sender: string, o: FilePayload, sink: FileSink): Promise<TransferResult> {
    const a = this.entry(`${sender}/${o.fid}`);
    const onAnnounce = () => {
      if (a.cancelled) h.fail(senderCancelled());
    };
    a.waiters.push(onAnnounce);
    if (a.cancelled) throw senderCancelled();
    let header;
    try {
      header = decodeFileHeader(fromBase64Url(o.header));
    } catch (e) {
      throw new ClientError('FILE_REJECTED', 'the file offer is malformed', { cause: e });
    }
    const sha256 = await this.pipe.download({ key: fromBase64Url(o.key), header, blob: o.blob, size: o.size }, sink, h.control);
    // The sender's file-done (with the hash) may still be on its way, or come again once the sender
    // sees that we rejoined (we may have been away when it went out); not for ever.
    const waitUntil = Date.now() + this.stallMs;
    while (a.sha256 === undefined) {
      if (h.control.signal.aborted) throw abortReason(h.control.signal);
      if (a.cancelled) throw senderCancelled();
      if (Date.now() >= waitUntil)
        throw new ClientError('FILE_TRANSFER', 'the sender never confirmed the file (it may have gone offline): nothing was saved');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitUntil - Date.now());
        a.waiters.push(() => (clearTimeout(timer), resolve()));
        h.control.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
    if (sha256 !== a.sha256)
      throw new ClientError('FILE_REJECTED', 'the file does not match the hash its sender announced: nothing was saved');
    if (h.control.signal.aborted) throw abortReason(h.control.signal);
    const path = await sink.commit();
    return path === undefined ? { sha256 } : { sha256, path };
  }
}
