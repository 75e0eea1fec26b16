//! The process runtime wired to the store: this process as a member (heartbeat, the jobs
//! of dead members marked interrupted), singleton duties held by lease with a fencing token,
//! the live event stream and the ordered shutdown.
//!
//! What starts depends on the [`Mode`]: a one-shot `qcatctl` run gets the audit writer and
//! the access cache only (and a membership once it starts a job); the console and the agent
//! also keep a heartbeat, lead duties when they can, run the scheduler when they lead,
//! anchor the trail every minute and publish live events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qcat_runtime::events::EventBus;
use qcat_runtime::{Mode, Restart, Stage, TaskContext, TaskHealth, TaskState, Tasks};
use qcat_store::runtime::{DUTIES_TOPIC, JOBS_TOPIC, jobs, leases, members};
use serde::Serialize;
use tokio::sync::watch;
use ts_rs::TS;

use crate::access::SessionSlot;
use crate::origin::LocalProcess;
use crate::{Api, ApiError};

/// The duty the scheduler runs under (later issues add collectors, backups, the outbox).
pub const SCHEDULER_DUTY: &str = "scheduler";

/// A term this process holds: the fencing token and when it must stop acting (local clock,
/// measured from before the claim was sent, so it ends before the store's term does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    pub token: i64,
    pub valid_until: tokio::time::Instant,
}

/// This process's share of the runtime.
pub(crate) struct ProcessRuntime {
    pub(crate) mode: Mode,
    pub(crate) tasks: Tasks,
    pub(crate) events: EventBus<LiveEvent>,
    /// The member id: unique per process run.
    pub(crate) member: String,
    pub(crate) process: LocalProcess,
    pub(crate) started_ms: i64,
    pub(crate) failover: Duration,
    pub(crate) grace: Duration,
    pub(crate) terms: Mutex<HashMap<&'static str, watch::Receiver<Option<Term>>>>,
    pub(crate) jobs: Mutex<HashMap<String, crate::jobs::RunningJob>>,
    /// Whether this process's member row is written (a one-shot run writes it only when it
    /// starts a job).
    pub(crate) registered: tokio::sync::OnceCell<()>,
}

impl ProcessRuntime {
    pub(crate) fn new(mode: Mode, failover: Duration, grace: Duration) -> Self {
        Self {
            mode,
            tasks: Tasks::default(),
            events: EventBus::new(),
            member: qcat_core::random::hex_id(16),
            process: LocalProcess::current(),
            started_ms: qcat_core::time::now_ms(),
            failover,
            grace,
            terms: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            registered: tokio::sync::OnceCell::new(),
        }
    }

    /// A duty's term is this long on the store's clock; it is renewed (and a free duty
    /// looked for) every sixth of the failover time, so a dead holder is replaced within
    /// `term + renew` < failover.
    fn term(&self) -> Duration {
        self.failover * 2 / 3
    }

    fn renew_every(&self) -> Duration {
        self.failover / 6
    }
}

/// One event of the live stream. The window receives them batched, one Tauri event per
/// topic with a list of these (`ui/src/lib/ipc` is the only listener).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "topic")]
pub enum LiveEvent {
    /// Users, roles or grants changed (here, in another console or by `qcatctl`).
    #[serde(rename = "access://changed")]
    AccessChanged {
        #[ts(type = "number")]
        version: i64,
    },
    /// Entries were appended to the audit trail.
    #[serde(rename = "audit://appended")]
    AuditAppended {
        #[ts(type = "number")]
        version: i64,
    },
    /// A job of this process advanced (at most ten times a second per job).
    #[serde(rename = "jobs://progress")]
    JobProgress { job: Box<crate::jobs::JobView> },
    /// A job started or ended anywhere on the store.
    #[serde(rename = "jobs://changed")]
    JobsChanged {
        #[ts(type = "number")]
        version: i64,
    },
    /// A duty changed hands.
    #[serde(rename = "duties://changed")]
    DutiesChanged {
        #[ts(type = "number")]
        version: i64,
    },
    /// This process's tasks changed state (started, failed, restarted, stopped).
    #[serde(rename = "tasks://health")]
    TasksHealth { tasks: Vec<TaskView> },
    /// Monitoring targets were added, changed or removed, or one went up or down (here or
    /// in the process that collects).
    #[serde(rename = "monitor://changed")]
    MonitorChanged {
        #[ts(type = "number")]
        version: i64,
    },
    /// A named baseline or marked period changed, or a deviation event was raised or ended
    /// (here or in the process leading the baselines).
    #[serde(rename = "baseline://changed")]
    BaselineChanged {
        #[ts(type = "number")]
        version: i64,
    },
    /// Alert rules, the routing, silences or alerts changed (here or in the process leading
    /// alerting, or Prometheus posted alerts to the agent).
    #[serde(rename = "alerts://changed")]
    AlertsChanged {
        #[ts(type = "number")]
        version: i64,
    },
    /// A notification was queued, sent, retried or became a dead letter.
    #[serde(rename = "alerts://delivery")]
    DeliveriesChanged {
        #[ts(type = "number")]
        version: i64,
    },
    /// This process stored a reading of a target: panels showing it fetch the new points.
    #[serde(rename = "monitor://samples")]
    MonitorSamples {
        target: String,
        #[serde(rename = "atMs")]
        #[ts(type = "number")]
        at_ms: i64,
    },
}

impl LiveEvent {
    /// The topic name, as the window listens for it.
    pub fn topic(&self) -> &'static str {
        match self {
            LiveEvent::AccessChanged { .. } => "access://changed",
            LiveEvent::AuditAppended { .. } => "audit://appended",
            LiveEvent::JobProgress { .. } => "jobs://progress",
            LiveEvent::JobsChanged { .. } => "jobs://changed",
            LiveEvent::DutiesChanged { .. } => "duties://changed",
            LiveEvent::TasksHealth { .. } => "tasks://health",
            LiveEvent::MonitorChanged { .. } => "monitor://changed",
            LiveEvent::BaselineChanged { .. } => "baseline://changed",
            LiveEvent::AlertsChanged { .. } => "alerts://changed",
            LiveEvent::DeliveriesChanged { .. } => "alerts://delivery",
            LiveEvent::MonitorSamples { .. } => "monitor://samples",
        }
    }

    /// Every topic, for the window's listeners and the shell's bridge.
    pub const TOPICS: [&'static str; 11] = [
        "access://changed",
        "audit://appended",
        "jobs://progress",
        "jobs://changed",
        "duties://changed",
        "tasks://health",
        "monitor://changed",
        "baseline://changed",
        "monitor://samples",
        "alerts://changed",
        "alerts://delivery",
    ];
}

/// A task's health on the wire (and in a member's row).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    pub name: String,
    /// `intake`, `work` or `audit`: when it stops at shutdown.
    pub stage: String,
    /// `running`, `restarting`, `stopped` or `failed`.
    pub state: String,
    pub restarts: u32,
    pub last_error: Option<String>,
    #[ts(type = "number | null")]
    pub last_error_at_ms: Option<i64>,
    #[ts(type = "number")]
    pub started_at_ms: i64,
}

impl From<TaskHealth> for TaskView {
    fn from(health: TaskHealth) -> Self {
        Self {
            name: health.name,
            stage: wire_name(&health.stage),
            state: wire_name(&health.state),
            restarts: health.restarts,
            last_error: health.last_error,
            last_error_at_ms: health.last_error_at_ms,
            started_at_ms: health.started_at_ms,
        }
    }
}

/// The serde (snake_case) spelling of a unit enum, as the wire and the store spell it.
fn wire_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

/// A process using the store, on the wire.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub id: String,
    /// `console`, `agent` or `one_shot`.
    pub mode: String,
    pub host: String,
    #[ts(type = "number")]
    pub pid: i64,
    pub version: String,
    #[ts(type = "number")]
    pub started_ms: i64,
    #[ts(type = "number")]
    pub heartbeat_ms: i64,
    /// Whether it is this process.
    pub this_process: bool,
    /// Its tasks as of its last heartbeat (this process: now).
    pub tasks: Vec<TaskView>,
}

/// Who holds a duty.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DutyView {
    pub duty: String,
    /// The holding member, or null when the term ran out and nobody took it yet.
    pub holder: Option<String>,
    /// The holder's host and pid, when it is a live member.
    pub holder_label: Option<String>,
    #[ts(type = "number")]
    pub token: i64,
    #[ts(type = "number")]
    pub since_ms: i64,
    pub held_here: bool,
}

/// The System page and `qcatctl status`: this process's tasks, the members, the duties.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStatus {
    pub mode: String,
    pub member: String,
    pub tasks: Vec<TaskView>,
    pub members: Vec<MemberView>,
    pub duties: Vec<DutyView>,
    /// Events waiting for the audit writer.
    #[ts(type = "number")]
    pub audit_queue: u64,
    /// Why members and duties are missing (no store), if they are.
    pub error: Option<ApiError>,
}

impl Api {
    pub(crate) fn runtime(&self) -> &ProcessRuntime {
        &self.inner.runtime
    }

    /// The live event stream (the shell forwards it to the window; tests read it).
    pub fn events(&self) -> qcat_runtime::events::Subscription<LiveEvent> {
        self.runtime().events.subscribe()
    }

    /// Hands the live events to `sink` as the task `window-events`: batched over 16 ms (a frame), one
    /// call per topic with that topic's events in order. A subscriber that fell behind gets
    /// every topic's "changed" event so its screens reload.
    pub fn forward_events<Sink>(&self, sink: Sink)
    where
        Sink: Fn(&'static str, Vec<LiveEvent>) + Send + Sync + 'static,
    {
        let sink = Arc::new(sink);
        let bus = self.runtime().events.clone();
        self.runtime().tasks.spawn(
            "window-events",
            Stage::Intake,
            Restart::OnFailure,
            move |context| {
                let (sink, mut subscription) = (sink.clone(), bus.subscribe());
                async move {
                    loop {
                        let delivery = tokio::select! {
                            delivery = subscription.next_batch(Duration::from_millis(16), 1000) => delivery,
                            () = context.cancel().cancelled() => break,
                        };
                        match delivery {
                            None => break,
                            Some(qcat_runtime::events::Delivery::Events(events)) => {
                                let mut by_topic: Vec<(&'static str, Vec<LiveEvent>)> = Vec::new();
                                for event in events {
                                    let topic = event.topic();
                                    match by_topic.iter_mut().find(|(seen, _)| *seen == topic) {
                                        Some((_, list)) => list.push(event),
                                        None => by_topic.push((topic, vec![event])),
                                    }
                                }
                                for (topic, events) in by_topic {
                                    sink(topic, events);
                                }
                            }
                            Some(qcat_runtime::events::Delivery::Lagged(missed)) => {
                                tracing::warn!(missed, "the window fell behind the live events; it reloads");
                                sink("access://changed", vec![LiveEvent::AccessChanged { version: -1 }]);
                                sink("audit://appended", vec![LiveEvent::AuditAppended { version: -1 }]);
                                sink("jobs://changed", vec![LiveEvent::JobsChanged { version: -1 }]);
                                sink("monitor://changed", vec![LiveEvent::MonitorChanged { version: -1 }]);
                                sink("baseline://changed", vec![LiveEvent::BaselineChanged { version: -1 }]);
                                sink("alerts://changed", vec![LiveEvent::AlertsChanged { version: -1 }]);
                                sink("alerts://delivery", vec![LiveEvent::DeliveriesChanged { version: -1 }]);
                            }
                        }
                    }
                    Ok(())
                }
            },
        );
    }

    /// This process's tasks (no store needed).
    pub fn task_health(&self) -> Vec<TaskView> {
        self.runtime()
            .tasks
            .health()
            .into_iter()
            .map(TaskView::from)
            .collect()
    }

    /// Tasks, members and duties (`system:view`).
    pub async fn runtime_status(&self, slot: &SessionSlot) -> Result<RuntimeStatus, ApiError> {
        self.guard(slot, "runtime_status").await?;
        Ok(self.runtime_status_unguarded().await)
    }

    /// [`Api::runtime_status`] for `qcatctl status`, which needs no sign-in for the
    /// process's own health.
    pub async fn runtime_status_unguarded(&self) -> RuntimeStatus {
        let runtime = self.runtime();
        let mut status = RuntimeStatus {
            mode: wire_name(&runtime.mode),
            member: runtime.member.clone(),
            tasks: self.task_health(),
            members: Vec::new(),
            duties: Vec::new(),
            audit_queue: self
                .access()
                .map(|access| access.audit().queued() as u64)
                .unwrap_or(0),
            error: None,
        };
        let store = match self.store() {
            Ok(store) => store,
            Err(err) => {
                status.error = Some(err);
                return status;
            }
        };
        let read = async {
            let now = store.clock_ms().await?;
            let alive = members::alive(store, now - runtime.failover.as_millis() as i64).await?;
            let holders = leases::holders(store).await?;
            Ok::<_, qcat_store::StoreError>((now, alive, holders))
        };
        match read.await {
            Ok((now, alive, holders)) => {
                status.duties = holders
                    .into_iter()
                    .map(|holder| {
                        let live = holder.expires_ms > now;
                        let member = alive.iter().find(|member| member.id == holder.holder);
                        DutyView {
                            duty: holder.duty,
                            holder: live.then(|| holder.holder.clone()),
                            holder_label: member.filter(|_| live).map(|member| {
                                format!("{} on {} pid {}", member.mode, member.host, member.pid)
                            }),
                            token: holder.token,
                            since_ms: holder.acquired_ms,
                            held_here: live && holder.holder == runtime.member,
                        }
                    })
                    .collect();
                let own_tasks = status.tasks.clone();
                status.members = alive
                    .into_iter()
                    .map(|member| MemberView {
                        tasks: if member.id == runtime.member {
                            own_tasks.clone()
                        } else {
                            serde_json::from_str(&member.tasks).unwrap_or_default()
                        },
                        this_process: member.id == runtime.member,
                        id: member.id,
                        mode: member.mode,
                        host: member.host,
                        pid: member.pid,
                        version: member.version,
                        started_ms: member.started_ms,
                        heartbeat_ms: member.heartbeat_ms,
                    })
                    .collect();
            }
            Err(err) => status.error = Some(ApiError::storage_ref(&err)),
        }
        status
    }

    /// The term this process holds for `duty` now, if any.
    pub fn current_term(&self, duty: &str) -> Option<Term> {
        let terms = self
            .runtime()
            .terms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let term = (*terms.get(duty)?.borrow())?;
        (term.valid_until > tokio::time::Instant::now()).then_some(term)
    }

    /// Waits until this process holds `duty` (or the task is cancelled: None).
    pub(crate) async fn lead(&self, duty: &'static str, context: &TaskContext) -> Option<Term> {
        let mut terms = {
            let map = self
                .runtime()
                .terms
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.get(duty)?.clone()
        };
        loop {
            if let Some(term) = self.current_term(duty) {
                return Some(term);
            }
            tokio::select! {
                changed = terms.changed() => changed.ok()?,
                () = context.cancel().cancelled() => return None,
            }
        }
    }

    /// Runs `body` with this API as the task `name` (restarted on failure). The task holds
    /// the API only while its body runs, so a dropped API ends it at the next restart.
    pub(crate) fn spawn_with_api<Body, Run>(
        &self,
        name: impl Into<String>,
        stage: Stage,
        body: Body,
    ) where
        Body: Fn(Api, TaskContext) -> Run + Send + Sync + 'static,
        Run: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let (weak, body) = (self.downgrade(), Arc::new(body));
        self.runtime()
            .tasks
            .spawn(name, stage, Restart::OnFailure, move |context| {
                let (weak, body) = (weak.clone(), body.clone());
                async move {
                    match weak.upgrade() {
                        Some(api) => body(api, context).await,
                        None => Ok(()),
                    }
                }
            });
    }

    /// Runs `tick` every `period` as the task `name`, holding the API only during a tick.
    fn spawn_every<Tick, Done>(&self, name: &str, stage: Stage, period: Duration, tick: Tick)
    where
        Tick: Fn(Api) -> Done + Send + Sync + 'static,
        Done: std::future::Future<Output = ()> + Send + 'static,
    {
        let (weak, tick) = (self.downgrade(), Arc::new(tick));
        self.runtime()
            .tasks
            .spawn(name, stage, Restart::OnFailure, move |context| {
                let (weak, tick) = (weak.clone(), tick.clone());
                async move {
                    while context.sleep(period).await {
                        let Some(api) = weak.upgrade() else { break };
                        tick(api).await;
                    }
                    Ok(())
                }
            });
    }

    /// Starts what a long-running process runs besides the audit writer and the cache.
    pub(crate) fn start_long_running(&self) {
        let Ok(store) = self.store() else { return };
        let store = store.clone();
        let runtime = self.runtime();
        self.spawn_with_api("membership", Stage::Work, |api, context| async move {
            api.keep_membership(&context).await
        });
        self.hold_duty(SCHEDULER_DUTY);
        self.spawn_with_api("scheduler", Stage::Intake, |api, context| async move {
            api.run_scheduler(&context).await
        });
        self.start_monitoring();
        self.hold_duty(crate::alert::ALERT_DUTY);
        self.spawn_with_api("alerting", Stage::Work, |api, context| async move {
            api.run_alerting(&context).await
        });
        self.spawn_with_api("alert-delivery", Stage::Work, |api, context| async move {
            api.run_alert_delivery(&context).await
        });
        self.spawn_every(
            "audit-anchor",
            Stage::Work,
            crate::audit::ANCHOR_EVERY,
            |api| async move { api.publish_anchor().await },
        );
        // Live events and task-health events feed a window; an agent has none to feed.
        if runtime.mode == Mode::Console {
            runtime
                .tasks
                .spawn("live-events", Stage::Intake, Restart::OnFailure, {
                    let (store, bus) = (store.clone(), runtime.events.clone());
                    move |context| forward_changes(store.clone(), bus.clone(), context)
                });
            let last: Arc<Mutex<Vec<TaskView>>> = Arc::default();
            self.spawn_every(
                "task-health",
                Stage::Intake,
                Duration::from_millis(500),
                move |api| {
                    let last = last.clone();
                    async move {
                        let now = api.task_health();
                        let mut last = last
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        if *last != now {
                            api.runtime()
                                .events
                                .publish(LiveEvent::TasksHealth { tasks: now.clone() });
                            *last = now;
                        }
                    }
                },
            );
        }
    }

    /// Writes this process's member row once, and keeps it beating if this is a one-shot
    /// run that just started a job (long-running modes beat from the start).
    pub(crate) async fn ensure_member(&self) -> Result<(), ApiError> {
        let first = self.register_member().await?;
        if first && self.runtime().mode == Mode::OneShot {
            self.spawn_with_api("membership", Stage::Work, |api, context| async move {
                api.keep_membership(&context).await
            });
        }
        Ok(())
    }

    /// Writes the member row unless written; true when this call wrote it.
    async fn register_member(&self) -> Result<bool, ApiError> {
        let store = self.store()?.clone();
        let runtime = self.runtime();
        let mut first = false;
        runtime
            .registered
            .get_or_try_init(|| async {
                let now = store
                    .clock_ms()
                    .await
                    .map_err(|err| ApiError::storage_ref(&err))?;
                members::register(
                    &store,
                    &members::Member {
                        id: runtime.member.clone(),
                        mode: wire_name(&runtime.mode),
                        host: runtime.process.host.clone(),
                        pid: i64::from(runtime.process.pid),
                        version: qcat_core::VERSION.to_owned(),
                        started_ms: runtime.started_ms,
                        heartbeat_ms: now,
                        stopped_ms: None,
                        tasks: "[]".to_owned(),
                    },
                )
                .await
                .map_err(|err| ApiError::storage_ref(&err))?;
                first = true;
                Ok::<_, ApiError>(())
            })
            .await?;
        Ok(first)
    }

    /// Beats every third of the failover time, and marks interrupted the running jobs of
    /// members that stopped beating (or, on this host, whose process is gone).
    async fn keep_membership(&self, context: &TaskContext) -> Result<(), String> {
        let store = self.store().map_err(|err| err.message)?.clone();
        self.register_member().await.map_err(|err| err.message)?;
        let runtime = self.runtime();
        loop {
            let beat = async {
                let now = store.clock_ms().await?;
                let tasks = serde_json::to_string(&self.task_health()).unwrap_or_default();
                members::heartbeat(&store, &runtime.member, now, &tasks).await?;
                self.interrupt_orphaned_jobs(&store, now).await?;
                Ok::<_, qcat_store::StoreError>(())
            };
            if let Err(err) = beat.await {
                tracing::warn!(error = %err, "heartbeat not written");
            }
            if !context.sleep(runtime.failover / 3).await {
                return Ok(());
            }
        }
    }

    async fn interrupt_orphaned_jobs(
        &self,
        store: &qcat_store::Store,
        now: i64,
    ) -> Result<(), qcat_store::StoreError> {
        let runtime = self.runtime();
        let since = now - runtime.failover.as_millis() as i64;
        let alive: Vec<String> = members::alive(store, since)
            .await?
            .into_iter()
            .filter(|member| {
                member.id == runtime.member
                    || member.host != runtime.process.host
                    || crate::origin::process_exists(member.pid)
            })
            .map(|member| member.id)
            .collect();
        let interrupted = jobs::interrupt_orphans(store, &alive, now).await?;
        if interrupted > 0 {
            tracing::warn!(interrupted, "jobs of stopped processes marked interrupted");
        }
        // Members silent for a day and jobs ended a month ago are forgotten; so are this
        // process's ended job tasks (the long-running tasks stay listed).
        members::forget_before(store, now - 86_400_000).await?;
        jobs::forget_ended_before(store, now - 30 * 86_400_000).await?;
        runtime.tasks.forget_ended(|task| {
            !task.name.starts_with("job:") && !task.name.starts_with("collect:")
        });
        Ok(())
    }

    /// Holds `duty` whenever it can: renews its term, or takes the duty when it is free.
    /// On SQLite the data dir's lock file decides first (whoever holds it may take the
    /// duty at once: the lock dies with its process); PostgreSQL members wait out the
    /// dead holder's term.
    pub(crate) fn hold_duty(&self, duty: &'static str) {
        let (sender, receiver) = watch::channel(None);
        self.runtime()
            .terms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(duty, receiver);
        let sender = Arc::new(sender);
        self.spawn_with_api(
            format!("duty:{duty}"),
            Stage::Intake,
            move |api, context| {
                let sender = sender.clone();
                async move {
                    api.keep_duty(duty, &sender, &context).await;
                    Ok(())
                }
            },
        );
    }

    async fn keep_duty(
        &self,
        duty: &'static str,
        sender: &watch::Sender<Option<Term>>,
        context: &TaskContext,
    ) {
        let Ok(store) = self.store().cloned() else {
            return;
        };
        let runtime = self.runtime();
        let term = runtime.term();
        let lock_path = self
            .inner
            .config
            .data_dir
            .path()
            .join(format!("duty-{duty}.lock"));
        let mut file_lock: Option<crate::origin::FileLock> = None;
        loop {
            let sent = tokio::time::Instant::now();
            // SQLite: only the holder of the data dir's lock may lead, and it may take over
            // at once (its predecessor is dead: the kernel released the lock).
            let force = if store.backend() == qcat_store::Backend::Sqlite {
                if file_lock.is_none() {
                    file_lock = crate::origin::FileLock::try_exclusive(&lock_path);
                }
                file_lock.is_some()
            } else {
                false
            };
            let claim = if store.backend() == qcat_store::Backend::Sqlite && !force {
                Ok(None)
            } else {
                leases::claim(
                    &store,
                    duty,
                    &runtime.member,
                    term.as_millis() as i64,
                    force,
                )
                .await
            };
            match claim {
                Ok(Some(lease)) => {
                    if lease.new_term {
                        tracing::info!(duty, token = lease.token, "this process now leads");
                    }
                    sender.send_replace(Some(Term {
                        token: lease.token,
                        valid_until: sent + term,
                    }));
                }
                Ok(None) => {
                    if sender.borrow().is_some() {
                        tracing::warn!(duty, "another process leads now");
                    }
                    sender.send_replace(None);
                }
                Err(err) => {
                    // Keep the term until it runs out locally; the duty checks it.
                    tracing::warn!(duty, error = %err, "duty lease not renewed");
                }
            }
            if !context.sleep(runtime.renew_every()).await {
                break;
            }
        }
        sender.send_replace(None);
        if let Err(err) = leases::release(&store, duty, &runtime.member).await {
            tracing::warn!(duty, error = %err, "duty lease not released");
        }
        drop(file_lock);
    }

    /// The ordered shutdown: stop intake (scheduler, watchers, the metrics endpoint), let
    /// the work stage finish (jobs are cancelled and recorded so), drain the audit writer
    /// and its spool, anchor the trail, then close the store.
    pub(crate) async fn shut_down(&self) {
        let runtime = self.runtime();
        let grace = runtime.grace;
        runtime.tasks.stop_stage_within(Stage::Intake, grace).await;
        for job in self.running_jobs() {
            job.cancel.cancel();
        }
        runtime.tasks.stop_stage_within(Stage::Work, grace).await;
        if let Ok(access) = &self.inner.access
            && let Err(err) = access.audit().flush().await
        {
            tracing::error!(error = %err, "audit entries could not be written at shutdown");
        }
        runtime.tasks.stop_stage_within(Stage::Audit, grace).await;
        // Every run leaves the head it reached anchored outside the store.
        self.publish_anchor().await;
        if let Ok(store) = self.store()
            && runtime.registered.initialized()
        {
            let now = qcat_core::time::now_ms();
            if let Err(err) = members::stopped(store, &runtime.member, now).await {
                tracing::warn!(error = %err, "member row not marked stopped");
            }
        }
        let stuck: Vec<String> = runtime
            .tasks
            .health()
            .into_iter()
            .filter(|task| matches!(task.state, TaskState::Running | TaskState::Restarting))
            .map(|task| task.name)
            .collect();
        if !stuck.is_empty() {
            tracing::error!(?stuck, "tasks still running at shutdown");
        }
    }
}

/// Publishes a live event whenever the store's counters for access, the audit trail, jobs
/// or duties move (whoever moved them).
async fn forward_changes(
    store: qcat_store::Store,
    bus: EventBus<LiveEvent>,
    context: TaskContext,
) -> Result<(), String> {
    const TOPICS: [&str; 8] = [
        qcat_access::control::TOPIC,
        qcat_audit::chain::AUDIT_TOPIC,
        JOBS_TOPIC,
        DUTIES_TOPIC,
        qcat_monitor::targets::store::TOPIC,
        qcat_monitor::baseline::store::TOPIC,
        qcat_alert::state::TOPIC,
        qcat_alert::outbox::TOPIC,
    ];
    let (mut versions, follower) = store.follow(&TOPICS).await.map_err(|err| err.to_string())?;
    let forward = async {
        let mut last = versions.borrow_and_update().clone();
        while versions.changed().await.is_ok() {
            let now = versions.borrow_and_update().clone();
            for (index, (before, version)) in last.iter().zip(&now).enumerate() {
                if before == version {
                    continue;
                }
                let version = *version;
                bus.publish(match index {
                    0 => LiveEvent::AccessChanged { version },
                    1 => LiveEvent::AuditAppended { version },
                    2 => LiveEvent::JobsChanged { version },
                    3 => LiveEvent::DutiesChanged { version },
                    4 => LiveEvent::MonitorChanged { version },
                    5 => LiveEvent::BaselineChanged { version },
                    6 => LiveEvent::AlertsChanged { version },
                    _ => LiveEvent::DeliveriesChanged { version },
                });
            }
            last = now;
        }
    };
    tokio::select! {
        () = forward => {}
        () = follower => {}
        () = context.cancel().cancelled() => {}
    }
    Ok(())
}
