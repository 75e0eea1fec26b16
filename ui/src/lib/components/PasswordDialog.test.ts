import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import PasswordDialog from './PasswordDialog.svelte';
import { mockIPC } from '../ipc/testing';
import { setLanguage } from '../i18n/index.svelte';
import type { PasswordInput } from '../ipc';

beforeEach(() => {
  setLanguage('en');
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
    this.open = true;
  };
});

async function fill(current: string, next: string, confirm: string): Promise<void> {
  await fireEvent.input(screen.getByTestId('password-current'), { target: { value: current } });
  await fireEvent.input(screen.getByTestId('password-new'), { target: { value: next } });
  await fireEvent.input(screen.getByTestId('password-confirm'), { target: { value: confirm } });
  await fireEvent.submit(screen.getByTestId('password-submit').closest('form')!);
}

describe('PasswordDialog', () => {
  it('sends the current password with the new one and clears the fields', async () => {
    const sent: PasswordInput[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'change_password') {
        sent.push((args as { input: PasswordInput }).input);
        return null;
      }
      throw new Error(`unexpected ${cmd}`);
    });
    render(PasswordDialog, { username: 'rita', onclose: () => {} });
    await fill('old password 1', 'new password 1', 'new password 1');
    expect(await screen.findByTestId('password-changed')).toBeTruthy();
    expect(sent).toEqual([{ username: 'rita', password: 'new password 1', currentPassword: 'old password 1' }]);
  });

  it('does not call the core when the new password is typed differently twice', async () => {
    mockIPC(() => {
      throw new Error('must not be called');
    });
    render(PasswordDialog, { username: 'rita', onclose: () => {} });
    await fill('old password 1', 'new password 1', 'new password 2');
    expect(screen.getByRole('alert').textContent).toContain('differ');
    expect((screen.getByTestId('password-current') as HTMLInputElement).value).toBe('');
  });
});
