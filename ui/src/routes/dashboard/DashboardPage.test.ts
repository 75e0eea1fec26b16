import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import DashboardPage from './DashboardPage.svelte';
import { mockIPC } from '../../lib/ipc/testing';
import { setLanguage } from '../../lib/i18n/index.svelte';
import { session } from '../../lib/session/index.svelte';
import type { QueryInput, SeriesView, TargetView } from '../../lib/ipc';

function app(up: boolean): TargetView {
  return {
    name: 'app',
    kind: 'prometheus',
    url: 'http://127.0.0.1:9464/metrics',
    password: 'none',
    environment: 'production',
    intervalMs: 1000,
    timeoutMs: 1000,
    queries: {},
    version: 1,
    origin: 'store',
    health: {
      up,
      sinceMs: Date.now() - 120_000,
      errorKind: up ? null : 'refused',
      error: up ? null : 'connection refused at 127.0.0.1:9464',
      checkedMs: Date.now(),
      durationMs: 3,
      samples: 100,
      statements: [],
    },
  };
}

function series(name: string, labels: Record<string, string>, value: number): SeriesView {
  const now = Date.now();
  const t = Array.from({ length: 30 }, (_, i) => now - (30 - i) * 1000);
  const values = t.map(() => value);
  return { key: name, name, labels: { target: 'app', ...labels }, tier: 'raw', stepMs: 1000, t, avg: values, min: values, max: values, last: values };
}

let targets: TargetView[] = [];
let p99 = 0.1;
let quickStarts: string[] = [];
let queried: QueryInput[] = [];

beforeEach(() => {
  setLanguage('en');
  session.current = {
    username: 'root',
    displayName: '',
    roles: ['admin'],
    permissions: ['monitor:view', 'monitor:edit'],
    expiresAtMs: Date.now() + 3_600_000,
  } as unknown as typeof session.current;
  targets = [];
  p99 = 0.1;
  quickStarts = [];
  queried = [];
  mockIPC((cmd, args) => {
    if (cmd === 'monitor_targets') return targets;
    if (cmd === 'monitor_quick_start') {
      const what = (args as { input: { what: string } }).input.what;
      quickStarts.push(what);
      targets = [{ ...app(true), name: what === 'demo' ? 'demo-trading-app' : 'this-machine' }];
      return targets[0];
    }
    if (cmd === 'monitor_query') {
      const input = (args as { input: QueryInput }).input;
      queried.push(input);
      if (input.series.startsWith('app_latency_seconds')) {
        return [series('app_latency_seconds', { quantile: '0.5' }, p99 / 3), series('app_latency_seconds', { quantile: '0.99' }, p99)];
      }
      if (input.series.startsWith('app_error_ratio')) return [series('app_error_ratio', {}, 0.001)];
      return [series(input.series.split('{')[0]!, {}, 120)];
    }
    throw new Error(`unexpected ${cmd}`);
  });
});

describe('DashboardPage', () => {
  it('offers to monitor this machine or start the demo when nothing is monitored', async () => {
    render(DashboardPage);
    await screen.findByTestId('monitor-empty');
    await fireEvent.click(screen.getByTestId('quick-demo'));
    await waitFor(() => expect(quickStarts).toEqual(['demo']));
    await screen.findByTestId('target-demo-trading-app');
  });

  it('colours the P99 tile red past its threshold and says which target is down since when', async () => {
    targets = [app(false)];
    p99 = 0.9;
    render(DashboardPage);
    const tile = await screen.findByTestId('stat-app-latency');
    await waitFor(() => expect(tile.dataset.level).toBe('bad'));
    expect(tile.textContent).toContain('900 ms');
    const health = screen.getByTestId('target-app');
    expect(health.dataset.state).toBe('down');
    expect(health.textContent).toContain('Down for 2 min');
    expect(health.textContent).toContain('connection refused');
    expect(screen.getByTestId('attention').textContent).toContain('1 target(s) down');
  });

  it('reads a new range when the picker changes it', async () => {
    targets = [app(true)];
    render(DashboardPage);
    await screen.findByTestId('stat-app-requests');
    await waitFor(() => expect(queried.length).toBeGreaterThan(0));
    const spanOf = (input: QueryInput): number => input.toMs - input.fromMs;
    expect(queried.some((input) => Math.abs(spanOf(input) - (15 * 60_000 + 1000)) < 5)).toBe(true);
    queried = [];
    await fireEvent.click(screen.getByTestId('range-24h'));
    await waitFor(() => expect(queried.some((input) => Math.abs(spanOf(input) - (86_400_000 + 1000)) < 5)).toBe(true));
  });
});
