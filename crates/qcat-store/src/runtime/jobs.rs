//! Job rows: what a long action is, who started it where, how far it got and how it ended.
//! The process running a job writes its progress about once a second; its window gets
//! the finer progress through the event bus.

use super::JOBS_TOPIC;
use crate::{Store, StoreError, changes};

/// A job as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    /// `running`, `succeeded`, `failed`, `cancelled` or `interrupted`.
    pub state: String,
    pub actor: String,
    /// The member (process) running it.
    pub member: String,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub done: i64,
    pub total: Option<i64>,
    pub unit: String,
    pub phase: String,
    /// JSON: what it produced.
    pub result: Option<String>,
    pub error: Option<String>,
}

const COLUMNS: &str =
    "id, kind, state, actor, member, started_ms, ended_ms, done, total, unit, phase, result, error";

pub async fn insert(store: &Store, job: &JobRow) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO jobs (id, kind, state, actor, member, started_ms, done, total, unit, phase) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&job.id)
    .bind(&job.kind)
    .bind(&job.state)
    .bind(&job.actor)
    .bind(&job.member)
    .bind(job.started_ms)
    .bind(job.done)
    .bind(job.total)
    .bind(&job.unit)
    .bind(&job.phase)
    .execute(&mut *tx)
    .await?;
    changes::bump(&mut tx, store.backend(), JOBS_TOPIC).await?;
    tx.commit().await?;
    Ok(())
}

/// Records progress of a running job (a no-op once it ended).
pub async fn progress(
    store: &Store,
    id: &str,
    done: i64,
    total: Option<i64>,
    phase: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE jobs SET done = $2, total = $3, phase = $4 WHERE id = $1 AND state = 'running'",
    )
    .bind(id)
    .bind(done)
    .bind(total)
    .bind(phase)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Ends a running job in `state` with its result or error.
pub async fn finish(
    store: &Store,
    id: &str,
    state: &str,
    ended_ms: i64,
    done: i64,
    result: Option<&str>,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "UPDATE jobs SET state = $2, ended_ms = $3, done = $4, result = $5, error = $6 \
         WHERE id = $1 AND state = 'running'",
    )
    .bind(id)
    .bind(state)
    .bind(ended_ms)
    .bind(done)
    .bind(result)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    changes::bump(&mut tx, store.backend(), JOBS_TOPIC).await?;
    tx.commit().await?;
    Ok(())
}

/// Marks interrupted every running job whose member is not among `alive` (their process
/// died without ending them); returns how many.
pub async fn interrupt_orphans(
    store: &Store,
    alive: &[String],
    now_ms: i64,
) -> Result<u64, StoreError> {
    let mut tx = store.begin_write().await?;
    let running: Vec<(String, String)> =
        sqlx::query_as("SELECT id, member FROM jobs WHERE state = 'running'")
            .fetch_all(&mut *tx)
            .await?;
    let mut interrupted = 0;
    for (id, member) in running {
        if alive.contains(&member) {
            continue;
        }
        interrupted += sqlx::query(
            "UPDATE jobs SET state = 'interrupted', ended_ms = $2, \
             error = 'the process running it stopped before it ended (crash, kill or power loss)' \
             WHERE id = $1 AND state = 'running'",
        )
        .bind(&id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    if interrupted > 0 {
        changes::bump(&mut tx, store.backend(), JOBS_TOPIC).await?;
    }
    tx.commit().await?;
    Ok(interrupted)
}

/// The newest `limit` jobs, newest first.
pub async fn recent(store: &Store, limit: i64) -> Result<Vec<JobRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs ORDER BY started_ms DESC, id DESC LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}

pub async fn get(store: &Store, id: &str) -> Result<Option<JobRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(store.pool())
    .await?)
}

/// Deletes jobs that ended before `before_ms` (the list keeps a month; the audit trail keeps
/// what a job did that matters).
pub async fn forget_ended_before(store: &Store, before_ms: i64) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM jobs WHERE state <> 'running' AND ended_ms < $1")
            .bind(before_ms)
            .execute(store.pool())
            .await?
            .rows_affected(),
    )
}
