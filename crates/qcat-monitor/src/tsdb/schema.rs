//! The metric store's tables, the same on both backends (types aside): `metric_series`,
//! `metric_chunks` (closed chunks, written once) and `metric_head` (each series' open chunk
//! per tier, rewritten at each flush). Applied at open with
//! `IF NOT EXISTS`; `metric_meta.schema` records the layout version so a newer layout is
//! refused rather than misread.

use sqlx::AnyPool;

use super::{MetricBackend, MetricError};

pub const SCHEMA_VERSION: i64 = 1;

const SQLITE: &str = "
CREATE TABLE IF NOT EXISTS metric_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metric_series (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    series_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    rolled_minute_ms BIGINT,
    rolled_hour_ms BIGINT,
    last_ms BIGINT
);
CREATE INDEX IF NOT EXISTS metric_series_name ON metric_series (name);
-- Closed chunks, appended in time order: a rowid table keeps the blobs densely packed
-- (a table keyed by series would split pages as every series grows at once); the unique
-- index finds a series' chunks.
CREATE TABLE IF NOT EXISTS metric_chunks (
    id INTEGER PRIMARY KEY,
    series_id BIGINT NOT NULL,
    tier BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    rows_count BIGINT NOT NULL,
    data BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS metric_chunks_key ON metric_chunks (series_id, tier, start_ms);
CREATE INDEX IF NOT EXISTS metric_chunks_expiry ON metric_chunks (tier, end_ms);
CREATE TABLE IF NOT EXISTS metric_head (
    series_id BIGINT NOT NULL,
    tier BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    rows_count BIGINT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (series_id, tier)
) WITHOUT ROWID;
";

const POSTGRES: &str = "
CREATE TABLE IF NOT EXISTS metric_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metric_series (
    id BIGSERIAL PRIMARY KEY,
    series_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    rolled_minute_ms BIGINT,
    rolled_hour_ms BIGINT,
    last_ms BIGINT
);
CREATE INDEX IF NOT EXISTS metric_series_name ON metric_series (name);
CREATE TABLE IF NOT EXISTS metric_chunks (
    series_id BIGINT NOT NULL,
    tier BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    rows_count BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (series_id, tier, start_ms)
);
CREATE INDEX IF NOT EXISTS metric_chunks_expiry ON metric_chunks (tier, end_ms);
CREATE TABLE IF NOT EXISTS metric_head (
    series_id BIGINT NOT NULL,
    tier BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    rows_count BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (series_id, tier)
);
";

pub async fn apply(pool: &AnyPool, backend: MetricBackend) -> Result<(), MetricError> {
    let ddl = match backend {
        MetricBackend::Sqlite => SQLITE,
        MetricBackend::Postgres => POSTGRES,
    };
    if backend == MetricBackend::Postgres {
        // Two processes creating the tables at once would race on the catalog.
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(7243011)")
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(ddl).execute(&mut *tx).await?;
        tx.commit().await?;
    } else {
        sqlx::raw_sql(ddl).execute(pool).await?;
    }
    let found: Option<String> =
        sqlx::query_scalar("SELECT value FROM metric_meta WHERE key = 'schema'")
            .fetch_optional(pool)
            .await?;
    match found.and_then(|text| text.parse::<i64>().ok()) {
        None => {
            sqlx::query(
                "INSERT INTO metric_meta (key, value) VALUES ('schema', $1) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(SCHEMA_VERSION.to_string())
            .execute(pool)
            .await?;
        }
        Some(version) if version > SCHEMA_VERSION => {
            return Err(MetricError::NewerLayout(version));
        }
        Some(_) => {}
    }
    Ok(())
}
