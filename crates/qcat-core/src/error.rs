//! The one table of error codes that crosses every boundary (IPC, CLI exit output, logs).
//!
//! Each crate keeps its own `thiserror` enum for callers that branch; at the API boundary
//! every such error maps to exactly one [`ErrorCode`]. The UI branches on the code, never
//! on the message text, so codes are append-only and their spelling never changes.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error class. The string form (`snake_case`) is the wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A bug or an unexpected failure; the full error is in the log, not in the message.
    Internal,
    /// The caller sent something malformed; the message names the field and the fix.
    InvalidInput,
    /// The configuration is invalid; the message names the key, the layer and the fix.
    InvalidConfig,
    /// The thing asked for does not exist.
    NotFound,
    /// The action conflicts with the current state (already exists, in use, changed meanwhile).
    Conflict,
    /// The storage backend cannot be reached or refused the operation.
    StorageUnavailable,
    /// The stored schema is newer than this build, or a migration failed.
    StorageSchema,
    /// The caller is not logged in, or the session expired.
    Unauthenticated,
    /// The caller is logged in but lacks the permission the action needs.
    PermissionDenied,
    /// The master key or the keychain cannot be reached (locked, absent, unreadable).
    SecretsUnavailable,
    /// Too many failed sign-ins for this user or from this place; try again later.
    Throttled,
    /// A store this data dir used before is gone, emptied or replaced; the message says how
    /// to restore it or start anew on purpose.
    StorageLost,
    /// A job was cancelled before it finished (by its user, or by a stopping process).
    Cancelled,
    /// Stored data failed its check (a backup chunk that does not authenticate or hash);
    /// the message names what is damaged and what depends on it.
    Damaged,
    /// A system the console reads or writes for the user (a backed-up database, a restore
    /// target) cannot be reached or refused; the message says which and why.
    SourceUnavailable,
}

impl ErrorCode {
    /// Every code, in table order; used to generate the UI's code table and to test it.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::Internal,
        ErrorCode::InvalidInput,
        ErrorCode::InvalidConfig,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::StorageUnavailable,
        ErrorCode::StorageSchema,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::SecretsUnavailable,
        ErrorCode::Throttled,
        ErrorCode::StorageLost,
        ErrorCode::Cancelled,
        ErrorCode::Damaged,
        ErrorCode::SourceUnavailable,
    ];

    /// The wire spelling of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::StorageSchema => "storage_schema",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::SecretsUnavailable => "secrets_unavailable",
            ErrorCode::Throttled => "throttled",
            ErrorCode::StorageLost => "storage_lost",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Damaged => "damaged",
            ErrorCode::SourceUnavailable => "source_unavailable",
        }
    }

    /// The process exit code `qcatctl` uses for this error class (sysexits-style, so
    /// scripts can branch without parsing text).
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorCode::InvalidInput => 64,
            ErrorCode::InvalidConfig => 78,
            ErrorCode::NotFound => 66,
            ErrorCode::Conflict | ErrorCode::Throttled => 75,
            ErrorCode::StorageUnavailable
            | ErrorCode::SecretsUnavailable
            | ErrorCode::SourceUnavailable => 69,
            ErrorCode::StorageSchema | ErrorCode::StorageLost => 65,
            // As fsck reports "errors found, left uncorrected": a verify that ran and found
            // damage (4) is told apart from one that could not run (65, 69, 70…).
            ErrorCode::Damaged => 4,
            ErrorCode::Unauthenticated | ErrorCode::PermissionDenied => 77,
            ErrorCode::Internal => 70,
            // As a shell reports a command stopped by Ctrl-C.
            ErrorCode::Cancelled => 130,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_spelling_is_the_documented_wire_spelling() {
        // The UI and scripts match on these strings; serde and `as_str` must never disagree.
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).expect("a unit variant serializes");
            assert_eq!(json, code.as_str(), "serde and as_str differ for {code:?}");
        }
    }

    #[test]
    fn codes_are_unique() {
        // Two variants with one spelling would make the UI unable to tell them apart.
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(
                seen.insert(code.as_str()),
                "duplicate code {}",
                code.as_str()
            );
        }
    }
}
