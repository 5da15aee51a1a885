/**
 * An emoji palette with a search box, for the composer and for reactions: every emoji, by group in
 * Unicode's order, as plain text characters (rendered by the system's emoji font; no image is
 * fetched), found by name, keyword or shortcode in the page's language (emojiData.ts). The data is
 * loaded when the picker first opens.
 *
 * Screen readers: the results are a listbox of options named by the emoji's name in the page's
 * language, grouped by category when nothing is searched, with a button per category above them
 * that goes to its first emoji. Keyboard: the search box has focus; Enter
 * picks the first match (once the data is here, if it was pressed before), ArrowDown goes to the results, where the arrow keys move (up and down by
 * row as shown, Home and End to the ends; up from the first row goes back to the search box) and
 * Enter or Space picks. The results are one tab stop. Escape closes and gives focus back.
 */
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { type EmojiEntry, type EmojiSet, GROUPS, loadEmoji, searchEmoji } from '../emojiData.js';
import { type Language, languages, t } from '../i18n.js';
import i18next from 'i18next';

const currentLanguage = (): Language => (i18next.language in languages ? (i18next.language as Language) : 'en');

/** The emoji set in the page's language, once loaded; `failed` if it could not be. */
function useEmojiSet(): EmojiSet | 'loading' | 'failed' {
  const language = currentLanguage();
  const [set, setSet] = useState<EmojiSet | 'loading' | 'failed'>('loading');
  useEffect(() => {
    let live = true;
    loadEmoji(language).then(
      (s) => live && setSet(s),
      () => live && setSet('failed'),
    );
    return () => {
      live = false;
    };
  }, [language]);
  return set === 'loading' || set === 'failed' || set.language === language ? set : 'loading';
}

/** The option the arrow key `key` goes to from `from`, by where the options are on screen. */
function target(all: HTMLElement[], from: number, key: string): number | undefined {
  if (key === 'ArrowRight') return Math.min(from + 1, all.length - 1);
  if (key === 'ArrowLeft') return Math.max(from - 1, 0);
  if (key === 'Home') return 0;
  if (key === 'End') return all.length - 1;
  if (key !== 'ArrowDown' && key !== 'ArrowUp') return undefined;
  const here = all[from]!.getBoundingClientRect();
  const down = key === 'ArrowDown';
  // The nearest option in the next row as shown (groups start new rows), closest in x.
  let row: number | undefined;
  let best: { i: number; dx: number } | undefined;
  for (let i = from + (down ? 1 : -1); i >= 0 && i < all.length; i += down ? 1 : -1) {
    const r = all[i]!.getBoundingClientRect();
    if (r.top === here.top) continue;
    row ??= r.top;
    if (r.top !== row) break;
    const dx = Math.abs(r.left - here.left);
    if (best === undefined || dx < best.dx) best = { i, dx };
  }
  return best?.i ?? (down ? from : -1);
}

export function EmojiPicker(props: {
  onPick: (emoji: string) => void;
  onClose: () => void;
  /** The dialog's name (default: "Emoji"). */
  label?: string;
  class?: string;
}) {
  const [query, setQuery] = useState('');
  const [active, setActive] = useState(0);
  const search = useRef<HTMLInputElement>(null);
  const list = useRef<HTMLDivElement>(null);
  const id = useId();
  const set = useEmojiSet();
  const ready = typeof set === 'object';
  const found = ready ? searchEmoji(set, query) : [];
  const shown = !ready ? [] : query.trim() === '' ? set.entries : found;
  // Enter pressed before the data came (a quick "heart" + Enter) picks the first match once it is here.
  const pendingEnter = useRef(false);
  useEffect(() => search.current?.focus(), []);
  useEffect(() => setActive(0), [query, set]);
  useEffect(() => {
    if (!ready || !pendingEnter.current) return;
    pendingEnter.current = false;
    const first = found[0];
    if (first !== undefined) props.onPick(first.emoji);
  }, [set]);
  const options = (): HTMLElement[] => Array.from(list.current?.querySelectorAll<HTMLElement>('[role="option"]') ?? []);
  const move = (e: KeyboardEvent) => {
    const all = options();
    const i = all.indexOf(document.activeElement as HTMLElement);
    if (i < 0) return;
    const next = target(all, i, e.key);
    if (next === undefined) return;
    e.preventDefault();
    if (next < 0) search.current?.focus();
    else {
      setActive(next);
      all[next]?.focus();
    }
  };
  let index = 0;
  const option = (e: EmojiEntry) => {
    const i = index++;
    return (
      <button
        key={e.emoji}
        type="button"
        role="option"
        aria-selected={i === active}
        tabIndex={i === active ? 0 : -1}
        class="emoji"
        aria-label={e.name}
        title={e.name}
        onClick={() => props.onPick(e.emoji)}
      >
        {e.emoji}
      </button>
    );
  };
  const groups = (ready && query.trim() === '' ? GROUPS.map((g) => ({ g, entries: set.entries.filter((e) => e.group === g) })) : []).filter(
    (x) => x.entries.length > 0,
  );
  /** Scrolls group `g` to the top of the list and moves to its first emoji. */
  const jump = (g: string) => {
    const el = list.current?.querySelector<HTMLElement>(`[data-group="${g}"]`);
    const first = el?.querySelector<HTMLElement>('[role="option"]');
    if (list.current === null || el === null || el === undefined || first === null || first === undefined) return;
    list.current.scrollTop = el.offsetTop;
    setActive(options().indexOf(first));
    first.focus({ preventScroll: true });
  };
  return (
    <div
      class={`emoji-picker${props.class === undefined ? '' : ` ${props.class}`}`}
      role="dialog"
      aria-label={props.label ?? t('emoji.title')}
      data-testid="emoji-picker"
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          e.stopPropagation();
          props.onClose();
        }
      }}
    >
      <input
        ref={search}
        type="search"
        class="emoji-search"
        data-testid="emoji-search"
        placeholder={t('emoji.search')}
        aria-label={t('emoji.search')}
        aria-controls={`${id}-list`}
        value={query}
        onInput={(e) => setQuery(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            if (!ready) pendingEnter.current = set === 'loading';
            const first = found[0];
            if (first !== undefined) props.onPick(first.emoji);
          } else if (e.key === 'ArrowDown') {
            e.preventDefault();
            options()[active]?.focus();
          }
        }}
      />
      {groups.length > 0 && (
        <div class="emoji-jump" data-testid="emoji-groups">
          {groups.map(({ g, entries }) => (
            <button
              key={g}
              type="button"
              class="emoji"
              aria-label={t(`emoji.groups.${g}`)}
              title={t(`emoji.groups.${g}`)}
              onClick={() => jump(g)}
            >
              {entries[0]?.emoji}
            </button>
          ))}
        </div>
      )}
      {set === 'loading' && <p class="hint emoji-none">{t('emoji.loading')}</p>}
      {set === 'failed' && (
        <p class="hint emoji-none" role="alert">
          {t('emoji.failed')}
        </p>
      )}
      {ready && shown.length === 0 && (
        <p class="hint emoji-none" role="status">
          {t('emoji.none')}
        </p>
      )}
      {ready && shown.length > 0 && (
        <div
          id={`${id}-list`}
          class="emoji-list"
          role="listbox"
          aria-label={query.trim() === '' ? t('emoji.title') : t('emoji.results')}
          data-testid="emoji-results"
          ref={list}
          onKeyDown={move}
        >
          {query.trim() !== '' ? (
            <div class="emoji-grid">{found.map(option)}</div>
          ) : (
            groups.map(({ g, entries }) => (
              <div key={g} role="group" aria-labelledby={`${id}-${g}`} class="emoji-group" data-group={g}>
                <div id={`${id}-${g}`} class="emoji-group-name">
                  {t(`emoji.groups.${g}`)}
                </div>
                <div class="emoji-grid">{entries.map(option)}</div>
              </div>
            ))
          )}
        </div>
      )}
    </div>
  );
}
