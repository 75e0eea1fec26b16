//! What the alerting duty forgets, every hour, after `alerting.history_retention`: resolved
//! episodes, notifications that were sent or became dead letters, silences that ended, and
//! notification-log entries — Alertmanager's `--data.retention` for its notification log
//! and silences, applied to the history and the delivery log as well. A queued
//! notification and an alert still firing are kept whatever their age: nothing unsaid is
//! forgotten.

use qcat_store::Store;

/// How many rows of each kind one pruning deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub episodes: u64,
    pub notifications: u64,
    pub silences: u64,
    pub nflog: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.episodes + self.notifications + self.silences + self.nflog
    }
}

/// Deletes what ended before `cutoff_ms`, in one transaction.
pub async fn prune(store: &Store, cutoff_ms: i64) -> Result<Pruned, sqlx::Error> {
    const DELETES: [&str; 4] = [
        "DELETE FROM alert_episodes WHERE ends_ms IS NOT NULL AND ends_ms < $1",
        "DELETE FROM alert_outbox WHERE state IN ('sent', 'dead') AND created_ms < $1",
        "DELETE FROM alert_silences WHERE ends_ms < $1",
        "DELETE FROM alert_nflog WHERE notified_ms < $1",
    ];
    let mut tx = store.begin_write().await?;
    let mut counts = [0; 4];
    for (sql, count) in DELETES.into_iter().zip(&mut counts) {
        *count = sqlx::query(sql)
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    let [episodes, notifications, silences, nflog] = counts;
    Ok(Pruned {
        episodes,
        notifications,
        silences,
        nflog,
    })
}
