/**
 * The Messenger's account channel kept open (messenger.ts): opened, and when the relay restarts or
 * the network drops it, opened again after 0.5 s, 1 s, 2 s, … up to 30 s (jittered), until it is
 * closed. The relay sends again whatever was not acknowledged, so nothing is lost across a drop; a
 * request in flight when it drops fails with CHANNEL_CLOSED. A close that says "not again" (signed
 * out or device refused, 4401/4403; this device's newer channel replaced it, 4409; this device was
 * removed from the account, 4410) ends it.
 */
import type { AccountChannel, ChannelEvents } from './accountChannel.js';

export type LinkState = { state: 'online' | 'reconnecting' | 'closed'; code?: number };

export interface LinkHandlers {
  mail(e: ChannelEvents['mail']): void;
  presence(e: ChannelEvents['presence']): void;
  notice(e: ChannelEvents['notice']): void;
  lost(e: ChannelEvents['lost']): void;
  connection(e: LinkState): void;
}

const FINAL = new Set([4401, 4403, 4409, 4410]);

export class ChannelLink {
  channel!: AccountChannel;
  private closed = false;

  private constructor(
    private readonly opener: () => Promise<AccountChannel>,
    private readonly h: LinkHandlers,
  ) {}

  /** Resolves once the first channel is ready (rejects if it cannot be opened: the caller decides). */
  static async open(opener: () => Promise<AccountChannel>, h: LinkHandlers): Promise<ChannelLink> {
    const link = new ChannelLink(opener, h);
    await link.connect();
    return link;
  }

  private async connect(): Promise<void> {
    const ch = await this.opener();
    if (this.closed) return ch.close();
    this.channel = ch;
    ch.on('mail', (e) => this.h.mail(e));
    ch.on('presence', (e) => this.h.presence(e));
    ch.on('notice', (e) => this.h.notice(e));
    ch.on('lost', (e) => this.h.lost(e));
    ch.on('closed', (c) => {
      if (this.closed || this.channel !== ch) return;
      if (FINAL.has(c.code)) return this.h.connection({ state: 'closed', code: c.code });
      this.reconnect(0);
    });
    this.h.connection({ state: 'online' });
  }

  private reconnect(attempt: number): void {
    this.h.connection({ state: 'reconnecting' });
    const delay = Math.min(30_000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    setTimeout(() => {
      if (!this.closed) this.connect().catch(() => this.reconnect(attempt + 1));
    }, delay);
  }

  close(): void {
    this.closed = true;
    this.channel?.close();
  }
}
