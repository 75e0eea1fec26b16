import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import BackupPolicy from './BackupPolicy.svelte';
import BackupsPage from './BackupsPage.svelte';
import { mockIPC } from '../../lib/ipc/testing';
import { setLanguage } from '../../lib/i18n/index.svelte';
import { session } from '../../lib/session/index.svelte';
import type { BackupPolicyInput, BackupPolicyView, BackupView } from '../../lib/ipc';

const POLICY: BackupPolicyView = {
  sources: ['orders-db'],
  keepFull: 7,
  keepAge: '0s',
  verifyBudget: '10m',
  rto: '30m',
  schedules: [
    { kind: 'full', spec: '0 2 * * 0', nextMs: Date.UTC(2026, 11, 6, 2), lastEndedMs: null, lastResult: null, lastError: null },
    { kind: 'diff', spec: '', nextMs: null, lastEndedMs: null, lastResult: null, lastError: null },
    { kind: 'incr', spec: '', nextMs: null, lastEndedMs: null, lastResult: null, lastError: null },
    { kind: 'verify', spec: '', nextMs: null, lastEndedMs: null, lastResult: 'failed', lastError: 'pack damaged' },
    { kind: 'drill', spec: '', nextMs: null, lastEndedMs: null, lastResult: null, lastError: null },
  ],
  timeZone: 'Asia/Shanghai',
  locked: [{ key: 'backup.rto', variable: 'QCAT_BACKUP__RTO' }],
  file: '/root/.config/qcat/config.toml',
};

function as(permissions: string[]): void {
  session.current = {
    username: 'rita',
    displayName: '',
    roles: ['ops'],
    permissions,
    expiresAtMs: Date.now() + 3_600_000,
  } as unknown as typeof session.current;
}

let saved: BackupPolicyInput[] = [];

beforeEach(() => {
  setLanguage('en');
  saved = [];
  mockIPC((cmd, args) => {
    const input = (args as { input?: unknown } | undefined)?.input;
    switch (cmd) {
      case 'backup_policy':
        return POLICY;
      case 'backup_policy_save': {
        const asked = input as BackupPolicyInput;
        saved.push(asked);
        if (asked.scheduleIncr === 'every day') {
          throw { code: 'invalid_input', message: 'backup.schedule_incr = "every day" would make the configuration invalid: backup.schedule_incr: not a cron expression' };
        }
        return { ...POLICY, keepFull: asked.keepFull, sources: asked.sources };
      }
      default:
        return null;
    }
  });
});

describe('the backup policy editor', () => {
  it('saves every field in one call and shows the core’s error naming the field', async () => {
    as(['backup:view', 'backup:edit']);
    render(BackupPolicy, { sources: ['orders-db', 'quotes-cache', 'files'] });
    const keep = (await screen.findByTestId('policy-keep-full')) as HTMLInputElement;
    expect(keep.value, 'the form starts from the policy in force').toBe('7');
    await fireEvent.input(keep, { target: { value: '4' } });
    await fireEvent.click(screen.getByTestId('policy-source-quotes-cache'));
    await fireEvent.input(screen.getByTestId('policy-schedule-incr'), { target: { value: '0 2 * * 1-6' } });
    await fireEvent.click(screen.getByTestId('policy-save'));
    await screen.findByTestId('policy-saved');
    expect(saved, 'one save carries the whole policy, so the core checks it as one').toHaveLength(1);
    expect(saved[0]).toMatchObject({ keepFull: 4, sources: ['orders-db', 'quotes-cache'], scheduleFull: '0 2 * * 0', scheduleIncr: '0 2 * * 1-6', rto: '30m' });

    await fireEvent.input(screen.getByTestId('policy-schedule-incr'), { target: { value: 'every day' } });
    await fireEvent.click(screen.getByTestId('policy-save'));
    const error = await screen.findByTestId('policy-error');
    expect(error.textContent, 'the refusal names the key and why').toContain('backup.schedule_incr');
  });

  it('shows next runs and failures, locks what the environment sets, and is read-only without backup:edit', async () => {
    as(['backup:view']);
    render(BackupPolicy, { sources: ['orders-db'] });
    await screen.findByTestId('policy-keep-full');
    expect(screen.getByTestId('policy-next-full').textContent, 'a scheduled run shows when it is due').not.toContain('not scheduled');
    expect(screen.getByTestId('policy-next-diff').textContent).toContain('not scheduled');
    expect((screen.getByTestId('policy-rto') as HTMLInputElement).disabled, 'a key set by the environment cannot be edited here').toBe(true);
    expect(screen.getByText(/QCAT_BACKUP__RTO/), 'and the variable that locks it is named').toBeTruthy();
    expect(screen.queryByTestId('policy-save'), 'no save without backup:edit (the core refuses it too)').toBeNull();
    expect(screen.getByTestId('policy-keep-full').matches(':disabled'), 'every field is read-only then').toBe(true);
  });
});

const FULL: BackupView = {
  id: '20261201T020000Z-aaaaaa',
  label: 'scheduled full',
  kind: 'full',
  parent: null,
  full: '20261201T020000Z-aaaaaa',
  startedMs: Date.UTC(2026, 11, 1, 2),
  finishedMs: Date.UTC(2026, 11, 1, 2, 5),
  sources: [{ name: 'orders-db', kind: 'postgres', environment: 'production', location: 'postgres://db/orders', database: 'orders', serverVersion: '15.18', bytes: 10, tables: 2, rows: 30 }],
  logicalBytes: 1000,
  storedBytes: 200,
  dedupRatio: 5,
};
const INCR: BackupView = { ...FULL, id: '20261202T020000Z-bbbbbb', kind: 'incr', parent: FULL.id, startedMs: Date.UTC(2026, 11, 2, 2), finishedMs: Date.UTC(2026, 11, 2, 2, 1), storedBytes: 20 };

describe('the recovery points', () => {
  it('draws each backup on its source’s timeline and opens its chain and verify state', async () => {
    as(['backup:view']);
    mockIPC((cmd, args) => {
      const id = ((args as { input?: { id?: string } } | undefined)?.input ?? {}).id;
      switch (cmd) {
        case 'backup_list':
          return [INCR, FULL];
        case 'backup_show':
          return {
            ...(id === INCR.id ? INCR : FULL),
            detail: {
              chain: id === INCR.id ? [FULL.id, INCR.id] : [FULL.id],
              dependents: id === INCR.id ? [] : [INCR.id],
              host: 'desk-1',
              consoleVersion: '0.1.0',
              chunks: 12,
              newChunks: 3,
              packs: 2,
              unverifiedPacks: id === INCR.id ? 1 : 0,
              verifiedMs: id === INCR.id ? null : Date.UTC(2026, 11, 1, 4),
              tables: [{ source: 'orders-db', schema: 'public', name: 'orders', rows: 20 }],
            },
          };
        default:
          return null;
      }
    });
    render(BackupsPage);
    const mark = await screen.findByTestId(`timeline-orders-db-${INCR.id}`);
    expect(screen.getByTestId(`timeline-orders-db-${FULL.id}`), 'both backups of the source are on its row').toBeTruthy();
    await fireEvent.click(mark);
    const chain = await screen.findByTestId('backup-chain');
    await waitFor(() => expect(chain.textContent, 'an incremental’s chain starts at its full').toContain(FULL.id));
    expect(screen.getByTestId('backup-verified').dataset.unverified, 'a pack never verified is counted, not hidden').toBe('1');
    // Following the chain opens the full, whose packs are all verified.
    await fireEvent.click(screen.getByRole('button', { name: FULL.id }));
    await waitFor(() => expect(screen.getByTestId('backup-verified').dataset.unverified).toBe('0'));
    expect(screen.getByTestId('backup-detail').textContent, 'the full lists what builds on it').toContain(INCR.id);
  });
});
