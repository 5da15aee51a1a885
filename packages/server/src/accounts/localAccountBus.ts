/**
 * The account channels' events of one relay (accountShared.ts AccountBus), in its memory: every
 * event reaches this relay's hub at once, in the order it was published; a user is online while it
 * has a channel here. Relay nodes share a bus through Redis instead (cluster/accountBus.ts).
 */
import type { AccountBus, BusEvent, PublishedEvent } from './accountShared.js';

export class LocalAccountBus implements AccountBus {
  private readonly listeners: ((e: BusEvent) => void)[] = [];
  /** Authenticated channels per user. */
  private readonly channels = new Map<string, number>();
  /** Users whose contacts were last told they are online. */
  private readonly told = new Set<string>();
  private gen = 0;

  listen(f: (e: BusEvent) => void): void {
    this.listeners.push(f);
  }

  async publish(e: PublishedEvent): Promise<void> {
    this.emit(e);
  }

  async up(user: string, device: string): Promise<number> {
    this.channels.set(user, (this.channels.get(user) ?? 0) + 1);
    const gen = ++this.gen;
    this.emit({ type: 'device', device, gen });
    return gen;
  }

  async down(user: string, _device?: string): Promise<boolean> {
    const n = (this.channels.get(user) ?? 1) - 1;
    if (n > 0) this.channels.set(user, n);
    else this.channels.delete(user);
    return n <= 0;
  }

  async online(users: readonly string[]): Promise<Set<string>> {
    return new Set(users.filter((u) => this.channels.has(u)));
  }

  async announce(user: string, to: readonly string[], name: string): Promise<void> {
    const online = this.channels.has(user);
    if (online === this.told.has(user)) return;
    if (online) this.told.add(user);
    else this.told.delete(user);
    this.emit({ type: 'presence', user, online, at: Date.now(), to, name });
  }

  async stop(): Promise<void> {}

  close(): void {}

  private emit(e: BusEvent): void {
    for (const f of this.listeners) f(e);
  }
}
