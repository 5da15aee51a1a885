/**
 * A room's name (issue 13; docs/PROTOCOL.md §5.3). Rooms made from an invite link's random secret
 * have no name of their own: their members give them one, and it travels only inside the room's
 * MLS group, as `room-name` payloads, so the relay never learns it.
 *
 * - `rename(name)` tells every member (`room-name` without `to`); each shows who renamed it.
 * - When a member joins, the staying member with the lowest slot (the longest present) tells it
 *   the name it knows (`room-name` with `to` = the joiner's identity key). The joiner takes the
 *   first such answer, unless it heard a rename first (a rename sequenced after its join is newer
 *   than any answer composed before the answerer read it).
 *
 * The room's order is the relay's total order, so every member ends with the same name.
 */
import { ClientError } from './errors.js';
import { toHex } from './encoding.js';
import { Emitter } from './emitter.js';
import { type RoomNamePayload, roomNameSchema } from './payload.js';
import type { PayloadSender } from './payloadRouter.js';
import type { Room } from './room.js';

export { MAX_ROOM_NAME_CHARS } from './payload.js';

export interface RoomNameEvents extends Record<string, unknown> {
  /**
   * The room's name changed. `by`: the nickname of the member who renamed it (`self`: we did), or
   * who told it to us after we joined (`told`).
   */
  name: { name: string; by: string; self: boolean; told: boolean };
}

/** A room name as we send it: NFC, trimmed, then checked against §5.3 (ClientError BAD_ROOM_NAME otherwise). */
export function checkRoomName(name: string): string {
  const n = name.normalize('NFC').trim();
  if (!roomNameSchema.safeParse(n).success) {
    throw new ClientError('BAD_ROOM_NAME', 'a room name must be 1 to 64 characters, without control characters');
  }
  return n;
}

/** The name of one room, as its members set it. */
export class RoomName extends Emitter<RoomNameEvents> {
  #name: string | undefined;
  /** We renamed, or heard a rename or an answer since we joined: a later answer is older news. */
  #settled = false;
  readonly #offs: (() => void)[];

  /**
   * `name`: the name we know already (the creator's choice, or a password room's name as typed).
   * One that a `room-name` payload could not carry (a password room's name may be longer than 64
   * characters) is not taken: the room stays unnamed here, and the app keeps calling it as typed.
   */
  constructor(
    readonly room: Room,
    name?: string,
  ) {
    super();
    try {
      if (name !== undefined) this.#name = checkRoomName(name);
    } catch {
      this.#name = undefined;
    }
    this.#offs = [
      room.route('room-name', (p, s) => this.#heard(p, s)),
      room.on('member-joined', (e) => this.#answer(e.nick)),
      // Rejoined as a newcomer: the members tell us the name again (renames may have been missed).
      room.on('joined', () => (this.#settled = false)),
    ];
  }

  /** The name, or undefined while nobody has named the room (or told us its name). */
  get name(): string | undefined {
    return this.#name;
  }

  /** Renames the room for every member; returns the message's id. ClientError(BAD_ROOM_NAME), (NOT_JOINED) once the room is left. */
  rename(name: string): string {
    const n = checkRoomName(name);
    const id = this.room.sendPayload({ type: 'room-name', name: n });
    this.#settled = true;
    this.#set(n, this.room.nick, true, false);
    return id;
  }

  close(): void {
    this.#offs.forEach((off) => off());
  }

  #set(name: string, by: string, self: boolean, told: boolean): void {
    if (name === this.#name) return;
    this.#name = name;
    this.emit('name', { name, by, self, told });
  }

  #heard(p: RoomNamePayload, s: PayloadSender): void {
    if (p.to === undefined) {
      this.#settled = true;
      return this.#set(p.name, s.from, false, false);
    }
    if (p.to !== toHex(this.room.roomCrypto.identity.publicKey) || this.#settled) return;
    this.#settled = true;
    this.#set(p.name, s.from, false, true);
  }

  /** A member joined: if we know the name and hold the lowest slot among the others, we tell it. */
  #answer(nick: string): void {
    const name = this.#name;
    const members = this.room.members();
    const joiner = members.find((m) => !m.self && m.nick === nick);
    if (name === undefined || joiner === undefined) return;
    const to = toHex(joiner.identityKey);
    const staying = members.filter((m) => toHex(m.identityKey) !== to);
    const first = staying.reduce<(typeof staying)[number] | undefined>((a, m) => (a === undefined || m.slot < a.slot ? m : a), undefined);
    if (first?.self === true && this.room.state === 'joined') this.room.sendPayload({ type: 'room-name', name, to });
  }
}
