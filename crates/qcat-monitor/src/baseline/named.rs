//! Named baselines: a period captured as a stored summary ("before release 1.4"), and any
//! later period compared with it series by series, with an honest statement of
//! significance ("P99 +18 % (±4 %), significant").
//!
//! A period is summarised per series from its minute values: their mean and P50/P95/P99,
//! a per-hour-of-day profile, and 10-minute block means tagged with their hour of day in
//! the desk's zone. The comparison is stratified by hour of day — only hours both periods
//! cover, each weighted as the compared period covers it — so this morning's session is
//! held against the same hours before, not against a week's average that includes nights.
//! Its uncertainty comes from a block bootstrap: whole 10-minute blocks (which keep the
//! minute-to-minute correlation inside them) resampled within each hour. The interval is
//! the estimate ± z·SE with z corrected (Bonferroni) for the number of series compared, so
//! a comparison of 30 unchanged series calls any of them significant at most 5 % of the time.

use serde::{Deserialize, Serialize};

use super::model::MINUTE_MS;

/// The unit of resampling.
pub const BLOCK_MS: i64 = 10 * MINUTE_MS;
/// A block with fewer minute values than this (a gap, a restart) is left out.
const MIN_MINUTES_PER_BLOCK: usize = 5;
/// Bootstrap resamples per series: enough for a standard error within a few per cent.
pub const RESAMPLES: usize = 1000;
/// Family-wise confidence of a comparison.
pub const CONFIDENCE: f64 = 0.95;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// One series over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesSummary {
    /// The series' canonical key, `name{label="value",…}`.
    pub series: String,
    pub minutes: u64,
    /// Of the minute values.
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// The median minute value per hour of day (0–23 in the desk's zone); `None` where the
    /// period has no value.
    pub hourly: Vec<Option<f64>>,
    /// 10-minute block means, each with its hour of day.
    pub blocks: Vec<(u8, f64)>,
}

/// Offset of `zone` at `t_ms`, in milliseconds.
fn offset_ms(zone: &jiff::tz::TimeZone, t_ms: i64) -> i64 {
    jiff::Timestamp::from_millisecond(t_ms).map_or(0, |t| zone.to_offset(t).seconds() as i64 * 1000)
}

/// The hour of day (0–23) of `t_ms` in `zone`.
pub fn hour_of_day(zone: &jiff::tz::TimeZone, t_ms: i64) -> u8 {
    ((t_ms + offset_ms(zone, t_ms))
        .div_euclid(HOUR_MS)
        .rem_euclid(24)) as u8
}

/// Summarises one series' minute values (time order, each minute at its start); `None`
/// when the period holds no whole block.
pub fn summarise(
    series: &str,
    minutes: &[(i64, f64)],
    zone: &jiff::tz::TimeZone,
) -> Option<SeriesSummary> {
    let values: Vec<(i64, f64)> = minutes
        .iter()
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect();
    let mut blocks = Vec::new();
    let mut by_hour: Vec<Vec<f64>> = vec![Vec::new(); 24];
    let mut current: Option<(i64, u8, f64, usize)> = None;
    for (t, value) in &values {
        let local = t + offset_ms(zone, *t);
        let block = local.div_euclid(BLOCK_MS);
        let hour = (local.div_euclid(HOUR_MS).rem_euclid(24)) as u8;
        by_hour[hour as usize].push(*value);
        match &mut current {
            Some((at, _, sum, count)) if *at == block => {
                *sum += value;
                *count += 1;
            }
            _ => {
                if let Some((_, hour, sum, count)) = current.take()
                    && count >= MIN_MINUTES_PER_BLOCK
                {
                    blocks.push((hour, sum / count as f64));
                }
                current = Some((block, hour, *value, 1));
            }
        }
    }
    if let Some((_, hour, sum, count)) = current
        && count >= MIN_MINUTES_PER_BLOCK
    {
        blocks.push((hour, sum / count as f64));
    }
    if blocks.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let hourly = by_hour
        .into_iter()
        .map(|mut hour| {
            (!hour.is_empty()).then(|| {
                hour.sort_by(f64::total_cmp);
                quantile_sorted(&hour, 0.5)
            })
        })
        .collect();
    Some(SeriesSummary {
        series: series.to_owned(),
        minutes: sorted.len() as u64,
        mean,
        p50: quantile_sorted(&sorted, 0.5),
        p95: quantile_sorted(&sorted, 0.95),
        p99: quantile_sorted(&sorted, 0.99),
        hourly,
        blocks,
    })
}

/// Linear interpolation between the closest ranks (numpy's default).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let rank = q * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

/// One series, the compared period against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesComparison {
    pub series: String,
    /// The hour-weighted means of the baseline and of the compared period.
    pub before: f64,
    pub now: f64,
    /// `now − before` and its interval.
    pub difference: f64,
    pub difference_low: f64,
    pub difference_high: f64,
    /// `now / before − 1` and its interval; `None` when the baseline's mean is 0.
    pub change: Option<f64>,
    pub change_low: Option<f64>,
    pub change_high: Option<f64>,
    /// The interval of the difference excludes 0.
    pub significant: bool,
    /// Hours of day both periods cover (the comparison is made over these only).
    pub hours: usize,
    pub blocks_before: usize,
    pub blocks_now: usize,
}

/// Why a series could not be compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Incomparable {
    /// The compared period has no whole block of this series.
    NoData,
    /// No hour of day holds two blocks in both periods.
    NoCommonHours,
}

/// Compares each `(baseline, now)` pair; the interval of each is widened for the number of
/// pairs (Bonferroni), so `confidence` holds for the whole comparison. Deterministic: the
/// resampling is seeded by the series' name.
pub fn compare(
    pairs: &[(&SeriesSummary, Option<&SeriesSummary>)],
    confidence: f64,
) -> Vec<Result<SeriesComparison, Incomparable>> {
    let compared = pairs.iter().filter(|(_, now)| now.is_some()).count().max(1);
    let alpha = (1.0 - confidence) / compared as f64;
    let z = inverse_normal(1.0 - alpha / 2.0);
    pairs
        .iter()
        .map(|(before, now)| match now {
            None => Err(Incomparable::NoData),
            Some(now) => compare_one(before, now, z),
        })
        .collect()
}

fn compare_one(
    before: &SeriesSummary,
    now: &SeriesSummary,
    z: f64,
) -> Result<SeriesComparison, Incomparable> {
    let by_hour = |summary: &SeriesSummary| {
        let mut hours: Vec<Vec<f64>> = vec![Vec::new(); 24];
        for (hour, mean) in &summary.blocks {
            hours[*hour as usize % 24].push(*mean);
        }
        hours
    };
    let (before_hours, now_hours) = (by_hour(before), by_hour(now));
    let strata: Vec<(&[f64], &[f64])> = before_hours
        .iter()
        .zip(&now_hours)
        .filter(|(b, n)| b.len() >= 2 && n.len() >= 2)
        .map(|(b, n)| (b.as_slice(), n.as_slice()))
        .collect();
    if strata.is_empty() {
        return Err(Incomparable::NoCommonHours);
    }
    let total: usize = strata.iter().map(|(_, n)| n.len()).sum();
    let weights: Vec<f64> = strata
        .iter()
        .map(|(_, n)| n.len() as f64 / total as f64)
        .collect();
    let weighted = |pick: &dyn Fn(usize) -> f64| -> f64 {
        weights.iter().enumerate().map(|(i, w)| w * pick(i)).sum()
    };
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let before_mean = weighted(&|i| mean(strata[i].0));
    let now_mean = weighted(&|i| mean(strata[i].1));
    let difference = now_mean - before_mean;

    let mut random = Xorshift::seeded(&before.series);
    let mut resample = |values: &[f64]| -> f64 {
        let mut sum = 0.0;
        for _ in 0..values.len() {
            sum += values[random.below(values.len())];
        }
        sum / values.len() as f64
    };
    let mut differences = Vec::with_capacity(RESAMPLES);
    let mut ratios = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        let (mut b, mut n) = (0.0, 0.0);
        for (i, (before_blocks, now_blocks)) in strata.iter().enumerate() {
            b += weights[i] * resample(before_blocks);
            n += weights[i] * resample(now_blocks);
        }
        differences.push(n - b);
        if b != 0.0 {
            ratios.push(n / b - 1.0);
        }
    }
    let half = z * standard_deviation(&differences);
    let change = (before_mean != 0.0 && ratios.len() == RESAMPLES).then(|| {
        let change = now_mean / before_mean - 1.0;
        let half = z * standard_deviation(&ratios);
        (change, change - half, change + half)
    });
    Ok(SeriesComparison {
        series: before.series.clone(),
        before: before_mean,
        now: now_mean,
        difference,
        difference_low: difference - half,
        difference_high: difference + half,
        change: change.map(|c| c.0),
        change_low: change.map(|c| c.1),
        change_high: change.map(|c| c.2),
        significant: difference.abs() > half && difference != 0.0,
        hours: strata.len(),
        blocks_before: strata.iter().map(|(b, _)| b.len()).sum(),
        blocks_now: total,
    })
}

fn standard_deviation(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// xorshift64*, seeded from a name (FNV-1a) so a comparison repeats exactly.
struct Xorshift(u64);

impl Xorshift {
    fn seeded(name: &str) -> Self {
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
        Self(hash | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) * n as u64) >> 32) as usize
    }
}

/// The standard normal quantile (Acklam's rational approximation, relative error below
/// 1.2e-9: far finer than a bootstrap's standard error).
pub fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    /// 2026-11-02 00:00 UTC, a Monday.
    const MONDAY: i64 = 1_793_577_600_000;

    /// Minute values with a daily shape and noise, `factor` times the level.
    fn period(start: i64, days: i64, factor: f64, seed: u64) -> Vec<(i64, f64)> {
        let mut state = seed | 1;
        (0..days * 1440)
            .map(|minute| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let noise = (state % 10_000) as f64 / 10_000.0 - 0.5;
                let t = start + minute * MINUTE_MS;
                let hour = (minute % 1440) as f64 / 60.0;
                let shape = 1.0 + 0.5 * (hour / 24.0 * std::f64::consts::TAU).sin();
                (t, factor * shape * (100.0 + 20.0 * noise))
            })
            .collect()
    }

    #[test]
    fn the_normal_quantile_is_right_where_intervals_use_it() {
        // 1.96 for 95 %, and the Bonferroni z for 30 series at 95 % family-wise.
        assert!((inverse_normal(0.975) - 1.959_964).abs() < 1e-5);
        assert!((inverse_normal(1.0 - 0.05 / 60.0) - 3.143_5).abs() < 1e-3);
        assert!((inverse_normal(0.5)).abs() < 1e-12);
    }

    #[test]
    fn a_summary_holds_blocks_and_hours_in_the_desks_zone() {
        let shanghai = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let values = period(MONDAY, 1, 1.0, 3);
        let summary = summarise("x", &values, &shanghai).unwrap();
        assert_eq!(summary.minutes, 1440);
        // 144 whole 10-minute blocks in a day, each hour of day six times.
        assert_eq!(summary.blocks.len(), 144);
        // 00:00 UTC is 08:00 in Shanghai: the first block is in hour 8.
        assert_eq!(summary.blocks[0].0, 8);
        assert!(summary.hourly.iter().all(Option::is_some));
        assert!(summary.p50 <= summary.p95 && summary.p95 <= summary.p99);
    }

    #[test]
    fn a_twenty_per_cent_rise_is_significant_and_the_same_level_is_not() {
        let utc = jiff::tz::TimeZone::UTC;
        let before = summarise("p99", &period(MONDAY, 7, 1.0, 1), &utc).unwrap();
        let same = summarise("p99", &period(MONDAY + 7 * DAY, 1, 1.0, 2), &utc).unwrap();
        let slower = summarise("p99", &period(MONDAY + 7 * DAY, 1, 1.2, 2), &utc).unwrap();
        let results = compare(
            &[(&before, Some(&slower)), (&before, Some(&same))],
            CONFIDENCE,
        );
        let slower = results[0].as_ref().unwrap();
        let change = slower.change.unwrap();
        assert!((change - 0.2).abs() < 0.03, "{slower:?}");
        assert!(slower.significant);
        assert!(slower.change_low.unwrap() > 0.1 && slower.change_high.unwrap() < 0.3);
        let same = results[1].as_ref().unwrap();
        assert!(!same.significant, "{same:?}");
        assert_eq!(same.hours, 24);
    }

    #[test]
    fn only_hours_both_periods_cover_are_compared() {
        // The compared period is two quiet night hours at the baseline's night level: held
        // against the whole day's mean it would look 40 % lower; against the same hours it
        // has not changed.
        let utc = jiff::tz::TimeZone::UTC;
        let before = summarise("rate", &period(MONDAY, 7, 1.0, 5), &utc).unwrap();
        let night: Vec<(i64, f64)> = period(MONDAY + 7 * DAY, 1, 1.0, 6)
            .into_iter()
            .filter(|(t, _)| (18..20).contains(&hour_of_day(&utc, *t)))
            .collect();
        let night = summarise("rate", &night, &utc).unwrap();
        let result = compare(&[(&before, Some(&night))], CONFIDENCE)
            .remove(0)
            .unwrap();
        assert_eq!(result.hours, 2);
        assert!(!result.significant, "{result:?}");
        assert!(
            night.mean < before.mean * 0.7,
            "the night is far below the day's mean"
        );
    }

    #[test]
    fn a_period_without_data_or_common_hours_says_why() {
        let utc = jiff::tz::TimeZone::UTC;
        let before = summarise("x", &period(MONDAY, 1, 1.0, 1), &utc).unwrap();
        let one_block: Vec<(i64, f64)> = period(MONDAY + DAY, 1, 1.0, 2)
            .into_iter()
            .take(10)
            .collect();
        let thin = summarise("x", &one_block, &utc).unwrap();
        let results = compare(&[(&before, None), (&before, Some(&thin))], CONFIDENCE);
        assert_eq!(results[0], Err(Incomparable::NoData));
        assert_eq!(results[1], Err(Incomparable::NoCommonHours));
    }
}
