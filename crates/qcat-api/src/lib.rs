//! The one surface of QCAT Console. The Tauri shell, `qcatctl` and the tests all call
//! [`Api`]; nothing else reaches the domain crates. Every entry point returns a DTO from
//! [`dto`] or an [`ApiError`] (`{code, message}` from the one code table in `qcat-core`).

pub mod access;
pub mod alert;
pub mod audit;
pub mod backup;
pub mod commands;
pub mod config;
mod database;
pub mod dto;
mod error;
pub mod jobs;
pub mod logs;
pub mod metrics;
pub mod monitor;
pub mod origin;
pub mod runtime;
pub mod schedules;
pub mod secrets;
pub mod simulate;
pub mod store;
pub mod typescript;

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use qcat_access::control::{AccessControl, AuthSettings};
use qcat_access::throttle::ThrottleSettings;
use qcat_audit::{AuditWriter, Outcome, WriterOptions};
use qcat_core::config::{Config, LoadedConfig};
use qcat_core::paths::DataDir;
use qcat_secrets::Keyring;
use qcat_secrets::keys::KeyOptions;
use qcat_store::{Store, StoreOptions, StoreTarget};

pub use access::SessionSlot;
pub use error::ApiError;
pub use qcat_core::ErrorCode;
pub use qcat_core::text;

/// Writes a file the user named (a report): whole or not at all (a synced temporary file
/// renamed over it), readable by its owner only; the error names the path.
pub fn write_user_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), ApiError> {
    qcat_core::atomic_file::write(path, bytes, Some(0o600)).map_err(|err| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "--out {}: cannot write it ({err}); choose a folder that exists and that you may write to",
                path.display()
            ),
        )
    })
}
pub use qcat_runtime::Mode;
pub use qcat_runtime::events::Delivery;
pub use qcat_runtime::progress::{Progress, ProgressReport};

/// How to open the API: where the data lives and the validated configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub data_dir: DataDir,
    pub config: LoadedConfig,
    /// Where the master key comes from (tests point this at a key file of their own).
    pub keys: KeyOptions,
    /// What kind of process this is; decides which tasks start.
    pub mode: Mode,
}

impl ApiConfig {
    /// The data dir from `QCAT_DATA_DIR` or the platform, and the configuration from its
    /// layers; what both the console and `qcatctl` use.
    pub fn from_environment(mode: Mode) -> Result<Self, ApiError> {
        let data_dir = DataDir::resolve().map_err(ApiError::data_dir)?;
        let config = Config::load().map_err(ApiError::config)?;
        Ok(Self {
            data_dir,
            config,
            keys: KeyOptions::from_process(),
            mode,
        })
    }
}

/// The opened console core. Cheap to clone; shared by every command.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

/// An [`Api`] held by its own tasks without keeping it alive.
#[derive(Clone)]
pub(crate) struct WeakApi(Weak<Inner>);

impl WeakApi {
    pub(crate) fn upgrade(&self) -> Option<Api> {
        self.0.upgrade().map(|inner| Api { inner })
    }
}

struct Inner {
    config: ApiConfig,
    /// The master keys, or why there are none (the console runs without; encrypted
    /// settings then report this error).
    keys: Result<Keyring, ApiError>,
    target: Result<StoreTarget, ApiError>,
    /// The store, or why it could not be opened. The console still starts without a store
    /// so it can show the error and its fix instead of a crash.
    store: Result<Store, ApiError>,
    /// Users, roles, sessions and the audit writer (needs the store).
    access: Result<AccessControl, ApiError>,
    opened_at: Instant,
    /// Tasks, the event bus, this process as a member, its duties and jobs.
    runtime: runtime::ProcessRuntime,
    /// The metric store (opened on first use) and this process's collectors' state.
    monitor: monitor::MonitorState,
    /// The repository summary /metrics reads, and this process's backup and restore counts.
    backup: backup::BackupState,
    /// What wakes the alerting duty's loops, the routing in use, delivery counters.
    alert: alert::AlertState,
}

impl Api {
    /// Creates the data dir and opens (creating and migrating) the configured store.
    /// Fails only when the data dir cannot be created; storage problems are reported by
    /// [`Api::storage_status`].
    pub async fn open(config: ApiConfig) -> Result<Self, ApiError> {
        // The data dir holds password hashes and the audit trail: owner only.
        if let Some(narrowed) = config
            .data_dir
            .ensure_exists()
            .map_err(ApiError::data_dir)?
        {
            tracing::warn!("{narrowed}");
        }
        // The keychain is reached over D-Bus or a platform API: blocking work.
        let key_options = config.keys.clone();
        let keys = tokio::task::spawn_blocking(move || secrets::load_keys(&key_options))
            .await
            .unwrap_or_else(|err| Err(ApiError::internal_in("open", &err)));
        match &keys {
            Ok(keys) => {
                tracing::info!(source = %keys.source(), key_id = keys.current().id(), "master key loaded")
            }
            Err(err) => tracing::warn!(error = %err.message, "no master key"),
        }
        let settings = &config.config.config;
        let process_runtime = runtime::ProcessRuntime::new(
            config.mode,
            settings.runtime.failover,
            settings.runtime.shutdown_grace,
        );
        let target = database::store_target(&settings.database, &config.data_dir, keys.as_ref());
        let options = store_options(&settings.database, &config.data_dir);
        let store = match &target {
            Ok(target) => Store::open(target, &options)
                .await
                .map_err(|err| ApiError::storage_ref(&err)),
            Err(err) => Err(err.clone()),
        };
        if let Err(err) = &store {
            tracing::error!(error = %err, "the store could not be opened");
        }
        let access = match &store {
            Ok(store) => {
                open_access(store, settings, &config.data_dir, &process_runtime.tasks).await
            }
            Err(err) => Err(err.clone()),
        };
        let api = Self {
            inner: Arc::new(Inner {
                config,
                keys,
                target,
                store,
                access,
                opened_at: Instant::now(),
                runtime: process_runtime,
                monitor: monitor::MonitorState::default(),
                backup: backup::BackupState::default(),
                alert: alert::AlertState::default(),
            }),
        };
        // A one-shot `qcatctl` run starts no maintenance, no duties and no heartbeat.
        if api.inner.config.mode.is_long_running() {
            api.start_long_running();
        }
        Ok(api)
    }

    pub(crate) fn downgrade(&self) -> WeakApi {
        WeakApi(Arc::downgrade(&self.inner))
    }

    /// The mode this process runs in.
    pub fn mode(&self) -> Mode {
        self.inner.config.mode
    }

    /// The store, or the error explaining why there is none.
    pub(crate) fn store(&self) -> Result<&Store, ApiError> {
        self.inner.store.as_ref().map_err(Clone::clone)
    }

    /// The configuration with provenance and masked secrets, read from its layers now, so a
    /// setting saved since start-up shows with its new source. When the layers have become
    /// invalid meanwhile, the loaded configuration is shown with the problems as warnings.
    pub async fn config_settings(&self, slot: &SessionSlot) -> Result<dto::ConfigView, ApiError> {
        self.guard(slot, "config_settings").await?;
        let loaded = &self.inner.config.config;
        Ok(match config::effective_config(&loaded.sources) {
            Ok(view) => view,
            Err(check) => {
                let mut view = dto::ConfigView::from(loaded);
                view.warnings.extend(check.problems);
                view
            }
        })
    }

    /// Saves one setting to the user's config file (see [`config::set_setting`]) and records
    /// the change with its before and after; done only once the entry is durable.
    pub async fn set_setting(
        &self,
        slot: &SessionSlot,
        key: &str,
        value: &str,
    ) -> Result<config::SettingChange, ApiError> {
        let proof = self.guard(slot, "set_setting").await?;
        let sources = self.inner.config.config.sources.clone();
        let (key, value) = (key.to_owned(), value.to_owned());
        let target = format!("config:{key}");
        let result =
            tokio::task::spawn_blocking(move || config::set_setting(&sources, &key, &value))
                .await
                .map_err(|err| ApiError::internal_in("set_setting", &err))?;
        let event = match &result {
            Ok(change) => proof.event("config.set", target, Outcome::Ok).change(
                change
                    .before
                    .as_ref()
                    .map(|before| serde_json::json!(before)),
                Some(serde_json::json!(change.after)),
            ),
            Err(err) => proof
                .event("config.set", target, Outcome::Failed)
                .detail(err.message.clone()),
        };
        self.access()?.audit().record(event).await?;
        result
    }

    /// Version, data dir and environment: the About dialog and `qcatctl status`.
    pub fn app_info(&self) -> dto::AppInfo {
        let config = &self.inner.config;
        dto::AppInfo {
            version: qcat_core::VERSION.to_owned(),
            data_dir: config.data_dir.path().display().to_string(),
            data_dir_source: config.data_dir.source().into(),
            environment: config.config.config.app.environment.into(),
            uptime_secs: self.inner.opened_at.elapsed().as_secs(),
            system_locale: system_locale(),
            master_key: match &self.inner.keys {
                Ok(keys) => dto::MasterKeyStatus {
                    source: Some(keys.source().to_string()),
                    key_id: Some(keys.current().id().to_owned()),
                    error: None,
                },
                Err(err) => dto::MasterKeyStatus {
                    source: None,
                    key_id: None,
                    error: Some(err.clone()),
                },
            },
        }
    }

    /// Backend, location, health and schema version of the store, probed now.
    pub async fn storage_status(&self) -> dto::StorageStatus {
        let backend = match &self.inner.target {
            Ok(target) => target.backend().into(),
            Err(_) => dto::StorageBackend::Postgres,
        };
        let location = match &self.inner.target {
            Ok(target) => target.display_location(),
            Err(_) => String::new(),
        };
        let store = match self.store() {
            Ok(store) => store,
            Err(error) => {
                return dto::StorageStatus {
                    backend,
                    location,
                    health: dto::StorageHealth::Failed,
                    round_trip_ms: None,
                    schema_version: None,
                    known_schema_version: None,
                    error: Some(error),
                };
            }
        };
        let health = store.health(Duration::from_secs(3)).await;
        let schema_version = if health.reachable {
            store.schema_version().await.ok()
        } else {
            None
        };
        dto::StorageStatus {
            backend,
            location,
            health: if health.reachable {
                dto::StorageHealth::Healthy
            } else {
                dto::StorageHealth::Unreachable
            },
            round_trip_ms: Some(health.round_trip.as_secs_f64() * 1000.0),
            schema_version,
            known_schema_version: Some(store.known_schema_version()),
            error: health.error.map(|message| ApiError {
                code: qcat_core::ErrorCode::StorageUnavailable,
                message,
            }),
        }
    }

    /// The orderly shutdown (see `runtime::shut_down`): stops intake, lets work finish,
    /// drains the audit writer, anchors the trail, then closes the store's connections.
    pub async fn close(&self) {
        self.shut_down().await;
        if let Ok(store) = &self.inner.store {
            store.close().await;
        }
    }
}

/// The store's pool, timeouts and the data dir's memory of the stores it used.
fn store_options(database: &qcat_core::config::DatabaseConfig, data_dir: &DataDir) -> StoreOptions {
    StoreOptions {
        max_connections: database.max_connections,
        connect_timeout: Duration::from_secs(database.connect_timeout_secs),
        statement_timeout: Duration::from_secs(database.statement_timeout_secs),
        lock_timeout: Duration::from_secs(database.lock_timeout_secs),
        idle_in_transaction_timeout: Duration::from_secs(database.idle_in_transaction_timeout_secs),
        identities: Some(qcat_store::Identities::in_dir(data_dir.path())),
    }
}

async fn open_access(
    store: &Store,
    settings: &Config,
    data_dir: &DataDir,
    tasks: &qcat_runtime::Tasks,
) -> Result<AccessControl, ApiError> {
    // Queued audit events wait in a synced file of the data dir, so a killed console loses
    // none (the next start stores them).
    let spool_dir = data_dir.path().join("audit-spool");
    let spool = match qcat_audit::spool::Spool::open(&spool_dir) {
        Ok(spool) => Some(spool),
        Err(err) => {
            tracing::error!(dir = %spool_dir.display(), error = %err, "no audit spool: queued events are written without one");
            None
        }
    };
    qcat_audit::mirror::set_level(settings.audit.log_level);
    let audit = AuditWriter::start(
        store.clone(),
        WriterOptions {
            batch_size: settings.audit.batch_size as usize,
            batch_timeout: settings.audit.batch_timeout,
            async_mode: settings.audit.async_mode,
        },
        spool,
        tasks,
    );
    let auth = &settings.auth;
    let access = AccessControl::open(
        store.clone(),
        audit,
        AuthSettings {
            session_idle: auth.session_idle,
            session_max: auth.session_max,
            throttle: ThrottleSettings {
                limit: auth.failed_login_limit,
                limit_per_source: auth.failed_login_limit_per_source,
                limit_per_user: auth.failed_login_limit_per_user,
                window: auth.failed_login_window,
                lockout: auth.lockout,
                max_lockout: auth.max_lockout,
            },
        },
        tasks,
    )
    .await;
    access.map_err(|err| {
        tracing::error!(error = %err, "users and roles could not be loaded");
        ApiError::from(err)
    })
}

/// The OS UI language as a BCP 47 tag. On Linux the environment's `LANG`/`LC_*` may name a
/// locale the C library lacks (`zh_CN.UTF-8` on a minimal system); the tag is still what the
/// user asked for, so it is read from the variables rather than from `setlocale`.
fn system_locale() -> Option<String> {
    sys_locale::get_locale().map(|tag| tag.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scheduled_check_records_a_broken_chain_in_the_trail() {
        let dir = qcat_testkit::temp_data_dir();
        let key = dir.path().join("master.key");
        qcat_secrets::keys::init_key_file(&key).unwrap();
        let api =
            Api::open(ApiConfig {
                data_dir: DataDir::at(dir.path()),
                config: Config::load_from(&qcat_core::config::ConfigSources::environment_only(
                    Vec::<(String, String)>::new(),
                ))
                .unwrap(),
                keys: KeyOptions {
                    key_file: Some(key),
                    ..KeyOptions::default()
                },
                mode: Mode::OneShot,
            })
            .await
            .unwrap();
        let store = api.store().unwrap().clone();
        let access = api.access().unwrap().clone();
        for n in 0..3 {
            access
                .audit()
                .record(qcat_audit::AuditEvent::new(
                    "-",
                    "test.event",
                    format!("n:{n}"),
                    "test",
                    Outcome::Ok,
                ))
                .await
                .unwrap();
        }
        let job = jobs::JobContext {
            progress: Progress::silent("entries"),
            cancel: qcat_runtime::CancellationToken::new(),
        };
        // A healthy chain leaves no trace in the trail.
        api.scheduled_verify(&job).await;
        let failures = || async {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT result, detail FROM audit_log WHERE action = 'audit.verify'",
            )
            .fetch_all(store.pool())
            .await
            .unwrap();
            rows
        };
        assert!(failures().await.is_empty());
        sqlx::query("UPDATE audit_log SET target = 'n:9' WHERE seq = 2")
            .execute(store.pool())
            .await
            .unwrap();
        api.scheduled_verify(&job).await;
        let recorded = failures().await;
        assert_eq!(recorded.len(), 1, "the broken chain is recorded once");
        assert_eq!(recorded[0].0, "failed");
        assert!(recorded[0].1.contains("audit entry 2"), "{}", recorded[0].1);
        api.close().await;
    }
}
