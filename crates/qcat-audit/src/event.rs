//! What an audit entry says.

use serde::{Deserialize, Serialize};

/// How the audited attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused: no permission, bad credentials, throttled, or an escalation attempt.
    Denied,
    /// Attempted and failed (invalid input, storage error…).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ok" => Some(Outcome::Ok),
            "denied" => Some(Outcome::Denied),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

/// One audited event, before it is in the chain (serialized as is into the spool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened (ms since the epoch); set when the event is made.
    pub at_ms: i64,
    /// The console user, or `-` when nobody is signed in (a failed sign-in names the
    /// username tried in `target`).
    pub actor: String,
    /// Dotted, resource first: `auth.login`, `rbac.role.grant`, `config.set`…
    pub action: String,
    /// What was acted on: `role:operator`, `user:alice`, `config:logging.level`…
    pub target: String,
    /// Where from: `desktop:HOST` or `cli:OSUSER@HOST`.
    pub source: String,
    pub outcome: Outcome,
    /// A human sentence: the reason for a refusal or failure, or what changed.
    pub detail: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// Set when the event is spooled, so a replay stores it once.
    pub id: Option<String>,
}

impl AuditEvent {
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        source: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            at_ms: crate::now_ms(),
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            source: source.into(),
            outcome,
            detail: String::new(),
            before: None,
            after: None,
            id: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn change(
        mut self,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Self {
        self.before = before;
        self.after = after;
        self
    }
}

/// One stored entry: the event, its place in the chain and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source: String,
    pub outcome: String,
    pub detail: String,
    /// JSON text exactly as stored (the hash covers these bytes).
    pub before: Option<String>,
    pub after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The columns of `audit_log` in the order [`AuditEntry`] is read.
pub(crate) const COLUMNS: &str = "seq, at_ms, actor, action, target, source, result, detail, \
     before_json, after_json, prev_hash, hash";

pub(crate) type EntryRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

impl From<EntryRow> for AuditEntry {
    fn from(row: EntryRow) -> Self {
        let (seq, at_ms, actor, action, target, source, outcome, detail, before, after, prev, hash) =
            row;
        Self {
            seq,
            at_ms,
            actor,
            action,
            target,
            source,
            outcome,
            detail,
            before,
            after,
            prev_hash: prev,
            hash,
        }
    }
}
