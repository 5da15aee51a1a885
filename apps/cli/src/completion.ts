/**
 * Tab completion for the interactive prompt (node:readline's `completer`): command names after a
 * leading `/`, the other members' nicknames after a command that takes one (`/dm `, `/verify `...)
 * and after `@` anywhere in a line. Pure: it reads the command table and the nicknames it is given.
 */
import { COMMANDS } from './commands.js';

/** Commands whose first argument is a nickname. */
const TAKES_NICK = new Set(['dm', 'verify', 'verified', 'close', 'dmsend']);

const startsWith = (s: string, prefix: string) => s.toLowerCase().startsWith(prefix.toLowerCase());

/**
 * readline's completer: [candidates, the part of `line` they replace]. One candidate is inserted
 * (with a space after it); several are listed, and their common prefix is inserted.
 */
export function complete(line: string, nicks: readonly string[]): [string[], string] {
  const command = /^\/(\S*)$/.exec(line);
  if (command !== null) {
    const hits = COMMANDS.filter((c) => c.name.startsWith(command[1]!)).map((c) => `/${c.name} `);
    return [hits, line];
  }
  const nickArg = /^\/(\S+)\s+(\S*)$/.exec(line);
  if (nickArg !== null && TAKES_NICK.has(nickArg[1]!)) {
    const word = nickArg[2]!;
    return [nicks.filter((n) => startsWith(n, word)).map((n) => `${n} `), word];
  }
  const at = /(?:^|\s)(@\S*)$/.exec(line);
  if (at !== null) {
    const word = at[1]!;
    return [nicks.filter((n) => startsWith(n, word.slice(1))).map((n) => `@${n} `), word];
  }
  return [[], line];
}
