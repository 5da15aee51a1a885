/** A small typed event emitter that runs in browsers and Node alike. Listener errors never reach the emitter's caller. */
export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(e: never) => void>>();
  on<K extends keyof Events>(type: K, fn: (e: Events[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    set.add(fn as (e: never) => void);
    return () => set.delete(fn as (e: never) => void);
  }
  protected emit<K extends keyof Events>(type: K, e: Events[K]): void {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        (fn as (e: Events[K]) => void)(e);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
