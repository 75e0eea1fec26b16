//! Every stored audit entry also goes to the console's log (target `qcat_audit::entry`) at
//! `audit.log_level`, so a log shipper sees the trail as it is written. Called after the
//! entry's transaction commits, never before (a rolled-back change logs nothing).

use std::sync::atomic::{AtomicU8, Ordering};

use qcat_core::config::LogLevel;

use crate::AuditEntry;

static LEVEL: AtomicU8 = AtomicU8::new(2);

fn encode(level: LogLevel) -> u8 {
    match level {
        LogLevel::Trace => 0,
        LogLevel::Debug => 1,
        LogLevel::Info => 2,
        LogLevel::Warn => 3,
        LogLevel::Error => 4,
    }
}

/// Sets the level entries are logged at (`audit.log_level`); the process-wide default is
/// info.
pub fn set_level(level: LogLevel) {
    LEVEL.store(encode(level), Ordering::Relaxed);
}

/// Logs committed entries at the configured level. Text fields are written as stored; the
/// JSON log escapes them.
pub fn committed(entries: &[AuditEntry]) {
    crate::stats::observe(entries);
    for entry in entries {
        macro_rules! log {
            ($level:ident) => {
                tracing::$level!(
                    target: "qcat_audit::entry",
                    seq = entry.seq,
                    actor = %entry.actor,
                    action = %entry.action,
                    entry_target = %entry.target,
                    source = %entry.source,
                    result = %entry.outcome,
                    detail = %entry.detail,
                    "audit entry"
                )
            };
        }
        match LEVEL.load(Ordering::Relaxed) {
            0 => log!(trace),
            1 => log!(debug),
            2 => log!(info),
            3 => log!(warn),
            _ => log!(error),
        }
    }
}
