import { beforeEach, describe, expect, it } from 'vitest';
import { signInForTest } from '../../lib/session/testing';
import { fireEvent, render, screen } from '@testing-library/svelte';
import NamedSecrets from './NamedSecrets.svelte';
import { mockIPC } from '../../lib/ipc/testing';
import { setLanguage } from '../../lib/i18n/index.svelte';

beforeEach(() => signInForTest(['config:view', 'secrets:write']));

describe('NamedSecrets', () => {
  it('sends the value once, clears the field and lists only names', async () => {
    setLanguage('en');
    const stored: Record<string, string> = {};
    mockIPC((cmd, args) => {
      if (cmd === 'named_secrets') return Object.keys(stored);
      if (cmd === 'set_named_secret') {
        const { input } = args as { input: { name: string; value: string } };
        stored[input.name] = input.value;
        return null;
      }
      throw new Error(`unexpected ${cmd}`);
    });
    render(NamedSecrets);
    await fireEvent.input(screen.getByTestId('secret-name'), { target: { value: 'smtp_password' } });
    const field = screen.getByTestId('secret-value') as HTMLInputElement;
    await fireEvent.input(field, { target: { value: 'hunter2' } });
    await fireEvent.submit(field.form!);
    expect((await screen.findByTestId('secret-stored')).textContent).toContain('secret:smtp_password');
    expect(stored.smtp_password).toBe('hunter2');
    // The value is gone from the page once stored; only the name is listed.
    expect(field.value).toBe('');
    expect((await screen.findByTestId('secret-names')).textContent).toContain('secret:smtp_password');
    expect(document.body.textContent).not.toContain('hunter2');
  });
});
