//! Retention: entries older than `retention_days` are deleted, a checkpoint keeps the hash
//! of the last deleted entry, and an `audit.pruned` entry in the chain confirms the
//! checkpoint, so the remaining chain still verifies and a forged checkpoint does not.

use qcat_store::Store;
use serde::{Deserialize, Serialize};

use crate::event::{AuditEvent, Outcome};
use crate::{AuditError, chain};

pub const PRUNED_ACTION: &str = "audit.pruned";

/// What the pruning entry records (its `after`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneMarker {
    pub up_to_seq: i64,
    pub hash: String,
    pub pruned: i64,
}

/// Deletes the entries written before `cutoff_ms` (by sequence: everything up to the last
/// entry older than the cutoff). Returns what was pruned, or `None` when nothing was old.
pub async fn prune(
    store: &Store,
    cutoff_ms: i64,
    source: &str,
) -> Result<Option<PruneMarker>, AuditError> {
    let mut tx = store.begin_write().await?;
    // Lock the chain before reading it, like every append.
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    let cut: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log WHERE at_ms < $1")
        .bind(cutoff_ms)
        .fetch_one(&mut *tx)
        .await?;
    let Some(cut) = cut else {
        return Ok(None);
    };
    let hash: String = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(cut)
        .fetch_one(&mut *tx)
        .await?;
    let pruned = sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
        .bind(cut)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let marker = PruneMarker {
        up_to_seq: cut,
        hash: hash.clone(),
        pruned: i64::try_from(pruned).unwrap_or(i64::MAX),
    };
    sqlx::query("INSERT INTO audit_checkpoints (seq, hash, at_ms, pruned) VALUES ($1, $2, $3, $4)")
        .bind(cut)
        .bind(&hash)
        .bind(crate::now_ms())
        .bind(marker.pruned)
        .execute(&mut *tx)
        .await?;
    let event = AuditEvent::new(
        "-",
        PRUNED_ACTION,
        format!("seq:1-{cut}"),
        source,
        Outcome::Ok,
    )
    .detail(format!("retention removed {pruned} entries up to {cut}"))
    .change(None, serde_json::to_value(&marker).ok());
    chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    Ok(Some(marker))
}
