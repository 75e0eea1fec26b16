//! Walks the chain from its start (or the retention checkpoint) to the head and names the
//! first entry that does not hold.

use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use qcat_store::Store;

use crate::AuditError;
use crate::chain::{GENESIS, entry_hash};
use crate::event::{AuditEntry, COLUMNS, EntryRow};

/// Rows read per query, so a million entries never sit in memory at once.
const PAGE: i64 = 5_000;

/// A chain that holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// Where retention cut the chain, if it did.
    pub checkpoint_seq: Option<i64>,
}

/// The first place the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {seq}: {problem}")]
pub struct Broken {
    pub seq: i64,
    pub problem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Broken(#[from] Broken),
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Stopped on request before the end; `checked` entries held so far.
    #[error("verification cancelled after {checked} entries")]
    Cancelled { checked: u64 },
}

impl From<sqlx::Error> for VerifyError {
    fn from(err: sqlx::Error) -> Self {
        VerifyError::Audit(AuditError::Query(err))
    }
}

fn broken(seq: i64, problem: impl Into<String>) -> VerifyError {
    VerifyError::Broken(Broken {
        seq,
        problem: problem.into(),
    })
}

pub async fn verify(store: &Store) -> Result<Verified, VerifyError> {
    verify_with(
        store,
        &Progress::silent("entries"),
        &CancellationToken::new(),
    )
    .await
}

/// [`verify`] reporting entries checked to `progress` and stopping when `cancel` fires.
pub async fn verify_with(
    store: &Store,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<Verified, VerifyError> {
    let pool = store.pool();
    let (head_seq, head_hash): (i64, String) =
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(pool)
            .await?;
    let checkpoints: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_checkpoints ORDER BY seq")
            .fetch_all(pool)
            .await?;
    let mut expected_seq: Option<i64> = None;
    let mut expected_prev = GENESIS.to_owned();
    let mut checkpoint_seq = None;
    let mut first_seq = None;
    let mut count = 0u64;
    // Prune markers found in the chain: (up_to, hash) pairs retention wrote.
    let mut markers: Vec<(i64, String)> = Vec::new();
    let first: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM audit_log")
        .fetch_one(pool)
        .await?;
    progress.set_total(first.map_or(0, |first| (head_seq - first + 1).max(0) as u64));
    progress.phase("hashing");
    // Pages are read ahead while the previous page is hashed on blocking threads (the
    // reader and the hashing loop run together in this future); entries appended after
    // the head was read are not part of this check.
    let (pages, next_page) = tokio::sync::mpsc::channel(2);
    let reader = async move {
        let mut after = 0i64;
        loop {
            let rows: Result<Vec<EntryRow>, sqlx::Error> = sqlx::query_as(sqlx::AssertSqlSafe(
                format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"),
            ))
            .bind(after)
            .bind(head_seq)
            .bind(PAGE)
            .fetch_all(pool)
            .await;
            let done = match &rows {
                Ok(rows) => rows.last().map(|row| after = row.0).is_none(),
                Err(_) => true,
            };
            if pages.send(rows).await.is_err() || done {
                break;
            }
        }
    };
    let walk = async {
        // Owned here, so an early return (a break found, a cancel) drops it and the reader,
        // blocked on a full channel, ends too.
        let mut next_page = next_page;
        while let Some(rows) = next_page.recv().await {
            if cancel.is_cancelled() {
                return Err(VerifyError::Cancelled { checked: count });
            }
            let rows = rows?;
            if rows.is_empty() {
                break;
            }
            let (entries, intact) = tokio::task::spawn_blocking(move || hash_page(rows))
                .await
                .map_err(|err| AuditError::NotRecorded(format!("verification stopped: {err}")))?;
            for (entry, intact) in entries.into_iter().zip(intact) {
                match expected_seq {
                    None => {
                        first_seq = Some(entry.seq);
                        if entry.seq != 1 {
                            // Retention must have cut here, and said so.
                            let cut = entry.seq - 1;
                            let Some((_, hash)) = checkpoints.iter().find(|(seq, _)| *seq == cut)
                            else {
                                return Err(broken(
                                    1,
                                    format!(
                                        "entries 1 to {cut} are missing and no retention checkpoint explains it"
                                    ),
                                ));
                            };
                            expected_prev = hash.clone();
                            checkpoint_seq = Some(cut);
                        }
                    }
                    Some(expected) if entry.seq != expected => {
                        return Err(broken(
                            expected,
                            format!("missing (deleted?): the next entry is {}", entry.seq),
                        ));
                    }
                    Some(_) => {}
                }
                if entry.prev_hash != expected_prev {
                    return Err(broken(
                        entry.seq,
                        "does not follow the entry before it (reordered, inserted or the one before was replaced)",
                    ));
                }
                if !intact {
                    return Err(broken(
                        entry.seq,
                        "its contents were changed after it was written",
                    ));
                }
                if entry.action == crate::retention::PRUNED_ACTION
                    && let Some(after) = &entry.after
                    && let Ok(marker) = serde_json::from_str::<crate::retention::PruneMarker>(after)
                {
                    markers.push((marker.up_to_seq, marker.hash));
                }
                expected_prev = entry.hash.clone();
                expected_seq = Some(entry.seq + 1);
                count += 1;
            }
            progress.set_done(count);
        }
        Ok::<_, VerifyError>((
            expected_seq,
            expected_prev,
            first_seq,
            checkpoint_seq,
            count,
            markers,
        ))
    };
    let ((), walked) = tokio::join!(reader, walk);
    let (expected_seq, expected_prev, first_seq, checkpoint_seq, count, markers) = walked?;
    progress.finish();
    let last_seq = expected_seq.map(|next| next - 1);
    match last_seq {
        Some(last) if last < head_seq => {
            return Err(broken(
                last + 1,
                format!("missing (deleted?): the chain's head says entries run to {head_seq}"),
            ));
        }
        Some(last) if last > head_seq || expected_prev != head_hash => {
            return Err(broken(last, "does not match the chain's recorded head"));
        }
        None if head_seq > 0 => {
            return Err(broken(
                head_seq,
                "missing (deleted?): the log is empty but the chain's head says it is not",
            ));
        }
        _ => {}
    }
    // Rows beyond the head are either appended since the walk started (the head has moved
    // on with them) or slipped in without extending the chain.
    let (beyond, now_head): (Option<i64>, i64) = (
        sqlx::query_scalar("SELECT MAX(seq) FROM audit_log")
            .fetch_one(pool)
            .await?,
        sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(pool)
            .await?,
    );
    if let Some(max) = beyond.filter(|max| *max > now_head) {
        return Err(broken(
            now_head + 1,
            format!("entries up to {max} lie beyond the chain's head (inserted?)"),
        ));
    }
    if let Some(cut) = checkpoint_seq
        && !markers.iter().any(|(up_to, hash)| {
            *up_to == cut
                && Some(hash)
                    == checkpoints
                        .iter()
                        .find(|(seq, _)| *seq == cut)
                        .map(|(_, h)| h)
        })
    {
        return Err(broken(
            cut + 1,
            "the retention checkpoint before it is not confirmed by a pruning entry in the chain",
        ));
    }
    Ok(Verified {
        entries: count,
        first_seq,
        last_seq,
        checkpoint_seq,
    })
}

/// The page's entries and, for each, whether its stored hash is the hash of its fields:
/// computed on two threads (the expensive part of a verification).
fn hash_page(rows: Vec<EntryRow>) -> (Vec<AuditEntry>, Vec<bool>) {
    let entries: Vec<AuditEntry> = rows.into_iter().map(AuditEntry::from).collect();
    let check = |chunk: &[AuditEntry]| -> Vec<bool> {
        chunk
            .iter()
            .map(|entry| entry_hash(entry) == entry.hash)
            .collect()
    };
    let (front, back) = entries.split_at(entries.len() / 2);
    let intact = std::thread::scope(|scope| {
        let front = scope.spawn(|| check(front));
        let mut back = check(back);
        let mut intact = front.join().expect("hashing does not panic");
        intact.append(&mut back);
        intact
    });
    (entries, intact)
}
