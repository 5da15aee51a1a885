/**
 * Files in the terminal: every file offered in the room, or in a private chat, is fetched into the
 * download folder and reported once verified, or reported no longer available (its sender left
 * before sending it completely, or the relay lost it); `/send` and `/dmsend` upload, with a preview
 * for JPEG and PNG images (thumbnail.ts) that browsers show inline; progress is a line a second for
 * transfers that last more than a second, and says what a stalled one waits for.
 */
import { ClientError, type FileTransferOptions, type PrivateChat, type Room, RoomFiles, type Transfer } from '@nullroom/client';
import { fileSource, folderSink } from '@nullroom/client/node';
import { type ChatEvent, cliError, errorEvent } from './output.js';
import { withoutMetadata } from './imageMetadata.js';
import { thumbnailOf } from './thumbnail.js';

/** While a transfer waits (for its sender, or the relay), its progress line is repeated this often at most. */
const WAITING_LINE_MS = 10_000;

export interface FileTransfersOptions {
  files: FileTransferOptions;
  maxFile: number;
  downloadDir: string;
  /** `--json`: no progress lines. */
  json: boolean;
  /** `--keep-metadata`: photos are sent as they are (otherwise without their metadata: imageMetadata.ts). */
  keepMetadata?: boolean;
  report(e: ChatEvent): void;
}

export class FileTransfers {
  /** The room's files. */
  readonly room: RoomFiles;
  private readonly chats = new Map<string, RoomFiles>();
  private readonly active = new Set<Transfer>();

  constructor(
    room: Room,
    private readonly o: FileTransfersOptions,
  ) {
    this.room = new RoomFiles(room, o.files);
    this.receive(this.room);
  }

  /** Files in a private chat, received like the room's (reported as private, with the peer's name). */
  openChat(chat: PrivateChat): void {
    const files = new RoomFiles(chat, this.o.files);
    this.chats.set(chat.id, files);
    this.receive(files, () => chat.peer);
  }

  /** The files of an open private chat. */
  ofChat(chat: PrivateChat): RoomFiles | undefined {
    return this.chats.get(chat.id);
  }

  /** Sends each file (one that cannot be read is reported and skipped); resolves once each has started. */
  async send(paths: readonly string[], via: RoomFiles = this.room): Promise<void> {
    for (const path of paths) {
      let src;
      try {
        src = await fileSource(path);
        if (this.o.keepMetadata !== true) src = (await withoutMetadata(path, src)) ?? src;
      } catch {
        this.o.report(cliError('NO_SUCH_FILE', 'cannot read that file'));
        continue;
      }
      const thumbnail = await thumbnailOf(path, src.mime);
      const t = via.send(src, thumbnail === undefined ? {} : { thumbnail });
      this.track(t);
      const { name, size } = src;
      void t.done
        .then(
          (r) => this.o.report({ event: 'file-sent', name, size, sha256: r.sha256 }),
          (e: unknown) => this.o.report(errorEvent(e)),
        )
        .finally(() => src.close());
    }
  }

  cancelAll(): void {
    for (const t of this.active) t.cancel();
  }

  /** Settles once every file being sent is up (or failed): a receiver needs every chunk. */
  async uploads(): Promise<void> {
    await Promise.allSettled([...this.active].filter((t) => t.direction === 'send').map((t) => t.done));
  }

  private receive(from: RoomFiles, privateWith?: () => string): void {
    from.on('offer', (f) => {
      if (f.size > this.o.maxFile)
        return this.o.report(cliError('FILE_TOO_LARGE', 'a file offered to you is larger than --max-file; not downloaded'));
      void folderSink(this.o.downloadDir, f.name).then(
        (sink) => {
          const t = f.accept(sink);
          this.track(t);
          const via = () => (privateWith === undefined ? {} : { private: true as const, with: privateWith() });
          t.done.then(
            (r) =>
              this.o.report({ event: 'file', from: f.from, name: f.name, size: f.size, sha256: r.sha256, path: r.path ?? '', ...via() }),
            (e: unknown) =>
              this.o.report(
                e instanceof ClientError && e.code === 'FILE_UNAVAILABLE'
                  ? { event: 'file-unavailable', from: f.from, name: f.name, ...via() }
                  : errorEvent(e),
              ),
          );
        },
        () => this.o.report(cliError('FILE_SAVE', 'cannot create the file in the download folder')),
      );
    });
  }

  private track(t: Transfer): void {
    this.active.add(t);
    // A line a second, from a second in (small files never print one); while it waits, a line when
    // the wait starts, then one every 10 s.
    let lastLine = Date.now();
    let waited: string | undefined;
    t.on('progress', (p) => {
      const since = Date.now() - lastLine;
      if (this.o.json || since < 1000 || p.bytes === p.total) return;
      if (p.waiting !== undefined && p.waiting === waited && since < WAITING_LINE_MS) return;
      lastLine = Date.now();
      waited = p.waiting;
      const { bytes, total, bytesPerSecond, etaMs, waiting } = p;
      this.o.report({
        event: 'progress',
        direction: t.direction,
        name: t.name,
        bytes,
        total,
        bytesPerSecond,
        etaMs,
        ...(waiting === undefined ? {} : { waiting }),
      });
    });
    void t.done.finally(() => this.active.delete(t)).catch(() => undefined);
  }
}
