//! Baselines over stored series: the deviations a series' history would have raised,
//! replayed causally (each minute scored only against the minutes before it), so imported
//! history gives the events the live system would have raised.

use qcat_core::ErrorCode;
use qcat_monitor::baseline::detect::{self, Detector, Settings};
use qcat_monitor::tsdb::{MatchOp, Selector};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::import::invalid;
use super::metric_error;
use crate::access::SessionSlot;
use crate::{Api, ApiError};

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviationsInput {
    /// `name` or `name{label="value",…}`: one series.
    pub series: String,
    #[ts(type = "number")]
    pub since_ms: i64,
    #[ts(type = "number")]
    pub until_ms: i64,
    /// How long a deviation lasts before it is an event (default 5 minutes).
    #[ts(type = "number | null")]
    pub for_ms: Option<i64>,
    /// Robust units (≈ σ) past the expected value (default 4).
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

impl Api {
    /// The baseline's settings: defaults, in the desk's zone (`runtime.time_zone`).
    pub(crate) fn baseline_settings(&self) -> Settings {
        let config = &self.inner.config.config.config;
        let zone = qcat_runtime::schedule::time_zone(&config.runtime.time_zone)
            .map(|(zone, _)| zone)
            .unwrap_or(jiff::tz::TimeZone::UTC);
        Settings {
            zone,
            ..Settings::default()
        }
    }

    /// The deviations of one series in `[since, until)`, replayed from the stored minutes
    /// with the weeks before `since` as the history it learns from (`monitor:view`).
    pub async fn baseline_deviations(
        &self,
        slot: &SessionSlot,
        input: DeviationsInput,
    ) -> Result<DeviationsView, ApiError> {
        self.guard(slot, "baseline_deviations").await?;
        if input.until_ms <= input.since_ms {
            return Err(invalid(
                "until",
                "must be after since; give a later --until or an earlier --since",
            ));
        }
        let mut settings = self.baseline_settings();
        if let Some(for_ms) = input.for_ms {
            if !(60_000..=86_400_000).contains(&for_ms) {
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
        let selector = Selector::parse(&input.series).map_err(|why| invalid("series", why))?;
        if selector
            .matchers
            .iter()
            .any(|(_, op)| !matches!(op, MatchOp::Equal(_)))
        {
            return Err(invalid(
                "series",
                "deviations are of one series; give each label with =",
            ));
        }
        let metrics = self.metrics().await?;
        let found = metrics.series(&selector).await.map_err(metric_error)?;
        let wanted = selector.matchers.len();
        let Some(series) = found.into_iter().find(|s| s.key.labels.len() == wanted) else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!(
                    "series: no stored series is {}; `qcatctl monitor query` lists what is collected",
                    input.series
                ),
            ));
        };
        // The profile keeps `weeks` occurrences per half hour: that much history before
        // `since` makes the replay's first scored minute what the live system scored.
        let warm_up = settings.weeks as i64 * 7 * 86_400_000;
        let values = metrics
            .minute_means(&series, input.since_ms - warm_up, input.until_ms)
            .await
            .map_err(metric_error)?;
        let mut detector = Detector::new(settings);
        let mut changes = Vec::new();
        let mut minutes_scored = 0;
        for (t, value) in &values {
            let evaluation = detector.push(*t, *value, false, &mut changes);
            if *t >= input.since_ms && evaluation.expected.is_some() {
                minutes_scored += 1;
            }
        }
        detector.model_mut().advance(input.until_ms);
        let learning = detector.model().learning();
        let open = detector.finish(&mut changes);
        let deviations = detect::ended(changes, open);
        Ok(DeviationsView {
            series: series.key.canonical(),
            deviations: deviations
                .into_iter()
                .filter(|d| d.end_ms.is_none_or(|end| end > input.since_ms))
                .map(|d| DeviationView {
                    start_ms: d.start_ms,
                    end_ms: d.end_ms,
                    raised_ms: d.raised_ms,
                    peak_score: d.peak_score,
                    direction: d.direction.as_str().to_owned(),
                })
                .collect(),
            minutes_read: values.len() as u64,
            minutes_scored,
            learning,
        })
    }
}
