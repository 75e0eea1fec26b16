//! `qcatctl baseline …`: learned baselines (their state, deviation events, replays of
//! stored history), marked periods, and named baselines (capture, compare, report).

use clap::Subcommand;
use qcat_api::monitor::{
    CaptureInput, CompareInput, DeviationEventsInput, DeviationsInput, MarkInput, RangeInput,
    ReportInput,
};
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
        /// How long a deviation must last to be an event (default: baseline.deviation_for).
        #[arg(long = "for")]
        for_duration: Option<String>,
        /// Robust units (≈ σ) past the expected value (default: baseline.threshold).
        #[arg(long)]
        threshold: Option<f64>,
        #[arg(long)]
        json: bool,
    },
    /// Every learned series: learning share, expected value and band, score, deviation.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Deviation events the live baselines raised, newest first.
    Events {
        #[arg(long, default_value = "1d")]
        since: String,
        #[arg(long)]
        until: Option<String>,
        /// Only this series (its full name with labels).
        #[arg(long)]
        series: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Marks a period as an incident or maintenance: baselines learn nothing from it and
    /// raise nothing in it.
    Mark {
        /// incident or maintenance.
        #[arg(long, default_value = "incident")]
        kind: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        until: String,
        /// Only the series this selector matches (default: every series).
        #[arg(long)]
        series: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Marked periods.
    Marks {
        #[arg(long, default_value = "30d")]
        since: String,
        #[arg(long)]
        json: bool,
    },
    /// Removes a marked period.
    Unmark { id: String },
    /// Captures a period as a named baseline ("before release 1.4").
    Capture {
        name: String,
        /// Start of the period (RFC 3339, `YYYY-MM-DD HH:MM:SS` UTC, or a duration ago).
        #[arg(long)]
        from: String,
        /// End of the period (default: now).
        #[arg(long)]
        until: Option<String>,
        /// Selectors to capture (repeat; default: the application's latency percentiles,
        /// error ratio, request rate, throughput and in-flight, overall and per endpoint).
        #[arg(long = "series")]
        series: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Named baselines, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One named baseline with each series' summary.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Removes a named baseline.
    Remove { name: String },
    /// Compares a period (default: the last 24 h) or another named baseline with a named
    /// baseline, per series: the change, its interval and whether it is significant.
    Compare {
        name: String,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// Another named baseline instead of a period.
        #[arg(long)]
        against: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Writes a comparison report (table, hourly profiles, learned bands; charts drawn by
    /// plotters) as one self-contained HTML file.
    Report {
        name: String,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        against: Option<String>,
        /// en or zh-CN.
        #[arg(long, default_value = "en")]
        lang: String,
        /// Where to write it.
        #[arg(long)]
        out: std::path::PathBuf,
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
    let now = qcat_api::monitor::now_ms();
    match command {
        BaselineCommand::Deviations {
            series,
            since,
            until,
            for_duration,
            threshold,
            json,
        } => {
            let since_ms = time("--since", &since, now)?;
            let until_ms = optional_time("--until", until.as_deref(), now)?;
            let for_ms = for_duration
                .map(|text| {
                    humantime::parse_duration(&text)
                        .map(|d| d.as_millis() as i64)
                        .map_err(|_| {
                            invalid(format!("--for {text:?}: write a duration such as 5m or 1h"))
                        })
                })
                .transpose()?;
            let view = api
                .baseline_deviations(
                    slot,
                    DeviationsInput {
                        series,
                        since_ms,
                        until_ms,
                        for_ms,
                        threshold,
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
        }
        BaselineCommand::Status { json } => {
            let status = api.baseline_status(slot).await?;
            if json {
                return output::json(&status);
            }
            out!(
                "{} learned series (threshold {} units for {}; speaks after {} of history)",
                status.series.len(),
                status.threshold,
                humantime::format_duration(std::time::Duration::from_millis(status.for_ms as u64)),
                humantime::format_duration(std::time::Duration::from_millis(
                    status.min_history_ms as u64
                ))
            );
            if status.series.is_empty() {
                out!(
                    "none yet: the series {} are learned once they are collected",
                    status.selectors.join(", ")
                );
            }
            for series in &status.series {
                let state = match (&series.deviation, series.expected) {
                    (Some(d), _) => format!("DEVIATING {} since {}", d.direction, at(d.start_ms)),
                    (None, None) => format!("learning {:.0} %", series.learning * 100.0),
                    (None, Some(_)) => "normal".to_owned(),
                };
                let band = match (series.value, series.low, series.high) {
                    (Some(value), Some(low), Some(high)) => {
                        format!("{} in [{}, {}]", number(value), number(low), number(high))
                    }
                    (Some(value), _, _) => number(value),
                    _ => "–".to_owned(),
                };
                out!("{:<70} {:<36} {}", series.series, state, band);
            }
        }
        BaselineCommand::Events {
            since,
            until,
            series,
            json,
        } => {
            let events = api
                .baseline_events(
                    slot,
                    DeviationEventsInput {
                        since_ms: time("--since", &since, now)?,
                        until_ms: optional_time("--until", until.as_deref(), now)?,
                        series,
                        limit: None,
                    },
                )
                .await?;
            if json {
                return output::json(&events);
            }
            if events.is_empty() {
                out!("no deviation events");
            }
            for event in &events {
                let d = &event.deviation;
                out!(
                    "{} .. {}  {:<5}  peak {:+.1}  {}",
                    at(d.start_ms),
                    d.end_ms.map_or_else(|| "ongoing".to_owned(), at),
                    d.direction,
                    d.peak_score,
                    event.series
                );
            }
        }
        BaselineCommand::Mark {
            kind,
            from,
            until,
            series,
            note,
        } => {
            let mark = api
                .baseline_mark(
                    slot,
                    MarkInput {
                        kind,
                        from_ms: time("--from", &from, now)?,
                        until_ms: time("--until", &until, now)?,
                        series,
                        note,
                    },
                )
                .await?;
            out!(
                "marked {} .. {} as {} ({}): id {}",
                at(mark.from_ms),
                at(mark.until_ms),
                mark.kind,
                if mark.series.is_empty() {
                    "every series"
                } else {
                    &mark.series
                },
                mark.id
            );
        }
        BaselineCommand::Marks { since, json } => {
            let marks = api
                .baseline_marks(
                    slot,
                    RangeInput {
                        since_ms: time("--since", &since, now)?,
                        until_ms: i64::MAX / 2,
                    },
                )
                .await?;
            if json {
                return output::json(&marks);
            }
            if marks.is_empty() {
                out!("no marked periods");
            }
            for mark in &marks {
                out!(
                    "{}  {} .. {}  {:<11}  {}  {}",
                    mark.id,
                    at(mark.from_ms),
                    at(mark.until_ms),
                    mark.kind,
                    if mark.series.is_empty() {
                        "(every series)"
                    } else {
                        &mark.series
                    },
                    mark.note
                );
            }
        }
        BaselineCommand::Unmark { id } => {
            api.baseline_unmark(slot, id.clone()).await?;
            out!("removed the mark {id}");
        }
        BaselineCommand::Capture {
            name,
            from,
            until,
            series,
            description,
            json,
        } => {
            let view = api
                .baseline_capture(
                    slot,
                    CaptureInput {
                        name,
                        description,
                        from_ms: time("--from", &from, now)?,
                        until_ms: optional_time("--until", until.as_deref(), now)?,
                        series,
                    },
                )
                .await?;
            if json {
                return output::json(&view);
            }
            out!(
                "captured {:?}: {} series, {} .. {}",
                view.name,
                view.series.len(),
                at(view.from_ms),
                at(view.until_ms)
            );
            print_summaries(&view.series)?;
        }
        BaselineCommand::List { json } => {
            let list = api.baseline_list(slot).await?;
            if json {
                return output::json(&list);
            }
            if list.is_empty() {
                out!("no named baselines; `qcatctl baseline capture NAME --from 7d` makes one");
            }
            for baseline in &list {
                out!(
                    "{:<30} {} .. {}  {:>3} series  by {}",
                    baseline.name,
                    at(baseline.from_ms),
                    at(baseline.until_ms),
                    baseline.series_count,
                    baseline.created_by
                );
            }
        }
        BaselineCommand::Show { name, json } => {
            let view = api.baseline_show(slot, name).await?;
            if json {
                return output::json(&view);
            }
            out!(
                "{:?}: {} .. {} ({}), by {}",
                view.name,
                at(view.from_ms),
                at(view.until_ms),
                view.time_zone,
                view.created_by
            );
            if !view.description.is_empty() {
                out!("{}", view.description);
            }
            print_summaries(&view.series)?;
        }
        BaselineCommand::Remove { name } => {
            api.baseline_remove(slot, name.clone()).await?;
            out!("removed baseline {name:?}");
        }
        BaselineCommand::Compare {
            name,
            since,
            until,
            against,
            json,
        } => {
            let view = api
                .baseline_compare(slot, compare_input(name, since, until, against, now)?)
                .await?;
            if json {
                return output::json(&view);
            }
            out!(
                "{:?} ({} .. {}) against {} .. {}{}: {} of {} series changed significantly ({:.0} % family-wise)",
                view.baseline,
                at(view.baseline_from_ms),
                at(view.baseline_until_ms),
                at(view.from_ms),
                at(view.until_ms),
                view.against
                    .as_deref()
                    .map(|a| format!(" ({a:?})"))
                    .unwrap_or_default(),
                view.significant_count,
                view.rows.len(),
                view.confidence * 100.0
            );
            for row in &view.rows {
                let change = match (row.change, row.change_low, row.change_high) {
                    (Some(c), Some(low), Some(high)) => {
                        format!("{:+.1} % (±{:.1} %)", c * 100.0, (high - low) * 50.0)
                    }
                    _ => row.problem.clone().unwrap_or_else(|| "–".to_owned()),
                };
                out!(
                    "{:<12} {:>10} → {:<10} {:<22} {}",
                    if row.significant { "SIGNIFICANT" } else { "-" },
                    row.before.map_or("–".to_owned(), number),
                    row.now.map_or("–".to_owned(), number),
                    change,
                    row.series
                );
            }
        }
        BaselineCommand::Report {
            name,
            since,
            until,
            against,
            lang,
            out: path,
        } => {
            let html = api
                .baseline_report_html(
                    slot,
                    ReportInput {
                        compare: compare_input(name, since, until, against, now)?,
                        language: Some(lang),
                    },
                )
                .await?;
            qcat_api::write_user_file(&path, html.as_bytes())?;
            out!("wrote {} ({} bytes)", path.display(), html.len());
        }
    }
    Ok(())
}

fn compare_input(
    name: String,
    since: Option<String>,
    until: Option<String>,
    against: Option<String>,
    now: i64,
) -> Result<CompareInput, CliError> {
    Ok(CompareInput {
        name,
        since_ms: since.map(|s| time("--since", &s, now)).transpose()?,
        until_ms: until.map(|u| time("--until", &u, now)).transpose()?,
        against,
    })
}

fn print_summaries(series: &[qcat_api::monitor::NamedSeriesView]) -> Result<(), CliError> {
    for s in series {
        out!(
            "  {:<70} mean {:>10}  p50 {:>10}  p95 {:>10}  p99 {:>10}  ({} min)",
            s.series,
            number(s.mean),
            number(s.p50),
            number(s.p95),
            number(s.p99),
            s.minutes
        );
    }
    Ok(())
}

fn number(value: f64) -> String {
    if value != 0.0 && value.abs() < 0.01 {
        format!("{value:.3e}")
    } else {
        format!("{value:.4}")
    }
}

fn invalid(message: String) -> CliError {
    ApiError::new(ErrorCode::InvalidInput, message).into()
}

pub(crate) fn at(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

fn optional_time(flag: &str, text: Option<&str>, now_ms: i64) -> Result<i64, CliError> {
    text.map_or(Ok(now_ms), |text| time(flag, text, now_ms))
}

/// A time argument: `now`, RFC 3339, `YYYY-MM-DD HH:MM:SS` read as UTC, or a duration
/// before now.
pub(crate) fn time(flag: &str, text: &str, now_ms: i64) -> Result<i64, CliError> {
    if text.trim() == "now" {
        return Ok(now_ms);
    }
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
        "{flag} {text:?}: write a time as now, 2026-11-02T09:30:00Z, 2026-11-02 09:30:00 (UTC) or a duration ago such as 7d"
    )))
}
