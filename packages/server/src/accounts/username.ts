/**
 * Usernames (docs/PROTOCOL.md §11.1): what a person may be called, in the one form the relay keeps,
 * and the look-alike key that keeps two accounts from being told apart only by a glyph.
 *
 *   1. Unicode NFKC (full-width, ligatures and other compatibility forms become their plain letters);
 *   2. 2 to 32 characters: letters, combining marks and digits of any script, and `-` or `_`
 *      between them (not first, last or doubled);
 *   3. each run between separators, then the whole name without them, through ENSIP-15's
 *      normalisation (`@adraffy/ens-normalize`: case folding, disallowed and invisible characters,
 *      and the Unicode confusables between scripts: a Cyrillic `а` inside a Latin name, or a name
 *      written entirely in Greek letters that read as Latin ones, is refused);
 *   4. the look-alike key: the name without separators and with the confusables of Unicode's
 *      confusables.txt that stay within Latin and digits folded (`0`→`o`, `1`→`l`, `m`→`rn`,
 *      `d`→`cl`, `w`→`vv`). Two names with one key are one name: the second is refused.
 *
 * Every refusal is a `UsernameError` with a reason a person can act on; it quotes no input.
 */
import { ens_normalize } from '@adraffy/ens-normalize';

export type UsernameProblem = 'LENGTH' | 'CHARACTERS' | 'SEPARATORS' | 'CONFUSABLE_SCRIPT';

export class UsernameError extends Error {
  readonly code = 'USERNAME_INVALID';
  constructor(
    readonly problem: UsernameProblem,
    message: string,
  ) {
    super(message);
    this.name = 'UsernameError';
  }
}

/** Two: a Chinese given and family name is often two characters (张伟). */
export const USERNAME_MIN = 2;
export const USERNAME_MAX = 32;
/** A request's username field longer than this is not even normalised. */
export const USERNAME_INPUT_MAX = 128;

export interface Username {
  /** The canonical form: what is stored, shown and looked up. */
  readonly name: string;
  /** The look-alike key, unique among accounts. */
  readonly key: string;
}

const ALLOWED = /^[\p{L}\p{M}\p{N}]+$/u;
const SEPARATOR = /[-_]/;

/** The canonical form of `input` and its look-alike key, or a UsernameError. */
export function normalizeUsername(input: string): Username {
  if (input.length > USERNAME_INPUT_MAX) throw new UsernameError('LENGTH', `a username has at most ${USERNAME_MAX} characters`);
  const nfkc = input.normalize('NFKC');
  const parts = nfkc.split(/([-_])/);
  const runs: string[] = [];
  let name = '';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 1) {
      name += part;
      continue;
    }
    if (part === '')
      throw new UsernameError('SEPARATORS', 'a "-" or "_" goes between letters or digits, not first, last or twice in a row');
    if (!ALLOWED.test(part)) throw new UsernameError('CHARACTERS', 'a username has letters, digits, "-" and "_" only');
    const folded = ens(part);
    if (!ALLOWED.test(folded) || SEPARATOR.test(folded))
      throw new UsernameError('CHARACTERS', 'a username has letters, digits, "-" and "_" only');
    runs.push(folded);
    name += folded;
  }
  const length = [...name].length;
  if (length < USERNAME_MIN || length > USERNAME_MAX) {
    throw new UsernameError('LENGTH', `a username has ${USERNAME_MIN} to ${USERNAME_MAX} characters`);
  }
  // Scripts are checked across the runs too: "pay-раl" mixes Latin and Cyrillic though each run is one script.
  const joined = ens(runs.join(''));
  return { name, key: lookAlikeKey(joined) };
}

/** ENSIP-15 normalisation of one run of letters and digits; its refusals become ours. */
function ens(run: string): string {
  try {
    return ens_normalize(run);
  } catch (e) {
    const why = e instanceof Error ? e.message : '';
    if (/confusable|mixture/i.test(why)) {
      throw new UsernameError('CONFUSABLE_SCRIPT', 'a username is written in one script, without letters that pass for another script’s');
    }
    throw new UsernameError('CHARACTERS', 'a username has letters, digits, "-" and "_" only');
  }
}

/** Latin and digit confusables of Unicode's confusables.txt (source → prototype), applied in this order. */
const FOLDS: readonly (readonly [RegExp, string])[] = [
  [/0/g, 'o'],
  [/1/g, 'l'],
  [/m/g, 'rn'],
  [/d/g, 'cl'],
  [/w/g, 'vv'],
];

/** The look-alike key of a normalised name without separators (NFD, so that accents fold alike). */
export function lookAlikeKey(folded: string): string {
  let k = folded.normalize('NFD');
  for (const [from, to] of FOLDS) k = k.replace(from, to);
  return k;
}
