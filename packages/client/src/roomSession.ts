/**
 * A room's stay written down, so that it can be taken up again after the process or the page
 * restarts (a browser reload): docs/PROTOCOL.md §4.5 "Client". The snapshot holds the room secret
 * and the epoch's every MLS secret: a `SessionStore` keeps it sealed at rest (the browser's under a
 * non-extractable device key in IndexedDB) and never sends it anywhere.
 *
 * When a room writes one (roomBase.ts): soon after anything changed (debounced), and, before any
 * application message leaves, with the state that encrypted it, so that a restored state never
 * encrypts again under a key and nonce it already used. A commit of ours in flight is not written
 * (the state before it is): a commit is a signed PublicMessage and uses no message key; if the
 * relay accepted it, the restored member cannot follow its own commit and joins again. The room's
 * open private chats are written with it (`privateChats`), under the same rule: each chat's state
 * is the one after its last transition, written before any private message it encrypted leaves.
 */
import { Suites, type SuiteName } from '@nullroom/crypto';
import { ClientError } from './errors.js';
import { fromBase64, toBase64 } from './encoding.js';
import { type Payload, parsePayload, encodePayload } from './payload.js';
import type { AppBody } from './outbox.js';

/** Where a client keeps its rooms' snapshots (sealed by the store); keyed by the room locator in hex. */
export interface SessionStore {
  /** Replaces the room's snapshot; durable when it resolves. */
  save(room: string, snapshot: Uint8Array): Promise<void>;
  remove(room: string): Promise<void>;
  /** Every snapshot kept (to `restore` after a restart). */
  load(): Promise<Uint8Array[]>;
}

/**
 * A message not yet acknowledged (a room payload, or a hidden private message: the chat's sealed
 * message, wrapped again for the room's epoch when re-sent), and the ciphertext last sent for it
 * (in flight when written).
 */
export interface SavedMessage {
  readonly body: AppBody;
  readonly data: Uint8Array | undefined;
}

/**
 * One open private chat of the room (privateChats.ts), written with the room's stay: its MLS group
 * state as it was after its last transition (written before each private message leaves, in either
 * routing), its peer, and its message counters. Pending openings are not written.
 */
export interface SavedPrivateChat {
  /** The chat's MLS group id (hex). */
  readonly id: string;
  /** The peer's identity key in the room (hex). */
  readonly peer: string;
  /** The peer's nickname and slot when we last heard from it. */
  readonly nick: string;
  readonly slot: number;
  /** `PrivateGroup.exportState`. */
  readonly mls: Uint8Array;
  /** Our last message counter, and the peer's last one we read (none yet: undefined). */
  readonly counter: number;
  readonly lastN: number | undefined;
  /** Our hidden messages not yet acknowledged: [id of the room message carrying it (in the room's outbox), the private message's id]. */
  readonly pending?: readonly (readonly [string, string])[] | undefined;
}

/** A part of the room's saved session kept by someone else (the room's PrivateChats). */
export interface SessionPart {
  /** What it holds now: written with each snapshot. */
  saved(): readonly SavedPrivateChat[];
  /** Settles once it has read everything the room handed it (a snapshot's `lastSeq` covers nothing it has not read). */
  settled(): Promise<void>;
}

/** What a room writes of its stay (the client adds the room secret). */
export interface StaySnapshot {
  readonly suite: SuiteName;
  readonly requestedNick: string;
  readonly nick: string;
  readonly created: boolean;
  readonly slot: number;
  readonly token: Uint8Array;
  readonly lastSeq: number;
  readonly commits: number;
  readonly mls: Uint8Array;
  readonly counter: number;
  readonly outbox: readonly SavedMessage[];
  /** The last message counter read per sender (signature key, hex). */
  readonly lastN: readonly (readonly [string, number])[];
  /** The room's open private chats (absent in snapshots written before they were kept: none). */
  readonly privateChats?: readonly SavedPrivateChat[];
}

export interface RoomSnapshot extends StaySnapshot {
  readonly secret: Uint8Array;
  readonly savedAt: number;
}

const b64 = (b: Uint8Array) => toBase64(b);

export function encodeSnapshot(s: RoomSnapshot): Uint8Array {
  const json = {
    v: 1,
    secret: b64(s.secret),
    suite: s.suite,
    requestedNick: s.requestedNick,
    nick: s.nick,
    created: s.created,
    slot: s.slot,
    token: b64(s.token),
    lastSeq: s.lastSeq,
    commits: s.commits,
    mls: b64(s.mls),
    counter: s.counter,
    outbox: s.outbox.map((m) => ({
      ...('inner' in m.body ? { h: b64(m.body.inner), i: m.body.id } : { p: b64(encodePayload(m.body)) }),
      ...(m.data === undefined ? {} : { d: b64(m.data) }),
    })),
    lastN: s.lastN,
    privateChats: (s.privateChats ?? []).map((c) => ({
      id: c.id,
      peer: c.peer,
      nick: c.nick,
      slot: c.slot,
      mls: b64(c.mls),
      counter: c.counter,
      ...(c.lastN === undefined ? {} : { lastN: c.lastN }),
      ...(c.pending === undefined || c.pending.length === 0 ? {} : { pending: c.pending }),
    })),
    savedAt: s.savedAt,
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

const bad = () => new ClientError('SESSION_INVALID', 'a saved session does not parse: it is not used');
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const str = (v: unknown): string => {
  if (typeof v !== 'string') throw bad();
  return v;
};
const bytes = (v: unknown, len?: number): Uint8Array => {
  let out: Uint8Array;
  try {
    out = fromBase64(str(v));
  } catch {
    throw bad();
  }
  if (len !== undefined && out.byteLength !== len) throw bad();
  return out;
};
const int = (v: unknown): number => {
  if (!isInt(v)) throw bad();
  return v;
};

/**
 * A message never sent yet carries the counter 0 (the outbox gives it one when it first encrypts
 * it: outbox.ts), which no payload on the wire may: it is checked as the counter it will get.
 */
function unsentPayload(raw: Uint8Array): Payload | undefined {
  let j: unknown;
  try {
    j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    return undefined;
  }
  if (j === null || typeof j !== 'object' || (j as { n?: unknown }).n !== 0) return parsePayload(raw);
  const p = parsePayload(new TextEncoder().encode(JSON.stringify({ ...j, n: 1 })));
  return p === undefined ? undefined : { ...p, n: 0 };
}

const hex = (v: unknown, len?: number): string => {
  const h = str(v);
  if (!/^(?:[0-9a-f]{2})+$/.test(h) || (len !== undefined && h.length !== len * 2)) throw bad();
  return h;
};

const pairs = (v: unknown): [string, string][] => {
  if (!Array.isArray(v)) throw bad();
  return v.map((e): [string, string] => {
    if (!Array.isArray(e) || e.length !== 2) throw bad();
    return [hex(e[0], 16), hex(e[1], 16)];
  });
};

/** The `privateChats` of a snapshot: none when absent (a snapshot written before they were kept). */
function privateChatsOf(v: unknown): SavedPrivateChat[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad();
  return v.map((c): SavedPrivateChat => {
    if (c === null || typeof c !== 'object') throw bad();
    const r = c as Record<string, unknown>;
    return {
      id: hex(r['id'], 16),
      peer: hex(r['peer']),
      nick: str(r['nick']),
      slot: int(r['slot']),
      mls: bytes(r['mls']),
      counter: int(r['counter']),
      lastN: r['lastN'] === undefined ? undefined : int(r['lastN']),
      pending: r['pending'] === undefined ? undefined : pairs(r['pending']),
    };
  });
}

/** Parses a snapshot `encodeSnapshot` wrote; ClientError(SESSION_INVALID) for anything else. */
export function decodeSnapshot(raw: Uint8Array): RoomSnapshot {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw)) as Record<string, unknown>;
  } catch {
    throw bad();
  }
  if (j === null || typeof j !== 'object' || j['v'] !== 1) throw bad();
  const suite = j['suite'];
  if (!Object.values(Suites).includes(suite as SuiteName)) throw bad();
  if (typeof j['created'] !== 'boolean' || !Array.isArray(j['outbox']) || !Array.isArray(j['lastN'])) throw bad();
  const outbox = (j['outbox'] as unknown[]).map((m): SavedMessage => {
    const r = m as Record<string, unknown>;
    const data = r['d'] === undefined ? undefined : bytes(r['d']);
    if (r['h'] !== undefined) return { body: { id: hex(r['i'], 16), inner: bytes(r['h']) }, data };
    const payload = data === undefined ? unsentPayload(bytes(r['p'])) : parsePayload(bytes(r['p']));
    if (payload === undefined) throw bad();
    return { body: payload, data };
  });
  const lastN = (j['lastN'] as unknown[]).map((e): [string, number] => {
    if (!Array.isArray(e) || e.length !== 2) throw bad();
    return [str(e[0]), int(e[1])];
  });
  return {
    secret: bytes(j['secret'], 32),
    suite: suite as SuiteName,
    requestedNick: str(j['requestedNick']),
    nick: str(j['nick']),
    created: j['created'],
    slot: int(j['slot']),
    token: bytes(j['token'], 32),
    lastSeq: int(j['lastSeq']),
    commits: int(j['commits']),
    mls: bytes(j['mls']),
    counter: int(j['counter']),
    outbox,
    lastN,
    privateChats: privateChatsOf(j['privateChats']),
    savedAt: int(j['savedAt']),
  };
}
