import { describe, expect, it } from 'vitest';
import { keyOf, parseKey, shortLabel, unitOf } from './series';

describe('series keys', () => {
  it('round-trips the core canonical form, escapes included', () => {
    // The band and events are asked for by the exact key the core printed.
    const key = 'app_endpoint_latency_seconds{endpoint="/order/submit",quantile="0.99",target="demo \\"a\\""}';
    const parsed = parseKey(key);
    expect(parsed.name).toBe('app_endpoint_latency_seconds');
    expect(parsed.labels.target).toBe('demo "a"');
    expect(keyOf(parsed.name, parsed.labels)).toBe(key);
  });

  it('reads units and short labels from Prometheus naming', () => {
    expect(unitOf('app_latency_seconds{quantile="0.99"}')).toBe('seconds');
    expect(unitOf('app_error_ratio')).toBe('ratio');
    expect(unitOf('app_request_rate{target="x"}')).toBe('perSecond');
    expect(shortLabel('app_endpoint_latency_seconds{endpoint="/order/submit",quantile="0.99",target="demo"}')).toBe(
      '/order/submit P99 · demo',
    );
    // Several measures per endpoint: the label says which.
    expect(shortLabel('app_endpoint_error_ratio{endpoint="/order/submit",target="demo"}')).toBe('/order/submit error ratio · demo');
  });
});
