//! `qcatctl baseline …`: learned baselines over stored series.

use clap::Subcommand;
use qcat_api::monitor::DeviationsInput;
use qcat_api::{Api, ApiError, ErrorCode, SessionSlot};
use serde::Serialize;

use crate::output::{self, CliError, out};

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// The deviations one series' stored history raises, evaluated as if the data had
    /// arrived live: an event at time t uses only data before t (imported history gives
    /// the events the live system would have raised).
    Deviations {
        /// `name` or `name{label="value",…}`: one series.
        series: String,
        /// Start: RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC), or a duration ago such as 7d.
        #[arg(long, default_value = "7d")]
        since: String,
        /// End (default: now), in the same forms.
        #[arg(long)]
        until: Option<String>,
        /// How long a deviation must last to be an event.
        #[arg(long = "for", default_value = "5m")]
        for_duration: String,
        /// Robust units (≈ σ) past the expected value.
        #[arg(long, default_value_t = 4.0)]
        threshold: f64,
        #[arg(long)]
        json: bool,
    },
}

/// One deviation as `--json` prints it (snake_case, the form scripts and the alerting
/// rules read).
#[derive(Serialize)]
struct DeviationLine {
    start_ms: i64,
    end_ms: Option<i64>,
    raised_ms: i64,
    peak_score: f64,
    direction: String,
}

pub async fn command(
    api: &Api,
    slot: &SessionSlot,
    command: BaselineCommand,
) -> Result<(), CliError> {
    match command {
        BaselineCommand::Deviations {
            series,
            since,
            until,
            for_duration,
            threshold,
            json,
        } => {
            let now = qcat_api::monitor::now_ms();
            let since_ms = time("--since", &since, now)?;
            let until_ms = until.map_or(Ok(now), |until| time("--until", &until, now))?;
            let for_ms = humantime::parse_duration(&for_duration)
                .map_err(|_| {
                    invalid(format!(
                        "--for {for_duration:?}: write a duration such as 5m or 1h"
                    ))
                })?
                .as_millis() as i64;
            let view = api
                .baseline_deviations(
                    slot,
                    DeviationsInput {
                        series,
                        since_ms,
                        until_ms,
                        for_ms: Some(for_ms),
                        threshold: Some(threshold),
                    },
                )
                .await?;
            if json {
                let lines: Vec<DeviationLine> = view
                    .deviations
                    .iter()
                    .map(|d| DeviationLine {
                        start_ms: d.start_ms,
                        end_ms: d.end_ms,
                        raised_ms: d.raised_ms,
                        peak_score: d.peak_score,
                        direction: d.direction.clone(),
                    })
                    .collect();
                output::json(&lines)?;
                return Ok(());
            }
            out!(
                "{}: {} minutes read, {} scored, learning {:.0} %",
                view.series,
                view.minutes_read,
                view.minutes_scored,
                view.learning * 100.0
            );
            if view.deviations.is_empty() {
                out!("no deviations");
            }
            for d in &view.deviations {
                out!(
                    "{} .. {}  {}  peak {:+.1}",
                    at(d.start_ms),
                    d.end_ms.map_or_else(|| "ongoing".to_owned(), at),
                    d.direction,
                    d.peak_score
                );
            }
            Ok(())
        }
    }
}

fn invalid(message: String) -> CliError {
    ApiError::new(ErrorCode::InvalidInput, message).into()
}

fn at(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// A time argument: RFC 3339, `YYYY-MM-DD HH:MM:SS` read as UTC, or a duration before now.
fn time(flag: &str, text: &str, now_ms: i64) -> Result<i64, CliError> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(now_ms - ago.as_millis() as i64);
    }
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    if let Ok(civil) = text.parse::<jiff::civil::DateTime>()
        && let Ok(t) = civil.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(t.timestamp().as_millisecond());
    }
    Err(invalid(format!(
        "{flag} {text:?}: write a time as 2026-11-02T09:30:00Z, 2026-11-02 09:30:00 (UTC) or a duration ago such as 7d"
    )))
}
