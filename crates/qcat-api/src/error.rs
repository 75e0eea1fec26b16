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

    /// For failures the caller cannot act on: logged in full here, generic on the wire.
    pub fn internal(err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            ErrorCode::Internal,
            "an internal error occurred; the details are in the console's log",
        )
    }
}
