//! The durable outbox in the console's store: every notification a receiver's integration
//! must get is a row, enqueued once by its key (the same key enqueued again changes
//! nothing — deduplication), claimed for an attempt by the process that leads delivery
//! (fenced by its lease, and for at most the claim's time: a sender killed mid-attempt
//! leaves the row to be claimed again), then marked sent, rescheduled with the attempt's
//! error, or made a dead letter once its retries are spent. Dead letters are listed and can
//! be queued again. Nothing is deleted while unsent.

use qcat_store::Store;
use sqlx::Row;

/// The change counter windows follow for the delivery log.
pub const TOPIC: &str = "alerts";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Queued,
    Sent,
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Dead => "dead",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "sent" => Self::Sent,
            "dead" => Self::Dead,
            _ => Self::Queued,
        }
    }
}

/// One notification for one integration of a receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// The notification key: receiver, integration, group, status and the group's
    /// notification sequence — what makes two enqueues the same notification.
    pub key: String,
    pub receiver: String,
    /// Which of the receiver's integrations (`dingtalk_configs[0]`).
    pub integration: String,
    /// The notification as JSON.
    pub payload: String,
    pub state: OutboxState,
    pub attempts: i64,
    pub due_ms: i64,
    pub created_ms: i64,
    pub sent_ms: Option<i64>,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "key, receiver, integration, payload, state, attempts, due_ms, created_ms, \
                       sent_ms, last_error";

fn from_row(row: &sqlx::any::AnyRow) -> Result<OutboxRow, sqlx::Error> {
    let state: String = row.try_get(4)?;
    Ok(OutboxRow {
        key: row.try_get(0)?,
        receiver: row.try_get(1)?,
        integration: row.try_get(2)?,
        payload: row.try_get(3)?,
        state: OutboxState::parse(&state),
        attempts: row.try_get(5)?,
        due_ms: row.try_get(6)?,
        created_ms: row.try_get(7)?,
        sent_ms: row.try_get(8)?,
        last_error: row.try_get(9)?,
    })
}

/// The lease a delivery write is made under.
#[derive(Debug, Clone)]
pub struct Fence {
    pub duty: &'static str,
    pub holder: String,
    pub token: i64,
}

async fn fenced(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    store: &Store,
    fence: &Fence,
) -> Result<bool, sqlx::Error> {
    qcat_store::runtime::leases::fence(tx, store.backend(), fence.duty, &fence.holder, fence.token)
        .await
}

/// Enqueues notifications (each due at its `due_ms`); a key already in the outbox is left
/// as it is. Returns how many were new.
pub async fn enqueue(store: &Store, rows: &[OutboxRow]) -> Result<u64, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    let added = enqueue_in(&mut tx, rows).await?;
    if added > 0 {
        qcat_store::changes::bump(&mut tx, store.backend(), TOPIC).await?;
    }
    tx.commit().await?;
    Ok(added)
}

/// [`enqueue`] inside the caller's transaction (the caller bumps the topic).
pub async fn enqueue_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[OutboxRow],
) -> Result<u64, sqlx::Error> {
    let mut added = 0;
    for row in rows {
        added += sqlx::query(
            "INSERT INTO alert_outbox (key, receiver, integration, payload, state, attempts, \
             due_ms, created_ms) VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(&row.key)
        .bind(&row.receiver)
        .bind(&row.integration)
        .bind(&row.payload)
        .bind(row.due_ms)
        .bind(row.created_ms)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(added)
}

/// How many rows are in each state (queued, sent, dead).
pub async fn counts(store: &Store) -> Result<(i64, i64, i64), sqlx::Error> {
    let rows = sqlx::query("SELECT state, COUNT(*) FROM alert_outbox GROUP BY state")
        .fetch_all(store.pool())
        .await?;
    let mut counts = (0, 0, 0);
    for row in rows {
        let state: String = row.try_get(0)?;
        let count: i64 = row.try_get(1)?;
        match OutboxState::parse(&state) {
            OutboxState::Queued => counts.0 = count,
            OutboxState::Sent => counts.1 = count,
            OutboxState::Dead => counts.2 = count,
        }
    }
    Ok(counts)
}

/// Per receiver with notifications created at or after `since_ms`: how many of them are
/// failing — dead letters, or queued again after a failed attempt.
pub async fn failing_by_receiver(
    store: &Store,
    since_ms: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query(
        "SELECT receiver, SUM(CASE WHEN state = 'dead' \
         OR (state = 'queued' AND last_error IS NOT NULL) THEN 1 ELSE 0 END) \
         FROM alert_outbox WHERE created_ms >= $1 GROUP BY receiver ORDER BY receiver",
    )
    .bind(since_ms)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
    .collect()
}

/// Rows of any state created at or after `since_ms`, newest first (the delivery log).
pub async fn recent(
    store: &Store,
    since_ms: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM alert_outbox WHERE created_ms >= $1 \
         ORDER BY created_ms DESC, key LIMIT $2"
    )))
    .bind(since_ms)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Claims up to `limit` due rows for an attempt until `claim_until_ms`; `None` when the
/// fence no longer holds. A row claimed by a sender that died is claimable again once its
/// claim has run out.
pub async fn claim_due(
    store: &Store,
    fence: &Fence,
    now_ms: i64,
    claim_until_ms: i64,
    limit: i64,
) -> Result<Option<Vec<OutboxRow>>, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    if !fenced(&mut tx, store, fence).await? {
        return Ok(None);
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM alert_outbox WHERE state = 'queued' AND due_ms <= $1 \
         AND (claimed_until_ms IS NULL OR claimed_until_ms <= $1) ORDER BY due_ms, key LIMIT $2"
    )))
    .bind(now_ms)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut claimed = Vec::new();
    for row in &rows {
        let row = from_row(row)?;
        let taken = sqlx::query(
            "UPDATE alert_outbox SET claimed_until_ms = $2, attempts = attempts + 1 \
             WHERE key = $1 AND state = 'queued' \
             AND (claimed_until_ms IS NULL OR claimed_until_ms <= $3)",
        )
        .bind(&row.key)
        .bind(claim_until_ms)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 1 {
            claimed.push(OutboxRow {
                attempts: row.attempts + 1,
                ..row
            });
        }
    }
    tx.commit().await?;
    Ok(Some(claimed))
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent,
    /// Failed; tried again at `due_ms`.
    Retry {
        due_ms: i64,
        error: String,
    },
    /// Failed for good (refused, or out of retries).
    Dead {
        error: String,
    },
    /// Not attempted (over the channel's budget): due again at `due_ms`, the attempt not
    /// counted.
    Defer {
        due_ms: i64,
    },
}

/// Records an attempt's outcome (fenced); `false` when the fence no longer holds.
pub async fn settle(
    store: &Store,
    fence: &Fence,
    key: &str,
    outcome: &Outcome,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    settle_many(store, fence, &[(key.to_owned(), outcome.clone())], now_ms).await
}

/// Records many attempts' outcomes in one fenced transaction (a sender's group commit:
/// the outcomes that came in while the previous commit ran); `false` when the fence no
/// longer holds, and then none is recorded.
pub async fn settle_many(
    store: &Store,
    fence: &Fence,
    outcomes: &[(String, Outcome)],
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    if outcomes.is_empty() {
        return Ok(true);
    }
    let mut tx = store.begin_write().await?;
    if !fenced(&mut tx, store, fence).await? {
        return Ok(false);
    }
    for (key, outcome) in outcomes {
        let query = match outcome {
            Outcome::Sent => sqlx::query(
                "UPDATE alert_outbox SET state = 'sent', sent_ms = $2, claimed_until_ms = NULL, \
                 last_error = NULL WHERE key = $1",
            )
            .bind(key)
            .bind(now_ms),
            Outcome::Retry { due_ms, error } => sqlx::query(
                "UPDATE alert_outbox SET due_ms = $2, last_error = $3, claimed_until_ms = NULL \
                 WHERE key = $1",
            )
            .bind(key)
            .bind(*due_ms)
            .bind(error.clone()),
            Outcome::Defer { due_ms } => sqlx::query(
                "UPDATE alert_outbox SET due_ms = $2, claimed_until_ms = NULL, \
                 attempts = attempts - 1 WHERE key = $1",
            )
            .bind(key)
            .bind(*due_ms),
            Outcome::Dead { error } => sqlx::query(
                "UPDATE alert_outbox SET state = 'dead', last_error = $2, claimed_until_ms = NULL \
                 WHERE key = $1",
            )
            .bind(key)
            .bind(error.clone()),
        };
        query.execute(&mut *tx).await?;
    }
    qcat_store::changes::bump(&mut tx, store.backend(), TOPIC).await?;
    tx.commit().await?;
    Ok(true)
}

/// When the earliest queued row can next be claimed (`None`: nothing queued): its due
/// time, or the end of a claim still running (a sender that died holds its rows until
/// then — the next sender waits for it rather than asking again and again).
pub async fn next_due(store: &Store) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(CASE WHEN claimed_until_ms IS NOT NULL AND claimed_until_ms > due_ms \
         THEN claimed_until_ms ELSE due_ms END) FROM alert_outbox WHERE state = 'queued'",
    )
    .fetch_one(store.pool())
    .await
}

/// Rows in a state, newest first.
pub async fn list(
    store: &Store,
    state: OutboxState,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM alert_outbox WHERE state = $1 ORDER BY created_ms DESC, key LIMIT $2"
    )))
    .bind(state.as_str())
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Queues a dead letter again, due now with its attempts reset ("retry now").
pub async fn retry_dead(store: &Store, key: &str, now_ms: i64) -> Result<bool, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE alert_outbox SET state = 'queued', due_ms = $2, attempts = 0, \
         claimed_until_ms = NULL WHERE key = $1 AND state = 'dead'",
    )
    .bind(key)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 1 {
        qcat_store::changes::bump(&mut tx, store.backend(), TOPIC).await?;
    }
    tx.commit().await?;
    Ok(changed == 1)
}
