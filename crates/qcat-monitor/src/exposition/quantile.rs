//! Classic histograms and `histogram_quantile` exactly as Prometheus 2.x computes it
//! (`promql/quantile.go`): buckets sorted by upper bound, the highest must be `+Inf`,
//! buckets with the same bound (`0.2`, `2e-1`) merged, counts forced monotonic, linear
//! interpolation inside the bucket the rank falls in, the lowest bucket starting at 0
//! unless its bound is ≤ 0, a rank in the `+Inf` bucket answered with the second-highest
//! bound.

use std::collections::BTreeMap;

use super::{Family, FamilyKind, parse_float};

/// One histogram series of a scrape: a family and the labels other than `le`.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub family: String,
    pub labels: BTreeMap<String, String>,
    /// `(upper bound, cumulative count)` in the order the scrape gave them.
    pub buckets: Vec<(f64, f64)>,
    pub count: Option<f64>,
    pub sum: Option<f64>,
}

impl Histogram {
    pub fn quantile(&self, q: f64) -> f64 {
        bucket_quantile(q, self.buckets.clone())
    }
}

/// The histograms of a scrape, one per family and label set (without `le`), in the order
/// they first appear. A bucket whose `le` is not a number is skipped, as Prometheus does.
pub fn histograms(families: &[Family]) -> Vec<Histogram> {
    let mut found: Vec<Histogram> = Vec::new();
    for family in families.iter().filter(|f| f.kind == FamilyKind::Histogram) {
        let first = found.len();
        for sample in &family.samples {
            let suffix = &sample.name[family.name.len()..];
            let mut labels = sample.labels.clone();
            let le = labels.remove("le");
            let at = match found[first..].iter().position(|h| h.labels == labels) {
                Some(at) => first + at,
                None => {
                    found.push(Histogram {
                        family: family.name.clone(),
                        labels,
                        buckets: Vec::new(),
                        count: None,
                        sum: None,
                    });
                    found.len() - 1
                }
            };
            let histogram = &mut found[at];
            match suffix {
                "_bucket" => {
                    if let Some(bound) = le.as_deref().and_then(parse_float)
                        && !bound.is_nan()
                    {
                        histogram.buckets.push((bound, sample.value));
                    }
                }
                "_sum" => histogram.sum = Some(sample.value),
                "_count" => histogram.count = Some(sample.value),
                _ => {}
            }
        }
    }
    found
}

/// The φ-quantile of cumulative `(upper bound, count)` buckets, Prometheus' way.
pub fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if buckets.is_empty() {
        return f64::NAN;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets[buckets.len() - 1].0 != f64::INFINITY {
        return f64::NAN;
    }
    let mut buckets = coalesce(buckets);
    ensure_monotonic(&mut buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // The first bucket (the +Inf one excluded) whose count reaches the rank.
    let b = buckets[..buckets.len() - 1]
        .iter()
        .position(|bucket| bucket.1 >= rank)
        .unwrap_or(buckets.len() - 1);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let bucket_end = buckets[b].0;
    let mut count = buckets[b].1;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Buckets with the same upper bound (different spellings of one `le`) are one bucket.
fn coalesce(buckets: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (bound, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    merged
}

/// A count lower than one before it (a scrape racing the histogram's update) is raised to
/// it, as Prometheus does; NaN counts are left alone, as its comparisons leave them.
fn ensure_monotonic(buckets: &mut [(f64, f64)]) {
    let mut max = f64::NEG_INFINITY;
    for bucket in buckets.iter_mut() {
        if bucket.1 > max {
            max = bucket.1;
        } else if bucket.1 < max {
            bucket.1 = max;
        }
    }
}

/// How much a counter grew from `previous` to `current`, Prometheus' way: a drop is a reset
/// (the process restarted), after which the whole current value is growth.
pub fn increase(previous: f64, current: f64) -> f64 {
    if current < previous {
        current
    } else {
        current - previous
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::parse;

    /// Cases from Prometheus' own `promql/promqltest/testdata/histograms.test`: the loaded
    /// series at 50m are ten times each step, which does not change any quantile, so the
    /// step values serve as the bucket counts of one scrape.
    #[test]
    fn prometheus_test_data_quantiles() {
        let positive = vec![(0.1, 5.0), (0.2, 7.0), (1.0, 11.0), (f64::INFINITY, 12.0)];
        let negative = vec![(-0.2, 1.0), (-0.1, 2.0), (0.3, 2.0), (f64::INFINITY, 3.0)];
        let cases: [(f64, f64, f64); 7] = [
            // (q, positive, negative)
            (-0.1, f64::NEG_INFINITY, f64::NEG_INFINITY),
            (1.01, f64::INFINITY, f64::INFINITY),
            (0.0, 0.0, -0.2),
            (1.0, 1.0, 0.3),
            (0.2, 0.048, -0.2),
            (0.5, 0.15, -0.15),
            (0.8, 0.72, 0.3),
        ];
        for (q, want_positive, want_negative) in cases {
            close(bucket_quantile(q, positive.clone()), want_positive, q);
            close(bucket_quantile(q, negative.clone()), want_negative, q);
        }
        assert!(
            bucket_quantile(f64::NAN, positive).is_nan(),
            "an invalid φ gives NaN"
        );
        // testhistogram2: q(1/6), q(1/2), q(5/6) fall in the middle of their buckets.
        let middle = vec![
            (0.0, 0.0),
            (2.0, 1.0),
            (4.0, 2.0),
            (6.0, 3.0),
            (f64::INFINITY, 3.0),
        ];
        for (q, want) in [(1.0 / 6.0, 1.0), (0.5, 3.0), (5.0 / 6.0, 5.0)] {
            close(bucket_quantile(q, middle.clone()), want, q);
        }
        // request_duration_seconds job1/ins1 and job2/ins2, unaggregated.
        close(
            bucket_quantile(0.3, vec![(0.1, 1.0), (0.2, 3.0), (f64::INFINITY, 4.0)]),
            0.11,
            0.3,
        );
        close(
            bucket_quantile(0.5, vec![(0.1, 4.0), (0.2, 7.0), (f64::INFINITY, 9.0)]),
            0.11666666666666667,
            0.5,
        );
    }

    #[test]
    fn nonmonotonic_buckets_are_forced_monotonic() {
        // "nonmonotonic_bucket" from the same test file.
        let buckets = vec![
            (0.1, 2.0),
            (1.0, 1.0),
            (10.0, 5.0),
            (100.0, 4.0),
            (1000.0, 9.0),
            (f64::INFINITY, 8.0),
        ];
        close(bucket_quantile(0.01, buckets.clone()), 0.0045, 0.01);
        close(bucket_quantile(0.5, buckets.clone()), 8.5, 0.5);
        close(bucket_quantile(0.99, buckets), 979.75, 0.99);
    }

    #[test]
    fn duplicate_le_spellings_merge_and_a_lone_inf_bucket_is_nan() {
        // "mixed_bucket": 0.2, 2e-1 and 2.0e-1 are one bound; +inf and +Inf too.
        let scrape = "# TYPE mixed histogram\n\
            mixed_bucket{instance=\"ins1\",le=\"0.1\"} 1\n\
            mixed_bucket{instance=\"ins1\",le=\"0.2\"} 1\n\
            mixed_bucket{instance=\"ins1\",le=\"2e-1\"} 1\n\
            mixed_bucket{instance=\"ins1\",le=\"2.0e-1\"} 1\n\
            mixed_bucket{instance=\"ins1\",le=\"+Inf\"} 4\n\
            mixed_bucket{instance=\"ins2\",le=\"+inf\"} 0\n\
            mixed_bucket{instance=\"ins2\",le=\"+Inf\"} 0\n";
        let found = histograms(&parse(scrape).unwrap());
        assert_eq!(found.len(), 2, "one histogram per instance");
        close(found[0].quantile(0.5), 0.15, 0.5);
        close(found[0].quantile(0.75), 0.2, 0.75);
        close(found[0].quantile(1.0), 0.2, 1.0);
        assert!(
            found[1].quantile(0.5).is_nan(),
            "one bucket after merging: NaN"
        );
    }

    #[test]
    fn no_inf_bucket_or_no_observations_is_nan() {
        assert!(bucket_quantile(0.5, vec![(0.1, 1.0), (1.0, 2.0)]).is_nan());
        assert!(bucket_quantile(0.5, vec![(0.1, 0.0), (f64::INFINITY, 0.0)]).is_nan());
        assert!(bucket_quantile(0.5, Vec::new()).is_nan());
        // A rank beyond every finite bucket answers the highest finite bound.
        assert_eq!(
            bucket_quantile(0.99, vec![(0.1, 1.0), (f64::INFINITY, 10.0)]),
            0.1
        );
    }

    #[test]
    fn a_counter_reset_counts_the_whole_new_value() {
        assert_eq!(increase(10.0, 15.0), 5.0);
        assert_eq!(increase(10.0, 3.0), 3.0, "a restart began again from zero");
    }

    fn close(got: f64, want: f64, q: f64) {
        let same = if want.is_infinite() {
            got == want
        } else {
            (got - want).abs() < 1e-9
        };
        assert!(same, "φ={q}: got {got}, Prometheus gives {want}");
    }
}
