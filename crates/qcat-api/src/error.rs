//! The error that crosses every boundary: `{code, message}`.
//!
//! Messages are for people and safe to show: they never carry secrets (store locations are
//! redacted) and internal failures get a generic message while the full error is logged.

use qcat_core::ErrorCode;
use serde::Serialize;
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{message} [{code}]")]
pub struct ApiError {
    #[ts(type = "ErrorCode")]
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn data_dir(err: qcat_core::paths::DataDirError) -> Self {
        Self::new(ErrorCode::InvalidConfig, err.to_string())
    }

    pub(crate) fn config(err: qcat_core::config::ConfigError) -> Self {
        Self::new(ErrorCode::InvalidConfig, err.to_string())
    }

    pub(crate) fn storage_ref(err: &qcat_store::StoreError) -> Self {
        Self::new(err.code(), err.to_string())
    }

    /// A failed query: what it means for the store and the fix ([`qcat_store::fault`]),
    /// the raw error in the log.
    pub(crate) fn store_failure(err: &sqlx::Error) -> Self {
        let message = qcat_store::fault::describe(err, "the console's store");
        tracing::error!(error = %err, chain = %chain(err), "store failure");
        Self::new(ErrorCode::StorageUnavailable, message)
    }

    /// For failures the caller cannot act on: logged in full here (with every cause), generic
    /// on the wire.
    pub fn internal(err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            ErrorCode::Internal,
            "an internal error occurred; the details are in the console's log",
        )
    }

    /// [`ApiError::internal`] for an error with causes, naming the command it broke.
    pub fn internal_in(command: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(command, error = %err, chain = %chain(err), "internal error");
        Self::new(
            ErrorCode::Internal,
            "an internal error occurred; the details are in the console's log",
        )
    }
}

/// `err` and every source under it, `: `-separated (what `{:#}` prints for anyhow).
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
