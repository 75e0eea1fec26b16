//! Singleton duties: one lease row per duty, taken by one member at a time for a term
//! measured on the store's clock. Each new holder gets a fencing token one higher than the
//! last; a duty's writes check (in their own transaction, [`fence`]) that the token is
//! still the current one, so a leader that was paused past its term cannot act after a
//! successor took over.

use sqlx::Any;

use super::{DUTIES_TOPIC, now_sql};
use crate::{Backend, Store, StoreError, changes};

/// A held term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub token: i64,
    /// When the term ends on the store's clock unless renewed.
    pub expires_ms: i64,
    /// True when this claim started a new term (a new token), false for a renewal.
    pub new_term: bool,
}

/// Who holds a duty.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Holder {
    pub duty: String,
    pub holder: String,
    pub token: i64,
    pub acquired_ms: i64,
    pub expires_ms: i64,
}

/// Renews `holder`'s term of `duty`, or starts a new one if the duty is free or its term
/// ran out; None while someone else holds it. `force` takes the duty even from a live term
/// (for a holder that knows its predecessor is dead: it holds the data dir's lock).
pub async fn claim(
    store: &Store,
    duty: &str,
    holder: &str,
    term_ms: i64,
    force: bool,
) -> Result<Option<Lease>, StoreError> {
    let now = now_sql(store.backend());
    let renewed: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE duty_leases SET expires_ms = {now} + $3 \
         WHERE duty = $1 AND holder = $2 AND expires_ms > {now} RETURNING token, expires_ms"
    )))
    .bind(duty)
    .bind(holder)
    .bind(term_ms)
    .fetch_optional(store.pool())
    .await?;
    if let Some((token, expires_ms)) = renewed {
        return Ok(Some(Lease {
            token,
            expires_ms,
            new_term: false,
        }));
    }
    let mut tx = store.begin_write().await?;
    let inserted: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO duty_leases (duty, holder, token, acquired_ms, expires_ms) \
         VALUES ($1, $2, 1, {now}, {now} + $3) ON CONFLICT (duty) DO NOTHING \
         RETURNING token, expires_ms"
    )))
    .bind(duty)
    .bind(holder)
    .bind(term_ms)
    .fetch_optional(&mut *tx)
    .await?;
    let taken = match inserted {
        Some(taken) => Some(taken),
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE duty_leases SET holder = $2, token = token + 1, acquired_ms = {now}, \
                 expires_ms = {now} + $3 WHERE duty = $1 AND (expires_ms <= {now} OR $4 = 1) \
                 RETURNING token, expires_ms"
            )))
            .bind(duty)
            .bind(holder)
            .bind(term_ms)
            .bind(i64::from(force))
            .fetch_optional(&mut *tx)
            .await?
        }
    };
    let Some((token, expires_ms)) = taken else {
        return Ok(None);
    };
    changes::bump(&mut tx, store.backend(), DUTIES_TOPIC).await?;
    tx.commit().await?;
    Ok(Some(Lease {
        token,
        expires_ms,
        new_term: true,
    }))
}

/// Ends `holder`'s term at once (a clean stop), so a successor need not wait it out.
pub async fn release(store: &Store, duty: &str, holder: &str) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
    let released =
        sqlx::query("UPDATE duty_leases SET expires_ms = 0 WHERE duty = $1 AND holder = $2")
            .bind(duty)
            .bind(holder)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if released > 0 {
        changes::bump(&mut tx, store.backend(), DUTIES_TOPIC).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Inside a duty's transaction: whether `token` is still `holder`'s current term of `duty`.
/// On PostgreSQL the lease row is share-locked until the transaction ends, so no successor
/// can take over between this check and the commit; on SQLite the transaction holds the
/// write lock from its start (begin it with [`Store::begin_write`](crate::Store::begin_write)).
pub async fn fence(
    tx: &mut sqlx::Transaction<'_, Any>,
    backend: Backend,
    duty: &str,
    holder: &str,
    token: i64,
) -> Result<bool, sqlx::Error> {
    let lock = match backend {
        Backend::Postgres => " FOR SHARE",
        Backend::Sqlite => "",
    };
    let now = now_sql(backend);
    let held: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT token FROM duty_leases WHERE duty = $1 AND holder = $2 AND token = $3 \
         AND expires_ms > {now}{lock}"
    )))
    .bind(duty)
    .bind(holder)
    .bind(token)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(held.is_some())
}

/// Every duty and its holder (expired terms included: `expires_ms` says).
pub async fn holders(store: &Store) -> Result<Vec<Holder>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT duty, holder, token, acquired_ms, expires_ms FROM duty_leases ORDER BY duty",
    )
    .fetch_all(store.pool())
    .await?)
}
