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

pub(super) fn invalid(field: &str, why: impl std::fmt::Display) -> ApiError {
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

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusImportInput {
    /// The server's base URL (`http://host:9090`).
    pub url: String,
    /// PromQL; each result series is written under `series` with its labels.
    pub query: String,
    /// The name the result series get.
    pub series: String,
    /// How far back from now.
    #[ts(type = "number")]
    pub since_ms: i64,
    /// The resolution asked of Prometheus (at least 1 s).
    #[ts(type = "number")]
    pub step_ms: i64,
}

impl Api {
    /// Imports a Prometheus server's history of one query (`monitor:edit`): every result
    /// series under `series` with its labels, audited.
    pub async fn monitor_import_prometheus(
        &self,
        slot: &SessionSlot,
        input: PrometheusImportInput,
    ) -> Result<Vec<ImportView>, ApiError> {
        let proof = self.guard(slot, "monitor_import_prometheus").await?;
        let imported = self.import_prometheus(&input).await;
        let target = format!("series:{}", qcat_core::text::bounded(&input.series, 120));
        let (outcome, detail) = match &imported {
            Ok(views) => (
                Outcome::Ok,
                format!(
                    "{} series, {} points from {} ({})",
                    views.len(),
                    views.iter().map(|v| v.points).sum::<u64>(),
                    qcat_core::redact::url(&input.url),
                    qcat_core::text::bounded(&input.query, 200)
                ),
            ),
            Err(err) => (Outcome::Failed, err.message.clone()),
        };
        self.audit_import(&proof, target, outcome, detail).await?;
        imported
    }

    async fn import_prometheus(
        &self,
        input: &PrometheusImportInput,
    ) -> Result<Vec<ImportView>, ApiError> {
        let name = exact_key(&input.series)?;
        if !name.labels.is_empty() {
            return Err(invalid(
                "series",
                "a name only: the result series bring their own labels",
            ));
        }
        if input.since_ms <= 0 {
            return Err(invalid("since", "give a duration such as 30d"));
        }
        let api = qcat_monitor::collect::PrometheusApi::new(
            &input.url,
            None,
            std::time::Duration::from_secs(30),
        )
        .map_err(|err| invalid("url", err))?;
        let now = qcat_core::time::now_ms();
        let found = api
            .history(
                &name.name,
                &input.query,
                now - input.since_ms,
                now,
                input.step_ms.max(1000),
            )
            .await
            .map_err(|err| ApiError::new(ErrorCode::SourceUnavailable, err.to_string()))?;
        let found: Vec<(SeriesKey, Vec<(i64, f64)>)> = found
            .into_iter()
            .filter(|(_, points)| !points.is_empty())
            .collect();
        if found.is_empty() {
            return Err(invalid(
                "query",
                format!(
                    "{:?} returned no samples over that range",
                    qcat_core::text::bounded(&input.query, 120)
                ),
            ));
        }
        let views = found
            .iter()
            .map(|(key, points)| ImportView {
                series: key.canonical(),
                points: points.len() as u64,
                from_ms: points[0].0,
                to_ms: points[points.len() - 1].0,
            })
            .collect();
        self.write_history(found).await?;
        Ok(views)
    }

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
        self.audit_import(&proof, target, outcome, detail).await?;
        imported
    }

    /// One `monitor.import` audit entry, whichever source the history came from.
    async fn audit_import(
        &self,
        proof: &qcat_access::control::Proof,
        target: String,
        outcome: Outcome,
        detail: String,
    ) -> Result<(), ApiError> {
        self.access()?
            .audit()
            .record(
                proof
                    .event("monitor.import", target, outcome)
                    .detail(detail),
            )
            .await?;
        Ok(())
    }

    /// Checks every series against its own samples, then writes them all and flushes.
    pub(crate) async fn write_history(
        &self,
        series: Vec<(SeriesKey, Vec<(i64, f64)>)>,
    ) -> Result<(), ApiError> {
        let now = qcat_core::time::now_ms();
        let metrics = self.metrics().await?;
        for (key, points) in &series {
            let (Some(first), Some(last)) = (points.first(), points.last()) else {
                continue;
            };
            // The store appends in time order: history after the series' own first sample
            // would be dropped, so it is refused with the time to import before.
            let mut selector = Selector::name(key.name.clone());
            for (label, value) in &key.labels {
                selector = selector.equal(label, value.clone());
            }
            let existing = metrics
                .query(&QueryRequest {
                    selector,
                    from_ms: first.0,
                    to_ms: now.max(last.0) + 86_400_000,
                    max_points: 2,
                    function: Function::Value,
                    now_ms: now,
                })
                .await
                .map_err(metric_error)?;
            if let Some(found) = existing
                .iter()
                .find(|found| found.key == *key && !found.points.is_empty())
            {
                return Err(invalid(
                    "series",
                    format!(
                        "{} already has samples from {} on; import history that ends before them, or into another series name",
                        key.canonical(),
                        jiff::Timestamp::from_millisecond(found.points[0].t)
                            .map_or_else(|_| found.points[0].t.to_string(), |t| t.to_string())
                    ),
                ));
            }
        }
        for (key, points) in &series {
            metrics.append(points.iter().map(|(at, value)| (key, *at, *value)));
        }
        // Durable before the answer: the import is one step, not a batch window.
        metrics.flush(now).await.map_err(metric_error)?;
        Ok(())
    }

    async fn import_history(&self, input: &ImportInput) -> Result<ImportView, ApiError> {
        if input.format != "csv" {
            return Err(invalid(
                "format",
                format!("{:?} is not a known format; use csv", input.format),
            ));
        }
        let key = exact_key(&input.series)?;
        let points: Vec<(i64, f64)> = qcat_monitor::import::parse_csv(&input.text)
            .map_err(|err| invalid(&input.source, err))?;
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            return Err(invalid(&input.source, "no rows of timestamp,value"));
        };
        let (first, last) = (first.0, last.0);
        self.write_history(vec![(key.clone(), points.clone())])
            .await?;
        Ok(ImportView {
            series: key.canonical(),
            points: points.len() as u64,
            from_ms: first,
            to_ms: last,
        })
    }
}
