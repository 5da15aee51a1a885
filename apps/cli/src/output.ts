/**
 * How the terminal client reports events: one JSON object per line (`--json`), or a readable line.
 * In interactive mode a line is printed above the input prompt without disturbing what is typed,
 * and our own messages show their delivery state (`Printer`). docs/PROTOCOL.md §7 lists the events.
 * Size: over 400 lines because every event the terminal prints is here, its JSON shape beside its
 * line and the Printer that places it: split, the union and its lines would drift apart.
 */
import type { Interface } from 'node:readline';
import { clearLine, cursorTo, moveCursor } from 'node:readline';
import { ClientError, formatBytes } from '@nullroom/client';
import type { CliErrorCode } from './errors.js';
import { type FreshJoinEvent, type JoinedEvent, freshJoinLine } from './session.js';

export type ChatEvent =
  | JoinedEvent
  | FreshJoinEvent
  /** The room's name changed: `by` renamed it (`self`: we did), or told it to us after we joined (`told`). */
  | { event: 'room-name'; name: string; by: string; self: boolean; told: boolean }
  | { event: 'member-joined'; nick: string }
  | { event: 'member-left'; nick: string }
  /** `ref`: the number `/reply`, `/react`, `/edit`, `/delete` take (room messages); `re`: what it answers. */
  | {
      event: 'message';
      from: string;
      text: string;
      ts: number;
      outOfOrder?: boolean;
      private?: true;
      with?: string;
      id?: string;
      ref?: number;
      re?: QuoteRef;
    }
  /** The reactions on a message now (all of them; none left: an empty list). */
  | ({ event: 'reaction'; id: string; ref?: number; reactions: { emoji: string; count: number; from: string[] }[] } & InChat)
  | ({ event: 'edited'; id: string; ref?: number; from: string; text: string; self: boolean } & InChat)
  | ({ event: 'deleted'; id: string; ref?: number; from: string; self: boolean } & InChat)
  | ({ event: 'typing'; from: string; on: boolean } & InChat)
  | { event: 'private-opened'; with: string; byUs: boolean }
  | { event: 'private-closed'; with: string; byUs: boolean }
  /** The chat's peer left the room: it refuses to send (PEER_LEFT) until the peer is back. */
  | { event: 'private-peer-left'; with: string }
  | { event: 'private-peer-back'; with: string }
  /** `you`: our own nickname; `verified`: the members we marked verified (their key unchanged since). */
  | { event: 'members'; members: string[]; you: string; verified: string[] }
  /** `/help` under --json: the command table. */
  | { event: 'help'; commands: { name: string; usage: string; summary: string }[] }
  /** Where a line without a command goes: the room, or (after `/dm NICK`) one member's private chat. */
  | { event: 'mode'; mode: 'room' | 'dm'; with?: string }
  | { event: 'verify'; nick: string; safetyNumber: string; verified: boolean; epoch?: number; fingerprint?: string }
  | { event: 'fingerprint'; epoch: number; fingerprint: string }
  | { event: 'fork-suspected'; epoch: number; fingerprint: string; unreadable: number }
  | { event: 'key-changed'; nick: string; wasVerified: boolean }
  | { event: 'disruption'; slot: number; nick?: string; formerNick?: string; count: number; reason: string }
  | { event: 'repair-wait'; since: number }
  /** `retrying` (at start, the relay did not answer): `attempt` of `of` retries follows. */
  | { event: 'connection'; state: string; message?: string; attempt?: number; of?: number }
  | { event: 'file'; from: string; name: string; size: number; sha256: string; path: string; private?: true; with?: string }
  | { event: 'file-sent'; name: string; size: number; sha256: string }
  | {
      event: 'progress';
      direction: 'send' | 'receive';
      name: string;
      bytes: number;
      total: number;
      bytesPerSecond: number;
      etaMs: number | undefined;
      /** Nothing moves: what the transfer waits for (TransferProgress.waiting). */
      waiting?: 'sender' | 'relay';
    }
  /** An offered file that can no longer arrive (FILE_UNAVAILABLE): its sender left before sending it completely, or the relay lost it. */
  | { event: 'file-unavailable'; from: string; name: string; private?: true; with?: string }
  | { event: 'left' }
  | PendingEvent
  | { event: 'sent'; id: string; ts: number; private?: true; with?: string }
  /** `code`: for a private message its chat reported unsent, the SDK's code (PEER_UNAVAILABLE...). */
  | { event: 'unsent'; id: string; ts: number; private?: true; with?: string; code?: string }
  /** `code`: one of the CLI's (errors.ts) or, passed through, the SDK's. */
  | { event: 'error'; code: string; message: string };

/**
 * A message of ours the room queued (`id` as Room.send returned it), or a private chat with `with`
 * (PrivateChat.send): `sent` once the relay acknowledged it, `unsent` if the room was left or lost
 * first, or the chat could not send it (delivery.ts).
 */
export type PendingEvent = {
  event: 'pending';
  id: string;
  from: string;
  text: string;
  ts: number;
  private?: true;
  with?: string;
  ref?: number;
  re?: QuoteRef;
};

/** In a private chat (`with` its peer), rather than the room. */
type InChat = { private?: true; with?: string };

/**
 * The message a reply answers: its id, number, and its sender and text when we have it (`deleted`
 * once its sender deleted it; neither when we never saw it: "original not available").
 */
export type QuoteRef = { id: string; ref?: number; from?: string; text?: string; deleted?: true };

/** An error event with one of the CLI's own codes (errors.ts). */
export const cliError = (code: CliErrorCode, message: string): ChatEvent => ({ event: 'error', code, message });

/**
 * An error event for a failure: an SDK error keeps its code and message (they are stable and safe,
 * docs/PROTOCOL.md §6.3); anything else is INTERNAL, named by its kind only (its message could hold
 * anything).
 */
export function errorEvent(e: unknown): ChatEvent {
  if (e instanceof ClientError) return { event: 'error', code: e.code, message: e.message };
  return cliError('INTERNAL', `unexpected failure (${e instanceof Error ? e.name : typeof e})`);
}

const time = (ts: number) => new Date(ts).toTimeString().slice(0, 5);
const seconds = (ts: number) => new Date(ts).toTimeString().slice(0, 8);
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
// In message text: not "\n", and not a ZWNJ or ZWJ with a visible non-ASCII character on each side.
const UNSAFE_IN_TEXT =
  /(?!\n)(?!(?<=[^\p{ASCII}\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}])[\u200c\u200d](?=[^\p{ASCII}\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]))[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
/**
 * What a peer wrote (nicknames, file names, message text), made safe to print: every code point of
 * general category Cc (C0 and C1 controls: ESC starts terminal escape sequences, CR rewrites the
 * line), Cf (bidi marks, embeddings, overrides and isolates, U+061C, zero-width characters, soft
 * hyphen, BOM, tag characters), Zl and Zp (U+2028, U+2029) and every lone surrogate becomes U+FFFD,
 * one for one, so nothing a peer sends can move the cursor, reorder what is shown or hide in it
 * (UAX #9 §2 for the bidi controls, UTR #36 §2 on invisible characters). The same classes as
 * `normalizeNick` refuses and `safeFileName` replaces.
 *
 * `safeText`, for message bodies only, differs in three ways: "\n" stays (`humanLine` indents the
 * next line, so a message cannot forge a line of its own), "\r\n" counts as "\n", and ZWNJ and ZWJ
 * stay where they join two visible non-ASCII characters (emoji sequences, Arabic and Indic scripts
 * need them); anywhere else, and always in names, they are replaced too.
 */
export function safe(s: string): string {
  return s.replace(UNSAFE, '\ufffd');
}
export function safeText(s: string): string {
  return s.replace(/\r\n/g, '\n').replace(UNSAFE_IN_TEXT, '\ufffd');
}

export function humanLine(e: ChatEvent): string {
  switch (e.event) {
    case 'joined':
      return joinedLine(e);
    case 'fresh-join':
      return freshJoinLine(e.reason);
    case 'member-joined':
      return `* ${safe(e.nick)} joined`;
    case 'member-left':
      return `* ${safe(e.nick)} left`;
    case 'pending':
      return ownLine(e, 'pending');
    case 'sent':
      return `* \u2713 your ${yours(e)} of ${seconds(e.ts)} reached the relay`;
    case 'unsent':
      return e.code === undefined
        ? `! your ${yours(e)} of ${seconds(e.ts)} was not sent: the relay did not acknowledge it before the room was left`
        : `! your ${yours(e)} of ${seconds(e.ts)} was not sent (${safe(e.code)})`;
    case 'message':
      return `[${time(e.ts)}] ${e.ref === undefined ? '' : `#${e.ref} `}${e.private ? `(private) ` : ''}<${safe(e.from)}> ${e.re === undefined ? '' : `${quoteText(e.re)} `}${safeText(e.text).replace(/\n/g, '\n    ')}${e.outOfOrder ? '  (out of order)' : ''}`;
    case 'reaction':
      return `*${inChat(e)} reactions on ${refText(e)}: ${e.reactions.length === 0 ? 'none' : e.reactions.map((r) => `${safeText(r.emoji)} ${r.count} (${r.from.map(safe).join(', ')})`).join('  ')}`;
    case 'edited':
      return `*${inChat(e)} ${e.self ? 'you' : safe(e.from)} edited ${refText(e)}: ${safeText(e.text).replace(/\n/g, '\n    ')}`;
    case 'deleted':
      return `*${inChat(e)} ${e.self ? 'you' : safe(e.from)} deleted ${refText(e)}`;
    case 'typing':
      return `*${inChat(e)} ${safe(e.from)} ${e.on ? 'is typing\u2026' : 'stopped typing'}`;
    case 'private-opened':
      return e.byUs
        ? `* private chat with ${safe(e.with)} open: /dm ${safe(e.with)} TEXT, or /dm ${safe(e.with)} to stay in it`
        : `* ${safe(e.with)} opened a private chat with you: /dm ${safe(e.with)} TEXT to answer, or /dm ${safe(e.with)} to stay in it`;
    case 'private-closed':
      return e.byUs ? `* you closed the private chat with ${safe(e.with)}` : `* ${safe(e.with)} closed the private chat`;
    case 'private-peer-left':
      return `* ${safe(e.with)} left the room: the private chat with ${safe(e.with)} is closed`;
    case 'private-peer-back':
      return `* ${safe(e.with)} is back in the room: the private chat with ${safe(e.with)} is open again`;
    case 'room-name':
      if (e.told) return `* this room is called “${safe(e.name)}” (told by ${safe(e.by)})`;
      return `* ${e.self ? 'you' : safe(e.by)} renamed the room to “${safe(e.name)}”`;
    case 'members':
      return membersLines(e);
    case 'help':
      return helpTable(e.commands).join('\n');
    case 'mode':
      return e.with === undefined
        ? '* back in the room: what you type goes to everyone'
        : `* private mode with ${safe(e.with)}: what you type goes to ${safe(e.with)} only; /room to go back`;
    case 'verify':
      return `* safety number with ${safe(e.nick)}${e.verified ? ' (verified)' : ` (not verified; /verified ${safe(e.nick)} once it matches theirs)`}:\n${safetyGrid(e.safetyNumber)}${
        e.epoch === undefined
          ? ''
          : `\n* room fingerprint: epoch ${e.epoch} · ${e.fingerprint} (${safe(e.nick)} must see the same digits at epoch ${e.epoch})`
      }`;
    case 'fingerprint':
      return `* room fingerprint: epoch ${e.epoch} · ${e.fingerprint} (every member at epoch ${e.epoch} must see these digits; other digits mean the relay split the room)`;
    case 'fork-suspected':
      return `! the relay may have split this room: ${e.unreadable} messages of epoch ${e.epoch} came sealed with keys of another history of it. Compare the room fingerprint (epoch ${e.epoch} · ${e.fingerprint}) with the others out of band (/fingerprint): other digits at the same epoch mean the relay shows you different rooms`;
    case 'key-changed':
      return `! ${safe(e.nick)} now uses another key (a new device, or someone else under that name${e.wasVerified ? '; you had verified the old one' : ''}): compare safety numbers again with /verify ${safe(e.nick)}`;
    case 'repair-wait':
      return `* waiting for the members to repair the room's group information (it cannot be joined through yet); retrying`;
    case 'disruption':
      return `! ${e.nick !== undefined ? safe(e.nick) : e.formerNick !== undefined ? `${safe(e.formerNick)} (a former member)` : `a connection (slot ${e.slot})`} disrupted the room (${e.reason}, ${e.count} time(s)); the room repaired itself${e.nick === undefined ? '' : ` and removed ${safe(e.nick)}`}. If it goes on, move to a new room secret or invite link`;
    case 'connection':
      if (e.state === 'retrying') return `* relay not reachable, retrying (${e.attempt}/${e.of})\u2026`;
      return `* connection ${e.state}${e.message ? `: ${safe(e.message)}` : ''}`;
    case 'file':
      return `* ${safe(e.from)} sent ${e.private ? 'you privately ' : ''}${safe(e.name)} (${formatBytes(e.size)}), verified, saved as ${safe(e.path)}`;
    case 'file-sent':
      return `* sent ${safe(e.name)} (${formatBytes(e.size)})`;
    case 'progress':
      return `* ${e.direction === 'send' ? 'sending' : 'receiving'} ${safe(e.name)}: ${formatBytes(e.bytes)} of ${formatBytes(e.total)}${
        e.waiting === 'sender'
          ? ', waiting for the sender'
          : e.waiting === 'relay'
            ? ', waiting for the relay'
            : `${e.bytesPerSecond > 0 ? `, ${formatBytes(Math.round(e.bytesPerSecond))}/s` : ''}${e.etaMs === undefined ? '' : `, ${Math.ceil(e.etaMs / 1000)} s left`}`
      }`;
    case 'file-unavailable':
      return `* ${safe(e.name)} from ${safe(e.from)}${e.private ? ' (private)' : ''} is no longer available: its sender left before sending it completely, or the relay no longer has it`;
    case 'left':
      return '* you left the room';
    case 'error':
      return `! ${safe(e.code)}: ${safe(e.message)}`;
  }
}

/** The room joined: a room we started is named as such (a wrong password also lands there); a rejoin is a reconnection. */
function joinedLine(e: Extract<ChatEvent, { event: 'joined' }>): string {
  const as = `“${safe(e.room)}” as ${safe(e.nick)}${e.suite === 'pq' ? ' (post-quantum suite)' : ''}`;
  const members =
    e.members.length <= 1 ? 'nobody else is here right now' : `${e.members.length} member(s): ${e.members.map(safe).join(', ')}`;
  if (e.rejoin) return `* reconnected ${as}; ${members}`;
  if (e.resumed) return `* resumed your session in ${as}; ${members}`;
  if (e.created)
    return `* joined ${as}. Nobody is here yet: you started this room.${e.room.startsWith('invite room ') ? '' : ' If you expected people here, check the room name and password.'}`;
  return `* you joined ${as}; ${members}`;
}

/** Display width of a name as the columns count it (one per code point: wide characters may push a column). */
const width = (s: string) => [...s].length;

/** `/members`: one member a row, the nickname column padded: "(you)", "✓ verified" or "not verified". */
function membersLines(e: Extract<ChatEvent, { event: 'members' }>): string {
  const names = e.members.map(safe);
  const w = Math.max(...names.map(width), 0) + 2;
  const rows = e.members.map((m, i) => {
    const status = m === e.you ? '(you)' : e.verified.includes(m) ? '\u2713 verified' : 'not verified';
    return `    ${names[i]!}${' '.repeat(w - width(names[i]!))}${status}`;
  });
  return [`* ${e.members.length} member(s):`, ...rows].join('\n');
}

/** `/help` as text: the usage column padded to the longest usage. */
export function helpTable(commands: readonly { usage: string; summary: string }[]): string[] {
  const w = Math.max(...commands.map((c) => c.usage.length)) + 2;
  return commands.map((c) => `  ${c.usage.padEnd(w)}${c.summary}`);
}

/**
 * A safety number (60 digits, 12 groups of five) as the grid both apps show: 3 rows of 4 groups,
 * indented. Anything else is shown on one row as it is.
 */
export function safetyGrid(sn: string): string {
  const groups = sn.trim().split(/\s+/);
  if (groups.length !== 12 || !groups.every((g) => /^\d{5}$/.test(g))) return `    ${safe(sn)}`;
  return [0, 4, 8].map((i) => `    ${groups.slice(i, i + 4).join(' ')}`).join('\n');
}

/** ` (private with NICK)` for what happens in a private chat. */
const inChat = (e: InChat) => (e.with === undefined ? '' : ` (private with ${safe(e.with)})`);
/** `#3`, or "a message" when it has no number (printed before it was forgotten). */
const refText = (e: { ref?: number }) => (e.ref === undefined ? 'a message' : `#${e.ref}`);
const QUOTE_CHARS = 40;
/** `(re #3 <alice> lunch at noon?)`, on one row whatever the original held. */
function quoteText(q: QuoteRef): string {
  const at = q.ref === undefined ? 're' : `re #${q.ref}`;
  if (q.from === undefined) return `(${at}: original not available)`;
  if (q.deleted) return `(${at} <${safe(q.from)}>: deleted)`;
  const flat = safe((q.text ?? '').replace(/\s+/g, ' '));
  const cut = [...flat].length > QUOTE_CHARS ? `${[...flat].slice(0, QUOTE_CHARS).join('')}\u2026` : flat;
  return `(${at} <${safe(q.from)}> ${cut})`;
}

/** "message", or "private message to NICK". */
const yours = (e: { with?: string }) => (e.with === undefined ? 'message' : `private message to ${safe(e.with)}`);

const MARKS = { pending: '(sending)', sent: '\u2713', unsent: '\u2717 not sent' } as const;

/** A message of ours as people see it, with its delivery state after it. */
export function ownLine(e: PendingEvent, state: keyof typeof MARKS): string {
  const line = humanLine({
    event: 'message',
    from: e.from,
    text: e.text,
    ts: e.ts,
    ...(e.ref === undefined ? {} : { ref: e.ref }),
    ...(e.re === undefined ? {} : { re: e.re }),
  });
  // `[12:00] #3 (private to bob) <alice> text`, as others' private messages show `(private)`.
  const to = e.with === undefined ? line : line.replace(/^(\[\d\d:\d\d\](?: #\d+)?) /, `$1 (private to ${safe(e.with)}) `);
  return `${to} ${MARKS[state]}`;
}

/**
 * Surely one terminal row: even if every character were double width. (Only then can a line be
 * redrawn in place by moving the cursor one row up; a longer one is left as it is.) A terminal
 * that reports no width is taken as wide without limit, as readline takes it.
 */
const oneRow = (s: string) => 2 * [...s].length < (process.stdout.columns || Infinity);

/**
 * Prints events. `--json`: every event, one JSON object per line. Plain output (not a terminal):
 * one line per event, except our own messages' `pending` and `sent` (a script reading the output
 * sees what others did, and a failure as `unsent` and UNSENT). Interactive (`rl` set, a terminal):
 * each line is printed above the input prompt without disturbing what is being typed, and a
 * message we send replaces the line readline echoed with `[12:00] <nick> text (sending)`, which
 * becomes `✓` (or `✗ not sent`) in place while only lines of ours (each one row) came after it;
 * once another line came after it, the change is a line of its own.
 */
export class Printer {
  rl: Interface | undefined;
  /** Our messages on the last rows printed, oldest first, one row each: they can be redrawn in place. */
  private ours: PendingEvent[] = [];
  /** A line was typed since the last print: readline left it on the row above the cursor. */
  private echo = false;
  constructor(
    private readonly json: boolean,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {}

  /** Interactive: a line was typed (and echoed by readline). */
  typed(): void {
    this.echo = true;
  }

  print(e: ChatEvent): void {
    if (this.json) return this.write(JSON.stringify(e));
    const rl = this.rl;
    // Typing shows on a terminal only, and only when it starts: the message that follows ends it.
    if (e.event === 'typing' && (!e.on || rl === undefined || !process.stdout.isTTY)) return;
    if (rl === undefined || !process.stdout.isTTY) {
      if (e.event !== 'pending' && e.event !== 'sent') this.write(humanLine(e));
      return;
    }
    const tty = process.stdout;
    // Right after Enter the cursor is below the line readline echoed: our message replaces it; any
    // other line leaves it, and then our earlier lines are no longer where we counted them.
    const replace = this.echo && e.event === 'pending' && oneRow(rl.getPrompt() + e.text);
    if (this.echo && !replace) this.ours = [];
    this.echo = false;
    if ((e.event === 'sent' || e.event === 'unsent') && this.redraw(rl, e.id, e.event)) return;
    if (replace) moveCursor(tty, 0, -1);
    clearLine(tty, 0);
    cursorTo(tty, 0);
    const line = humanLine(e);
    this.write(line);
    if (e.event === 'pending' && oneRow(line)) this.ours.push(e);
    else this.ours = [];
    // Rows that scrolled off the screen cannot be reached.
    this.ours.splice(0, this.ours.length - ((tty.rows || Infinity) - 2));
    rl.prompt(true);
  }

  /** Text as it is (`/help`), not an event: a line of its own in every mode. */
  show(lines: readonly string[]): void {
    const rl = this.rl;
    if (rl === undefined || this.json || !process.stdout.isTTY) return lines.forEach((l) => this.write(l));
    this.echo = false;
    this.ours = [];
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
    lines.forEach((l) => this.write(l));
    rl.prompt(true);
  }

  /** Our line `id`, redrawn with its new state where it is, if it can be reached. */
  private redraw(rl: Interface, id: string, state: 'sent' | 'unsent'): boolean {
    const i = this.ours.findIndex((p) => p.id === id);
    if (i < 0 || !oneRow(rl.getPrompt() + rl.line)) return false;
    const tty = process.stdout;
    const up = this.ours.length - i;
    clearLine(tty, 0); // the prompt row...
    moveCursor(tty, 0, -up); // ...and our line, `up` rows above it
    clearLine(tty, 0);
    cursorTo(tty, 0);
    this.out.write(ownLine(this.ours[i]!, state));
    cursorTo(tty, 0);
    moveCursor(tty, 0, up);
    rl.prompt(true);
    return true;
  }

  private write(line: string): void {
    this.out.write(`${line}\n`);
  }
}
