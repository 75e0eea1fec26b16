//! Sign-in throttling, kept in the store so every process (and every `qcatctl` run) counts
//! against the same limits.
//!
//! Three subjects are counted for each attempt:
//!
//! - one user from one place (`failed_login_limit`): the ordinary guesser;
//! - one place, any users (`failed_login_limit_per_source`): password spraying;
//! - one user, any places (`failed_login_limit_per_user`): distributed guessing.
//!
//! The per-pair limit is the low one, so a stranger's guesses lock the stranger out, not the
//! owner at their own desk; the wide limits are higher.
//!
//! **An attempt takes a slot in every subject before its password is looked at**, and gives
//! it back when it is settled. A subject has `limit` slots, minus its failures in the
//! current window: so parallel guesses cannot all slip in before the first failure is
//! written, and at most the limit's worth of unverified passwords are ever checked. An
//! attempt that finds no free slot waits (up to [`MAX_WAIT`]) for those in flight, which is
//! what makes several scripts signing in at once with the right password all succeed. Each
//! subject is read and written under its row lock (PostgreSQL `FOR UPDATE`, SQLite's write
//! lock taken by the transaction's first statement).
//!
//! When failures reach the limit the subject is locked for `lockout`, doubled for each
//! lockout since its count was last cleared and capped at `max_lockout`. A success clears
//! the user's and the pair's counts, and gives back its slot on the place (the place's
//! failures stay: one valid account must not reset a spraying count). A window that has
//! passed starts the count anew; rows whose window and lock have passed are deleted.
//! A process killed mid-attempt holds its slot until the window passes.

use std::time::Duration;

use qcat_core::time::now_ms;
use qcat_store::{Backend, Store};

/// How long an attempt waits for a free slot before it is refused.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

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

/// The slots an attempt holds; settle it with [`settle`].
#[derive(Debug)]
#[must_use = "an attempt's slots are given back by settle"]
pub struct Attempt {
    subjects: Vec<Subject>,
}

#[derive(Debug, Clone)]
struct Subject {
    key: String,
    label: String,
    limit: i64,
    /// The place itself (its failures survive a success).
    place: bool,
}

/// The subjects of one attempt. `username` is `None` for a name that cannot exist (wrong
/// form): only the place is counted, so junk names add no rows.
fn subjects(settings: &ThrottleSettings, username: Option<&str>, place: &str) -> Vec<Subject> {
    let mut subjects = vec![Subject {
        key: format!("source:{place}"),
        label: format!("from {place}"),
        limit: i64::from(settings.limit_per_source),
        place: true,
    }];
    if let Some(username) = username {
        subjects.push(Subject {
            key: format!("pair:{username}@{place}"),
            label: format!("for user {username} from {place}"),
            limit: i64::from(settings.limit),
            place: false,
        });
        subjects.push(Subject {
            key: format!("user:{username}"),
            label: format!("for user {username}"),
            limit: i64::from(settings.limit_per_user),
            place: false,
        });
    }
    subjects
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A subject's row as read under its lock.
struct Row {
    failures: i64,
    pending: i64,
    window_start: i64,
    locked_until: i64,
    lockouts: i64,
}

/// Reads `subject`'s row inside `tx` under its lock (creating the row). Subjects are always
/// locked in the same order (place, pair, user), so two attempts never deadlock.
async fn lock_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    subject: &str,
    now: i64,
) -> Result<Row, sqlx::Error> {
    // A write first: on SQLite it takes the write lock at once (a read first would have
    // to upgrade later and could fail with "database is locked" instead of waiting).
    sqlx::query(
        "INSERT INTO login_throttle (subject, failures, window_start_ms, locked_until_ms, lockouts, pending) \
         VALUES ($1, 0, $2, 0, 0, 0) ON CONFLICT (subject) DO NOTHING",
    )
    .bind(subject)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let (failures, pending, window_start, locked_until, lockouts): (i64, i64, i64, i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT failures, pending, window_start_ms, locked_until_ms, lockouts \
             FROM login_throttle WHERE subject = $1{lock}"
        )))
        .bind(subject)
        .fetch_one(&mut **tx)
        .await?;
    Ok(Row {
        failures,
        pending,
        window_start,
        locked_until,
        lockouts,
    })
}

async fn write_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    subject: &str,
    row: &Row,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE login_throttle SET failures = $1, pending = $2, window_start_ms = $3, \
         locked_until_ms = $4, lockouts = $5 WHERE subject = $6",
    )
    .bind(row.failures)
    .bind(row.pending)
    .bind(row.window_start)
    .bind(row.locked_until)
    .bind(row.lockouts)
    .bind(subject)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What taking the slots found.
enum Take {
    Taken,
    /// This subject is locked until then.
    Locked(usize, i64),
    /// This subject's slots are all in flight.
    Full(usize),
}

/// Takes a slot in every subject at once, in one transaction: all or none.
async fn take_slots(
    store: &Store,
    settings: &ThrottleSettings,
    subjects: &[Subject],
) -> Result<Take, sqlx::Error> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    let mut rows = Vec::with_capacity(subjects.len());
    for (index, subject) in subjects.iter().enumerate() {
        let mut row = lock_row(&mut tx, store.backend(), &subject.key, now).await?;
        if row.locked_until > now {
            return Ok(Take::Locked(index, row.locked_until));
        }
        if row.window_start <= now - millis(settings.window) {
            // A new window: old failures and slots leaked by killed processes are forgotten.
            row.failures = 0;
            row.pending = 0;
            row.window_start = now;
        }
        if row.failures >= subject.limit {
            // Reached by failures settled meanwhile; settle sets the lock itself, so this is
            // only a lock whose write was lost.
            return Ok(Take::Locked(index, now + lockout(settings, row.lockouts)));
        }
        if row.failures + row.pending >= subject.limit {
            return Ok(Take::Full(index));
        }
        row.pending += 1;
        rows.push(row);
    }
    for (subject, row) in subjects.iter().zip(&rows) {
        write_row(&mut tx, &subject.key, row).await?;
    }
    tx.commit().await?;
    Ok(Take::Taken)
}

fn lockout(settings: &ThrottleSettings, lockouts: i64) -> i64 {
    let factor = 1i64 << lockouts.clamp(0, 20);
    millis(settings.lockout)
        .saturating_mul(factor)
        .min(millis(settings.max_lockout))
}

/// Takes a slot in every subject of this attempt, waiting for attempts in flight when the
/// free slots are taken. Call before looking at the password; settle the attempt with
/// [`settle`] when it is decided. `Err(Refusal)` when a subject is locked or no slot came
/// free within [`MAX_WAIT`]; nothing is held then.
pub async fn charge(
    store: &Store,
    settings: &ThrottleSettings,
    username: Option<&str>,
    place: &str,
) -> Result<Result<Attempt, Refusal>, sqlx::Error> {
    let subjects = subjects(settings, username, place);
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    let mut pause = Duration::from_millis(10);
    loop {
        match take_slots(store, settings, &subjects).await? {
            Take::Taken => return Ok(Ok(Attempt { subjects })),
            Take::Locked(index, until) => {
                let now = now_ms();
                return Ok(Err(Refusal {
                    subject: subjects[index].label.clone(),
                    retry_after: Duration::from_millis(u64::try_from(until - now).unwrap_or(0)),
                }));
            }
            Take::Full(_) if tokio::time::Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Take::Full(index) => {
                return Ok(Err(Refusal {
                    subject: subjects[index].label.clone(),
                    retry_after: Duration::from_secs(1),
                }));
            }
        }
    }
}

/// Settles an attempt, giving back its slots, in one transaction: a failure counts in every
/// subject (locking those that reach their limit); a success clears the user's and the
/// pair's failures.
pub async fn settle(
    store: &Store,
    settings: &ThrottleSettings,
    attempt: Attempt,
    succeeded: bool,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    for subject in &attempt.subjects {
        let mut row = lock_row(&mut tx, store.backend(), &subject.key, now).await?;
        row.pending = (row.pending - 1).max(0);
        if succeeded && !subject.place {
            // The user proved who they are: their failures and lockout history go. (The row
            // stays for attempts still in flight; clean_up removes it later.)
            row.failures = 0;
            row.lockouts = 0;
        } else if !succeeded {
            row.failures += 1;
            if row.failures >= subject.limit && row.locked_until <= now {
                row.locked_until = now + lockout(settings, row.lockouts);
                row.lockouts += 1;
                row.failures = 0;
                row.pending = 0;
                row.window_start = now;
            }
        }
        write_row(&mut tx, &subject.key, &row).await?;
    }
    tx.commit().await
}

/// [`clean_up`] at most once a minute per process, called on sign-in.
pub async fn clean_up_now_and_then(store: &Store, settings: &ThrottleSettings) {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_ms();
    let last = LAST.load(Ordering::Relaxed);
    if now - last < 60_000
        || LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    if let Err(err) = clean_up(store, settings).await {
        tracing::warn!(error = %err, "old sign-in throttle rows were not cleaned up");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_double_and_stop_at_the_cap() {
        // Repeated bursts used to push a lockout to 24 h, locking the owner out for a day.
        let settings = ThrottleSettings {
            max_lockout: Duration::from_secs(15 * 60),
            ..ThrottleSettings::uniform(5, Duration::from_secs(900), Duration::from_secs(60))
        };
        let minutes: Vec<i64> = (0..8).map(|n| lockout(&settings, n) / 60_000).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 15, 15, 15, 15]);
        assert_eq!(
            lockout(&settings, 1_000),
            15 * 60_000,
            "no overflow, still capped"
        );
    }
}
