//! Processes using the store, with a heartbeat. A member whose heartbeat is older than the
//! failover time is gone: its running jobs are marked interrupted.

use crate::{Store, StoreError};

/// One process's row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Member {
    pub id: String,
    pub mode: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub started_ms: i64,
    pub heartbeat_ms: i64,
    pub stopped_ms: Option<i64>,
    /// Its task health as JSON (as of its last heartbeat).
    pub tasks: String,
}

/// Adds `member` (its heartbeat now).
pub async fn register(store: &Store, member: &Member) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO runtime_members (id, mode, host, pid, version, started_ms, heartbeat_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&member.id)
    .bind(&member.mode)
    .bind(&member.host)
    .bind(member.pid)
    .bind(&member.version)
    .bind(member.started_ms)
    .bind(member.heartbeat_ms)
    .execute(store.pool())
    .await?;
    Ok(())
}

pub async fn heartbeat(
    store: &Store,
    id: &str,
    now_ms: i64,
    tasks: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE runtime_members SET heartbeat_ms = $2, tasks = $3 WHERE id = $1")
        .bind(id)
        .bind(now_ms)
        .bind(tasks)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Marks `id` stopped (a clean exit).
pub async fn stopped(store: &Store, id: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE runtime_members SET stopped_ms = $2, heartbeat_ms = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Members still beating since `alive_since_ms`, newest first.
pub async fn alive(store: &Store, alive_since_ms: i64) -> Result<Vec<Member>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, mode, host, pid, version, started_ms, heartbeat_ms, stopped_ms, tasks \
         FROM runtime_members WHERE stopped_ms IS NULL AND heartbeat_ms >= $1 \
         ORDER BY started_ms DESC",
    )
    .bind(alive_since_ms)
    .fetch_all(store.pool())
    .await?)
}

/// Forgets members that stopped or went silent before `before_ms` (keeps the table small).
pub async fn forget_before(store: &Store, before_ms: i64) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM runtime_members WHERE heartbeat_ms < $1")
            .bind(before_ms)
            .execute(store.pool())
            .await?
            .rows_affected(),
    )
}
