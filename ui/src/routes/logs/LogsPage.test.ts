import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import LogsPage from './LogsPage.svelte';
import { mockIPC } from '../../lib/ipc/testing';
import { forwardUncaughtErrors, type LogQuery } from '../../lib/ipc';
import { setLanguage } from '../../lib/i18n/index.svelte';

describe('LogsPage', () => {
  it('asks the core for filtered lines and shows a line’s JSON on click', async () => {
    setLanguage('en');
    const queries: LogQuery[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'log_files') return [{ name: 'qcat.log', bytes: 2048, compressed: false, current: true }];
      if (cmd === 'log_lines') {
        queries.push((args as { query: LogQuery }).query);
        return [
          { ts: '2026-11-26T01:00:00Z', level: 'info', target: 'qcat_store', message: 'store opened', json: '{"message":"store opened","spans":[{"name":"open"}]}' },
        ];
      }
      throw new Error(`unexpected ${cmd}`);
    });
    render(LogsPage);
    const line = await screen.findByText('store opened');
    // The first read is of the current file at the default level.
    expect(queries[0]).toMatchObject({ file: 'qcat.log', minLevel: 'info' });
    await fireEvent.click(line);
    expect(screen.getByTestId('log-detail').textContent).toContain('"spans"');
    const level = screen.getByTestId('logs-level') as HTMLSelectElement;
    await fireEvent.change(level, { target: { value: 'error' } });
    expect(queries.at(-1)?.minLevel).toBe('error');
  });

  it('says so when nothing matches', async () => {
    setLanguage('en');
    mockIPC((cmd) => (cmd === 'log_files' ? [] : []));
    render(LogsPage);
    expect((await screen.findByTestId('logs-empty')).textContent).toContain('No log lines');
  });
});

describe('forwardUncaughtErrors', () => {
  it('sends uncaught errors to the core log as errors', async () => {
    const sent: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === 'log_frontend') sent.push((args as { entry: unknown }).entry);
      return null;
    });
    const target = new EventTarget() as unknown as Window;
    forwardUncaughtErrors(target);
    target.dispatchEvent(Object.assign(new Event('error'), { message: 'boom', error: new Error('boom') }));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ level: 'error', message: 'boom' });
  });
});
