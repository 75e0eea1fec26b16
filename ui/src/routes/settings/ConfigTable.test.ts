import { beforeEach, describe, expect, it } from 'vitest';
import { signInForTest } from '../../lib/session/testing';
import { fireEvent, render, screen } from '@testing-library/svelte';
import ConfigTable from './ConfigTable.svelte';
import { mockIPC } from '../../lib/ipc/testing';
import { setLanguage } from '../../lib/i18n/index.svelte';
import type { ConfigView } from '../../lib/ipc';

const view: ConfigView = {
  settings: [
    {
      key: 'database.password',
      section: 'database',
      value: '<redacted>',
      secret: true,
      origin: { layer: 'environment', file: null, line: null, variable: 'QCAT_DATABASE_PASSWORD', description: 'environment variable QCAT_DATABASE_PASSWORD' },
      shadowed: [
        { value: '', origin: { layer: 'defaults', file: 'config/default.toml', line: 30, variable: null, description: 'defaults at config/default.toml:30' } },
      ],
    },
    {
      key: 'logging.level',
      section: 'logging',
      value: 'warn',
      secret: false,
      origin: { layer: 'file', file: '/etc/qcat.toml', line: 2, variable: null, description: 'config file at /etc/qcat.toml:2' },
      shadowed: [],
    },
  ],
  warnings: [],
};

beforeEach(() => signInForTest(['config:view', 'config:edit']));

describe('ConfigTable', () => {
  it('shows each key with its layer and what it overrides', async () => {
    setLanguage('en');
    mockIPC((cmd) => {
      if (cmd === 'config_settings') return view;
      throw new Error(`unexpected ${cmd}`);
    });
    render(ConfigTable);
    expect((await screen.findByTestId('config-layer-logging.level')).textContent).toContain('config file');
    expect(screen.getByTestId('config-row-logging.level').textContent).toContain('/etc/qcat.toml:2');
    // The core masks secrets; the table shows the masked value it was given.
    expect(screen.getByTestId('config-row-database.password').textContent).toContain('<redacted>');
    await fireEvent.click(screen.getByText('overrides 1'));
    expect(screen.getByTestId('config-row-database.password').textContent).toContain('config/default.toml:30');
  });

  it('filters by section', async () => {
    setLanguage('en');
    mockIPC(() => view);
    render(ConfigTable);
    const select = (await screen.findByTestId('config-section')) as HTMLSelectElement;
    await fireEvent.change(select, { target: { value: 'logging' } });
    expect(screen.queryByTestId('config-row-database.password')).toBeNull();
    expect(screen.getByTestId('config-row-logging.level')).toBeTruthy();
  });
});

describe('ConfigTable editing', () => {
  it('saves through the core and shows where it went', async () => {
    setLanguage('en');
    const calls: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'config_settings') return view;
      if (cmd === 'set_setting') {
        calls.push(args);
        return { key: 'logging.level', before: 'warn', after: 'error', file: '/etc/qcat.toml', restartRequired: true };
      }
      throw new Error(`unexpected ${cmd}`);
    });
    render(ConfigTable);
    await fireEvent.click(await screen.findByTestId('config-editbtn-logging.level'));
    const input = screen.getByTestId('config-edit-logging.level') as HTMLInputElement;
    expect(input.value).toBe('warn');
    await fireEvent.input(input, { target: { value: 'error' } });
    await fireEvent.click(screen.getByTestId('config-save-logging.level'));
    expect((await screen.findByTestId('config-saved')).textContent).toContain('/etc/qcat.toml');
    expect(calls).toEqual([{ key: 'logging.level', value: 'error' }]);
    // Secrets have no edit button: they are set as named secrets.
    expect(screen.queryByTestId('config-editbtn-database.password')).toBeNull();
  });

  it('offers no editing to a user without config:edit', async () => {
    setLanguage('en');
    signInForTest(['config:view']);
    mockIPC((cmd) => {
      if (cmd === 'config_settings') return view;
      throw new Error(`unexpected ${cmd}`);
    });
    render(ConfigTable);
    await screen.findByText('logging.level');
    expect(screen.queryByTestId('config-editbtn-logging.level')).toBeNull();
  });
});
