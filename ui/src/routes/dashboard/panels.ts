// The panels of each target kind: which series, read how (value, rate, quantile), in which
// unit, coloured by which thresholds; and loading one panel's data for a range.
import { api, type SeriesView, type TargetView } from '../../lib/ipc';
import { levelOf, trendPercent, type Level, type Thresholds, type Unit } from '../../lib/charts/format';
import type { MessageKey } from '../../lib/i18n/en';

export interface PanelDef {
  id: string;
  title: MessageKey;
  /** A selector without the target label (`host_cpu_usage_ratio{cpu="total"}`). */
  series: string;
  fn: 'value' | 'rate' | string;
  unit: Unit;
  thresholds?: Thresholds;
  /** The series whose newest value is the panel's headline (default: the first). */
  headline?: { label: string; value: string };
  /** Label naming each line in the legend. */
  legendLabel?: string;
}

export const APP_PANELS: PanelDef[] = [
  { id: 'requests', title: 'panel.requestRate', series: 'app_request_rate', fn: 'value', unit: 'perSecond' },
  {
    id: 'errors',
    title: 'panel.errorRatio',
    series: 'app_error_ratio',
    fn: 'value',
    unit: 'ratio',
    thresholds: { warn: 0.01, bad: 0.05, direction: 'above' },
  },
  {
    id: 'latency',
    title: 'panel.latency',
    series: 'app_latency_seconds',
    fn: 'value',
    unit: 'seconds',
    thresholds: { warn: 0.3, bad: 0.6, direction: 'above' },
    headline: { label: 'quantile', value: '0.99' },
    legendLabel: 'quantile',
  },
  { id: 'inflight', title: 'panel.inFlight', series: 'app_in_flight', fn: 'value', unit: 'count' },
  { id: 'throughput', title: 'panel.throughput', series: 'app_throughput', fn: 'value', unit: 'perSecond' },
];

export const HOST_PANELS: PanelDef[] = [
  {
    id: 'cpu',
    title: 'panel.cpu',
    series: 'host_cpu_usage_ratio{cpu="total"}',
    fn: 'value',
    unit: 'ratio',
    thresholds: { warn: 0.8, bad: 0.95, direction: 'above' },
  },
  { id: 'cores', title: 'panel.cpuCores', series: 'host_cpu_usage_ratio{cpu!="total"}', fn: 'value', unit: 'ratio', legendLabel: 'cpu' },
  { id: 'load', title: 'panel.load', series: 'host_load1', fn: 'value', unit: 'count' },
  { id: 'memory', title: 'panel.memory', series: 'host_memory_used_bytes', fn: 'value', unit: 'bytes' },
  { id: 'swap', title: 'panel.swap', series: 'host_swap_used_bytes', fn: 'value', unit: 'bytes' },
  { id: 'disk', title: 'panel.disk', series: 'host_disk_used_bytes', fn: 'value', unit: 'bytes', legendLabel: 'mount' },
  { id: 'diskio', title: 'panel.diskWrite', series: 'host_disk_written_bytes_total', fn: 'rate', unit: 'bytesPerSecond', legendLabel: 'device' },
  { id: 'rx', title: 'panel.networkRx', series: 'host_network_received_bytes_total', fn: 'rate', unit: 'bytesPerSecond', legendLabel: 'interface' },
  { id: 'tx', title: 'panel.networkTx', series: 'host_network_transmitted_bytes_total', fn: 'rate', unit: 'bytesPerSecond', legendLabel: 'interface' },
];

export const POSTGRES_PANELS: PanelDef[] = [
  { id: 'connections', title: 'panel.pgConnections', series: 'pg_connections', fn: 'value', unit: 'count', legendLabel: 'state' },
  { id: 'commits', title: 'panel.pgCommits', series: 'pg_xact_commit_total', fn: 'rate', unit: 'perSecond' },
  { id: 'rollbacks', title: 'panel.pgRollbacks', series: 'pg_xact_rollback_total', fn: 'rate', unit: 'perSecond' },
  {
    id: 'cachehit',
    title: 'panel.pgCacheHit',
    series: 'pg_cache_hit_ratio',
    fn: 'value',
    unit: 'ratio',
    thresholds: { warn: 0.95, bad: 0.9, direction: 'below' },
  },
  { id: 'deadlocks', title: 'panel.pgDeadlocks', series: 'pg_deadlocks_total', fn: 'rate', unit: 'perSecond', thresholds: { warn: 0.001, bad: 0.1, direction: 'above' } },
  { id: 'temp', title: 'panel.pgTemp', series: 'pg_temp_bytes_total', fn: 'rate', unit: 'bytesPerSecond' },
  {
    id: 'longestquery',
    title: 'panel.pgLongestQuery',
    series: 'pg_longest_query_seconds',
    fn: 'value',
    unit: 'seconds',
    thresholds: { warn: 30, bad: 300, direction: 'above' },
  },
  {
    id: 'longesttx',
    title: 'panel.pgLongestTransaction',
    series: 'pg_longest_transaction_seconds',
    fn: 'value',
    unit: 'seconds',
    thresholds: { warn: 60, bad: 600, direction: 'above' },
  },
  { id: 'size', title: 'panel.pgSize', series: 'pg_database_size_bytes', fn: 'value', unit: 'bytes', legendLabel: 'database' },
  {
    id: 'replication',
    title: 'panel.pgReplicationLag',
    series: 'pg_replication_lag_seconds',
    fn: 'value',
    unit: 'seconds',
    thresholds: { warn: 5, bad: 30, direction: 'above' },
    legendLabel: 'replica',
  },
];

export const REDIS_PANELS: PanelDef[] = [
  { id: 'memory', title: 'panel.redisMemory', series: 'redis_memory_used_bytes', fn: 'value', unit: 'bytes' },
  {
    id: 'fragmentation',
    title: 'panel.redisFragmentation',
    series: 'redis_memory_fragmentation_ratio',
    fn: 'value',
    unit: 'count',
    thresholds: { warn: 1.5, bad: 2.5, direction: 'above' },
  },
  { id: 'clients', title: 'panel.redisClients', series: 'redis_connected_clients', fn: 'value', unit: 'count' },
  { id: 'ops', title: 'panel.redisOps', series: 'redis_instantaneous_ops_per_second', fn: 'value', unit: 'perSecond' },
  { id: 'hits', title: 'panel.redisHits', series: 'redis_keyspace_hits_total', fn: 'rate', unit: 'perSecond' },
  { id: 'misses', title: 'panel.redisMisses', series: 'redis_keyspace_misses_total', fn: 'rate', unit: 'perSecond' },
  { id: 'evicted', title: 'panel.redisEvicted', series: 'redis_evicted_keys_total', fn: 'rate', unit: 'perSecond' },
  { id: 'rejected', title: 'panel.redisRejected', series: 'redis_rejected_connections_total', fn: 'rate', unit: 'perSecond', thresholds: { warn: 0.001, bad: 1, direction: 'above' } },
  { id: 'lastsave', title: 'panel.redisLastSave', series: 'redis_last_save_age_seconds', fn: 'value', unit: 'seconds' },
  { id: 'keys', title: 'panel.redisKeys', series: 'redis_keys', fn: 'value', unit: 'count', legendLabel: 'db' },
];

/** The panels of a target: fixed per kind; a Prometheus server's are its named queries. */
export function panelsFor(target: TargetView): PanelDef[] {
  switch (target.kind) {
    case 'host':
      return HOST_PANELS;
    case 'postgres':
      return POSTGRES_PANELS;
    case 'redis':
      return REDIS_PANELS;
    case 'prometheus':
      return APP_PANELS;
    default:
      return Object.keys(target.queries).map((name) => ({
        id: name,
        title: 'panel.query',
        series: name,
        fn: 'value',
        unit: 'count' as Unit,
      }));
  }
}

/** `name{a="b"}` plus `target="x"`. */
export function withTarget(selector: string, target: string): string {
  const label = `target="${target.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const open = selector.indexOf('{');
  if (open < 0) return `${selector}{${label}}`;
  const inner = selector.slice(open + 1, selector.lastIndexOf('}')).trim();
  return `${selector.slice(0, open)}{${inner ? `${inner},` : ''}${label}}`;
}

export interface Range {
  fromMs: number;
  toMs: number;
}

export interface PanelData {
  series: SeriesView[];
  value: number | null;
  /** The headline's average over the previous period of the same length. */
  previous: number | null;
  current: number | null;
  trend: number | null;
  level: Level;
  /** The headline series' key when it is a stored value (not a rate or quantile computed
   *  at query time): the one whose learned band the panel can draw. */
  bandKey: string | null;
}

function average(values: number[]): number | null {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length === 0 ? null : finite.reduce((a, b) => a + b, 0) / finite.length;
}

function pickHeadline(def: PanelDef, series: SeriesView[]): SeriesView | undefined {
  if (def.headline) {
    const { label, value } = def.headline;
    return series.find((one) => one.labels[label] === value);
  }
  return series[0];
}

/** Reads a panel's series over `range` (at most `points` each) and the previous period. */
export async function loadPanel(def: PanelDef, target: string, range: Range, points: number): Promise<PanelData> {
  const selector = withTarget(def.series, target);
  const span = range.toMs - range.fromMs;
  const [series, before] = await Promise.all([
    api.monitorQuery({ series: selector, fromMs: range.fromMs, toMs: range.toMs, maxPoints: points, function: def.fn }),
    api.monitorQuery({ series: selector, fromMs: range.fromMs - span, toMs: range.fromMs, maxPoints: 2, function: def.fn }),
  ]);
  const headline = pickHeadline(def, series);
  const previousHeadline = pickHeadline(def, before);
  const value = headline?.last[headline.last.length - 1] ?? null;
  const current = headline ? average(headline.avg) : null;
  const previous = previousHeadline ? average(previousHeadline.avg) : null;
  return {
    series,
    value,
    current,
    previous,
    trend: trendPercent(current, previous),
    level: levelOf(value, def.thresholds),
    bandKey: def.fn === 'value' && headline ? headline.key : null,
  };
}

/** The legend label of a line: the def's label, else every label but the target. */
export function lineLabel(def: PanelDef, one: SeriesView): string {
  if (def.legendLabel) return one.labels[def.legendLabel] ?? one.name;
  const rest = Object.entries(one.labels).filter(([key]) => key !== 'target');
  return rest.length === 0 ? one.name : rest.map(([key, value]) => `${key}=${value}`).join(' ');
}

export const RANGES: { id: string; ms: number }[] = [
  { id: '5m', ms: 5 * 60_000 },
  { id: '15m', ms: 15 * 60_000 },
  { id: '1h', ms: 3_600_000 },
  { id: '6h', ms: 6 * 3_600_000 },
  { id: '24h', ms: 86_400_000 },
  { id: '7d', ms: 7 * 86_400_000 },
  { id: '30d', ms: 30 * 86_400_000 },
];
