import { beforeEach, describe, expect, it } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import AuditPage from './AuditPage.svelte';
import { mockIPC } from '../../lib/ipc/testing';
import { setLanguage } from '../../lib/i18n/index.svelte';
import type { AuditEntryView, AuditQuery } from '../../lib/ipc';

const TOTAL = 150_000;

function entry(seq: number): AuditEntryView {
  return {
    seq,
    atMs: 1_764_000_000_000 + seq,
    actor: 'root',
    action: seq % 2 ? 'rbac.role.update' : 'auth.login',
    target: `role:r${seq}`,
    source: 'desktop:test',
    outcome: 'ok',
    detail: '',
    before: seq % 2 ? '{"grants":["backup:view"]}' : null,
    after: seq % 2 ? '{"grants":["backup:view","backup:restore"]}' : null,
    hash: 'ab'.repeat(32),
  };
}

let queries: AuditQuery[] = [];

beforeEach(() => {
  setLanguage('en');
  queries = [];
  // A core holding 150 000 entries with contiguous sequence numbers.
  mockIPC((cmd, args) => {
    if (cmd === 'audit_count') return TOTAL;
    if (cmd === 'audit_page') {
      const query = (args as { query: AuditQuery }).query;
      queries.push(query);
      const top = (query.beforeSeq ?? TOTAL + 1) - 1;
      const limit = query.limit ?? 200;
      return Array.from({ length: Math.min(limit, top) }, (_, i) => entry(top - i));
    }
    throw new Error(`unexpected ${cmd}`);
  });
});

describe('AuditPage', () => {
  it('draws only the visible rows of 150 000 and jumps by keyset when scrolled far', async () => {
    render(AuditPage);
    await screen.findByTestId(`audit-row-${TOTAL}`);
    expect(screen.getByTestId('audit-total').textContent).toContain('150000');
    // A handful of row elements, not 150 000.
    expect(screen.getAllByRole('button').filter((b) => b.classList.contains('row')).length).toBeLessThan(50);
    // Scrolling to row 100 000 asks for exactly the page holding it, by sequence number,
    // without fetching the 500 pages before it.
    const list = screen.getByTestId('audit-list');
    list.scrollTop = 100_000 * 30;
    await fireEvent.scroll(list);
    await screen.findByTestId(`audit-row-${TOTAL - 100_000}`);
    expect(queries.length).toBeLessThan(5);
    expect(queries.at(-1)!.beforeSeq).toBe(TOTAL + 1 - 500 * 200);
  });

  it('shows the before/after diff of the selected entry', async () => {
    render(AuditPage);
    await fireEvent.click(await screen.findByTestId(`audit-row-${TOTAL - 1}`));
    const diff = await screen.findByTestId('audit-diff');
    expect(diff.textContent).toContain('backup:restore');
    expect(diff.querySelector('tr.changed')).toBeTruthy();
  });
});
