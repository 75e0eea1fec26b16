import { describe, expect, it } from 'vitest';
import { catalog, LOCALES, setLanguage, systemLocale, t, i18n } from './index.svelte';
import { en } from './en';
import { BUILTIN_ROLES, PERMISSIONS } from '../gen/api';

const placeholders = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();

describe('message catalogs', () => {
  it('have a non-empty string for every key in every locale', () => {
    // A missing or empty translation would show a blank label to Chinese users.
    for (const locale of LOCALES) {
      for (const key of Object.keys(en) as (keyof typeof en)[]) {
        expect(catalog(locale)[key]?.trim(), `${locale} ${key}`).toBeTruthy();
      }
    }
  });

  it('label every permission and built-in role the core defines', () => {
    // The lists are generated from the Rust catalog, so a new permission without a label
    // fails here instead of showing English to Chinese users.
    for (const name of PERMISSIONS) expect(Object.keys(en), name).toContain(`perm.${name}`);
    for (const name of BUILTIN_ROLES) expect(Object.keys(en), name).toContain(`role.${name}`);
  });

  it('use the same placeholders in every locale', () => {
    // A translation that drops {version} would print the raw template or lose data.
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(catalog('zh-CN')[key]), key).toEqual(placeholders(en[key]));
    }
  });
});

describe('language choice', () => {
  it('follows the OS: any zh tag is Chinese, otherwise English', () => {
    expect(systemLocale(['zh-CN'])).toBe('zh-CN');
    expect(systemLocale(['zh-Hans-CN', 'en-US'])).toBe('zh-CN');
    expect(systemLocale(['en-GB'])).toBe('en');
    expect(systemLocale(['fr-FR'])).toBe('en');
    expect(systemLocale([])).toBe('en');
  });

  it('switches the strings t() returns and the document language', () => {
    setLanguage('zh-CN');
    expect(i18n.locale).toBe('zh-CN');
    expect(t('nav.backups')).toBe('备份');
    expect(document.documentElement.lang).toBe('zh-CN');
    setLanguage('en');
    expect(t('nav.backups')).toBe('Backups');
  });

  it('fills placeholders', () => {
    setLanguage('en');
    expect(t('status.schema', { version: 3 })).toBe('schema v3');
  });
});
