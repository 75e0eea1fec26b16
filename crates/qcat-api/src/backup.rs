//! Backups through the API: the repository (`backup.repository`, default `backups/` in the
//! data dir), recovery points of the configured sources (the monitoring targets named in
//! `backup.sources`), verify, restore with its preview and typed confirmation, expiry.
//! Every action is audited; backup, verify and restore are jobs with progress and cancel.

use std::path::PathBuf;
use std::sync::Arc;

use qcat_audit::event::Outcome;
use qcat_backup::expire::{ExpireReport, Retention};
use qcat_backup::repo::manifest::Manifest;
use qcat_backup::sources::files;
use qcat_backup::sources::postgres::{self, Placement, PostgresConnection};
use qcat_backup::sources::redis::{self as redis_source, RedisConnection};
use qcat_backup::verify::VerifyReport;
use qcat_backup::{BackupError, BackupType, BackupWriter, Repository};
use qcat_core::ErrorCode;
use qcat_monitor::targets::TargetKind;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::access::SessionSlot;
use crate::jobs::JobStarted;
use crate::{Api, ApiError};

mod policy;
pub use policy::{BackupPolicyInput, BackupPolicyView, LockedSetting, PolicySchedule};

impl From<BackupError> for ApiError {
    fn from(err: BackupError) -> Self {
        ApiError::new(err.code(), err.to_string())
    }
}

/// One source of a backup, as listed.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupSourceView {
    pub name: String,
    pub kind: String,
    pub environment: String,
    pub location: String,
    pub database: String,
    pub server_version: String,
    #[ts(type = "number")]
    pub bytes: u64,
    #[ts(type = "number")]
    pub tables: u64,
    #[ts(type = "number")]
    pub rows: u64,
}

/// A published backup (a recovery point of one or more sources).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupView {
    pub id: String,
    pub label: String,
    /// `full`, `diff` or `incr`.
    pub kind: String,
    pub parent: Option<String>,
    pub full: String,
    #[ts(type = "number")]
    pub started_ms: i64,
    #[ts(type = "number")]
    pub finished_ms: i64,
    pub sources: Vec<BackupSourceView>,
    #[ts(type = "number")]
    pub logical_bytes: u64,
    #[ts(type = "number")]
    pub stored_bytes: u64,
    /// Logical bytes per stored byte of this backup (deduplication and compression).
    pub dedup_ratio: f64,
    /// Only from `backup_show`: the chain, tables, packs and their verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub detail: Option<BackupDetailView>,
}

/// What one backup needs and how recently that was verified.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupDetailView {
    /// From its full to itself: every backup a restore of it reads.
    pub chain: Vec<String>,
    /// Backups that build on it (they expire with it, if it is a full).
    pub dependents: Vec<String>,
    pub host: String,
    pub console_version: String,
    #[ts(type = "number")]
    pub chunks: u64,
    #[ts(type = "number")]
    pub new_chunks: u64,
    /// Packs holding its chunks, and how many of them no clean verification has read yet.
    #[ts(type = "number")]
    pub packs: u64,
    #[ts(type = "number")]
    pub unverified_packs: u64,
    /// The oldest last clean verification among its packs, when every one has one.
    #[ts(type = "number | null")]
    pub verified_ms: Option<i64>,
    pub tables: Vec<TableView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TableView {
    pub source: String,
    pub schema: String,
    pub name: String,
    #[ts(type = "number")]
    pub rows: u64,
}

impl From<&Manifest> for BackupView {
    fn from(manifest: &Manifest) -> Self {
        BackupView {
            id: manifest.id.clone(),
            label: manifest.label.clone(),
            kind: manifest.kind.as_str().to_owned(),
            parent: manifest.parent.clone(),
            full: manifest.full.clone(),
            started_ms: manifest.started_ms,
            finished_ms: manifest.finished_ms,
            sources: manifest
                .sources
                .iter()
                .map(|source| BackupSourceView {
                    name: source.name.clone(),
                    kind: source.kind.clone(),
                    environment: source.environment.clone(),
                    location: source.location.clone(),
                    database: source.database.clone(),
                    server_version: source.server_version.clone(),
                    bytes: source.streams.iter().map(|s| s.size).sum(),
                    tables: source.tables.len() as u64,
                    rows: source.tables.iter().map(|t| t.rows).sum(),
                })
                .collect(),
            logical_bytes: manifest.stats.logical_bytes,
            stored_bytes: manifest.stats.stored_bytes,
            dedup_ratio: if manifest.stats.stored_bytes == 0 {
                0.0
            } else {
                manifest.stats.logical_bytes as f64 / manifest.stats.stored_bytes as f64
            },
            detail: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupRunInput {
    /// `full`, `diff` or `incr`.
    pub kind: String,
    /// Sources by target name; empty: every source in `backup.sources`.
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default)]
    pub label: Option<String>,
}

/// The series [`Api::backup_trends`] returns.
const TREND_SERIES: &[&str] = &[
    "backup_duration_seconds",
    "backup_logical_bytes",
    "backup_stored_bytes",
    "backup_succeeded",
    "restore_duration_seconds",
    "backup_drill_duration_seconds",
    "backup_drill_rto_seconds",
    "backup_drill_passed",
    "backup_verify_coverage_ratio",
];

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupTrendsInput {
    #[ts(type = "number")]
    pub from_ms: i64,
    #[ts(type = "number")]
    pub to_ms: i64,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupIdInput {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupVerifyInput {
    /// Backups to verify; empty: all.
    #[serde(default)]
    pub ids: Vec<String>,
    /// Rolling verification instead: whole packs, least recently verified first, for about
    /// this long; the result carries the coverage of the last 7 days.
    #[serde(default)]
    #[ts(type = "number | null")]
    pub rolling_budget_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupRestoreInput {
    pub id: String,
    /// The source of the backup to restore.
    pub source: String,
    /// A target name (its own database: the original, overwritten) or a `postgres://` URL
    /// (a new database when it does not exist, else overwritten).
    pub destination: String,
    /// The database name, typed: needed to overwrite a database and for production.
    #[serde(default)]
    pub confirm: Option<String>,
    /// pg_restore's parallel jobs (default: the machine's cores, at most 8).
    #[serde(default)]
    pub jobs: Option<u32>,
}

/// What a restore will do, shown before it runs.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlanView {
    pub id: String,
    pub source: String,
    /// Where, without credentials.
    pub location: String,
    pub database: String,
    /// `create` (a new database) or `overwrite` (objects the backup holds are replaced,
    /// after a safety backup of the database).
    pub action: String,
    pub environment: String,
    /// The typed confirmation the restore needs (the database name), if any.
    pub confirmation: Option<String>,
    /// Scratch space the reassembled archive takes.
    #[ts(type = "number")]
    pub bytes_needed: u64,
    #[ts(type = "number")]
    pub tables: u64,
    #[ts(type = "number")]
    pub rows: u64,
    /// The mark an earlier restore that never finished left on the database: it holds a
    /// partial restore.
    pub half_restored: Option<String>,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct BackupExpireInput {
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ExpireView {
    pub dry_run: bool,
    pub expired: Vec<String>,
    pub kept: Vec<String>,
    #[ts(type = "number")]
    pub packs_removed: u64,
    #[ts(type = "number")]
    pub bytes_freed: u64,
}

impl From<ExpireReport> for ExpireView {
    fn from(report: ExpireReport) -> Self {
        ExpireView {
            dry_run: report.dry_run,
            expired: report.expired,
            kept: report.kept,
            packs_removed: report.garbage.packs,
            bytes_freed: report.garbage.bytes,
        }
    }
}

/// Where a source is read or a restore written.
#[derive(Clone)]
enum Connection {
    Postgres(PostgresConnection),
    Redis(RedisConnection),
    /// The folders of the `files` source, or the folder a restore writes into.
    Files(Vec<PathBuf>),
}

impl Connection {
    fn display(&self) -> String {
        match self {
            Connection::Postgres(pg) => pg.display(),
            Connection::Redis(redis) => redis.display(),
            Connection::Files(folders) => folders
                .iter()
                .map(|folder| folder.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// The source name that means the console's configuration folder and `backup.folders`.
pub const FILES_SOURCE: &str = "files";

/// What /metrics says about backups: the repository's summary (recomputed when the set of
/// backups changes) and this process's runs.
#[derive(Default)]
pub(crate) struct BackupState {
    summary: std::sync::Mutex<Option<(Vec<String>, BackupSummary)>>,
    pub(crate) runs: RunCounts,
    /// The backup settings as saved from the window since start-up (sources, retention,
    /// schedules, budgets); None: as loaded. They apply at once: the scheduler re-plans
    /// when `policy_generation` moves.
    pub(crate) policy: std::sync::RwLock<Option<qcat_core::config::BackupConfig>>,
    pub(crate) policy_generation: std::sync::atomic::AtomicU64,
    /// One policy save at a time: each compares against what the one before it saved, so
    /// two windows saving at once change only the keys each changed.
    pub(crate) policy_save: tokio::sync::Mutex<()>,
}

#[derive(Default)]
pub(crate) struct RunCounts {
    pub(crate) backups_ok: std::sync::atomic::AtomicU64,
    pub(crate) backups_failed: std::sync::atomic::AtomicU64,
    pub(crate) restores_ok: std::sync::atomic::AtomicU64,
    pub(crate) restores_failed: std::sync::atomic::AtomicU64,
    /// The last restore's duration in milliseconds (0: none yet).
    pub(crate) last_restore_ms: std::sync::atomic::AtomicU64,
    /// The last drill's duration (ms) and outcome (0: none yet, 1: failed or over the RTO,
    /// 2: passed within it).
    pub(crate) last_drill_ms: std::sync::atomic::AtomicU64,
    pub(crate) last_drill_ok: std::sync::atomic::AtomicU64,
}

/// The repository at a glance, for /metrics.
#[derive(Debug, Clone, Default)]
pub(crate) struct BackupSummary {
    pub(crate) backups: u64,
    pub(crate) stored_bytes: u64,
    pub(crate) coverage: f64,
    /// Per source: the newest backup's finish time (ms).
    pub(crate) newest_by_source: Vec<(String, i64)>,
    /// Per type: the newest backup of it (duration s, logical bytes, stored bytes).
    pub(crate) newest_by_type: Vec<(String, f64, u64, u64)>,
}

/// Who a backup runs for: a signed-in user (their proof) or the scheduler.
pub(crate) enum Actor {
    User(qcat_access::control::Proof),
    Scheduler,
}

impl Actor {
    fn name(&self) -> &str {
        match self {
            Actor::User(proof) => proof.actor(),
            Actor::Scheduler => "scheduler",
        }
    }

    fn event(&self, action: &str, target: &str, outcome: Outcome) -> qcat_audit::AuditEvent {
        match self {
            Actor::User(proof) => proof.event(action, target, outcome),
            Actor::Scheduler => {
                qcat_audit::AuditEvent::new("scheduler", action, target, "scheduled", outcome)
            }
        }
    }
}

/// A source ready to back up: its profile and its connection.
struct ResolvedSource {
    name: String,
    environment: String,
    connection: Connection,
    /// What a files backup leaves out (the repository itself).
    exclude: Vec<PathBuf>,
}

impl ResolvedSource {
    /// Reads the source into `writer`. Blocking.
    fn back_up(
        &self,
        handle: &tokio::runtime::Handle,
        writer: &mut BackupWriter<'_>,
        name: &str,
        bin_dir: Option<&std::path::Path>,
        progress: &qcat_runtime::progress::Progress,
        cancel: &qcat_runtime::CancellationToken,
    ) -> Result<qcat_backup::repo::manifest::SourceRecord, BackupError> {
        let environment = self.environment.as_str();
        match &self.connection {
            Connection::Postgres(pg) => postgres::backup(
                handle,
                writer,
                name,
                environment,
                pg,
                bin_dir,
                progress,
                cancel,
            ),
            Connection::Redis(redis) => {
                redis_source::backup(writer, name, environment, redis, progress, cancel)
            }
            Connection::Files(folders) => files::backup(
                writer,
                name,
                environment,
                folders,
                &self.exclude,
                progress,
                cancel,
            ),
        }
    }
}

fn invalid(field: &str, why: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, format!("{field}: {}", why.into()))
}

/// A verify report with the coverage (and a rolling run's pack count) beside it.
fn with_extra(report: VerifyReport, extra: serde_json::Value) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    if let (Some(map), serde_json::Value::Object(more)) = (value.as_object_mut(), extra) {
        map.extend(more);
    }
    value
}

/// Runs blocking backup work on a blocking thread, with the runtime's handle for its SQL.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce(&tokio::runtime::Handle) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || work(&handle))
        .await
        .map_err(|err| ApiError::internal(&format!("backup worker: {err}")))?
}

impl Api {
    /// The repository's summary, recomputed only when backups were added or removed.
    /// None when there is no repository (or no key) yet.
    pub(crate) fn backup_summary(&self) -> Option<BackupSummary> {
        let path = self.backup_repository_path();
        if !path.join("repository.json").exists() {
            return None;
        }
        let keys = self.inner.keys.as_ref().ok()?;
        let repo = Repository::open(&path, keys.all()).ok()?;
        let ids = repo.backup_ids().ok()?;
        let mut cached = self.inner.backup.summary.lock().expect("never poisoned");
        if let Some((seen, summary)) = cached.as_ref()
            && *seen == ids
        {
            let mut summary = summary.clone();
            summary.coverage = qcat_backup::verify::coverage(&repo, 7).map_or(0.0, |c| c.share);
            return Some(summary);
        }
        let manifests = repo.backups().ok()?;
        let mut by_source: std::collections::BTreeMap<String, i64> = Default::default();
        let mut by_type: std::collections::BTreeMap<String, (f64, u64, u64)> = Default::default();
        for manifest in &manifests {
            for source in &manifest.sources {
                by_source.insert(source.name.clone(), manifest.finished_ms);
            }
            by_type.insert(
                manifest.kind.as_str().to_owned(),
                (
                    (manifest.finished_ms - manifest.started_ms) as f64 / 1000.0,
                    manifest.stats.logical_bytes,
                    manifest.stats.stored_bytes,
                ),
            );
        }
        let summary = BackupSummary {
            backups: manifests.len() as u64,
            stored_bytes: repo.stored_bytes().unwrap_or(0),
            coverage: qcat_backup::verify::coverage(&repo, 7).map_or(0.0, |c| c.share),
            newest_by_source: by_source.into_iter().collect(),
            newest_by_type: by_type
                .into_iter()
                .map(|(kind, (secs, logical, stored))| (kind, secs, logical, stored))
                .collect(),
        };
        *cached = Some((ids, summary.clone()));
        Some(summary)
    }

    /// Appends one point per series now: the backup history charts and alerts read them
    /// from the metric store like any other series. A metric store that cannot open only
    /// loses the points (the backup itself is in the repository).
    pub(crate) async fn record_points(&self, points: Vec<(qcat_monitor::tsdb::SeriesKey, f64)>) {
        if let Ok(metrics) = self.metrics().await {
            let at = qcat_core::time::now_ms();
            metrics.append(points.iter().map(|(key, value)| (key, at, *value)));
        }
    }

    /// The backup settings in force: as loaded, or as last saved by `backup_policy_save`.
    pub(crate) fn backup_settings(&self) -> qcat_core::config::BackupConfig {
        self.inner
            .backup
            .policy
            .read()
            .expect("never poisoned")
            .clone()
            .unwrap_or_else(|| self.inner.config.config.config.backup.clone())
    }

    /// The repository folder: `backup.repository`, or `backups/` in the data dir.
    pub fn backup_repository_path(&self) -> PathBuf {
        let settings = self.backup_settings();
        let configured = settings.repository.trim();
        if configured.is_empty() {
            self.inner.config.data_dir.path().join("backups")
        } else {
            PathBuf::from(configured)
        }
    }

    /// Opens the repository, creating it when its folder is missing or empty. A folder
    /// that held a repository this data dir used is never silently started anew.
    fn repository(&self) -> Result<Arc<Repository>, ApiError> {
        let keys = self.inner.keys.as_ref().map_err(Clone::clone)?;
        let path = self.backup_repository_path();
        let identity = self
            .inner
            .config
            .data_dir
            .path()
            .join("backup-repository.json");
        let known: Option<serde_json::Value> = std::fs::read(&identity)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let empty = std::fs::read_dir(&path).map_or(true, |mut entries| entries.next().is_none());
        let repo = if empty {
            if let Some(known) = known
                .as_ref()
                .filter(|k| k["path"] == path.display().to_string())
            {
                return Err(ApiError::new(
                    ErrorCode::StorageLost,
                    format!(
                        "the backup repository {} (id {}) that this console wrote to is gone; restore the folder from its copy, or move {} away to start a new repository on purpose",
                        path.display(),
                        known["id"].as_str().unwrap_or("?"),
                        identity.display()
                    ),
                ));
            }
            Repository::init(&path, keys.current())?
        } else {
            Repository::open(&path, keys.all())?
        };
        let record = serde_json::json!({ "path": path.display().to_string(), "id": repo.id() });
        if known.as_ref() != Some(&record) {
            qcat_core::atomic_file::write(&identity, record.to_string().as_bytes(), Some(0o600))
                .map_err(|err| ApiError::internal(&format!("{}: {err}", identity.display())))?;
        }
        Ok(Arc::new(repo))
    }

    async fn backup_source(&self, name: &str) -> Result<ResolvedSource, ApiError> {
        if name == FILES_SOURCE {
            return self.files_source();
        }
        let targets = self
            .all_targets()
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        let Some((target, _)) = targets.into_iter().find(|(t, _)| t.name == name) else {
            return Err(invalid(
                "sources",
                format!(
                    "no target {name:?}; add it with `qcatctl target add` (kind postgres or redis)"
                ),
            ));
        };
        let password = self.target_password(&target)?;
        let connection = match target.kind {
            TargetKind::Postgres => {
                Connection::Postgres(PostgresConnection::new(&target.url, password)?)
            }
            TargetKind::Redis => Connection::Redis(RedisConnection::new(&target.url, password)?),
            other => {
                return Err(invalid(
                    "sources",
                    format!(
                        "{name} is a {} target; backups read PostgreSQL and Redis targets",
                        other.as_str()
                    ),
                ));
            }
        };
        Ok(ResolvedSource {
            name: target.name.clone(),
            environment: target.environment.as_str().to_owned(),
            connection,
            exclude: Vec::new(),
        })
    }

    /// `files`: the folder of the console's config file (when there is one) and every
    /// folder in `backup.folders`.
    fn files_source(&self) -> Result<ResolvedSource, ApiError> {
        let config = &self.inner.config.config;
        let mut folders: Vec<PathBuf> = config
            .sources
            .user_file
            .as_ref()
            .and_then(|file| file.path.parent().map(PathBuf::from))
            .filter(|folder| folder.is_dir())
            .into_iter()
            .collect();
        folders.extend(config.config.backup.folders.iter().map(PathBuf::from));
        if folders.is_empty() {
            return Err(invalid(
                "sources",
                "the files source has no folder: there is no config file and backup.folders is empty; list folders in backup.folders",
            ));
        }
        Ok(ResolvedSource {
            name: FILES_SOURCE.into(),
            environment: format!("{:?}", config.config.app.environment).to_lowercase(),
            connection: Connection::Files(folders),
            exclude: vec![self.backup_repository_path()],
        })
    }

    /// The backup history as series: each backup's duration, bytes read and stored and
    /// outcome (by type), restore and drill durations against the RTO, verify coverage.
    pub async fn backup_trends(
        &self,
        slot: &SessionSlot,
        input: BackupTrendsInput,
    ) -> Result<Vec<crate::monitor::SeriesView>, ApiError> {
        self.guard(slot, "backup_trends").await?;
        let mut all = Vec::new();
        for name in TREND_SERIES {
            all.extend(
                self.query_unguarded(&crate::monitor::QueryInput {
                    series: (*name).to_owned(),
                    from_ms: input.from_ms,
                    to_ms: input.to_ms,
                    max_points: 1000,
                    function: None,
                })
                .await?,
            );
        }
        Ok(all)
    }

    /// Every published backup, newest first.
    pub async fn backup_list(&self, slot: &SessionSlot) -> Result<Vec<BackupView>, ApiError> {
        self.guard(slot, "backup_list").await?;
        let repo = self.repository()?;
        let manifests = blocking(move |_| Ok(repo.backups()?)).await?;
        Ok(manifests.iter().rev().map(BackupView::from).collect())
    }

    /// One backup's manifest (chunk lists left out).
    pub async fn backup_show(
        &self,
        slot: &SessionSlot,
        input: BackupIdInput,
    ) -> Result<BackupView, ApiError> {
        self.guard(slot, "backup_show").await?;
        let repo = self.repository()?;
        blocking(move |_| {
            let manifest = repo.manifest(&input.id)?;
            let all = repo.backups()?;
            let mut chain = vec![manifest.id.clone()];
            let mut parent = manifest.parent.clone();
            while let Some(id) = parent {
                chain.push(id.clone());
                parent = all
                    .iter()
                    .find(|m| m.id == id)
                    .and_then(|m| m.parent.clone());
            }
            chain.reverse();
            let dependents = all
                .iter()
                .filter(|m| {
                    m.id != manifest.id
                        && (m.parent.as_deref() == Some(&manifest.id)
                            || (manifest.kind == BackupType::Full && m.full == manifest.id))
                })
                .map(|m| m.id.clone())
                .collect();
            let packs: std::collections::BTreeSet<&str> = manifest
                .sources
                .iter()
                .flat_map(|source| &source.streams)
                .flat_map(|stream| &stream.chunks)
                .map(|chunk| chunk.pack.as_str())
                .collect();
            let state = qcat_backup::verify::VerifyState::load(&repo);
            let times: Vec<i64> = packs
                .iter()
                .filter_map(|pack| state.packs.get(*pack).copied())
                .collect();
            let unverified = (packs.len() - times.len()) as u64;
            let mut view = BackupView::from(&manifest);
            view.detail = Some(BackupDetailView {
                chain,
                dependents,
                host: manifest.host.clone(),
                console_version: manifest.console_version.clone(),
                chunks: manifest.stats.chunks,
                new_chunks: manifest.stats.new_chunks,
                packs: packs.len() as u64,
                unverified_packs: unverified,
                verified_ms: (unverified == 0)
                    .then(|| times.iter().copied().min())
                    .flatten(),
                tables: manifest
                    .sources
                    .iter()
                    .flat_map(|source| {
                        source.tables.iter().map(|table| TableView {
                            source: source.name.clone(),
                            schema: table.schema.clone(),
                            name: table.name.clone(),
                            rows: table.rows,
                        })
                    })
                    .collect(),
            });
            Ok(view)
        })
        .await
    }

    /// Takes a backup of the chosen (or configured) sources under one label: one recovery
    /// point. A diff or incr with no full to build on is taken as a full and says so.
    pub async fn backup_run(
        &self,
        slot: &SessionSlot,
        input: BackupRunInput,
    ) -> Result<JobStarted, ApiError> {
        let proof = self.guard(slot, "backup_run").await?;
        let prepared = async {
            let kind = BackupType::parse(&input.kind).ok_or_else(|| {
                invalid("kind", format!("{:?} is not a backup type; use full, diff or incr", input.kind))
            })?;
            let names = if input.sources.is_empty() {
                self.backup_settings().sources.clone()
            } else {
                input.sources.clone()
            };
            if names.is_empty() {
                return Err(invalid(
                    "sources",
                    "no source chosen and backup.sources is empty; name a PostgreSQL target (--source NAME) or list them in backup.sources",
                ));
            }
            let mut sources = Vec::new();
            for name in &names {
                sources.push(self.backup_source(name).await?);
            }
            Ok((kind, names, sources, self.repository()?))
        }
        .await;
        let (kind, names, sources, repo) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                return self
                    .refused_before_start(&proof, "backup.run", "backup:sources", err)
                    .await;
            }
        };
        let actor = proof.actor().to_owned();
        let label = input
            .label
            .clone()
            .unwrap_or_else(|| format!("{} by {actor}", kind.as_str()));
        self.start_backup_job(Actor::User(proof), kind, names, sources, repo, label)
            .await
    }

    /// The backup job the command and the schedules run: every source into one recovery
    /// point, audited by whoever asked, counted for /metrics. A scheduled run then applies
    /// retention, as pgBackRest expires after each backup.
    async fn start_backup_job(
        &self,
        who: Actor,
        kind: BackupType,
        names: Vec<String>,
        sources: Vec<ResolvedSource>,
        repo: Arc<Repository>,
        label: String,
    ) -> Result<JobStarted, ApiError> {
        let bin_dir = self.pg_bin_dir();
        let level = self.backup_settings().compression_level;
        let retention = self.retention();
        let actor = who.name().to_owned();
        self.start_job("backup.run", &actor, "bytes", move |api, job| async move {
            let audit_target = format!("backup:{}", names.join(","));
            let cancel = job.cancel.clone();
            let scheduled = matches!(who, Actor::Scheduler);
            let result = {
                let progress = job.progress.clone();
                let repo = Arc::clone(&repo);
                blocking(move |handle| {
                    let mut writer = BackupWriter::start(&repo, kind, &label)?.compression(level);
                    for source in &sources {
                        let taken = source.back_up(
                            handle,
                            &mut writer,
                            &source.name,
                            bin_dir.as_deref(),
                            &progress,
                            &cancel,
                        );
                        match taken {
                            Ok(record) => writer.add_source(record),
                            Err(err) => {
                                writer.abandon();
                                return Err(err.into());
                            }
                        }
                    }
                    let promoted = writer.chain().promoted;
                    Ok((writer.commit()?, promoted))
                })
                .await
            };
            let access = api.access()?;
            match result {
                Ok((manifest, promoted)) => {
                    api.inner
                        .backup
                        .runs
                        .backups_ok
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let series = |name: &str| {
                        qcat_monitor::tsdb::SeriesKey::new(name)
                            .with("type", manifest.kind.as_str())
                    };
                    api.record_points(vec![
                        (
                            series("backup_duration_seconds"),
                            (manifest.finished_ms - manifest.started_ms) as f64 / 1000.0,
                        ),
                        (
                            series("backup_logical_bytes"),
                            manifest.stats.logical_bytes as f64,
                        ),
                        (
                            series("backup_stored_bytes"),
                            manifest.stats.stored_bytes as f64,
                        ),
                        (series("backup_succeeded"), 1.0),
                    ])
                    .await;
                    let mut detail = format!(
                        "{} {}: {} bytes read, {} stored",
                        manifest.kind.as_str(),
                        manifest.id,
                        manifest.stats.logical_bytes,
                        manifest.stats.stored_bytes
                    );
                    if promoted {
                        detail.push_str(&format!(
                            "; taken as a full: no full backup to build a {} on",
                            kind.as_str()
                        ));
                    }
                    access
                        .audit()
                        .record(
                            who.event("backup.run", &audit_target, Outcome::Ok)
                                .detail(detail),
                        )
                        .await?;
                    if scheduled {
                        let expired = blocking(move |_| {
                            Ok(qcat_backup::expire::expire(&repo, retention, false)?)
                        })
                        .await;
                        let (outcome, detail) = match expired {
                            Ok(report) => (
                                Outcome::Ok,
                                format!("after a scheduled backup: expired {:?}", report.expired),
                            ),
                            Err(err) => (Outcome::Failed, err.message),
                        };
                        access
                            .audit()
                            .record(
                                who.event("backup.expire", "backup:repository", outcome)
                                    .detail(detail),
                            )
                            .await?;
                    }
                    let mut view =
                        serde_json::to_value(BackupView::from(&manifest)).unwrap_or_default();
                    view["promoted"] = promoted.into();
                    Ok(view)
                }
                Err(err) => {
                    api.inner
                        .backup
                        .runs
                        .backups_failed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if err.code != ErrorCode::Cancelled {
                        api.record_points(vec![(
                            qcat_monitor::tsdb::SeriesKey::new("backup_succeeded")
                                .with("type", kind.as_str()),
                            0.0,
                        )])
                        .await;
                    }
                    access
                        .audit()
                        .record(
                            who.event("backup.run", &audit_target, Outcome::Failed)
                                .detail(err.message.clone()),
                        )
                        .await?;
                    if err.code == ErrorCode::Cancelled {
                        return Err(
                            job.cancelled("the backup was cancelled; nothing was published")
                        );
                    }
                    Err(err)
                }
            }
        })
        .await
    }

    fn retention(&self) -> Retention {
        let settings = self.backup_settings();
        Retention {
            keep_full: Some(settings.keep_full),
            max_age: (!settings.keep_age.is_zero()).then_some(settings.keep_age),
        }
    }

    /// A scheduled backup of `backup.sources` (the scheduler's `backup-full`, `backup-diff`
    /// and `backup-incr`), audited as the scheduler's.
    pub(crate) async fn scheduled_backup(&self, kind: BackupType) -> Result<JobStarted, ApiError> {
        let names = self.backup_settings().sources.clone();
        let prepared = async {
            if names.is_empty() {
                return Err(invalid("backup.sources", "a backup schedule is set but backup.sources is empty; list the targets to back up"));
            }
            let mut sources = Vec::new();
            for name in &names {
                sources.push(self.backup_source(name).await?);
            }
            Ok((sources, self.repository()?))
        }
        .await;
        let (sources, repo) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                self.access()?
                    .audit()
                    .record(
                        Actor::Scheduler
                            .event("backup.run", "backup:sources", Outcome::Failed)
                            .detail(err.message.clone()),
                    )
                    .await?;
                return Err(err);
            }
        };
        let label = format!("scheduled {}", kind.as_str());
        self.start_backup_job(Actor::Scheduler, kind, names, sources, repo, label)
            .await
    }

    /// A restore drill now: the newest recovery point's PostgreSQL sources restored into
    /// scratch databases, checked, timed against `backup.rto`, dropped.
    pub async fn backup_drill(&self, slot: &SessionSlot) -> Result<JobStarted, ApiError> {
        let proof = self.guard(slot, "backup_drill").await?;
        self.start_drill(Actor::User(proof)).await
    }

    pub(crate) async fn start_drill(&self, who: Actor) -> Result<JobStarted, ApiError> {
        let repo = match self.repository() {
            Ok(repo) => repo,
            Err(err) => {
                self.access()?
                    .audit()
                    .record(
                        who.event("backup.drill", "backup:drill", Outcome::Failed)
                            .detail(err.message.clone()),
                    )
                    .await?;
                return Err(err);
            }
        };
        let settings = self.backup_settings();
        let bin_dir = self.pg_bin_dir();
        let scratch = self.inner.config.data_dir.path().join("restore-scratch");
        let actor = who.name().to_owned();
        self.start_job(
            "backup.drill",
            &actor,
            "bytes",
            move |api, job| async move {
                let outcome = api.drill(&repo, &settings, bin_dir, scratch, &job).await;
                let access = api.access()?;
                match outcome {
                    Ok(report) => {
                        let passed = report["passed"] == true;
                        let within = report["withinRto"] == true;
                        let detail = format!(
                            "drill of {}: {} ms against an RTO of {} ms, checks {}",
                            report["backupId"].as_str().unwrap_or("?"),
                            report["durationMs"],
                            report["rtoMs"],
                            if passed { "passed" } else { "FAILED" }
                        );
                        let outcome = if passed && within {
                            Outcome::Ok
                        } else {
                            Outcome::Failed
                        };
                        access
                            .audit()
                            .record(
                                who.event("backup.drill", "backup:drill", outcome)
                                    .detail(detail),
                            )
                            .await?;
                        Ok(report)
                    }
                    Err(err) => {
                        access
                            .audit()
                            .record(
                                who.event("backup.drill", "backup:drill", Outcome::Failed)
                                    .detail(err.message.clone()),
                            )
                            .await?;
                        Err(err)
                    }
                }
            },
        )
        .await
    }

    async fn drill(
        &self,
        repo: &Arc<Repository>,
        settings: &qcat_core::config::BackupConfig,
        bin_dir: Option<PathBuf>,
        scratch: PathBuf,
        job: &crate::jobs::JobContext,
    ) -> Result<serde_json::Value, ApiError> {
        let started = std::time::Instant::now();
        let listed = {
            let repo = Arc::clone(repo);
            blocking(move |_| Ok(repo.backups()?)).await?
        };
        let Some(newest) = listed.last().cloned() else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "no backup to drill yet; take one first",
            ));
        };
        let stamp = qcat_core::time::now_ms();
        let mut sources = Vec::new();
        let mut passed = true;
        for record in newest.sources.iter().filter(|s| s.kind == "postgres") {
            // Where the scratch copy goes: backup.drill_server, else the source's own server
            // (with the target's password).
            let server = if settings.drill_server.trim().is_empty() {
                match self.backup_source(&record.name).await?.connection {
                    Connection::Postgres(pg) => pg,
                    _ => continue,
                }
            } else {
                PostgresConnection::new(settings.drill_server.trim(), None)?
            };
            let database = format!(
                "{}{}_{stamp}",
                postgres::DRILL_PREFIX,
                record
                    .name
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            );
            let target = server.with_database(&database);
            let one_started = std::time::Instant::now();
            let restored = {
                let (repo, manifest, source, target) = (
                    Arc::clone(repo),
                    newest.clone(),
                    record.name.clone(),
                    target.clone(),
                );
                let (bin_dir, scratch, progress, cancel) = (
                    bin_dir.clone(),
                    scratch.clone(),
                    job.progress.clone(),
                    job.cancel.clone(),
                );
                blocking(move |handle| {
                    Ok(postgres::restore(
                        handle,
                        &repo,
                        &manifest,
                        &source,
                        &target,
                        Placement::New,
                        2,
                        bin_dir.as_deref(),
                        &scratch,
                        &progress,
                        &cancel,
                    )?)
                })
                .await
            };
            // The scratch copy goes whatever happened.
            let dropped = postgres::drop_database(&target).await;
            let elapsed = one_started.elapsed().as_millis() as u64;
            let (ok, mismatches, error) = match &restored {
                Ok(report) => (report.passed(), report.mismatches, None),
                Err(err) => (false, 0, Some(err.message.clone())),
            };
            passed &= ok;
            sources.push(serde_json::json!({
                "name": record.name,
                "durationMs": elapsed,
                "passed": ok,
                "mismatches": mismatches,
                "error": error,
                "scratchDropped": dropped.is_ok(),
            }));
        }
        if sources.is_empty() {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("backup {} holds no PostgreSQL source to drill", newest.id),
            ));
        }
        let duration_ms = started.elapsed().as_millis() as u64;
        let rto_ms = settings.rto.as_millis() as u64;
        let within = duration_ms <= rto_ms;
        // The trend: each drill is a point of the metric store's series, charted like any other.
        self.record_points(vec![
            (
                qcat_monitor::tsdb::SeriesKey::new("backup_drill_duration_seconds"),
                duration_ms as f64 / 1000.0,
            ),
            (
                qcat_monitor::tsdb::SeriesKey::new("backup_drill_rto_seconds"),
                rto_ms as f64 / 1000.0,
            ),
            (
                qcat_monitor::tsdb::SeriesKey::new("backup_drill_passed"),
                f64::from(u8::from(passed && within)),
            ),
        ])
        .await;
        self.inner
            .backup
            .runs
            .last_drill_ms
            .store(duration_ms, std::sync::atomic::Ordering::Relaxed);
        self.inner.backup.runs.last_drill_ok.store(
            u64::from(passed && within) + 1,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(serde_json::json!({
            "backupId": newest.id,
            "durationMs": duration_ms,
            "rtoMs": rto_ms,
            "withinRto": within,
            "passed": passed,
            "sources": sources,
        }))
    }

    /// A scheduled rolling verification within `backup.verify_budget`.
    pub(crate) async fn scheduled_verify_backups(&self) -> Result<JobStarted, ApiError> {
        let repo = self.repository()?;
        let budget = self.backup_settings().verify_budget;
        self.start_job(
            "backup.verify",
            "scheduler",
            "bytes",
            move |api, job| async move {
                let progress = job.progress.clone();
                let cancel = job.cancel.clone();
                let rolling = blocking(move |_| {
                    Ok(qcat_backup::verify::rolling(
                        &repo, budget, 7, &progress, &cancel,
                    )?)
                })
                .await;
                let (outcome, detail, value) = match rolling {
                    Ok(run) => {
                        api.record_points(vec![(
                            qcat_monitor::tsdb::SeriesKey::new("backup_verify_coverage_ratio"),
                            run.coverage.share,
                        )])
                        .await;
                        let detail = format!(
                            "rolling: {} packs, {} damaged chunks, {:.1} % verified in 7 days",
                            run.packs_verified,
                            run.report.damaged.len(),
                            run.coverage.share * 100.0
                        );
                        let outcome = if run.report.is_clean() {
                            Outcome::Ok
                        } else {
                            Outcome::Failed
                        };
                        (
                            outcome,
                            detail,
                            serde_json::to_value(&run).unwrap_or_default(),
                        )
                    }
                    Err(err) => (Outcome::Failed, err.message, serde_json::Value::Null),
                };
                api.access()?
                    .audit()
                    .record(
                        Actor::Scheduler
                            .event("backup.verify", "backup:rolling", outcome)
                            .detail(detail),
                    )
                    .await?;
                Ok(value)
            },
        )
        .await
    }

    /// A job that could not start: its refusal audited, its error returned.
    async fn refused_before_start<T>(
        &self,
        proof: &qcat_access::control::Proof,
        action: &str,
        target: &str,
        err: ApiError,
    ) -> Result<T, ApiError> {
        self.access()?
            .audit()
            .record(
                proof
                    .event(action, target, Outcome::Failed)
                    .detail(err.message.clone()),
            )
            .await?;
        Err(err)
    }

    fn pg_bin_dir(&self) -> Option<PathBuf> {
        let settings = self.backup_settings();
        let dir = settings.pg_bin_dir.trim();
        (!dir.is_empty()).then(|| PathBuf::from(dir))
    }

    /// Reads every chunk of the chosen backups (all when none), decrypting and hashing each.
    /// Damage is the job's error (`damaged`), naming each chunk and the backups needing it.
    pub async fn backup_verify(
        &self,
        slot: &SessionSlot,
        input: BackupVerifyInput,
    ) -> Result<JobStarted, ApiError> {
        let proof = self.guard(slot, "backup_verify").await?;
        let repo = match self.repository() {
            Ok(repo) => repo,
            Err(err) => {
                return self
                    .refused_before_start(&proof, "backup.verify", "backup:all", err)
                    .await;
            }
        };
        let actor = proof.actor().to_owned();
        self.start_job(
            "backup.verify",
            &actor,
            "bytes",
            move |api, job| async move {
                let progress = job.progress.clone();
                let cancel = job.cancel.clone();
                let ids = input.ids.clone();
                let budget = input
                    .rolling_budget_ms
                    .map(std::time::Duration::from_millis);
                let verified: Result<(VerifyReport, serde_json::Value), ApiError> =
                    blocking(move |_| match budget {
                        Some(budget) => {
                            let rolling =
                                qcat_backup::verify::rolling(&repo, budget, 7, &progress, &cancel)?;
                            let extra = serde_json::json!({
                                "packsVerified": rolling.packs_verified,
                                "coverage": rolling.coverage,
                            });
                            Ok((rolling.report, extra))
                        }
                        None => {
                            let report =
                                qcat_backup::verify::verify(&repo, &ids, &progress, &cancel)?;
                            let coverage = qcat_backup::verify::coverage(&repo, 7)?;
                            Ok((report, serde_json::json!({ "coverage": coverage })))
                        }
                    })
                    .await;
                let target = if input.ids.is_empty() {
                    "backup:all".to_owned()
                } else {
                    format!("backup:{}", input.ids.join(","))
                };
                let access = api.access()?;
                match verified {
                    Ok((report, extra)) if report.is_clean() => {
                        let detail = format!(
                            "{} chunks of {} backups intact",
                            report.chunks, report.backups
                        );
                        access
                            .audit()
                            .record(
                                proof
                                    .event("backup.verify", target, Outcome::Ok)
                                    .detail(detail),
                            )
                            .await?;
                        Ok(with_extra(report, extra))
                    }
                    Ok((report, extra)) => {
                        // The verify ran: its report names the damage (the caller decides
                        // what to do; qcatctl exits 4), and the trail records it as failed.
                        let mut message = format!(
                            "{} of {} chunks are damaged; backups that cannot be restored: {}",
                            report.damaged.len(),
                            report.chunks,
                            report
                                .damaged_backups()
                                .into_iter()
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                        for damaged in report.damaged.iter().take(20) {
                            message.push_str(&format!(
                                "; chunk {} in pack {}: {}",
                                damaged.chunk, damaged.pack, damaged.why
                            ));
                        }
                        access
                            .audit()
                            .record(
                                proof
                                    .event("backup.verify", target, Outcome::Failed)
                                    .detail(message),
                            )
                            .await?;
                        Ok(with_extra(report, extra))
                    }
                    Err(err) => {
                        access
                            .audit()
                            .record(
                                proof
                                    .event("backup.verify", target, Outcome::Failed)
                                    .detail(err.message.clone()),
                            )
                            .await?;
                        Err(err)
                    }
                }
            },
        )
        .await
    }

    /// Where and how a restore would go, without touching anything.
    pub async fn backup_restore_plan(
        &self,
        slot: &SessionSlot,
        input: BackupRestoreInput,
    ) -> Result<RestorePlanView, ApiError> {
        self.guard(slot, "backup_restore_plan").await?;
        Ok(self.plan_restore(&input).await?.0)
    }

    async fn plan_restore(
        &self,
        input: &BackupRestoreInput,
    ) -> Result<(RestorePlanView, Connection, Manifest), ApiError> {
        let repo = self.repository()?;
        let id = input.id.clone();
        let manifest = blocking(move |_| Ok(repo.manifest(&id)?)).await?;
        let record = manifest.source(&input.source).ok_or_else(|| {
            invalid(
                "source",
                format!(
                    "backup {} has no source {:?}; it has {}",
                    manifest.id,
                    input.source,
                    manifest
                        .sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let destination = input.destination.trim();
        if record.kind == "files" {
            let folder = PathBuf::from(destination);
            if !folder.is_absolute() {
                return Err(invalid(
                    "destination",
                    format!(
                        "{destination:?}: a files backup restores into a folder; give its absolute path"
                    ),
                ));
            }
            let empty =
                std::fs::read_dir(&folder).map_or(true, |mut entries| entries.next().is_none());
            if !empty {
                return Err(invalid(
                    "destination",
                    format!(
                        "{} is not empty; restore files into a new or empty folder",
                        folder.display()
                    ),
                ));
            }
            return Ok((
                RestorePlanView {
                    id: manifest.id.clone(),
                    source: record.name.clone(),
                    location: folder.display().to_string(),
                    database: folder.display().to_string(),
                    action: "create".into(),
                    environment: "development".into(),
                    confirmation: None,
                    bytes_needed: record.streams.iter().map(|s| s.size).sum(),
                    tables: record.tables.len() as u64,
                    rows: record.items,
                    half_restored: None,
                },
                Connection::Files(vec![folder]),
                manifest,
            ));
        }
        let is_url = destination.contains("://");
        let (connection, environment) = if is_url {
            let connection = if record.kind == "redis" {
                Connection::Redis(
                    RedisConnection::new(destination, None)
                        .map_err(|err| invalid("destination", err.to_string()))?,
                )
            } else {
                Connection::Postgres(
                    PostgresConnection::new(destination, None)
                        .map_err(|err| invalid("destination", err.to_string()))?,
                )
            };
            // A URL on the server of a known target carries that target's environment.
            let environment = self
                .environment_of(&connection)
                .await
                .unwrap_or_else(|| "development".into());
            (connection, environment)
        } else {
            let source = self
                .backup_source(destination)
                .await
                .map_err(|err| invalid("destination", err.message))?;
            (source.connection, source.environment)
        };
        let (exists, half_restored, database) = match &connection {
            Connection::Postgres(pg) if record.kind == "postgres" => {
                let exists = postgres::database_exists(pg).await?;
                let half = if exists {
                    postgres::unfinished_restore(pg).await?
                } else {
                    None
                };
                (exists, half, pg.database())
            }
            Connection::Redis(redis) if record.kind == "redis" => {
                let redis = redis.clone();
                let db = redis.db();
                let keys = blocking(move |_| match db {
                    Some(db) => Ok(redis.key_count(db)?),
                    None => Ok((0..16).map(|db| redis.key_count(db).unwrap_or(0)).sum()),
                })
                .await?;
                (
                    keys > 0,
                    None,
                    db.map_or_else(|| "every db".to_owned(), |db| format!("db{db}")),
                )
            }
            _ => {
                return Err(invalid(
                    "destination",
                    format!(
                        "{} is a {} backup; restore it into a {} destination",
                        record.name, record.kind, record.kind
                    ),
                ));
            }
        };
        let action = if exists { "overwrite" } else { "create" };
        let confirmation = (exists || environment == "production").then(|| database.clone());
        Ok((
            RestorePlanView {
                id: manifest.id.clone(),
                source: record.name.clone(),
                location: connection.display(),
                database,
                action: action.into(),
                environment,
                confirmation,
                bytes_needed: if record.kind == "postgres" {
                    record.streams.iter().map(|s| s.size).sum()
                } else {
                    0
                },
                tables: record.tables.len() as u64,
                rows: record.tables.iter().map(|t| t.rows).sum(),
                half_restored,
            },
            connection,
            manifest,
        ))
    }

    async fn environment_of(&self, connection: &Connection) -> Option<String> {
        let targets = self.all_targets().await.ok()?;
        targets.into_iter().find_map(|(target, _)| {
            let same = match (connection, target.kind) {
                (Connection::Postgres(pg), TargetKind::Postgres) => {
                    PostgresConnection::new(&target.url, None)
                        .ok()?
                        .same_server(pg)
                }
                (Connection::Redis(redis), TargetKind::Redis) => {
                    RedisConnection::new(&target.url, None)
                        .ok()?
                        .same_server(redis)
                }
                _ => false,
            };
            same.then(|| target.environment.as_str().to_owned())
        })
    }

    /// Restores one source of a backup. Checks every chunk first; a database that exists
    /// (or any production one) needs its name typed in `confirm`, and an existing database
    /// gets a safety backup before it is overwritten. Row counts are compared afterwards.
    pub async fn backup_restore(
        &self,
        slot: &SessionSlot,
        input: BackupRestoreInput,
    ) -> Result<JobStarted, ApiError> {
        let proof = self.guard(slot, "backup_restore").await?;
        let access = self.access()?;
        let planned = self.plan_restore(&input).await;
        let audit_target = format!("restore:{}", qcat_core::text::bounded(&input.source, 80));
        let (plan, connection, manifest) = match planned {
            Ok(planned) => planned,
            Err(err) => {
                access
                    .audit()
                    .record(
                        proof
                            .event("backup.restore", audit_target, Outcome::Failed)
                            .detail(err.message.clone()),
                    )
                    .await?;
                return Err(err);
            }
        };
        if let Some(expected) = &plan.confirmation
            && input.confirm.as_deref().map(str::trim) != Some(expected.as_str())
        {
            let why = format!(
                "restoring into {} ({}, {}) needs its database name typed as confirmation: pass --confirm {expected}",
                plan.location, plan.environment, plan.action
            );
            access
                .audit()
                .record(
                    proof
                        .event("backup.restore", audit_target, Outcome::Denied)
                        .detail(why.clone()),
                )
                .await?;
            return Err(ApiError::new(ErrorCode::PermissionDenied, why));
        }
        let repo = match self.repository() {
            Ok(repo) => repo,
            Err(err) => {
                return self
                    .refused_before_start(&proof, "backup.restore", &audit_target, err)
                    .await;
            }
        };
        let actor = proof.actor().to_owned();
        let jobs = input.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(2, |n| n.get() as u32)
                .min(8)
        });
        let bin_dir = self.pg_bin_dir();
        let scratch = self.inner.config.data_dir.path().join("restore-scratch");
        self.start_job("backup.restore", &actor, "bytes", move |api, job| async move {
            let access = api.access()?;
            let placement = if plan.action == "overwrite" { Placement::Overwrite } else { Placement::New };
            let progress = job.progress.clone();
            let cancel = job.cancel.clone();
            let source = plan.source.clone();
            let environment = plan.environment.clone();
            let started = std::time::Instant::now();
            let result = blocking(move |handle| {
                let mut safety = None;
                if placement == Placement::Overwrite {
                    // What is overwritten can be had back: a full backup of it first.
                    progress.phase("safety backup");
                    let mut writer = BackupWriter::start(&repo, BackupType::Full, &format!("safety before restoring {} into {}", manifest.id, connection.display()))?;
                    let name = format!("{source}-before-restore");
                    let record = match &connection {
                        Connection::Postgres(pg) => postgres::backup(handle, &mut writer, &name, &environment, pg, bin_dir.as_deref(), &progress, &cancel),
                        Connection::Redis(redis) => redis_source::backup(&mut writer, &name, &environment, redis, &progress, &cancel),
                        Connection::Files(_) => Err(BackupError::Refused("files restore into a new or empty folder, never over one".into())),
                    };
                    match record {
                        Ok(record) => writer.add_source(record),
                        Err(err) => {
                            writer.abandon();
                            return Err(ApiError::from(err));
                        }
                    }
                    safety = Some(writer.commit()?.id);
                }
                // (passed, tables checked, mismatches, the report as JSON)
                let checked: (bool, usize, u64, serde_json::Value) = match &connection {
                    Connection::Postgres(pg) => {
                        let report = postgres::restore(handle, &repo, &manifest, &source, pg, placement, jobs, bin_dir.as_deref(), &scratch, &progress, &cancel)?;
                        (report.passed(), report.tables.len(), report.mismatches, serde_json::to_value(&report).unwrap_or_default())
                    }
                    Connection::Redis(redis) => {
                        let report = redis_source::restore(&repo, &manifest, &source, redis, redis.db(), &progress, &cancel)?;
                        let mismatches = report.expected.iter().filter(|pair| !report.restored.contains(pair)).count() as u64;
                        let mut value = serde_json::to_value(&report).unwrap_or_default();
                        // The same shape as a database's check: one row per db.
                        value["tables"] = report
                            .expected
                            .iter()
                            .map(|(db, expected)| {
                                let found = report.restored.iter().find(|(d, _)| d == db).map(|(_, n)| *n);
                                serde_json::json!({ "schema": format!("db{db}"), "name": "keys", "expected": expected, "found": found })
                            })
                            .collect();
                        (report.passed, report.expected.len(), mismatches, value)
                    }
                    Connection::Files(folders) => {
                        let report = files::restore(&repo, &manifest, &source, &folders[0], &progress, &cancel)?;
                        let mut value = serde_json::to_value(&report).unwrap_or_default();
                        value["tables"] = serde_json::json!([{ "schema": report.folder, "name": "files", "expected": report.expected, "found": report.files }]);
                        (report.passed, 1, u64::from(!report.passed), value)
                    }
                };
                Ok((checked, safety))
            })
            .await;
            match result {
                Ok(((passed, tables, mismatches, mut value), safety)) => {
                    let runs = &api.inner.backup.runs;
                    let counter = if passed { &runs.restores_ok } else { &runs.restores_failed };
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    runs.last_restore_ms
                        .store(started.elapsed().as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
                    api.record_points(vec![(
                        qcat_monitor::tsdb::SeriesKey::new("restore_duration_seconds").with("source", plan.source.as_str()),
                        started.elapsed().as_secs_f64(),
                    )])
                    .await;
                    let mut detail = format!(
                        "{} of {} into {} ({}): {tables} tables or dbs, {mismatches} mismatched",
                        plan.source, plan.id, plan.location, plan.action
                    );
                    if let Some(safety) = &safety {
                        detail.push_str(&format!("; safety backup {safety}"));
                    }
                    let outcome = if passed { Outcome::Ok } else { Outcome::Failed };
                    access
                        .audit()
                        .record(proof.event("backup.restore", audit_target, outcome).detail(detail))
                        .await?;
                    value["passed"] = passed.into();
                    value["mismatches"] = mismatches.into();
                    value["safetyBackup"] = safety.into();
                    Ok(value)
                }
                Err(err) => {
                    api.inner.backup.runs.restores_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    access
                        .audit()
                        .record(proof.event("backup.restore", audit_target, Outcome::Failed).detail(err.message.clone()))
                        .await?;
                    if err.code == ErrorCode::Cancelled {
                        return Err(job.cancelled("the restore was cancelled; the target is half restored and marked so"));
                    }
                    Err(err)
                }
            }
        })
        .await
    }

    /// Applies `backup.keep_full` (and `backup.keep_age`), dependents with their full, then
    /// removes what no backup needs. `dry_run` says what would go.
    pub async fn backup_expire(
        &self,
        slot: &SessionSlot,
        input: BackupExpireInput,
    ) -> Result<ExpireView, ApiError> {
        let proof = self.guard(slot, "backup_expire").await?;
        let retention = self.retention();
        let dry_run = input.dry_run;
        let result = match self.repository() {
            Ok(repo) => {
                blocking(move |_| Ok(qcat_backup::expire::expire(&repo, retention, dry_run)?)).await
            }
            Err(err) => Err(err),
        };
        let access = self.access()?;
        match result {
            Ok(report) => {
                if !dry_run {
                    let detail = format!(
                        "expired {}; {} packs ({} bytes) removed",
                        if report.expired.is_empty() {
                            "nothing".to_owned()
                        } else {
                            report.expired.join(", ")
                        },
                        report.garbage.packs,
                        report.garbage.bytes
                    );
                    access
                        .audit()
                        .record(
                            proof
                                .event("backup.expire", "backup:repository", Outcome::Ok)
                                .detail(detail),
                        )
                        .await?;
                }
                Ok(report.into())
            }
            Err(err) => {
                access
                    .audit()
                    .record(
                        proof
                            .event("backup.expire", "backup:repository", Outcome::Failed)
                            .detail(err.message.clone()),
                    )
                    .await?;
                Err(err)
            }
        }
    }
}
