//! Backfill: history from a CSV file (`timestamp,value`) into one series of the metric
//! store, so a baseline learns from it on day one. Only before the series' own samples: the
//! store appends in time order, and history must not be silently dropped.

use qcat_audit::event::Outcome;
use qcat_core::ErrorCode;
use qcat_monitor::tsdb::{Function, MatchOp, QueryRequest, Selector, SeriesKey};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::metric_error;
use crate::access::SessionSlot;
use crate::{Api, ApiError};

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ImportInput {
    /// `name` or `name{label="value",…}` (labels with `=` only): the series written.
    pub series: String,
    /// `csv`.
    pub format: String,
    /// The file's text.
    pub text: String,
    /// Where it came from (a file name), for the audit trail.
    pub source: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ImportView {
    pub series: String,
    #[ts(type = "number")]
    pub points: u64,
    #[ts(type = "number")]
    pub from_ms: i64,
    #[ts(type = "number")]
    pub to_ms: i64,
}

fn invalid(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, format!("{field}: {why}"))
}

/// The one series `text` names (every label given with `=`).
fn exact_key(text: &str) -> Result<SeriesKey, ApiError> {
    let selector = Selector::parse(text).map_err(|why| invalid("series", why))?;
    let mut key = SeriesKey::new(selector.name.clone());
    for (label, op) in &selector.matchers {
        match op {
            MatchOp::Equal(value) => key = key.with(label, value.clone()),
            _ => {
                return Err(invalid(
                    "series",
                    format!("{label}: an import writes one series; give each label with ="),
                ));
            }
        }
    }
    Ok(key)
}

impl Api {
    /// Imports history into one series (`monitor:edit`), audited with its size and source.
    pub async fn monitor_import(
        &self,
        slot: &SessionSlot,
        input: ImportInput,
    ) -> Result<ImportView, ApiError> {
        let proof = self.guard(slot, "monitor_import").await?;
        let imported = self.import_history(&input).await;
        let target = format!("series:{}", qcat_core::text::bounded(&input.series, 120));
        let (outcome, detail) = match &imported {
            Ok(view) => (
                Outcome::Ok,
                format!(
                    "{} points from {} ({} .. {} ms)",
                    view.points, input.source, view.from_ms, view.to_ms
                ),
            ),
            Err(err) => (Outcome::Failed, err.message.clone()),
        };
        self.access()?
            .audit()
            .record(
                proof
                    .event("monitor.import", target, outcome)
                    .detail(detail),
            )
            .await?;
        imported
    }

    async fn import_history(&self, input: &ImportInput) -> Result<ImportView, ApiError> {
        if input.format != "csv" {
            return Err(invalid(
                "format",
                format!("{:?} is not a known format; use csv", input.format),
            ));
        }
        let key = exact_key(&input.series)?;
        let points = qcat_monitor::import::parse_csv(&input.text)
            .map_err(|err| invalid(&input.source, err))?;
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            return Err(invalid(&input.source, "no rows of timestamp,value"));
        };
        let (first, last) = (first.0, last.0);
        let now = qcat_core::time::now_ms();
        let metrics = self.metrics().await?;
        // The store appends in time order: history after the series' own first sample
        // would be dropped, so it is refused with the time to import before.
        let mut selector = Selector::name(key.name.clone());
        for (label, value) in &key.labels {
            selector = selector.equal(label, value.clone());
        }
        let existing = metrics
            .query(&QueryRequest {
                selector,
                from_ms: first,
                to_ms: now.max(last) + 86_400_000,
                max_points: 2,
                function: Function::Value,
                now_ms: now,
            })
            .await
            .map_err(metric_error)?;
        if let Some(series) = existing
            .iter()
            .find(|series| series.key == key && !series.points.is_empty())
        {
            return Err(invalid(
                "series",
                format!(
                    "{} already has samples from {} on; import history that ends before them, or into another series name",
                    key.canonical(),
                    jiff::Timestamp::from_millisecond(series.points[0].t)
                        .map_or_else(|_| series.points[0].t.to_string(), |t| t.to_string())
                ),
            ));
        }
        metrics.append(points.iter().map(|(at, value)| (&key, *at, *value)));
        // Durable before the answer: the import is one step, not a batch window.
        metrics.flush(now).await.map_err(metric_error)?;
        Ok(ImportView {
            series: key.canonical(),
            points: points.len() as u64,
            from_ms: first,
            to_ms: last,
        })
    }
}
