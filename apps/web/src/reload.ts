/**
 * A reload takes the tab's rooms up again (issue 13; docs/PROTOCOL.md §4.5): each joined room's
 * MLS stay is saved by the SDK through this tab's `TabSessions`, its history (history.ts) just
 * before it, and on the next page load both are read back and the room resumes its slot.
 *
 * One tab per room: a room's saved session belongs to the tab that holds its Web Lock
 * ("nullroom-room:" + locator). A tab writes a room's session only while it holds that lock, and a
 * page restores only rooms whose lock it can take, so two tabs never resume the same slot (the
 * relay would hand it to the later one and the other would go quiet). A room open in a second tab
 * is a second member and is not kept across that tab's reloads (nor does that tab take the room's
 * session over while the first one reloads). Locks go with the page that holds them, so a reload
 * frees them at once for the next page.
 */
import { NullroomClient, type Room, type SessionStore } from '@nullroom/client';
import type { HistoryStore, RoomHistory } from './history.js';

type Release = () => void;

export class TabSessions implements SessionStore {
  /** Rooms whose lock this page holds (or asked for: the promise says whether it got it). */
  private readonly held = new Map<string, Promise<Release | undefined>>();
  /** Called before a room's session is written (the history goes first). */
  beforeSave: (room: string) => Promise<void> = async () => undefined;

  constructor(private readonly inner: SessionStore) {}

  /** Takes the room's lock if no other tab holds it; true while this page holds it. */
  claim(room: string): Promise<boolean> {
    // Asked once per room: a room another tab held when we first asked stays that tab's, even once
    // it reloads (its next page takes it back; we must not write over its session meanwhile).
    let got = this.held.get(room);
    if (got === undefined) {
      got = lock(`nullroom-room:${room}`);
      this.held.set(room, got);
    }
    return got.then((release) => release !== undefined);
  }

  /** Rooms the user left: their session is gone and is never written again, even by a save already under way. */
  private readonly left = new Set<string>();

  /** The user leaves the room: its saved session goes now, before the LEAVE (a reload at once must not take it up). */
  forget(room: string): Promise<void> {
    this.left.add(room);
    return this.remove(room);
  }

  async save(room: string, snapshot: Uint8Array): Promise<void> {
    if (this.left.has(room) || !(await this.claim(room))) return; // another tab's room: its session is that tab's to keep
    await this.beforeSave(room);
    if (!this.left.has(room)) await this.inner.save(room, snapshot);
  }

  /** The room was left: its session goes, and the lock with it. */
  async remove(room: string): Promise<void> {
    const got = this.held.get(room);
    if (got === undefined) return;
    this.held.delete(room);
    const release = await got;
    if (release === undefined) return;
    try {
      await this.inner.remove(room);
    } finally {
      release();
    }
  }

  load(): Promise<Uint8Array[]> {
    return this.inner.load();
  }

  /** The saved rooms this page can take up: the others are open in another tab. */
  async claimable(): Promise<{ room: string; snapshot: Uint8Array }[]> {
    const out: { room: string; snapshot: Uint8Array }[] = [];
    for (const snapshot of await this.inner.load().catch(() => [])) {
      const room = await NullroomClient.snapshotRoom(snapshot).catch(() => undefined);
      if (room !== undefined && (await this.claim(room))) out.push({ room, snapshot });
    }
    return out;
  }
}

/** A Web Lock held until released (or the page goes); undefined if another page holds it (or there are no locks). */
function lock(name: string): Promise<Release | undefined> {
  const locks = (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;
  if (locks === undefined) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    void locks
      .request(name, { ifAvailable: true }, (l) => {
        if (l === null) return resolve(undefined);
        return new Promise<void>((release) => resolve(release));
      })
      .catch(() => resolve(undefined));
  });
}

/** A room's locator as `TabSessions` and the history name it (hex). */
export const roomKey = (locator: Uint8Array): string => Array.from(locator, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Takes up every room this page can claim: each resumes its slot once the client is online, and is
 * handed to `onRoom` with what it showed (undefined if its history did not read back). A session
 * that no longer opens is dropped (the room can always be joined again). Resolves with the pasts.
 */
export async function takeUpRooms(
  tab: TabSessions,
  histories: HistoryStore,
  client: () => Promise<NullroomClient>,
  onRoom: (room: Room, past: RoomHistory | undefined) => void,
): Promise<(RoomHistory | undefined)[]> {
  const kept = await tab.claimable();
  if (kept.length === 0) return [];
  const c = await client();
  const back: (RoomHistory | undefined)[] = [];
  for (const k of kept) {
    // The history is read first: between the room's restore and `onRoom` nothing may wait, or what
    // the relay replays at once would be read with nobody listening to show it.
    const past = await histories.load(k.room);
    const room = await c.restore(k.snapshot).catch(() => undefined);
    if (room === undefined) {
      void tab.remove(k.room);
      continue;
    }
    onRoom(room, past);
    back.push(past);
  }
  return back;
}
