//! The audit trail through the API: paging, counts, verification, export and retention.

use qcat_audit::anchor::{AnchorCheck, AnchorKey, Anchors};
use qcat_audit::query::{self, AuditFilter, ExportFormat};
use qcat_audit::verify::{VerifyError, verify_with};
use qcat_audit::{AuditEntry, Outcome};
use qcat_core::ErrorCode;
use qcat_core::text::{escape_controls, escape_json_controls};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use qcat_access::control::Proof;

use crate::access::SessionSlot;
use crate::jobs::{JobContext, JobStarted};
use crate::{Api, ApiError};

impl From<qcat_audit::AuditError> for ApiError {
    fn from(err: qcat_audit::AuditError) -> Self {
        tracing::error!(error = %err, chain = %crate::error::chain(&err), "audit log failure");
        let cause = match &err {
            qcat_audit::AuditError::Query(query) => {
                qcat_store::fault::describe(query, "the console's store")
            }
            other => other.to_string(),
        };
        ApiError::new(
            ErrorCode::StorageUnavailable,
            format!("the audit trail could not be read or written: {cause}"),
        )
    }
}

/// Which entries (every field optional).
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct AuditFilterInput {
    pub actor: Option<String>,
    /// Exact, or a prefix ending in `.` or `*`.
    pub action: Option<String>,
    pub target: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub outcome: Option<String>,
    #[ts(type = "number | null")]
    pub since_ms: Option<i64>,
    #[ts(type = "number | null")]
    pub until_ms: Option<i64>,
}

impl AuditFilterInput {
    pub fn to_filter(&self) -> Result<AuditFilter, ApiError> {
        let outcome = match self.outcome.as_deref().filter(|text| !text.is_empty()) {
            None => None,
            Some(text) => Some(Outcome::parse(text).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("outcome {text:?}: use ok, denied or failed"),
                )
            })?),
        };
        Ok(AuditFilter {
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            outcome,
            since_ms: self.since_ms,
            until_ms: self.until_ms,
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct AuditQuery {
    pub filter: AuditFilterInput,
    /// Entries with a smaller sequence number than this (the last one of the previous page).
    #[ts(type = "number | null")]
    pub before_seq: Option<i64>,
    /// At most this many (default 200, at most 10 000).
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryView {
    #[ts(type = "number")]
    pub seq: i64,
    #[ts(type = "number")]
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source: String,
    pub outcome: String,
    pub detail: String,
    /// JSON text of the state before and after a change.
    pub before: Option<String>,
    pub after: Option<String>,
    pub hash: String,
}

/// Entries are shown with display controls escaped (`\e`, `\n`, `\u{202e}`): a sign-in
/// name is chosen by whoever types it, and raw it could forge a line in a terminal or flip
/// text in the window. What is stored is what was sent.
impl From<AuditEntry> for AuditEntryView {
    fn from(entry: AuditEntry) -> Self {
        let text = |text: String| match escape_controls(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(escaped) => escaped,
        };
        let json = |json: Option<String>| json.map(|json| escape_json_controls(&json).into_owned());
        Self {
            seq: entry.seq,
            at_ms: entry.at_ms,
            actor: text(entry.actor),
            action: text(entry.action),
            target: text(entry.target),
            source: text(entry.source),
            outcome: text(entry.outcome),
            detail: text(entry.detail),
            before: json(entry.before),
            after: json(entry.after),
            hash: entry.hash,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AuditVerifyReport {
    pub ok: bool,
    #[ts(type = "number")]
    pub entries: u64,
    #[ts(type = "number | null")]
    pub first_seq: Option<i64>,
    #[ts(type = "number | null")]
    pub last_seq: Option<i64>,
    #[ts(type = "number | null")]
    pub checkpoint_seq: Option<i64>,
    /// The first entry that does not hold.
    #[ts(type = "number | null")]
    pub broken_seq: Option<i64>,
    pub problem: Option<String>,
    /// Anchors in the data dir's anchor file, and the newest one the trail was checked
    /// against (`null`: nothing anchored yet, or no master key to check with).
    #[ts(type = "number")]
    pub anchors: u64,
    #[ts(type = "number | null")]
    pub anchored_seq: Option<i64>,
}

impl Api {
    pub async fn audit_page(
        &self,
        slot: &SessionSlot,
        query: AuditQuery,
    ) -> Result<Vec<AuditEntryView>, ApiError> {
        self.guard(slot, "audit_page").await?;
        // What was just done (and refused) is visible: queued entries are written first.
        self.access()?.audit().flush().await?;
        let filter = query.filter.to_filter()?;
        let entries = query::page(
            self.store()?,
            &filter,
            query.before_seq,
            query.limit.unwrap_or(200),
        )
        .await?;
        Ok(entries.into_iter().map(AuditEntryView::from).collect())
    }

    pub async fn audit_count(
        &self,
        slot: &SessionSlot,
        filter: AuditFilterInput,
    ) -> Result<i64, ApiError> {
        self.guard(slot, "audit_count").await?;
        self.access()?.audit().flush().await?;
        Ok(query::count(self.store()?, &filter.to_filter()?).await?)
    }

    /// Writes everything queued, then walks the chain. The run itself is audited.
    pub async fn audit_verify(&self, slot: &SessionSlot) -> Result<JobStarted, ApiError> {
        let proof = self.guard(slot, "audit_verify").await?;
        let actor = proof.actor().to_owned();
        self.start_job(
            "audit.verify",
            &actor,
            "entries",
            move |api, job| async move {
                let report = api.verify_for(&proof, &job).await?;
                Ok(serde_json::to_value(report).unwrap_or_default())
            },
        )
        .await
    }

    /// The verification a job runs, audited with its outcome (a cancelled run included).
    async fn verify_for(
        &self,
        proof: &Proof,
        job: &JobContext,
    ) -> Result<AuditVerifyReport, ApiError> {
        let access = self.access()?;
        job.progress.phase("flushing");
        access.audit().flush().await?;
        let verified = verify_with(self.store()?, &job.progress, &job.cancel).await;
        let mut report = match verified {
            Ok(verified) => AuditVerifyReport {
                ok: true,
                entries: verified.entries,
                first_seq: verified.first_seq,
                last_seq: verified.last_seq,
                checkpoint_seq: verified.checkpoint_seq,
                broken_seq: None,
                problem: None,
                anchors: 0,
                anchored_seq: None,
            },
            Err(VerifyError::Broken(broken)) => AuditVerifyReport {
                ok: false,
                entries: 0,
                first_seq: None,
                last_seq: None,
                checkpoint_seq: None,
                broken_seq: Some(broken.seq),
                problem: Some(broken.to_string()),
                anchors: 0,
                anchored_seq: None,
            },
            Err(VerifyError::Cancelled { checked }) => {
                let event = proof
                    .event("audit.verify", "audit:chain", Outcome::Failed)
                    .detail(format!("cancelled after {checked} entries"));
                access.audit().record(event).await?;
                return Err(job.cancelled(format!(
                    "verification cancelled after {checked} entries; nothing was concluded"
                )));
            }
            Err(VerifyError::Audit(err)) => return Err(err.into()),
        };
        job.progress.phase("anchors");
        // The chain holds together; the anchors say whether it still reaches as far, and
        // through the same entries, as it did when they were written.
        let anchors = self.check_anchors().await?;
        report.anchors = anchors.anchors;
        report.anchored_seq = anchors.checked.as_ref().map(|anchor| anchor.seq);
        if report.ok
            && let Some(problem) = anchors.problem
        {
            report.ok = false;
            report.problem = Some(problem);
        }
        let event = proof
            .event(
                "audit.verify",
                "audit:chain",
                if report.ok {
                    Outcome::Ok
                } else {
                    Outcome::Failed
                },
            )
            .detail(
                report
                    .problem
                    .clone()
                    .unwrap_or_else(|| format!("{} entries verified", report.entries)),
            );
        access.audit().record(event).await?;
        self.publish_anchor().await;
        Ok(report)
    }

    /// The anchor MAC keys: one per master key this console has (rotation keeps old ones).
    fn anchor_keys(&self) -> Vec<AnchorKey> {
        match &self.inner.keys {
            Ok(keys) => keys
                .all()
                .iter()
                .map(|key| AnchorKey::new(key.id(), key.derive(ANCHOR_PURPOSE)))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    async fn anchors(&self) -> Result<Anchors, ApiError> {
        Ok(Anchors::of(self.inner.config.data_dir.path(), self.store()?).await?)
    }

    async fn check_anchors(&self) -> Result<AnchorCheck, ApiError> {
        Ok(self
            .anchors()
            .await?
            .check(self.store()?, &self.anchor_keys())
            .await?)
    }

    /// Publishes the chain's head as an anchor (at close, every minute while a console
    /// runs, after a verification). Without a master key there is nothing to MAC with: the
    /// trail stays verifiable by its chain alone, and that is logged.
    pub(crate) async fn publish_anchor(&self) {
        let (Ok(store), Ok(keys)) = (self.store(), &self.inner.keys) else {
            return;
        };
        let key = keys.current();
        let key = AnchorKey::new(key.id(), key.derive(ANCHOR_PURPOSE));
        let published = match self.anchors().await {
            Ok(anchors) => anchors.publish(store, &key).await.map_err(ApiError::from),
            Err(err) => Err(err),
        };
        if let Err(err) = published {
            tracing::warn!(error = %err.message, "the audit chain could not be anchored");
        }
    }

    /// Writes matching entries to `out`; the export is audited before it starts.
    pub async fn audit_export(
        &self,
        slot: &SessionSlot,
        filter: AuditFilterInput,
        format: ExportFormat,
        out: &mut (dyn std::io::Write + Send),
        progress: &qcat_runtime::progress::Progress,
    ) -> Result<u64, ApiError> {
        let proof = self.guard(slot, "audit_export").await?;
        let filter_value = filter.to_filter()?;
        let cancel = qcat_runtime::CancellationToken::new();
        let result =
            query::export_with(self.store()?, &filter_value, format, out, progress, &cancel)
                .await
                .map_err(ApiError::from);
        self.record_export(&proof, format, &filter_value, &result, "standard output")
            .await?;
        result
    }

    /// The export's entry, written once it is known whether the export was written: `ok`
    /// with the count, or `failed` with why (a full disk, a closed pipe).
    async fn record_export(
        &self,
        proof: &Proof,
        format: ExportFormat,
        filter: &AuditFilter,
        result: &Result<u64, ApiError>,
        to: &str,
    ) -> Result<(), ApiError> {
        let event = match result {
            Ok(entries) => proof
                .event("audit.export", "audit:log", Outcome::Ok)
                .detail(format!(
                    "{format:?} export of {entries} entries to {to}, filter {filter:?}"
                )),
            Err(err) => proof
                .event("audit.export", "audit:log", Outcome::Failed)
                .detail(format!(
                    "{format:?} export to {to} failed: {}; filter {filter:?}",
                    err.message
                )),
        };
        self.access()?.audit().record(event).await?;
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AuditExportInput {
    pub filter: AuditFilterInput,
    /// `csv` or `json`.
    pub format: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ExportedFile {
    /// Where the file was written (the data dir's `exports` folder).
    pub path: String,
    #[ts(type = "number")]
    pub entries: u64,
}

impl Api {
    /// Writes matching entries to a new file in `<data dir>/exports/` (named by the time,
    /// complete or absent: written under a temporary name, then renamed).
    pub async fn audit_export_file(
        &self,
        slot: &SessionSlot,
        input: AuditExportInput,
    ) -> Result<JobStarted, ApiError> {
        let proof = self.guard(slot, "audit_export_file").await?;
        let format = export_format(&input.format)?;
        let filter = input.filter.to_filter()?;
        let actor = proof.actor().to_owned();
        self.start_job(
            "audit.export",
            &actor,
            "entries",
            move |api, job| async move {
                let file = api.export_to_file(&proof, format, filter, &job).await?;
                Ok(serde_json::to_value(file).unwrap_or_default())
            },
        )
        .await
    }

    async fn export_to_file(
        &self,
        proof: &Proof,
        format: ExportFormat,
        filter: AuditFilter,
        job: &JobContext,
    ) -> Result<ExportedFile, ApiError> {
        let dir = self.inner.config.data_dir.path().join("exports");
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(':', "");
        let extension = match format {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        };
        let path = dir.join(format!("qcat-audit-{stamp}.{extension}"));
        let partial = path.with_extension(format!("{extension}.part"));
        let io_error = |err: std::io::Error| {
            ApiError::new(
                ErrorCode::Internal,
                format!("cannot write {}: {err}", partial.display()),
            )
        };
        let finished = async {
            qcat_core::private_files::create_dir(&dir).map_err(io_error)?;
            let file = qcat_core::private_files::open_append(&partial).map_err(io_error)?;
            let mut out = std::io::BufWriter::new(file);
            let entries = query::export_with(
                self.store()?,
                &filter,
                format,
                &mut out,
                &job.progress,
                &job.cancel,
            )
            .await
            .map_err(|err| match err {
                qcat_audit::AuditError::Cancelled(written) => job.cancelled(format!(
                    "export cancelled after {written} entries; no file was left"
                )),
                other => other.into(),
            })?;
            let file = out.into_inner().map_err(|err| io_error(err.into_error()))?;
            file.sync_all().map_err(io_error)?;
            std::fs::rename(&partial, &path).map_err(io_error)?;
            Ok(entries)
        }
        .await;
        if finished.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        self.record_export(
            proof,
            format,
            &filter,
            &finished,
            &path.display().to_string(),
        )
        .await?;
        Ok(ExportedFile {
            path: path.display().to_string(),
            entries: finished?,
        })
    }
}

/// What the anchor MAC key is derived for (changing it orphans every anchor).
const ANCHOR_PURPOSE: &str = "qcat audit anchor v1";

/// A running console or agent anchors the chain's head this often (if it moved).
pub(crate) const ANCHOR_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Api {
    /// Prunes entries older than `audit.retention_days` (the maintenance schedule's job).
    pub(crate) async fn prune_old_entries(&self) {
        let Ok(store) = self.store() else { return };
        let days = self.inner.config.config.config.audit.retention_days;
        let cutoff = qcat_audit::now_ms() - i64::from(days) * 86_400_000;
        match qcat_audit::retention::prune(store, cutoff, "retention").await {
            Ok(Some(marker)) => tracing::info!(
                pruned = marker.pruned,
                up_to = marker.up_to_seq,
                "audit retention pruned old entries"
            ),
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "audit retention failed"),
        }
    }

    /// One scheduled check; a broken chain is logged and recorded.
    pub(crate) async fn scheduled_verify(&self, job: &JobContext) {
        let (Ok(store), Ok(access)) = (self.store(), self.access()) else {
            return;
        };
        if let Err(err) = access.audit().flush().await {
            tracing::warn!(error = %err, "queued audit entries not written before verification");
        }
        let verified = verify_with(store, &job.progress, &job.cancel).await;
        let anchored = match &verified {
            Ok(_) => self
                .check_anchors()
                .await
                .ok()
                .and_then(|check| check.problem),
            Err(_) => None,
        };
        if let Some(problem) = anchored {
            tracing::error!(problem = %problem, "AUDIT TRAIL CUT OFF OR REWRITTEN");
            record_break(access, problem).await;
            return;
        }
        match verified {
            Ok(verified) => {
                tracing::info!(entries = verified.entries, "audit chain verified");
                self.publish_anchor().await;
            }
            Err(VerifyError::Broken(broken)) => {
                tracing::error!(seq = broken.seq, problem = %broken.problem, "AUDIT CHAIN BROKEN");
                record_break(access, broken.to_string()).await;
            }
            Err(VerifyError::Audit(err)) => {
                tracing::warn!(error = %err, "scheduled audit verification could not run");
            }
            Err(VerifyError::Cancelled { checked }) => {
                tracing::info!(checked, "scheduled audit verification cancelled");
            }
        }
    }
}

/// Records a break a scheduled check found, in the trail itself.
async fn record_break(access: &qcat_access::control::AccessControl, problem: String) {
    let event = qcat_audit::AuditEvent::new(
        "-",
        "audit.verify",
        "audit:chain",
        "scheduled",
        Outcome::Failed,
    )
    .detail(problem);
    if let Err(err) = access.audit().record(event).await {
        tracing::error!(error = %err, "the broken trail could not be recorded");
    }
}

/// Parses `csv` or `json`.
pub fn export_format(text: &str) -> Result<ExportFormat, ApiError> {
    match text {
        "csv" => Ok(ExportFormat::Csv),
        "json" => Ok(ExportFormat::Json),
        other => Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("--format {other:?}: use csv or json"),
        )),
    }
}
