//! Backups from the command line: `backup run|list|show|verify|restore|expire`, each the
//! API's command (guarded and audited like the window). Exit codes: 0 done, 4 verify found
//! damage, and the error's code otherwise.

use clap::Subcommand;
use qcat_api::backup::{
    BackupExpireInput, BackupIdInput, BackupRestoreInput, BackupRunInput, BackupVerifyInput,
    BackupView,
};
use qcat_api::jobs::{JobState, JobView};
use qcat_api::{Api, ApiError, ErrorCode, SessionSlot};

use crate::output::{self, CliError, note, out};

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Takes a backup of the named sources (default: backup.sources) as one recovery point.
    Run {
        /// full, diff (changes since the last full) or incr (since the last backup).
        #[arg(long = "type", default_value = "full")]
        kind: String,
        /// A PostgreSQL target (`qcatctl target add … --kind postgres`); repeatable.
        #[arg(long = "source")]
        sources: Vec<String>,
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every backup, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One backup: chain, sources, sizes, tables.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Reads and checks every chunk (of one backup, or all); exits 4 when damage is found.
    /// `--rolling --budget 10m`: whole packs, least recently verified first, for about that
    /// long, then the share of the repository verified in the last 7 days.
    Verify {
        #[arg(conflicts_with = "rolling")]
        id: Option<String>,
        #[arg(long, requires = "budget")]
        rolling: bool,
        /// How long a rolling verification may read (e.g. 10m, 1h).
        #[arg(long)]
        budget: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Restores a source of a backup: `--target SOURCE=DESTINATION`, DESTINATION a target
    /// name (its database, overwritten) or a postgres:// URL (created when missing).
    Restore {
        id: String,
        #[arg(long = "target", required = true)]
        targets: Vec<String>,
        /// Only show what would happen.
        #[arg(long)]
        dry_run: bool,
        /// The database name, typed: needed to overwrite one and for production.
        #[arg(long)]
        confirm: Option<String>,
        /// pg_restore's parallel jobs.
        #[arg(long)]
        jobs: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// A restore drill: the newest recovery point's PostgreSQL sources restored into scratch
    /// databases (backup.drill_server, else each source's server), checked, timed against
    /// backup.rto, dropped. Exits 4 when a check fails or the RTO is missed.
    Drill {
        #[arg(long)]
        json: bool,
    },
    /// Applies retention (backup.keep_full, backup.keep_age) and removes unreferenced data.
    Expire {
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

/// A job's result, or its failure with the code it failed with.
fn outcome(ended: JobView, what: &str) -> Result<serde_json::Value, CliError> {
    match ended.state {
        JobState::Succeeded => Ok(ended.result.unwrap_or_default()),
        JobState::Cancelled => Err(ApiError::new(
            ErrorCode::Cancelled,
            ended.error.unwrap_or_else(|| format!("{what} cancelled")),
        )
        .into()),
        _ => {
            let code = ended
                .result
                .as_ref()
                .and_then(|result| serde_json::from_value(result["code"].clone()).ok())
                .unwrap_or(ErrorCode::Internal);
            Err(ApiError::new(
                code,
                ended.error.unwrap_or_else(|| format!("{what} failed")),
            )
            .into())
        }
    }
}

fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn line(view: &BackupView) -> String {
    let sources: Vec<&str> = view.sources.iter().map(|s| s.name.as_str()).collect();
    format!(
        "{} {:4} {} {} read, {} stored ({:.1}x) [{}] {}",
        view.id,
        view.kind,
        crate::access::ms_text(Some(view.finished_ms)),
        size(view.logical_bytes),
        size(view.stored_bytes),
        view.dedup_ratio,
        sources.join(","),
        view.label
    )
}

pub async fn run(api: &Api, slot: &SessionSlot, command: BackupCommand) -> Result<(), CliError> {
    match command {
        BackupCommand::Run {
            kind,
            sources,
            label,
            json,
        } => {
            let input = BackupRunInput {
                kind,
                sources,
                label,
            };
            let ended =
                crate::progress::run_job(api, slot, "backup", api.backup_run(slot, input)).await?;
            let result = outcome(ended, "the backup")?;
            if json {
                output::json(&result)?;
            } else {
                if result["promoted"] == true {
                    note!("no full backup to build on: taken as a full");
                }
                let view: BackupView = serde_json::from_value(strip_promoted(result))
                    .map_err(|err| ApiError::internal_in("backup_run", &err))?;
                out!("{}", line(&view));
            }
        }
        BackupCommand::List { json } => {
            let list = api.backup_list(slot).await?;
            if json {
                output::json(&list)?;
            } else if list.is_empty() {
                note!("no backups yet: `qcatctl backup run --source NAME`");
            } else {
                for view in &list {
                    out!("{}", line(view));
                }
            }
        }
        BackupCommand::Show { id, json } => {
            let view = api.backup_show(slot, BackupIdInput { id }).await?;
            if json {
                output::json(&view)?;
            } else {
                out!("{}", line(&view));
                out!(
                    "type {}, parent {}, chain root {}",
                    view.kind,
                    view.parent.as_deref().unwrap_or("-"),
                    view.full
                );
                for source in &view.sources {
                    out!(
                        "  {} ({}, {}): {} {} — {} tables, {} rows, {}; server {}",
                        source.name,
                        source.kind,
                        source.environment,
                        source.location,
                        source.database,
                        source.tables,
                        source.rows,
                        size(source.bytes),
                        source.server_version
                    );
                }
                if let Some(detail) = &view.detail {
                    out!("chain: {}", detail.chain.join(" → "));
                    if !detail.dependents.is_empty() {
                        out!("built on by: {}", detail.dependents.join(", "));
                    }
                    out!(
                        "{} chunks ({} new) in {} packs; {}",
                        detail.chunks,
                        detail.new_chunks,
                        detail.packs,
                        match detail.verified_ms {
                            Some(ms) => format!(
                                "every pack verified, the oldest check at {}",
                                jiff::Timestamp::from_millisecond(ms)
                                    .map_or_else(|_| ms.to_string(), |t| t.to_string())
                            ),
                            None => format!("{} packs not yet verified", detail.unverified_packs),
                        }
                    );
                }
            }
        }
        BackupCommand::Verify {
            id,
            rolling,
            budget,
            json,
        } => {
            let rolling_budget_ms = match (rolling, budget) {
                (true, Some(text)) => Some(
                    humantime::parse_duration(&text)
                        .map_err(|err| {
                            ApiError::new(
                                ErrorCode::InvalidInput,
                                format!("--budget {text:?}: {err}; write it like 10m or 1h"),
                            )
                        })?
                        .as_millis() as u64,
                ),
                _ => None,
            };
            let input = BackupVerifyInput {
                ids: id.into_iter().collect(),
                rolling_budget_ms,
            };
            let ended =
                crate::progress::run_job(api, slot, "verify", api.backup_verify(slot, input))
                    .await?;
            let report = outcome(ended, "the verification")?;
            let damaged = report["damaged"].as_array().cloned().unwrap_or_default();
            if json {
                output::json(&report)?;
            } else {
                out!(
                    "{} chunks ({}) of {} backups read",
                    report["chunks"],
                    size(report["bytes"].as_u64().unwrap_or(0)),
                    report["backups"]
                );
                if let Some(share) = report["coverage"]["share"].as_f64() {
                    out!(
                        "{:.1} % of the repository verified in the last 7 days",
                        share * 100.0
                    );
                }
                for one in &damaged {
                    out!(
                        "DAMAGED chunk {} in pack {}: {}; needed by {}",
                        one["chunk"].as_str().unwrap_or("?"),
                        one["pack"].as_str().unwrap_or("?"),
                        one["why"].as_str().unwrap_or("?"),
                        one["backups"]
                            .as_array()
                            .map(|ids| ids
                                .iter()
                                .filter_map(|id| id.as_str())
                                .collect::<Vec<_>>()
                                .join(", "))
                            .unwrap_or_default()
                    );
                }
            }
            if !damaged.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::Damaged,
                    format!("{} damaged chunks: restore the affected backups from elsewhere or take new ones", damaged.len()),
                )
                .into());
            }
        }
        BackupCommand::Restore {
            id,
            targets,
            dry_run,
            confirm,
            jobs,
            json,
        } => {
            for target in targets {
                let Some((source, destination)) = target.split_once('=') else {
                    return Err(ApiError::new(
                        ErrorCode::InvalidInput,
                        format!("--target {target:?}: write SOURCE=DESTINATION, e.g. orders-db=postgres://localhost/orders_copy"),
                    )
                    .into());
                };
                let input = BackupRestoreInput {
                    id: id.clone(),
                    source: source.to_owned(),
                    destination: destination.to_owned(),
                    confirm: confirm.clone(),
                    jobs,
                };
                let plan = api.backup_restore_plan(slot, input.clone()).await?;
                if let Some(mark) = &plan.half_restored {
                    note!(
                        "{} holds a restore that never finished ({mark}); restoring again overwrites it",
                        plan.database
                    );
                }
                if dry_run {
                    if json {
                        output::json(&plan)?;
                    } else {
                        out!(
                            "would {} {} on {} ({}) from {} of {}: {} tables, {} rows; {} of scratch space{}",
                            plan.action,
                            plan.database,
                            plan.location,
                            plan.environment,
                            plan.source,
                            plan.id,
                            plan.tables,
                            plan.rows,
                            size(plan.bytes_needed),
                            plan.confirmation
                                .as_ref()
                                .map(|name| format!("; needs --confirm {name}"))
                                .unwrap_or_default()
                        );
                    }
                    continue;
                }
                let ended =
                    crate::progress::run_job(api, slot, "restore", api.backup_restore(slot, input))
                        .await?;
                let report = outcome(ended, "the restore")?;
                if json {
                    output::json(&report)?;
                } else {
                    out!(
                        "restored {} into {} ({}): row counts {}",
                        plan.source,
                        plan.location,
                        plan.action,
                        if report["passed"] == true {
                            "match the backup"
                        } else {
                            "DIFFER from the backup"
                        }
                    );
                    if let Some(safety) = report["safetyBackup"].as_str() {
                        out!("safety backup of what was overwritten: {safety}");
                    }
                }
                if report["passed"] != true {
                    return Err(ApiError::new(
                        ErrorCode::Damaged,
                        "the restored row counts differ from the backup's".to_owned(),
                    )
                    .into());
                }
            }
        }
        BackupCommand::Drill { json } => {
            let ended =
                crate::progress::run_job(api, slot, "drill", api.backup_drill(slot)).await?;
            let report = outcome(ended, "the drill")?;
            if json {
                output::json(&report)?;
            } else {
                out!(
                    "drill of {}: {:.1} s against an RTO of {:.0} s: {}",
                    report["backupId"].as_str().unwrap_or("?"),
                    report["durationMs"].as_f64().unwrap_or(0.0) / 1000.0,
                    report["rtoMs"].as_f64().unwrap_or(0.0) / 1000.0,
                    if report["withinRto"] == true {
                        "within"
                    } else {
                        "OVER"
                    }
                );
                for source in report["sources"].as_array().into_iter().flatten() {
                    out!(
                        "  {}: {:.1} s, checks {}{}",
                        source["name"].as_str().unwrap_or("?"),
                        source["durationMs"].as_f64().unwrap_or(0.0) / 1000.0,
                        if source["passed"] == true {
                            "passed"
                        } else {
                            "FAILED"
                        },
                        source["error"]
                            .as_str()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    );
                }
            }
            if report["passed"] != true || report["withinRto"] != true {
                return Err(ApiError::new(
                    ErrorCode::Damaged,
                    "the drill failed its checks or missed the RTO".to_owned(),
                )
                .into());
            }
        }
        BackupCommand::Expire { dry_run, json } => {
            let report = api
                .backup_expire(slot, BackupExpireInput { dry_run })
                .await?;
            if json {
                output::json(&report)?;
            } else {
                let verb = if report.dry_run {
                    "would expire"
                } else {
                    "expired"
                };
                if report.expired.is_empty() {
                    out!("nothing to expire ({} backups kept)", report.kept.len());
                } else {
                    out!("{verb} {}", report.expired.join(", "));
                }
                if !report.dry_run {
                    out!(
                        "{} packs removed, {} freed",
                        report.packs_removed,
                        size(report.bytes_freed)
                    );
                }
            }
        }
    }
    Ok(())
}

fn strip_promoted(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(map) = value.as_object_mut() {
        map.remove("promoted");
    }
    value
}
