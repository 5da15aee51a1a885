/**
 * Times and dates in the app's language (Intl.DateTimeFormat with the i18n locale, not the
 * browser's): a time for today's lines, a date and time for older ones, the full date for a
 * tooltip, and how long a transfer has left. Formatters are made once per language.
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
        ? { hour: 'numeric', minute: '2-digit' }
        : kind === 'dateTime'
          ? { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' }
          : { dateStyle: 'full', timeStyle: 'short' };
    f = new Intl.DateTimeFormat(lang, opts);
    cache.set(key, f);
  }
  return f;
}

const sameDay = (a: Date, b: Date) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

/** "2:05 PM" (or "14:05") today, "Nov 29, 2:05 PM" (or "11月29日 14:05") before. */
export function shortTime(ts: number, now = Date.now()): string {
  return format(sameDay(new Date(ts), new Date(now)) ? 'time' : 'dateTime').format(ts);
}

/**
 * The time beside a message grouped under the one before (its header shows the full time): "1:07"
 * rather than "1:07 AM", so it fits the narrow gutter on one line; a line of another day keeps its date.
 */
export function sideTime(ts: number, now = Date.now()): string {
  if (!sameDay(new Date(ts), new Date(now))) return shortTime(ts, now);
  const parts = format('time').formatToParts(ts);
  return parts
    .filter((p) => p.type !== 'dayPeriod')
    .map((p) => p.value)
    .join('')
    .trim();
}

/** The full date and time, for a tooltip. */
export const fullTime = (ts: number): string => format('full').format(ts);

const units = new Map<string, Intl.NumberFormat>();
function unit(u: 'second' | 'minute'): Intl.NumberFormat {
  const key = `${i18next.language || 'en'}|${u}`;
  let f = units.get(key);
  if (f === undefined) {
    f = new Intl.NumberFormat(i18next.language || 'en', { style: 'unit', unit: u, unitDisplay: 'short' });
    units.set(key, f);
  }
  return f;
}

/** "45 sec", "2 min 5 sec" (or "45秒", "2分钟5秒"): how long a transfer has left. */
export function duration(ms: number): string {
  if (ms < 60_000) return unit('second').format(Math.ceil(ms / 1000));
  return `${unit('minute').format(Math.floor(ms / 60_000))} ${unit('second').format(Math.round((ms % 60_000) / 1000))}`;
}
