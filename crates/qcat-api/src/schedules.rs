//! The scheduler: a singleton duty. The process that leads it writes the configured
//! schedules to the store, makes a missed run per each schedule's policy, then sleeps until
//! the next run; each run is claimed in a transaction fenced by the lease token (so it
//! happens once, even across a change of leader) and runs as a job of actor `scheduler`.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use qcat_runtime::TaskContext;
use qcat_runtime::schedule::{MissedRun, Schedule};
use qcat_store::runtime::schedules::{self, ScheduleRow};
use serde::Serialize;
use ts_rs::TS;

use crate::access::SessionSlot;
use crate::jobs::JobState;
use crate::runtime::SCHEDULER_DUTY;
use crate::{Api, ApiError};

/// The audit trail's retention and chain check.
pub const AUDIT_MAINTENANCE: &str = "audit-maintenance";
/// The backup schedules (`backup.schedule_*`), present only when configured.
pub const BACKUP_FULL: &str = "backup-full";
pub const BACKUP_DIFF: &str = "backup-diff";
pub const BACKUP_INCR: &str = "backup-incr";
pub const BACKUP_VERIFY: &str = "backup-verify";
pub const BACKUP_DRILL: &str = "backup-drill";

/// A schedule on the wire.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    pub name: String,
    /// A cron expression or `@every <duration>`.
    pub spec: String,
    pub time_zone: String,
    #[ts(type = "number")]
    pub jitter_ms: i64,
    /// `run_once` or `skip`.
    pub missed: String,
    #[ts(type = "number | null")]
    pub last_started_ms: Option<i64>,
    #[ts(type = "number | null")]
    pub last_ended_ms: Option<i64>,
    /// `ok`, `failed` or `running`.
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    /// When the next run is due (set by the leading process).
    #[ts(type = "number | null")]
    pub next_ms: Option<i64>,
}

impl From<ScheduleRow> for ScheduleView {
    fn from(row: ScheduleRow) -> Self {
        Self {
            name: row.name,
            spec: row.spec,
            time_zone: row.time_zone,
            jitter_ms: row.jitter_ms,
            missed: row.missed,
            last_started_ms: row.last_started_ms,
            last_ended_ms: row.last_ended_ms,
            last_result: row.last_result,
            last_error: row.last_error,
            next_ms: row.next_ms,
        }
    }
}

/// Never sleep longer than this between checks of the term and the clock (a suspended
/// laptop or a clock step is noticed within it).
const RECHECK: Duration = Duration::from_secs(1);

impl Api {
    /// The schedules the configuration defines (validated at load, so parsing holds).
    pub(crate) fn schedule_definitions(&self) -> Result<Vec<Schedule>, ApiError> {
        let config = &self.inner.config.config.config;
        let missed: MissedRun = config.audit.maintenance_missed.parse().map_err(
            |err: qcat_runtime::schedule::ScheduleError| {
                ApiError::new(qcat_core::ErrorCode::InvalidConfig, err.to_string())
            },
        )?;
        let maintenance = Schedule::parse(
            AUDIT_MAINTENANCE,
            &config.audit.maintenance_schedule,
            &config.runtime.time_zone,
            config.audit.maintenance_jitter,
            missed,
        )
        .map_err(|err| ApiError::new(qcat_core::ErrorCode::InvalidConfig, err.to_string()))?;
        let mut schedules = vec![maintenance];
        let backup = &self.backup_settings();
        for (name, spec) in [
            (BACKUP_FULL, &backup.schedule_full),
            (BACKUP_DIFF, &backup.schedule_diff),
            (BACKUP_INCR, &backup.schedule_incr),
            (BACKUP_VERIFY, &backup.schedule_verify),
            (BACKUP_DRILL, &backup.schedule_drill),
        ] {
            if spec.trim().is_empty() {
                continue;
            }
            // A missed backup runs once when a leader is back: a day without one is the
            // gap retention and alerts assume never happens.
            let schedule = Schedule::parse(
                name,
                spec,
                &config.runtime.time_zone,
                std::time::Duration::ZERO,
                MissedRun::RunOnce,
            )
            .map_err(|err| ApiError::new(qcat_core::ErrorCode::InvalidConfig, err.to_string()))?;
            schedules.push(schedule);
        }
        Ok(schedules)
    }

    /// The stored schedules and their runs (`system:view`).
    pub async fn schedules_list(&self, slot: &SessionSlot) -> Result<Vec<ScheduleView>, ApiError> {
        self.guard(slot, "schedules_list").await?;
        self.schedules_list_unguarded().await
    }

    /// The configured schedules merged with what the store knows of their runs (a schedule
    /// not yet written by a leader shows with no runs).
    pub async fn schedules_list_unguarded(&self) -> Result<Vec<ScheduleView>, ApiError> {
        let stored: HashMap<String, ScheduleRow> = schedules::list(self.store()?)
            .await
            .map_err(|err| ApiError::storage_ref(&err))?
            .into_iter()
            .map(|row| (row.name.clone(), row))
            .collect();
        Ok(self
            .schedule_definitions()?
            .into_iter()
            .map(|schedule| {
                let mut view = stored
                    .get(schedule.name())
                    .cloned()
                    .map(ScheduleView::from)
                    .unwrap_or_else(|| ScheduleView::from(row_of(&schedule)));
                // The configuration here is what this process runs with.
                view.spec = schedule.spec().to_owned();
                view.time_zone = schedule.zone_name().to_owned();
                view.jitter_ms = schedule.jitter().as_millis() as i64;
                view.missed = schedule.missed().to_string();
                if view.next_ms.is_none() {
                    view.next_ms = schedule
                        .next_after(Timestamp::now())
                        .map(|next| schedule.with_jitter(next).as_millisecond());
                }
                view
            })
            .collect())
    }

    /// The scheduler duty's loop (the `scheduler` task): waits to lead, then runs what is
    /// due for as long as the term holds.
    pub(crate) async fn run_scheduler(&self, context: &TaskContext) -> Result<(), String> {
        let store = self.store().map_err(|err| err.message)?.clone();
        let generation = || {
            self.inner
                .backup
                .policy_generation
                .load(std::sync::atomic::Ordering::SeqCst)
        };
        while let Some(term) = self.lead(SCHEDULER_DUTY, context).await {
            // A new term makes missed runs per policy; a policy saved in the window during
            // the term only re-plans (saving a schedule does not start a run).
            let mut catch_up = true;
            'plan: loop {
                let planned_at = generation();
                let definitions = self.schedule_definitions().map_err(|err| err.message)?;
                // This process's configuration becomes the stored one.
                let mut due: Vec<(Timestamp, Timestamp, &Schedule)> = Vec::new();
                for schedule in &definitions {
                    let stored = async {
                        schedules::configure(
                            &store,
                            schedule.name(),
                            schedule.spec(),
                            schedule.zone_name(),
                            schedule.jitter().as_millis() as i64,
                            &schedule.missed().to_string(),
                        )
                        .await?;
                        schedules::get(&store, schedule.name()).await
                    };
                    let row = stored.await.map_err(|err| err.to_string())?;
                    let last = row
                        .and_then(|row| row.last_regular_ms)
                        .and_then(|ms| Timestamp::from_millisecond(ms).ok());
                    let plan = schedule.plan(last, Timestamp::now());
                    match (plan.missed, plan.next) {
                        (Some(missed), _) if catch_up => {
                            tracing::info!(
                                schedule = schedule.name(),
                                "a run was missed; running it now"
                            );
                            due.push((Timestamp::now(), missed, schedule));
                        }
                        (_, Some(next)) => due.push((schedule.with_jitter(next), next, schedule)),
                        _ => {}
                    }
                }
                // Schedules no longer configured have no next run.
                let configured: Vec<&str> = definitions.iter().map(Schedule::name).collect();
                if let Ok(rows) = schedules::list(&store).await {
                    for row in rows
                        .iter()
                        .filter(|row| !configured.contains(&row.name.as_str()))
                    {
                        let _ = schedules::set_next(&store, &row.name, None).await;
                    }
                }
                for (fire, _, schedule) in &due {
                    let _ =
                        schedules::set_next(&store, schedule.name(), Some(fire.as_millisecond()))
                            .await;
                }
                catch_up = false;
                // Run what falls due while the term holds.
                loop {
                    match self.current_term(SCHEDULER_DUTY) {
                        Some(now) if now.token == term.token => {}
                        _ => break 'plan,
                    }
                    if generation() != planned_at {
                        continue 'plan;
                    }
                    due.sort_by_key(|(fire, ..)| *fire);
                    let Some((fire, regular, schedule)) = due.first().copied() else {
                        if !context.sleep(RECHECK).await {
                            return Ok(());
                        }
                        continue;
                    };
                    let wait = fire
                        .duration_since(Timestamp::now())
                        .unsigned_abs()
                        .min(RECHECK);
                    if fire > Timestamp::now() {
                        if !context.sleep(wait).await {
                            return Ok(());
                        }
                        continue;
                    }
                    due.remove(0);
                    self.run_scheduled(&store, schedule, regular, term.token)
                        .await;
                    if let Some(next) = schedule.next_after(regular.max(Timestamp::now())) {
                        let fire = schedule.with_jitter(next);
                        let _ = schedules::set_next(
                            &store,
                            schedule.name(),
                            Some(fire.as_millisecond()),
                        )
                        .await;
                        due.push((fire, next, schedule));
                    }
                }
            }
        }
        Ok(())
    }

    /// Claims the run at `regular` (fenced by `token`) and runs it as a job.
    async fn run_scheduled(
        &self,
        store: &qcat_store::Store,
        schedule: &Schedule,
        regular: Timestamp,
        token: i64,
    ) {
        let member = self.runtime().member.clone();
        let claimed = schedules::claim_run(
            store,
            schedule.name(),
            regular.as_millisecond(),
            qcat_core::time::now_ms(),
            (SCHEDULER_DUTY, &member, token),
        )
        .await;
        match claimed {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(
                    schedule = schedule.name(),
                    "run already made, or the term ended; skipped"
                );
                return;
            }
            Err(err) => {
                tracing::warn!(schedule = schedule.name(), error = %err, "run not claimed");
                return;
            }
        }
        let error = match self.start_scheduled_job(schedule.name()).await {
            Ok(job) => match self.job_wait(&job.id).await {
                Ok(ended) if ended.state == JobState::Succeeded => None,
                Ok(ended) => Some(ended.error.unwrap_or_else(|| format!("{:?}", ended.state))),
                Err(err) => Some(err.message),
            },
            Err(err) => Some(err.message),
        };
        if let Some(error) = &error {
            tracing::warn!(schedule = schedule.name(), error = %error, "scheduled run failed");
        }
        let next = schedule
            .next_after(Timestamp::now())
            .map(|next| schedule.with_jitter(next).as_millisecond());
        if let Err(err) = schedules::finish_run(
            store,
            schedule.name(),
            qcat_core::time::now_ms(),
            error.as_deref(),
            next,
        )
        .await
        {
            tracing::warn!(schedule = schedule.name(), error = %err, "run end not stored");
        }
    }

    async fn start_scheduled_job(&self, name: &str) -> Result<crate::jobs::JobStarted, ApiError> {
        match name {
            AUDIT_MAINTENANCE => {
                self.start_job(
                    "audit.maintenance",
                    "scheduler",
                    "entries",
                    |api, job| async move {
                        api.prune_old_entries().await;
                        api.scheduled_verify(&job).await;
                        Ok(serde_json::Value::Null)
                    },
                )
                .await
            }
            BACKUP_FULL => self.scheduled_backup(qcat_backup::BackupType::Full).await,
            BACKUP_DIFF => self.scheduled_backup(qcat_backup::BackupType::Diff).await,
            BACKUP_INCR => self.scheduled_backup(qcat_backup::BackupType::Incr).await,
            BACKUP_VERIFY => self.scheduled_verify_backups().await,
            BACKUP_DRILL => self.start_drill(crate::backup::Actor::Scheduler).await,
            other => Err(ApiError::internal(&format!("no job for schedule {other}"))),
        }
    }
}

/// A schedule not yet in the store, as a row with no runs.
fn row_of(schedule: &Schedule) -> ScheduleRow {
    ScheduleRow {
        name: schedule.name().to_owned(),
        spec: schedule.spec().to_owned(),
        time_zone: schedule.zone_name().to_owned(),
        jitter_ms: schedule.jitter().as_millis() as i64,
        missed: schedule.missed().to_string(),
        enabled: 1,
        last_regular_ms: None,
        last_started_ms: None,
        last_ended_ms: None,
        last_result: None,
        last_error: None,
        last_token: None,
        next_ms: None,
    }
}
