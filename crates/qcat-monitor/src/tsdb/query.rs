//! Range queries: at most `max_points` per series for any range, read from the best tier
//! (the coarsest whose rows are no wider than one output step and that still covers the
//! range), with the newest minutes filled from the raw tier before they are rolled up.
//! Rates and histogram quantiles are computed here, at query time, from the stored
//! counters: a counter's drop is a reset, as in Prometheus.

use std::collections::BTreeMap;

use super::{Aggregate, MetricError, MetricStore, Selector, SeriesInfo, SeriesKey, Tier};
use crate::exposition::quantile::{bucket_quantile, increase};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Function {
    /// The values themselves (per step: average, min, max, last).
    Value,
    /// Per-second increase of a counter over each step.
    Rate,
    /// The φ-quantile of a classic histogram (`NAME_bucket` series) over each step.
    Quantile(f64),
}

#[derive(Debug, Clone)]
pub struct QueryRequest {
    pub selector: Selector,
    pub from_ms: i64,
    pub to_ms: i64,
    pub max_points: usize,
    pub function: Function,
    /// "Now", for deciding which tiers still cover the range.
    pub now_ms: i64,
}

/// One output point: the step's start and its aggregate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub last: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoints {
    pub key: SeriesKey,
    pub tier: Tier,
    pub step_ms: i64,
    pub points: Vec<Point>,
}

impl MetricStore {
    pub async fn query(&self, request: &QueryRequest) -> Result<Vec<SeriesPoints>, MetricError> {
        let max_points = request.max_points.clamp(2, 100_000) as i64;
        let span = (request.to_ms - request.from_ms).max(1);
        // Aligned steps: the same step boundaries on every refresh, so a live chart does
        // not shimmer; at most max_points of them fit the range.
        let step = round_step((span + max_points - 2) / (max_points - 1));
        let tier = self.best_tier(request, step);
        // A rate or quantile of the first step needs the counter's value just before it.
        let mut padded = request.clone();
        if request.function != Function::Value {
            padded.from_ms -= step;
        }
        let first_step = request.from_ms.div_euclid(step) * step;
        let mut out = match request.function {
            Function::Quantile(q) => self.quantile_query(&padded, tier, step, q).await?,
            function => {
                let mut out = Vec::new();
                for series in self.series(&request.selector).await? {
                    let rows = self.tiered_rows(&series, tier, &padded).await?;
                    let points = match function {
                        Function::Rate => rate_points(&rows, step),
                        _ => value_points(&rows, step),
                    };
                    out.push(SeriesPoints {
                        key: series.key,
                        tier,
                        step_ms: step,
                        points,
                    });
                }
                out
            }
        };
        for series in &mut out {
            series.points.retain(|point| point.t >= first_step);
        }
        Ok(out)
    }

    fn best_tier(&self, request: &QueryRequest, step: i64) -> Tier {
        let covers = |tier: Tier| {
            let keep = self.options.retention[tier.index()].as_millis() as i64;
            request.now_ms - keep <= request.from_ms
        };
        let mut best = None;
        for tier in Tier::ALL {
            let fits = tier.period_ms().unwrap_or(0) <= step;
            if fits && covers(tier) {
                best = Some(tier);
            }
        }
        best.unwrap_or_else(|| {
            Tier::ALL
                .into_iter()
                .find(|tier| covers(*tier))
                .unwrap_or(Tier::Hour)
        })
    }

    /// Rows of `tier`, then finer rows for the time after its newest row (not rolled yet).
    async fn tiered_rows(
        &self,
        series: &SeriesInfo,
        tier: Tier,
        request: &QueryRequest,
    ) -> Result<Vec<(i64, Vec<f64>)>, MetricError> {
        let mut rows = self
            .rows(series, tier, request.from_ms, request.to_ms)
            .await?;
        if let Some(period) = tier.period_ms() {
            let covered = rows.last().map_or(request.from_ms, |row| row.0 + period);
            if covered <= request.to_ms {
                let tail = self.rows(series, Tier::Raw, covered, request.to_ms).await?;
                rows.extend(tail);
            }
        }
        Ok(rows)
    }

    async fn quantile_query(
        &self,
        request: &QueryRequest,
        tier: Tier,
        step: i64,
        q: f64,
    ) -> Result<Vec<SeriesPoints>, MetricError> {
        let mut bucket_selector = request.selector.clone();
        bucket_selector.name = format!("{}_bucket", request.selector.name);
        // Group the bucket series by their labels without `le`.
        let mut groups: BTreeMap<SeriesKey, Vec<(f64, SeriesInfo)>> = BTreeMap::new();
        for series in self.series(&bucket_selector).await? {
            let mut key = series.key.clone();
            key.name = request.selector.name.clone();
            let Some(le) = key.labels.remove("le") else {
                continue;
            };
            let Some(bound) = crate::exposition::parse_float(&le) else {
                continue;
            };
            groups.entry(key).or_default().push((bound, series));
        }
        let mut out = Vec::new();
        for (key, buckets) in groups {
            // Per step: how much each bucket's counter grew.
            let mut grown: BTreeMap<i64, Vec<(f64, f64)>> = BTreeMap::new();
            for (bound, series) in &buckets {
                let rows = self.tiered_rows(series, tier, request).await?;
                for (t, increase) in step_increases(&rows, step) {
                    grown.entry(t).or_default().push((*bound, increase));
                }
            }
            let points = grown
                .into_iter()
                .map(|(t, counts)| {
                    let value = bucket_quantile(q, counts);
                    Point {
                        t,
                        avg: value,
                        min: value,
                        max: value,
                        last: value,
                    }
                })
                .collect();
            out.push(SeriesPoints {
                key,
                tier,
                step_ms: step,
                points,
            });
        }
        Ok(out)
    }
}

/// Steps are whole seconds, minutes or hours, so they line up with the tiers.
fn round_step(step: i64) -> i64 {
    const NICE: [i64; 16] = [
        1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
        1_800_000, 3_600_000, 7_200_000, 21_600_000, 86_400_000,
    ];
    NICE.into_iter()
        .find(|nice| *nice >= step)
        .unwrap_or(step.div_euclid(86_400_000).max(1) * 86_400_000 + 86_400_000)
}

fn value_points(rows: &[(i64, Vec<f64>)], step: i64) -> Vec<Point> {
    let mut points: Vec<(i64, Aggregate)> = Vec::new();
    for (t, fields) in rows {
        if fields[0].is_nan() {
            continue;
        }
        let bucket = t.div_euclid(step) * step;
        let aggregate = Aggregate::from_fields(fields);
        match points.last_mut() {
            Some((start, current)) if *start == bucket => current.merge(&aggregate),
            _ => points.push((bucket, aggregate)),
        }
    }
    points
        .into_iter()
        .map(|(t, a)| Point {
            t,
            avg: a.avg(),
            min: a.min,
            max: a.max,
            last: a.last,
        })
        .collect()
}

/// How much a counter grew within each step: the sum of the increases between consecutive
/// rows (rollup rows compare their `last` values), attributed to the step of the later row.
fn step_increases(rows: &[(i64, Vec<f64>)], step: i64) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    let mut previous: Option<f64> = None;
    for (t, fields) in rows {
        let value = *fields.last().expect("a row has a value");
        if value.is_nan() {
            continue;
        }
        if let Some(before) = previous {
            let bucket = t.div_euclid(step) * step;
            let grew = increase(before, value);
            match out.last_mut() {
                Some((start, sum)) if *start == bucket => *sum += grew,
                _ => out.push((bucket, grew)),
            }
        }
        previous = Some(value);
    }
    out
}

fn rate_points(rows: &[(i64, Vec<f64>)], step: i64) -> Vec<Point> {
    step_increases(rows, step)
        .into_iter()
        .map(|(t, grew)| {
            let rate = grew / (step as f64 / 1000.0);
            Point {
                t,
                avg: rate,
                min: rate,
                max: rate,
                last: rate,
            }
        })
        .collect()
}

impl MetricStore {
    /// One series' mean per minute in `[from_ms, to_ms)`, each minute at its start: the
    /// 1-minute rollups, then raw samples for the minutes not rolled up yet. Only whole
    /// minutes before `to_ms` (a minute still filling would score a partial mean).
    pub async fn minute_means(
        &self,
        series: &SeriesInfo,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, f64)>, MetricError> {
        const MINUTE: i64 = 60_000;
        let first = from_ms.div_euclid(MINUTE) * MINUTE;
        let end = to_ms.div_euclid(MINUTE) * MINUTE;
        let mut out: Vec<(i64, f64)> = self
            .rows(series, Tier::Minute, first, end - 1)
            .await?
            .into_iter()
            .filter_map(|(t, fields)| {
                let aggregate = Aggregate::from_fields(&fields);
                (aggregate.count > 0.0).then(|| (t, aggregate.avg()))
            })
            .collect();
        let rolled_to = out.last().map_or(first, |(t, _)| t + MINUTE);
        let mut minute: Option<(i64, f64, f64)> = None;
        for (t, fields) in self.rows(series, Tier::Raw, rolled_to, end - 1).await? {
            let start = t.div_euclid(MINUTE) * MINUTE;
            let value = fields[0];
            match &mut minute {
                Some((at, sum, count)) if *at == start => {
                    *sum += value;
                    *count += 1.0;
                }
                _ => {
                    out.extend(minute.map(|(at, sum, count)| (at, sum / count)));
                    minute = Some((start, value, 1.0));
                }
            }
        }
        out.extend(minute.map(|(at, sum, count)| (at, sum / count)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_nice_and_fit_the_range() {
        assert_eq!(round_step(3_600), 5_000);
        assert_eq!(round_step(86_400), 120_000);
        assert_eq!(round_step(1), 1_000);
    }

    #[test]
    fn a_counter_reset_inside_a_step_is_growth_not_a_drop() {
        let rows: Vec<(i64, Vec<f64>)> = [0.0, 10.0, 20.0, 5.0, 15.0]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 * 1000, vec![*v]))
            .collect();
        let grown = step_increases(&rows, 10_000);
        assert_eq!(grown, vec![(0, 10.0 + 10.0 + 5.0 + 10.0)]);
    }
}
