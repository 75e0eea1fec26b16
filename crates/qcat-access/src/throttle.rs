//! Sign-in throttling per user and per source, kept in the store so every process (and
//! every `qcatctl` run) counts against the same limits.
//!
//! `limit` failures within `window` lock the subject for `lockout`, doubled for each
//! lockout since the last success (capped at a day). A success clears the user's and the
//! source's counts.

use std::time::Duration;

use qcat_store::Store;

use qcat_core::time::now_ms;

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    pub limit: u32,
    pub window: Duration,
    pub lockout: Duration,
}

/// Why an attempt is refused before its password is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// "for user alice" or "from cli:bob@host".
    pub subject: String,
    pub retry_after: Duration,
}

const MAX_LOCKOUT_MS: i64 = 24 * 3600 * 1000;

fn subjects(username: &str, source: &str) -> [(String, String); 2] {
    [
        (format!("user:{username}"), format!("for user {username}")),
        (format!("source:{source}"), format!("from {source}")),
    ]
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Whether the user or the source is locked out now.
pub async fn check(
    store: &Store,
    username: &str,
    source: &str,
) -> Result<Option<Refusal>, sqlx::Error> {
    let now = now_ms();
    for (subject, label) in subjects(username, source) {
        let locked_until: Option<i64> =
            sqlx::query_scalar("SELECT locked_until_ms FROM login_throttle WHERE subject = $1")
                .bind(&subject)
                .fetch_optional(store.pool())
                .await?;
        if let Some(until) = locked_until.filter(|until| *until > now) {
            return Ok(Some(Refusal {
                subject: label,
                retry_after: Duration::from_millis(u64::try_from(until - now).unwrap_or(0)),
            }));
        }
    }
    Ok(None)
}

/// Counts a failed attempt against the user and the source.
pub async fn record_failure(
    store: &Store,
    settings: &ThrottleSettings,
    username: &str,
    source: &str,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = store.pool().begin().await?;
    for (subject, _) in subjects(username, source) {
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT failures, window_start_ms, lockouts FROM login_throttle WHERE subject = $1",
        )
        .bind(&subject)
        .fetch_optional(&mut *tx)
        .await?;
        let (mut failures, mut window_start, mut lockouts) = row.unwrap_or((0, now, 0));
        if now - window_start > millis(settings.window) {
            failures = 0;
            window_start = now;
        }
        failures += 1;
        let mut locked_until = 0;
        if failures >= i64::from(settings.limit) {
            let factor = 1i64 << lockouts.clamp(0, 20);
            locked_until = now
                + millis(settings.lockout)
                    .saturating_mul(factor)
                    .min(MAX_LOCKOUT_MS);
            lockouts += 1;
            failures = 0;
            window_start = now;
        }
        sqlx::query(
            "INSERT INTO login_throttle (subject, failures, window_start_ms, locked_until_ms, lockouts) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subject) DO UPDATE SET \
             failures = $2, window_start_ms = $3, locked_until_ms = $4, lockouts = $5",
        )
        .bind(&subject)
        .bind(failures)
        .bind(window_start)
        .bind(locked_until)
        .bind(lockouts)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Clears the counts after a successful sign-in.
pub async fn record_success(
    store: &Store,
    username: &str,
    source: &str,
) -> Result<(), sqlx::Error> {
    for (subject, _) in subjects(username, source) {
        sqlx::query("DELETE FROM login_throttle WHERE subject = $1")
            .bind(subject)
            .execute(store.pool())
            .await?;
    }
    Ok(())
}
