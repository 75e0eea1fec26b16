import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import BackupsPage from './BackupsPage.svelte';
import { emit, mockIPC } from '../../lib/ipc/testing';
import { setLanguage } from '../../lib/i18n/index.svelte';
import { session } from '../../lib/session/index.svelte';
import type { BackupRestoreInput, BackupView, JobView, TargetView } from '../../lib/ipc';

const BACKUP: BackupView = {
  id: '20261202T054031Z-a1b2c3',
  label: 'nightly',
  kind: 'full',
  parent: null,
  full: '20261202T054031Z-a1b2c3',
  startedMs: Date.now() - 60_000,
  finishedMs: Date.now() - 50_000,
  sources: [
    { name: 'orders-db', kind: 'postgres', environment: 'production', location: 'postgres://db:5432/orders', database: 'orders', serverVersion: '15.18', bytes: 1 << 20, tables: 3, rows: 25_000 },
  ],
  logicalBytes: 1 << 20,
  storedBytes: 1 << 18,
  dedupRatio: 4,
};

const TARGET = { name: 'orders-db', kind: 'postgres', environment: 'production' } as unknown as TargetView;

function job(id: string, state: JobView['state'], result: unknown = null, done = 0): JobView {
  return { id, kind: 'backup.restore', state, actor: 'root', member: 'm', startedMs: 0, endedMs: null, done, total: 100, unit: 'bytes', phase: 'pg_restore', rateUnitsPerSec: 10, etaMs: 1000, result, error: state === 'failed' ? 'broke' : null } as unknown as JobView;
}

let restores: BackupRestoreInput[] = [];
let damaged = false;

beforeEach(() => {
  setLanguage('en');
  session.current = {
    username: 'root',
    displayName: '',
    roles: ['admin'],
    permissions: ['backup:view', 'backup:run', 'backup:restore', 'monitor:view'],
    expiresAtMs: Date.now() + 3_600_000,
  } as unknown as typeof session.current;
  restores = [];
  damaged = false;
  mockIPC((cmd, args) => {
    const input = (args as { input?: unknown } | undefined)?.input;
    switch (cmd) {
      case 'backup_list':
        return [BACKUP];
      case 'monitor_targets':
        return [TARGET];
      case 'backup_verify':
        queueMicrotask(() => void emit('jobs://progress', [{ topic: 'jobs://progress', job: job('v1', 'succeeded', { chunks: 12, damaged: damaged ? [{ chunk: 'ab'.repeat(32), pack: 'cd'.repeat(16), why: 'does not authenticate', backups: [BACKUP.id] }] : [] }) }]));
        return { id: 'v1' };
      case 'backup_restore_plan':
        return {
          id: BACKUP.id,
          source: 'orders-db',
          location: 'postgres://db:5432/orders_copy',
          database: 'orders_copy',
          action: 'create',
          environment: 'production',
          confirmation: 'orders_copy',
          bytesNeeded: 1 << 20,
          tables: 3,
          rows: 25_000,
          halfRestored: null,
        };
      case 'backup_restore':
        restores.push(input as BackupRestoreInput);
        queueMicrotask(() => {
          void emit('jobs://progress', [{ topic: 'jobs://progress', job: job('r1', 'running', null, 40) }]);
          setTimeout(() => void emit('jobs://progress', [{ topic: 'jobs://progress', job: job('r1', 'succeeded', { passed: true, mismatches: 0, safetyBackup: null, tables: [{ schema: 'public', name: 'orders', expected: 20000, found: 20000 }] }) }]), 30);
        });
        return { id: 'r1' };
      default:
        return null;
    }
  }, { shouldMockEvents: true });
});

describe('the backups page and the restore wizard', () => {
  it('lists recovery points with their sources, sizes and ratio', async () => {
    render(BackupsPage);
    const row = await screen.findByTestId(`backup-${BACKUP.id}`);
    // What an operator decides by: the type, the source and its size, the dedup ratio.
    expect(row.textContent).toContain('Full');
    expect(row.textContent).toContain('orders-db');
    expect(row.textContent).toContain('4.0×');
  });

  it('verifies first, then needs the exact database name typed for a production target', async () => {
    render(BackupsPage);
    await fireEvent.click(await screen.findByTestId(`restore-${BACKUP.id}`));
    await fireEvent.click(screen.getByTestId('restore-verify'));
    const destination = await screen.findByTestId('restore-destination');
    await fireEvent.input(destination, { target: { value: 'postgres://db:5432/orders_copy' } });
    await fireEvent.click(screen.getByTestId('restore-preview'));
    const plan = await screen.findByTestId('restore-plan');
    expect(plan.dataset.action).toBe('create');
    const start = screen.getByTestId('restore-start') as HTMLButtonElement;
    // A wrong name keeps the button disabled; the core refuses it as well.
    await fireEvent.input(screen.getByTestId('restore-confirm'), { target: { value: 'orders' } });
    expect(start.disabled).toBe(true);
    await fireEvent.input(screen.getByTestId('restore-confirm'), { target: { value: 'orders_copy' } });
    expect(start.disabled).toBe(false);
    await fireEvent.click(start);
    const result = await screen.findByTestId('restore-result');
    expect(result.dataset.passed).toBe('true');
    // The typed name travels to the core, which checks it again.
    expect(restores).toEqual([{ id: BACKUP.id, source: 'orders-db', destination: 'postgres://db:5432/orders_copy', confirm: 'orders_copy', jobs: null }]);
  });

  it('stops at the first step when the recovery point is damaged', async () => {
    damaged = true;
    render(BackupsPage);
    await fireEvent.click(await screen.findByTestId(`restore-${BACKUP.id}`));
    await fireEvent.click(screen.getByTestId('restore-verify'));
    await waitFor(() => expect(screen.getByTestId('restore-wizard').dataset.step).toBe('verify'));
    expect(await screen.findByText(/damaged and cannot be restored/)).toBeTruthy();
    expect(screen.queryByTestId('restore-destination')).toBeNull();
  });
});
