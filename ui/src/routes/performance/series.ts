// What the Performance page knows about series names: the unit a series is read in, a
// short label for its endpoint and quantile, and the exact selector of one series.
import type { Unit } from '../../lib/charts/format';

/** `name{a="x",b="y"}` → name and labels (the core's canonical form: `"` and `\` escaped). */
export function parseKey(key: string): { name: string; labels: Record<string, string> } {
  const open = key.indexOf('{');
  if (open < 0) return { name: key, labels: {} };
  const labels: Record<string, string> = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const match of key.slice(open).matchAll(pattern)) {
    const [, label, value] = match;
    if (label !== undefined && value !== undefined) labels[label] = value.replace(/\\(.)/g, '$1');
  }
  return { name: key.slice(0, open), labels };
}

/** The selector naming exactly one series. */
export function keyOf(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((label) => `${label}="${(labels[label] ?? '').replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}

/** The unit of a series, from its name's suffix (Prometheus' naming conventions). */
export function unitOf(key: string): Unit {
  const name = parseKey(key).name;
  if (name.endsWith('_seconds')) return 'seconds';
  if (name.endsWith('_ratio')) return 'ratio';
  if (name.endsWith('_bytes')) return 'bytes';
  if (name.endsWith('_rate') || name.endsWith('_per_second') || name.endsWith('_throughput')) return 'perSecond';
  return 'count';
}

/** A short label: the endpoint and what of it (P99, error ratio, request rate), or the
 *  series name; then the target. */
export function shortLabel(key: string): string {
  const { name, labels } = parseKey(key);
  const quantile = labels.quantile ? ` P${Number(labels.quantile) * 100}` : '';
  const target = labels.target ? ` · ${labels.target}` : '';
  if (labels.endpoint !== undefined) {
    const measure = quantile || ` ${name.replace(/^app_endpoint_/, '').replace(/_/g, ' ')}`;
    return `${labels.endpoint}${measure}${target}`;
  }
  return `${name}${quantile}${target}`;
}
