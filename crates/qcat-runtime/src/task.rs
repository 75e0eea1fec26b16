//! Named, supervised long-running tasks with an ordered shutdown.
//!
//! Every piece of background work in a process is a task started here: it gets a
//! [`TaskContext`] (its name and a cancellation token), a [`Stage`] that fixes when it stops
//! at shutdown, and a [`Restart`] policy. A task that panics or fails is logged with its
//! name, counted and (if its policy says so) started again after an exponential backoff, so
//! one bad collector never takes its neighbours down and never silently disappears.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// When a task stops during shutdown. Stages stop in this order, each one after the previous
/// stage's tasks have all ended: intake first (nothing new comes in), then the work already
/// taken, then the audit writer drains and the store closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Takes work from outside: the metrics endpoint, the scheduler, change watchers.
    Intake,
    /// Does taken work: jobs, maintenance runs, cache reloads.
    Work,
    /// Makes work durable: the audit writer and its spool.
    Audit,
}

impl Stage {
    const ALL: [Stage; 3] = [Stage::Intake, Stage::Work, Stage::Audit];
}

/// Whether a task that ended is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Restarted after a panic or an error; a clean return ends it.
    OnFailure,
    /// Never restarted (one-off work, e.g. a job).
    Never,
}

/// What a task is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Running,
    /// Waiting out the backoff after a failure.
    Restarting,
    /// Ended: returned cleanly or was stopped.
    Stopped,
    /// Ended by a failure and not restarted.
    Failed,
}

/// A task's health as shown in the window and by `qcatctl status`.
#[derive(Debug, Clone, Serialize)]
pub struct TaskHealth {
    pub name: String,
    pub stage: Stage,
    pub state: TaskState,
    /// Times it was started again after a failure.
    pub restarts: u32,
    /// The newest failure (panic message or error), if any.
    pub last_error: Option<String>,
    /// When that failure happened (ms since the epoch).
    pub last_error_at_ms: Option<i64>,
    /// When the task (last) started (ms since the epoch).
    pub started_at_ms: i64,
}

/// Handed to a task's body each time it starts.
#[derive(Clone)]
pub struct TaskContext {
    name: Arc<str>,
    cancel: CancellationToken,
}

impl TaskContext {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Cancelled when the task must stop (shutdown of its stage, or [`TaskHandle::stop`]).
    pub fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Sleeps for `period` unless cancelled first; false when cancelled.
    pub async fn sleep(&self, period: Duration) -> bool {
        tokio::select! {
            () = self.cancel.cancelled() => false,
            () = tokio::time::sleep(period) => true,
        }
    }
}

/// Handle to a started task.
#[derive(Clone)]
pub struct TaskHandle {
    cancel: CancellationToken,
    health: Arc<Mutex<TaskHealth>>,
}

impl TaskHandle {
    /// Asks the task to stop (it sees its context cancelled).
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    pub fn health(&self) -> TaskHealth {
        lock(&self.health).clone()
    }

    /// A token cancelled when the task is asked to stop: for jobs whose cancel command
    /// arrives from the window.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

struct Entry {
    stage: Stage,
    health: Arc<Mutex<TaskHealth>>,
    /// The stage's token's child: cancelling the stage cancels the task.
    _cancel: CancellationToken,
}

struct Inner {
    /// One token per stage, all children of nothing: stages stop one after another.
    stages: [CancellationToken; 3],
    trackers: [TaskTracker; 3],
    entries: Mutex<Vec<Entry>>,
    backoff: Backoff,
    /// The runtime the tasks were created on, so a task started from a thread outside it
    /// (a GUI callback) still runs there.
    handle: Option<tokio::runtime::Handle>,
}

/// The tasks of one process. Cheap to clone.
#[derive(Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

/// Restart delays: doubling from `first` up to `max`; a task that ran for longer than
/// `max` before failing starts again from `first`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Default for Tasks {
    fn default() -> Self {
        Self::new(Backoff::default())
    }
}

impl Tasks {
    pub fn new(backoff: Backoff) -> Self {
        Self {
            inner: Arc::new(Inner {
                stages: Default::default(),
                trackers: Default::default(),
                entries: Mutex::new(Vec::new()),
                backoff,
                handle: tokio::runtime::Handle::try_current().ok(),
            }),
        }
    }

    /// Starts `body` as the task `name` on the current tokio runtime (or, called from
    /// outside one, on the runtime these tasks were created on). `body` is called again
    /// for each restart, with a fresh context sharing the same cancellation.
    pub fn spawn<Body, Run>(
        &self,
        name: impl Into<String>,
        stage: Stage,
        restart: Restart,
        body: Body,
    ) -> TaskHandle
    where
        Body: Fn(TaskContext) -> Run + Send + Sync + 'static,
        Run: Future<Output = Result<(), String>> + Send + 'static,
    {
        let name: Arc<str> = name.into().into();
        let index = stage as usize;
        let cancel = self.inner.stages[index].child_token();
        let health = Arc::new(Mutex::new(TaskHealth {
            name: name.to_string(),
            stage,
            state: TaskState::Running,
            restarts: 0,
            last_error: None,
            last_error_at_ms: None,
            started_at_ms: now_ms(),
        }));
        lock(&self.inner.entries).push(Entry {
            stage,
            health: health.clone(),
            _cancel: cancel.clone(),
        });
        let context = TaskContext {
            name: name.clone(),
            cancel: cancel.clone(),
        };
        let backoff = self.inner.backoff;
        let supervised = supervise(context, health.clone(), restart, backoff, body);
        if self.inner.stages[index].is_cancelled() {
            // Started after its stage stopped (a job during shutdown): never runs.
            set_state(&health, TaskState::Stopped);
        } else {
            let tracker = &self.inner.trackers[index];
            match (tokio::runtime::Handle::try_current(), &self.inner.handle) {
                (Err(_), Some(handle)) => drop(tracker.spawn_on(supervised, handle)),
                _ => drop(tracker.spawn(supervised)),
            }
        }
        TaskHandle { cancel, health }
    }

    /// The health of every task started so far, in start order (ended one-off tasks
    /// included until [`Tasks::forget_ended`]).
    pub fn health(&self) -> Vec<TaskHealth> {
        lock(&self.inner.entries)
            .iter()
            .map(|entry| lock(&entry.health).clone())
            .collect()
    }

    /// Drops the health of ended tasks that never restart (finished jobs) so the list
    /// does not grow for ever; long-running tasks stay listed after they stop.
    pub fn forget_ended(&self, keep: impl Fn(&TaskHealth) -> bool) {
        lock(&self.inner.entries).retain(|entry| {
            let health = lock(&entry.health);
            matches!(health.state, TaskState::Running | TaskState::Restarting) || keep(&health)
        });
    }

    /// Whether shutdown has begun (intake stopped).
    pub fn is_shutting_down(&self) -> bool {
        self.inner.stages[Stage::Intake as usize].is_cancelled()
    }

    /// Stops one stage and waits for its tasks to end.
    pub async fn stop_stage(&self, stage: Stage) {
        let index = stage as usize;
        self.inner.stages[index].cancel();
        self.inner.trackers[index].close();
        self.inner.trackers[index].wait().await;
        let stopped = lock(&self.inner.entries)
            .iter()
            .filter(|entry| entry.stage == stage)
            .count();
        tracing::debug!(?stage, tasks = stopped, "stage stopped");
    }

    /// Stops one stage, waiting at most `grace`; tasks still running after it are named
    /// in the log and left behind.
    pub async fn stop_stage_within(&self, stage: Stage, grace: Duration) {
        if tokio::time::timeout(grace, self.stop_stage(stage))
            .await
            .is_err()
        {
            let stuck: Vec<String> = self
                .health()
                .into_iter()
                .filter(|health| health.stage == stage && health.state == TaskState::Running)
                .map(|health| health.name)
                .collect();
            tracing::error!(?stage, ?stuck, "tasks did not stop in time");
        }
    }

    /// Stops every stage in order, waiting at most `grace` for each.
    pub async fn shutdown(&self, grace: Duration) {
        for stage in Stage::ALL {
            self.stop_stage_within(stage, grace).await;
        }
    }
}

async fn supervise<Body, Run>(
    context: TaskContext,
    health: Arc<Mutex<TaskHealth>>,
    restart: Restart,
    backoff: Backoff,
    body: Body,
) where
    Body: Fn(TaskContext) -> Run + Send + Sync + 'static,
    Run: Future<Output = Result<(), String>> + Send + 'static,
{
    let mut delay = backoff.first;
    loop {
        let started = tokio::time::Instant::now();
        {
            let mut health = lock(&health);
            health.state = TaskState::Running;
            health.started_at_ms = now_ms();
        }
        // Run the body as its own tokio task so a panic is caught as a JoinError instead of
        // unwinding through the supervisor.
        let run = tokio::spawn(body(context.clone()));
        let abort = run.abort_handle();
        let outcome = run.await;
        drop(abort);
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error),
            Err(join) if join.is_panic() => Some(format!("panicked: {}", panic_text(join))),
            Err(join) => Some(format!("aborted: {join}")),
        };
        let Some(failure) = failure else {
            set_state(&health, TaskState::Stopped);
            return;
        };
        tracing::error!(task = context.name(), error = %failure, "task failed");
        {
            let mut health = lock(&health);
            health.last_error = Some(failure);
            health.last_error_at_ms = Some(now_ms());
        }
        if restart == Restart::Never || context.is_cancelled() {
            set_state(&health, TaskState::Failed);
            return;
        }
        if started.elapsed() > backoff.max {
            delay = backoff.first;
        }
        set_state(&health, TaskState::Restarting);
        if !context.sleep(delay).await {
            set_state(&health, TaskState::Stopped);
            return;
        }
        delay = (delay * 2).min(backoff.max);
        lock(&health).restarts += 1;
        tracing::info!(task = context.name(), "task restarted");
    }
}

fn panic_text(join: tokio::task::JoinError) -> String {
    let payload = join.into_panic();
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_owned()
    }
}

fn set_state(health: &Mutex<TaskHealth>, state: TaskState) {
    lock(health).state = state;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn quick() -> Tasks {
        Tasks::new(Backoff {
            first: Duration::from_millis(10),
            max: Duration::from_millis(40),
        })
    }

    #[tokio::test]
    async fn a_panicking_task_is_counted_and_restarted() {
        let tasks = quick();
        let runs = Arc::new(AtomicU32::new(0));
        let seen = runs.clone();
        let handle = tasks.spawn("flaky", Stage::Work, Restart::OnFailure, move |ctx| {
            let seen = seen.clone();
            async move {
                if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("collector exploded");
                }
                ctx.cancel().cancelled().await;
                Ok(())
            }
        });
        for _ in 0..200 {
            if runs.load(Ordering::SeqCst) >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let health = handle.health();
        // Two panics, each restarted: the third run is the one still going.
        assert_eq!(health.restarts, 2, "{health:?}");
        assert_eq!(health.state, TaskState::Running);
        assert!(
            health
                .last_error
                .as_deref()
                .unwrap()
                .contains("collector exploded"),
            "the panic message is kept: {health:?}"
        );
        tasks.shutdown(Duration::from_secs(1)).await;
        assert_eq!(handle.health().state, TaskState::Stopped);
    }

    #[tokio::test]
    async fn shutdown_stops_stages_in_order() {
        let tasks = quick();
        let order = Arc::new(Mutex::new(Vec::new()));
        for (name, stage) in [
            ("writer", Stage::Audit),
            ("job", Stage::Work),
            ("intake", Stage::Intake),
        ] {
            let order = order.clone();
            tasks.spawn(name, stage, Restart::OnFailure, move |ctx| {
                let order = order.clone();
                async move {
                    ctx.cancel().cancelled().await;
                    // The writer still works after the job stopped: it drains what the job queued.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    lock(&order).push(ctx.name().to_owned());
                    Ok(())
                }
            });
        }
        tasks.shutdown(Duration::from_secs(1)).await;
        assert_eq!(*lock(&order), ["intake", "job", "writer"]);
    }

    #[tokio::test]
    async fn a_one_off_task_that_fails_is_not_restarted() {
        let tasks = quick();
        let handle = tasks.spawn("job", Stage::Work, Restart::Never, |_| async {
            Err("disk full".to_owned())
        });
        tasks.stop_stage(Stage::Work).await;
        let health = handle.health();
        assert_eq!(health.state, TaskState::Failed);
        assert_eq!(health.restarts, 0);
        assert_eq!(health.last_error.as_deref(), Some("disk full"));
    }
}
