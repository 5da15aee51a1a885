/**
 * The emoji the picker offers and how it finds them: every emoji of Unicode's current set, from
 * emojibase-data (CLDR names and keywords, in the page's language) with GitHub's shortcodes
 * (":+1:", ":joy:", ":heart:"), which people type in either language.
 *
 * The data is large (about 550 KB per language), so it is not in the main bundle: it is imported
 * dynamically when a picker first opens, one language at a time. Vite bundles it as modules of the
 * app's own origin, pinned by the import map's integrity section like every other chunk (nothing is
 * fetched from elsewhere; the relay's CSP would refuse it anyway).
 */
import type { CompactEmoji, ShortcodesDataset } from 'emojibase';
import type { Language } from './i18n.js';

/** The reactions offered first, one tap away. */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🎉'] as const;

/** Emojibase's groups in its order (group 2, "component", holds skin tone and hair swatches: not offered). */
export const GROUPS = [
  'smileys-emotion',
  'people-body',
  'component',
  'animals-nature',
  'food-drink',
  'travel-places',
  'activities',
  'objects',
  'symbols',
  'flags',
] as const;
export type Group = (typeof GROUPS)[number];
const COMPONENT = GROUPS.indexOf('component');

export interface EmojiEntry {
  /** The characters inserted, in Unicode's fully-qualified form (emoji-test.txt). */
  emoji: string;
  /** Its CLDR name in the loaded language ("thumbs up", "拇指向上"): the option's accessible name. */
  name: string;
  group: Group;
  /** For searching, lower-case: the emoji, its name and its shortcodes; the name's words; keywords and all words. */
  readonly exact: readonly string[];
  readonly nameWords: readonly string[];
  readonly words: readonly string[];
}

export interface EmojiSet {
  language: Language;
  /** In emojibase's order (Unicode's), skin tone variants left out: the picker shows the base emoji. */
  entries: readonly EmojiEntry[];
}

/**
 * Drops a U+FE0F (emoji presentation selector) after a character that is shown as emoji anyway:
 * emojibase writes "👍" as U+1F44D U+FE0F, Unicode's fully-qualified form is U+1F44D alone, and a
 * reaction is counted by its exact characters, so the picker and the quick reactions (and other
 * clients) must agree. "❤️" (U+2764 U+FE0F) keeps its selector: U+2764 alone is text.
 */
export function canonicalEmoji(s: string): string {
  return s.replace(/(\p{Emoji_Presentation})\uFE0F/gu, '$1');
}

/** The lower-case words of a name or keyword ("thumbs up" → thumbs, up; "t-rex" → t, rex; "+1" stays). */
const wordsOf = (s: string): string[] => s.split(/[\s_:,.()“”"!’'-]+/u).filter((w) => w !== '');

function entryOf(e: CompactEmoji, shortcodes: ShortcodesDataset): EmojiEntry | undefined {
  const group = e.group === undefined ? undefined : GROUPS[e.group];
  if (group === undefined || e.group === COMPONENT) return undefined;
  const codes = shortcodes[e.hexcode];
  const short = (codes === undefined ? [] : typeof codes === 'string' ? [codes] : codes).map((c) => c.toLowerCase());
  const name = e.label.toLowerCase();
  const tags = (e.tags ?? []).map((t) => t.toLowerCase());
  const emoji = canonicalEmoji(e.unicode);
  return {
    emoji,
    name: e.label,
    group,
    exact: [emoji, name, ...short],
    nameWords: wordsOf(name),
    words: [...new Set([...wordsOf(name), ...tags, ...tags.flatMap(wordsOf), ...short.flatMap(wordsOf)])],
  };
}

/** emojibase-data's locale for each of the app's languages (its "zh" is Simplified Chinese). */
const DATA: Record<Language, () => Promise<{ default: CompactEmoji[] }>> = {
  en: () => import('emojibase-data/en/compact.json'),
  'zh-CN': () => import('emojibase-data/zh/compact.json'),
};
const SHORTCODES = (): Promise<{ default: ShortcodesDataset }> => import('emojibase-data/en/shortcodes/github.json');

const loaded = new Map<Language, Promise<EmojiSet>>();

/** The emoji set in `language`, imported once (a failed import is tried again on the next call). */
export function loadEmoji(language: Language): Promise<EmojiSet> {
  let p = loaded.get(language);
  if (p === undefined) {
    p = Promise.all([DATA[language](), SHORTCODES()]).then(([data, codes]) => ({
      language,
      entries: data.default.flatMap((e) => entryOf(e, codes.default) ?? []),
    }));
    p.catch(() => loaded.delete(language));
    loaded.set(language, p);
  }
  return p;
}

/** How well `e` matches the lower-case query `q`: 0 best, undefined for no match. */
function score(e: EmojiEntry, q: string): number | undefined {
  if (e.exact.includes(q)) return 0; // the emoji itself, its whole name, a shortcode ("+1", "joy")
  if (e.nameWords.includes(q)) return 1; // a word of its name ("thumbs", "party" for 🎉 before 🥳)
  if (e.words.includes(q)) return 2; // a keyword ("赞")
  if (e.exact[1]?.startsWith(q)) return 3; // the start of its name ("thumbs u")
  if (e.words.some((w) => w.startsWith(q))) return 4; // the start of a word ("thum")
  // Chinese has no spaces between words: a name or keyword that contains it ("笑" in "笑哭了").
  if (/[^\p{ASCII}]/u.test(q) && (e.exact[1]?.includes(q) || e.words.some((w) => w.includes(q)))) return 5;
  return undefined;
}

/**
 * The entries matching `query` (name, keyword or shortcode, with or without colons; several words
 * must each match), best first, then in emojibase's order. An empty query matches nothing: the
 * picker then shows every emoji by group.
 */
export function searchEmoji(set: EmojiSet, query: string): readonly EmojiEntry[] {
  const q = canonicalEmoji(query.trim().toLowerCase().replace(/^:|:$/g, '')); // an emoji pasted with U+FE0F finds itself
  if (q === '') return [];
  const parts = q.split(/\s+/u);
  const scored: { e: EmojiEntry; s: number }[] = [];
  for (const e of set.entries) {
    let s = score(e, q);
    if (s === undefined && parts.length > 1) {
      const each = parts.map((p) => score(e, p));
      if (each.every((x) => x !== undefined)) s = 6 + Math.max(...(each as number[]));
    }
    if (s !== undefined) scored.push({ e, s });
  }
  return scored.sort((a, b) => a.s - b.s).map((x) => x.e); // a stable sort: emojibase's order within a score
}
