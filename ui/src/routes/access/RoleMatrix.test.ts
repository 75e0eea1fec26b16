import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import RoleMatrix from './RoleMatrix.svelte';
import { mockIPC } from '../../lib/ipc/testing';
import { setLanguage } from '../../lib/i18n/index.svelte';
import { signInForTest } from '../../lib/session/testing';
import type { AccessModel, RoleInput } from '../../lib/ipc';

const model: AccessModel = {
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

  it('grants a permission by saving the role with the grant added', async () => {
    signInForTest(['rbac:view', 'rbac:edit']);
    const saved: RoleInput[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'save_role') {
        saved.push((args as { input: RoleInput }).input);
        return model.roles[1];
      }
      throw new Error(`unexpected ${cmd}`);
    });
    let reloaded = 0;
    render(RoleMatrix, { model, onchange: async () => void (reloaded += 1) });
    await fireEvent.click(screen.getByTestId('cell-operator-backup:restore').querySelector('button')!);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(saved).toEqual([
      { name: 'operator', description: '', grants: ['backup:run', 'backup:restore'], parents: ['viewer'], create: false },
    ]);
    expect(reloaded).toBe(1);
  });
});
