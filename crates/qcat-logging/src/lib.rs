//! Logging for QCAT Console, the seed's `logging:` section with lumberjack semantics.
//!
//! - [`rotate`]: a writer that rotates `qcat.log` when it would pass `max_size` megabytes and
//!   when the day changes, gzips rotated files, and prunes them by count (`max_backups`) and
//!   age (`max_age` days) on a background thread.
//! - [`json`]: a tracing layer writing one JSON object per event with the span stack
//!   (names and fields) and, for errors, a backtrace.
//! - [`reader`]: lists log files and reads filtered lines, gzipped ones included, for the
//!   Logs screen and `qcatctl`.
//! - [`init`]: wires them into the global subscriber from the config.

pub mod json;
pub mod reader;
pub mod rotate;

use std::path::PathBuf;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use rotate::{RotatingFile, RotationPolicy};

/// What [`init`] needs, built from the `[logging]` config section.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `trace` … `error`, or a full `EnvFilter` directive (`QCAT_LOG` overrides it).
    pub level: String,
    pub dir: PathBuf,
    pub to_file: bool,
    pub to_console: bool,
    /// Console lines as JSON instead of readable text.
    pub console_json: bool,
    pub policy: RotationPolicy,
}

/// Installs the global subscriber. Returns the file writer (to flush at exit and for tests)
/// when logging to a file. Failing to open the log dir is reported, and console logging
/// still works.
pub fn init(settings: &LogSettings) -> Result<Option<RotatingFile>, std::io::Error> {
    let filter = EnvFilter::try_from_env("QCAT_LOG")
        .unwrap_or_else(|_| EnvFilter::new(settings.level.as_str()));
    let file = if settings.to_file {
        Some(RotatingFile::open(&settings.dir, settings.policy.clone())?)
    } else {
        None
    };
    let file_layer = file
        .clone()
        .map(|file| json::JsonLayer::new(move || file.clone()));
    let console_text = (settings.to_console && !settings.console_json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(true)
    });
    let console_json = (settings.to_console && settings.console_json)
        .then(|| json::JsonLayer::new(std::io::stderr));
    tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(console_text)
        .with(console_json)
        .try_init()
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    Ok(file)
}
