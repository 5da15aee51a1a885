/**
 * The terminal says when we are typing (docs/PROTOCOL.md §5.4 `typing`), as the web app does: on a
 * TTY, while the line being edited is a message (not empty, not a `/command`), `typing: on` goes to
 * where that line will be sent (the room, or the private chat of private mode); it goes off when
 * the line is sent or emptied, or after IDLE_MS without a key. The SDK rate-limits `on` (one per
 * 3 s, chatLog.ts) and sends an `off` only after an `on`, so calling it on every key is cheap.
 * `--no-typing` turns it off.
 */
import type { Interface } from 'node:readline';

/** Where a typed line goes: the SDK's Room or PrivateChat (both have `typing(on)`). */
export interface TypingTarget {
  typing(on: boolean): boolean;
}

/** Without a key for this long, typing goes off (the receivers also expire an `on` after 6 s). */
export const IDLE_MS = 5_000;

export class TypingSignal {
  private idle: ReturnType<typeof setTimeout> | undefined;
  /** Where the last `on` went (so that its `off` goes there too, even after a mode change). */
  private target: TypingTarget | undefined;

  constructor(private readonly where: () => TypingTarget | undefined) {}

  /** Listens to the keys of `rl`'s input (a TTY: readline emits `keypress` on it). */
  attach(rl: Interface, input: NodeJS.ReadableStream): void {
    // Our listener runs after readline's own, so `rl.line` already holds the key.
    input.on('keypress', () => this.edited(rl.line));
  }

  /** The line being edited is now `line`. */
  edited(line: string): void {
    const message = line.trim().length > 0 && !line.startsWith('/');
    if (!message) return this.stop();
    const to = this.where();
    if (to !== this.target) this.stop();
    if (to === undefined) return;
    this.target = to;
    safely(() => to.typing(true));
    if (this.idle !== undefined) clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), IDLE_MS);
    this.idle.unref();
  }

  /** The line was sent, emptied, or left idle: typing goes off (nothing is sent if it was not on). */
  stop(): void {
    if (this.idle !== undefined) clearTimeout(this.idle);
    this.idle = undefined;
    const to = this.target;
    this.target = undefined;
    if (to !== undefined) safely(() => to.typing(false));
  }
}

/** Typing is a courtesy: a closed room or chat refusing it changes nothing. */
function safely(fn: () => unknown): void {
  try {
    fn();
  } catch {
    /* closed meanwhile */
  }
}
