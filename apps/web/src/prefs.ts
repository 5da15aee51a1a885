/**
 * Preferences: theme, language, notifications, photo metadata, private-chat routing, typing. Nothing here
 * is secret (no key, nickname, room or message), so it lives in localStorage; keys live in
 * IndexedDB (IndexedDbKeyStore).
 */
import type { PrivateRouting } from '@nullroom/client';
import { type Language, browserLanguage, languages } from './i18n.js';

/** "system" follows prefers-color-scheme (light or dark); the others are fixed palettes (style.css, all through CSS variables). */
export const THEMES = ['system', 'light', 'dark', 'sepia', 'rose', 'midnight', 'forest', 'contrast'] as const;
export type Theme = (typeof THEMES)[number];
/** The color-scheme of each fixed theme (form controls and scrollbars follow it). */
const SCHEMES: Record<Exclude<Theme, 'system'>, 'light' | 'dark'> = {
  light: 'light',
  dark: 'dark',
  sepia: 'light',
  rose: 'light',
  midnight: 'dark',
  forest: 'dark',
  contrast: 'dark',
};
export interface Prefs {
  theme: Theme;
  /** Undefined: follow the browser. */
  language: Language | undefined;
  notifications: boolean;
  sound: boolean;
  /** Re-encode photos before sending, dropping EXIF (location, camera, time). */
  stripMetadata: boolean;
  /** How our private messages travel (docs/SECURITY.md §8): hidden in room traffic (default), or direct to the peer. */
  privateRouting: PrivateRouting;
  /** Tell the room when we type ("X is typing…"). */
  sendTyping: boolean;
}

const KEY = 'nullroom.prefs';
const defaults: Prefs = {
  theme: 'system',
  language: undefined,
  notifications: false,
  sound: false,
  stripMetadata: true,
  privateRouting: 'hidden',
  sendTyping: true,
};

export function loadPrefs(): Prefs {
  try {
    const raw = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<Record<keyof Prefs, unknown>>;
    return {
      theme: THEMES.find((th) => th === raw.theme) ?? 'system',
      language: typeof raw.language === 'string' && Object.hasOwn(languages, raw.language) ? (raw.language as Language) : undefined,
      notifications: raw.notifications === true,
      sound: raw.sound === true,
      stripMetadata: raw.stripMetadata !== false,
      privateRouting: raw.privateRouting === 'direct' ? 'direct' : 'hidden',
      sendTyping: raw.sendTyping !== false,
    };
  } catch {
    return { ...defaults };
  }
}

export function savePrefs(p: Prefs): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(p));
  } catch {
    // Storage refused (private mode, quota): preferences last for this visit only.
  }
}

export const languageOf = (p: Prefs): Language => p.language ?? browserLanguage();

/** "system" leaves the choice to prefers-color-scheme; the CSS reads data-theme. */
export function applyTheme(theme: Theme): void {
  if (theme === 'system') delete document.documentElement.dataset['theme'];
  else document.documentElement.dataset['theme'] = theme;
  document.querySelector('meta[name=color-scheme]')?.setAttribute('content', theme === 'system' ? 'light dark' : SCHEMES[theme]);
}
