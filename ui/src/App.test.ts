import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import { tick } from 'svelte';
import App from './App.svelte';
import { mockIPC } from './lib/ipc/testing';
import { setLanguage } from './lib/i18n/index.svelte';
import type { AppInfo, SessionView, StorageStatus } from './lib/ipc';
import { session } from './lib/session/index.svelte';
import { beforeEach } from 'vitest';

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

const ALL_PERMISSIONS = [
  'monitor:view',
  'alerts:view',
  'backup:view',
  'rbac:view',
  'audit:view',
  'logs:view',
  'config:view',
];

function sessionWith(permissions: string[]): SessionView {
  return {
    username: 'ops',
    displayName: 'Ops',
    roles: ['custom'],
    permissions,
    expiresAtMs: Date.now() + 3_600_000,
    idleTimeoutSecs: 1800,
  };
}

let firingNow: unknown[] = [];

function mockCore(
  storage: () => StorageStatus,
  appInfo: AppInfo = info,
  current: SessionView | null = sessionWith(ALL_PERMISSIONS),
  needsFirstAdmin = false,
): string[] {
  const calls: string[] = [];
  mockIPC((cmd, args) => {
    calls.push(cmd);
    if (cmd === 'app_info') return appInfo;
    if (cmd === 'storage_status') return storage();
    if (cmd === 'setup_status') return { needsFirstAdmin };
    if (cmd === 'current_session') return current;
    if (cmd === 'alert_firing') return firingNow;
    if (cmd === 'alert_history') return [];
    if (cmd === 'login') {
      const input = (args as { input: { username: string; password: string } }).input;
      if (input.password !== 'right password') {
        throw { code: 'unauthenticated', message: 'invalid username or password' };
      }
      return sessionWith(['backup:view']);
    }
    throw new Error(`unexpected command ${cmd}`);
  });
  return calls;
}

beforeEach(() => {
  // The session is module state: each test starts signed out and unanswered.
  session.current = null;
  session.ready = false;
  session.needsFirstAdmin = false;
  session.expired = false;
});

describe('App shell', () => {
  it('shows one navigation entry per screen and the storage status from the core', async () => {
    setLanguage('en');
    mockCore(() => healthy);
    render(App);
    for (const id of ['dashboard', 'alerts', 'backups', 'access', 'audit', 'logs', 'settings']) {
      expect(await screen.findByTestId(`nav-${id}`)).toBeTruthy();
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
    expect((await screen.findByTestId('nav-backups')).textContent).toContain('备份');
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

  it('navigates by hash to the alerts, which say when nothing fires', async () => {
    setLanguage('en');
    firingNow = [];
    mockCore(() => healthy);
    render(App);
    await screen.findByTestId('nav-alerts');
    location.hash = '#/alerts';
    await fireEvent(window, new HashChangeEvent('hashchange'));
    await tick();
    expect(screen.getByTestId('page-alerts')).toBeTruthy();
    expect((await screen.findByTestId('alerts-none')).textContent).toContain('No alert is firing');
    expect(screen.queryByTestId('nav-alerts-count')).toBeNull();
    location.hash = '';
  });

  it('counts the alerts that speak on the navigation, not the silenced ones', async () => {
    setLanguage('en');
    const alert = (name: string, silencedBy: string[]) => ({
      fingerprint: name, source: 'api', alertname: name, severity: 'critical', labels: { alertname: name },
      annotations: {}, startsMs: Date.now(), endsMs: null, state: 'firing', flapping: false, silencedBy, inhibited: false,
    });
    firingNow = [alert('Down', []), alert('Quiet', ['s1'])];
    mockCore(() => healthy);
    render(App);
    expect((await screen.findByTestId('nav-alerts-count')).textContent).toBe('1');
    firingNow = [];
  });

  it('asks for the first administrator on an empty store', async () => {
    setLanguage('en');
    mockCore(() => healthy, info, null, true);
    render(App);
    expect(await screen.findByTestId('first-admin-form')).toBeTruthy();
    expect(screen.queryByTestId('nav-dashboard')).toBeNull();
  });

  it('signs in, shows only the screens the permissions allow, and keeps the password out of the page', async () => {
    setLanguage('en');
    mockCore(() => healthy, info, null);
    render(App);
    await screen.findByTestId('signin-form');
    await fireEvent.input(screen.getByTestId('signin-username'), { target: { value: 'ops' } });
    await fireEvent.input(screen.getByTestId('signin-password'), { target: { value: 'wrong password' } });
    await fireEvent.submit(screen.getByTestId('signin-form'));
    // The core's refusal is shown with its code's label; the password field is cleared.
    expect((await screen.findByTestId('signin-error')).textContent).toContain('Not logged in');
    expect((screen.getByTestId('signin-password') as HTMLInputElement).value).toBe('');
    await fireEvent.input(screen.getByTestId('signin-password'), { target: { value: 'right password' } });
    await fireEvent.submit(screen.getByTestId('signin-form'));
    // The mocked core grants backup:view only: one screen, and nothing else in the nav.
    expect(await screen.findByTestId('nav-backups')).toBeTruthy();
    for (const id of ['dashboard', 'alerts', 'access', 'audit', 'logs', 'settings']) {
      expect(screen.queryByTestId(`nav-${id}`)).toBeNull();
    }
    expect(screen.getByTestId('page-backups')).toBeTruthy();
  });
});
