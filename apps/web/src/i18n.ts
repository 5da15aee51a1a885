/**
 * Every string the app shows goes through i18next. The language follows the browser unless the
 * user picked one in Settings (kept in localStorage with the other display preferences).
 */
import i18next from 'i18next';
import { en } from './locales/en.js';
import { zhCN } from './locales/zh-CN.js';

export const languages = { en: 'English', 'zh-CN': '简体中文' } as const;
export type Language = keyof typeof languages;

/** The first of the browser's languages we have, by primary subtag (zh-TW and zh-HK fall back to English: we ship no Traditional Chinese). */
export function browserLanguage(preferred: readonly string[] = navigator.languages): Language {
  for (const tag of preferred) {
    const l = tag.toLowerCase();
    if (l === 'zh' || l.startsWith('zh-cn') || l.startsWith('zh-sg') || l.startsWith('zh-hans')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
  }
  return 'en';
}

export async function initI18n(lang: Language): Promise<void> {
  await i18next.init({
    lng: lang,
    fallbackLng: 'en',
    resources: { en: { translation: en }, 'zh-CN': { translation: zhCN } },
    // Preact escapes every string it renders; escaping here too would show "&lt;" in nicknames.
    interpolation: { escapeValue: false },
    returnNull: false,
  });
  document.documentElement.lang = lang;
}

export async function setLanguage(lang: Language): Promise<void> {
  await i18next.changeLanguage(lang);
  document.documentElement.lang = lang;
}

export const t = i18next.t.bind(i18next);
