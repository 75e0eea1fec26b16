import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import ConfirmDialog from './ConfirmDialog.svelte';
import { setLanguage } from '../i18n/index.svelte';

beforeEach(() => {
  setLanguage('en');
  // jsdom lacks showModal; the dialog only needs to be open.
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
    this.open = true;
  };
});

describe('ConfirmDialog', () => {
  it('arms only when the exact word is typed, and confirms once', async () => {
    let confirmed = 0;
    render(ConfirmDialog, {
      message: 'Disable rita?',
      word: 'rita',
      onconfirm: () => (confirmed += 1),
      oncancel: () => {},
    });
    const ok = screen.getByTestId('confirm-ok') as HTMLButtonElement;
    expect(ok.disabled).toBe(true);
    await fireEvent.input(screen.getByTestId('confirm-input'), { target: { value: 'Rita' } });
    expect(ok.disabled, 'case matters: a near miss does not arm it').toBe(true);
    await fireEvent.input(screen.getByTestId('confirm-input'), { target: { value: 'rita' } });
    expect(ok.disabled).toBe(false);
    await fireEvent.click(ok);
    expect(confirmed).toBe(1);
  });
});
