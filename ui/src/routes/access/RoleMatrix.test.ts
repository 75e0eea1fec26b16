import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import RoleMatrix from './RoleMatrix.svelte';
import { mockIPC } from '../../lib/ipc/testing';
import { setLanguage } from '../../lib/i18n/index.svelte';
import { signInForTest } from '../../lib/session/testing';
import type { AccessModel } from '../../lib/ipc';

const model: AccessModel = {
  version: 7,
  permissions: ['monitor:view', 'backup:run', 'backup:restore'].map((name) => ({
    name,
    resource: name.split(':')[0]!,
    action: name.split(':')[1]!,
    summary: name,
  })),
  roles: [
    { name: 'admin', description: '', builtin: true, grants: ['*'], parents: [], direct: ['monitor:view', 'backup:run', 'backup:restore'], inherited: [] },
    { name: 'operator', description: '', builtin: true, grants: ['backup:run'], parents: ['viewer'], direct: ['backup:run'], inherited: ['monitor:view'] },
    { name: 'viewer', description: '', builtin: true, grants: ['monitor:view'], parents: [], direct: ['monitor:view'], inherited: [] },
  ],
  users: [],
};

beforeEach(() => setLanguage('en'));

describe('RoleMatrix', () => {
  it('tells direct, inherited and wildcard grants apart', () => {
    signInForTest(['rbac:view']);
    mockIPC(() => null);
    render(RoleMatrix, { model, onchange: async () => {} });
    expect(screen.getByTestId('cell-operator-backup:run').dataset.state).toBe('direct');
    expect(screen.getByTestId('cell-operator-monitor:view').dataset.state).toBe('inherited');
    expect(screen.getByTestId('cell-operator-backup:restore').dataset.state).toBe('none');
    // admin's permissions come from the `*` pattern, named in the tooltip.
    expect(screen.getByTestId('cell-admin-backup:restore').title).toContain('*');
    // Without rbac:edit nothing is clickable and there is no create form.
    expect(screen.getByTestId('cell-operator-backup:restore').querySelector('button')).toBeNull();
    expect(screen.queryByTestId('role-create')).toBeNull();
  });

  it('grants a permission by sending that one change with the version it shows', async () => {
    // Sending the whole grant list would undo a grant made meanwhile in another console.
    signInForTest(['rbac:view', 'rbac:edit']);
    const sent: unknown[] = [];
    let release: () => void = () => {};
    mockIPC(async (cmd, args) => {
      if (cmd === 'edit_role') {
        sent.push(args);
        await new Promise<void>((resolve) => (release = resolve));
        return model.roles[1];
      }
      throw new Error(`unexpected ${cmd}`);
    });
    let reloaded = 0;
    render(RoleMatrix, { model, onchange: async () => void (reloaded += 1) });
    const button = screen.getByTestId('cell-operator-backup:restore').querySelector('button')!;
    await fireEvent.click(button);
    // In flight: the controls are disabled and a second click sends nothing.
    expect(button.disabled).toBe(true);
    await fireEvent.click(screen.getByTestId('cell-operator-monitor:view').querySelector('button')!);
    release();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(sent).toEqual([{ role: 'operator', change: { kind: 'grant', value: 'backup:restore' }, seenVersion: 7 }]);
    expect(reloaded).toBe(1);
  });

  it('shows a conflict and reloads when the view was stale', async () => {
    signInForTest(['rbac:view', 'rbac:edit']);
    mockIPC((cmd) => {
      if (cmd === 'edit_role') throw { code: 'conflict', message: 'users or roles were changed since this view was loaded' };
      throw new Error(`unexpected ${cmd}`);
    });
    let reloaded = 0;
    render(RoleMatrix, { model, onchange: async () => void (reloaded += 1) });
    await fireEvent.click(screen.getByTestId('cell-viewer-backup:run').querySelector('button')!);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(screen.getByTestId('role-error').textContent).toContain('changed since this view was loaded');
    expect(reloaded).toBe(1);
  });
});
