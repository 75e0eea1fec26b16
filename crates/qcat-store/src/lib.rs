//! Storage for QCAT Console through sqlx's `Any` driver: one query text runs on the embedded
//! SQLite file and on a shared PostgreSQL (team mode).
//!
//! Queries use `$1`-style placeholders and portable SQL (both backends accept them); the
//! schema is kept per backend under `migrations/{sqlite,postgres}` because DDL differs.
//! Migrations are embedded, append-only, and run when a store is opened.

pub mod changes;
mod target;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyPool, Executor};

pub use target::{Backend, StoreTarget};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Pool size and timeouts; built from the `[database]` config section.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the {backend} store at {location}: {source}")]
    Connect {
        backend: Backend,
        location: String,
        #[source]
        source: sqlx::Error,
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
    #[error("storage query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("invalid database.url: {0}")]
    InvalidUrl(String),
}

impl StoreError {
    pub fn code(&self) -> qcat_core::ErrorCode {
        use qcat_core::ErrorCode;
        match self {
            StoreError::Connect { .. } | StoreError::Query(_) => ErrorCode::StorageUnavailable,
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
    /// Connects (creating the SQLite file if missing) and applies pending migrations.
    pub async fn open(target: &StoreTarget, options: &StoreOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = target.backend();
        let location = target.display_location();
        let connect_options: AnyConnectOptions =
            target
                .connect_url()?
                .parse()
                .map_err(|source| StoreError::Connect {
                    backend,
                    location: location.clone(),
                    source,
                })?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.connect_timeout);
        if backend == Backend::Sqlite {
            // Connection settings the SQLite URL cannot carry: WAL so readers never block
            // the writer, durable commits, enforced foreign keys, and a wait instead of an
            // immediate "database is locked" when the agent and the console write together.
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(connect_options)
            .await
            .map_err(|source| StoreError::Connect {
                backend,
                location: location.clone(),
                source,
            })?;
        let listen_url = match target {
            StoreTarget::Postgres(_) => Some(target.connect_url()?.into()),
            StoreTarget::Sqlite(_) => None,
        };
        let store = Self {
            pool,
            backend,
            location,
            listen_url,
        };
        store.migrate().await?;
        store.ensure_instance_row().await?;
        tracing::info!(backend = %store.backend, location = %store.location, "store opened");
        Ok(store)
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

    /// A round trip to the store, bounded by `timeout`.
    pub async fn health(&self, timeout: Duration) -> Health {
        let started = Instant::now();
        let probe = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&self.pool);
        let error = match tokio::time::timeout(timeout, probe).await {
            Ok(Ok(_)) => None,
            Ok(Err(err)) => Some(err.to_string()),
            Err(_) => Some(format!("no answer within {} ms", timeout.as_millis())),
        };
        Health {
            reachable: error.is_none(),
            round_trip: started.elapsed(),
            error,
        }
    }

    /// Closes every pooled connection (tests and shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
