/**
 * `nullroom chat` takes its place in a room up again after a crash or a kill (issue 13): the SDK
 * writes the room's stay to the key folder (FileSessions, `<key dir>/sessions`, sealed), and the
 * next start with the same room and nickname restores it instead of joining as a new member: same
 * nickname, slot and MLS membership, and what was sent meanwhile arrives (the relay's grace period,
 * docs/PROTOCOL.md §4.5). One process per room's session: a second `nullroom chat` in the same
 * room with the same key folder finds the room's lock taken and joins as a separate member, as a
 * second browser tab does. Leaving (/quit, end of input, Ctrl-C) removes the session; a crash or a
 * kill keeps it. `--no-key-store` writes nothing, `--fresh` ignores the saved session.
 */
import { NullroomClient, type RoomSecret, normalizeNick } from '@nullroom/client';
import { type FileKeyStore, FileSessions } from '@nullroom/client/node';
import type { ChatOptions } from './chatOptions.js';
import type { ChatEvent } from './output.js';

type Print = (e: ChatEvent) => void;
/** Prints a failure as an `error` event (output.ts errorEvent). */
type Report = (e: unknown) => void;

/**
 * We are in the room. `room`: what it is called here (its name, a password room's as typed, or an
 * invite room's label); `rejoin`: again after a lost connection; `resumed`: a saved session taken
 * up, the same member as before the restart.
 */
export type JoinedEvent = {
  event: 'joined';
  created: boolean;
  nick: string;
  members: string[];
  suite: 'default' | 'pq';
  room: string;
  rejoin?: boolean;
  resumed?: true;
};
/** A saved session not taken up (why: freshJoinLine): we join as a new member. */
export type FreshJoinEvent = { event: 'fresh-join'; reason: 'in-use' | 'unreadable' | 'refused' | 'other-nick' };

/** The room's saved session, if this process holds it. */
export interface SavedRoom {
  readonly sessions: FileSessions;
  /** The room's locator (hex): the name the sessions store uses. */
  readonly room: string;
  /** The session to restore, if there is one to take up. */
  snapshot: Uint8Array | undefined;
}

/**
 * Claims the room's saved session for this process. Undefined (and nothing is written this run)
 * without a key store, when the sessions folder cannot be used, or when another process is in the
 * room with it (said in one line).
 */
export async function claimSession(
  store: FileKeyStore | undefined,
  secret: RoomSecret,
  o: ChatOptions,
  print: Print,
  report: Report,
): Promise<SavedRoom | undefined> {
  if (store === undefined) return undefined;
  let sessions: FileSessions;
  let room: string;
  try {
    sessions = await FileSessions.open(store.dir);
    room = await FileSessions.roomOf(secret);
    if (!(await sessions.claim(room))) {
      print({ event: 'fresh-join', reason: 'in-use' });
      return undefined;
    }
  } catch (e) {
    report(e);
    return undefined;
  }
  const saved: SavedRoom = { sessions, room, snapshot: undefined };
  if (o.fresh === true) {
    await sessions.remove(room).catch((e: unknown) => report(e));
    return saved;
  }
  try {
    saved.snapshot = await sessions.get(room);
  } catch {
    print({ event: 'fresh-join', reason: 'unreadable' });
    return saved;
  }
  if (saved.snapshot === undefined) return saved;
  const forRoom = await NullroomClient.snapshotRoom(saved.snapshot).catch(() => undefined);
  const nick = savedNick(saved.snapshot);
  if (forRoom !== room || nick === undefined) {
    await drop(saved, print, report, 'unreadable');
  } else if (nick !== normalizeNick(o.nick)) {
    // Another nickname asked for: a new member under it (the old one leaves when its grace period ends).
    await drop(saved, print, report, 'other-nick');
  }
  return saved;
}

/** Forgets the saved session (it cannot be used): the room is joined as a new member, and said so. */
export async function drop(saved: SavedRoom, print: Print, report: Report, reason: 'unreadable' | 'refused' | 'other-nick'): Promise<void> {
  saved.snapshot = undefined;
  print({ event: 'fresh-join', reason });
  await saved.sessions.remove(saved.room).catch((e: unknown) => report(e));
}

/** The nickname the saved stay asked for (normalized), without taking the session up. */
function savedNick(snapshot: Uint8Array): string | undefined {
  try {
    const j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(snapshot)) as { requestedNick?: unknown };
    return typeof j.requestedNick === 'string' ? normalizeNick(j.requestedNick) : undefined;
  } catch {
    return undefined;
  }
}

/** The line said when a saved session is not taken up (`fresh-join` events). */
export function freshJoinLine(reason: string): string {
  switch (reason) {
    case 'in-use':
      return '* another nullroom on this device is in this room with your saved session: joining as a separate member';
    case 'unreadable':
      return '* your saved session in this room could not be read (it was removed): joining as a new member';
    case 'other-nick':
      return '* you asked for another nickname than your saved session in this room: joining as a new member';
    default:
      return '* your saved session could not be resumed (away too long, or the room moved on): joined as a new member; messages sent meanwhile may be missing';
  }
}
