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
 * relay accepted it, the restored member cannot follow its own commit and joins again.
 */
import { Suites, type SuiteName } from '@nullroom/crypto';
import { ClientError } from './errors.js';
import { fromBase64, toBase64 } from './encoding.js';
import { type Payload, parsePayload, encodePayload } from './payload.js';

/** Where a client keeps its rooms' snapshots (sealed by the store); keyed by the room locator in hex. */
export interface SessionStore {
  /** Replaces the room's snapshot; durable when it resolves. */
  save(room: string, snapshot: Uint8Array): Promise<void>;
  remove(room: string): Promise<void>;
  /** Every snapshot kept (to `restore` after a restart). */
  load(): Promise<Uint8Array[]>;
}

/** A message not yet acknowledged, and the ciphertext last sent for it (in flight when written). */
export interface SavedMessage {
  readonly payload: Payload;
  readonly data: Uint8Array | undefined;
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
      p: b64(encodePayload(m.payload)),
      ...(m.data === undefined ? {} : { d: b64(m.data) }),
    })),
    lastN: s.lastN,
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
    const payload = parsePayload(bytes(r['p']));
    if (payload === undefined) throw bad();
    return { payload, data: r['d'] === undefined ? undefined : bytes(r['d']) };
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
    savedAt: int(j['savedAt']),
  };
}
