//! Named baselines through the API: capture a period of chosen series as a stored summary
//! ("before release 1.4"), list, show and remove them, and compare a later period (or
//! another named baseline) with one, per series, with a family-wise interval on each
//! change (see [`qcat_monitor::baseline::named`]).

use qcat_audit::event::Outcome;
use qcat_monitor::baseline::named::{self as named_core, Incomparable, SeriesSummary};
use qcat_monitor::baseline::store::{self as baseline_store, NamedBaseline};
use qcat_monitor::tsdb::Selector;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::super::import::invalid;
use super::super::metric_error;
use super::{DAY_MS, store_error};
use crate::access::SessionSlot;
use crate::{Api, ApiError};

/// What a capture takes when no series are named: the application's latency percentiles,
/// error ratio, request rate (throughput), orders and trades, and in-flight requests
/// (concurrency) — for the whole application and per endpoint.
pub const DEFAULT_CAPTURE: [&str; 8] = [
    "app_latency_seconds",
    "app_endpoint_latency_seconds",
    "app_error_ratio",
    "app_endpoint_error_ratio",
    "app_request_rate",
    "app_endpoint_request_rate",
    "app_throughput",
    "app_in_flight",
];

/// A capture may cover at most this much.
const MAX_PERIOD_MS: i64 = 90 * DAY_MS;
/// And at least this much: three 10-minute blocks.
const MIN_PERIOD_MS: i64 = 30 * 60_000;

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CaptureInput {
    /// "before release 1.4": at most 80 characters.
    pub name: String,
    pub description: Option<String>,
    #[ts(type = "number")]
    pub from_ms: i64,
    #[ts(type = "number")]
    pub until_ms: i64,
    /// Selectors; every stored series each matches is captured. Empty: the application's
    /// headline series (latency percentiles, error ratio, rate, throughput, in-flight).
    #[serde(default)]
    pub series: Vec<String>,
}

/// One series of a named baseline.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct NamedSeriesView {
    pub series: String,
    #[ts(type = "number")]
    pub minutes: u64,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// Median per hour of day (0–23, the desk's zone).
    pub hourly: Vec<Option<f64>>,
}

impl From<&SeriesSummary> for NamedSeriesView {
    fn from(summary: &SeriesSummary) -> Self {
        Self {
            series: summary.series.clone(),
            minutes: summary.minutes,
            mean: summary.mean,
            p50: summary.p50,
            p95: summary.p95,
            p99: summary.p99,
            hourly: summary.hourly.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct NamedBaselineView {
    pub name: String,
    pub description: String,
    #[ts(type = "number")]
    pub from_ms: i64,
    #[ts(type = "number")]
    pub until_ms: i64,
    pub selectors: Vec<String>,
    pub time_zone: String,
    /// Empty in lists; every series in `baseline_show` and after a capture.
    pub series: Vec<NamedSeriesView>,
    #[ts(type = "number")]
    pub series_count: u64,
    pub created_by: String,
    #[ts(type = "number")]
    pub created_ms: i64,
}

fn named_view(baseline: &NamedBaseline, series_count: usize) -> NamedBaselineView {
    NamedBaselineView {
        name: baseline.name.clone(),
        description: baseline.description.clone(),
        from_ms: baseline.from_ms,
        until_ms: baseline.until_ms,
        selectors: baseline.selectors.clone(),
        time_zone: baseline.time_zone.clone(),
        series: baseline.series.iter().map(NamedSeriesView::from).collect(),
        series_count: series_count as u64,
        created_by: baseline.created_by.clone(),
        created_ms: baseline.created_ms,
    }
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CompareInput {
    /// The named baseline compared against.
    pub name: String,
    /// The compared period; default: the last 24 h (or the baseline's length, if shorter)
    /// up to now.
    #[ts(type = "number | null")]
    pub since_ms: Option<i64>,
    #[ts(type = "number | null")]
    pub until_ms: Option<i64>,
    /// Another named baseline to compare instead of a period ("1.5 against 1.4").
    pub against: Option<String>,
}

/// One series compared.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonRowView {
    pub series: String,
    pub before: Option<f64>,
    pub now: Option<f64>,
    pub difference: Option<f64>,
    pub difference_low: Option<f64>,
    pub difference_high: Option<f64>,
    /// `now / before − 1`; null when the baseline's level is 0.
    pub change: Option<f64>,
    pub change_low: Option<f64>,
    pub change_high: Option<f64>,
    /// The interval excludes "no change" (family-wise `confidence` over every row).
    pub significant: bool,
    /// `higher`, `lower` or `unchanged` (not significant).
    pub verdict: String,
    /// Hours of day compared (both periods cover them).
    pub hours: u32,
    /// Why the row has no numbers: `noData` (the compared period has none), `noCommonHours`.
    pub problem: Option<String>,
    /// Median per hour of day of each side (for the profile chart).
    pub before_hourly: Vec<Option<f64>>,
    pub now_hourly: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonView {
    pub baseline: String,
    #[ts(type = "number")]
    pub baseline_from_ms: i64,
    #[ts(type = "number")]
    pub baseline_until_ms: i64,
    /// The compared period (or the other baseline's).
    #[ts(type = "number")]
    pub from_ms: i64,
    #[ts(type = "number")]
    pub until_ms: i64,
    pub against: Option<String>,
    pub confidence: f64,
    pub rows: Vec<ComparisonRowView>,
    #[ts(type = "number")]
    pub significant_count: u64,
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid(
            "name",
            "give the baseline a name, e.g. \"before 1.4\"",
        ));
    }
    if name.chars().count() > 80 {
        return Err(invalid("name", "at most 80 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "control characters are not allowed"));
    }
    Ok(name.to_owned())
}

impl Api {
    /// Summarises each series over `[from, until)`; series without a whole block there are
    /// left out.
    async fn summarise_series(
        &self,
        series: &[qcat_monitor::tsdb::SeriesInfo],
        from_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<SeriesSummary>, ApiError> {
        let metrics = self.metrics().await?;
        let zone = self.baseline_settings().zone;
        let mut summaries = Vec::new();
        for info in series {
            let minutes = metrics
                .minute_means(info, from_ms, until_ms)
                .await
                .map_err(metric_error)?;
            if let Some(summary) = named_core::summarise(&info.key.canonical(), &minutes, &zone) {
                summaries.push(summary);
            }
        }
        Ok(summaries)
    }

    /// Captures a period as a named baseline (`monitor:edit`, audited).
    pub async fn baseline_capture(
        &self,
        slot: &SessionSlot,
        input: CaptureInput,
    ) -> Result<NamedBaselineView, ApiError> {
        let proof = self.guard(slot, "baseline_capture").await?;
        let target = format!(
            "baseline:{}",
            qcat_core::text::bounded(input.name.trim(), 80)
        );
        let result = async {
            let name = check_name(&input.name)?;
            let now = qcat_core::time::now_ms();
            if input.until_ms <= input.from_ms {
                return Err(invalid("until", "must be after from"));
            }
            if input.until_ms > now + 60_000 {
                return Err(invalid("until", "is in the future; a baseline records what was"));
            }
            if input.until_ms - input.from_ms < MIN_PERIOD_MS {
                return Err(invalid(
                    "from",
                    "the period is shorter than 30 minutes; a baseline needs enough 10-minute blocks to compare",
                ));
            }
            if input.until_ms - input.from_ms > MAX_PERIOD_MS {
                return Err(invalid("from", "the period is at most 90 days"));
            }
            let description = input.description.as_deref().unwrap_or("").trim().to_owned();
            if description.chars().count() > 500 {
                return Err(invalid("description", "at most 500 characters"));
            }
            let selectors: Vec<String> = if input.series.iter().all(|s| s.trim().is_empty()) {
                DEFAULT_CAPTURE.iter().map(|s| (*s).to_owned()).collect()
            } else {
                input
                    .series
                    .iter()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            let metrics = self.metrics().await?;
            let mut found = Vec::new();
            for (index, text) in selectors.iter().enumerate() {
                let selector = Selector::parse(text)
                    .map_err(|why| invalid(&format!("series[{index}]"), why))?;
                for info in metrics.series(&selector).await.map_err(metric_error)? {
                    if !found
                        .iter()
                        .any(|f: &qcat_monitor::tsdb::SeriesInfo| f.key == info.key)
                    {
                        found.push(info);
                    }
                }
            }
            let series = self
                .summarise_series(&found, input.from_ms, input.until_ms)
                .await?;
            if series.is_empty() {
                return Err(ApiError::new(
                    qcat_core::ErrorCode::NotFound,
                    format!(
                        "series: nothing stored between from and until matches {}; pick a \
                         period the console collected (or imported) these series in",
                        selectors.join(", ")
                    ),
                ));
            }
            let baseline = NamedBaseline {
                name,
                description,
                from_ms: input.from_ms,
                until_ms: input.until_ms,
                selectors,
                time_zone: self.baseline_zone_name(),
                series,
                created_by: proof.actor().to_owned(),
                created_ms: now,
            };
            let event = proof.event("baseline.capture", target.clone(), Outcome::Ok);
            baseline_store::insert_named(self.store()?, &baseline, event)
                .await
                .map_err(store_error)?;
            Ok(named_view(&baseline, baseline.series.len()))
        }
        .await;
        self.audit_refusal(&proof, "baseline.capture", &target, result)
            .await
    }

    /// Every named baseline, newest first, without their series (`monitor:view`).
    pub async fn baseline_list(
        &self,
        slot: &SessionSlot,
    ) -> Result<Vec<NamedBaselineView>, ApiError> {
        self.guard(slot, "baseline_list").await?;
        let all = baseline_store::list_named(self.store()?, true)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        Ok(all
            .iter()
            .map(|baseline| {
                let mut view = named_view(baseline, baseline.series.len());
                view.series.clear();
                view
            })
            .collect())
    }

    async fn named(&self, name: &str) -> Result<NamedBaseline, ApiError> {
        baseline_store::get_named(self.store()?, name.trim())
            .await
            .map_err(|err| ApiError::store_failure(&err))?
            .ok_or_else(|| {
                ApiError::new(
                    qcat_core::ErrorCode::NotFound,
                    format!(
                        "name: no baseline named {:?}; `qcatctl baseline list` shows them",
                        qcat_core::text::bounded(name.trim(), 80)
                    ),
                )
            })
    }

    /// One named baseline with every series' summary (`monitor:view`).
    pub async fn baseline_show(
        &self,
        slot: &SessionSlot,
        name: String,
    ) -> Result<NamedBaselineView, ApiError> {
        self.guard(slot, "baseline_show").await?;
        let baseline = self.named(&name).await?;
        Ok(named_view(&baseline, baseline.series.len()))
    }

    /// Removes a named baseline (`monitor:edit`, audited).
    pub async fn baseline_remove(&self, slot: &SessionSlot, name: String) -> Result<(), ApiError> {
        let proof = self.guard(slot, "baseline_remove").await?;
        let target = format!("baseline:{}", qcat_core::text::bounded(name.trim(), 80));
        let event = proof.event("baseline.remove", target.clone(), Outcome::Ok);
        let result = baseline_store::remove_named(self.store()?, name.trim(), event)
            .await
            .map_err(store_error);
        self.audit_refusal(&proof, "baseline.remove", &target, result)
            .await
    }

    /// Compares a period (or another named baseline) with a named baseline, series by
    /// series (`monitor:view`).
    pub async fn baseline_compare(
        &self,
        slot: &SessionSlot,
        input: CompareInput,
    ) -> Result<ComparisonView, ApiError> {
        self.guard(slot, "baseline_compare").await?;
        self.compare_unguarded(input).await
    }

    pub(crate) async fn compare_unguarded(
        &self,
        input: CompareInput,
    ) -> Result<ComparisonView, ApiError> {
        let baseline = self.named(&input.name).await?;
        let (now_series, from_ms, until_ms) = match input.against.as_deref() {
            Some(other) if !other.trim().is_empty() => {
                let other = self.named(other).await?;
                (other.series, other.from_ms, other.until_ms)
            }
            _ => {
                let until_ms = input.until_ms.unwrap_or_else(qcat_core::time::now_ms);
                let length = (baseline.until_ms - baseline.from_ms).min(DAY_MS);
                let from_ms = input.since_ms.unwrap_or(until_ms - length);
                if until_ms <= from_ms {
                    return Err(invalid("until", "must be after since"));
                }
                if until_ms - from_ms > MAX_PERIOD_MS {
                    return Err(invalid("since", "the compared period is at most 90 days"));
                }
                let metrics = self.metrics().await?;
                let mut infos = Vec::new();
                for summary in &baseline.series {
                    // A series that is no longer stored has nothing to compare (noData).
                    if let Ok(info) = self.find_series(&metrics, &summary.series).await {
                        infos.push(info);
                    }
                }
                let summaries = self.summarise_series(&infos, from_ms, until_ms).await?;
                (summaries, from_ms, until_ms)
            }
        };
        let pairs: Vec<(&SeriesSummary, Option<&SeriesSummary>)> = baseline
            .series
            .iter()
            .map(|before| {
                (
                    before,
                    now_series.iter().find(|now| now.series == before.series),
                )
            })
            .collect();
        let results = named_core::compare(&pairs, named_core::CONFIDENCE);
        let mut rows: Vec<ComparisonRowView> = pairs
            .iter()
            .zip(results)
            .map(|((before, now), result)| match result {
                Ok(c) => ComparisonRowView {
                    series: c.series,
                    before: Some(c.before),
                    now: Some(c.now),
                    difference: Some(c.difference),
                    difference_low: Some(c.difference_low),
                    difference_high: Some(c.difference_high),
                    change: c.change,
                    change_low: c.change_low,
                    change_high: c.change_high,
                    significant: c.significant,
                    verdict: if !c.significant {
                        "unchanged"
                    } else if c.difference > 0.0 {
                        "higher"
                    } else {
                        "lower"
                    }
                    .to_owned(),
                    hours: c.hours as u32,
                    problem: None,
                    before_hourly: before.hourly.clone(),
                    now_hourly: now.map(|n| n.hourly.clone()).unwrap_or_default(),
                },
                Err(why) => ComparisonRowView {
                    series: before.series.clone(),
                    before: Some(before.mean),
                    now: now.map(|n| n.mean),
                    difference: None,
                    difference_low: None,
                    difference_high: None,
                    change: None,
                    change_low: None,
                    change_high: None,
                    significant: false,
                    verdict: "unchanged".to_owned(),
                    hours: 0,
                    problem: Some(
                        match why {
                            Incomparable::NoData => "noData",
                            Incomparable::NoCommonHours => "noCommonHours",
                        }
                        .to_owned(),
                    ),
                    before_hourly: before.hourly.clone(),
                    now_hourly: now.map(|n| n.hourly.clone()).unwrap_or_default(),
                },
            })
            .collect();
        // Significant changes first, largest first; then the rest by name.
        rows.sort_by(|a, b| {
            b.significant.cmp(&a.significant).then_with(|| {
                let size = |r: &ComparisonRowView| r.change.map_or(0.0, f64::abs);
                size(b)
                    .total_cmp(&size(a))
                    .then_with(|| a.series.cmp(&b.series))
            })
        });
        let significant_count = rows.iter().filter(|r| r.significant).count() as u64;
        Ok(ComparisonView {
            baseline: baseline.name,
            baseline_from_ms: baseline.from_ms,
            baseline_until_ms: baseline.until_ms,
            from_ms,
            until_ms,
            against: input.against.filter(|a| !a.trim().is_empty()),
            confidence: named_core::CONFIDENCE,
            rows,
            significant_count,
        })
    }
}
