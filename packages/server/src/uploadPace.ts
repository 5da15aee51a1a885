/**
 * The pace an upload body must keep (docs/PROTOCOL.md §9.2): one timer watches every body still
 * arriving, and cuts those below the floor or past the deadline.
 */

/** An upload body being read, as the pacer sees it. */
export interface Upload {
  readonly start: number;
  received: number;
  /** [time, received] over the last rate window, oldest first: the first one is the anchor. */
  readonly samples: [number, number][];
  /** Answers 408, closes the connection and gives back the reservation at once. */
  cut(why: 'TOO_SLOW' | 'TOO_LONG'): void;
}

export interface PaceOptions {
  readonly minUploadBytesPerSecond: number;
  readonly uploadRateWindowMs: number;
  readonly uploadGraceMs: number;
  readonly maxUploadMs: number;
}

export class UploadPacer {
  private readonly uploads = new Set<Upload>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: PaceOptions) {}

  /** A new body, received 0 bytes so far; watched until `forget` (or its cut). */
  watch(cut: Upload['cut']): Upload {
    const start = performance.now();
    const u: Upload = { start, received: 0, samples: [[start, 0]], cut };
    this.uploads.add(u);
    if (this.timer === undefined && !this.stopped) {
      // The timer runs only while there are bodies to watch.
      const tick = Math.max(20, Math.min(500, Math.floor(this.o.uploadRateWindowMs / 20)));
      this.timer = setInterval(() => this.check(), tick);
      this.timer.unref();
    }
    return u;
  }

  forget(u: Upload): void {
    this.uploads.delete(u);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Cuts every body past its deadline, and every body that, once its grace is over, received less
   * than minUploadBytesPerSecond over the last window (the time since it began, while shorter).
   */
  private check(): void {
    const now = performance.now();
    const { minUploadBytesPerSecond: floor, uploadRateWindowMs: window, uploadGraceMs: grace, maxUploadMs } = this.o;
    for (const u of [...this.uploads]) {
      const age = now - u.start;
      if (age > maxUploadMs) {
        u.cut('TOO_LONG');
        continue;
      }
      u.samples.push([now, u.received]);
      while (u.samples.length > 2 && u.samples[1]![0] <= now - window) u.samples.shift();
      if (age < grace) continue;
      const [t0, r0] = u.samples[0]!;
      if (((u.received - r0) * 1000) / Math.max(1, now - t0) < floor) u.cut('TOO_SLOW');
    }
    if (this.uploads.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
