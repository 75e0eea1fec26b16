//! Sign-in throttling, kept in the store so every process (and every `qcatctl` run) counts
//! against the same limits.
//!
//! Every attempt is **charged before its password is looked at**, by one atomic upsert per
//! subject, so parallel guesses cannot all slip in before the first failure is written
//! (a read-modify-write would let them, and on SQLite would also fail with "database is
//! locked" when two readers try to upgrade to writers). Three subjects are charged:
//!
//! - one user from one place (`failed_login_limit`): the ordinary guesser;
//! - one place, any users (`failed_login_limit_per_source`): password spraying;
//! - one user, any places (`failed_login_limit_per_user`): distributed guessing.
//!
//! The per-pair limit is the low one, so a stranger's guesses lock the stranger out, not the
//! owner at their own desk; the wide limits are higher. An attempt past a limit locks the
//! subject for `lockout`, doubled for each lockout since the subject's count was last
//! cleared and capped at `max_lockout`. A success clears the user's and the pair's counts
//! and takes back its own charge on the place (the place's failures stay: one valid account
//! must not reset a spraying count). Rows whose window
//! and lock have passed are deleted, so junk names cannot grow the table.

use std::time::Duration;

use qcat_core::time::now_ms;
use qcat_store::Store;

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Attempts for one user from one place within `window`.
    pub limit: u32,
    /// Attempts from one place, whatever the user, within `window`.
    pub limit_per_source: u32,
    /// Attempts for one user, from anywhere, within `window`.
    pub limit_per_user: u32,
    pub window: Duration,
    pub lockout: Duration,
    pub max_lockout: Duration,
}

impl ThrottleSettings {
    /// Limits for tests and tools: `limit` for everything.
    pub fn uniform(limit: u32, window: Duration, lockout: Duration) -> Self {
        Self {
            limit,
            limit_per_source: limit,
            limit_per_user: limit,
            window,
            lockout,
            max_lockout: lockout.saturating_mul(16),
        }
    }
}

/// Why an attempt is refused before its password is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// "for user alice from cli:uid=1000@host", "from cli:uid=1000@host" or "for user alice".
    pub subject: String,
    pub retry_after: Duration,
}

/// The throttled subjects of one attempt: `(key, label, limit)`. `username` is `None` for a
/// name that cannot exist (wrong form): only the place is charged, so junk names add no rows.
fn subjects(
    settings: &ThrottleSettings,
    username: Option<&str>,
    place: &str,
) -> Vec<(String, String, u32)> {
    let mut subjects = vec![(
        format!("source:{place}"),
        format!("from {place}"),
        settings.limit_per_source,
    )];
    if let Some(username) = username {
        subjects.push((
            format!("pair:{username}@{place}"),
            format!("for user {username} from {place}"),
            settings.limit,
        ));
        subjects.push((
            format!("user:{username}"),
            format!("for user {username}"),
            settings.limit_per_user,
        ));
    }
    subjects
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn refusal(label: String, until: i64, now: i64) -> Refusal {
    Refusal {
        subject: label,
        retry_after: Duration::from_millis(u64::try_from(until - now).unwrap_or(0)),
    }
}

/// Counts one attempt against every subject, atomically, and says whether it may go on to
/// the password check. Call before looking at the password; clear with [`record_success`].
pub async fn charge(
    store: &Store,
    settings: &ThrottleSettings,
    username: Option<&str>,
    place: &str,
) -> Result<Option<Refusal>, sqlx::Error> {
    let now = now_ms();
    let window = millis(settings.window);
    let mut refused = None;
    for (subject, label, limit) in subjects(settings, username, place) {
        // One statement: the row lock (PostgreSQL) or the write lock (SQLite) makes
        // concurrent attempts count one after another. A locked row is not counted further.
        let (attempts, locked_until, lockouts): (i64, i64, i64) = sqlx::query_as(
            "INSERT INTO login_throttle (subject, failures, window_start_ms, locked_until_ms, lockouts) \
             VALUES ($1, 1, $2, 0, 0) \
             ON CONFLICT (subject) DO UPDATE SET \
             failures = CASE WHEN login_throttle.locked_until_ms > $2 THEN login_throttle.failures \
                             WHEN login_throttle.window_start_ms <= $2 - $3 THEN 1 \
                             ELSE login_throttle.failures + 1 END, \
             window_start_ms = CASE WHEN login_throttle.locked_until_ms > $2 THEN login_throttle.window_start_ms \
                             WHEN login_throttle.window_start_ms <= $2 - $3 THEN $2 \
                             ELSE login_throttle.window_start_ms END \
             RETURNING failures, locked_until_ms, lockouts",
        )
        .bind(&subject)
        .bind(now)
        .bind(window)
        .fetch_one(store.pool())
        .await?;
        if locked_until > now {
            refused.get_or_insert(refusal(label, locked_until, now));
            continue;
        }
        if attempts > i64::from(limit) {
            let factor = 1i64 << lockouts.clamp(0, 20);
            let until = now
                + millis(settings.lockout)
                    .saturating_mul(factor)
                    .min(millis(settings.max_lockout));
            // Only the first attempt over the limit sets the lock (and doubles the next);
            // attempts racing it find the row locked already.
            sqlx::query(
                "UPDATE login_throttle SET locked_until_ms = $1, lockouts = lockouts + 1, \
                 failures = 0, window_start_ms = $2 WHERE subject = $3 AND locked_until_ms <= $2",
            )
            .bind(until)
            .bind(now)
            .bind(&subject)
            .execute(store.pool())
            .await?;
            refused.get_or_insert(refusal(label, until, now));
        }
    }
    Ok(refused)
}

/// After a successful sign-in: clears the user's counts, and takes back the place's charge
/// for this attempt (its other failures stay: one valid account must not reset a spraying
/// count, and a desk that signs in often must not lock itself out).
pub async fn record_success(
    store: &Store,
    settings: &ThrottleSettings,
    username: &str,
    place: &str,
) -> Result<(), sqlx::Error> {
    for (subject, ..) in subjects(settings, Some(username), place) {
        let sql = if subject.starts_with("source:") {
            "UPDATE login_throttle SET failures = failures - 1 WHERE subject = $1 AND failures > 0"
        } else {
            "DELETE FROM login_throttle WHERE subject = $1"
        };
        sqlx::query(sql).bind(subject).execute(store.pool()).await?;
    }
    Ok(())
}

/// Deletes rows whose window and lock have both passed: they throttle nothing any more.
pub async fn clean_up(store: &Store, settings: &ThrottleSettings) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "DELETE FROM login_throttle WHERE locked_until_ms <= $1 AND window_start_ms <= $2",
    )
    .bind(now)
    .bind(now - millis(settings.window))
    .execute(store.pool())
    .await?;
    Ok(done.rows_affected())
}
