// The screens, in navigation order. Each capability has a folder under src/routes/.
import type { Component } from 'svelte';
import type { MessageKey } from './i18n/en';
import DashboardPage from '../routes/dashboard/DashboardPage.svelte';
import AlertsPage from '../routes/alerts/AlertsPage.svelte';
import BackupsPage from '../routes/backups/BackupsPage.svelte';
import AccessPage from '../routes/access/AccessPage.svelte';
import AuditPage from '../routes/audit/AuditPage.svelte';
import LogsPage from '../routes/logs/LogsPage.svelte';
import SettingsPage from '../routes/settings/SettingsPage.svelte';

export interface Route {
  id: string;
  label: MessageKey;
  icon: string;
  page: Component;
}

export const ROUTES: readonly Route[] = [
  { id: 'dashboard', label: 'nav.dashboard', icon: '▦', page: DashboardPage },
  { id: 'alerts', label: 'nav.alerts', icon: '⚠', page: AlertsPage },
  { id: 'backups', label: 'nav.backups', icon: '⛁', page: BackupsPage },
  { id: 'access', label: 'nav.access', icon: '⚿', page: AccessPage },
  { id: 'audit', label: 'nav.audit', icon: '☰', page: AuditPage },
  { id: 'logs', label: 'nav.logs', icon: '≡', page: LogsPage },
  { id: 'settings', label: 'nav.settings', icon: '⚙', page: SettingsPage },
];

/** The route a location hash names (`#/alerts`), or the dashboard. */
export function routeFromHash(hash: string): Route {
  const id = hash.replace(/^#\/?/, '');
  return ROUTES.find((route) => route.id === id) ?? ROUTES[0]!;
}
