/**
 * One file transfer as its caller sees it, either way: progress events (bytes, speed, time left),
 * a result, cancel. The chunk work (chunks.ts) reports through its `control`; RoomFiles (files.ts)
 * settles it.
 */
import type { ChunkControl } from './chunks.js';
import { Emitter } from './emitter.js';
import { ClientError } from './errors.js';

export interface TransferProgress {
  bytes: number;
  total: number;
  /** Averaged over the last few seconds (and at least the last two chunks); 0 while stalled. */
  bytesPerSecond: number;
  /** Estimated time left, once there is a speed to go by. */
  etaMs: number | undefined;
  /**
   * Set while nothing moves (no bytes for a second and no speed left to go by), saying what a
   * download waits for: `sender`, its sender is still uploading (a live transfer that caught up with
   * it); `relay`, the file is complete but nothing came for 10 s (a reconnect, a relay in trouble).
   * Chunks move whole (4 MiB), so a slow link alone is not called a wait; uploads never say it.
   */
  waiting?: 'sender' | 'relay';
}

/** A transfer waits (TransferProgress.waiting) once no bytes moved for this long. */
export const WAITING_AFTER_MS = 1000;

export interface TransferResult {
  sha256: string;
  /** Where the sink put the file (receivers). */
  path?: string;
}

/** Transfer speeds are averaged over about this long. */
const SPEED_WINDOW_MS = 3000;

/** One transfer, either way: progress events, a result, cancel. */
/**
 * What the owner of a transfer (RoomFiles) drives it through: the chunk work's control, and
 * settling it. Only `Transfer.open`'s caller holds it, so the SDK's callers can watch and cancel a
 * transfer but not advance or settle it.
 */
/** A byte count as people read it (binary units: B, KiB, MiB, GiB), for progress and file sizes in both apps. */
export const formatBytes = (n: number): string =>
  n < 1024
    ? `${n} B`
    : n < 1024 ** 2
      ? `${(n / 1024).toFixed(1)} KiB`
      : n < 1024 ** 3
        ? `${(n / 1024 ** 2).toFixed(1)} MiB`
        : `${(n / 1024 ** 3).toFixed(2)} GiB`;

export interface TransferHandle {
  readonly control: ChunkControl;
  finish(r: TransferResult): void;
  fail(e: unknown): void;
}

export class Transfer extends Emitter<{ progress: TransferProgress }> {
  /** A new transfer and the handle its owner drives it through. */
  static open(
    fid: string,
    direction: 'send' | 'receive',
    name: string,
    size: number,
    mime: string,
    from: string,
    /** What a stalled transfer waits for, if its owner can tell (default: nothing is said). */
    waitingFor: (stalledMs: number) => 'sender' | 'relay' | undefined = () => undefined,
  ): { transfer: Transfer; handle: TransferHandle } {
    const t = new Transfer(fid, direction, name, size, mime, from, waitingFor);
    return { transfer: t, handle: { control: t.#control, finish: (r) => t.#finish(r), fail: (e) => t.#fail(e) } };
  }

  readonly done: Promise<TransferResult>;
  private readonly abort = new AbortController();
  /** [time, bytes] of recent progress, from a zero at the start: the first chunk already gives a speed. */
  private samples: [number, number][] = [[Date.now(), 0]];
  private lastEmit = 0;
  private bytes = 0;
  private lastProgressAt = Date.now();
  private settle!: { resolve: (r: TransferResult) => void; reject: (e: unknown) => void };

  private constructor(
    readonly fid: string,
    readonly direction: 'send' | 'receive',
    readonly name: string,
    readonly size: number,
    readonly mime: string,
    /** The sender's nickname (receive), or ours (send). */
    readonly from: string,
    private readonly waitingFor: (stalledMs: number) => 'sender' | 'relay' | undefined,
  ) {
    super();
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined); // a caller that never awaits must not crash the process
    // While nothing moves (a reconnect, a slow peer), progress is still reported every second, so
    // the speed shown drops to zero and the time left goes away instead of freezing.
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastProgressAt >= 1000) this.emit('progress', this.progress());
    }, 1000);
    (this.heartbeat as { unref?: () => void }).unref?.();
    void this.done.finally(() => clearInterval(this.heartbeat)).catch(() => undefined);
  }
  private readonly heartbeat: ReturnType<typeof setInterval>;

  get signal(): AbortSignal {
    return this.abort.signal;
  }
  /** The chunk work's handle on this transfer. */
  readonly #control: ChunkControl = {
    signal: this.abort.signal,
    advance: (n) => this.#advance(n),
    lastProgress: () => this.lastProgressAt,
  };
  get transferred(): number {
    return this.bytes;
  }
  /** When bytes last moved (stall detection). */
  get lastProgress(): number {
    return this.lastProgressAt;
  }

  /** Stops the transfer; `done` rejects with FILE_CANCELLED. */
  cancel(): void {
    this.abort.abort(new ClientError('FILE_CANCELLED', 'the transfer was cancelled'));
  }

  #advance(n: number): void {
    this.bytes += n;
    const now = Date.now();
    this.lastProgressAt = now;
    this.samples.push([now, this.bytes]);
    this.prune();
    if (now - this.lastEmit >= 100 || this.bytes === this.size) {
      this.lastEmit = now;
      this.emit('progress', this.progress());
    }
  }

  /**
   * Keeps the samples of the 3 s before the latest one, the newest sample older than that (the
   * anchor the speed is measured from), and at least two.
   */
  private prune(): void {
    const last = this.samples.at(-1)![0];
    while (this.samples.length > 2 && this.samples[1]![0] <= last - SPEED_WINDOW_MS) this.samples.shift();
  }

  progress(): TransferProgress {
    // Bytes move a chunk at a time (4 MiB: seconds apart on a slow link, and the chunks in flight
    // often land together), so the speed is measured from the anchor to the latest chunk, and time
    // without bytes only counts once it exceeds what a chunk takes at that speed: the speed falls
    // during a stall, and is zero once nothing has moved for three such times (at least 3 s),
    // instead of dropping to zero between any two chunks.
    const now = Date.now();
    const left = this.size - this.bytes;
    const anchor = this.samples[0]!;
    const last = this.samples.at(-1)!;
    const prev = this.samples.at(-2);
    let bytesPerSecond = 0;
    if (prev !== undefined && last[0] - anchor[0] >= 50) {
      const rate = (last[1] - anchor[1]) / (last[0] - anchor[0]); // bytes per ms
      const perChunk = (last[1] - prev[1]) / rate;
      if (now - last[0] <= Math.max(SPEED_WINDOW_MS, 3 * perChunk))
        bytesPerSecond = ((last[1] - anchor[1]) * 1000) / (Math.max(last[0], now - perChunk) - anchor[0]);
    }
    const stalledMs = now - this.lastProgressAt;
    const waiting =
      bytesPerSecond === 0 && left > 0 && stalledMs >= WAITING_AFTER_MS && !this.abort.signal.aborted
        ? this.waitingFor(stalledMs)
        : undefined;
    return {
      bytes: this.bytes,
      total: this.size,
      bytesPerSecond,
      etaMs: bytesPerSecond > 0 ? Math.round((left / bytesPerSecond) * 1000) : undefined,
      ...(waiting === undefined ? {} : { waiting }),
    };
  }

  #finish(r: TransferResult): void {
    this.settle.resolve(r);
  }
  #fail(e: unknown): void {
    this.abort.abort(e);
    this.settle.reject(e);
  }
}
