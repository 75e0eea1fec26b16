// The screens, in navigation order. Each capability has a folder under src/routes/.
import type { Component } from 'svelte';
import type { MessageKey } from './i18n/en';
import DashboardPage from '../routes/dashboard/DashboardPage.svelte';
import PerformancePage from '../routes/performance/PerformancePage.svelte';
import AlertsPage from '../routes/alerts/AlertsPage.svelte';
import BackupsPage from '../routes/backups/BackupsPage.svelte';
import AccessPage from '../routes/access/AccessPage.svelte';
import AuditPage from '../routes/audit/AuditPage.svelte';
import LogsPage from '../routes/logs/LogsPage.svelte';
import SettingsPage from '../routes/settings/SettingsPage.svelte';
import SystemPage from '../routes/system/SystemPage.svelte';

export interface Route {
  id: string;
  label: MessageKey;
  icon: string;
  page: Component;
  /** The permission that shows the screen (the core checks each call again). */
  permission: string;
}

export const ROUTES: readonly Route[] = [
  { id: 'dashboard', label: 'nav.dashboard', icon: '▦', page: DashboardPage, permission: 'monitor:view' },
  { id: 'performance', label: 'nav.performance', icon: '∿', page: PerformancePage, permission: 'monitor:view' },
  { id: 'alerts', label: 'nav.alerts', icon: '⚠', page: AlertsPage, permission: 'alerts:view' },
  { id: 'backups', label: 'nav.backups', icon: '⛁', page: BackupsPage, permission: 'backup:view' },
  { id: 'access', label: 'nav.access', icon: '⚿', page: AccessPage, permission: 'rbac:view' },
  { id: 'audit', label: 'nav.audit', icon: '☰', page: AuditPage, permission: 'audit:view' },
  { id: 'logs', label: 'nav.logs', icon: '≡', page: LogsPage, permission: 'logs:view' },
  { id: 'system', label: 'nav.system', icon: '◉', page: SystemPage, permission: 'system:view' },
  { id: 'settings', label: 'nav.settings', icon: '⚙', page: SettingsPage, permission: 'config:view' },
];

/** The route a location hash names (`#/alerts`), or the first of `allowed`. */
export function routeFromHash(hash: string, allowed: readonly Route[] = ROUTES): Route | undefined {
  const id = hash.replace(/^#\/?/, '');
  return allowed.find((route) => route.id === id) ?? allowed[0];
}
