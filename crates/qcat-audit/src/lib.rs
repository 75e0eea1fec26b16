//! The audit trail of QCAT Console: who did what, to what, when, from where, with what
//! result, and the before/after of a change.
//!
//! - [`event`]: what is recorded ([`AuditEvent`]) and what is stored ([`AuditEntry`]).
//! - [`chain`]: the hash chain and [`chain::append`], which writes entries inside a caller's
//!   transaction, so a change and its entry commit together.
//! - [`writer`]: the batching writer for events that are not part of a store transaction
//!   (sign-ins, denials, config files, secrets); a caller that must not report done before
//!   its entry is durable awaits [`AuditWriter::record`].
//! - [`spool`]: the local synced file that queued events wait in, so `async_mode` loses
//!   nothing when the process is killed.
//! - [`verify`]: walks the chain and names the first entry that was changed, deleted or
//!   reordered.
//! - [`query`]: filtered, keyset-paged reads, counts and CSV/JSON export.
//! - [`retention`]: prunes old entries and leaves a checkpoint so the rest still verifies.
//! - [`mirror`]: each committed entry also written to the log at `audit.log_level`.
//! - [`anchor`]: the head MAC'd under a key the store does not hold, kept outside the
//!   store, so a cut-off end or a consistent rewrite is found too.

pub mod anchor;
pub mod chain;
pub mod event;
pub mod mirror;
pub mod query;
pub mod retention;
pub mod spool;
pub mod stats;
pub mod verify;
pub mod writer;

pub use event::{AuditEntry, AuditEvent, Outcome};
pub use qcat_core::time::now_ms;
pub use writer::{AuditWriter, WriterOptions};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log could not be written or read: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the audit entry was not recorded: {0}")]
    NotRecorded(String),
    #[error("the audit writer has stopped; the entry was not recorded")]
    WriterStopped,
    #[error("the audit export could not be written: {0}")]
    Export(String),
    #[error("the audit anchor file could not be read or written: {0}")]
    Anchor(String),
    #[error("cancelled after {0} entries")]
    Cancelled(u64),
}
