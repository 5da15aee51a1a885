/**
 * A connection's rooms (locator key -> its stay there), in the memory of one room: nearly every
 * connection is in one room for its whole life, and the relay holds 10,000s of them.
 */
import type { Membership } from './roomState.js';

/** What the room logic uses of a peer's memberships (a Map is one, and what the tests give). */
export interface MembershipTable {
  readonly size: number;
  get(key: string): Membership | undefined;
  has(key: string): boolean;
  set(key: string, m: Membership): unknown;
  delete(key: string): boolean;
  clear(): void;
  /** In the order they were set, as a Map's. */
  values(): Iterable<Membership>;
}

/**
 * A MembershipTable that holds its first room inline (an object of ~48 bytes, where an empty Map
 * with its hash table is ~185): a second room moves both into a Map, which then stays.
 */
export class Memberships implements MembershipTable {
  private key: string | undefined = undefined;
  private one: Membership | undefined = undefined;
  private many: Map<string, Membership> | undefined = undefined;

  get size(): number {
    if (this.many !== undefined) return this.many.size;
    return this.one === undefined ? 0 : 1;
  }

  get(key: string): Membership | undefined {
    if (this.many !== undefined) return this.many.get(key);
    return key === this.key ? this.one : undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, m: Membership): this {
    if (this.many !== undefined) this.many.set(key, m);
    else if (this.one === undefined || key === this.key) {
      this.key = key;
      this.one = m;
    } else {
      this.many = new Map([
        [this.key as string, this.one],
        [key, m],
      ]);
      this.key = undefined;
      this.one = undefined;
    }
    return this;
  }

  delete(key: string): boolean {
    if (this.many !== undefined) return this.many.delete(key);
    if (this.one === undefined || key !== this.key) return false;
    this.key = undefined;
    this.one = undefined;
    return true;
  }

  clear(): void {
    this.key = undefined;
    this.one = undefined;
    this.many = undefined;
  }

  values(): Iterable<Membership> {
    if (this.many !== undefined) return this.many.values();
    return this.one === undefined ? [] : [this.one];
  }
}
