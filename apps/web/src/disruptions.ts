/**
 * What the room tells the user when someone sends it something it cannot use (docs/PROTOCOL.md
 * §4.3 "Void commits and repairs"): the room ignores it, repairs itself and emits `disruption`
 * naming the culprit; this turns that into one calm line in the room's timeline. A culprit that
 * keeps at it gets the same line with a growing count, not a line per event, so an attacker
 * cannot flood the timeline (nor the screen reader) by repeating itself.
 */
import type { DisruptionReason, Room } from '@nullroom/client';
import type { Line } from './timeline.js';

/**
 * A culprit's line is updated instead of repeated while its disruptions come less than this far
 * apart (measured from the line's last update); after a quiet minute a new one starts.
 */
export const COALESCE_MS = 60_000;

/**
 * Error codes that a `disruption` event (or, while joining, the repair wait) explains: the room
 * ignores what caused them and repairs itself. The timeline says so calmly instead of showing them.
 */
export const REPAIRED_CODES: ReadonlySet<string> = new Set(['BAD_COMMIT', 'FORBIDDEN_PROPOSAL', 'BROKEN_ROOM_RULE', 'BAD_GROUP_INFO']);

const KEYS: ReadonlySet<string> = new Set([
  'chat.disruption',
  'chat.disruptionRepeated',
  'chat.disruptionStranger',
  'chat.disruptionStrangerRepeated',
]);

/** Lines this module writes (ChatView marks them). */
export const isDisruptionLine = (l: Line): boolean => l.kind === 'notice' && (KEYS.has(l.i18n) || l.i18n === 'join.repairing');

export interface Disruption {
  slot: number;
  /** Only when the culprit is a member (the SDK authenticated its leaf). */
  nick?: string;
  /** The culprit's disruptions since the room was joined (per identity key; per slot for a non-member). */
  count: number;
  reason: DisruptionReason;
}

/**
 * `lines` with disruption `e` shown: the culprit's line from less than COALESCE_MS ago, updated
 * (same key, so it stays where it is), or else a new line at the end. Without a nick every
 * non-member is one culprit ("someone who is not a member"): a relay slot is not an identity, and
 * an attacker that reconnects gets a new one.
 */
export function withDisruption(lines: readonly Line[], e: Disruption, now: number, newKey: () => number): Line[] {
  const nick = e.nick;
  const stranger = nick === undefined;
  let at = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (l.kind === 'notice' && KEYS.has(l.i18n) && l.params['nick'] === nick && now - l.ts < COALESCE_MS) {
      at = i;
      break;
    }
  }
  const prev = at < 0 ? undefined : lines[at];
  // The SDK counts per identity key (per slot for a non-member) over the whole session; a line
  // never counts fewer than the events it stands for.
  const times = prev?.kind === 'notice' ? Math.max(e.count, Number(prev.params['times']) + 1) : e.count;
  const i18n = stranger
    ? times > 1
      ? 'chat.disruptionStrangerRepeated'
      : 'chat.disruptionStranger'
    : times > 1
      ? 'chat.disruptionRepeated'
      : 'chat.disruption';
  const params: Record<string, string | number> = stranger ? { times } : { nick, times };
  if (prev === undefined) return [...lines, { key: newKey(), kind: 'notice', i18n, params, ts: now }];
  const out = [...lines];
  out[at] = { key: prev.key, kind: 'notice', i18n, params, ts: now };
  return out;
}

/**
 * Shows the room's disruptions in `session`'s timeline, and a "waiting for the room to repair"
 * line when a rejoin (after a reconnect) meets group information it cannot use (once per rejoin).
 * Returns the unsubscribe functions.
 */
export function watchDisruptions(room: Room, session: { lines: Line[]; changed(): void }, newKey: () => number): (() => void)[] {
  let waiting = false;
  return [
    room.on('disruption', (e) => {
      session.lines = withDisruption(session.lines, e, Date.now(), newKey);
      session.changed();
    }),
    room.on('repair-wait', () => {
      if (waiting) return;
      waiting = true;
      session.lines = [...session.lines, { key: newKey(), kind: 'notice', i18n: 'join.repairing', params: {}, ts: Date.now() }];
      session.changed();
    }),
    room.on('joined', () => void (waiting = false)),
  ];
}
