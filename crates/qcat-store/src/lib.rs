//! Storage for QCAT Console through sqlx's `Any` driver: one query text runs on the embedded
//! SQLite file and on a shared PostgreSQL (team mode).
//!
//! Queries use `$1`-style placeholders and portable SQL (both backends accept them); the
//! schema is kept per backend under `migrations/{sqlite,postgres}` because DDL differs.
//! Migrations are embedded, append-only, and run when a store is opened.

pub mod changes;
pub mod fault;
pub mod identity;
pub mod placeholders;
pub mod runtime;
mod target;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::AnyConnection;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyPool, Connection, Executor};

pub use fault::{Fault, FaultKind};
pub use identity::{Identities, Loss, Remembered};
pub use target::{Backend, StoreTarget};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Pool size, timeouts and the data dir's memory of stores; built from the `[database]`
/// config section.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// PostgreSQL `statement_timeout`.
    pub statement_timeout: Duration,
    /// PostgreSQL `lock_timeout`; SQLite's busy timeout.
    pub lock_timeout: Duration,
    /// PostgreSQL `idle_in_transaction_session_timeout`.
    pub idle_in_transaction_timeout: Duration,
    /// Which stores this data dir has used (`None`: remember nothing, refuse nothing).
    pub identities: Option<Identities>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(10),
            idle_in_transaction_timeout: Duration::from_secs(60),
            identities: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `cause` is the explained failure ([`fault::describe`]), with the fix.
    #[error("cannot open the {backend} store: {cause}")]
    Connect {
        backend: Backend,
        location: String,
        cause: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the {backend} store at {location} is {loss}, but this data dir used store {installation_id} there (created {created}): restore the store from a backup, or start anew on purpose with `qcatctl store init --new` (the new store's audit trail records it)"
    )]
    Lost {
        backend: Backend,
        location: String,
        loss: Loss,
        installation_id: String,
        created: String,
    },
    #[error("cannot read or write {path}, where the data dir remembers its stores: {source}")]
    Identity {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot prepare the store file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the {backend} store at {location} was migrated by a newer QCAT Console (it has schema version {found}, this build knows up to {known}); upgrade this console or point it at another database"
    )]
    SchemaTooNew {
        backend: Backend,
        location: String,
        found: i64,
        known: i64,
    },
    #[error("migrating the {backend} store at {location} failed: {source}")]
    Migrate {
        backend: Backend,
        location: String,
        #[source]
        source: MigrateError,
    },
    #[error("{}", fault::describe(.0, "the store"))]
    Query(#[from] sqlx::Error),
    #[error("invalid database.url: {0}")]
    InvalidUrl(String),
}

impl StoreError {
    pub fn code(&self) -> qcat_core::ErrorCode {
        use qcat_core::ErrorCode;
        match self {
            StoreError::Connect { .. }
            | StoreError::Query(_)
            | StoreError::Identity { .. }
            | StoreError::File { .. } => ErrorCode::StorageUnavailable,
            StoreError::Lost { .. } => ErrorCode::StorageLost,
            StoreError::SchemaTooNew { .. } | StoreError::Migrate { .. } => {
                ErrorCode::StorageSchema
            }
            StoreError::InvalidUrl(_) => ErrorCode::InvalidConfig,
        }
    }
}

/// What a health probe found: reachable or not, and how long a round trip took.
#[derive(Debug, Clone)]
pub struct Health {
    pub reachable: bool,
    pub round_trip: Duration,
    /// Why the probe failed; never contains credentials.
    pub error: Option<String>,
}

/// An open, migrated store.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    location: String,
    /// PostgreSQL only: the URL (with credentials) for LISTEN connections. Never shown.
    listen_url: Option<std::sync::Arc<str>>,
    /// SQLite only: the file and its identity (device, inode) when opened, to notice it being
    /// deleted or replaced under a running console.
    file: Option<(PathBuf, Option<(u64, u64)>)>,
}

/// Device and inode of a file (unix), to tell "the same file" from "a file at that path".
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn millis(duration: Duration) -> u128 {
    duration.as_millis().max(1)
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects and applies pending migrations. A store the data dir has never used is
    /// created (a SQLite file 0600); one it has used must still be there and be the same
    /// store ([`identity`]). A failure to connect says why, in words, with the fix.
    pub async fn open(target: &StoreTarget, options: &StoreOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = target.backend();
        let location = target.display_location();
        let key = target.identity_key();
        let remembered = match &options.identities {
            Some(identities) => identities
                .get(&key)
                .map_err(|source| StoreError::Identity {
                    path: identities.path().to_owned(),
                    source,
                })?,
            None => None,
        };
        let lost = |loss: Loss, remembered: &Remembered| StoreError::Lost {
            backend,
            location: location.clone(),
            loss,
            installation_id: remembered.installation_id.clone(),
            created: format_ms(remembered.created_at_ms),
        };
        if let StoreTarget::Sqlite(path) = target {
            match (&remembered, path.exists()) {
                (Some(remembered), false) => return Err(lost(Loss::Missing, remembered)),
                // Truncated to nothing: refused before SQLite writes a fresh header into it.
                (Some(remembered), true)
                    if std::fs::metadata(path).is_ok_and(|meta| meta.len() == 0) =>
                {
                    return Err(lost(Loss::Empty, remembered));
                }
                (None, false) => {
                    qcat_core::private_files::create_if_missing(path).map_err(|source| {
                        StoreError::File {
                            path: path.clone(),
                            source,
                        }
                    })?
                }
                _ => {}
            }
            // The store holds password hashes and the audit trail: owner only. SQLite gives
            // the -wal and -shm files the database file's mode.
            for file in [path.clone(), sidecar(path, "-wal"), sidecar(path, "-shm")] {
                match qcat_core::private_files::narrow(&file, qcat_core::private_files::FILE_MODE) {
                    Ok(Some(narrowed)) => tracing::warn!("{narrowed}"),
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(path = %file.display(), error = %err, "cannot narrow the store file's permissions")
                    }
                }
            }
        }
        let connect_options: AnyConnectOptions = target
            .connect_url(options)?
            .parse()
            .map_err(|source| connect_error(backend, &location, source))?;
        // Connection settings the SQLite URL cannot carry: WAL so readers never block the
        // writer, durable commits, enforced foreign keys, and a wait instead of an immediate
        // "database is locked" when the agent and the console write together.
        let sqlite_pragmas = format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
            millis(options.lock_timeout)
        );
        // One direct connection first (with the settings every pooled one gets): a pool
        // retries until its timeout and then reports only "pool timed out", hiding
        // "connection refused" or "file is not a database".
        let probe = async {
            let mut conn = AnyConnection::connect_with(&connect_options).await?;
            if backend == Backend::Sqlite {
                conn.execute(sqlx::AssertSqlSafe(sqlite_pragmas.clone()))
                    .await?;
            }
            conn.close().await
        };
        tokio::time::timeout(options.connect_timeout, probe)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
            .map_err(|source| connect_error(backend, &location, source))?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.connect_timeout);
        pool_options = match backend {
            Backend::Sqlite => pool_options.after_connect(move |conn, _meta| {
                let pragmas = sqlite_pragmas.clone();
                Box::pin(async move {
                    conn.execute(sqlx::AssertSqlSafe(pragmas)).await?;
                    Ok(())
                })
            }),
            Backend::Postgres => pool_options,
        };
        let pool = pool_options
            .connect_with(connect_options)
            .await
            .map_err(|source| connect_error(backend, &location, source))?;
        let listen_url = match target {
            StoreTarget::Postgres(_) => Some(target.connect_url(options)?.into()),
            StoreTarget::Sqlite(_) => None,
        };
        let file = match target {
            StoreTarget::Sqlite(path) => Some((path.clone(), file_identity(path))),
            StoreTarget::Postgres(_) => None,
        };
        let store = Self {
            pool,
            backend,
            location: location.clone(),
            listen_url,
            file,
        };
        if let Some(remembered) = &remembered {
            match store.installation_id().await {
                Ok(found) if found == remembered.installation_id => {}
                Ok(_) => return Err(lost(Loss::Replaced, remembered)),
                Err(_) => return Err(lost(Loss::Empty, remembered)),
            }
        }
        store.migrate().await?;
        store.ensure_instance_row().await?;
        if remembered.is_none()
            && let Some(identities) = &options.identities
        {
            let (installation_id, created_at_ms): (String, i64) =
                sqlx::query_as("SELECT installation_id, created_at_ms FROM instance WHERE id = 1")
                    .fetch_one(&store.pool)
                    .await?;
            identities
                .remember(
                    &key,
                    Remembered {
                        installation_id,
                        created_at_ms,
                        first_used_ms: qcat_core::time::now_ms(),
                    },
                )
                .map_err(|source| StoreError::Identity {
                    path: identities.path().to_owned(),
                    source,
                })?;
        }
        tracing::info!(backend = %store.backend, location = %store.location, "store opened");
        Ok(store)
    }

    /// Forgets the store the data dir remembers for `target` and moves a leftover SQLite
    /// file (damaged, emptied) aside, so the next [`Store::open`] starts anew. Returns what
    /// was remembered and where the leftover went. Only `qcatctl store init --new` calls this.
    pub fn forget(
        target: &StoreTarget,
        identities: &Identities,
    ) -> Result<(Option<Remembered>, Option<PathBuf>), StoreError> {
        let remembered = identities
            .forget(&target.identity_key())
            .map_err(|source| StoreError::Identity {
                path: identities.path().to_owned(),
                source,
            })?;
        let mut moved = None;
        if let StoreTarget::Sqlite(path) = target
            && path.exists()
        {
            let aside = sidecar(path, &format!(".replaced-{}", qcat_core::time::now_ms()));
            for suffix in ["", "-wal", "-shm"] {
                let from = sidecar(path, suffix);
                if from.exists() {
                    let to = sidecar(&aside, suffix);
                    std::fs::rename(&from, &to)
                        .map_err(|source| StoreError::File { path: from, source })?;
                }
            }
            moved = Some(aside);
        }
        Ok((remembered, moved))
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let known = self.known_schema_version();
        match self.migrator().run(&self.pool).await {
            Ok(()) => Ok(()),
            Err(MigrateError::VersionMissing(found)) => Err(StoreError::SchemaTooNew {
                backend: self.backend,
                location: self.location.clone(),
                found,
                known,
            }),
            Err(source) => Err(StoreError::Migrate {
                backend: self.backend,
                location: self.location.clone(),
                source,
            }),
        }
    }

    async fn ensure_instance_row(&self) -> Result<(), StoreError> {
        // Read first: every open writing would fail on a read-only store and take the write
        // lock from everyone else for nothing.
        let present: Option<i64> = sqlx::query_scalar("SELECT id FROM instance WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        if present.is_some() {
            return Ok(());
        }
        let now_ms = qcat_core::time::now_ms();
        sqlx::query(
            "INSERT INTO instance (id, installation_id, created_at_ms) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the store is, safe to show: a file path, or a PostgreSQL URL without password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The pool, for the domain crates' queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write. On SQLite it holds the write lock from the
    /// start (`BEGIN IMMEDIATE`): a transaction that reads first and writes later fails at
    /// once with "database is locked" when another connection committed in between (WAL
    /// cannot move its snapshot, and busy_timeout does not wait for that), while one that
    /// starts as the writer waits its turn. PostgreSQL's row locks need nothing more.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// The highest migration this build ships.
    pub fn known_schema_version(&self) -> i64 {
        self.migrator()
            .iter()
            .map(|migration| migration.version)
            .max()
            .unwrap_or(0)
    }

    /// The highest migration applied to the store.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_one(&self.pool)
                .await?;
        Ok(version.unwrap_or(0))
    }

    /// The id written when the store was first created; distinguishes two stores in team mode.
    pub async fn installation_id(&self) -> Result<String, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT installation_id FROM instance WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// A round trip to the store, bounded by `timeout`; for SQLite also that the file at
    /// the path is still the one opened (not deleted, emptied and re-created, or replaced).
    pub async fn health(&self, timeout: Duration) -> Health {
        let started = Instant::now();
        if let Some((path, Some(opened))) = &self.file
            && file_identity(path) != Some(*opened)
        {
            return Health {
                reachable: false,
                round_trip: started.elapsed(),
                error: Some(format!(
                    "the store file {} was deleted or replaced while this process had it open: stop the console and start it again (it refuses a store that is gone and says how to restore it)",
                    path.display()
                )),
            };
        }
        let probe = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&self.pool);
        let error = match tokio::time::timeout(timeout, probe).await {
            Ok(Ok(_)) => None,
            Ok(Err(err)) => Some(fault::describe(&err, &self.location)),
            Err(_) => Some(format!(
                "no answer from the store at {} within {} ms: the server may be frozen or overloaded",
                self.location,
                timeout.as_millis()
            )),
        };
        Health {
            reachable: error.is_none(),
            round_trip: started.elapsed(),
            error,
        }
    }

    /// `err` explained for this store ([`fault::describe`]).
    pub fn describe(&self, err: &sqlx::Error) -> String {
        fault::describe(err, &self.location)
    }

    /// Closes every pooled connection (tests and shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn connect_error(backend: Backend, location: &str, source: sqlx::Error) -> StoreError {
    StoreError::Connect {
        backend,
        location: location.to_owned(),
        cause: fault::describe(&source, location),
        source,
    }
}

/// `path` with `suffix` appended to its file name (`qcat.sqlite3-wal`).
fn sidecar(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn format_ms(ms: i64) -> String {
    u64::try_from(ms)
        .ok()
        .map(|ms| {
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(ms))
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}
