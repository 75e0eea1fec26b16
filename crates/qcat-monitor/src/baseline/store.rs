//! Baselines in the console's store: named baselines and marked periods (changes made by
//! people: each commits with its audit entry and the `baseline` change counter), deviation
//! events and each learned series' state (written by whichever process leads the
//! `baselines` duty, fenced by its lease so a deposed leader writes nothing).

use qcat_audit::event::AuditEvent;
use qcat_store::Store;
use sqlx::Row;

use super::detect::{Deviation, Direction};
use super::named::SeriesSummary;

/// The change counter windows follow for baselines, marks and deviation events.
pub const TOPIC: &str = "baseline";

#[derive(Debug, thiserror::Error)]
pub enum BaselineStoreError {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

/// A named baseline: a period and what each series did in it.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedBaseline {
    pub name: String,
    pub description: String,
    pub from_ms: i64,
    pub until_ms: i64,
    /// The selectors captured, as given.
    pub selectors: Vec<String>,
    /// The zone its hours of day are in.
    pub time_zone: String,
    pub series: Vec<SeriesSummary>,
    pub created_by: String,
    pub created_ms: i64,
}

const NAMED_COLUMNS: &str = "name, description, from_ms, until_ms, selectors, time_zone, summary, \
                             created_by, created_ms";

fn named_from_row(
    row: &sqlx::any::AnyRow,
    with_series: bool,
) -> Result<NamedBaseline, sqlx::Error> {
    let selectors: String = row.try_get(4)?;
    let summary: String = row.try_get(6)?;
    Ok(NamedBaseline {
        name: row.try_get(0)?,
        description: row.try_get(1)?,
        from_ms: row.try_get(2)?,
        until_ms: row.try_get(3)?,
        selectors: serde_json::from_str(&selectors).unwrap_or_default(),
        time_zone: row.try_get(5)?,
        series: if with_series {
            serde_json::from_str(&summary).map_err(|err| sqlx::Error::Decode(Box::new(err)))?
        } else {
            Vec::new()
        },
        created_by: row.try_get(7)?,
        created_ms: row.try_get(8)?,
    })
}

/// Every named baseline, newest first; `with_series` loads each one's summaries too.
pub async fn list_named(
    store: &Store,
    with_series: bool,
) -> Result<Vec<NamedBaseline>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {NAMED_COLUMNS} FROM baseline_named ORDER BY created_ms DESC, name"
    )))
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| named_from_row(row, with_series))
        .collect()
}

pub async fn get_named(store: &Store, name: &str) -> Result<Option<NamedBaseline>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {NAMED_COLUMNS} FROM baseline_named WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref()
        .map(|row| named_from_row(row, true))
        .transpose()
}

/// What the audit entry shows of a named baseline: its period and series, not the numbers.
fn named_audit_view(baseline: &NamedBaseline) -> serde_json::Value {
    serde_json::json!({
        "from_ms": baseline.from_ms,
        "until_ms": baseline.until_ms,
        "selectors": baseline.selectors,
        "series": baseline.series.len(),
        "time_zone": baseline.time_zone,
        "description": baseline.description,
    })
}

/// Stores a new named baseline; a name already taken is refused (a baseline is a record
/// of what was: it is never silently replaced).
pub async fn insert_named(
    store: &Store,
    baseline: &NamedBaseline,
    mut event: AuditEvent,
) -> Result<(), BaselineStoreError> {
    let mut tx = store.begin_write().await?;
    let summary = serde_json::to_string(&baseline.series)
        .map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
    let selectors = serde_json::to_string(&baseline.selectors)
        .map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
    let written = sqlx::query(
        "INSERT INTO baseline_named (name, description, from_ms, until_ms, selectors, time_zone, \
         summary, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(&baseline.name)
    .bind(&baseline.description)
    .bind(baseline.from_ms)
    .bind(baseline.until_ms)
    .bind(selectors)
    .bind(&baseline.time_zone)
    .bind(summary)
    .bind(&baseline.created_by)
    .bind(baseline.created_ms)
    .execute(&mut *tx)
    .await?;
    if written.rows_affected() != 1 {
        return Err(BaselineStoreError::Conflict(format!(
            "a baseline named {:?} exists already: choose another name, or remove it first \
             (`qcatctl baseline remove`)",
            baseline.name
        )));
    }
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    event.after = Some(named_audit_view(baseline));
    event.detail = format!(
        "captured baseline {:?}: {} series",
        baseline.name,
        baseline.series.len()
    );
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(())
}

pub async fn remove_named(
    store: &Store,
    name: &str,
    mut event: AuditEvent,
) -> Result<(), BaselineStoreError> {
    let mut tx = store.begin_write().await?;
    let current = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {NAMED_COLUMNS} FROM baseline_named WHERE name = $1"
    )))
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?
    .as_ref()
    .map(|row| named_from_row(row, false))
    .transpose()?;
    let Some(current) = current else {
        return Err(BaselineStoreError::NotFound(format!(
            "no baseline named {:?}; `qcatctl baseline list` shows them",
            qcat_core::text::bounded(name, 80)
        )));
    };
    sqlx::query("DELETE FROM baseline_named WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    event.before = Some(named_audit_view(&current));
    event.detail = format!("removed baseline {name:?}");
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(())
}

/// What a marked period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    Incident,
    Maintenance,
}

impl MarkKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "incident" => Some(Self::Incident),
            "maintenance" => Some(Self::Maintenance),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incident => "incident",
            Self::Maintenance => "maintenance",
        }
    }
}

/// A period the learned baselines learn nothing from and raise nothing in.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub id: String,
    pub kind: MarkKind,
    pub from_ms: i64,
    pub until_ms: i64,
    /// A selector (`name{label="value"}`) the mark applies to; empty: every series.
    pub series: String,
    pub note: String,
    pub created_by: String,
    pub created_ms: i64,
}

/// Every mark overlapping `[from_ms, until_ms)`, oldest first.
pub async fn marks(store: &Store, from_ms: i64, until_ms: i64) -> Result<Vec<Mark>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, kind, from_ms, until_ms, series, note, created_by, created_ms \
         FROM baseline_marks WHERE until_ms > $1 AND from_ms < $2 ORDER BY from_ms, id",
    )
    .bind(from_ms)
    .bind(until_ms)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get(1)?;
            Ok(Mark {
                id: row.try_get(0)?,
                kind: MarkKind::parse(&kind).unwrap_or(MarkKind::Incident),
                from_ms: row.try_get(2)?,
                until_ms: row.try_get(3)?,
                series: row.try_get(4)?,
                note: row.try_get(5)?,
                created_by: row.try_get(6)?,
                created_ms: row.try_get(7)?,
            })
        })
        .collect()
}

fn mark_audit_view(mark: &Mark) -> serde_json::Value {
    serde_json::json!({
        "kind": mark.kind.as_str(),
        "from_ms": mark.from_ms,
        "until_ms": mark.until_ms,
        "series": mark.series,
        "note": mark.note,
    })
}

pub async fn insert_mark(
    store: &Store,
    mark: &Mark,
    mut event: AuditEvent,
) -> Result<(), sqlx::Error> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO baseline_marks (id, kind, from_ms, until_ms, series, note, created_by, \
         created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&mark.id)
    .bind(mark.kind.as_str())
    .bind(mark.from_ms)
    .bind(mark.until_ms)
    .bind(&mark.series)
    .bind(&mark.note)
    .bind(&mark.created_by)
    .bind(mark.created_ms)
    .execute(&mut *tx)
    .await?;
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    event.after = Some(mark_audit_view(mark));
    event.detail = format!(
        "marked {} {} as {}",
        if mark.series.is_empty() {
            "every series"
        } else {
            &mark.series
        },
        range_text(mark.from_ms, mark.until_ms),
        mark.kind.as_str()
    );
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(())
}

/// `2026-12-01T09:30:00Z – 2026-12-01T10:00:00Z`, for audit sentences.
fn range_text(from_ms: i64, until_ms: i64) -> String {
    let at = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
    };
    format!("{} – {}", at(from_ms), at(until_ms))
}

pub async fn remove_mark(
    store: &Store,
    id: &str,
    mut event: AuditEvent,
) -> Result<(), BaselineStoreError> {
    let mut tx = store.begin_write().await?;
    let found = marks_by_id(&mut tx, id).await?;
    let Some(mark) = found else {
        return Err(BaselineStoreError::NotFound(format!(
            "no marked period with id {:?}; `qcatctl baseline marks` lists them",
            qcat_core::text::bounded(id, 40)
        )));
    };
    sqlx::query("DELETE FROM baseline_marks WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    qcat_store::changes::bump_here(&mut tx, TOPIC).await?;
    event.before = Some(mark_audit_view(&mark));
    event.detail = format!("removed the {} mark {id}", mark.kind.as_str());
    let entries = qcat_audit::chain::append(&mut tx, &[event]).await?;
    tx.commit().await?;
    qcat_audit::mirror::committed(&entries);
    Ok(())
}

async fn marks_by_id(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<Option<Mark>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, kind, from_ms, until_ms, series, note, created_by, created_ms \
         FROM baseline_marks WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| {
        let kind: String = row.try_get(1)?;
        Ok(Mark {
            id: row.try_get(0)?,
            kind: MarkKind::parse(&kind).unwrap_or(MarkKind::Incident),
            from_ms: row.try_get(2)?,
            until_ms: row.try_get(3)?,
            series: row.try_get(4)?,
            note: row.try_get(5)?,
            created_by: row.try_get(6)?,
            created_ms: row.try_get(7)?,
        })
    })
    .transpose()
}

/// The duty term a write is made under: refused once another process leads.
#[derive(Debug, Clone)]
pub struct Fence {
    pub duty: &'static str,
    pub holder: String,
    pub token: i64,
}

/// A stored deviation event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDeviation {
    pub series: String,
    pub deviation: Deviation,
}

/// A learned series' state as the duty last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesState {
    pub series: String,
    /// Share of the minimum history learned, 0..=1.
    pub learning: f64,
    /// `weekly`, `dayType`, `daily`, `flat`, or `None` while learning.
    pub level: Option<String>,
    pub last_ms: Option<i64>,
    pub value: Option<f64>,
    pub expected: Option<f64>,
    pub scale: Option<f64>,
    pub score: Option<f64>,
    pub updated_ms: i64,
}

/// One cycle of the duty: deviations raised or ended (each event keyed by series and
/// start, so a cycle repeated after a restart changes nothing) and every series' state.
/// Returns `false`, writing nothing, when `fence` no longer holds.
pub async fn record_cycle(
    store: &Store,
    fence: &Fence,
    deviations: &[StoredDeviation],
    states: &[SeriesState],
) -> Result<bool, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    let backend = store.backend();
    if !qcat_store::runtime::leases::fence(&mut tx, backend, fence.duty, &fence.holder, fence.token)
        .await?
    {
        return Ok(false);
    }
    for stored in deviations {
        let d = &stored.deviation;
        sqlx::query(
            "INSERT INTO baseline_events (series, start_ms, raised_ms, end_ms, peak_score, direction) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (series, start_ms) DO UPDATE SET \
             end_ms = excluded.end_ms, peak_score = excluded.peak_score",
        )
        .bind(&stored.series)
        .bind(d.start_ms)
        .bind(d.raised_ms)
        .bind(d.end_ms)
        .bind(d.peak_score)
        .bind(d.direction.as_str())
        .execute(&mut *tx)
        .await?;
    }
    for state in states {
        sqlx::query(
            "INSERT INTO baseline_series (series, learning, level, last_ms, value, expected, \
             scale, score, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (series) DO UPDATE SET learning = excluded.learning, \
             level = excluded.level, last_ms = excluded.last_ms, value = excluded.value, \
             expected = excluded.expected, scale = excluded.scale, score = excluded.score, \
             updated_ms = excluded.updated_ms",
        )
        .bind(&state.series)
        .bind(state.learning)
        .bind(state.level.as_deref())
        .bind(state.last_ms)
        .bind(state.value)
        .bind(state.expected)
        .bind(state.scale)
        .bind(state.score)
        .bind(state.updated_ms)
        .execute(&mut *tx)
        .await?;
    }
    if !deviations.is_empty() {
        qcat_store::changes::bump(&mut tx, backend, TOPIC).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Deviation events overlapping `[from_ms, until_ms)` (open ones included), newest first;
/// of one series when `series` is given.
pub async fn deviations(
    store: &Store,
    from_ms: i64,
    until_ms: i64,
    series: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredDeviation>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT series, start_ms, raised_ms, end_ms, peak_score, direction FROM baseline_events \
         WHERE start_ms < $2 AND (end_ms IS NULL OR end_ms > $1) AND ($3 = '' OR series = $3) \
         ORDER BY start_ms DESC, series LIMIT $4",
    )
    .bind(from_ms)
    .bind(until_ms)
    .bind(series.unwrap_or(""))
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let direction: String = row.try_get(5)?;
            Ok(StoredDeviation {
                series: row.try_get(0)?,
                deviation: Deviation {
                    start_ms: row.try_get(1)?,
                    raised_ms: row.try_get(2)?,
                    end_ms: row.try_get(3)?,
                    peak_score: row.try_get(4)?,
                    direction: if direction == "below" {
                        Direction::Below
                    } else {
                        Direction::Above
                    },
                },
            })
        })
        .collect()
}

/// Every learned series' state, by series.
pub async fn series_states(store: &Store) -> Result<Vec<SeriesState>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT series, learning, level, last_ms, value, expected, scale, score, updated_ms \
         FROM baseline_series ORDER BY series",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(SeriesState {
                series: row.try_get(0)?,
                learning: row.try_get(1)?,
                level: row.try_get(2)?,
                last_ms: row.try_get(3)?,
                value: row.try_get(4)?,
                expected: row.try_get(5)?,
                scale: row.try_get(6)?,
                score: row.try_get(7)?,
                updated_ms: row.try_get(8)?,
            })
        })
        .collect()
}

/// Forgets the state of series no longer learned (a target removed, the config changed).
pub async fn forget_series(
    store: &Store,
    fence: &Fence,
    keep: &[String],
) -> Result<bool, sqlx::Error> {
    let stored = series_states(store).await?;
    let gone: Vec<&SeriesState> = stored
        .iter()
        .filter(|s| !keep.contains(&s.series))
        .collect();
    if gone.is_empty() {
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
    for state in gone {
        sqlx::query("DELETE FROM baseline_series WHERE series = $1")
            .bind(&state.series)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}
