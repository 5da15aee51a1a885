/**
 * The chat commands, one table: each entry's name, usage and summary make `/help`, and its `run`
 * does the work over the SDK. A line that is not a command is a message to the room.
 */
import {
  type PrivateChat,
  type PrivateChats,
  type Room,
  type RoomName,
  formatFingerprintDigits,
  formatSafetyNumber,
} from '@nullroom/client';
import type { FileKeyStore } from '@nullroom/client/node';
import type { Delivery } from './delivery.js';
import type { FileTransfers } from './fileTransfers.js';
import { type Conversation, type MessageRefs, conversationOf, quoteOf } from './chatLines.js';
import { type ChatEvent, cliError, errorEvent, helpTable } from './output.js';

/** What a command works with: the joined room and what hangs off it. */
export interface ChatContext {
  readonly room: Room;
  /** The room's name as its members set it (`/rename`). */
  readonly names: RoomName;
  readonly privateChats: PrivateChats;
  readonly files: FileTransfers;
  readonly delivery: Delivery;
  /** The numbers room messages are printed with (`#3`): what `/reply`, `/react`, `/edit`, `/delete` take. */
  readonly refs: MessageRefs;
  readonly store: FileKeyStore | undefined;
  report(e: ChatEvent): void;
  /** Runs private-chat work one job after another, in the order it was typed. */
  inOrder(job: () => Promise<void>): void;
  /** Leaves the room (after the files being sent are up) and ends the command. */
  quit(): void;
  /** Writes text as it is (no event): `/help`. */
  show(lines: readonly string[]): void;
  /** --json: `/help` is an event rather than text. */
  readonly json: boolean;
  /** Private mode (`/dm NICK`): the member every line goes to; undefined: the room. */
  readonly dmPeer: string | undefined;
  /** Enters private mode with `peer`, or (undefined) returns to the room: the prompt says which. */
  setMode(peer: string | undefined): void;
}

export interface Command {
  name: string;
  /** How it is typed, e.g. `/dm NICK TEXT`. */
  usage: string;
  summary: string;
  /** `args`: the rest of the line after the command's name. */
  run(ctx: ChatContext, args: string): void;
}

/** `a "b c" 'd'` -> ['a', 'b c', 'd'] */
export const splitPaths = (s: string) => s.match(/"[^"]*"|'[^']*'|\S+/g)?.map((p) => p.replace(/^(["'])(.*)\1$/, '$2')) ?? [];

/** `NICK REST` -> [NICK, REST], or undefined when either is missing. */
const nickAndRest = (s: string): [string, string] | undefined => {
  const m = /^(\S+)\s+([\s\S]+)$/.exec(s);
  return m === null ? undefined : [m[1]!, m[2]!];
};

/** The room fingerprint of our epoch (docs/PROTOCOL.md §8.1), for /verify and /fingerprint. */
function fingerprint(room: Room): { epoch?: number; fingerprint?: string } {
  const fp = room.fingerprint();
  return fp === undefined ? {} : { epoch: fp.epoch, fingerprint: formatFingerprintDigits(fp) };
}

const noSuchMember = () => cliError('NO_SUCH_MEMBER', 'no other member has that nickname');

/** The other members' nicknames (completion, private mode). */
export const otherNicks = (room: Room): string[] => room.members().flatMap((m) => (m.nick === room.nick ? [] : [m.nick]));

/** A private message to `nick` (answering `replyTo`): `pending` once the chat is open, then `sent` or `unsent` as the chat reports (delivery.ts). */
function sayPrivately(ctx: ChatContext, nick: string, text: string, replyTo?: string): void {
  ctx.inOrder(async () => {
    const chat = await ctx.privateChats.open(nick);
    const id = chat.send(text, { replyTo });
    const re = replyTo === undefined ? {} : { re: quoteOf(chat, ctx.refs, replyTo) };
    ctx.delivery.queuedPrivate(chat, id, text, { ref: ctx.refs.add(id), ...re });
  });
}

/** `/dm`: alone, back to the room (from private mode); `/dm NICK`: private mode; `/dm NICK TEXT`: one message. */
function dm(ctx: ChatContext, args: string): void {
  const rest = args.trim();
  if (rest === '') {
    if (ctx.dmPeer !== undefined) return ctx.setMode(undefined);
    return ctx.report(cliError('USAGE', 'usage: /dm NICK TEXT, or /dm NICK to talk privately until /room'));
  }
  const m = nickAndRest(rest);
  if (m !== undefined) return sayPrivately(ctx, m[0], m[1]);
  if (!otherNicks(ctx.room).includes(rest)) return ctx.report(noSuchMember());
  ctx.setMode(rest);
  // Opened now, so its `private-opened` line comes before what is typed next, not in between.
  ctx.inOrder(async () => void (await ctx.privateChats.open(rest)));
}

/** `N REST` (N as printed, `#3` or `3`) -> the message's id, REST and its conversation; an error reported (and undefined) otherwise. */
function target(ctx: ChatContext, args: string, usage: string, needsRest: boolean): [string, string, Conversation] | undefined {
  const m = /^#?(\d+)(?:\s+([\s\S]*))?$/.exec(args.trim());
  const rest = m?.[2]?.trim() ?? '';
  if (m === null || (needsRest && rest === '')) return void ctx.report(cliError('USAGE', `usage: ${usage}`));
  const id = ctx.refs.id(Number(m[1]));
  const where = id === undefined ? undefined : conversationOf(ctx.room, ctx.privateChats, id);
  if (id === undefined || where === undefined) {
    return void ctx.report(cliError('NO_SUCH_MESSAGE', 'no message has that number (or it is too old to be kept)'));
  }
  return [id, rest, where];
}

/** Runs an SDK call, reporting what it refuses (NOT_YOURS, BAD_REACTION...) as an error event; one never acknowledged is told too. */
function attempt(ctx: ChatContext, fn: () => string): void {
  try {
    ctx.delivery.action(fn());
  } catch (e) {
    ctx.report(errorEvent(e));
  }
}

/** `/reply`, `/react`, `/edit`, `/delete`: on the room's numbered messages (chatLines.ts). */
const MESSAGE_COMMANDS: readonly Command[] = [
  {
    name: 'reply',
    usage: '/reply N TEXT',
    summary: 'answer message #N (quoted for everyone who has it)',
    run: (ctx, args) => {
      const t = target(ctx, args, '/reply N TEXT', true);
      if (t === undefined) return;
      const [id, text, where] = t;
      if (where === ctx.room) say(ctx, text, id);
      else sayPrivately(ctx, (where as PrivateChat).peer, text, id);
    },
  },
  {
    name: 'react',
    usage: '/react N EMOJI',
    summary: 'add your reaction EMOJI to message #N, or take it back if it is there',
    run: (ctx, args) => {
      const t = target(ctx, args, '/react N EMOJI', true);
      if (t === undefined) return;
      const [id, emoji, where] = t;
      const mine = where.message(id)?.reactions.some((r) => r.emoji === emoji && r.mine) === true;
      attempt(ctx, () => where.react(id, emoji, !mine));
    },
  },
  {
    name: 'edit',
    usage: '/edit N TEXT',
    summary: 'replace the text of your message #N for everyone',
    run: (ctx, args) => {
      const t = target(ctx, args, '/edit N TEXT', true);
      if (t !== undefined) attempt(ctx, () => t[2].edit(t[0], t[1]));
    },
  },
  {
    name: 'delete',
    usage: '/delete N',
    summary: 'delete your message #N for everyone',
    run: (ctx, args) => {
      const t = target(ctx, args, '/delete N', false);
      if (t !== undefined) attempt(ctx, () => t[2].delete(t[0]));
    },
  },
];

export const COMMANDS: readonly Command[] = [
  {
    name: 'members',
    usage: '/members',
    summary: 'list who is in the room',
    run: (ctx) => {
      const members = ctx.room.members().map((m) => m.nick);
      const verified = members.filter((n) => n !== ctx.room.nick && ctx.room.trust(n)?.verified === true);
      ctx.report({ event: 'members', members, you: ctx.room.nick, verified });
    },
  },
  {
    name: 'verify',
    usage: '/verify NICK',
    summary: 'show the safety number you share with NICK, and the room fingerprint (compare both out of band)',
    run: (ctx, args) => {
      const nick = args.trim();
      const sn = ctx.room.safetyNumber(nick);
      if (sn === undefined) return ctx.report(noSuchMember());
      ctx.report({
        event: 'verify',
        nick,
        safetyNumber: formatSafetyNumber(sn),
        verified: ctx.room.trust(nick)?.verified === true,
        ...fingerprint(ctx.room),
      });
    },
  },
  {
    name: 'fingerprint',
    usage: '/fingerprint',
    summary: 'show the room fingerprint of this epoch: every member at that epoch must see the same digits',
    run: (ctx) => {
      const fp = fingerprint(ctx.room);
      if (fp.epoch === undefined || fp.fingerprint === undefined)
        return ctx.report(cliError('NOT_JOINED', 'not in the room right now (reconnecting)'));
      ctx.report({ event: 'fingerprint', epoch: fp.epoch, fingerprint: fp.fingerprint });
    },
  },
  {
    name: 'verified',
    usage: '/verified NICK',
    summary: 'mark NICK verified once the numbers match (until their key changes)',
    run: (ctx, args) => {
      const nick = args.trim();
      if (ctx.room.safetyNumber(nick) === undefined) return ctx.report(noSuchMember());
      // Reported once it is on disk (an error instead if it could not be written: then it lasts this session only).
      void ctx.room
        .setVerified(nick, true)
        .then(() => ctx.store?.flush())
        .then(
          () => ctx.report({ event: 'verify', nick, safetyNumber: formatSafetyNumber(ctx.room.safetyNumber(nick) ?? ''), verified: true }),
          (e: unknown) => ctx.report(errorEvent(e)),
        );
    },
  },
  {
    name: 'dm',
    usage: '/dm NICK [TEXT]',
    summary: 'send TEXT to NICK only; without TEXT, talk to NICK only until /room',
    run: dm,
  },
  {
    name: 'room',
    usage: '/room',
    summary: 'leave private mode: what you type goes to everyone again',
    run: (ctx) => ctx.setMode(undefined),
  },
  {
    name: 'close',
    usage: '/close [NICK]',
    summary: 'close the private chat with NICK (in private mode, alone: the one you are in); the room stays',
    run: (ctx, args) => {
      const nick = args.trim() === '' ? ctx.dmPeer : args.trim();
      if (nick === undefined) return ctx.report(cliError('USAGE', 'usage: /close NICK, or /close alone in private mode'));
      // A chat whose peer left is closed too (its peer's nickname may be another member's now).
      const chat = ctx.privateChats.with(nick) ?? ctx.privateChats.list().find((c) => c.peerLeft && c.peer === nick);
      if (chat === undefined) return ctx.report(cliError('NO_PRIVATE_CHAT', 'no private chat with that nickname'));
      chat.close();
    },
  },
  {
    name: 'rename',
    usage: '/rename NAME',
    summary: 'rename the room for everyone in it (the name travels end-to-end encrypted; the relay never sees it)',
    run: (ctx, args) => {
      if (args.trim() === '') return ctx.report(cliError('USAGE', 'usage: /rename NAME'));
      try {
        ctx.names.rename(args);
      } catch (e) {
        ctx.report(errorEvent(e));
      }
    },
  },
  {
    name: 'dmsend',
    usage: '/dmsend NICK PATH...',
    summary: 'send files to NICK only',
    run: (ctx, args) => {
      const m = nickAndRest(args);
      if (m === undefined) return ctx.report(cliError('USAGE', 'usage: /dmsend NICK PATH...'));
      const paths = splitPaths(m[1]);
      ctx.inOrder(async () => {
        const chat = await ctx.privateChats.open(m[0]);
        await ctx.files.send(paths, ctx.files.ofChat(chat));
      });
    },
  },
  {
    name: 'send',
    usage: '/send PATH...',
    summary: 'send files (end-to-end encrypted) to everyone in the room',
    run: (ctx, args) => {
      const paths = splitPaths(args);
      if (paths.length === 0) return ctx.report(cliError('USAGE', 'usage: /send PATH...'));
      void ctx.files.send(paths);
    },
  },
  ...MESSAGE_COMMANDS,
  {
    name: 'retry',
    usage: '/retry',
    summary: 'send again the messages shown as not sent',
    run: (ctx) => {
      if (ctx.delivery.retry(ctx.room) === 0) ctx.report(cliError('USAGE', 'no message of yours is waiting to be sent again'));
    },
  },
  { name: 'cancel', usage: '/cancel', summary: 'cancel the file transfers in progress', run: (ctx) => ctx.files.cancelAll() },
  { name: 'quit', usage: '/quit', summary: 'leave the room (after the files you are sending are up)', run: (ctx) => ctx.quit() },
  {
    name: 'help',
    usage: '/help',
    summary: 'list these commands (Tab completes commands and nicknames)',
    run: (ctx) => {
      const commands = COMMANDS.map(({ name, usage, summary }) => ({ name, usage, summary }));
      if (ctx.json) ctx.report({ event: 'help', commands });
      else ctx.show(helpTable(commands));
    },
  },
];

/** A message to the room (answering `replyTo`): `pending` until the relay acknowledges it (delivery.ts). */
function say(ctx: ChatContext, text: string, replyTo?: string): void {
  try {
    const id = ctx.room.send(text, { replyTo });
    const re = replyTo === undefined ? {} : { re: quoteOf(ctx.room, ctx.refs, replyTo) };
    ctx.delivery.queued(id, ctx.room.nick, text, { ref: ctx.refs.add(id), ...re });
  } catch (e) {
    ctx.report(errorEvent(e));
  }
}

/** One line typed (or read from stdin): a command, or a message to the room (or, in private mode, to its peer). */
export function runLine(ctx: ChatContext, line: string): void {
  const cmd = /^\/(\S+)\s*(.*)$/.exec(line);
  if (cmd === null) {
    if (line.trim().length === 0) return;
    if (ctx.dmPeer === undefined) say(ctx, line);
    else sayPrivately(ctx, ctx.dmPeer, line);
    return;
  }
  const command = COMMANDS.find((c) => c.name === cmd[1]);
  if (command === undefined) ctx.report(cliError('UNKNOWN_COMMAND', 'unknown command; /help lists them'));
  else command.run(ctx, cmd[2] ?? '');
}
