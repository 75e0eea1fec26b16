//! Baselines over stored series through the API:
//!
//! - replays: the deviations a series' history would have raised and the band it was held
//!   to (`baseline_deviations`, `baseline_band`), each minute scored only against the
//!   minutes before it, so imported history gives the events the live system would have
//!   raised; marked periods teach nothing and raise nothing;
//! - what the live baselines know (`baseline_status`, `baseline_events`), written by the
//!   `baselines` duty ([`live`]);
//! - marked periods (`baseline_mark`, `baseline_marks`, `baseline_unmark`);
//! - named baselines and comparisons ([`named`]) and their reports ([`report`]).

use qcat_audit::event::Outcome;
use qcat_core::ErrorCode;
use qcat_monitor::baseline::detect::{self, Detector, Settings};
use qcat_monitor::baseline::store::{self as baseline_store, BaselineStoreError, Mark, MarkKind};
use qcat_monitor::tsdb::{MatchOp, MetricStore, Selector, SeriesInfo};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::import::invalid;
use super::metric_error;
use crate::access::SessionSlot;
use crate::{Api, ApiError};

pub(crate) mod live;
pub(crate) mod named;
pub(crate) mod report;

pub use named::{
    CaptureInput, CompareInput, ComparisonRowView, ComparisonView, NamedBaselineView,
    NamedSeriesView,
};
pub use report::{ReportFile, ReportInput};

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviationsInput {
    /// `name` or `name{label="value",…}`: one series.
    pub series: String,
    #[ts(type = "number")]
    pub since_ms: i64,
    #[ts(type = "number")]
    pub until_ms: i64,
    /// How long a deviation lasts before it is an event (default `baseline.deviation_for`).
    #[ts(type = "number | null")]
    pub for_ms: Option<i64>,
    /// Robust units (≈ σ) past the expected value (default `baseline.threshold`).
    pub threshold: Option<f64>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviationView {
    #[ts(type = "number")]
    pub start_ms: i64,
    /// `null` while it lasts.
    #[ts(type = "number | null")]
    pub end_ms: Option<i64>,
    /// When it became an event (start + `for`).
    #[ts(type = "number")]
    pub raised_ms: i64,
    pub peak_score: f64,
    /// `above` or `below`.
    pub direction: String,
}

impl From<&detect::Deviation> for DeviationView {
    fn from(d: &detect::Deviation) -> Self {
        Self {
            start_ms: d.start_ms,
            end_ms: d.end_ms,
            raised_ms: d.raised_ms,
            peak_score: d.peak_score,
            direction: d.direction.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviationsView {
    pub series: String,
    pub deviations: Vec<DeviationView>,
    /// Minutes read (learning included) and minutes scored in the range.
    #[ts(type = "number")]
    pub minutes_read: u64,
    #[ts(type = "number")]
    pub minutes_scored: u64,
    /// Share of the minimum history learned by the end of the range, 0..1.
    pub learning: f64,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BandInput {
    /// One series, every label given with `=`.
    pub series: String,
    #[ts(type = "number")]
    pub since_ms: i64,
    #[ts(type = "number")]
    pub until_ms: i64,
    /// At most this many points (minutes are averaged into wider steps); default 600.
    pub max_points: Option<u32>,
}

/// A series with the band it was held to, point by point (parallel arrays, compact on the
/// wire): `low`/`high` are the expected value ∓ the threshold in robust units; `null`
/// while the baseline learns.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BandView {
    pub series: String,
    #[ts(type = "number[]")]
    pub t: Vec<i64>,
    pub value: Vec<f64>,
    pub expected: Vec<Option<f64>>,
    pub low: Vec<Option<f64>>,
    pub high: Vec<Option<f64>>,
    /// The largest score (by size) in each step.
    pub score: Vec<Option<f64>>,
    pub deviations: Vec<DeviationView>,
    pub marks: Vec<MarkView>,
    /// Share of the minimum history learned by the end of the range, 0..1.
    pub learning: f64,
    pub threshold: f64,
    #[ts(type = "number")]
    pub step_ms: i64,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MarkInput {
    /// `incident` or `maintenance`.
    pub kind: String,
    #[ts(type = "number")]
    pub from_ms: i64,
    #[ts(type = "number")]
    pub until_ms: i64,
    /// A selector the mark applies to; empty or null: every series.
    pub series: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MarkView {
    pub id: String,
    pub kind: String,
    #[ts(type = "number")]
    pub from_ms: i64,
    #[ts(type = "number")]
    pub until_ms: i64,
    /// Empty: every series.
    pub series: String,
    pub note: String,
    pub created_by: String,
    #[ts(type = "number")]
    pub created_ms: i64,
}

impl From<&Mark> for MarkView {
    fn from(mark: &Mark) -> Self {
        Self {
            id: mark.id.clone(),
            kind: mark.kind.as_str().to_owned(),
            from_ms: mark.from_ms,
            until_ms: mark.until_ms,
            series: mark.series.clone(),
            note: mark.note.clone(),
            created_by: mark.created_by.clone(),
            created_ms: mark.created_ms,
        }
    }
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RangeInput {
    #[ts(type = "number")]
    pub since_ms: i64,
    #[ts(type = "number")]
    pub until_ms: i64,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviationEventsInput {
    #[ts(type = "number")]
    pub since_ms: i64,
    #[ts(type = "number")]
    pub until_ms: i64,
    /// One series (its canonical key), or every series.
    pub series: Option<String>,
    /// At most this many, newest first (default 500).
    pub limit: Option<u32>,
}

/// A deviation event the live baselines raised.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviationEventView {
    pub series: String,
    #[serde(flatten)]
    pub deviation: DeviationView,
}

/// A learned series as the `baselines` duty last saw it.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BaselineSeriesView {
    pub series: String,
    /// Share of the minimum history learned, 0..1 ("learning: 40 %").
    pub learning: f64,
    /// How the expected value was found: `weekly`, `dayType`, `daily`, `flat`; null while
    /// learning.
    pub level: Option<String>,
    #[ts(type = "number | null")]
    pub last_ms: Option<i64>,
    pub value: Option<f64>,
    pub expected: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub score: Option<f64>,
    /// The deviation event in progress, if any.
    pub deviation: Option<DeviationView>,
    #[ts(type = "number")]
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BaselineStatusView {
    /// The configured selectors (`baseline.series`).
    pub selectors: Vec<String>,
    pub threshold: f64,
    #[ts(type = "number")]
    pub for_ms: i64,
    #[ts(type = "number")]
    pub min_history_ms: i64,
    pub series: Vec<BaselineSeriesView>,
}

pub(crate) fn store_error(err: BaselineStoreError) -> ApiError {
    match err {
        BaselineStoreError::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
        BaselineStoreError::NotFound(message) => ApiError::new(ErrorCode::NotFound, message),
        BaselineStoreError::Storage(err) => ApiError::store_failure(&err),
    }
}

/// Marks as the detector asks: is this minute of this series masked?
pub(crate) struct Masks(Vec<(i64, i64, Option<Selector>)>);

impl Masks {
    pub(crate) fn new(marks: &[Mark]) -> Self {
        Self(
            marks
                .iter()
                .map(|mark| {
                    let selector = if mark.series.is_empty() {
                        None
                    } else {
                        // A mark whose selector no longer parses masks nothing rather than
                        // everything; it was checked when made.
                        Some(
                            Selector::parse(&mark.series)
                                .unwrap_or_else(|_| Selector::name("\u{0}")),
                        )
                    };
                    (mark.from_ms, mark.until_ms, selector)
                })
                .collect(),
        )
    }

    pub(crate) fn masked(&self, series: &SeriesInfo, t_ms: i64) -> bool {
        self.0.iter().any(|(from, until, selector)| {
            (*from..*until).contains(&t_ms)
                && selector.as_ref().is_none_or(|s| s.matches(&series.key))
        })
    }
}

/// The band around an expected value: ± `threshold` robust units, the low edge no lower
/// than `floor` (0 for a series that is never negative: a latency's band does not reach
/// below zero).
pub(crate) fn band_edges(
    expected: &qcat_monitor::baseline::Expected,
    threshold: f64,
    floor: Option<f64>,
) -> (f64, f64) {
    let low = expected.median - threshold * expected.scale;
    (
        floor.map_or(low, |floor| low.max(floor)),
        expected.median + threshold * expected.scale,
    )
}

/// A replay of one series over `[since, until)`, with the weeks before as its history.
pub(crate) struct Replay {
    pub series: SeriesInfo,
    /// The minutes in the range, scored where the baseline spoke.
    pub evaluations: Vec<detect::Evaluation>,
    pub deviations: Vec<detect::Deviation>,
    pub marks: Vec<Mark>,
    pub minutes_read: u64,
    pub learning: f64,
}

impl Replay {
    /// 0 when no value of the range is negative, so the band stays at or above it.
    pub(crate) fn floor(&self) -> Option<f64> {
        self.evaluations
            .iter()
            .all(|e| e.value >= 0.0)
            .then_some(0.0)
    }
}

impl Api {
    /// The baseline's settings from `[baseline]`, in the desk's zone (`runtime.time_zone`).
    pub(crate) fn baseline_settings(&self) -> Settings {
        let config = &self.inner.config.config.config;
        let zone = qcat_runtime::schedule::time_zone(&config.runtime.time_zone)
            .map(|(zone, _)| zone)
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let baseline = &config.baseline;
        Settings {
            zone,
            weeks: baseline.weeks as usize,
            min_history_ms: baseline.min_history.as_millis() as i64,
            threshold: baseline.threshold,
            for_ms: baseline.deviation_for.as_millis() as i64,
        }
    }

    /// The name of the desk's zone, as stored with a named baseline.
    pub(crate) fn baseline_zone_name(&self) -> String {
        self.inner.config.config.config.runtime.time_zone.clone()
    }

    /// The deviations of one series in `[since, until)`, replayed from the stored minutes
    /// with the weeks before `since` as the history it learns from (`monitor:view`).
    pub async fn baseline_deviations(
        &self,
        slot: &SessionSlot,
        input: DeviationsInput,
    ) -> Result<DeviationsView, ApiError> {
        self.guard(slot, "baseline_deviations").await?;
        let mut settings = self.baseline_settings();
        if let Some(for_ms) = input.for_ms {
            if !(60_000..=DAY_MS).contains(&for_ms) {
                return Err(invalid(
                    "for",
                    "must be between 1 minute and 1 day (deviations are scored per minute)",
                ));
            }
            settings.for_ms = for_ms;
        }
        if let Some(threshold) = input.threshold {
            if !(threshold.is_finite() && (1.0..=50.0).contains(&threshold)) {
                return Err(invalid(
                    "threshold",
                    "must be between 1 and 50 robust units",
                ));
            }
            settings.threshold = threshold;
        }
        let replay = self
            .replay(&input.series, input.since_ms, input.until_ms, &settings)
            .await?;
        Ok(DeviationsView {
            series: replay.series.key.canonical(),
            deviations: replay.deviations.iter().map(DeviationView::from).collect(),
            minutes_read: replay.minutes_read,
            minutes_scored: replay
                .evaluations
                .iter()
                .filter(|e| e.expected.is_some())
                .count() as u64,
            learning: replay.learning,
        })
    }

    /// One series with its expected band over a range, for charts (`monitor:view`).
    pub async fn baseline_band(
        &self,
        slot: &SessionSlot,
        input: BandInput,
    ) -> Result<BandView, ApiError> {
        self.guard(slot, "baseline_band").await?;
        let settings = self.baseline_settings();
        let replay = self
            .replay(&input.series, input.since_ms, input.until_ms, &settings)
            .await?;
        let max_points = input.max_points.unwrap_or(600).clamp(10, 5000) as i64;
        let span = input.until_ms - input.since_ms;
        let minute = qcat_monitor::baseline::model::MINUTE_MS;
        let step = ((span / max_points + minute - 1) / minute).max(1) * minute;
        let mut view = BandView {
            series: replay.series.key.canonical(),
            t: Vec::new(),
            value: Vec::new(),
            expected: Vec::new(),
            low: Vec::new(),
            high: Vec::new(),
            score: Vec::new(),
            deviations: replay.deviations.iter().map(DeviationView::from).collect(),
            marks: replay.marks.iter().map(MarkView::from).collect(),
            learning: replay.learning,
            threshold: settings.threshold,
            step_ms: step,
        };
        // Each step: the mean value and expected value, the band's mean edges, and the
        // score of largest size (so a one-minute spike survives the averaging).
        let mut i = 0;
        let evaluations = &replay.evaluations;
        let floor = replay.floor();
        while i < evaluations.len() {
            let start = evaluations[i].t_ms.div_euclid(step) * step;
            let mut j = i;
            let (mut value, mut expected, mut low, mut high, mut scored) = (0.0, 0.0, 0.0, 0.0, 0);
            let mut score: Option<f64> = None;
            while j < evaluations.len() && evaluations[j].t_ms < start + step {
                let evaluation = &evaluations[j];
                value += evaluation.value;
                if let Some(e) = evaluation.expected {
                    let (l, h) = band_edges(&e, settings.threshold, floor);
                    expected += e.median;
                    low += l;
                    high += h;
                    scored += 1;
                    let s = e.score(evaluation.value);
                    if score.is_none_or(|best| s.abs() > best.abs()) {
                        score = Some(s);
                    }
                }
                j += 1;
            }
            let n = (j - i) as f64;
            let mean = |sum: f64| (scored > 0).then(|| sum / scored as f64);
            view.t.push(start);
            view.value.push(value / n);
            view.expected.push(mean(expected));
            view.low.push(mean(low));
            view.high.push(mean(high));
            view.score.push(score);
            i = j;
        }
        Ok(view)
    }

    /// The one stored series `text` names (every label given with `=`).
    pub(crate) async fn find_series(
        &self,
        metrics: &MetricStore,
        text: &str,
    ) -> Result<SeriesInfo, ApiError> {
        let selector = Selector::parse(text).map_err(|why| invalid("series", why))?;
        if selector
            .matchers
            .iter()
            .any(|(_, op)| !matches!(op, MatchOp::Equal(_)))
        {
            return Err(invalid(
                "series",
                "a baseline is of one series; give each label with =",
            ));
        }
        let found = metrics.series(&selector).await.map_err(metric_error)?;
        let wanted = selector.matchers.len();
        found
            .into_iter()
            .find(|s| s.key.labels.len() == wanted)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!(
                        "series: no stored series is {}; `qcatctl monitor query` lists what is collected",
                        qcat_core::text::bounded(text, 200)
                    ),
                )
            })
    }

    /// Replays one series over `[since, until)` with `settings.weeks` weeks before `since`
    /// as its history (so the first scored minute is scored as the live system scored it),
    /// masking marked periods.
    pub(crate) async fn replay(
        &self,
        series: &str,
        since_ms: i64,
        until_ms: i64,
        settings: &Settings,
    ) -> Result<Replay, ApiError> {
        if until_ms <= since_ms {
            return Err(invalid(
                "until",
                "must be after since; give a later --until or an earlier --since",
            ));
        }
        if until_ms - since_ms > 400 * DAY_MS {
            return Err(invalid("since", "the range is at most 400 days"));
        }
        let metrics = self.metrics().await?;
        let series = self.find_series(&metrics, series).await?;
        let warm_up = settings.weeks as i64 * 7 * DAY_MS;
        let values = metrics
            .minute_means(&series, since_ms - warm_up, until_ms)
            .await
            .map_err(metric_error)?;
        let marks = baseline_store::marks(self.store()?, since_ms - warm_up, until_ms)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        let masks = Masks::new(&marks);
        let mut detector = Detector::new(settings.clone());
        let mut changes = Vec::new();
        let mut evaluations = Vec::new();
        for (t, value) in &values {
            let evaluation = detector.push(*t, *value, masks.masked(&series, *t), &mut changes);
            if *t >= since_ms {
                evaluations.push(evaluation);
            }
        }
        detector.model_mut().advance(until_ms);
        let learning = detector.model().learning();
        let open = detector.finish(&mut changes);
        let deviations = detect::ended(changes, open)
            .into_iter()
            .filter(|d| d.end_ms.is_none_or(|end| end > since_ms))
            .collect();
        Ok(Replay {
            series,
            evaluations,
            deviations,
            marks: marks
                .into_iter()
                .filter(|m| m.until_ms > since_ms)
                .collect(),
            minutes_read: values.len() as u64,
            learning,
        })
    }

    /// Every learned series' state and its ongoing deviation (`monitor:view`).
    pub async fn baseline_status(
        &self,
        slot: &SessionSlot,
    ) -> Result<BaselineStatusView, ApiError> {
        self.guard(slot, "baseline_status").await?;
        let store = self.store()?;
        let settings = self.baseline_settings();
        let states = baseline_store::series_states(store)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        let now = qcat_core::time::now_ms();
        let open =
            baseline_store::deviations(store, now - 400 * DAY_MS, now + DAY_MS, None, 10_000)
                .await
                .map_err(|err| ApiError::store_failure(&err))?;
        let series = states
            .into_iter()
            .map(|state| {
                let deviation = open
                    .iter()
                    .find(|d| d.series == state.series && d.deviation.end_ms.is_none())
                    .map(|d| DeviationView::from(&d.deviation));
                let edges = state.expected.zip(state.scale).map(|(median, scale)| {
                    let floor = state.value.filter(|v| *v >= 0.0).map(|_| 0.0);
                    band_edges(
                        &qcat_monitor::baseline::Expected {
                            median,
                            scale,
                            level: qcat_monitor::baseline::Level::Flat,
                        },
                        settings.threshold,
                        floor,
                    )
                });
                BaselineSeriesView {
                    low: edges.map(|(low, _)| low),
                    high: edges.map(|(_, high)| high),
                    series: state.series,
                    learning: state.learning,
                    level: state.level,
                    last_ms: state.last_ms,
                    value: state.value,
                    expected: state.expected,
                    score: state.score,
                    deviation,
                    updated_ms: state.updated_ms,
                }
            })
            .collect();
        Ok(BaselineStatusView {
            selectors: self.inner.config.config.config.baseline.series.clone(),
            threshold: settings.threshold,
            for_ms: settings.for_ms,
            min_history_ms: settings.min_history_ms,
            series,
        })
    }

    /// Deviation events the live baselines raised in a range, newest first (`monitor:view`).
    pub async fn baseline_events(
        &self,
        slot: &SessionSlot,
        input: DeviationEventsInput,
    ) -> Result<Vec<DeviationEventView>, ApiError> {
        self.guard(slot, "baseline_events").await?;
        if input.until_ms <= input.since_ms {
            return Err(invalid("until", "must be after since"));
        }
        let events = baseline_store::deviations(
            self.store()?,
            input.since_ms,
            input.until_ms,
            input.series.as_deref().filter(|s| !s.is_empty()),
            i64::from(input.limit.unwrap_or(500).clamp(1, 10_000)),
        )
        .await
        .map_err(|err| ApiError::store_failure(&err))?;
        Ok(events
            .iter()
            .map(|stored| DeviationEventView {
                series: stored.series.clone(),
                deviation: DeviationView::from(&stored.deviation),
            })
            .collect())
    }

    /// Marked periods overlapping a range (`monitor:view`).
    pub async fn baseline_marks(
        &self,
        slot: &SessionSlot,
        input: RangeInput,
    ) -> Result<Vec<MarkView>, ApiError> {
        self.guard(slot, "baseline_marks").await?;
        let marks = baseline_store::marks(self.store()?, input.since_ms, input.until_ms)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        Ok(marks.iter().map(MarkView::from).collect())
    }

    /// Marks a period as an incident or maintenance: the baselines learn nothing from it and
    /// raise nothing in it (`monitor:edit`, audited).
    pub async fn baseline_mark(
        &self,
        slot: &SessionSlot,
        input: MarkInput,
    ) -> Result<MarkView, ApiError> {
        let proof = self.guard(slot, "baseline_mark").await?;
        let store = self.store()?;
        let result = async {
            let kind = MarkKind::parse(input.kind.trim())
                .ok_or_else(|| invalid("kind", "use incident or maintenance"))?;
            if input.until_ms <= input.from_ms {
                return Err(invalid("until", "must be after from"));
            }
            if input.until_ms - input.from_ms > 90 * DAY_MS {
                return Err(invalid(
                    "until",
                    "a marked period is at most 90 days; mark longer outages in parts",
                ));
            }
            let series = input.series.as_deref().unwrap_or("").trim().to_owned();
            if !series.is_empty() {
                Selector::parse(&series).map_err(|why| invalid("series", why))?;
            }
            let note = input.note.as_deref().unwrap_or("").trim();
            if note.chars().count() > 500 {
                return Err(invalid("note", "at most 500 characters"));
            }
            let mark = Mark {
                id: qcat_core::random::hex_id(12),
                kind,
                from_ms: input.from_ms,
                until_ms: input.until_ms,
                series,
                note: note.to_owned(),
                created_by: proof.actor().to_owned(),
                created_ms: qcat_core::time::now_ms(),
            };
            let event = proof.event("baseline.mark", format!("mark:{}", mark.id), Outcome::Ok);
            baseline_store::insert_mark(store, &mark, event)
                .await
                .map_err(|err| ApiError::store_failure(&err))?;
            Ok(MarkView::from(&mark))
        }
        .await;
        self.audit_refusal(&proof, "baseline.mark", "mark:new", result)
            .await
    }

    /// Removes a marked period (`monitor:edit`, audited).
    pub async fn baseline_unmark(&self, slot: &SessionSlot, id: String) -> Result<(), ApiError> {
        let proof = self.guard(slot, "baseline_unmark").await?;
        let target = format!("mark:{}", qcat_core::text::bounded(&id, 40));
        let event = proof.event("baseline.unmark", target.clone(), Outcome::Ok);
        let result = baseline_store::remove_mark(self.store()?, id.trim(), event)
            .await
            .map_err(store_error);
        self.audit_refusal(&proof, "baseline.unmark", &target, result)
            .await
    }

    /// A change that failed is recorded as failed, with its reason; the error goes back.
    pub(crate) async fn audit_refusal<T>(
        &self,
        proof: &qcat_access::control::Proof,
        action: &str,
        target: &str,
        result: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        if let Err(err) = &result {
            let event = proof
                .event(action, target.to_owned(), Outcome::Failed)
                .detail(err.message.clone());
            self.access()?.audit().record(event).await?;
        }
        result
    }
}
