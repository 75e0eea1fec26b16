// How a panel's numbers are written: by unit, short enough for a tile, readable from afar.

export type Unit = 'ratio' | 'seconds' | 'bytes' | 'perSecond' | 'count' | 'bytesPerSecond';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

function trim(value: number, digits: number): string {
  return Number.isFinite(value) ? String(Number(value.toFixed(digits))) : '–';
}

/** `0.0123` as ratio → `1.23 %`, `0.25` seconds → `250 ms`, `1536` bytes → `1.5 KiB`. */
export function formatValue(value: number | null | undefined, unit: Unit): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  switch (unit) {
    case 'ratio':
      return `${trim(value * 100, value < 0.1 ? 2 : 1)} %`;
    case 'seconds':
      if (value < 1) return `${trim(value * 1000, value < 0.01 ? 2 : 0)} ms`;
      return `${trim(value, 2)} s`;
    case 'bytes':
    case 'bytesPerSecond': {
      let scaled = value;
      let index = 0;
      while (Math.abs(scaled) >= 1024 && index < BYTE_UNITS.length - 1) {
        scaled /= 1024;
        index += 1;
      }
      return `${trim(scaled, scaled < 10 ? 2 : 1)} ${BYTE_UNITS[index]}${unit === 'bytesPerSecond' ? '/s' : ''}`;
    }
    case 'perSecond':
      return `${trim(value, value < 10 ? 2 : 0)}/s`;
    case 'count':
      return Math.abs(value) >= 10000 ? `${trim(value / 1000, 1)}k` : trim(value, value < 10 ? 2 : 0);
  }
}

/** The change from `before` to `now` as a signed percentage, or null when not comparable. */
export function trendPercent(now: number | null, before: number | null): number | null {
  if (now === null || before === null || !Number.isFinite(now) || !Number.isFinite(before) || before === 0) return null;
  return ((now - before) / Math.abs(before)) * 100;
}

export type Level = 'ok' | 'warn' | 'bad' | 'none';

export interface Thresholds {
  warn: number;
  bad: number;
  /** `above`: high values are bad (latency); `below`: low values are bad (cache hit ratio). */
  direction: 'above' | 'below';
}

export function levelOf(value: number | null, thresholds: Thresholds | undefined): Level {
  if (value === null || !Number.isFinite(value) || !thresholds) return 'none';
  const beyond = (limit: number): boolean => (thresholds.direction === 'above' ? value >= limit : value <= limit);
  if (beyond(thresholds.bad)) return 'bad';
  if (beyond(thresholds.warn)) return 'warn';
  return 'ok';
}
