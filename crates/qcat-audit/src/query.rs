//! Reading the audit log: filters, newest-first keyset pages (page N costs the same as
//! page 1, so 100 k+ entries scroll smoothly), counts and export.

use qcat_core::text::{escape_controls, escape_json_controls};
use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use qcat_store::Store;
use serde::Deserialize;
use sqlx::AssertSqlSafe;

use crate::AuditError;
use crate::event::{AuditEntry, COLUMNS, EntryRow, Outcome};

/// Which entries. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuditFilter {
    /// Exact username.
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` or `*` (`rbac.` or `rbac.*`).
    pub action: Option<String>,
    /// Text the target contains.
    pub target: Option<String>,
    pub outcome: Option<Outcome>,
    /// Inclusive lower bound, ms since the epoch.
    pub since_ms: Option<i64>,
    /// Exclusive upper bound, ms since the epoch.
    pub until_ms: Option<i64>,
}

enum Param {
    Text(String),
    Int(i64),
}

impl AuditFilter {
    /// `WHERE` conditions (joined with AND) and their parameters, numbered from `$1`.
    fn conditions(&self) -> (Vec<String>, Vec<Param>) {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        let mut add = |sql: &str, param: Param| {
            params.push(param);
            conditions.push(sql.replace('?', &format!("${}", params.len())));
        };
        if let Some(actor) = self.actor.as_deref().filter(|text| !text.is_empty()) {
            add("actor = ?", Param::Text(actor.to_owned()));
        }
        if let Some(action) = self.action.as_deref().filter(|text| !text.is_empty()) {
            if let Some(prefix) = action.strip_suffix('*') {
                add(
                    "action LIKE ? ESCAPE '\\'",
                    Param::Text(format!("{}%", like_escape(prefix))),
                );
            } else if action.ends_with('.') {
                add(
                    "action LIKE ? ESCAPE '\\'",
                    Param::Text(format!("{}%", like_escape(action))),
                );
            } else {
                add("action = ?", Param::Text(action.to_owned()));
            }
        }
        if let Some(target) = self.target.as_deref().filter(|text| !text.is_empty()) {
            add(
                "target LIKE ? ESCAPE '\\'",
                Param::Text(format!("%{}%", like_escape(target))),
            );
        }
        if let Some(outcome) = self.outcome {
            add("result = ?", Param::Text(outcome.as_str().to_owned()));
        }
        if let Some(since) = self.since_ms {
            add("at_ms >= ?", Param::Int(since));
        }
        if let Some(until) = self.until_ms {
            add("at_ms < ?", Param::Int(until));
        }
        (conditions, params)
    }
}

/// `%`, `_` and `\` in user text match themselves (with `ESCAPE '\'`, which both backends
/// understand).
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn bind_all<'q>(
    mut query: sqlx::query::QueryAs<'q, sqlx::Any, EntryRow, sqlx::any::AnyArguments>,
    params: Vec<Param>,
) -> sqlx::query::QueryAs<'q, sqlx::Any, EntryRow, sqlx::any::AnyArguments> {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text),
            Param::Int(value) => query.bind(value),
        };
    }
    query
}

/// Up to `limit` entries matching `filter`, newest first, older than `before_seq` if given.
pub async fn page(
    store: &Store,
    filter: &AuditFilter,
    before_seq: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>, AuditError> {
    let (mut conditions, mut params) = filter.conditions();
    if let Some(before) = before_seq {
        params.push(Param::Int(before));
        conditions.push(format!("seq < ${}", params.len()));
    }
    params.push(Param::Int(i64::from(limit.clamp(1, 10_000))));
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log {} ORDER BY seq DESC LIMIT ${}",
        where_clause(&conditions),
        params.len()
    );
    let rows = bind_all(sqlx::query_as(AssertSqlSafe(sql)), params)
        .fetch_all(store.pool())
        .await?;
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}

/// How many entries match `filter`.
pub async fn count(store: &Store, filter: &AuditFilter) -> Result<i64, AuditError> {
    let (conditions, params) = filter.conditions();
    let sql = format!(
        "SELECT COUNT(*) FROM audit_log {}",
        where_clause(&conditions)
    );
    let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text),
            Param::Int(value) => query.bind(value),
        };
    }
    Ok(query.fetch_one(store.pool()).await?)
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    /// One JSON array.
    Json,
}

/// Writes every entry matching `filter`, oldest first, to `out`; returns how many.
pub async fn export(
    store: &Store,
    filter: &AuditFilter,
    format: ExportFormat,
    out: &mut (dyn std::io::Write + Send),
) -> Result<u64, AuditError> {
    let (progress, cancel) = (Progress::silent("entries"), CancellationToken::new());
    export_with(store, filter, format, out, &progress, &cancel).await
}

/// [`export`] reporting entries written to `progress` and stopping when `cancel` fires.
pub async fn export_with(
    store: &Store,
    filter: &AuditFilter,
    format: ExportFormat,
    out: &mut (dyn std::io::Write + Send),
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<u64, AuditError> {
    progress.set_total(u64::try_from(count(store, filter).await?).unwrap_or(0));
    progress.phase("writing");
    let fail = |err: &dyn std::fmt::Display| AuditError::Export(err.to_string());
    let mut written = 0u64;
    enum Sink<'a> {
        Csv(Box<csv::Writer<&'a mut (dyn std::io::Write + Send)>>),
        Json(&'a mut (dyn std::io::Write + Send)),
    }
    let mut sink = match format {
        ExportFormat::Csv => {
            let mut csv = csv::Writer::from_writer(out);
            csv.write_record([
                "seq",
                "at_ms",
                "actor",
                "action",
                "target",
                "source",
                "result",
                "detail",
                "before",
                "after",
                "prev_hash",
                "hash",
            ])
            .map_err(|err| fail(&err))?;
            Sink::Csv(Box::new(csv))
        }
        ExportFormat::Json => {
            out.write_all(b"[").map_err(|err| fail(&err))?;
            Sink::Json(out)
        }
    };
    let mut after = 0i64;
    loop {
        progress.set_done(written);
        if cancel.is_cancelled() {
            return Err(AuditError::Cancelled(written));
        }
        let entries = oldest_first(store, filter, after).await?;
        let Some(last) = entries.last() else { break };
        after = last.seq;
        for entry in entries {
            match &mut sink {
                // Text an unauthenticated caller chose (a sign-in name) is in here: a CSV
                // opened in a terminal or viewer gets visible escapes, not raw controls.
                Sink::Csv(csv) => {
                    let safe = |text: &str| escape_controls(text).into_owned();
                    let json = |text: Option<String>| {
                        escape_json_controls(&text.unwrap_or_default()).into_owned()
                    };
                    csv.write_record([
                        entry.seq.to_string(),
                        entry.at_ms.to_string(),
                        safe(&entry.actor),
                        safe(&entry.action),
                        safe(&entry.target),
                        safe(&entry.source),
                        safe(&entry.outcome),
                        safe(&entry.detail),
                        json(entry.before),
                        json(entry.after),
                        entry.prev_hash,
                        entry.hash,
                    ])
                    .map_err(|err| fail(&err))?
                }
                // JSON keeps the exact text (serde escapes C0 controls; C1 and bidi as `\u009b`-style escapes).
                Sink::Json(out) => {
                    out.write_all(if written == 0 { b"\n" } else { b",\n" })
                        .map_err(|err| fail(&err))?;
                    let text = serde_json::to_string(&entry).map_err(|err| fail(&err))?;
                    out.write_all(escape_json_controls(&text).as_bytes())
                        .map_err(|err| fail(&err))?;
                }
            }
            written += 1;
        }
    }
    match sink {
        Sink::Csv(mut csv) => csv.flush().map_err(|err| fail(&err))?,
        Sink::Json(out) => {
            out.write_all(b"\n]\n").map_err(|err| fail(&err))?;
            // A buffered writer's last block is written here: a full disk must fail the
            // export, not the caller's drop.
            out.flush().map_err(|err| fail(&err))?;
        }
    }
    progress.set_done(written);
    progress.finish();
    Ok(written)
}

/// The next 5000 entries matching `filter` after `after_seq`, oldest first.
async fn oldest_first(
    store: &Store,
    filter: &AuditFilter,
    after_seq: i64,
) -> Result<Vec<AuditEntry>, AuditError> {
    let (mut conditions, mut params) = filter.conditions();
    params.push(Param::Int(after_seq));
    conditions.push(format!("seq > ${}", params.len()));
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log {} ORDER BY seq LIMIT 5000",
        where_clause(&conditions)
    );
    let rows = bind_all(sqlx::query_as(AssertSqlSafe(sql)), params)
        .fetch_all(store.pool())
        .await?;
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}

/// The newest entry of `action` (of that `result` when given) as its time, result, target
/// and detail: what alerting's event rules read ("the last backup failed", "no backup
/// succeeded for 24 hours"). One indexed lookup.
pub async fn latest(
    store: &Store,
    action: &str,
    result: Option<&str>,
) -> Result<Option<(i64, String, String, String)>, AuditError> {
    let row = match result {
        Some(result) => {
            sqlx::query(
                "SELECT at_ms, result, target, detail FROM audit_log WHERE action = $1 \
                 AND result = $2 ORDER BY seq DESC LIMIT 1",
            )
            .bind(action)
            .bind(result)
            .fetch_optional(store.pool())
            .await?
        }
        None => {
            sqlx::query(
                "SELECT at_ms, result, target, detail FROM audit_log WHERE action = $1 \
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(action)
            .fetch_optional(store.pool())
            .await?
        }
    };
    use sqlx::Row as _;
    Ok(match row {
        Some(row) => Some((
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        )),
        None => None,
    })
}
