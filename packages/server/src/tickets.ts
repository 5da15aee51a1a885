/**
 * Blob upload tickets (docs/PROTOCOL.md §9.1). Writing to the blob store needs a ticket, and the
 * relay hands tickets only to a connection that is inside a room (the TICKET frame): an outsider,
 * who is in no room, cannot fill the store, and what an insider stores is counted against its
 * ticket and its room (BlobOptions' quotas).
 *
 * A ticket names one *stay* of one connection in one room, never a file: the relay learns no more
 * than it already knows (this connection, in this room, uploads this much). It is valid exactly as
 * long as that stay lasts: LEAVE, a disconnect, or a later JOIN of the same room (a new stay) all
 * end it, without any bookkeeping of ours, because validity is checked against the connection's
 * current membership each time a ticket is used. A client that reconnects asks again, and resumes
 * its uploads with the new ticket (the write token, not the ticket, binds a blob to its uploader).
 */
import { randomBytes } from 'node:crypto';
import { TICKET_BYTES } from '@nullroom/protocol';
import type { Peer } from './rooms.js';

/** The request header that carries a ticket, as unpadded base64url (RFC 4648 §5). */
export const BLOB_TICKET_HEADER = 'x-nullroom-blob-ticket';
const TICKET = /^[A-Za-z0-9_-]{43}$/;

/** One stay's ticket and what was done with it (the per-ticket quotas and upload share). */
export interface Ticket {
  /** The locator key of the room: the blobs it creates count against that room. */
  readonly room: string;
  /** Blobs created with this ticket. */
  blobs: number;
  /** Body bytes accepted with this ticket (declared lengths; re-sends count again). */
  bytes: number;
  /** Declared lengths of its bodies being read into memory now. */
  buffering: number;
}

interface Entry extends Ticket {
  readonly value: string;
  readonly peer: Peer;
  /** The membership object of the stay: a later stay in the same room is another object. */
  readonly stay: object;
}

export class Tickets {
  private readonly byValue = new Map<string, Entry>();
  private readonly byPeer = new Map<Peer, Map<object, Entry>>();

  /** @param stayOf the peer's current stay in a room (RoomService.stayOf): a ticket lives as long as its stay. */
  constructor(private readonly stayOf: (peer: Peer, room: string) => object | undefined = (p, r) => p.memberships.get(r)) {}

  /**
   * The ticket of `peer`'s current stay `stay` in room `room` (the same one each time it asks during
   * that stay, so asking again neither resets its quotas nor breaks its uploads in flight).
   */
  issue(peer: Peer, stay: object, room: string): Uint8Array {
    let mine = this.byPeer.get(peer);
    if (mine === undefined) this.byPeer.set(peer, (mine = new Map()));
    // Forget the peer's ended stays: at most one ticket per room it is in now is kept.
    for (const [s, e] of mine) {
      if (!this.live(e)) {
        mine.delete(s);
        this.byValue.delete(e.value);
      }
    }
    let e = mine.get(stay);
    if (e === undefined) {
      const raw = randomBytes(TICKET_BYTES);
      e = { value: raw.toString('base64url'), peer, stay, room, blobs: 0, bytes: 0, buffering: 0 };
      mine.set(stay, e);
      this.byValue.set(e.value, e);
    }
    return new Uint8Array(Buffer.from(e.value, 'base64url'));
  }

  /** The ticket a request header names, if it is well-formed, was issued, and its stay goes on. */
  check(header: string | string[] | undefined): Ticket | undefined {
    if (typeof header !== 'string' || !TICKET.test(header)) return undefined;
    // (A Map lookup on a 256-bit random value: timing reveals nothing that would help guess one.)
    const e = this.byValue.get(header);
    if (e === undefined) return undefined;
    if (!this.live(e)) {
      this.byValue.delete(e.value);
      this.byPeer.get(e.peer)?.delete(e.stay);
      return undefined;
    }
    return e;
  }

  /** The connection closed: its tickets end (they would fail `check` anyway; this frees them). */
  dropPeer(peer: Peer): void {
    const mine = this.byPeer.get(peer);
    if (mine === undefined) return;
    this.byPeer.delete(peer);
    for (const e of mine.values()) this.byValue.delete(e.value);
  }

  get size(): number {
    return this.byValue.size;
  }

  private live(e: Entry): boolean {
    return this.stayOf(e.peer, e.room) === e.stay;
  }
}
