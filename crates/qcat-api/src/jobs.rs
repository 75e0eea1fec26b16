//! Jobs: a long action runs as a runtime task with a row in the store. Starting one returns
//! its id at once; its progress reaches this process's window as `jobs://progress` events
//! (at most ten a second) and the row about once a second, so every console and agent sees
//! it; cancel stops it at its next check; a job whose process dies is marked interrupted
//! by the next member to notice (see `runtime::interrupt_orphaned_jobs`).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qcat_core::ErrorCode;
use qcat_runtime::progress::{Progress, ProgressReport};
use qcat_runtime::{CancellationToken, Restart, Stage};
use qcat_store::runtime::jobs::{self, JobRow};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use ts_rs::TS;

use crate::access::SessionSlot;
use crate::runtime::LiveEvent;
use crate::{Api, ApiError};

/// What a job's body is handed.
#[derive(Clone)]
pub struct JobContext {
    pub progress: Progress,
    pub cancel: CancellationToken,
}

impl JobContext {
    /// The error a body returns when it stopped because it was cancelled.
    pub fn cancelled(&self, detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Cancelled, detail.into())
    }
}

/// A job of this process that has not ended.
#[derive(Clone)]
pub(crate) struct RunningJob {
    pub(crate) actor: String,
    pub(crate) cancel: CancellationToken,
    pub(crate) progress: Progress,
    ended: watch::Receiver<Option<JobView>>,
}

/// `running`, then one of the others for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// Its process stopped (crash, kill, power loss) before it ended.
    Interrupted,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            "interrupted" => JobState::Interrupted,
            _ => JobState::Running,
        }
    }
}

/// A job on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: String,
    /// `audit.verify`, `audit.export`, `audit.maintenance`…
    pub kind: String,
    pub state: JobState,
    /// Who started it (a user, or `scheduler`).
    pub actor: String,
    /// The member (process) running it.
    pub member: String,
    #[ts(type = "number")]
    pub started_ms: i64,
    #[ts(type = "number | null")]
    pub ended_ms: Option<i64>,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number | null")]
    pub total: Option<u64>,
    pub unit: String,
    pub phase: String,
    /// Units per second (live progress only; 0 from a stored row).
    pub rate: f64,
    pub eta_secs: Option<f64>,
    /// What it produced (per kind: `AuditVerifyReport`, `ExportedFile`…).
    #[ts(type = "unknown")]
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl From<JobRow> for JobView {
    fn from(row: JobRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            state: JobState::parse(&row.state),
            actor: row.actor,
            member: row.member,
            started_ms: row.started_ms,
            ended_ms: row.ended_ms,
            done: row.done.max(0) as u64,
            total: row.total.map(|total| total.max(0) as u64),
            unit: row.unit,
            phase: row.phase,
            rate: 0.0,
            eta_secs: None,
            result: row
                .result
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok()),
            error: row.error,
        }
    }
}

/// What a start command returns.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct JobStarted {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct JobIdInput {
    pub id: String,
}

/// How often a running job's row is brought up to date.
const ROW_EVERY: Duration = Duration::from_secs(1);

impl Api {
    /// Starts `body` as a job of `kind` for `actor`, counting in `unit`.
    pub(crate) async fn start_job<Body, Done>(
        &self,
        kind: &'static str,
        actor: &str,
        unit: &'static str,
        body: Body,
    ) -> Result<JobStarted, ApiError>
    where
        Body: FnOnce(Api, JobContext) -> Done + Send + 'static,
        Done: Future<Output = Result<serde_json::Value, ApiError>> + Send + 'static,
    {
        let runtime = self.runtime();
        if runtime.tasks.is_shutting_down() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "the console is stopping; start the job again after it restarts",
            ));
        }
        let store = self.store()?.clone();
        self.ensure_member().await?;
        let id = qcat_core::random::hex_id(16);
        let started_ms = qcat_core::time::now_ms();
        let row = JobRow {
            id: id.clone(),
            kind: kind.to_owned(),
            state: JobState::Running.as_str().to_owned(),
            actor: actor.to_owned(),
            member: runtime.member.clone(),
            started_ms,
            ended_ms: None,
            done: 0,
            total: None,
            unit: unit.to_owned(),
            phase: String::new(),
            result: None,
            error: None,
        };
        jobs::insert(&store, &row)
            .await
            .map_err(|err| ApiError::storage_ref(&err))?;
        let view = JobView::from(row);
        let bus = runtime.events.clone();
        let progress = {
            let view = view.clone();
            Progress::new(unit, move |report: ProgressReport| {
                bus.publish(LiveEvent::JobProgress {
                    job: Box::new(with_report(view.clone(), &report)),
                });
            })
        };
        let cancel = CancellationToken::new();
        let (ended_sender, ended) = watch::channel(None);
        runtime
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                id.clone(),
                RunningJob {
                    actor: actor.to_owned(),
                    cancel: cancel.clone(),
                    progress: progress.clone(),
                    ended,
                },
            );
        let context = JobContext {
            progress: progress.clone(),
            cancel: cancel.clone(),
        };
        let body = Arc::new(Mutex::new(Some(body)));
        let api = self.clone();
        let short = id[..8].to_owned();
        runtime.tasks.spawn(
            format!("job:{kind}:{short}"),
            Stage::Work,
            Restart::Never,
            move |_task| {
                let (api, store, context, view) =
                    (api.clone(), store.clone(), context.clone(), view.clone());
                let body = body
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                let ended_sender = ended_sender.clone();
                async move {
                    let Some(body) = body else { return Ok(()) };
                    let outcome = run_with_row_updates(
                        &store,
                        &view.id,
                        &context,
                        body(api.clone(), context.clone()),
                    )
                    .await;
                    let ended = api.end_job(&store, view, &context.progress, outcome).await;
                    api.runtime()
                        .jobs
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&ended.id);
                    let failed = (ended.state == JobState::Failed).then(|| ended.error.clone());
                    ended_sender.send_replace(Some(ended));
                    match failed {
                        Some(error) => Err(error.unwrap_or_default()),
                        None => Ok(()),
                    }
                }
            },
        );
        Ok(JobStarted { id })
    }

    async fn end_job(
        &self,
        store: &qcat_store::Store,
        view: JobView,
        progress: &Progress,
        outcome: Result<serde_json::Value, ApiError>,
    ) -> JobView {
        let report = progress.report();
        let (state, result, error) = match outcome {
            Ok(result) => (JobState::Succeeded, Some(result), None),
            Err(err) if err.code == ErrorCode::Cancelled => {
                (JobState::Cancelled, None, Some(err.message))
            }
            // The code travels as the result, so every client (a window, qcatctl's exit
            // status) can tell a failure's kind apart without parsing its message.
            Err(err) => (
                JobState::Failed,
                Some(serde_json::json!({ "code": err.code })),
                Some(err.message),
            ),
        };
        let ended_ms = qcat_core::time::now_ms();
        let result_text = result.as_ref().map(ToString::to_string);
        if let Err(err) = jobs::finish(
            store,
            &view.id,
            state.as_str(),
            ended_ms,
            report.done as i64,
            result_text.as_deref(),
            error.as_deref(),
        )
        .await
        {
            tracing::error!(job = %view.id, error = %err, "the job's end could not be stored");
        }
        let mut ended = with_report(view, &report);
        ended.state = state;
        ended.ended_ms = Some(ended_ms);
        ended.result = result;
        ended.error = error;
        self.runtime().events.publish(LiveEvent::JobProgress {
            job: Box::new(ended.clone()),
        });
        ended
    }

    /// How far this process's running jobs are (a command deadline is a stall deadline
    /// while a job moves).
    pub(crate) fn jobs_progress(&self) -> Vec<(u64, String)> {
        self.running_jobs()
            .iter()
            .map(|job| {
                let report = job.progress.report();
                (report.done, report.phase)
            })
            .collect()
    }

    pub(crate) fn running_jobs(&self) -> Vec<RunningJob> {
        self.runtime()
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Waits for a job of this process to end (`qcatctl` runs a job and waits).
    pub async fn job_wait(&self, id: &str) -> Result<JobView, ApiError> {
        let running = self
            .runtime()
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned();
        if let Some(mut running) = running {
            loop {
                if let Some(ended) = running.ended.borrow_and_update().clone() {
                    return Ok(ended);
                }
                if running.ended.changed().await.is_err() {
                    break;
                }
            }
        }
        let store = self.store()?;
        jobs::get(store, id)
            .await
            .map_err(|err| ApiError::storage_ref(&err))?
            .map(JobView::from)
            .ok_or_else(|| not_found(id))
    }

    /// Cancels a running job of this process: its starter may, and holders of
    /// `system:operate`.
    pub async fn job_cancel(&self, slot: &SessionSlot, input: JobIdInput) -> Result<(), ApiError> {
        let proof = self.guard(slot, "job_cancel").await?;
        let running = self
            .runtime()
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&input.id)
            .cloned();
        let Some(running) = running else {
            let store = self.store()?;
            return match jobs::get(store, &input.id)
                .await
                .map_err(|err| ApiError::storage_ref(&err))?
            {
                Some(row) if row.state == "running" => Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "job {} runs in another process (member {}); cancel it from the console or agent running it",
                        input.id, row.member
                    ),
                )),
                Some(row) => Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("job {} already ended ({})", input.id, row.state),
                )),
                None => Err(not_found(&input.id)),
            };
        };
        if running.actor != proof.actor() {
            // Someone else's job: only with `system:operate` (refusals are audited).
            self.access()?
                .authorize(
                    slot.token().as_ref(),
                    Some("system:operate"),
                    "job_cancel",
                    slot.source(),
                )
                .await?;
        }
        running.cancel.cancel();
        Ok(())
    }

    /// The newest jobs on the store, every member's (`system:view`).
    pub async fn jobs_recent(&self, slot: &SessionSlot) -> Result<Vec<JobView>, ApiError> {
        self.guard(slot, "jobs_recent").await?;
        self.jobs_recent_unguarded(100).await
    }

    pub async fn jobs_recent_unguarded(&self, limit: i64) -> Result<Vec<JobView>, ApiError> {
        let store = self.store()?;
        Ok(jobs::recent(store, limit)
            .await
            .map_err(|err| ApiError::storage_ref(&err))?
            .into_iter()
            .map(JobView::from)
            .collect())
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no job {id:?}; `qcatctl jobs list` shows the recent ones"),
    )
}

fn with_report(mut view: JobView, report: &ProgressReport) -> JobView {
    view.done = report.done;
    view.total = report.total;
    view.phase = report.phase.clone();
    view.rate = report.rate;
    view.eta_secs = report.eta_secs;
    view
}

/// Runs `body`, writing the job's progress to its row every second meanwhile. The rows
/// are written by a task of their own: a body that holds the store's write lock (an audit
/// prune, a backup's catalogue) must keep running while a progress write waits for that
/// lock, or the two wait on each other until the lock timeout, again every second.
async fn run_with_row_updates<Done>(
    store: &qcat_store::Store,
    id: &str,
    context: &JobContext,
    body: Done,
) -> Result<serde_json::Value, ApiError>
where
    Done: Future<Output = Result<serde_json::Value, ApiError>>,
{
    let rows = tokio::spawn({
        let (store, id, progress) = (store.clone(), id.to_owned(), context.progress.clone());
        async move {
            let mut ticks = tokio::time::interval(ROW_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let report = progress.report();
                if let Err(err) = jobs::progress(
                    &store,
                    &id,
                    report.done as i64,
                    report.total.map(|total| total as i64),
                    &report.phase,
                )
                .await
                {
                    tracing::warn!(job = id, error = %err, "job progress not stored");
                }
            }
        }
    });
    let outcome = body.await;
    // A progress write still under way after this cannot undo the end: it only touches a
    // row that is still running.
    rows.abort();
    let _ = rows.await;
    outcome
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use qcat_runtime::CancellationToken;
    use qcat_runtime::progress::Progress;
    use qcat_store::runtime::jobs::{self, JobRow};
    use qcat_store::{Store, StoreOptions, StoreTarget};

    use super::{JobContext, run_with_row_updates};

    /// The audit maintenance job prunes inside a write transaction: while its progress row
    /// waited for that lock, the job itself was not run, so both waited for the lock
    /// timeout, and again every second (CI saw a verification that never got going).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_holding_the_write_lock_keeps_running_while_its_progress_row_waits() {
        let dir = qcat_testkit::temp_data_dir();
        let target = StoreTarget::from_setting("", dir.path().join("qcat.sqlite3")).unwrap();
        // A lock timeout far longer than the test's patience: a progress write that starves
        // the body would hold everything up for all of it.
        let options = StoreOptions {
            lock_timeout: Duration::from_secs(120),
            ..StoreOptions::default()
        };
        let store = Store::open(&target, &options).await.unwrap();
        let row = JobRow {
            id: "held".into(),
            kind: "test.held".into(),
            state: "running".into(),
            actor: "test".into(),
            member: "test".into(),
            started_ms: qcat_core::time::now_ms(),
            ended_ms: None,
            done: 0,
            total: None,
            unit: "steps".into(),
            phase: String::new(),
            result: None,
            error: None,
        };
        jobs::insert(&store, &row).await.unwrap();
        let context = JobContext {
            progress: Progress::silent("steps"),
            cancel: CancellationToken::new(),
        };
        let body = {
            let (store, progress) = (store.clone(), context.progress.clone());
            async move {
                let mut tx = store.begin_write().await.unwrap();
                sqlx::query("UPDATE jobs SET phase = 'holding' WHERE id = 'held'")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                progress.set_done(5);
                // Two progress ticks fall while the lock is held.
                tokio::time::sleep(Duration::from_millis(2500)).await;
                tx.commit().await.unwrap();
                Ok(serde_json::json!("done"))
            }
        };
        let outcome = tokio::time::timeout(
            Duration::from_secs(60),
            run_with_row_updates(&store, "held", &context, body),
        )
        .await
        .expect("the body ended: its progress writes waited for its lock without stopping it");
        assert_eq!(outcome.unwrap(), serde_json::json!("done"));
        let stored = jobs::get(&store, "held").await.unwrap().unwrap();
        assert_eq!(
            stored.phase, "holding",
            "the body's own transaction committed"
        );
    }
}
