import { describe, expect, it } from 'vitest';
import { formatValue, levelOf, trendPercent } from './format';

describe('formatValue', () => {
  it('writes each unit the way an operator reads it', () => {
    expect(formatValue(0.0123, 'ratio')).toBe('1.23 %');
    expect(formatValue(0.25, 'seconds')).toBe('250 ms');
    expect(formatValue(2.5, 'seconds')).toBe('2.5 s');
    expect(formatValue(1536, 'bytes')).toBe('1.5 KiB');
    expect(formatValue(3 * 1024 ** 3, 'bytes')).toBe('3 GiB');
    expect(formatValue(1234.4, 'perSecond')).toBe('1234/s');
    expect(formatValue(Number.NaN, 'count')).toBe('–');
    expect(formatValue(null, 'count')).toBe('–');
  });
});

describe('levelOf', () => {
  it('colours by threshold in the direction that is bad', () => {
    const latency = { warn: 0.3, bad: 0.6, direction: 'above' as const };
    expect(levelOf(0.1, latency)).toBe('ok');
    expect(levelOf(0.4, latency)).toBe('warn');
    expect(levelOf(0.9, latency)).toBe('bad');
    const hits = { warn: 0.95, bad: 0.9, direction: 'below' as const };
    expect(levelOf(0.99, hits)).toBe('ok');
    expect(levelOf(0.85, hits)).toBe('bad');
    expect(levelOf(null, latency)).toBe('none');
  });
});

describe('trendPercent', () => {
  it('compares against the previous period, not against zero', () => {
    expect(trendPercent(120, 100)).toBeCloseTo(20);
    expect(trendPercent(5, 0)).toBeNull();
  });
});
