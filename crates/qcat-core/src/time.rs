//! Time as the store keeps it: `BIGINT` milliseconds since the Unix epoch.

/// Now, in milliseconds since the epoch (0 for a clock before 1970, saturating far ahead).
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}
