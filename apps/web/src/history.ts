/**
 * What the browser keeps of a room so that a reload shows it as it was (issue 13): the room's name
 * and invite link, whether we created it, and its last lines (and those of its private chats),
 * sealed under this browser's non-extractable device key (IndexedDbKeyStore.records): nothing here
 * is readable without it, and nothing names the room. The room's MLS stay is kept by the SDK
 * (roomSession.ts); this is only what the user saw.
 *
 * Files keep their card (name, size, preview) but not their bytes: a received file lives in this
 * page's memory or the page's folder, both gone after a reload. A room's file offered to us keeps
 * its offer (IncomingFile.save: the file key, blob and hash, so only sealed), to be fetched after the
 * reload (RoomFiles.adopt), again if it was received before. The SDK's chat log of the room's kept
 * messages (Room.recall: who sent each, who reacted) seeds the restored room's log (Room.remember),
 * so that reactions, edits and deletes of them still count. Both only for the kept lines.
 */
import type { Reaction, RememberedMessage, SavedOffer, SealedRecords } from '@nullroom/client';
import type { FileView, Line } from './timeline.js';

/** Lines kept per conversation: the newest. */
export const KEPT_LINES = 200;

export interface SavedPrivate {
  /** The chat's id: its peer is told it ended (PrivateChats.forget). */
  id: string;
  peer: string;
  lines: Line[];
}

export interface RoomHistory {
  /** What the room was called on screen. */
  name: string;
  /** The name its members gave it (RoomName), if any: an unnamed invite room shows its label instead. */
  roomName?: string | undefined;
  invite: string | undefined;
  created: boolean;
  lines: Line[];
  privates: SavedPrivate[];
  /** The SDK log's view of the room's kept messages (Room.recall), for Room.remember after the reload. */
  chat?: RememberedMessage[];
}

/** A restored room whose history did not read back: it shows without its past. */
export const emptyPast = (created: boolean): RoomHistory => ({ name: '', invite: undefined, created, lines: [], privates: [] });

/**
 * One line as it is written: no live objects (transfers, blob URLs), nothing to re-send. A file
 * offered to us keeps its offer (`offers`: a room's lines) while it can still be fetched.
 */
function saved(l: Line, offers: boolean): Line | undefined {
  if (l.kind !== 'file') {
    const { retryId: _r, ...rest } = l as Line & { retryId?: string };
    return rest;
  }
  const f = l.file;
  // Kept from a reload before and not taken up since: its offer stays as it was.
  const offer = f.offer ?? (offers && f.state !== 'cancelled' ? f.incoming?.save() : undefined);
  const file: FileView = {
    name: f.name,
    size: f.size,
    mime: f.mime,
    direction: f.direction,
    state: 'unavailable',
    afterReload: true,
    ...(f.thumb === undefined ? {} : { thumb: f.thumb }),
    ...(f.thumbSize === undefined ? {} : { thumbSize: f.thumbSize }),
    ...(offers && offer !== undefined ? { offer } : {}),
    ...(offers && offer !== undefined && (f.state === 'done' || f.again === true) ? { again: true } : {}),
  };
  return { key: l.key, kind: 'file', from: l.from, ts: l.ts, self: l.self, seed: l.seed, file };
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
/** The newest lines as they are written (`offers`: with the offers of files to fetch after the reload). */
export const keptLines = (lines: readonly Line[], offers = false): Line[] =>
  lines.slice(-KEPT_LINES).flatMap((l) => saved(l, offers) ?? []);

/** What the log knows of the kept messages only (bounded by the kept lines). */
function keptChat(lines: readonly Line[], chat: readonly RememberedMessage[] | undefined): RememberedMessage[] {
  const ids = new Set(lines.flatMap((l) => (l.kind === 'message' && l.id !== undefined ? [l.id] : [])));
  return (chat ?? []).filter((m) => ids.has(m.id));
}

export function encodeHistory(h: RoomHistory): Uint8Array {
  const lines = keptLines(h.lines, true);
  return enc.encode(
    JSON.stringify({
      v: 1,
      name: h.name,
      ...(h.roomName === undefined ? {} : { roomName: h.roomName }),
      ...(h.invite === undefined ? {} : { invite: h.invite }),
      created: h.created,
      lines,
      chat: keptChat(lines, h.chat),
      privates: h.privates.map((p) => ({ id: p.id, peer: p.peer, lines: keptLines(p.lines) })),
    }),
  );
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isParams = (v: unknown) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => isStr(x) || isNum(x));
const DELIVERY = new Set(['pending', 'sent', 'failed']);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reactions as a line showed them (the SDK's log, once seeded, says them again: RoomSession.takeUp). */
function reactionsOf(v: unknown): Reaction[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out = v.flatMap((r: unknown) =>
    isObj(r) && isStr(r['emoji']) && isNum(r['count']) && Array.isArray(r['from']) && r['from'].every(isStr)
      ? [{ emoji: r['emoji'], count: r['count'], from: r['from'] as string[], mine: r['mine'] === true }]
      : [],
  );
  return out.length === 0 ? undefined : out;
}

/** The size of a preview (its shape before it decodes). */
const sizeOf = (v: unknown) => (isObj(v) && isNum(v['w']) && isNum(v['h']) ? { w: v['w'], h: v['h'] } : undefined);

/** A line read back, strictly (the record is ours and sealed, but a format change must not break the page). */
function lineOf(v: unknown): Line | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const l = v as Record<string, unknown>;
  if (!isNum(l['key']) || !isNum(l['ts'])) return undefined;
  const seed = isStr(l['seed']) ? l['seed'] : undefined;
  switch (l['kind']) {
    case 'message':
      if (!isStr(l['from']) || !isStr(l['text']) || typeof l['self'] !== 'boolean') return undefined;
      return {
        key: l['key'],
        kind: 'message',
        from: l['from'],
        text: l['text'],
        ts: l['ts'],
        self: l['self'],
        seed,
        ...(isStr(l['id']) ? { id: l['id'] } : {}),
        ...(isStr(l['replyTo']) ? { replyTo: l['replyTo'] } : {}),
        ...(l['edited'] === true ? { edited: true } : {}),
        ...(l['deleted'] === true ? { deleted: true } : {}),
        ...(DELIVERY.has(l['delivery'] as string) ? { delivery: l['delivery'] as 'pending' | 'sent' | 'failed' } : {}),
        ...(l['deleted'] !== true && reactionsOf(l['reactions']) !== undefined ? { reactions: reactionsOf(l['reactions'])! } : {}),
      };
    case 'file': {
      const f = l['file'] as Record<string, unknown> | undefined;
      if (!isStr(l['from']) || typeof l['self'] !== 'boolean' || typeof f !== 'object' || f === null) return undefined;
      if (!isStr(f['name']) || !isNum(f['size']) || !isStr(f['mime'])) return undefined;
      const thumb = isStr(f['thumb']) && f['thumb'].startsWith('data:image/') ? f['thumb'] : undefined;
      const thumbSize = sizeOf(f['thumbSize']);
      // The offer is read strictly by the SDK when it is taken up (RoomFiles.adopt).
      const offer = isObj(f['offer']) ? (f['offer'] as unknown as SavedOffer) : undefined;
      const file: FileView = {
        name: f['name'],
        size: f['size'],
        mime: f['mime'],
        direction: f['direction'] === 'send' ? 'send' : 'receive',
        state: 'unavailable',
        afterReload: true,
        ...(thumb === undefined ? {} : { thumb }),
        ...(thumbSize === undefined ? {} : { thumbSize }),
        ...(offer === undefined ? {} : { offer }),
        ...(offer !== undefined && f['again'] === true ? { again: true } : {}),
      };
      return { key: l['key'], kind: 'file', from: l['from'], ts: l['ts'], self: l['self'], seed, file };
    }
    case 'notice':
    case 'warning':
    case 'error':
      if (!isStr(l['i18n']) || !isParams(l['params'])) return undefined;
      return { key: l['key'], kind: l['kind'], i18n: l['i18n'], params: l['params'] as Record<string, string | number>, ts: l['ts'] };
    default:
      return undefined;
  }
}

/** A private chat does not survive a reload (it is kept closed): its files are not fetched again. */
const withoutOffer = (l: Line): Line => {
  if (l.kind !== 'file' || l.file.offer === undefined) return l;
  const { offer: _o, again: _a, ...file } = l.file;
  return { ...l, file };
};

const linesOf = (v: unknown): Line[] => (Array.isArray(v) ? v.slice(-KEPT_LINES).flatMap((x) => lineOf(x) ?? []) : []);

/** Reads what `encodeHistory` wrote; undefined for anything else (the room then shows without its past). */
export function decodeHistory(bytes: Uint8Array): RoomHistory | undefined {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(dec.decode(bytes)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof j !== 'object' || j === null || j['v'] !== 1 || !isStr(j['name']) || typeof j['created'] !== 'boolean') return undefined;
  const privates = Array.isArray(j['privates'])
    ? (j['privates'] as unknown[]).flatMap((p) => {
        const r = p as Record<string, unknown> | null;
        return r !== null && typeof r === 'object' && isStr(r['id']) && isStr(r['peer'])
          ? [{ id: r['id'], peer: r['peer'], lines: linesOf(r['lines']) }]
          : [];
      })
    : [];
  return {
    name: j['name'],
    roomName: isStr(j['roomName']) ? j['roomName'] : undefined,
    invite: isStr(j['invite']) ? j['invite'] : undefined,
    created: j['created'],
    lines: linesOf(j['lines']),
    privates: privates.map((p) => ({ ...p, lines: p.lines.map(withoutOffer) })),
    // Read strictly by the SDK when the room's log is seeded (Room.remember).
    chat: Array.isArray(j['chat'])
      ? (j['chat'] as unknown[])
          .filter(isObj)
          .slice(-KEPT_LINES)
          .map((m) => m as unknown as RememberedMessage)
      : [],
  };
}

/**
 * A room's history in the sealed store, by the room's locator (hex). Writes go one at a time, the
 * latest winning; `flush` waits for the last one (the SDK's session is written after it, so the
 * history never lags behind what the room has read: see reload.ts).
 */
export class HistoryStore {
  private readonly last = new Map<string, Promise<void>>();
  constructor(private readonly records: SealedRecords) {}

  async load(room: string): Promise<RoomHistory | undefined> {
    const bytes = await this.records.get(room).catch(() => undefined);
    return bytes === undefined ? undefined : decodeHistory(bytes);
  }

  save(room: string, h: RoomHistory): Promise<void> {
    const bytes = encodeHistory(h);
    const next = (this.last.get(room) ?? Promise.resolve()).then(() => this.records.put(room, bytes)).catch(() => undefined);
    this.last.set(room, next);
    return next;
  }

  remove(room: string): Promise<void> {
    const next = (this.last.get(room) ?? Promise.resolve()).then(() => this.records.remove(room)).catch(() => undefined);
    this.last.set(room, next);
    return next;
  }
}
