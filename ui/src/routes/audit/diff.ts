// Before/after of an audit entry as rows of changed keys. Nested objects are flattened to
// dotted paths; arrays are compared as a whole, shown as JSON.

export interface DiffRow {
  key: string;
  before: string | null;
  after: string | null;
  change: 'added' | 'removed' | 'changed' | 'same';
}

function parse(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) out.set(prefix, '{}');
    for (const [key, inner] of entries) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (value !== undefined) {
    out.set(prefix || '(value)', typeof value === 'string' ? value : JSON.stringify(value));
  }
}

export function diff(beforeText: string | null, afterText: string | null): DiffRow[] {
  const before = new Map<string, string>();
  const after = new Map<string, string>();
  flatten(parse(beforeText), '', before);
  flatten(parse(afterText), '', after);
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort();
  return keys.map((key) => {
    const b = before.get(key) ?? null;
    const a = after.get(key) ?? null;
    const change = b === null ? 'added' : a === null ? 'removed' : a === b ? 'same' : 'changed';
    return { key, before: b, after: a, change };
  });
}
