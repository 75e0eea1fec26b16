//! Baseline reports: a comparison ([`super::named`]) with the learned band of each charted
//! series over the compared period, drawn by `qcat-report` into one self-contained HTML
//! page — written to the data dir's `exports/` from the window, or handed to `qcatctl`
//! to write where the operator says.

use qcat_audit::event::Outcome;
use qcat_report::Language;
use qcat_report::baseline::{BandData, BaselineReport, CHARTED_SERIES, Row};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::super::import::invalid;
use super::named::CompareInput;
use crate::access::SessionSlot;
use crate::{Api, ApiError};

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReportInput {
    /// What is compared, as for `baseline_compare`.
    pub compare: CompareInput,
    /// `en` or `zh-CN` (default `en`).
    pub language: Option<String>,
}

/// A report written to the data dir's `exports` folder.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReportFile {
    pub path: String,
    #[ts(type = "number")]
    pub bytes: u64,
    #[ts(type = "number")]
    pub charts: u64,
}

impl Api {
    /// The report as HTML text (`monitor:view`): `qcatctl baseline report` writes it.
    pub async fn baseline_report_html(
        &self,
        slot: &SessionSlot,
        input: ReportInput,
    ) -> Result<String, ApiError> {
        self.guard(slot, "baseline_report_html").await?;
        self.render_report(input).await.map(|(html, _)| html)
    }

    /// Writes the report to a new file in `<data dir>/exports/` (`monitor:view`, audited).
    pub async fn baseline_report(
        &self,
        slot: &SessionSlot,
        input: ReportInput,
    ) -> Result<ReportFile, ApiError> {
        let proof = self.guard(slot, "baseline_report").await?;
        let target = format!(
            "baseline:{}",
            qcat_core::text::bounded(input.compare.name.trim(), 80)
        );
        let result = async {
            let (html, charts) = self.render_report(input).await?;
            let dir = self.inner.config.data_dir.path().join("exports");
            let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .replace(':', "");
            let path = dir.join(format!("qcat-baseline-{stamp}.html"));
            let bytes = html.into_bytes();
            let written = bytes.len() as u64;
            let at = path.clone();
            tokio::task::spawn_blocking(move || {
                qcat_core::private_files::create_dir(&dir)?;
                qcat_core::atomic_file::write(&at, &bytes, Some(0o600))
            })
            .await
            .map_err(|err| ApiError::internal(&err))?
            .map_err(|err| ApiError::internal_in("baseline_report", &err))?;
            Ok(ReportFile {
                path: path.display().to_string(),
                bytes: written,
                charts,
            })
        }
        .await;
        if let Ok(file) = &result {
            let event = proof
                .event("baseline.report", target.clone(), Outcome::Ok)
                .detail(format!("wrote {}", file.path));
            self.access()?.audit().record(event).await?;
        }
        self.audit_refusal(&proof, "baseline.report", &target, result)
            .await
    }

    /// The comparison, each charted series' band over the compared period, rendered.
    async fn render_report(&self, input: ReportInput) -> Result<(String, u64), ApiError> {
        let language = match input.language.as_deref() {
            None | Some("") => Language::English,
            Some(tag) => {
                Language::parse(tag).ok_or_else(|| invalid("language", "use en or zh-CN"))?
            }
        };
        let comparison = self.compare_unguarded(input.compare).await?;
        let settings = self.baseline_settings();
        let description = self
            .named_description(&comparison.baseline)
            .await
            .unwrap_or_default();
        let mut rows = Vec::new();
        for (index, row) in comparison.rows.into_iter().enumerate() {
            // The band is drawn for the charted series of a period comparison (another
            // named baseline's period may be long gone from the raw tiers, but the replay
            // reads rollups, so it is drawn too while they are kept).
            let band = if index < CHARTED_SERIES {
                self.replay(
                    &row.series,
                    comparison.from_ms,
                    comparison.until_ms,
                    &settings,
                )
                .await
                .ok()
                .map(|replay| {
                    let floor = replay.floor();
                    let edges: Vec<Option<(f64, f64)>> = replay
                        .evaluations
                        .iter()
                        .map(|e| {
                            e.expected
                                .map(|x| super::band_edges(&x, settings.threshold, floor))
                        })
                        .collect();
                    BandData {
                        t: replay.evaluations.iter().map(|e| e.t_ms).collect(),
                        value: replay.evaluations.iter().map(|e| e.value).collect(),
                        low: edges.iter().map(|e| e.map(|(low, _)| low)).collect(),
                        high: edges.iter().map(|e| e.map(|(_, high)| high)).collect(),
                        deviations: replay
                            .deviations
                            .iter()
                            .map(|d| (d.start_ms, d.end_ms.unwrap_or(comparison.until_ms)))
                            .collect(),
                    }
                })
            } else {
                None
            };
            rows.push(Row {
                series: row.series,
                before: row.before,
                now: row.now,
                change: row.change,
                change_low: row.change_low,
                change_high: row.change_high,
                significant: row.significant,
                problem: row.problem,
                before_hourly: row.before_hourly,
                now_hourly: row.now_hourly,
                band,
            });
        }
        let charts = rows.len().min(CHARTED_SERIES) as u64 * 2;
        let report = BaselineReport {
            language,
            baseline: comparison.baseline,
            description,
            baseline_period: (comparison.baseline_from_ms, comparison.baseline_until_ms),
            compared_period: (comparison.from_ms, comparison.until_ms),
            against: comparison.against,
            confidence: comparison.confidence,
            generated_ms: qcat_core::time::now_ms(),
            zone: settings.zone,
            zone_name: self.baseline_zone_name(),
            rows,
        };
        // Drawing is CPU work: off the async threads.
        let html = tokio::task::spawn_blocking(move || qcat_report::baseline::render(&report))
            .await
            .map_err(|err| ApiError::internal(&err))?
            .map_err(|err| ApiError::internal_in("baseline_report", &err))?;
        Ok((html, charts))
    }

    async fn named_description(&self, name: &str) -> Option<String> {
        let store = self.store().ok()?;
        qcat_monitor::baseline::store::get_named(store, name)
            .await
            .ok()
            .flatten()
            .map(|b| b.description)
    }
}
