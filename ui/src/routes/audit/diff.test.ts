import { describe, expect, it } from 'vitest';
import { diff } from './diff';

describe('audit diff', () => {
  it('names added, removed, changed and unchanged keys, nested ones by path', () => {
    const rows = diff(
      JSON.stringify({ grants: ['backup:view'], parents: ['viewer'], meta: { by: 'a', old: 1 } }),
      JSON.stringify({ grants: ['backup:view', 'backup:restore'], parents: ['viewer'], meta: { by: 'b' }, x: true }),
    );
    const byKey = Object.fromEntries(rows.map((row) => [row.key, row.change]));
    // Arrays compare whole: adding a grant changes the grants row.
    expect(byKey).toEqual({ grants: 'changed', parents: 'same', 'meta.by': 'changed', 'meta.old': 'removed', x: 'added' });
  });

  it('shows a creation as all added and a deletion as all removed', () => {
    expect(diff(null, '{"enabled":true}')).toEqual([{ key: 'enabled', before: null, after: 'true', change: 'added' }]);
    expect(diff('"debug"', null)).toEqual([{ key: '(value)', before: 'debug', after: null, change: 'removed' }]);
  });
});
