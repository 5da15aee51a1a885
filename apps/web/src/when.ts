/**
 * Times and dates in the app's language (Intl.DateTimeFormat with the i18n locale, not the
 * browser's): a time for today's lines, a date and time for older ones, and the full date for a
 * tooltip. Formatters are made once per language.
 */
import i18next from 'i18next';

const cache = new Map<string, Intl.DateTimeFormat>();
function format(kind: 'time' | 'dateTime' | 'full'): Intl.DateTimeFormat {
  const lang = i18next.language || 'en';
  const key = `${lang}|${kind}`;
  let f = cache.get(key);
  if (f === undefined) {
    const opts: Intl.DateTimeFormatOptions =
      kind === 'time'
        ? { hour: '2-digit', minute: '2-digit' }
        : kind === 'dateTime'
          ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }
          : { dateStyle: 'full', timeStyle: 'short' };
    f = new Intl.DateTimeFormat(lang, opts);
    cache.set(key, f);
  }
  return f;
}

const sameDay = (a: Date, b: Date) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

/** "14:05" today, "Nov 29, 14:05" (or "11月29日 14:05") before. */
export function shortTime(ts: number, now = Date.now()): string {
  return format(sameDay(new Date(ts), new Date(now)) ? 'time' : 'dateTime').format(ts);
}

/** The full date and time, for a tooltip. */
export const fullTime = (ts: number): string => format('full').format(ts);
