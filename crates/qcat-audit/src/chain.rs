//! The hash chain. Entry `n` stores `prev_hash` (entry `n-1`'s hash, or the checkpoint's
//! after pruning, or 64 zeros for the first) and `hash` = SHA-256 over its sequence number,
//! every field and `prev_hash`, each length-prefixed so no two entries encode alike.
//!
//! Appending locks the `audit_head` row first, so writers in several processes (team mode)
//! take turns and the chain stays a line.

use sha2::{Digest, Sha256};
use sqlx::Any;

use crate::event::{AuditEntry, AuditEvent};

/// `prev_hash` of the very first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Rows per INSERT statement: 13 parameters each stays far below both backends' limits.
const ROWS_PER_STATEMENT: usize = 50;

/// The hash an entry with these fields must have.
pub fn entry_hash(entry: &AuditEntry) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: Option<&[u8]>| match bytes {
        Some(bytes) => {
            hasher.update([1u8]);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        None => hasher.update([0u8]),
    };
    field(Some(entry.seq.to_string().as_bytes()));
    field(Some(entry.at_ms.to_string().as_bytes()));
    field(Some(entry.actor.as_bytes()));
    field(Some(entry.action.as_bytes()));
    field(Some(entry.target.as_bytes()));
    field(Some(entry.source.as_bytes()));
    field(Some(entry.outcome.as_bytes()));
    field(Some(entry.detail.as_bytes()));
    field(entry.before.as_deref().map(str::as_bytes));
    field(entry.after.as_deref().map(str::as_bytes));
    field(Some(entry.prev_hash.as_bytes()));
    hex::encode(hasher.finalize())
}

/// The change-counter topic bumped by every append.
pub const AUDIT_TOPIC: &str = "audit";

/// Appends `events` to the chain inside `tx`; they become durable when `tx` commits.
/// Returns the entries as stored.
pub async fn append(
    tx: &mut sqlx::Transaction<'_, Any>,
    events: &[AuditEvent],
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // Take the chain's lock: a row lock on PostgreSQL, the database write lock on SQLite.
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    // Windows showing the trail follow this counter (after the lock: one writer at a time).
    qcat_store::changes::bump_here(tx, AUDIT_TOPIC).await?;
    let (mut seq, mut prev_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut **tx)
            .await?;
    let mut entries = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let mut entry = AuditEntry {
            seq,
            at_ms: event.at_ms,
            actor: event.actor.clone(),
            action: event.action.clone(),
            target: event.target.clone(),
            source: event.source.clone(),
            outcome: event.outcome.as_str().to_owned(),
            detail: event.detail.clone(),
            before: event.before.as_ref().map(ToString::to_string),
            after: event.after.as_ref().map(ToString::to_string),
            prev_hash: prev_hash.clone(),
            hash: String::new(),
        };
        entry.hash = entry_hash(&entry);
        prev_hash = entry.hash.clone();
        entries.push(entry);
    }
    let ids: Vec<Option<&str>> = events.iter().map(|event| event.id.as_deref()).collect();
    for (chunk, ids) in entries
        .chunks(ROWS_PER_STATEMENT)
        .zip(ids.chunks(ROWS_PER_STATEMENT))
    {
        insert_rows(tx, chunk, ids).await?;
    }
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&prev_hash)
        .execute(&mut **tx)
        .await?;
    Ok(entries)
}

async fn insert_rows(
    tx: &mut sqlx::Transaction<'_, Any>,
    rows: &[AuditEntry],
    ids: &[Option<&str>],
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO audit_log ({}, event_id) VALUES {}",
        crate::event::COLUMNS,
        qcat_store::placeholders::rows(1, rows.len(), 13)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (row, id) in rows.iter().zip(ids) {
        query = query
            .bind(row.seq)
            .bind(row.at_ms)
            .bind(&row.actor)
            .bind(&row.action)
            .bind(&row.target)
            .bind(&row.source)
            .bind(&row.outcome)
            .bind(&row.detail)
            .bind(&row.before)
            .bind(&row.after)
            .bind(&row.prev_hash)
            .bind(&row.hash)
            .bind(id.map(str::to_owned));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AuditEntry {
        AuditEntry {
            seq: 7,
            at_ms: 1_700_000_000_000,
            actor: "alice".into(),
            action: "rbac.role.grant".into(),
            target: "role:ops".into(),
            source: "desktop:host".into(),
            outcome: "ok".into(),
            detail: String::new(),
            before: Some("[]".into()),
            after: Some("[\"backup:restore\"]".into()),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = entry_hash(&sample());
        let edits: Vec<fn(&mut AuditEntry)> = vec![
            |e| e.seq += 1,
            |e| e.at_ms += 1,
            |e| e.actor.push('x'),
            |e| e.action.push('x'),
            |e| e.target.push('x'),
            |e| e.source.push('x'),
            |e| e.outcome = "denied".into(),
            |e| e.detail.push('x'),
            |e| e.before = None,
            |e| e.after = Some("[]".into()),
            |e| e.prev_hash = "1".repeat(64),
        ];
        for (index, edit) in edits.into_iter().enumerate() {
            let mut changed = sample();
            edit(&mut changed);
            assert_ne!(entry_hash(&changed), base, "edit {index} went unnoticed");
        }
    }

    #[test]
    fn moving_text_between_fields_changes_the_hash() {
        // Length prefixes: "ab" + "c" must not hash like "a" + "bc".
        let mut one = sample();
        one.actor = "ab".into();
        one.action = "c".into();
        let mut two = sample();
        two.actor = "a".into();
        two.action = "bc".into();
        assert_ne!(entry_hash(&one), entry_hash(&two));
    }
}
