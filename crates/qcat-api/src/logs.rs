//! Logging entry points: the settings the binaries install at start-up, the Logs screen's
//! reads, and the UI's own errors forwarded into the same log.

use std::path::PathBuf;
use std::time::Duration;

use qcat_core::ErrorCode;
use qcat_core::config::{LogFormat, LogOutput};
use qcat_logging::LogSettings;
use qcat_logging::reader::{self, LogFilter, ReadError};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Api, ApiConfig, ApiError};

/// The most lines one read returns; the screen virtualises what it shows.
pub const MAX_LINES: usize = 5_000;

/// The `[logging]` section as the logging crate takes it. Relative `log_dir`s live in the
/// data dir.
pub fn log_settings(config: &ApiConfig) -> LogSettings {
    let logging = &config.config.config.logging;
    let dir = PathBuf::from(&logging.log_dir);
    let dir = if dir.is_absolute() {
        dir
    } else {
        config.data_dir.path().join(dir)
    };
    LogSettings {
        level: logging.level.as_str().to_owned(),
        dir,
        to_file: matches!(logging.output, LogOutput::File | LogOutput::Both),
        to_console: matches!(logging.output, LogOutput::Console | LogOutput::Both),
        console_json: logging.format == LogFormat::Json
            && matches!(logging.output, LogOutput::Console),
        policy: qcat_logging::RotationPolicy {
            max_bytes: logging.max_size.saturating_mul(1024 * 1024),
            max_backups: logging.max_backups as usize,
            max_age: Duration::from_secs(u64::from(logging.max_age) * 86_400),
            compress: logging.compress,
            daily: true,
        },
    }
}

/// Installs the global log subscriber from the config (once per process). Returns the file
/// writer, which the caller keeps alive; failing to open the log dir is an error the caller
/// may report and continue without a file.
pub fn init_logging(config: &ApiConfig) -> Result<Option<qcat_logging::RotatingFile>, ApiError> {
    let settings = log_settings(config);
    qcat_logging::init(&settings).map_err(|err| {
        ApiError::new(
            ErrorCode::InvalidConfig,
            format!(
                "cannot log to {}: {err}; check logging.log_dir or its permissions",
                settings.dir.display()
            ),
        )
    })
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LogFile {
    pub name: String,
    pub bytes: u64,
    pub compressed: bool,
    pub current: bool,
}

#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LogQuery {
    /// A name from `log_files`; the current file when absent.
    pub file: Option<String>,
    pub min_level: Option<String>,
    pub target: Option<String>,
    pub text: Option<String>,
    /// At most [`MAX_LINES`].
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    pub ts: String,
    pub level: String,
    pub target: String,
    pub message: String,
    /// The whole JSON line (fields, spans, backtrace) for the detail view.
    pub json: String,
}

/// Where the UI's own errors and warnings come from.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FrontendLog {
    /// `error`, `warn` or `info`.
    pub level: String,
    pub message: String,
    /// The screen or component, and a JS stack when there is one.
    pub context: Option<String>,
}

impl Api {
    fn log_dir(&self) -> PathBuf {
        log_settings(&self.inner.config).dir
    }

    pub async fn log_files(&self, slot: &crate::SessionSlot) -> Result<Vec<LogFile>, ApiError> {
        self.guard(slot, "log_files").await?;
        Ok(reader::list_files(&self.log_dir())
            .into_iter()
            .map(|file| LogFile {
                name: file.name,
                bytes: file.bytes,
                compressed: file.compressed,
                current: file.current,
            })
            .collect())
    }

    /// Filtered lines of one log file, newest last (read on a blocking thread).
    pub async fn log_lines(
        &self,
        slot: &crate::SessionSlot,
        query: LogQuery,
    ) -> Result<Vec<LogLine>, ApiError> {
        self.guard(slot, "log_lines").await?;
        let api = self.clone();
        tokio::task::spawn_blocking(move || api.read_log_lines(&query))
            .await
            .map_err(|err| ApiError::internal_in("log_lines", &err))?
    }

    fn read_log_lines(&self, query: &LogQuery) -> Result<Vec<LogLine>, ApiError> {
        if let Some(level) = &query.min_level
            && !["trace", "debug", "info", "warn", "error"].contains(&level.as_str())
        {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("minLevel {level:?}: use trace, debug, info, warn or error"),
            ));
        }
        let file = query
            .file
            .clone()
            .unwrap_or_else(|| qcat_logging::rotate::CURRENT_FILE.to_owned());
        let filter = LogFilter {
            min_level: query.min_level.clone(),
            target: query.target.clone().filter(|t| !t.is_empty()),
            text: query.text.clone().filter(|t| !t.is_empty()),
        };
        let limit = query
            .limit
            .map_or(1_000, |limit| limit as usize)
            .min(MAX_LINES);
        let lines =
            reader::read_lines(&self.log_dir(), &file, &filter, limit).map_err(
                |err| match err {
                    ReadError::NoSuchFile(_) => ApiError::new(ErrorCode::NotFound, err.to_string()),
                    ReadError::Io { .. } => ApiError::internal_in("log_lines", &err),
                },
            )?;
        Ok(lines
            .into_iter()
            .map(|line| LogLine {
                ts: line.ts,
                level: line.level,
                target: line.target,
                message: line.message,
                json: line.raw.to_string(),
            })
            .collect())
    }

    /// Records a UI error or warning in the console's log, under the target `qcat_ui`.
    /// Public in the registry: the sign-in screen's errors are reported too.
    pub fn log_frontend(&self, entry: &FrontendLog) -> Result<(), ApiError> {
        let message: String = entry.message.chars().take(4_000).collect();
        let context = entry.context.as_deref().unwrap_or("");
        match entry.level.as_str() {
            "error" => tracing::error!(target: "qcat_ui", context, "{message}"),
            "warn" => tracing::warn!(target: "qcat_ui", context, "{message}"),
            "info" => tracing::info!(target: "qcat_ui", context, "{message}"),
            other => {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("level {other:?}: use error, warn or info"),
                ));
            }
        }
        Ok(())
    }
}
