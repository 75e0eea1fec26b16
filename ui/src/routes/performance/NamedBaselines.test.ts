import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import NamedBaselines from './NamedBaselines.svelte';
import { mockIPC } from '../../lib/ipc/testing';
import { setLanguage } from '../../lib/i18n/index.svelte';
import { session } from '../../lib/session/index.svelte';
import type { CaptureInput, CompareInput, ComparisonView, NamedBaselineView } from '../../lib/ipc';

const SUBMIT = 'app_endpoint_latency_seconds{endpoint="/order/submit",quantile="0.99",target="app"}';
const QUOTE = 'app_endpoint_latency_seconds{endpoint="/market/quote",quantile="0.99",target="app"}';

const BASELINE: NamedBaselineView = {
  name: 'before 1.4',
  description: 'a calm week',
  fromMs: Date.now() - 8 * 86_400_000,
  untilMs: Date.now() - 86_400_000,
  selectors: [],
  timeZone: 'Asia/Shanghai',
  series: [],
  seriesCount: 32,
  createdBy: 'root',
  createdMs: Date.now() - 86_400_000,
};

const COMPARISON: ComparisonView = {
  baseline: 'before 1.4',
  baselineFromMs: BASELINE.fromMs,
  baselineUntilMs: BASELINE.untilMs,
  fromMs: Date.now() - 86_400_000,
  untilMs: Date.now(),
  against: null,
  confidence: 0.95,
  significantCount: 1,
  rows: [
    { series: SUBMIT, before: 0.08, now: 0.0976, difference: 0.0176, differenceLow: 0.014, differenceHigh: 0.021, change: 0.22, changeLow: 0.18, changeHigh: 0.26, significant: true, verdict: 'higher', hours: 24, problem: null, beforeHourly: [], nowHourly: [] },
    { series: QUOTE, before: 0.012, now: 0.0121, difference: 0.0001, differenceLow: -0.0002, differenceHigh: 0.0004, change: 0.008, changeLow: -0.015, changeHigh: 0.031, significant: false, verdict: 'unchanged', hours: 24, problem: null, beforeHourly: [], nowHourly: [] },
  ],
};

let captured: CaptureInput[] = [];
let compared: CompareInput[] = [];
let reports: { compare: CompareInput; language: string }[] = [];

beforeEach(() => {
  setLanguage('en');
  session.current = {
    username: 'root',
    displayName: '',
    roles: ['admin'],
    permissions: ['monitor:view', 'monitor:edit'],
    expiresAtMs: Date.now() + 3_600_000,
  } as unknown as typeof session.current;
  captured = [];
  compared = [];
  reports = [];
  mockIPC((cmd, args) => {
    const input = (args as { input?: unknown } | undefined)?.input;
    switch (cmd) {
      case 'baseline_list':
        return captured.length > 0 ? [BASELINE] : [];
      case 'baseline_capture':
        captured.push(input as CaptureInput);
        if ((input as CaptureInput).name === 'taken') throw { code: 'conflict', message: 'a baseline named "taken" exists already' };
        return { ...BASELINE, name: (input as CaptureInput).name };
      case 'baseline_compare':
        compared.push(input as CompareInput);
        return COMPARISON;
      case 'baseline_report':
        reports.push(input as { compare: CompareInput; language: string });
        return { path: '/data/exports/qcat-baseline-2026.html', bytes: 1234, charts: 4 };
      default:
        throw new Error(`unexpected command ${cmd}`);
    }
  });
});

describe('named baselines', () => {
  it('capture, compare and report: the regressed endpoint is flagged, the other is not', async () => {
    render(NamedBaselines, { tick: 0 });
    await screen.findByTestId('baselines-empty');
    await fireEvent.click(screen.getByTestId('capture-open'));
    // A name already taken is refused by the core and its message shown, the form kept.
    await fireEvent.input(screen.getByTestId('capture-name'), { target: { value: 'taken' } });
    await fireEvent.click(screen.getByTestId('capture-save'));
    expect((await screen.findByTestId('capture-error')).textContent).toContain('exists already');
    captured = [];
    await fireEvent.input(screen.getByTestId('capture-name'), { target: { value: 'before 1.4' } });
    await fireEvent.click(screen.getByTestId('capture-save'));
    await screen.findByTestId('baseline-list');
    // An empty selector box means the default series (the core fills them in).
    expect(captured[0]?.series).toEqual([]);
    expect(captured[0]!.untilMs - captured[0]!.fromMs).toBeGreaterThan(6 * 86_400_000);

    await screen.findByTestId('compare');
    await fireEvent.click(screen.getByTestId('compare-1h'));
    await fireEvent.click(screen.getByTestId('compare-run'));
    const rows = await screen.findAllByTestId('compare-row');
    expect(compared[0]?.name).toBe('before 1.4');
    expect(compared[0]!.untilMs! - compared[0]!.sinceMs!).toBe(3_600_000);
    expect(rows[0]?.dataset.significant).toBe('yes');
    expect(rows[0]?.textContent).toContain('/order/submit');
    expect(rows[0]?.textContent).toContain('+22.0 %');
    expect(rows[1]?.dataset.significant).toBe('no');
    expect(screen.getByTestId('compare-summary').textContent).toContain('1 of 2');

    await fireEvent.click(screen.getByTestId('report-export'));
    await waitFor(() => expect(screen.getByTestId('report-path').textContent).toContain('/data/exports/'));
    // The report is written in the window's language.
    expect(reports[0]?.language).toBe('en');
  });
});
