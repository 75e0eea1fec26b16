import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import RoutingTab from './RoutingTab.svelte';
import RulesTab from './RulesTab.svelte';
import SilencesTab from './SilencesTab.svelte';
import DeliveriesTab from './DeliveriesTab.svelte';
import { mockIPC } from '../../lib/ipc/testing';
import { signInForTest } from '../../lib/session/testing';
import { setLanguage } from '../../lib/i18n/index.svelte';
import type { RoutingView, RuleSpec, SilenceInput } from '../../lib/ipc';

const ROUTING: RoutingView = {
  yaml: 'route:\n  receiver: desk\nreceivers:\n  - name: desk\n    dingtalk_configs:\n      - webhook_url: secret:alert.desk.dingtalk.0.webhook_url\n',
  version: 3,
  updatedBy: 'root',
  updatedMs: Date.now(),
  receivers: [{ name: 'desk', integrations: [{ id: 'dingtalk_configs[0]', kind: 'dingtalk', sendResolved: true }], fallback: 'pager' }],
  problems: [],
};

let calls: Array<{ cmd: string; args: unknown }> = [];

beforeEach(() => {
  setLanguage('en');
  signInForTest(['alerts:view', 'alerts:edit', 'alerts:silence']);
  calls = [];
});

describe('the routing screen', () => {
  beforeEach(() => {
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      switch (cmd) {
        case 'alert_routing':
          return ROUTING;
        case 'alert_routing_save':
          return { ...ROUTING, version: 4 };
        case 'alert_route_preview':
          return [
            {
              receiver: 'desk', route: 'route', groupBy: ['alertname'], groupWaitS: 30, groupIntervalS: 300,
              repeatIntervalS: 14400, inhibited: false,
              messages: [{ integration: 'dingtalk_configs[0]', kind: 'dingtalk', title: '[FIRING:1] HighErrorRate', body: '### rendered markdown', html: null, error: null }],
            },
          ];
        case 'alert_test_send':
          return [{ integration: 'dingtalk_configs[0]', kind: 'dingtalk', ok: false, error: 'DingTalk refused the message (errcode 310000): sign not match', durationMs: 12 }];
        default:
          throw new Error(`unexpected ${cmd}`);
      }
    });
  });

  it('simulates an alert with its labels and shows each message as the channel will', async () => {
    render(RoutingTab, { tick: 0 });
    await screen.findByText('desk');
    await fireEvent.input(screen.getByTestId('simulate-labels'), { target: { value: 'alertname=Down severity="critical"' } });
    await fireEvent.click(screen.getByTestId('simulate-run'));
    expect(await screen.findByText('[FIRING:1] HighErrorRate')).toBeTruthy();
    expect(screen.getByText('### rendered markdown')).toBeTruthy();
    const preview = calls.find((c) => c.cmd === 'alert_route_preview')?.args as { input: { labels: Record<string, string>; yaml: string | null } };
    // Quotes are the user's, not part of the value; the stored routing is used (no edits).
    expect(preview.input.labels).toEqual({ alertname: 'Down', severity: 'critical' });
    expect(preview.input.yaml).toBeNull();
  });

  it('sends a test and shows the service refusing it, in its own words', async () => {
    render(RoutingTab, { tick: 0 });
    await fireEvent.click(await screen.findByTestId('receiver-send'));
    const result = await screen.findByTestId('receiver-send-result');
    expect(result.dataset.ok).toBe('false');
    expect(result.textContent).toContain('sign not match');
  });

  it('saves the edited text against the version it opened', async () => {
    render(RoutingTab, { tick: 0 });
    const area = (await screen.findByTestId('routing-yaml')) as HTMLTextAreaElement;
    await waitFor(() => expect(area.value).toContain('receiver: desk'));
    await fireEvent.input(area, { target: { value: `${ROUTING.yaml}# edited\n` } });
    await fireEvent.click(screen.getByTestId('routing-save'));
    await screen.findByTestId('routing-saved');
    const saved = calls.find((c) => c.cmd === 'alert_routing_save')?.args as { input: { yaml: string; seenVersion: number } };
    expect(saved.input.seenVersion).toBe(3);
    expect(saved.input.yaml.endsWith('# edited\n')).toBe(true);
  });
});

describe('the rule editor', () => {
  it('previews the rule as typed and names a refused field', async () => {
    let saved: RuleSpec | null = null;
    mockIPC((cmd, args) => {
      const input = (args as { input?: { rule?: RuleSpec } }).input;
      switch (cmd) {
        case 'alert_rules':
          return [];
        case 'alert_rule_preview':
          return {
            fromMs: Date.now() - 86_400_000, toMs: Date.now(), matched: 1, totalFirings: 2, note: null,
            series: [{ series: 'app_error_ratio{target="demo"}', points: [[Date.now() - 3_600_000, 0.01], [Date.now() - 60_000, 0.2]], firings: [{ startMs: Date.now() - 120_000, endMs: null }] }],
          };
        case 'alert_rule_save':
          saved = input?.rule ?? null;
          throw { code: 'invalid_input', message: 'series: "app_error_ratio{": a selector closes its braces' };
        default:
          throw new Error(`unexpected ${cmd}`);
      }
    });
    render(RulesTab, { tick: 0 });
    await fireEvent.click(await screen.findByTestId('rule-new'));
    await fireEvent.input(screen.getByTestId('rule-name'), { target: { value: 'HighErrorRate' } });
    await fireEvent.input(screen.getByTestId('rule-series'), { target: { value: 'app_error_ratio{' } });
    await fireEvent.input(screen.getByTestId('rule-value'), { target: { value: '0.05' } });
    await fireEvent.input(screen.getByTestId('rule-summary'), { target: { value: 'errors {{ value }}' } });
    await fireEvent.click(screen.getByTestId('rule-preview'));
    const result = await screen.findByTestId('rule-preview-result');
    expect(result.dataset.firings).toBe('2');
    expect(result.textContent).toContain('2 time(s) across 1 series');
    await fireEvent.click(screen.getByTestId('rule-save'));
    expect((await screen.findByTestId('rule-error')).textContent).toContain('series:');
    // What was sent: the typed fields, the value as a number, the summary as an annotation.
    expect(saved).toMatchObject({ name: 'HighErrorRate', kind: 'threshold', value: 0.05, annotations: { summary: 'errors {{ value }}' } });
  });
});

describe('silences and deliveries', () => {
  it('adds a silence for the chosen length and lists it', async () => {
    let added: SilenceInput | null = null;
    mockIPC((cmd, args) => {
      if (cmd === 'alert_silences') {
        return added ? [{ id: 's1', matchers: '{alertname="DiskFull"}', startsMs: Date.now(), endsMs: added.endsMs, createdBy: 'tester', comment: added.comment, state: 'active' }] : [];
      }
      if (cmd === 'alert_silence_add') {
        added = (args as { input: SilenceInput }).input;
        return { id: 's1', matchers: added.matchers, startsMs: Date.now(), endsMs: added.endsMs, createdBy: 'tester', comment: added.comment, state: 'active' };
      }
      throw new Error(`unexpected ${cmd}`);
    });
    render(SilencesTab, { tick: 0 });
    await fireEvent.input(await screen.findByTestId('silence-matchers'), { target: { value: 'alertname="DiskFull"' } });
    await fireEvent.input(screen.getByTestId('silence-comment'), { target: { value: 'disk swap' } });
    await fireEvent.click(screen.getByTestId('silence-add'));
    const row = await screen.findByTestId('silence-row');
    expect(row.dataset.state).toBe('active');
    expect(row.textContent).toContain('disk swap');
    // One hour by default.
    expect(Math.abs((added!.endsMs - Date.now()) - 3_600_000)).toBeLessThan(5_000);
  });

  it('offers retry now only for dead letters', async () => {
    const retried: string[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'alert_deliveries') {
        return {
          channels: [{ receiver: 'desk', integration: 'dingtalk_configs[0]', sent: 3, queued: 0, failing: 0, dead: 1, latencyP50S: 0.004, latencyP99S: 0.02 }],
          entries: [
            { key: 'k-sent', receiver: 'desk', integration: 'dingtalk_configs[0]', state: 'sent', attempts: 1, dueMs: 0, createdMs: Date.now(), sentMs: Date.now(), lastError: null, status: 'firing', alerts: ['Down'], fallbackOf: null },
            { key: 'k-dead', receiver: 'desk', integration: 'dingtalk_configs[0]', state: 'dead', attempts: 4, dueMs: 0, createdMs: Date.now(), sentMs: null, lastError: 'HTTP 503', status: 'firing', alerts: ['Down'], fallbackOf: null },
          ],
        };
      }
      if (cmd === 'alert_delivery_retry') {
        retried.push((args as { input: { key: string } }).input.key);
        return null;
      }
      throw new Error(`unexpected ${cmd}`);
    });
    render(DeliveriesTab, { tick: 0 });
    const buttons = await screen.findAllByTestId('delivery-retry');
    expect(buttons).toHaveLength(1);
    await fireEvent.click(buttons[0]!);
    await waitFor(() => expect(retried).toEqual(['k-dead']));
    expect(screen.getByTestId('delivery-channel').textContent).toContain('4 ms');
  });
});
