/**
 * Password strength (zxcvbn-ts with its language-neutral dictionary: the most used passwords,
 * keyboard patterns, dates, sequences, repeats). Loaded on demand, the first time someone types a
 * password, so the join screen is interactive before it arrives. The English word lists would
 * quadruple the download (850 KB gzipped) for an English-only gain; we show our own translated
 * levels, not zxcvbn's English feedback.
 */
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';

const zxcvbn = new ZxcvbnFactory({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs });

/** 0 (very weak) .. 4 (very strong). The nickname and room name count as known to an attacker. */
export function score(password: string, knownWords: string[]): 0 | 1 | 2 | 3 | 4 {
  return zxcvbn.check(password.slice(0, 256), knownWords).score;
}
