//! Schedules as configured and their runs. The scheduler duty claims each run in a
//! transaction fenced by its lease token, so a run happens once however many members
//! compute the same time.

use super::leases;
use crate::{Store, StoreError};

/// A schedule's row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScheduleRow {
    pub name: String,
    pub spec: String,
    pub time_zone: String,
    pub jitter_ms: i64,
    pub missed: String,
    pub enabled: i64,
    /// The regular (unjittered) time of the last run claimed.
    pub last_regular_ms: Option<i64>,
    pub last_started_ms: Option<i64>,
    pub last_ended_ms: Option<i64>,
    /// `ok`, `failed` or `running`.
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub last_token: Option<i64>,
    pub next_ms: Option<i64>,
}

const COLUMNS: &str = "name, spec, time_zone, jitter_ms, missed, enabled, last_regular_ms, \
    last_started_ms, last_ended_ms, last_result, last_error, last_token, next_ms";

/// Writes a schedule's configuration, keeping its run history.
pub async fn configure(
    store: &Store,
    name: &str,
    spec: &str,
    time_zone: &str,
    jitter_ms: i64,
    missed: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO schedules (name, spec, time_zone, jitter_ms, missed) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (name) DO UPDATE SET spec = $2, time_zone = $3, jitter_ms = $4, missed = $5",
    )
    .bind(name)
    .bind(spec)
    .bind(time_zone)
    .bind(jitter_ms)
    .bind(missed)
    .execute(store.pool())
    .await?;
    Ok(())
}

pub async fn list(store: &Store) -> Result<Vec<ScheduleRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM schedules ORDER BY name"
    )))
    .fetch_all(store.pool())
    .await?)
}

pub async fn get(store: &Store, name: &str) -> Result<Option<ScheduleRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM schedules WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(store.pool())
    .await?)
}

/// The fenced claim of one run: true when this holder of `duty` (still holding term
/// `token`) now owns the run at `regular_ms`; false when the run was already claimed or the
/// term is over.
pub async fn claim_run(
    store: &Store,
    name: &str,
    regular_ms: i64,
    started_ms: i64,
    fence: (&str, &str, i64),
) -> Result<bool, StoreError> {
    let (duty, holder, token) = fence;
    let mut tx = store.begin_write().await?;
    if !leases::fence(&mut tx, store.backend(), duty, holder, token).await? {
        return Ok(false);
    }
    let claimed = sqlx::query(
        "UPDATE schedules SET last_regular_ms = $2, last_started_ms = $3, last_result = 'running', \
         last_error = NULL, last_token = $4 \
         WHERE name = $1 AND (last_regular_ms IS NULL OR last_regular_ms < $2)",
    )
    .bind(name)
    .bind(regular_ms)
    .bind(started_ms)
    .bind(token)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    tx.commit().await?;
    Ok(claimed)
}

/// Records how a claimed run ended and when the next one is due.
pub async fn finish_run(
    store: &Store,
    name: &str,
    ended_ms: i64,
    error: Option<&str>,
    next_ms: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE schedules SET last_ended_ms = $2, last_result = $3, last_error = $4, next_ms = $5 \
         WHERE name = $1",
    )
    .bind(name)
    .bind(ended_ms)
    .bind(if error.is_some() { "failed" } else { "ok" })
    .bind(error)
    .bind(next_ms)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Records when the next run is due (shown in lists).
pub async fn set_next(store: &Store, name: &str, next_ms: Option<i64>) -> Result<(), StoreError> {
    sqlx::query("UPDATE schedules SET next_ms = $2 WHERE name = $1")
        .bind(name)
        .bind(next_ms)
        .execute(store.pool())
        .await?;
    Ok(())
}
