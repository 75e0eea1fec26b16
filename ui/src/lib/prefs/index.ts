// Per-machine UI preferences (language, theme), kept in the webview's local storage.
import type { LanguageChoice } from '../i18n/index.svelte';

export type ThemeChoice = 'auto' | 'light' | 'dark';

export interface Preferences {
  language: LanguageChoice;
  theme: ThemeChoice;
}

const KEY = 'qcat.preferences.v1';
const DEFAULTS: Preferences = { language: 'auto', theme: 'auto' };

export function loadPreferences(storage: Storage = localStorage): Preferences {
  try {
    const parsed = JSON.parse(storage.getItem(KEY) ?? '{}') as Partial<Preferences>;
    return {
      language: ['auto', 'en', 'zh-CN'].includes(parsed.language ?? '')
        ? (parsed.language as LanguageChoice)
        : DEFAULTS.language,
      theme: ['auto', 'light', 'dark'].includes(parsed.theme ?? '')
        ? (parsed.theme as ThemeChoice)
        : DEFAULTS.theme,
    };
  } catch {
    return { ...DEFAULTS };
  }
}

export function savePreferences(prefs: Preferences, storage: Storage = localStorage): void {
  storage.setItem(KEY, JSON.stringify(prefs));
}

/** `auto` leaves the colour scheme to the OS (prefers-color-scheme); otherwise it is forced. */
export function applyTheme(theme: ThemeChoice, root: HTMLElement = document.documentElement): void {
  if (theme === 'auto') delete root.dataset.theme;
  else root.dataset.theme = theme;
}
