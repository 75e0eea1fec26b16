//! Alerting's state in the console's store, shared by every console and agent on it:
//!
//! - rules (`alert_rules`: a definition as JSON per name) and the routing configuration
//!   (`alert_routing`: the `alertmanager.yml` text), each saved against the version the
//!   editor saw, with its audit entry in the same transaction;
//! - silences (`alert_silences`), added and expired with their audit entries;
//! - alert episodes (`alert_episodes`): one row per firing of an alert — from a rule, an
//!   event or Alertmanager's API — open until its end passes;
//! - the notification log (`alert_nflog`): what each group last told each receiver,
//!   written with the outbox rows it queued (one transaction, fenced by the delivery
//!   lease), so a restarted leader does not say the same thing twice.

use std::collections::HashMap;

use qcat_audit::AuditEvent;
use qcat_store::{Store, placeholders};
use sqlx::Row;

use crate::outbox::{Fence, OutboxRow};

/// The change counter the window follows for rules, routing, silences and alerts.
pub const TOPIC: &str = "alerting";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Audit(#[from] qcat_audit::AuditError),
}

/// A stored rule definition.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    pub name: String,
    pub definition: String,
    pub version: i64,
    pub updated_by: String,
    pub updated_ms: i64,
}

pub async fn rules(store: &Store) -> Result<Vec<StoredRule>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, definition, version, updated_by, updated_ms FROM alert_rules ORDER BY name",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredRule {
                name: row.try_get(0)?,
                definition: row.try_get(1)?,
                version: row.try_get(2)?,
                updated_by: row.try_get(3)?,
                updated_ms: row.try_get(4)?,
            })
        })
        .collect()
}

/// Saves a rule's definition against `seen_version` (`None`: whatever is stored; `Some(0)`:
/// it must be new). Returns the new version.
pub async fn save_rule(
    store: &Store,
    name: &str,
    definition: &str,
    seen_version: Option<i64>,
    mut event: AuditEvent,
) -> Result<i64, StateError> {
    let mut tx = store.begin_write().await?;
    let current: Option<(String, i64)> =
        sqlx::query("SELECT definition, version FROM alert_rules WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?)))
            .transpose()?;
    let current_version = current.as_ref().map_or(0, |c| c.1);
    if let Some(seen) = seen_version
        && seen != current_version
    {
        return Err(StateError::Conflict(format!(
            "rule {name} was changed elsewhere since this editor opened it (version {seen}, now \
             {current_version}): reload and make the change again"
        )));
    }
    let version = current_version + 1;
    let now = qcat_core::time::now_ms();
    let written = if current.is_none() {
        sqlx::query(
            "INSERT INTO alert_rules (name, definition, version, updated_by, updated_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(definition)
        .bind(version)
        .bind(&event.actor)
        .bind(now)
        .execute(&mut *tx)
        .await?
    } else {
        sqlx::query(
            "UPDATE alert_rules SET definition = $2, version = $3, updated_by = $4, \
             updated_ms = $5 WHERE name = $1 AND version = $6",
        )
        .bind(name)
        .bind(definition)
        .bind(version)
        .bind(&event.actor)
        .bind(now)
        .bind(current_version)
        .execute(&mut *tx)
        .await?
    };
    if written.rows_affected() != 1 {
        return Err(StateError::Conflict(format!(
            "rule {name} was changed by another save at the same moment: reload and make the change again"
        )));
    }
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    event.before = current
        .as_ref()
        .and_then(|c| serde_json::from_str(&c.0).ok());
    event.after = serde_json::from_str(definition).ok();
    event.detail = if current.is_none() {
        format!("added alert rule {name}")
    } else {
        format!("changed alert rule {name}")
    };
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(version)
}

pub async fn remove_rule(
    store: &Store,
    name: &str,
    mut event: AuditEvent,
) -> Result<(), StateError> {
    let mut tx = store.begin_write().await?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT definition FROM alert_rules WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(current) = current else {
        return Err(StateError::NotFound(format!(
            "no alert rule named {:?}; `qcatctl alert rules` lists them",
            qcat_core::text::bounded(name, 80)
        )));
    };
    sqlx::query("DELETE FROM alert_rules WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    event.before = serde_json::from_str(&current).ok();
    event.detail = format!("removed alert rule {name}");
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(())
}

/// The stored routing configuration: text, version, who saved it, when.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRouting {
    pub yaml: String,
    pub version: i64,
    pub updated_by: String,
    pub updated_ms: i64,
}

pub async fn routing(store: &Store) -> Result<Option<StoredRouting>, sqlx::Error> {
    sqlx::query("SELECT yaml, version, updated_by, updated_ms FROM alert_routing WHERE id = 1")
        .fetch_optional(store.pool())
        .await?
        .map(|row| {
            Ok(StoredRouting {
                yaml: row.try_get(0)?,
                version: row.try_get(1)?,
                updated_by: row.try_get(2)?,
                updated_ms: row.try_get(3)?,
            })
        })
        .transpose()
}

/// The stored routing's version (0: none yet) — what a reader holding a parsed copy asks
/// each cycle before reading the text again.
pub async fn routing_version(store: &Store) -> Result<i64, sqlx::Error> {
    let version: Option<i64> = sqlx::query_scalar("SELECT version FROM alert_routing WHERE id = 1")
        .fetch_optional(store.pool())
        .await?;
    Ok(version.unwrap_or(0))
}

/// Saves the routing configuration against the version the editor saw (0: none yet).
pub async fn save_routing(
    store: &Store,
    yaml: &str,
    seen_version: i64,
    mut event: AuditEvent,
) -> Result<i64, StateError> {
    let mut tx = store.begin_write().await?;
    let current: Option<(String, i64)> =
        sqlx::query("SELECT yaml, version FROM alert_routing WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?)))
            .transpose()?;
    let current_version = current.as_ref().map_or(0, |c| c.1);
    if seen_version != current_version {
        return Err(StateError::Conflict(format!(
            "the routing was changed elsewhere since this editor opened it (version \
             {seen_version}, now {current_version}): reload and make the change again"
        )));
    }
    let version = current_version + 1;
    let now = qcat_core::time::now_ms();
    let written = sqlx::query(
        "INSERT INTO alert_routing (id, yaml, version, updated_by, updated_ms) \
         VALUES (1, $1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET yaml = excluded.yaml, version = excluded.version, \
         updated_by = excluded.updated_by, updated_ms = excluded.updated_ms \
         WHERE alert_routing.version = $5",
    )
    .bind(yaml)
    .bind(version)
    .bind(&event.actor)
    .bind(now)
    .bind(current_version)
    .execute(&mut *tx)
    .await?;
    if written.rows_affected() != 1 {
        return Err(StateError::Conflict(
            "the routing was changed by another save at the same moment: reload and make the change again".into(),
        ));
    }
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    event.before = current.map(|c| serde_json::Value::String(c.0));
    event.after = Some(serde_json::Value::String(yaml.to_owned()));
    event.detail = format!("saved the alert routing (version {version})");
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(version)
}

/// A stored silence (matchers in Alertmanager's list syntax).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSilence {
    pub id: String,
    pub matchers: String,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub created_by: String,
    pub comment: String,
    pub created_ms: i64,
}

/// Silences that end after `after_ms`, newest first.
pub async fn silences(store: &Store, after_ms: i64) -> Result<Vec<StoredSilence>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, matchers, starts_ms, ends_ms, created_by, comment, created_ms \
         FROM alert_silences WHERE ends_ms > $1 ORDER BY created_ms DESC, id",
    )
    .bind(after_ms)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredSilence {
                id: row.try_get(0)?,
                matchers: row.try_get(1)?,
                starts_ms: row.try_get(2)?,
                ends_ms: row.try_get(3)?,
                created_by: row.try_get(4)?,
                comment: row.try_get(5)?,
                created_ms: row.try_get(6)?,
            })
        })
        .collect()
}

fn silence_view(silence: &StoredSilence) -> serde_json::Value {
    serde_json::json!({
        "matchers": silence.matchers,
        "starts_ms": silence.starts_ms,
        "ends_ms": silence.ends_ms,
        "comment": silence.comment,
    })
}

pub async fn add_silence(
    store: &Store,
    silence: &StoredSilence,
    mut event: AuditEvent,
) -> Result<(), StateError> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO alert_silences (id, matchers, starts_ms, ends_ms, created_by, comment, \
         created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&silence.id)
    .bind(&silence.matchers)
    .bind(silence.starts_ms)
    .bind(silence.ends_ms)
    .bind(&silence.created_by)
    .bind(&silence.comment)
    .bind(silence.created_ms)
    .execute(&mut *tx)
    .await?;
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    event.after = Some(silence_view(silence));
    event.detail = format!("silenced {} ({})", silence.matchers, silence.comment);
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(())
}

/// Ends a silence now (it stays listed as expired until it would have ended).
pub async fn expire_silence(
    store: &Store,
    id: &str,
    now_ms: i64,
    mut event: AuditEvent,
) -> Result<(), StateError> {
    let mut tx = store.begin_write().await?;
    let row = sqlx::query(
        "SELECT id, matchers, starts_ms, ends_ms, created_by, comment, created_ms \
         FROM alert_silences WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(StateError::NotFound(format!(
            "no silence {:?}; `qcatctl alert silence list` shows them",
            qcat_core::text::bounded(id, 80)
        )));
    };
    let before = StoredSilence {
        id: row.try_get(0)?,
        matchers: row.try_get(1)?,
        starts_ms: row.try_get(2)?,
        ends_ms: row.try_get(3)?,
        created_by: row.try_get(4)?,
        comment: row.try_get(5)?,
        created_ms: row.try_get(6)?,
    };
    if before.ends_ms <= now_ms {
        return Err(StateError::Conflict(format!(
            "silence {id} has already ended"
        )));
    }
    sqlx::query("UPDATE alert_silences SET ends_ms = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    event.before = Some(silence_view(&before));
    event.detail = format!(
        "expired the silence {} ({})",
        before.matchers, before.comment
    );
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(())
}

/// One firing of an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub fingerprint: String,
    /// `rule:<name>`, `event:<name>` or `api`.
    pub source: String,
    pub labels: crate::Labels,
    pub annotations: crate::Labels,
    pub generator_url: String,
    pub starts_ms: i64,
    /// When it ended (or, for an alert from the API, when it will end unless renewed).
    pub ends_ms: Option<i64>,
    pub updated_ms: i64,
    pub flapping: bool,
}

impl Episode {
    pub fn id(&self) -> String {
        format!("{}:{}", self.fingerprint, self.starts_ms)
    }

    pub fn firing_at(&self, now_ms: i64) -> bool {
        self.ends_ms.is_none_or(|end| end > now_ms)
    }
}

/// Rows per upsert statement (10 parameters each). Small: see `qcat_store::placeholders`
/// (200 rows per statement ingested 18 400 alerts/s, 32 rows 25 400).
const UPSERT_ROWS: usize = 32;

const EPISODE_COLUMNS: &str = "fingerprint, source, labels, annotations, generator_url, \
                               starts_ms, ends_ms, updated_ms, flapping";

fn episode(row: &sqlx::any::AnyRow) -> Result<Episode, sqlx::Error> {
    let labels: String = row.try_get(2)?;
    let annotations: String = row.try_get(3)?;
    let flapping: i64 = row.try_get(8)?;
    Ok(Episode {
        fingerprint: row.try_get(0)?,
        source: row.try_get(1)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        annotations: serde_json::from_str(&annotations).unwrap_or_default(),
        generator_url: row.try_get(4)?,
        starts_ms: row.try_get(5)?,
        ends_ms: row.try_get(6)?,
        updated_ms: row.try_get(7)?,
        flapping: flapping != 0,
    })
}

/// Writes episodes: a new one is inserted, a known one (same fingerprint and start) has
/// its end, annotations, flapping and update time replaced. One transaction; the topic is
/// bumped so windows reload.
pub async fn upsert_episodes(store: &Store, episodes: &[Episode]) -> Result<(), sqlx::Error> {
    if episodes.is_empty() {
        return Ok(());
    }
    // One row per id, the last given: PostgreSQL refuses a statement that would update the
    // same row twice.
    let mut latest: HashMap<String, &Episode> = HashMap::with_capacity(episodes.len());
    let mut order = Vec::with_capacity(episodes.len());
    for e in episodes {
        let id = e.id();
        if latest.insert(id.clone(), e).is_none() {
            order.push(id);
        }
    }
    let mut tx = store.begin_write().await?;
    // Many rows per statement: a post of 100 alerts is a few statements, not 100.
    for ids in order.chunks(UPSERT_ROWS) {
        let sql = format!(
            "INSERT INTO alert_episodes (id, fingerprint, source, labels, annotations, \
             generator_url, starts_ms, ends_ms, updated_ms, flapping) VALUES {} \
             ON CONFLICT (id) DO UPDATE SET ends_ms = excluded.ends_ms, \
             annotations = excluded.annotations, updated_ms = excluded.updated_ms, \
             flapping = excluded.flapping",
            placeholders::rows(1, ids.len(), 10)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            let e = latest[id];
            query = query
                .bind(id.clone())
                .bind(e.fingerprint.clone())
                .bind(e.source.clone())
                .bind(serde_json::to_string(&e.labels).unwrap_or_default())
                .bind(serde_json::to_string(&e.annotations).unwrap_or_default())
                .bind(e.generator_url.clone())
                .bind(e.starts_ms)
                .bind(e.ends_ms)
                .bind(e.updated_ms)
                .bind(i64::from(e.flapping));
        }
        query.execute(&mut *tx).await?;
    }
    qcat_store::changes::bump(&mut tx, store.backend(), TOPIC).await?;
    tx.commit().await?;
    Ok(())
}

/// Episodes firing at `now_ms`, newest first.
pub async fn firing(store: &Store, now_ms: i64) -> Result<Vec<Episode>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {EPISODE_COLUMNS} FROM alert_episodes WHERE ends_ms IS NULL OR ends_ms > $1 \
         ORDER BY starts_ms DESC, id"
    )))
    .bind(now_ms)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(episode).collect()
}

/// The open episodes (at `now_ms`) of the given fingerprints: what an ingest of those
/// alerts renews. One query per 500 fingerprints.
pub async fn open_of(
    store: &Store,
    fingerprints: &[String],
    now_ms: i64,
) -> Result<Vec<Episode>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in fingerprints.chunks(500) {
        let sql = format!(
            "SELECT {EPISODE_COLUMNS} FROM alert_episodes WHERE (ends_ms IS NULL OR ends_ms > $1) \
             AND fingerprint IN ({})",
            placeholders::list(2, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms);
        for fingerprint in chunk {
            query = query.bind(fingerprint.clone());
        }
        for row in query.fetch_all(store.pool()).await? {
            out.push(episode(&row)?);
        }
    }
    Ok(out)
}

/// Episodes changed after `after_ms` (the duty's feed), oldest change first.
pub async fn changed_since(store: &Store, after_ms: i64) -> Result<Vec<Episode>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {EPISODE_COLUMNS} FROM alert_episodes WHERE updated_ms > $1 \
         ORDER BY updated_ms, id"
    )))
    .bind(after_ms)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(episode).collect()
}

/// Episodes that started in `[from_ms, to_ms)`, newest first (the history).
pub async fn history(
    store: &Store,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> Result<Vec<Episode>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {EPISODE_COLUMNS} FROM alert_episodes WHERE starts_ms >= $1 AND starts_ms < $2 \
         ORDER BY starts_ms DESC, id LIMIT $3"
    )))
    .bind(from_ms)
    .bind(to_ms)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(episode).collect()
}

/// The open episode of a fingerprint, if any.
pub async fn open_episode(
    store: &Store,
    fingerprint: &str,
    now_ms: i64,
) -> Result<Option<Episode>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {EPISODE_COLUMNS} FROM alert_episodes WHERE fingerprint = $1 \
         AND (ends_ms IS NULL OR ends_ms > $2) ORDER BY starts_ms DESC LIMIT 1"
    )))
    .bind(fingerprint)
    .bind(now_ms)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(episode).transpose()
}

/// The last notification a group gave a receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct NflogEntry {
    pub digest: String,
    /// The fingerprints it told as firing (an alert is told resolved only after these).
    pub firing: Vec<String>,
    pub seq: i64,
    pub notified_ms: i64,
}

/// The notification-log entries of many groups at once: (receiver, group key) → entry.
pub async fn nflogs(
    store: &Store,
    keys: &[(String, String)],
) -> Result<std::collections::HashMap<(String, String), NflogEntry>, sqlx::Error> {
    let mut out = std::collections::HashMap::new();
    for chunk in keys.chunks(400) {
        let sql = format!(
            "SELECT receiver, group_key, digest, seq, notified_ms, firing FROM alert_nflog \
             WHERE (receiver, group_key) IN (VALUES {})",
            placeholders::rows(1, chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (receiver, group_key) in chunk {
            query = query.bind(receiver.clone()).bind(group_key.clone());
        }
        for row in query.fetch_all(store.pool()).await? {
            let firing: String = row.try_get(5)?;
            out.insert(
                (row.try_get(0)?, row.try_get(1)?),
                NflogEntry {
                    digest: row.try_get(2)?,
                    firing: firing
                        .split(',')
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    seq: row.try_get(3)?,
                    notified_ms: row.try_get(4)?,
                },
            );
        }
    }
    Ok(out)
}

/// One group's notification: its log entry and the outbox rows it queues.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub receiver: String,
    pub group_key: String,
    pub entry: NflogEntry,
    pub rows: Vec<OutboxRow>,
}

/// Records many groups' notifications and queues their outbox rows in one transaction
/// under the delivery lease: all happen or none. `false` when the fence no longer holds.
pub async fn record_notifications(
    store: &Store,
    fence: &Fence,
    notifications: &[Recorded],
) -> Result<bool, sqlx::Error> {
    if notifications.is_empty() {
        return Ok(true);
    }
    let mut tx = store.begin_write().await?;
    if !qcat_store::runtime::leases::fence(
        &mut tx,
        store.backend(),
        fence.duty,
        &fence.holder,
        fence.token,
    )
    .await?
    {
        return Ok(false);
    }
    for recorded in notifications {
        sqlx::query(
            "INSERT INTO alert_nflog (receiver, group_key, digest, firing, seq, notified_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (receiver, group_key) DO UPDATE SET \
             digest = excluded.digest, firing = excluded.firing, seq = excluded.seq, \
             notified_ms = excluded.notified_ms",
        )
        .bind(&recorded.receiver)
        .bind(&recorded.group_key)
        .bind(&recorded.entry.digest)
        .bind(recorded.entry.firing.join(","))
        .bind(recorded.entry.seq)
        .bind(recorded.entry.notified_ms)
        .execute(&mut *tx)
        .await?;
        crate::outbox::enqueue_in(&mut tx, &recorded.rows).await?;
    }
    qcat_store::changes::bump(&mut tx, store.backend(), crate::outbox::TOPIC).await?;
    tx.commit().await?;
    Ok(true)
}
