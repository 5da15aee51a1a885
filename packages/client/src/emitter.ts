/** A small typed event emitter that runs in browsers and Node alike. Listener errors never reach the emitter's caller. */
export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(e: never) => void>>();
  /** Events of the held types that were emitted while nobody listened to them, oldest first. */
  private readonly unheard = new Map<keyof Events, Events[keyof Events][]>();

  /**
   * Registers `fn` for `type`. If events of a held type (see `holdUnheard`) were emitted while
   * nobody listened to that type, `fn` receives them first, in order, before `on` returns.
   */
  on<K extends keyof Events>(type: K, fn: (e: Events[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    set.add(fn as (e: never) => void);
    const held = this.unheard.get(type);
    if (held !== undefined) {
      this.unheard.set(type, []);
      for (const e of held) this.call(fn, e as Events[K]);
    }
    return () => set.delete(fn as (e: never) => void);
  }

  /**
   * Events of these types are never lost for want of a listener: while no listener of a type is
   * registered, its events are kept (at most `max` per type, the oldest dropped first) and given
   * to the first listener that registers. For warnings that happen before a caller can listen
   * (a Room checks members' keys while joining, before `join` resolves).
   */
  protected holdUnheard(types: readonly (keyof Events)[], max = 1024): void {
    this.maxUnheard = max;
    for (const t of types) if (!this.unheard.has(t)) this.unheard.set(t, []);
  }
  private maxUnheard = 0;

  protected emit<K extends keyof Events>(type: K, e: Events[K]): void {
    const set = this.listeners.get(type);
    const held = this.unheard.get(type);
    if (held !== undefined && (set === undefined || set.size === 0)) {
      held.push(e);
      if (held.length > this.maxUnheard) held.shift();
      return;
    }
    for (const fn of set ?? []) this.call(fn as (e: Events[K]) => void, e);
  }

  private call<E>(fn: (e: E) => void, e: E): void {
    try {
      fn(e);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}
