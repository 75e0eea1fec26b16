//! Targets and their health in the console's store. A change commits with its audit entry
//! and the `monitor` change counter in one transaction, and only against the version the
//! window showed (a stale edit is refused, not merged).

use std::collections::BTreeMap;
use std::time::Duration;

use qcat_audit::event::AuditEvent;
use qcat_store::Store;
use sqlx::Row;

use super::{Environment, Target, TargetKind};

/// The change counter windows follow for target definitions and health.
pub const TOPIC: &str = "monitor";

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

const COLUMNS: &str =
    "name, kind, url, password, environment, interval_ms, timeout_ms, options, version";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Target, sqlx::Error> {
    let kind: String = row.try_get(1)?;
    let environment: String = row.try_get(4)?;
    let options: String = row.try_get(7)?;
    let options: serde_json::Value = serde_json::from_str(&options).unwrap_or_default();
    let queries: BTreeMap<String, String> = options
        .get("queries")
        .and_then(|queries| serde_json::from_value(queries.clone()).ok())
        .unwrap_or_default();
    Ok(Target {
        name: row.try_get(0)?,
        kind: TargetKind::parse(&kind).unwrap_or(TargetKind::Prometheus),
        url: row.try_get(2)?,
        password: row.try_get(3)?,
        environment: Environment::parse(&environment).unwrap_or(Environment::Development),
        interval: Duration::from_millis(row.try_get::<i64, _>(5)?.max(1) as u64),
        timeout: Duration::from_millis(row.try_get::<i64, _>(6)?.max(1) as u64),
        queries,
        version: row.try_get(8)?,
    })
}

pub async fn list(store: &Store) -> Result<Vec<Target>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM monitor_targets ORDER BY name"
    )))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(store: &Store, name: &str) -> Result<Option<Target>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM monitor_targets WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// What the audit entry shows of a target: everything but the password, of which only
/// whether there is one (and a named secret's name) is said.
pub fn audit_view(target: &Target) -> serde_json::Value {
    serde_json::json!({
        "kind": target.kind.as_str(),
        "url": if target.kind == TargetKind::Host { target.url.clone() } else { qcat_core::redact::url(&target.url) },
        "password": password_view(&target.password),
        "environment": target.environment.as_str(),
        "interval": super::humanize(target.interval),
        "timeout": super::humanize(target.timeout),
        "queries": target.queries,
    })
}

/// `none`, `secret:NAME` or `encrypted`: what may be shown of a password setting.
pub fn password_view(password: &str) -> String {
    if password.is_empty() {
        "none".to_owned()
    } else if password.starts_with("secret:") {
        password.to_owned()
    } else {
        "encrypted".to_owned()
    }
}

/// Creates or changes a target. `seen_version`: the version the editor started from
/// (`0` for a new target); `None` applies the change to whatever is stored (the CLI).
pub async fn save(
    store: &Store,
    target: &Target,
    seen_version: Option<i64>,
    mut event: AuditEvent,
) -> Result<Target, TargetError> {
    let problems = target.problems();
    if !problems.is_empty() {
        return Err(TargetError::Invalid(problems));
    }
    let mut tx = store.begin_write().await?;
    let current = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM monitor_targets WHERE name = $1"
    )))
    .bind(&target.name)
    .fetch_optional(&mut *tx)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()?;
    let current_version = current.as_ref().map_or(0, |t| t.version);
    if let Some(seen) = seen_version
        && seen != current_version
    {
        return Err(TargetError::Conflict(format!(
            "target {} was changed elsewhere since this editor opened it (version {seen}, now \
             {current_version}): reload and make the change again",
            target.name
        )));
    }
    let now = qcat_core::time::now_ms();
    let options = serde_json::json!({ "queries": target.queries }).to_string();
    let version = current_version + 1;
    // The write itself checks the version read above: two saves racing from the same
    // version cannot both land (the second changes no row and is refused).
    let written = match &current {
        None => {
            sqlx::query(
                "INSERT INTO monitor_targets (name, kind, url, password, environment, \
                 interval_ms, timeout_ms, options, created_by, created_ms, updated_ms, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&target.name)
            .bind(target.kind.as_str())
            .bind(&target.url)
            .bind(&target.password)
            .bind(target.environment.as_str())
            .bind(target.interval.as_millis() as i64)
            .bind(target.timeout.as_millis() as i64)
            .bind(options)
            .bind(&event.actor)
            .bind(now)
            .bind(version)
            .execute(&mut *tx)
            .await?
        }
        Some(_) => {
            sqlx::query(
                "UPDATE monitor_targets SET kind = $2, url = $3, password = $4, \
                 environment = $5, interval_ms = $6, timeout_ms = $7, options = $8, \
                 updated_ms = $9, version = $10 WHERE name = $1 AND version = $11",
            )
            .bind(&target.name)
            .bind(target.kind.as_str())
            .bind(&target.url)
            .bind(&target.password)
            .bind(target.environment.as_str())
            .bind(target.interval.as_millis() as i64)
            .bind(target.timeout.as_millis() as i64)
            .bind(options)
            .bind(now)
            .bind(version)
            .bind(current_version)
            .execute(&mut *tx)
            .await?
        }
    };
    if written.rows_affected() != 1 {
        return Err(TargetError::Conflict(format!(
            "target {} was changed by another save at the same moment: reload and make the change again",
            target.name
        )));
    }
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    let mut saved = target.clone();
    saved.version = version;
    event.before = current.as_ref().map(audit_view);
    event.after = Some(audit_view(&saved));
    event.detail = match &current {
        None => format!(
            "added {} target {} ({}, every {})",
            saved.kind.as_str(),
            saved.name,
            saved.environment.as_str(),
            super::humanize(saved.interval)
        ),
        Some(_) => format!("changed target {}", saved.name),
    };
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(saved)
}

/// Removes a target (its stored series stay until their retention ends).
pub async fn remove(store: &Store, name: &str, mut event: AuditEvent) -> Result<(), TargetError> {
    let mut tx = store.begin_write().await?;
    let current = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM monitor_targets WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()?;
    let Some(current) = current else {
        return Err(TargetError::NotFound(format!(
            "no target named {:?}; `qcatctl target list` shows them",
            qcat_core::text::bounded(name, 80)
        )));
    };
    sqlx::query("DELETE FROM monitor_targets WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM monitor_target_health WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    event.before = Some(audit_view(&current));
    event.detail = format!("removed target {name}");
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(())
}

/// A target's state as the collecting process last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub name: String,
    pub up: bool,
    /// Since when it has been up (or down with this error).
    pub since_ms: i64,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub checked_ms: i64,
    pub duration_ms: i64,
    pub samples: i64,
    /// The last reading's detail as JSON text (PostgreSQL's top statements), if any.
    pub detail: Option<String>,
}

/// Writes a target's health; windows are told (the change counter) only when the state
/// changed, not on every scrape.
pub async fn record_health(
    store: &Store,
    health: &Health,
    changed: bool,
) -> Result<(), sqlx::Error> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO monitor_target_health (name, up, since_ms, error_kind, error, checked_ms, \
         duration_ms, samples, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (name) DO UPDATE SET up = excluded.up, since_ms = excluded.since_ms, \
         error_kind = excluded.error_kind, error = excluded.error, \
         checked_ms = excluded.checked_ms, duration_ms = excluded.duration_ms, \
         samples = excluded.samples, detail = excluded.detail",
    )
    .bind(&health.name)
    .bind(i64::from(health.up))
    .bind(health.since_ms)
    .bind(&health.error_kind)
    .bind(&health.error)
    .bind(health.checked_ms)
    .bind(health.duration_ms)
    .bind(health.samples)
    .bind(&health.detail)
    .execute(&mut *tx)
    .await?;
    if changed {
        qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    }
    tx.commit().await
}

pub async fn health(store: &Store) -> Result<Vec<Health>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, up, since_ms, error_kind, error, checked_ms, duration_ms, samples, detail \
         FROM monitor_target_health ORDER BY name",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Health {
                name: row.try_get(0)?,
                up: row.try_get::<i64, _>(1)? != 0,
                since_ms: row.try_get(2)?,
                error_kind: row.try_get(3)?,
                error: row.try_get(4)?,
                checked_ms: row.try_get(5)?,
                duration_ms: row.try_get(6)?,
                samples: row.try_get(7)?,
                detail: row.try_get(8)?,
            })
        })
        .collect()
}
