/**
 * Files in account conversations (docs/PROTOCOL.md §11.14), on the rooms' file code: the same
 * chunked AES-256-GCM (chunks.ts, @nullroom/crypto fileCrypto.ts) and the same blob store (§9),
 * with an upload ticket of this device's account (`POST /api/blobs/ticket`, §9.3) instead of a
 * room's.
 *
 * Unlike a room's live transfer, an account file is uploaded whole first, then announced: one
 * `attachment` message carries name, type, size, key, header, blob and the plaintext's SHA-256, and
 * is recorded in the sealed history like a text (StoredMessage.file). Its receivers may be offline
 * for days; the relay keeps the blob for the account retention (30 days by default). A receiver
 * fetches it when asked (`download`): every chunk opened in order (altered, reordered, truncated:
 * FILE_REJECTED) and the whole checked against the sender's hash before the sink commits it.
 *
 * The file key lives only inside MLS and in the sealed history; the write token only here, for as
 * long as the upload runs (an upload that fails deletes its blob).
 */
import {
  type AesGcmFactory,
  decodeFileHeader,
  encodeFileHeader,
  type FileHeader,
  newFileKey,
  sha256Incremental,
  wipe,
} from '@nullroom/crypto';
import type { IncrementalHash } from '@nullroom/crypto';
import { fileChunkCount } from '@nullroom/crypto/files';
import { AccountError, num, str } from './accountErrors.js';
import { type BlobTransport, BlobRefused, BlobStatusError, fetchBlobTransport } from './blobs.js';
import {
  type ChunkParams,
  DEFAULT_STALL_MS,
  DEFAULT_TRANSFER_CHUNK,
  DEFAULT_TRANSFER_CONCURRENCY,
  DEFAULT_WAIT_MS,
  downloadChunks,
  type FileSink,
  type FileSource,
  uploadChunks,
} from './chunks.js';
import { fromBase64Url, randomBytes, toBase64Url, toHex } from './encoding.js';
import { ClientError } from './errors.js';
import { relayLost, type Thumbnail } from './fileOffers.js';
import type { FileRef, StoredMessage } from './historyRecord.js';
import type { MessageHistory } from './messageHistory.js';
import type { AttachmentPayload } from './payload.js';
import { Transfer, type TransferProgress } from './transfer.js';

export interface AccountFileOptions {
  /** The accounts API with this device's session: the AccountClient the device signed in with. */
  readonly client: { call(method: 'GET' | 'POST', path: string, body?: object): Promise<Record<string, unknown>> };
  /** The relay's blob store (default: fetchBlobTransport of the Messenger's url; the terminal passes nodeBlobTransport for its TLS trust). */
  readonly blobs?: BlobTransport;
  /** Plaintext bytes per chunk (default 4 MiB) and chunks in flight (default 2). */
  readonly chunkSize?: number;
  readonly concurrency?: number;
  readonly hash?: () => Promise<IncrementalHash>;
  readonly aead?: AesGcmFactory;
  /** A transfer that makes no progress for this long fails (default 5.5 min). */
  readonly stallMs?: number;
}

export interface SendFileOptions {
  /** A small preview of an image (JPEG, PNG or WebP, at most 48 KiB), carried in the message. */
  readonly thumbnail?: Thumbnail;
  readonly onProgress?: (p: TransferProgress) => void;
  /** Aborting cancels the upload (FILE_CANCELLED) and deletes what was uploaded. */
  readonly signal?: AbortSignal;
}

export interface DownloadFileOptions {
  /**
   * Where the file goes, or what makes it from the file's name and type (the terminal:
   * `(f) => folderSink(dir, f.name)`). Without one, the bytes are returned (up to `maxBytes`).
   */
  readonly sink?: FileSink | ((file: { name: string; mime: string; size: number }) => Promise<FileSink>);
  /** The largest file returned in memory (default 256 MiB); a larger one needs a sink. */
  readonly maxBytes?: number;
  readonly onProgress?: (p: TransferProgress) => void;
  readonly signal?: AbortSignal;
}

export interface DownloadedFile {
  /** What the sender said of it (name and type are claims: see fileSafety.ts). */
  readonly name: string;
  readonly mime: string;
  readonly size: number;
  readonly sha256: string;
  /** Without a sink: the verified bytes. */
  readonly bytes?: Uint8Array;
  /** With a sink: where it put the file, if it says. */
  readonly path?: string;
}

/** The body of an `attachment` payload for a file (everything but v, id, n, ts). */
export type AttachmentBody = Omit<AttachmentPayload, 'v' | 'id' | 'n' | 'ts'>;
export const attachmentBody = (f: FileRef): AttachmentBody => ({ type: 'attachment', ...f });
/** The file an `attachment` payload carries, as the history keeps it. */
export function fileRefOf(p: AttachmentPayload): FileRef {
  const { name, mime, size, sha256, blob, key, header, thumb } = p;
  return { name, mime, size, sha256, blob, key, header, ...(thumb && { thumb }) };
}

/** A file held in memory as a FileSource (tests; small files a page has as bytes). */
export function bytesSource(name: string, mime: string, bytes: Uint8Array): FileSource {
  return { name, mime, size: bytes.byteLength, read: async (offset, length) => bytes.slice(offset, offset + length) };
}

/** What `POST /api/blobs/ticket` answered. */
interface TicketAnswer {
  ticket: string;
  maxFileBytes: number;
  quota: { files: number; bytes: number };
  used: { files: number; bytes: number };
}

/** Every chunk counts at least this much against the relay's byte quotas (docs/PROTOCOL.md §9). */
const MIN_CHUNK_CHARGE = 64 * 1024;
const TAG = 16;
const DEFAULT_MAX_IN_MEMORY = 256 * 1024 * 1024;
/** Refusals of a blob PUT that no retry cures here: the account's files cannot be stored now. */
const QUOTA_CODES = new Set(['ACCOUNT_QUOTA', 'TICKET_QUOTA', 'IP_QUOTA', 'STORE_FULL']);

/** A refused ticket request: not retried (the upload stops with the AccountError as its cause). */
class TicketRequestRefused extends BlobRefused {}

export class AccountFiles {
  private readonly blobs: BlobTransport;
  private readonly params: ChunkParams;
  private readonly chunkSize: number;
  private ticket: Promise<TicketAnswer> | undefined;

  constructor(
    url: string,
    private readonly o: AccountFileOptions,
    /** This account's name (the sender's name a Transfer shows). */
    private readonly me: string,
  ) {
    this.blobs = o.blobs ?? fetchBlobTransport(url);
    this.chunkSize = o.chunkSize ?? DEFAULT_TRANSFER_CHUNK;
    const blobs = this.blobs;
    this.params = {
      // A full quota answers 507, which the room code retries (space may free up as blobs expire):
      // an account file fails at once instead, with FILE_QUOTA.
      blobs: {
        ...blobs,
        put: (...a) =>
          blobs.put(...a).catch((e: unknown) => {
            if (e instanceof BlobStatusError && e.status === 507 && QUOTA_CODES.has(e.blobCode ?? ''))
              throw new BlobRefused(507, e.blobCode);
            throw e;
          }),
      },
      hash: o.hash ?? sha256Incremental,
      ...(o.aead ? { aead: o.aead } : {}),
      concurrency: o.concurrency ?? DEFAULT_TRANSFER_CONCURRENCY,
      waitMs: DEFAULT_WAIT_MS,
      stallMs: o.stallMs ?? DEFAULT_STALL_MS,
    };
  }

  /**
   * Encrypts and uploads `source`, then hands its FileRef to `send` (which sends and records the
   * message): the message id. A file that cannot fit the account's quota is refused before a byte
   * goes up (FILE_QUOTA).
   */
  async send(source: FileSource, o: SendFileOptions, send: (f: FileRef) => Promise<string>): Promise<string> {
    const answer = await this.askTicket().catch((e: unknown) => {
      throw uploadFailure(e);
    });
    this.fits(source.size, answer);
    const key = newFileKey();
    const blob = toBase64Url(randomBytes(16));
    const token = toBase64Url(randomBytes(32));
    const { transfer, handle } = Transfer.open(toHex(randomBytes(16)), 'send', source.name, source.size, source.mime, this.me);
    const off = o.onProgress === undefined ? undefined : transfer.on('progress', o.onProgress);
    const cancel = () => transfer.cancel();
    o.signal?.addEventListener('abort', cancel, { once: true });
    if (o.signal?.aborted) cancel();
    let header: FileHeader | undefined;
    let sha256: string;
    try {
      sha256 = await uploadChunks(
        this.params,
        { key, chunkSize: this.chunkSize, blob, token },
        source,
        handle.control,
        async (h) => void (header = h),
        (refused) => this.ticketFor(refused),
      );
    } catch (e) {
      handle.fail(e);
      await this.blobs.delete(blob, token).catch(() => undefined);
      throw uploadFailure(e);
    } finally {
      o.signal?.removeEventListener('abort', cancel);
      off?.();
    }
    const ref: FileRef = {
      name: source.name,
      mime: source.mime,
      size: source.size,
      sha256,
      blob,
      key: toBase64Url(key),
      header: toBase64Url(encodeFileHeader(header!)),
      ...(o.thumbnail && { thumb: o.thumbnail }),
    };
    wipe([key]);
    handle.finish({ sha256 });
    // A send that fails leaves the blob: the message may have reached the relay all the same (its
    // answer lost), and then its receivers need it. Unsent, it expires with the retention.
    return send(ref);
  }

  /** Fetches, opens and verifies the file of `m` (docs/PROTOCOL.md §11.14). */
  async download(m: StoredMessage, o: DownloadFileOptions = {}): Promise<DownloadedFile> {
    const f = m.file;
    if (f === undefined) throw new ClientError('NO_SUCH_MESSAGE', 'that message carries no file');
    let header: FileHeader;
    try {
      header = decodeFileHeader(fromBase64Url(f.header));
    } catch (e) {
      throw new ClientError('FILE_REJECTED', 'the file message is malformed', { cause: e });
    }
    const max = o.maxBytes ?? DEFAULT_MAX_IN_MEMORY;
    if (o.sink === undefined && f.size > max)
      throw new ClientError('FILE_TRANSFER', 'the file is too large to hold in memory: save it to a file');
    // Uploaded whole before it was announced: anything short of every chunk means the relay lost it.
    const held = await this.blobs.head(f.blob).catch((e: unknown) => {
      throw new ClientError('FILE_TRANSFER', 'the relay could not be asked for the file', { cause: e });
    });
    if (held === 'missing' || held === 'gone' || held < fileChunkCount(f.size, header.chunkSize)) throw relayLost();
    const parts: Uint8Array[] = [];
    const given = typeof o.sink === 'function' ? await o.sink({ name: f.name, mime: f.mime, size: f.size }) : o.sink;
    const sink: FileSink = given ?? {
      write: async (c) => void parts.push(c.slice()),
      commit: async () => undefined,
      abort: async () => void parts.splice(0),
    };
    const { transfer, handle } = Transfer.open(toHex(randomBytes(16)), 'receive', f.name, f.size, f.mime, m.from);
    const off = o.onProgress === undefined ? undefined : transfer.on('progress', o.onProgress);
    const cancel = () => transfer.cancel();
    o.signal?.addEventListener('abort', cancel, { once: true });
    if (o.signal?.aborted) cancel();
    const key = fromBase64Url(f.key);
    try {
      const sha256 = await downloadChunks(this.params, { key, header, blob: f.blob, size: f.size }, sink, handle.control);
      if (sha256 !== f.sha256)
        throw new ClientError('FILE_REJECTED', 'the file does not match the hash its sender sent: nothing was saved');
      const path = await sink.commit();
      handle.finish({ sha256, ...(path === undefined ? {} : { path }) });
      const out = { name: f.name, mime: f.mime, size: f.size, sha256 };
      return o.sink === undefined ? { ...out, bytes: concat(parts, f.size) } : { ...out, ...(path === undefined ? {} : { path }) };
    } catch (e) {
      handle.fail(e);
      await sink.abort().catch(() => undefined);
      throw e;
    } finally {
      wipe([key]);
      o.signal?.removeEventListener('abort', cancel);
      off?.();
    }
  }

  /** Refuses, before any upload, a file the relay's answer says cannot fit. */
  private fits(size: number, a: TicketAnswer): void {
    const count = fileChunkCount(size, this.chunkSize);
    const last = size - (count - 1) * this.chunkSize;
    const sealed = size + count * TAG;
    const charged = (count - 1) * Math.max(this.chunkSize + TAG, MIN_CHUNK_CHARGE) + Math.max(last + TAG, MIN_CHUNK_CHARGE);
    if (sealed > a.maxFileBytes)
      throw new ClientError('FILE_QUOTA', 'the file is larger than this relay keeps', { relayCode: 'BLOB_TOO_LARGE' });
    if (a.used.files + 1 > a.quota.files || a.used.bytes + charged > a.quota.bytes)
      throw new ClientError('FILE_QUOTA', "the account's files on the relay are at their quota", { relayCode: 'ACCOUNT_QUOTA' });
  }

  /** The device's ticket (asked once, shared by uploads); a new one once the relay refused `refused`. */
  private async ticketFor(refused?: string): Promise<string> {
    const now = this.ticket;
    if (refused !== undefined && now !== undefined && (await now.catch(() => undefined))?.ticket === refused && this.ticket === now)
      this.ticket = undefined;
    return (await (this.ticket ?? this.askTicket())).ticket;
  }

  private askTicket(): Promise<TicketAnswer> {
    const p = this.o.client.call('POST', '/api/blobs/ticket', {}).then(parseTicket, (e: unknown) => {
      if (e instanceof AccountError && e.details.relayCode === 'NOT_FOUND') throw new TicketRequestRefused(404, 'NO_BLOB_STORE');
      // Only a relay that cannot be reached now is worth asking again; the rest (not signed in, not a device) stops the upload.
      if (e instanceof AccountError && e.code !== 'UNAVAILABLE' && e.code !== 'RATE_LIMITED')
        throw Object.assign(new TicketRequestRefused(403), { cause: e });
      throw e;
    });
    this.ticket = p;
    p.catch(() => {
      if (this.ticket === p) this.ticket = undefined;
    });
    return p;
  }
}

function parseTicket(r: Record<string, unknown>): TicketAnswer {
  const t = str(r.ticket);
  if (!/^[A-Za-z0-9_-]{43}$/.test(t)) throw new AccountError('BAD_RESPONSE');
  const q = (r.quota ?? {}) as Record<string, unknown>;
  const u = (r.used ?? {}) as Record<string, unknown>;
  return {
    ticket: t,
    maxFileBytes: num(r.maxFileBytes),
    quota: { files: num(q.files), bytes: num(q.bytes) },
    used: { files: num(u.files), bytes: num(u.bytes) },
  };
}

/** The typed error an upload failed with: FILE_QUOTA for the relay's quota and size refusals, the account's own for a refused ticket. */
function uploadFailure(e: unknown): unknown {
  if (e instanceof TicketRequestRefused) {
    if (e.cause instanceof AccountError) return e.cause;
    return new ClientError('FILE_TRANSFER', 'this relay keeps no files (it runs without a blob store)', { relayCode: e.blobCode ?? '' });
  }
  if (e instanceof BlobRefused && (e.status === 507 || e.status === 413))
    return new ClientError('FILE_QUOTA', 'the relay refused the file: over its size limit or the quota', {
      relayCode: e.blobCode ?? (e.status === 413 ? 'BLOB_TOO_LARGE' : 'ACCOUNT_QUOTA'),
      cause: e,
    });
  return e;
}

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The message `id` of a conversation's history (paged back from the newest), or undefined. */
export async function findMessage(history: MessageHistory, conversation: string, id: string): Promise<StoredMessage | undefined> {
  let before: number | undefined;
  for (;;) {
    const page = await history.messages(conversation, { limit: 1000, ...(before === undefined ? {} : { before }) });
    const m = page.find((x) => x.id === id);
    if (m !== undefined || page.length === 0) return m;
    before = page[0]!.index;
    if (before === 0) return undefined;
  }
}
