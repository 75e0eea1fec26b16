import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import { tick } from 'svelte';
import App from './App.svelte';
import { mockIPC } from './lib/ipc/testing';
import { setLanguage } from './lib/i18n/index.svelte';
import type { AppInfo, StorageStatus } from './lib/ipc';

const info: AppInfo = {
  version: '1.2.3',
  dataDir: '/var/lib/qcat',
  dataDirSource: 'environment',
  environment: 'production',
  uptimeSecs: 5,
  systemLocale: 'en-US',
  masterKey: { source: 'the OS keychain', keyId: '0011aabb', error: null },
};

const healthy: StorageStatus = {
  backend: 'postgres',
  location: 'postgres://qcat@db:5432/qcat',
  health: 'healthy',
  roundTripMs: 1.25,
  schemaVersion: 1,
  knownSchemaVersion: 1,
  error: null,
};

function mockCore(storage: () => StorageStatus, appInfo: AppInfo = info): void {
  mockIPC((cmd) => {
    if (cmd === 'app_info') return appInfo;
    if (cmd === 'storage_status') return storage();
    throw new Error(`unexpected command ${cmd}`);
  });
}

describe('App shell', () => {
  it('shows one navigation entry per screen and the storage status from the core', async () => {
    setLanguage('en');
    mockCore(() => healthy);
    render(App);
    for (const id of ['dashboard', 'alerts', 'backups', 'access', 'audit', 'logs', 'settings']) {
      expect(screen.getByTestId(`nav-${id}`)).toBeTruthy();
    }
    // The values below come from the mocked core, so the bar renders what the core says.
    expect(await screen.findByText('PostgreSQL (team)')).toBeTruthy();
    expect(screen.getByTestId('status-health').dataset.health).toBe('healthy');
    expect(screen.getByTestId('status-schema').textContent).toContain('schema v1');
    expect((await screen.findByTestId('status-environment')).textContent).toContain('production');
  });

  it('shows a failed store with its message instead of pretending it is fine', async () => {
    setLanguage('en');
    mockCore(() => ({
      ...healthy,
      health: 'failed',
      roundTripMs: null,
      schemaVersion: null,
      error: { code: 'storage_unavailable', message: 'cannot open the postgres store' },
    }));
    render(App);
    expect(await screen.findByText('cannot open the postgres store')).toBeTruthy();
    expect(screen.getByTestId('status-health').dataset.health).toBe('failed');
  });

  it('renders in Simplified Chinese when chosen', async () => {
    setLanguage('zh-CN');
    mockCore(() => healthy);
    render(App);
    expect(screen.getByTestId('nav-backups').textContent).toContain('备份');
    expect(await screen.findByText('PostgreSQL（团队）')).toBeTruthy();
    setLanguage('en');
  });

  it('follows the OS language the core reports when no language was chosen', async () => {
    // The webview may report English on a Chinese desktop; the core reads the OS setting.
    setLanguage('auto');
    mockCore(() => healthy, { ...info, systemLocale: 'zh-CN' });
    render(App);
    expect(await screen.findByText('PostgreSQL（团队）')).toBeTruthy();
    expect(screen.getByTestId('nav-backups').textContent).toContain('备份');
    setLanguage('en');
  });

  it('navigates by hash and shows the honest empty state', async () => {
    setLanguage('en');
    mockCore(() => healthy);
    render(App);
    location.hash = '#/backups';
    await fireEvent(window, new HashChangeEvent('hashchange'));
    await tick();
    expect(screen.getByTestId('page-backups')).toBeTruthy();
    expect(screen.getByTestId('empty-state').textContent).toContain('Recovery points');
    location.hash = '';
  });
});
