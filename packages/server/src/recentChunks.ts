/**
 * The chunks written last, kept in memory as well as on disk (first in, first out, at most
 * RECENT_BYTES): a receiver that keeps up with the sender is served from here, without reading the
 * disk again.
 */

/** Memory for the chunks written last. */
const RECENT_BYTES = 32 * 1024 * 1024;

const size = (pieces: readonly Buffer[]) => pieces.reduce((n, p) => n + p.length, 0);

export class RecentChunks {
  private readonly chunks = new Map<string, Buffer[]>();
  private bytes = 0;

  get(id: string, index: number): readonly Buffer[] | undefined {
    return this.chunks.get(`${id}/${index}`);
  }

  /** Keeps a chunk just written (`len` bytes in `pieces`), forgetting the oldest ones past the cap. */
  remember(id: string, index: number, pieces: Buffer[], len: number): void {
    this.forget(id, index);
    if (len > RECENT_BYTES) return;
    this.chunks.set(`${id}/${index}`, pieces);
    this.bytes += len;
    for (const [k, v] of this.chunks) {
      if (this.bytes <= RECENT_BYTES) break;
      this.chunks.delete(k);
      this.bytes -= size(v);
    }
  }

  forget(id: string, index: number): void {
    const key = `${id}/${index}`;
    const old = this.chunks.get(key);
    if (old === undefined) return;
    this.chunks.delete(key);
    this.bytes -= size(old);
  }
}
