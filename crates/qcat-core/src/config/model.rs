//! The typed configuration, one struct per section of `config/default.toml`.
//!
//! Secret-bearing keys are [`SecretSetting`]s: the raw text (`ENC:…`, `secret:NAME`, or a
//! plaintext from the environment), redacted in Debug and never serialized. They are resolved
//! to plaintext only where used, by the secrets crate.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub app: AppConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub jwt: JwtConfig,
    pub auth: AuthConfig,
    pub logging: LoggingConfig,
    pub monitoring: MonitoringConfig,
    pub baseline: BaselineConfig,
    pub alerting: AlertingConfig,
    pub audit: AuditConfig,
    pub backup: BackupConfig,
    pub runtime: RuntimeConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub name: String,
    pub version: String,
    pub environment: Environment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Development,
    Staging,
    Production,
}

/// The raw text of a secret-bearing key. Debug prints `<redacted>` unless empty; there is no
/// Serialize, so it cannot reach an IPC response or a JSON log.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretSetting(String);

impl SecretSetting {
    /// A setting stored elsewhere than the config file (a monitoring target's password in
    /// the store): `ENC:…`, `secret:NAME` or empty.
    pub fn from_raw(text: String) -> Self {
        Self(text)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw setting text, for the secrets crate to resolve. Never log or return it.
    pub fn raw(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("<redacted>")
        }
    }
}

impl<'de> Deserialize<'de> for SecretSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretSetting)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Empty, or a `postgres://` URL (which may carry a password, hence secret).
    pub url: SecretSetting,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: SecretSetting,
    pub name: String,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
    pub statement_timeout_secs: u64,
    pub lock_timeout_secs: u64,
    pub idle_in_transaction_timeout_secs: u64,
    pub command_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    pub addr: String,
    pub password: SecretSetting,
    pub db: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub secret_key: SecretSetting,
    pub expiration_hours: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogOutput {
    File,
    Console,
    Both,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    pub level: LogLevel,
    pub format: LogFormat,
    pub output: LogOutput,
    /// Megabytes before the current file is rotated.
    pub max_size: u64,
    /// Rotated files kept.
    pub max_backups: u32,
    /// Days a rotated file is kept.
    pub max_age: u32,
    pub compress: bool,
    /// Relative to the data dir unless absolute.
    pub log_dir: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    pub prometheus_enabled: bool,
    pub prometheus_port: u16,
    pub metrics_path: String,
    pub prometheus_bind: String,
    #[serde(deserialize_with = "duration_text")]
    pub flush_interval: Duration,
    #[serde(deserialize_with = "duration_text")]
    pub retention_raw: Duration,
    #[serde(deserialize_with = "duration_text")]
    pub retention_minute: Duration,
    #[serde(deserialize_with = "duration_text")]
    pub retention_hour: Duration,
    /// Targets defined in the config file (`[monitoring.targets.NAME]`); the window and
    /// `qcatctl target add` define the others, in the store.
    #[serde(default)]
    pub targets: std::collections::BTreeMap<String, TargetSetting>,
}

/// The learned baselines: which series, and when a deviation becomes an event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// Selectors of the series learned automatically.
    pub series: Vec<String>,
    /// Robust units (≈ σ) a value must stray.
    pub threshold: f64,
    /// How long it must stray before it is an event.
    #[serde(deserialize_with = "duration_text")]
    pub deviation_for: Duration,
    /// History learned before a baseline speaks.
    #[serde(deserialize_with = "duration_text")]
    pub min_history: Duration,
    /// Occurrences of each half hour of the week remembered.
    pub weeks: u32,
}

/// A monitoring target as the config file defines it (checked in `validate`; the
/// monitoring crate checks the URL and password rules it shares with the window).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetSetting {
    pub kind: String,
    pub url: String,
    pub password: SecretSetting,
    pub environment: String,
    pub interval: String,
    pub timeout: String,
    pub queries: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    pub default_channels: Vec<String>,
    pub retry_count: u32,
    #[serde(deserialize_with = "duration_text")]
    pub retry_interval: Duration,
    #[serde(deserialize_with = "duration_text")]
    pub timeout: Duration,
    pub rate_limit: u32,
    #[serde(deserialize_with = "duration_text")]
    pub rate_limit_window: Duration,
    #[serde(deserialize_with = "duration_text")]
    pub evaluation_interval: Duration,
    pub api_token: SecretSetting,
    /// How long resolved alerts, sent or dead notifications, expired silences and the
    /// notification log are kept (Alertmanager's `--data.retention`, which is 120h).
    #[serde(deserialize_with = "duration_text")]
    pub history_retention: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(deserialize_with = "duration_text")]
    pub session_idle: Duration,
    #[serde(deserialize_with = "duration_text")]
    pub session_max: Duration,
    pub failed_login_limit: u32,
    pub failed_login_limit_per_source: u32,
    pub failed_login_limit_per_user: u32,
    #[serde(deserialize_with = "duration_text")]
    pub failed_login_window: Duration,
    #[serde(deserialize_with = "duration_text")]
    pub lockout: Duration,
    #[serde(deserialize_with = "duration_text")]
    pub max_lockout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    pub enabled: bool,
    pub log_level: LogLevel,
    pub retention_days: u32,
    pub batch_size: u32,
    #[serde(deserialize_with = "duration_text")]
    pub batch_timeout: Duration,
    pub async_mode: bool,
    pub compression_enabled: bool,
    pub encryption_enabled: bool,
    pub maintenance_schedule: String,
    #[serde(deserialize_with = "duration_text")]
    pub maintenance_jitter: Duration,
    pub maintenance_missed: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    pub time_zone: String,
    #[serde(deserialize_with = "duration_text")]
    pub failover: Duration,
    #[serde(deserialize_with = "duration_text")]
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    pub repository: String,
    /// The monitoring targets (PostgreSQL, Redis) and `files` a recovery point takes when
    /// none are named.
    pub sources: Vec<String>,
    /// Folders the `files` source takes besides the console's config folder.
    pub folders: Vec<String>,
    /// Where pg_dump/pg_restore of the server's major version are, when not in the usual
    /// place (`/usr/lib/postgresql/<major>/bin` or PATH).
    pub pg_bin_dir: String,
    pub keep_full: u32,
    /// Fulls younger than this are kept beyond `keep_full`; 0 turns the age rule off.
    #[serde(deserialize_with = "duration_text")]
    pub keep_age: Duration,
    /// Cron or `@every` schedules of each backup type; empty: none.
    pub schedule_full: String,
    pub schedule_diff: String,
    pub schedule_incr: String,
    /// The rolling verification's schedule and how long each run may read.
    pub schedule_verify: String,
    /// Restore drills: their schedule, the PostgreSQL server scratch copies go to (empty:
    /// each source's own server) and the recovery time objective they are measured against.
    pub schedule_drill: String,
    pub drill_server: String,
    #[serde(deserialize_with = "duration_text")]
    pub rto: Duration,
    #[serde(deserialize_with = "duration_text")]
    pub verify_budget: Duration,
    pub compression_level: i32,
    pub encryption_enabled: bool,
}

/// Durations are written as text: "30s", "5m", "1h30m", "250ms".
fn duration_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(|err| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration ({err}); write it like \"30s\", \"5m\" or \"1h\""
        ))
    })
}
