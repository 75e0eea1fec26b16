// UI language: follows the OS (navigator.languages) unless the user picked one in Settings.
import { en, type MessageKey } from './en';
import { zhCN } from './zh-CN';

export type Locale = 'en' | 'zh-CN';
export type LanguageChoice = 'auto' | Locale;

const CATALOGS: Record<Locale, Record<MessageKey, string>> = { en, 'zh-CN': zhCN };
export const LOCALES: readonly Locale[] = ['en', 'zh-CN'];
/** Each language's own name, shown untranslated so a user can always find theirs. */
export const LOCALE_NAMES: Record<Locale, string> = { en: 'English', 'zh-CN': '简体中文' };

/** The OS language as the core reports it (more reliable than the webview's, which falls
 *  back to English when the C library lacks the user's locale). */
let coreSystemTag: string | null = null;

/** The locale the OS asks for: Chinese for any zh-* tag, otherwise English. */
export function systemLocale(
  languages: readonly string[] = [...(coreSystemTag ? [coreSystemTag] : []), ...(navigator.languages ?? [])],
): Locale {
  for (const tag of languages) {
    const lower = tag.toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

export const i18n = $state({ choice: 'auto' as LanguageChoice, locale: 'en' as Locale });

export function setLanguage(choice: LanguageChoice): void {
  i18n.choice = choice;
  i18n.locale = choice === 'auto' ? systemLocale() : choice;
  document.documentElement.lang = i18n.locale;
}

/** Records the OS language reported by the core and re-applies an `auto` choice. */
export function setSystemLanguage(tag: string | null): void {
  coreSystemTag = tag;
  if (i18n.choice === 'auto') setLanguage('auto');
}

/** Looks up `key` in the current locale and fills `{name}` placeholders. */
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  const template = CATALOGS[i18n.locale][key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

/** `key` if this build has a message for it (names that come from the core: permissions,
 *  built-in roles), else `fallback` as the core sent it. */
export function tOr(key: string, fallback: string): string {
  return key in CATALOGS[i18n.locale] ? t(key as MessageKey) : fallback;
}

export function catalog(locale: Locale): Record<MessageKey, string> {
  return CATALOGS[locale];
}
