//! Monitoring through the API: targets (list, save, remove, test), range queries over the
//! metric store, the overview, and the collection duty.
//!
//! Collection is the singleton duty `collection`: whichever console or agent leads it runs
//! one task per target (`collect:<name>`), each on its own aligned interval and bounded by
//! its own timeout, so a failing target never slows another. Samples go to the metric
//! store's head; the `metrics-flush` task writes it every `monitoring.flush_interval` (and
//! once more at shutdown). A target's state change is written to the store (other windows
//! follow `monitor://changed`); every reading is announced as `monitor://samples`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qcat_audit::event::Outcome;
use qcat_core::ErrorCode;
use qcat_core::secret::Secret;
use qcat_monitor::collect::{self, CheckReport, Collector, Reading};
use qcat_monitor::targets::store::{self as target_store, Health, TargetError};
use qcat_monitor::targets::{self, Environment, Target, TargetKind};
use qcat_monitor::tsdb::{
    Function, MetricError, MetricOptions, MetricStore, QueryRequest, Selector, SeriesKey,
};
use qcat_runtime::{Restart, Stage, TaskContext, TaskHandle};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::access::SessionSlot;
use crate::runtime::LiveEvent;
use crate::{Api, ApiError};

mod baseline;
mod import;
pub use baseline::live::BASELINE_DUTY;
pub use baseline::{
    BandInput, BandView, BaselineSeriesView, BaselineStatusView, CaptureInput, CompareInput,
    ComparisonRowView, ComparisonView, DeviationEventView, DeviationEventsInput, DeviationView,
    DeviationsInput, DeviationsView, MarkInput, MarkView, NamedBaselineView, NamedSeriesView,
    RangeInput, ReportFile, ReportInput,
};
pub use import::{ImportInput, ImportView, PrometheusImportInput};

/// The singleton duty collectors run under.
pub const COLLECTION_DUTY: &str = "collection";

/// How often the collection duty looks for added, changed or removed targets.
const TARGETS_EVERY: Duration = Duration::from_secs(2);

/// A target's health is rewritten at least this often while unchanged (its "checked" time).
const HEALTH_EVERY_MS: i64 = 30_000;

/// This process's monitoring state.
#[derive(Default)]
pub(crate) struct MonitorState {
    metrics: tokio::sync::OnceCell<Result<Arc<MetricStore>, ApiError>>,
    /// Per target: what its collector last saw (this process only).
    live: Mutex<HashMap<String, LiveTarget>>,
    /// The metric store's size after the last flush, for the agent's `/metrics`.
    store_bytes: std::sync::atomic::AtomicU64,
    /// The port of the demo application this process runs, if it runs one.
    demo_port: Mutex<Option<u16>>,
}

#[derive(Debug, Clone)]
struct LiveTarget {
    health: Health,
    written_ms: i64,
    scrapes: u64,
    errors: u64,
    detail: Option<serde_json::Value>,
}

// ---- wire types ----

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TargetView {
    pub name: String,
    /// `host`, `postgres`, `redis`, `prometheus` or `prometheus-server`.
    pub kind: String,
    /// The URL without credentials.
    pub url: String,
    /// `none`, `secret:NAME` or `encrypted`; the password itself is never sent.
    pub password: String,
    /// `development`, `staging` or `production`.
    pub environment: String,
    #[ts(type = "number")]
    pub interval_ms: i64,
    #[ts(type = "number")]
    pub timeout_ms: i64,
    pub queries: BTreeMap<String, String>,
    #[ts(type = "number")]
    pub version: i64,
    /// `store` (defined in the window or with `qcatctl target add`) or `config` (the
    /// config file's `[monitoring.targets.NAME]`: changed there, not here).
    pub origin: String,
    pub health: Option<TargetHealthView>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealthView {
    pub up: bool,
    /// Since when it has been in this state (ms).
    #[ts(type = "number")]
    pub since_ms: i64,
    /// `dns`, `refused`, `timeout`, `tls`, `auth`, `permission`, `protocol` or `config`.
    pub error_kind: Option<String>,
    pub error: Option<String>,
    #[ts(type = "number")]
    pub checked_ms: i64,
    #[ts(type = "number")]
    pub duration_ms: i64,
    #[ts(type = "number")]
    pub samples: i64,
    /// PostgreSQL targets with `pg_stat_statements`: the top statements by total time.
    pub statements: Vec<StatementView>,
}

/// One row of `pg_stat_statements`, as the PostgreSQL collector read it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatementView {
    pub query_id: String,
    /// The statement's text, at most 300 characters.
    pub query: String,
    pub calls: f64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: f64,
}

impl From<&Health> for TargetHealthView {
    fn from(health: &Health) -> Self {
        let statements = health
            .detail
            .as_deref()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .and_then(|detail| serde_json::from_value(detail["topStatements"].clone()).ok())
            .unwrap_or_default();
        Self {
            statements,
            up: health.up,
            since_ms: health.since_ms,
            error_kind: health.error_kind.clone(),
            error: health.error.clone(),
            checked_ms: health.checked_ms,
            duration_ms: health.duration_ms,
            samples: health.samples,
        }
    }
}

/// A target as the window or `qcatctl target add` sends it.
#[derive(Debug, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TargetInput {
    pub name: String,
    pub kind: String,
    pub url: String,
    /// Absent: keep the stored password. `""`: none. `secret:NAME`: a named secret. Any
    /// other text: the password itself, encrypted under the master key before it is stored.
    #[serde(default)]
    #[ts(type = "string | null")]
    pub password: Option<crate::secrets::SecretText>,
    #[serde(default)]
    pub environment: Option<String>,
    #[ts(type = "number")]
    pub interval_ms: i64,
    #[serde(default)]
    #[ts(type = "number | null")]
    pub timeout_ms: Option<i64>,
    #[serde(default)]
    pub queries: BTreeMap<String, String>,
    /// The version the editor showed (0 for a new target); absent: apply to what is stored.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub seen_version: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TargetNameInput {
    pub name: String,
}

/// The first-start shortcuts: `host` monitors this machine, `demo` starts the simulated
/// trading application inside the console and monitors it.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct QuickStartInput {
    pub what: String,
}

/// The names the quick start gives its targets.
pub const HOST_TARGET: &str = "this-machine";
pub const DEMO_TARGET: &str = "demo-trading-app";
/// The demo simulator's preferred port (the next free one is used when it is taken).
const DEMO_PORT: u16 = 19464;

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CheckView {
    pub ok: bool,
    pub steps: Vec<CheckStepView>,
    #[ts(type = "number")]
    pub samples: u64,
    pub failure: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CheckStepView {
    pub step: String,
    pub ok: bool,
    #[ts(type = "number")]
    pub millis: u64,
    pub detail: String,
}

impl From<CheckReport> for CheckView {
    fn from(report: CheckReport) -> Self {
        Self {
            ok: report.ok,
            steps: report
                .steps
                .into_iter()
                .map(|step| CheckStepView {
                    step: step.step,
                    ok: step.ok,
                    millis: step.millis,
                    detail: step.detail,
                })
                .collect(),
            samples: report.samples as u64,
            failure: report.failure.map(|kind| kind.as_str().to_owned()),
            message: report.message,
        }
    }
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct QueryInput {
    /// `name` or `name{label="value",…}` (`=`, `!=`, `=~`, `!~`).
    pub series: String,
    #[ts(type = "number")]
    pub from_ms: i64,
    #[ts(type = "number")]
    pub to_ms: i64,
    /// At most this many points per series (2 to 100 000).
    pub max_points: u32,
    /// `value` (default), `rate`, or a quantile `0.99` of a histogram's buckets.
    #[serde(default)]
    pub function: Option<String>,
}

/// One series of a query result, columnar (as charts want it): `t[i]` with `avg[i]`…
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SeriesView {
    pub key: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `raw`, `1m` or `1h`: the tier it was read from.
    pub tier: String,
    #[ts(type = "number")]
    pub step_ms: i64,
    #[ts(type = "number[]")]
    pub t: Vec<i64>,
    pub avg: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    pub last: Vec<f64>,
}

/// The overview: every target's health, and the application's headline numbers.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OverviewView {
    pub targets: Vec<TargetView>,
    /// The newest value of each headline series, per target that has it.
    pub latest: Vec<LatestValue>,
    /// Whether this process collects (it leads the collection duty).
    pub collecting_here: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LatestValue {
    pub target: String,
    pub series: String,
    #[ts(type = "number")]
    pub t: i64,
    pub value: f64,
}

/// The series the overview reports for every target that has them.
pub const HEADLINE_SERIES: [&str; 14] = [
    "app_request_rate",
    "app_error_ratio",
    "app_latency_seconds{quantile=\"0.99\"}",
    "app_in_flight",
    "app_throughput",
    "host_cpu_usage_ratio{cpu=\"total\"}",
    "host_memory_used_bytes",
    "host_memory_total_bytes",
    "host_load1",
    "pg_connections_total",
    "pg_max_connections",
    "pg_cache_hit_ratio",
    "redis_memory_used_bytes",
    "redis_connected_clients",
];

fn target_error(err: TargetError) -> ApiError {
    match err {
        TargetError::Invalid(problems) => {
            ApiError::new(ErrorCode::InvalidInput, problems.join("; "))
        }
        TargetError::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
        TargetError::NotFound(message) => ApiError::new(ErrorCode::NotFound, message),
        TargetError::Storage(err) => ApiError::store_failure(&err),
    }
}

pub(crate) fn metric_error(err: MetricError) -> ApiError {
    match err {
        MetricError::Selector(message) => ApiError::new(ErrorCode::InvalidInput, message),
        MetricError::Storage(err) => {
            let message = qcat_store::fault::describe(&err, "the metric store");
            tracing::error!(error = %err, "metric store failure");
            ApiError::new(ErrorCode::StorageUnavailable, message)
        }
        other => ApiError::new(ErrorCode::StorageSchema, other.to_string()),
    }
}

/// Builds `target`'s collector and tests its connection; a collector that cannot be built
/// is a failed check with its reason.
async fn check(target: &Target, password: Option<Secret<String>>) -> CheckView {
    match Collector::build(target, password) {
        Ok(mut collector) => collector.check(target).await.into(),
        Err(err) => CheckView {
            ok: false,
            steps: Vec::new(),
            samples: 0,
            failure: Some(err.kind.as_str().to_owned()),
            message: err.message,
        },
    }
}

fn view(target: &Target, origin: &str, health: Option<&Health>) -> TargetView {
    TargetView {
        origin: origin.to_owned(),
        name: target.name.clone(),
        kind: target.kind.as_str().to_owned(),
        url: if target.kind == TargetKind::Host {
            target.url.clone()
        } else {
            qcat_core::redact::url(&target.url)
        },
        password: target_store::password_view(&target.password),
        environment: target.environment.as_str().to_owned(),
        interval_ms: target.interval.as_millis() as i64,
        timeout_ms: target.timeout.as_millis() as i64,
        queries: target.queries.clone(),
        version: target.version,
        health: health.map(TargetHealthView::from),
    }
}

impl Api {
    fn monitor(&self) -> &MonitorState {
        &self.inner.monitor
    }

    /// The metric store, opened on first use: `metrics.sqlite3` in the data dir, or the
    /// shared PostgreSQL's `metric_*` tables in team mode.
    pub(crate) async fn metrics(&self) -> Result<Arc<MetricStore>, ApiError> {
        self.monitor()
            .metrics
            .get_or_init(|| async {
                let store = self.store()?;
                let settings = &self.inner.config.config.config.monitoring;
                let options = MetricOptions {
                    flush_interval: settings.flush_interval,
                    retention: [
                        settings.retention_raw,
                        settings.retention_minute,
                        settings.retention_hour,
                    ],
                    ..MetricOptions::default()
                };
                let opened = match store.backend() {
                    qcat_store::Backend::Postgres => {
                        MetricStore::on_postgres(store.pool().clone(), options).await
                    }
                    qcat_store::Backend::Sqlite => {
                        let path = self.inner.config.data_dir.path().join("metrics.sqlite3");
                        MetricStore::open_sqlite(&path, options).await
                    }
                };
                opened.map(Arc::new).map_err(metric_error)
            })
            .await
            .clone()
    }

    /// Every target with its health.
    pub async fn monitor_targets(&self, slot: &SessionSlot) -> Result<Vec<TargetView>, ApiError> {
        self.guard(slot, "monitor_targets").await?;
        self.targets_with_health().await
    }

    async fn targets_with_health(&self) -> Result<Vec<TargetView>, ApiError> {
        let store = self.store()?;
        let list = self
            .all_targets()
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        let health = target_store::health(store)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        let live = self
            .monitor()
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(list
            .iter()
            .map(|(target, origin)| {
                // This process's own reading is fresher than the stored one.
                let found = live
                    .get(&target.name)
                    .map(|live| &live.health)
                    .or_else(|| health.iter().find(|h| h.name == target.name));
                view(target, origin, found)
            })
            .collect())
    }

    /// The targets the config file defines (`[monitoring.targets.NAME]`, checked when the
    /// configuration loaded; the URL and password rules are checked here as for the window).
    fn config_targets(&self) -> Vec<Target> {
        let settings = &self.inner.config.config.config.monitoring.targets;
        settings
            .iter()
            .filter_map(|(name, setting)| {
                let kind = TargetKind::parse(&setting.kind)?;
                let interval = humantime::parse_duration(&setting.interval)
                    .unwrap_or(Duration::from_secs(5));
                let target = Target {
                    name: name.clone(),
                    kind,
                    url: if kind == TargetKind::Host && setting.url.is_empty() {
                        "local".to_owned()
                    } else {
                        setting.url.clone()
                    },
                    password: setting.password.raw().to_owned(),
                    environment: Environment::parse(&setting.environment)
                        .unwrap_or(Environment::Development),
                    interval,
                    timeout: humantime::parse_duration(&setting.timeout)
                        .unwrap_or_else(|_| targets::default_timeout(interval)),
                    queries: setting.queries.clone(),
                    version: 0,
                };
                let problems = target.problems();
                if problems.is_empty() {
                    Some(target)
                } else {
                    tracing::warn!(target = %name, problems = %problems.join("; "), "a target of the config file is not used");
                    None
                }
            })
            .collect()
    }

    /// Every target: the store's and the config file's (a name in both is the file's).
    pub(crate) async fn all_targets(&self) -> Result<Vec<(Target, &'static str)>, sqlx::Error> {
        let from_config = self.config_targets();
        let mut all: Vec<(Target, &'static str)> =
            target_store::list(self.store().map_err(|_| sqlx::Error::PoolClosed)?)
                .await?
                .into_iter()
                .filter(|target| !from_config.iter().any(|c| c.name == target.name))
                .map(|target| (target, "store"))
                .collect();
        all.extend(from_config.into_iter().map(|target| (target, "config")));
        all.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        Ok(all)
    }

    /// Refuses a change to a target the config file defines.
    fn refuse_config_target(&self, name: &str) -> Result<(), ApiError> {
        if self
            .inner
            .config
            .config
            .config
            .monitoring
            .targets
            .contains_key(name)
        {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "target {name} is defined in the config file ([monitoring.targets.{name}]): change or remove it there"
                ),
            ));
        }
        Ok(())
    }

    /// Turns the window's or the CLI's input into a target, encrypting a typed password.
    fn target_from_input(
        &self,
        input: &TargetInput,
        stored: Option<&Target>,
    ) -> Result<Target, ApiError> {
        let kind = TargetKind::parse(&input.kind).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!(
                    "kind {:?}: use host, postgres, redis, prometheus or prometheus-server",
                    qcat_core::text::bounded(&input.kind, 40)
                ),
            )
        })?;
        let environment = match &input.environment {
            None => stored.map_or(Environment::Development, |t| t.environment),
            Some(text) => Environment::parse(text).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "environment {:?}: use development, staging or production",
                        qcat_core::text::bounded(text, 40)
                    ),
                )
            })?,
        };
        let interval = Duration::from_millis(input.interval_ms.max(0) as u64);
        let timeout = input
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.max(0) as u64))
            .unwrap_or_else(|| targets::default_timeout(interval));
        let password = match &input.password {
            None => stored.map(|t| t.password.clone()).unwrap_or_default(),
            Some(text) => {
                let text = text.0.expose();
                if text.is_empty() || text.starts_with("secret:") {
                    text.to_owned()
                } else if text.starts_with("ENC:") {
                    return Err(ApiError::new(
                        ErrorCode::InvalidInput,
                        "password: type the password itself (it is encrypted for this target), or give secret:NAME",
                    ));
                } else {
                    let keys = self.inner.keys.as_ref().map_err(|err| {
                        ApiError::new(
                            err.code,
                            format!(
                                "password: it cannot be encrypted without the master key ({})",
                                err.message
                            ),
                        )
                    })?;
                    keys.current()
                        .encrypt(&targets::password_key(&input.name), text)
                }
            }
        };
        Ok(Target {
            name: input.name.trim().to_owned(),
            kind,
            url: if kind == TargetKind::Host && input.url.is_empty() {
                "local".to_owned()
            } else {
                input.url.trim().to_owned()
            },
            password,
            environment,
            interval,
            timeout,
            queries: input.queries.clone(),
            version: stored.map_or(0, |t| t.version),
        })
    }

    /// Adds or changes a target (audited with its before and after, the password never
    /// shown); refused when the window's version is stale.
    pub async fn monitor_target_save(
        &self,
        slot: &SessionSlot,
        input: TargetInput,
    ) -> Result<TargetView, ApiError> {
        let proof = self.guard(slot, "monitor_target_save").await?;
        let store = self.store()?;
        let audit_target = format!("target:{}", qcat_core::text::bounded(&input.name, 80));
        let result = async {
            self.refuse_config_target(input.name.trim())?;
            let stored = target_store::get(store, input.name.trim())
                .await
                .map_err(|err| ApiError::store_failure(&err))?;
            let target = self.target_from_input(&input, stored.as_ref())?;
            let event = proof.event("monitor.target.save", audit_target.clone(), Outcome::Ok);
            target_store::save(store, &target, input.seen_version, event)
                .await
                .map_err(target_error)
        }
        .await;
        match result {
            Ok(saved) => Ok(view(&saved, "store", None)),
            Err(err) => {
                let event = proof
                    .event("monitor.target.save", audit_target, Outcome::Failed)
                    .detail(err.message.clone());
                self.access()?.audit().record(event).await?;
                Err(err)
            }
        }
    }

    /// Removes a target (audited); its stored series stay until their retention ends.
    pub async fn monitor_target_remove(
        &self,
        slot: &SessionSlot,
        input: TargetNameInput,
    ) -> Result<(), ApiError> {
        let proof = self.guard(slot, "monitor_target_remove").await?;
        let audit_target = format!("target:{}", qcat_core::text::bounded(&input.name, 80));
        let event = proof.event("monitor.target.remove", audit_target.clone(), Outcome::Ok);
        let removed = match self.refuse_config_target(&input.name) {
            Ok(()) => target_store::remove(self.store()?, &input.name, event)
                .await
                .map_err(target_error),
            Err(err) => Err(err),
        };
        match removed {
            Ok(()) => Ok(()),
            Err(err) => {
                let event = proof
                    .event("monitor.target.remove", audit_target, Outcome::Failed)
                    .detail(err.message.clone());
                self.access()?.audit().record(event).await?;
                Err(err)
            }
        }
    }

    /// Tests a connection step by step (resolve, connect, sign in and read once), for a
    /// target being edited (its typed password, or the stored one when none is typed).
    pub async fn monitor_target_test(
        &self,
        slot: &SessionSlot,
        input: TargetInput,
    ) -> Result<CheckView, ApiError> {
        self.guard(slot, "monitor_target_test").await?;
        let stored = target_store::get(self.store()?, input.name.trim())
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        let mut target = self.target_from_input(&input, stored.as_ref())?;
        let problems = target.problems();
        if !problems.is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidInput, problems.join("; ")));
        }
        if target.password.is_empty()
            && let Some(stored) = &stored
        {
            target.password = stored.password.clone();
        }
        let password = self.target_password(&target)?;
        Ok(check(&target, password).await)
    }

    /// Tests a stored target by name (`qcatctl target test NAME`).
    pub async fn monitor_target_test_stored(
        &self,
        slot: &SessionSlot,
        name: &str,
    ) -> Result<CheckView, ApiError> {
        self.guard(slot, "monitor_target_test").await?;
        let target = self
            .all_targets()
            .await
            .map_err(|err| ApiError::store_failure(&err))?
            .into_iter()
            .map(|(target, _)| target)
            .find(|target| target.name == name)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!(
                        "no target named {:?}; `qcatctl target list` shows them",
                        qcat_core::text::bounded(name, 80)
                    ),
                )
            })?;
        let password = self.target_password(&target)?;
        Ok(check(&target, password).await)
    }

    /// The plaintext password of a target, from its `ENC:` value or named secret.
    pub(crate) fn target_password(
        &self,
        target: &Target,
    ) -> Result<Option<Secret<String>>, ApiError> {
        if target.password.is_empty() {
            return Ok(None);
        }
        let setting = qcat_core::config::SecretSetting::from_raw(target.password.clone());
        crate::secrets::resolve(
            self.inner.keys.as_ref(),
            &targets::password_key(&target.name),
            &setting,
        )
        .map(Some)
    }

    /// Series over a range, at most `max_points` each, from the best tier.
    pub async fn monitor_query(
        &self,
        slot: &SessionSlot,
        input: QueryInput,
    ) -> Result<Vec<SeriesView>, ApiError> {
        self.guard(slot, "monitor_query").await?;
        self.query_unguarded(&input).await
    }

    pub(crate) async fn query_unguarded(
        &self,
        input: &QueryInput,
    ) -> Result<Vec<SeriesView>, ApiError> {
        let selector = Selector::parse(&input.series).map_err(|message| {
            ApiError::new(ErrorCode::InvalidInput, format!("series: {message}"))
        })?;
        let function = match input.function.as_deref().unwrap_or("value") {
            "value" | "" => Function::Value,
            "rate" => Function::Rate,
            text => match text.parse::<f64>() {
                Ok(q) if (0.0..=1.0).contains(&q) => Function::Quantile(q),
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::InvalidInput,
                        format!(
                            "function {:?}: use value, rate, or a quantile between 0 and 1 such as 0.99",
                            qcat_core::text::bounded(text, 40)
                        ),
                    ));
                }
            },
        };
        if input.to_ms <= input.from_ms {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                "the range ends before it starts: fromMs must be before toMs",
            ));
        }
        let metrics = self.metrics().await?;
        let request = QueryRequest {
            selector,
            from_ms: input.from_ms,
            to_ms: input.to_ms,
            max_points: input.max_points.clamp(2, 100_000) as usize,
            function,
            now_ms: qcat_core::time::now_ms(),
        };
        let found = metrics.query(&request).await.map_err(metric_error)?;
        Ok(found
            .into_iter()
            .map(|series| SeriesView {
                key: series.key.canonical(),
                name: series.key.name.clone(),
                labels: series.key.labels.clone(),
                tier: series.tier.name().to_owned(),
                step_ms: series.step_ms,
                t: series.points.iter().map(|p| p.t).collect(),
                avg: series.points.iter().map(|p| p.avg).collect(),
                min: series.points.iter().map(|p| p.min).collect(),
                max: series.points.iter().map(|p| p.max).collect(),
                last: series.points.iter().map(|p| p.last).collect(),
            })
            .collect())
    }

    /// Every target's health and the newest headline values.
    pub async fn monitor_overview(&self, slot: &SessionSlot) -> Result<OverviewView, ApiError> {
        self.guard(slot, "monitor_overview").await?;
        let targets = self.targets_with_health().await?;
        let now = qcat_core::time::now_ms();
        let mut latest = Vec::new();
        for series in HEADLINE_SERIES {
            let found = self
                .query_unguarded(&QueryInput {
                    series: series.to_owned(),
                    from_ms: now - 600_000,
                    to_ms: now + 1000,
                    max_points: 600,
                    function: None,
                })
                .await?;
            for one in found {
                if let (Some(t), Some(value)) = (one.t.last(), one.last.last()) {
                    latest.push(LatestValue {
                        target: one.labels.get("target").cloned().unwrap_or_default(),
                        series: series.to_owned(),
                        t: *t,
                        value: *value,
                    });
                }
            }
        }
        Ok(OverviewView {
            targets,
            latest,
            collecting_here: self.current_term(COLLECTION_DUTY).is_some(),
        })
    }

    /// The detail a target's last reading carried (PostgreSQL's top statements), when this
    /// process collects it.
    pub fn monitor_detail(&self, target: &str) -> Option<serde_json::Value> {
        let live = self
            .monitor()
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        live.get(target).and_then(|live| live.detail.clone())
    }

    /// "Monitor this machine" or "start the demo" from an empty dashboard (audited as a
    /// target save).
    pub async fn monitor_quick_start(
        &self,
        slot: &SessionSlot,
        input: QuickStartInput,
    ) -> Result<TargetView, ApiError> {
        self.guard(slot, "monitor_quick_start").await?;
        let target = match input.what.as_str() {
            "host" => TargetInput {
                name: HOST_TARGET.into(),
                kind: "host".into(),
                url: "local".into(),
                password: None,
                environment: Some("development".into()),
                interval_ms: 5_000,
                timeout_ms: None,
                queries: BTreeMap::new(),
                seen_version: None,
            },
            "demo" => {
                let port = self.start_demo(None).await?;
                self.backfill_demo().await;
                TargetInput {
                    name: DEMO_TARGET.into(),
                    kind: "prometheus".into(),
                    url: format!("http://127.0.0.1:{port}/metrics"),
                    password: None,
                    environment: Some("development".into()),
                    interval_ms: 2_000,
                    timeout_ms: None,
                    queries: BTreeMap::new(),
                    seen_version: None,
                }
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "what {:?}: use host or demo",
                        qcat_core::text::bounded(other, 40)
                    ),
                ));
            }
        };
        // Saved (and audited) as any target is; its permission is the same monitor:edit.
        self.monitor_target_save(slot, target).await
    }

    /// Gives a new demo the week of history its baselines need to speak at once: eight
    /// days of the application's derived series at one reading a minute, from the same
    /// simulator (fewer requests drawn per reading, each counted for many). Skipped when
    /// the demo already has samples.
    async fn backfill_demo(&self) {
        const DAYS: i64 = 8;
        let Ok(metrics) = self.metrics().await else {
            return;
        };
        let probe = Selector::name(qcat_monitor::collect::AppSeries::REQUEST_RATE)
            .equal("target", DEMO_TARGET);
        if metrics
            .series(&probe)
            .await
            .is_ok_and(|found| !found.is_empty())
        {
            return;
        }
        let until = qcat_core::time::now_ms().div_euclid(60_000) * 60_000;
        let from = until - DAYS * 86_400_000;
        let started = Instant::now();
        let history = tokio::task::spawn_blocking(move || {
            let mut simulator = qcat_monitor::simulate::Simulator::new(1, 1.0, from - 60_000);
            simulator.max_draws = 300.0;
            qcat_monitor::simulate::history(
                &mut simulator,
                DEMO_TARGET,
                from,
                until,
                60_000,
                |_, _| {},
            )
        })
        .await;
        let Ok(history) = history else { return };
        let points: usize = history.iter().map(|(_, p)| p.len()).sum();
        match self.write_history(history).await {
            Ok(()) => tracing::info!(
                points,
                seconds = started.elapsed().as_secs_f64(),
                "the demo's history was backfilled ({DAYS} days)"
            ),
            Err(err) => {
                tracing::warn!(error = %err.message, "the demo's history was not backfilled")
            }
        }
    }

    /// Runs the simulated trading application inside this process as the task
    /// `demo-simulator`, on `port` (or the demo's preferred port, else the next free one).
    async fn start_demo(&self, port: Option<u16>) -> Result<u16, ApiError> {
        if let Some(port) = *self
            .monitor()
            .demo_port
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            return Ok(port);
        }
        let candidates: Vec<u16> = match port {
            Some(port) => vec![port],
            None => (DEMO_PORT..DEMO_PORT + 10).chain([0]).collect(),
        };
        let mut listener = None;
        for candidate in candidates {
            if let Ok(bound) = std::net::TcpListener::bind(("127.0.0.1", candidate)) {
                listener = Some(bound);
                break;
            }
        }
        let listener = listener.ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                "no loopback port is free for the demo application",
            )
        })?;
        let port = listener
            .local_addr()
            .map_err(|err| ApiError::internal_in("start_demo", &err))?
            .port();
        drop(listener);
        self.runtime().tasks.spawn(
            "demo-simulator",
            Stage::Intake,
            Restart::OnFailure,
            move |context| async move {
                let (bound, _) = tokio::sync::oneshot::channel();
                let stop = context.cancel().clone();
                crate::simulate::run_simulator(
                    crate::simulate::SimulatorOptions {
                        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                        seed: 1,
                        time_scale: 1.0,
                        peak_rate: 200.0,
                        latency_factor: 1.0,
                    },
                    bound,
                    async move { stop.cancelled().await },
                )
                .await
                .map_err(|err| err.message)
            },
        );
        *self
            .monitor()
            .demo_port
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(port);
        Ok(port)
    }

    /// A console that ran the demo before runs it again on the port its target names.
    async fn resume_demo(&self) {
        let Ok(store) = self.store() else { return };
        let Ok(Some(target)) = target_store::get(store, DEMO_TARGET).await else {
            return;
        };
        let port = url::Url::parse(&target.url)
            .ok()
            .filter(|url| url.host_str() == Some("127.0.0.1"))
            .and_then(|url| url.port());
        if let Some(port) = port
            && let Err(err) = self.start_demo(Some(port)).await
        {
            tracing::warn!(error = %err.message, "the demo application could not start again");
        }
    }

    // ---- the collection duty ----

    /// Starts the collection duty and the flush task (long-running modes).
    pub(crate) fn start_monitoring(&self) {
        if self.mode() == qcat_runtime::Mode::Console {
            let weak = self.downgrade();
            self.runtime()
                .tasks
                .spawn("demo-resume", Stage::Intake, Restart::Never, move |_| {
                    let weak = weak.clone();
                    async move {
                        if let Some(api) = weak.upgrade() {
                            api.resume_demo().await;
                        }
                        Ok(())
                    }
                });
        }
        self.hold_duty(COLLECTION_DUTY);
        self.spawn_with_api("collection", Stage::Intake, |api, context| async move {
            api.run_collection(&context).await
        });
        self.spawn_with_api("metrics-flush", Stage::Work, |api, context| async move {
            api.run_flush(&context).await
        });
        self.hold_duty(BASELINE_DUTY);
        self.spawn_with_api("baselines", Stage::Work, |api, context| async move {
            api.run_baselines(&context).await
        });
    }

    async fn run_collection(&self, context: &TaskContext) -> Result<(), String> {
        self.store().map_err(|err| err.message.clone())?;
        let mut running: HashMap<String, (i64, TaskHandle)> = HashMap::new();
        while self.lead(COLLECTION_DUTY, context).await.is_some() {
            tracing::info!("collecting from the monitoring targets");
            while self.current_term(COLLECTION_DUTY).is_some() {
                match self.all_targets().await {
                    Ok(list) => {
                        let list: Vec<Target> =
                            list.into_iter().map(|(target, _)| target).collect();
                        self.reconcile(&list, &mut running);
                    }
                    Err(err) => tracing::warn!(error = %err, "monitoring targets not read"),
                }
                if !context.sleep(TARGETS_EVERY).await {
                    break;
                }
            }
            for (_, (_, handle)) in running.drain() {
                handle.stop();
            }
        }
        for (_, (_, handle)) in running.drain() {
            handle.stop();
        }
        Ok(())
    }

    /// Starts a collector for each new or changed target and stops those of removed ones.
    fn reconcile(&self, list: &[Target], running: &mut HashMap<String, (i64, TaskHandle)>) {
        running.retain(|name, (version, handle)| {
            let keep = list
                .iter()
                .any(|t| &t.name == name && t.version == *version);
            if !keep {
                handle.stop();
                self.monitor()
                    .live
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(name);
            }
            keep
        });
        for target in list {
            if running.contains_key(&target.name) {
                continue;
            }
            let weak = self.downgrade();
            let shared = Arc::new(target.clone());
            let handle = self.runtime().tasks.spawn(
                format!("collect:{}", target.name),
                Stage::Intake,
                Restart::OnFailure,
                move |context| {
                    let (weak, target) = (weak.clone(), shared.clone());
                    async move {
                        let Some(api) = weak.upgrade() else {
                            return Ok(());
                        };
                        api.collect_target(&target, &context).await;
                        Ok(())
                    }
                },
            );
            running.insert(target.name.clone(), (target.version, handle));
        }
    }

    /// One target's loop: a reading at each aligned tick (timestamps on the interval's
    /// grid, which the chunk encoding stores in one bit), bounded by the target's timeout.
    async fn collect_target(&self, target: &Target, context: &TaskContext) {
        let interval = target.interval.as_millis().max(1) as i64;
        let built = self
            .target_password(target)
            .map_err(|err| collect::CollectError::new(collect::FailureKind::Config, err.message))
            .and_then(|password| Collector::build(target, password));
        let mut collector = match built {
            Ok(collector) => Some(collector),
            Err(err) => {
                self.ingest(target, qcat_core::time::now_ms(), Duration::ZERO, Err(err))
                    .await;
                None
            }
        };
        loop {
            let now = qcat_core::time::now_ms();
            let tick = (now.div_euclid(interval) + 1) * interval;
            if !context
                .sleep(Duration::from_millis((tick - now).max(0) as u64))
                .await
            {
                return;
            }
            if self.current_term(COLLECTION_DUTY).is_none() {
                return;
            }
            let Some(collector) = collector.as_mut() else {
                // A target that cannot be built (a missing secret) stays red until changed.
                continue;
            };
            let started = Instant::now();
            let result = collector.collect(tick, target.timeout).await;
            self.ingest(target, tick, started.elapsed(), result).await;
        }
    }

    async fn ingest(
        &self,
        target: &Target,
        at_ms: i64,
        took: Duration,
        result: Result<Reading, collect::CollectError>,
    ) {
        let metrics = match self.metrics().await {
            Ok(metrics) => metrics,
            Err(err) => {
                tracing::warn!(error = %err.message, "the metric store is not available; readings are dropped");
                return;
            }
        };
        let name = &target.name;
        let (mut reading, error) = match result {
            Ok(reading) => (reading, None),
            Err(err) => (Reading::new(), Some(err)),
        };
        let series_count = reading.samples.len();
        reading.push(
            SeriesKey::new("up"),
            at_ms,
            if error.is_some() { 0.0 } else { 1.0 },
        );
        reading.push(
            SeriesKey::new("scrape_duration_seconds"),
            at_ms,
            took.as_secs_f64(),
        );
        reading.push(
            SeriesKey::new("scrape_samples_scraped"),
            at_ms,
            series_count as f64,
        );
        collect::label_with_target(&mut reading, name);
        metrics.append(reading.samples.iter().map(|(key, t, v)| (key, *t, *v)));

        let now = qcat_core::time::now_ms();
        let (write, health) = {
            let mut live = self
                .monitor()
                .live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = live.entry(name.clone()).or_insert_with(|| LiveTarget {
                health: Health {
                    name: name.clone(),
                    up: error.is_none(),
                    since_ms: now,
                    error_kind: None,
                    error: None,
                    checked_ms: 0,
                    duration_ms: 0,
                    samples: 0,
                    detail: None,
                },
                written_ms: 0,
                scrapes: 0,
                errors: 0,
                detail: None,
            });
            let error_kind = error.as_ref().map(|err| err.kind.as_str().to_owned());
            let message = error.as_ref().map(|err| err.message.clone());
            let changed = entry.health.up != error.is_none()
                || entry.health.error_kind != error_kind
                || entry.written_ms == 0;
            if changed && entry.written_ms != 0 {
                entry.health.since_ms = now;
                if let Some(err) = &error {
                    tracing::warn!(target = %name, kind = err.kind.as_str(), error = %err.message, "monitoring target down");
                } else {
                    tracing::info!(target = %name, "monitoring target up again");
                }
            }
            entry.health.up = error.is_none();
            entry.health.error_kind = error_kind;
            entry.health.error = message;
            entry.health.checked_ms = now;
            entry.health.duration_ms = took.as_millis() as i64;
            entry.health.samples = series_count as i64;
            entry.scrapes += 1;
            if error.is_some() {
                entry.errors += 1;
            }
            if reading.detail.is_some() {
                entry.detail = reading.detail.take();
                entry.health.detail = entry.detail.as_ref().map(ToString::to_string);
            }
            let write = changed || now - entry.written_ms >= HEALTH_EVERY_MS;
            if write {
                entry.written_ms = now;
            }
            (write.then_some(changed), entry.health.clone())
        };
        if let Some(changed) = write
            && let Ok(store) = self.store()
            && let Err(err) = target_store::record_health(store, &health, changed).await
        {
            tracing::warn!(target = %name, error = %err, "target health not written");
        }
        self.runtime().events.publish(LiveEvent::MonitorSamples {
            target: name.clone(),
            at_ms,
        });
        // Rules see a breach in the reading that carries it, not an evaluation later.
        self.inner.alert.samples.notify_one();
    }

    /// Writes the head every flush interval and once more when stopping; applies retention
    /// every ten minutes.
    async fn run_flush(&self, context: &TaskContext) -> Result<(), String> {
        let metrics = self.metrics().await.map_err(|err| err.message)?;
        let every = metrics.options().flush_interval;
        let mut last_retention = Instant::now() - Duration::from_secs(3600);
        loop {
            let go_on = context.sleep(every).await;
            let now = qcat_core::time::now_ms();
            if let Err(err) = metrics.flush(now).await {
                tracing::warn!(error = %err, "metric samples not written; kept for the next flush");
            }
            if last_retention.elapsed() >= Duration::from_secs(600) {
                last_retention = Instant::now();
                match metrics.enforce_retention(now).await {
                    Ok(removed) if removed > 0 => {
                        tracing::info!(removed, "expired metric chunks removed")
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "metric retention not applied"),
                }
            }
            if let Ok(bytes) = metrics.size_bytes().await {
                self.monitor()
                    .store_bytes
                    .store(bytes, std::sync::atomic::Ordering::Relaxed);
            }
            if !go_on {
                return Ok(());
            }
        }
    }

    /// Collection's own numbers for the agent's `/metrics`: per target its scrapes, errors
    /// and last duration; samples ingested; the store's size.
    pub(crate) fn collection_stats(&self) -> CollectionStats {
        let live = self
            .monitor()
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (ingested, out_of_order) = self
            .monitor()
            .metrics
            .get()
            .and_then(|opened| opened.as_ref().ok())
            .map(|metrics| metrics.ingested())
            .unwrap_or((0, 0));
        CollectionStats {
            targets: live
                .iter()
                .map(|(name, target)| TargetStats {
                    name: name.clone(),
                    up: target.health.up,
                    scrapes: target.scrapes,
                    errors: target.errors,
                    last_duration_secs: target.health.duration_ms as f64 / 1000.0,
                })
                .collect(),
            ingested,
            out_of_order,
            store_bytes: self
                .monitor()
                .store_bytes
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

pub(crate) struct CollectionStats {
    pub targets: Vec<TargetStats>,
    pub ingested: u64,
    pub out_of_order: u64,
    pub store_bytes: u64,
}

pub(crate) struct TargetStats {
    pub name: String,
    pub up: bool,
    pub scrapes: u64,
    pub errors: u64,
    pub last_duration_secs: f64,
}

// ---- scraping without a store (`qcatctl monitor scrape`) ----

pub use qcat_monitor::exposition::quantile::{Histogram, histograms};

/// Milliseconds since the epoch, the metric store's time unit.
pub fn now_ms() -> i64 {
    qcat_core::time::now_ms()
}

/// Reads one scrape from an http(s) URL, a file, or standard input (`-`), and returns it in
/// the `--json` shape: families with every sample, and each histogram's quantiles.
pub async fn scrape(source: &str, quantiles: &[f64]) -> Result<serde_json::Value, ApiError> {
    let families = scrape_families(source).await?;
    Ok(qcat_monitor::exposition::scrape_json(&families, quantiles))
}

pub async fn scrape_families(
    source: &str,
) -> Result<Vec<qcat_monitor::exposition::Family>, ApiError> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        let client = collect::http_client(Duration::from_secs(10))
            .map_err(|err| ApiError::new(ErrorCode::InvalidInput, err.message))?;
        collect::fetch_text(&client, source, None)
            .await
            .map_err(|err| ApiError::new(ErrorCode::StorageUnavailable, err.message))?
    } else if source == "-" {
        let mut text = String::new();
        tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            std::io::stdin().read_to_string(&mut text).map(|_| text)
        })
        .await
        .map_err(|err| ApiError::internal_in("scrape", &err))?
        .map_err(|err| ApiError::new(ErrorCode::InvalidInput, format!("standard input: {err}")))?
    } else {
        tokio::fs::read_to_string(source).await.map_err(|err| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("{source}: {err} (give an http(s) URL, a file, or - for standard input)"),
            )
        })?
    };
    qcat_monitor::exposition::parse(&text)
        .map_err(|err| ApiError::new(ErrorCode::InvalidInput, format!("{source}: {err}")))
}
