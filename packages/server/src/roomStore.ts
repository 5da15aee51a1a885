/**
 * What the relay writes so that its rooms survive a restart (docs/PROTOCOL.md §4.5 "Relay
 * restarts"): each room's record, its resumable slots (token hashes), its log of deliveries and the
 * DIRECT frames held for away slots. Everything here is what the relay holds in memory anyway:
 * locators, slot numbers, counters, times and opaque ciphertext; never a name, a key or plaintext.
 *
 * Every method is synchronous and durable on return (a crash or `kill -9` right after it loses
 * nothing it wrote): the relay calls it before it writes the frame the change belongs to (an ACK,
 * a DELIVER, a JOINED) to anyone. Calls for one room come in the order the relay made the changes.
 * `key` is the room's locator in hex (`locatorKey`).
 */

/** One logged delivery: the encoded DELIVER frame, as every recipient got it. */
export interface StoredEntry {
  readonly seq: number;
  /** When it was sequenced (Date.now(), ms): the log keeps it for the grace period from then. */
  readonly at: number;
  readonly frame: Uint8Array;
}

/** What an accepted COMMIT stores besides its delivery: its GroupInfo, and the room's relay epoch after it. */
export interface StoredCommit {
  readonly groupInfo: Uint8Array;
  readonly epoch: number;
}

/** A DIRECT frame held for an away slot: the encoded DIRECT_DELIVER, after the room's delivery `afterSeq`. */
export interface StoredDirect {
  readonly slot: number;
  readonly afterSeq: number;
  readonly at: number;
  readonly frame: Uint8Array;
}

export interface StoredSlot {
  readonly slot: number;
  /** SHA-256 of the slot's resume token (JOINED.resume). */
  readonly tokenHash: Uint8Array;
}

export interface StoredRoom {
  readonly key: string;
  readonly locator: Uint8Array;
  /** Accepted commits, and deliveries sequenced. */
  readonly epoch: number;
  readonly seq: number;
  readonly nextSlot: number;
  readonly groupInfo: Uint8Array | undefined;
  /** Every slot that may still resume (live or away when last written), ascending. */
  readonly slots: readonly StoredSlot[];
  /** Ascending `seq`. */
  readonly log: readonly StoredEntry[];
  /** Oldest first. */
  readonly directs: readonly StoredDirect[];
}

export interface RoomStore {
  /** Every stored room, as last written. Called once, when the relay starts. */
  load(): StoredRoom[];
  /** A room record was made (a JOIN on a locator nobody was in). */
  createRoom(key: string, locator: Uint8Array): void;
  /** A slot joined: its token's hash, and the room's next slot number after it. */
  addSlot(key: string, slot: number, tokenHash: Uint8Array, nextSlot: number): void;
  /** A slot left for good (LEAVE, or its grace period ended): forget it and its held DIRECT frames. */
  removeSlot(key: string, slot: number): void;
  /** CREATE or an accepted COMMIT stored this GroupInfo; `epoch` is the room's relay epoch after it. */
  setGroupInfo(key: string, groupInfo: Uint8Array, epoch: number): void;
  /**
   * A delivery was sequenced; the room's `seq` is now `entry.seq`. For a commit, the GroupInfo it
   * stored and the relay epoch after it come with it, written in the same transaction.
   */
  append(key: string, entry: StoredEntry, commit?: StoredCommit): void;
  /** Log entries with `seq <= upTo` were dropped (too old, or over a budget). */
  trim(key: string, upTo: number): void;
  /** A DIRECT frame is held for an away slot. */
  holdDirect(key: string, direct: StoredDirect): void;
  /** The slot resumed (its held frames were written to it) or left: its held frames are gone. */
  releaseDirects(key: string, slot: number): void;
  /** The room is gone (no subscriber, no away slot left). */
  deleteRoom(key: string): void;
  close(): void;
}

/** The relay without a store: rooms live in memory only, and a restart forgets them. */
export const noRoomStore: RoomStore = {
  load: () => [],
  createRoom() {},
  addSlot() {},
  removeSlot() {},
  setGroupInfo() {},
  append() {},
  trim() {},
  holdDirect() {},
  releaseDirects() {},
  deleteRoom() {},
  close() {},
};
