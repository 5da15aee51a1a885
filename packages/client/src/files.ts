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
 *
 * A file can stop being available (FILE_UNAVAILABLE): its sender left before its upload was
 * complete (every offer of theirs says so at once, accepted or not), or the relay no longer holds
 * its blob (expired, or wiped by a relay restart: checked when it is accepted, when its sender
 * leaves, and while a download makes no progress). Nothing then waits for bytes that cannot come.
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
import {
  type Announced,
  BLOB_CHECK_MS,
  CANCEL_GRACE_MS,
  IncomingFile,
  Offers,
  OwnOffers,
  relayLost,
  type SavedOffer,
  savedOffer,
  type Thumbnail,
} from './fileOffers.js';
import { fromBase64Url, randomBytes, toBase64Url, toHex } from './encoding.js';
import { Emitter } from './emitter.js';
import type { FileChannel } from './fileChannel.js';
import type { FilePayload } from './payload.js';
import { Transfer, type TransferHandle, type TransferResult } from './transfer.js';

export type { FileChannel, FileChannelEvents, FilePayloadType } from './fileChannel.js';

export { type FileSink, type FileSource, DEFAULT_TRANSFER_CHUNK, DEFAULT_TRANSFER_CONCURRENCY } from './chunks.js';

export { IncomingFile, type SavedOffer, type Thumbnail };

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
/** A download of a complete file that got nothing for this long says it waits for the relay (TransferProgress.waiting). */
const RELAY_WAIT_MS = 10_000;

/** File transfer in one room or private chat. */
export class RoomFiles extends Emitter<{ offer: IncomingFile }> {
  private readonly chunkSize: number;
  private readonly stallMs: number;
  private readonly pipe: ChunkPipe;
  /** What senders told us about their transfers, and which offers can still arrive. */
  private readonly offers: Offers;
  /** Our own offers, to keep past a reload (sentOffer). */
  private readonly own: OwnOffers;
  /** Our own finished sends, newest last, told again to members who (re)join (FILE_DONE_REPEAT_MS). */
  private readonly finished: { fid: string; sha256: string; at: number }[] = [];
  private repeat: ReturnType<typeof setTimeout> | undefined;
  /** The conversation lost its connection and has not joined again yet. */
  private away = false;
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
    this.offers = new Offers(opts.blobs, (identity) => room.hasMember(identity));
    const self = room.selfIdentity?.bind(room);
    this.own = new OwnOffers(self === undefined ? undefined : () => ({ nick: room.nick, identity: self() }));
    this.offs = [
      // `sender`: the sender's identity key (hex) as the channel authenticated it. Transfers are matched
      // by it, not by nickname, which can change when a member rejoins (`alice` -> `alice-2`).
      room.route('file', (offer, s) => {
        const o = this.offers.offered(offer, s.sender);
        if (o === undefined) return;
        this.emit(
          'offer',
          new IncomingFile(
            (f, sink) => this.receive(f, sink),
            s.from,
            s.sender,
            offer,
            o.watch,
            () => o.entry,
          ),
        );
        // Offered by a member who is already gone (the offer was on its way as they left).
        this.offers.senderGone(s.sender);
      }),
      // Only the member who offered a file can finish or cancel it, and only once.
      room.route('file-done', (done, s) => this.offers.done(`${s.sender}/${done.fid}`, done.sha256)),
      room.route('file-cancel', (cancel, s) => this.offers.announce(`${s.sender}/${cancel.fid}`, (a) => (a.cancelled = true))),
      room.on('member-joined', () => this.repeatDone()),
      room.on('member-left', (e) => this.offers.senderGone(e.identity)),
      // Back after a lost connection: perhaps the relay restarted and lost its blobs; the offers
      // nobody accepted yet are checked (the user should not have to click to learn it).
      room.on('phase', ({ phase }) => {
        if (phase === 'reconnecting') this.away = true;
        else if (phase === 'joined' && this.away) {
          this.away = false;
          void this.offers.recheck();
        }
      }),
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

  /**
   * Takes up an offer kept from before a reload (IncomingFile.save; docs/PROTOCOL.md §4.5): the same
   * IncomingFile a live offer gives, to accept again. Its sender's hash, if it was told, is taken
   * as told then; the relay is asked whether the blob is still there, and an offer whose sender is
   * gone without having completed it is unavailable at once (FILE_UNAVAILABLE). Undefined for what
   * does not read as an offer, or an offer this conversation knows already.
   */
  adopt(saved: SavedOffer): IncomingFile | undefined {
    const s = savedOffer(saved);
    if (s === undefined) return undefined;
    const o = this.offers.offered(s.offer, s.sender);
    if (o === undefined) return undefined;
    const sha256 = s.sha256;
    if (sha256 !== undefined) this.offers.announce(o.key, (a) => (a.sha256 ??= sha256));
    const file = new IncomingFile(
      (f, sink) => this.receive(f, sink),
      s.from,
      s.sender,
      s.offer,
      o.watch,
      () => o.entry,
    );
    if (!this.room.hasMember(s.sender)) this.offers.senderGone(s.sender);
    else if (sha256 !== undefined) void this.offers.checkBlob(o.key, s.offer);
    return file;
  }

  /**
   * Our own offer `fid` as a page keeps it past a reload (docs/PROTOCOL.md §4.5), once its upload
   * is complete: `adopt` takes it up again, so that the sender can fetch its file like any member.
   */
  sentOffer(fid: string): SavedOffer | undefined {
    return this.own.saved(fid);
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
          const body = {
            type: 'file' as const,
            fid: t.fid,
            name: source.name,
            mime: source.mime,
            size: source.size,
            key: toBase64Url(key),
            header: toBase64Url(encodeFileHeader(header)),
            blob,
            ...(extra.thumbnail === undefined ? {} : { thumb: extra.thumbnail }),
          };
          // Awaited: a private chat encrypts before it sends, and may refuse (closed).
          this.own.offered(body, await this.room.sendPayload(body));
          announced = true;
        },
        (refused) => this.room.blobTicket(refused),
      );
    } catch (e) {
      if (!announced) throw e;
      this.own.drop(t.fid);
      h.fail(e);
      // Tell the room, and free the relay's space at once.
      await Promise.resolve()
        .then(() => this.room.sendPayload({ type: 'file-cancel', fid: t.fid }))
        .catch(() => undefined);
      await this.opts.blobs.delete(blob, token).catch(() => undefined);
      throw e;
    }
    await this.room.sendPayload({ type: 'file-done', fid: t.fid, sha256 });
    this.own.done(t.fid, sha256);
    this.finished.push({ fid: t.fid, sha256, at: Date.now() });
    if (this.finished.length > FILE_DONE_REPEAT_MAX) this.finished.shift();
    return { sha256 };
  }

  /** Downloads an offered file into `sink` (IncomingFile.accept). */
  private receive(file: IncomingFile, sink: FileSink): Transfer {
    const o = file.offer;
    const key = `${file.sender}/${o.fid}`;
    const a = this.offers.entry(key);
    a.accepted = true;
    // Stalled before its sender announced it complete, it waits for the sender; after, a long stall
    // (no chunk for 10 s) waits for the relay.
    const waitingFor = (stalledMs: number) => (a.sha256 === undefined ? 'sender' : stalledMs >= RELAY_WAIT_MS ? 'relay' : undefined);
    const { transfer: t, handle: h } = Transfer.open(o.fid, 'receive', o.name, o.size, o.mime, file.from, waitingFor);
    // The sender's cancel, or the file becoming unavailable, ends the download at once.
    const look = () => {
      if (a.cancelled) h.fail(senderCancelled());
      else if (a.unavailable !== undefined) h.fail(a.unavailable);
    };
    a.listeners.add(look);
    // While no bytes move, the relay is asked now and then whether the blob is still there.
    let checking = false;
    const watchdog = setInterval(() => {
      if (checking || Date.now() - h.control.lastProgress() < BLOB_CHECK_MS) return;
      checking = true;
      void this.offers.checkBlob(key, o).finally(() => (checking = false));
    }, BLOB_CHECK_MS);
    (watchdog as { unref?: () => void }).unref?.();
    void this.download(h, a, key, o, sink)
      .then(
        (r) => h.finish(r),
        async (e: unknown) => {
          h.fail(e);
          await sink.abort().catch(() => undefined);
        },
      )
      .finally(() => {
        a.listeners.delete(look);
        clearInterval(watchdog);
      });
    return t;
  }

  private async download(h: TransferHandle, a: Announced, key: string, o: FilePayload, sink: FileSink): Promise<TransferResult> {
    if (a.cancelled) throw senderCancelled();
    if (a.unavailable !== undefined) throw a.unavailable;
    let header;
    try {
      header = decodeFileHeader(fromBase64Url(o.header));
    } catch (e) {
      throw new ClientError('FILE_REJECTED', 'the file offer is malformed', { cause: e });
    }
    // Complete by its sender's word: is it all still on the relay (a restart wipes its blobs)?
    if (a.sha256 !== undefined) {
      await this.offers.checkBlob(key, o);
      if (a.unavailable !== undefined) throw a.unavailable;
    }
    let sha256: string;
    try {
      sha256 = await this.pipe.download({ key: fromBase64Url(o.key), header, blob: o.blob, size: o.size }, sink, h.control);
    } catch (e) {
      if (!(e instanceof ClientError && e.code === 'FILE_UNAVAILABLE') || h.control.signal.aborted) throw e;
      // A 410: deleted because its sender cancelled (its file-cancel may be a moment behind), or expired.
      await this.offers.announcedWithin(a, CANCEL_GRACE_MS, () => a.cancelled === true);
      throw a.cancelled ? senderCancelled() : relayLost();
    }
    // The sender's file-done (with the hash) may still be on its way, or come again once the sender
    // sees that we rejoined (we may have been away when it went out); not for ever.
    const waitUntil = Date.now() + this.stallMs;
    while (a.sha256 === undefined) {
      if (h.control.signal.aborted) throw abortReason(h.control.signal);
      if (a.cancelled) throw senderCancelled();
      if (a.unavailable !== undefined) throw a.unavailable;
      if (Date.now() >= waitUntil)
        throw new ClientError('FILE_TRANSFER', 'the sender never confirmed the file (it may have gone offline): nothing was saved');
      await this.offers.announcedWithin(
        a,
        waitUntil - Date.now(),
        () => a.sha256 !== undefined || a.cancelled === true || h.control.signal.aborted,
      );
    }
    if (sha256 !== a.sha256)
      throw new ClientError('FILE_REJECTED', 'the file does not match the hash its sender announced: nothing was saved');
    if (h.control.signal.aborted) throw abortReason(h.control.signal);
    const path = await sink.commit();
    return path === undefined ? { sha256 } : { sha256, path };
  }
}
