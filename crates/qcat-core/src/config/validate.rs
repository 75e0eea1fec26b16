//! Stage two: the merged table into [`Config`], then value checks, each problem attached to
//! the key and the layer its value came from.

use std::time::Duration;

use super::{Config, ConfigProblem, Origin};

/// Deserializes key by key first, so a bad value is reported against its own key (serde's
/// error for the whole document names no key), then the whole table.
pub(super) fn typed(
    merged: toml::Table,
    origin_of: &dyn Fn(&str) -> Option<Origin>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Config> {
    for (key, expected) in ENUMS {
        if let Some(value) = lookup(&merged, key).and_then(toml::Value::as_str)
            && !expected.contains(&value)
        {
            problems.push(ConfigProblem {
                key: (*key).into(),
                origin: origin_of(key),
                problem: format!("{value:?} is not one of {}", expected.join(", ")),
                fix: format!("set it to one of: {}", expected.join(", ")),
            });
        }
    }
    for key in DURATIONS {
        if let Some(value) = lookup(&merged, key).and_then(toml::Value::as_str)
            && let Err(err) = humantime::parse_duration(value)
        {
            problems.push(ConfigProblem {
                key: (*key).into(),
                origin: origin_of(key),
                problem: format!("{value:?} is not a duration ({err})"),
                fix: "write it like \"30s\", \"5m\" or \"1h\"".into(),
            });
        }
    }
    // Every key's value must fit its type (a port in u16, a count in u32): each misfit is
    // reported against its own key and origin, replaced by its default, and deserializing
    // goes on, so one bad value hides no other.
    let mut merged = toml::Value::Table(merged);
    let reported = problems.len();
    let mut config = None;
    for _ in 0..=MAX_TYPE_PROBLEMS {
        match serde_path_to_error::deserialize::<_, Config>(merged.clone()) {
            Ok(typed) => {
                config = Some(typed);
                break;
            }
            Err(err) => {
                let key = err.path().to_string();
                let problem = describe_misfit(&err.inner().to_string());
                let default = defaults(&key);
                problems.push(ConfigProblem {
                    origin: origin_of(&key),
                    fix: match &default {
                        Some(default) => format!("{} (the default is {default})", problem.1),
                        None => problem.1.clone(),
                    },
                    problem: problem.0,
                    key: key.clone(),
                });
                match (default, merged.as_table_mut()) {
                    (Some(default), Some(table)) if lookup(table, &key) != Some(&default) => {
                        super::layers::insert_path(table, &key, default)
                    }
                    // The default itself does not fit: a bug in this build, not in the file.
                    _ => break,
                }
            }
        }
    }
    if problems.len() > reported {
        None
    } else {
        config
    }
}

/// More misfits than this in one configuration are not worth listing one by one.
const MAX_TYPE_PROBLEMS: usize = 64;

/// The shipped default of `key`.
fn defaults(key: &str) -> Option<toml::Value> {
    let table: toml::Table = super::DEFAULT_TOML.parse().ok()?;
    lookup(&table, key).cloned()
}

/// serde's "invalid value: integer `-5`, expected u32" as a problem and a fix in words.
fn describe_misfit(message: &str) -> (String, String) {
    let range = |kind: &str| match kind {
        "u8" => Some("a whole number from 0 to 255"),
        "u16" => Some("a whole number from 0 to 65535"),
        "u32" => Some("a whole number from 0 to 4294967295"),
        "u64" | "usize" => Some("a whole number of 0 or more"),
        "i32" => Some("a whole number from -2147483648 to 2147483647"),
        _ => None,
    };
    if let Some((found, expected)) = message.split_once(", expected ") {
        let found = found
            .trim_start_matches("invalid value: ")
            .trim_start_matches("invalid type: ")
            .replace('`', "");
        let expected = range(expected.trim()).unwrap_or(expected.trim());
        return (
            format!("{found} does not fit: expected {expected}"),
            format!("use {expected}"),
        );
    }
    (message.to_owned(), "correct the value".to_owned())
}

const ENUMS: &[(&str, &[&str])] = &[
    ("app.environment", &["development", "staging", "production"]),
    (
        "logging.level",
        &["trace", "debug", "info", "warn", "error"],
    ),
    ("logging.format", &["json", "text"]),
    ("logging.output", &["file", "console", "both"]),
    (
        "audit.log_level",
        &["trace", "debug", "info", "warn", "error"],
    ),
];

const DURATIONS: &[&str] = &[
    "alerting.retry_interval",
    "alerting.timeout",
    "alerting.rate_limit_window",
    "alerting.evaluation_interval",
    "alerting.history_retention",
    "audit.batch_timeout",
    "auth.session_idle",
    "auth.session_max",
    "auth.failed_login_window",
    "auth.lockout",
    "auth.max_lockout",
];

fn lookup<'t>(table: &'t toml::Table, key: &str) -> Option<&'t toml::Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

/// Range and consistency checks on the typed values.
pub(super) fn ranges(
    config: &Config,
    origin_of: &dyn Fn(&str) -> Option<Origin>,
    problems: &mut Vec<ConfigProblem>,
) {
    let mut check = |ok: bool, key: &str, problem: String, fix: &str| {
        if !ok {
            problems.push(ConfigProblem {
                key: key.into(),
                origin: origin_of(key),
                problem,
                fix: fix.into(),
            });
        }
    };
    let port = |value: u16| value >= 1;
    check(
        port(config.database.port),
        "database.port",
        format!("{} is not a TCP port", config.database.port),
        "use a port between 1 and 65535",
    );
    check(
        (1..=1000).contains(&config.database.max_connections),
        "database.max_connections",
        format!("{} is out of range", config.database.max_connections),
        "use 1 to 1000 connections",
    );
    check(
        (1..=300).contains(&config.database.connect_timeout_secs),
        "database.connect_timeout_secs",
        format!("{} is out of range", config.database.connect_timeout_secs),
        "use 1 to 300 seconds",
    );
    let url = config.database.url.raw();
    check(
        url.is_empty()
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("ENC:")
            || url.starts_with("secret:"),
        "database.url",
        "is not a postgres:// URL".into(),
        "use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or leave it empty for the embedded SQLite store",
    );
    check(
        config.redis.db <= 15,
        "redis.db",
        format!("{} is out of range", config.redis.db),
        "use a Redis database number from 0 to 15",
    );
    check(
        port(config.monitoring.prometheus_port),
        "monitoring.prometheus_port",
        format!("{} is not a TCP port", config.monitoring.prometheus_port),
        "use a port between 1 and 65535",
    );
    check(
        config
            .monitoring
            .prometheus_bind
            .parse::<std::net::IpAddr>()
            .is_ok(),
        "monitoring.prometheus_bind",
        format!(
            "{:?} is not an IP address",
            config.monitoring.prometheus_bind
        ),
        "use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one address of this host",
    );
    let monitoring = &config.monitoring;
    for (name, target) in &monitoring.targets {
        let key = |field: &str| format!("monitoring.targets.{name}.{field}");
        let kinds = [
            "host",
            "postgres",
            "redis",
            "prometheus",
            "prometheus-server",
        ];
        check(
            kinds.contains(&target.kind.as_str()),
            &key("kind"),
            format!("{:?} is not a target kind", target.kind),
            "use host, postgres, redis, prometheus or prometheus-server",
        );
        check(
            target.kind == "host" || !target.url.is_empty(),
            &key("url"),
            "is missing".into(),
            "give the target's URL, e.g. postgres://monitor@db:5432/trading",
        );
        check(
            ["", "development", "staging", "production"].contains(&target.environment.as_str()),
            &key("environment"),
            format!("{:?} is not an environment", target.environment),
            "use development, staging or production",
        );
        let interval = if target.interval.is_empty() {
            Some(Duration::from_secs(5))
        } else {
            humantime::parse_duration(&target.interval).ok()
        };
        check(
            interval
                .is_some_and(|i| (Duration::from_secs(1)..=Duration::from_secs(300)).contains(&i)),
            &key("interval"),
            format!("{:?} is not a duration from 1s to 5m", target.interval),
            "write it like \"5s\" or \"1m\"",
        );
        check(
            target.timeout.is_empty() || humantime::parse_duration(&target.timeout).is_ok(),
            &key("timeout"),
            format!("{:?} is not a duration", target.timeout),
            "write it like \"2s\", at most the interval",
        );
    }
    check(
        (Duration::from_secs(1)..=Duration::from_secs(60)).contains(&monitoring.flush_interval),
        "monitoring.flush_interval",
        format!("{:?} is out of range", monitoring.flush_interval),
        "use 1s to 1m: the most a crash may lose of the collected samples",
    );
    check(
        monitoring.retention_raw >= Duration::from_secs(3600),
        "monitoring.retention_raw",
        format!("{:?} is too short", monitoring.retention_raw),
        "keep raw samples at least 1h (the 1-minute rollups are made from them)",
    );
    check(
        monitoring.retention_minute >= monitoring.retention_raw,
        "monitoring.retention_minute",
        format!(
            "{:?} is shorter than retention_raw ({:?})",
            monitoring.retention_minute, monitoring.retention_raw
        ),
        "keep the 1-minute tier at least as long as the raw samples",
    );
    check(
        monitoring.retention_hour >= monitoring.retention_minute,
        "monitoring.retention_hour",
        format!(
            "{:?} is shorter than retention_minute ({:?})",
            monitoring.retention_hour, monitoring.retention_minute
        ),
        "keep the 1-hour tier at least as long as the 1-minute tier",
    );
    check(
        (Duration::from_secs(3)..=Duration::from_secs(600)).contains(&config.runtime.failover),
        "runtime.failover",
        format!("{:?} is out of range", config.runtime.failover),
        "use 3s to 10m",
    );
    check(
        (Duration::from_secs(1)..=Duration::from_secs(300))
            .contains(&config.runtime.shutdown_grace),
        "runtime.shutdown_grace",
        format!("{:?} is out of range", config.runtime.shutdown_grace),
        "use 1s to 5m",
    );
    if let Err(message) = qcat_runtime::schedule::time_zone(&config.runtime.time_zone) {
        check(
            false,
            "runtime.time_zone",
            message,
            "name a zone that exists",
        );
    } else {
        match config
            .audit
            .maintenance_missed
            .parse::<qcat_runtime::schedule::MissedRun>()
        {
            Err(err) => check(
                false,
                "audit.maintenance_missed",
                err.to_string(),
                "use run_once or skip",
            ),
            Ok(missed) => {
                match qcat_runtime::schedule::Schedule::parse(
                    "audit maintenance",
                    &config.audit.maintenance_schedule,
                    &config.runtime.time_zone,
                    config.audit.maintenance_jitter,
                    missed,
                ) {
                    Err(err) => check(
                        false,
                        "audit.maintenance_schedule",
                        err.to_string(),
                        "write a cron expression such as \"0 3 * * *\" or \"@every 1h\"",
                    ),
                    Ok(schedule) => {
                        if let Some(gap) = schedule.shortest_gap(jiff::Timestamp::now()) {
                            check(
                                config.audit.maintenance_jitter < gap,
                                "audit.maintenance_jitter",
                                format!(
                                    "{:?} is not shorter than the {:?} between runs of audit.maintenance_schedule",
                                    config.audit.maintenance_jitter, gap
                                ),
                                "use a jitter shorter than the schedule's interval, or \"0s\"",
                            );
                        }
                    }
                }
            }
        }
    }
    for (key, spec) in [
        ("backup.schedule_full", &config.backup.schedule_full),
        ("backup.schedule_diff", &config.backup.schedule_diff),
        ("backup.schedule_incr", &config.backup.schedule_incr),
        ("backup.schedule_verify", &config.backup.schedule_verify),
        ("backup.schedule_drill", &config.backup.schedule_drill),
    ] {
        if spec.trim().is_empty() {
            continue;
        }
        if let Err(err) = qcat_runtime::schedule::Schedule::parse(
            key,
            spec,
            &config.runtime.time_zone,
            Duration::ZERO,
            qcat_runtime::schedule::MissedRun::RunOnce,
        ) {
            check(
                false,
                key,
                err.to_string(),
                "write a cron expression such as \"0 2 * * 0\" or \"@every 1d\", or \"\" for none",
            );
        }
    }
    let scheduled = [
        &config.backup.schedule_full,
        &config.backup.schedule_diff,
        &config.backup.schedule_incr,
    ]
    .iter()
    .any(|spec| !spec.trim().is_empty());
    check(
        !scheduled || !config.backup.sources.is_empty(),
        "backup.sources",
        "a backup schedule is set but no source is listed".into(),
        "list the targets to back up, e.g. sources = [\"orders-db\"]",
    );
    check(
        config.backup.drill_server.is_empty()
            || config.backup.drill_server.starts_with("postgres://")
            || config.backup.drill_server.starts_with("postgresql://"),
        "backup.drill_server",
        "is not a postgres:// URL".into(),
        "write postgres://USER@HOST:PORT/postgres, or leave it empty to drill on each source's server",
    );
    check(
        config.backup.verify_budget >= Duration::from_secs(1),
        "backup.verify_budget",
        format!(
            "{:?} is too short to verify anything",
            config.backup.verify_budget
        ),
        "use at least \"1s\", e.g. \"10m\"",
    );
    let baseline = &config.baseline;
    for (index, selector) in baseline.series.iter().enumerate() {
        check(
            looks_like_selector(selector),
            &format!("baseline.series[{index}]"),
            format!("{selector:?} is not a series selector"),
            "write a metric name, optionally with labels: app_latency_seconds{quantile=\"0.99\"}",
        );
    }
    check(
        baseline.threshold.is_finite() && (1.0..=50.0).contains(&baseline.threshold),
        "baseline.threshold",
        format!("{} is out of range", baseline.threshold),
        "use 1 to 50 robust units (4 is about four standard deviations)",
    );
    check(
        (Duration::from_secs(60)..=Duration::from_secs(86_400)).contains(&baseline.deviation_for),
        "baseline.deviation_for",
        format!("{:?} is out of range", baseline.deviation_for),
        "use 1m to 1d: values are scored per minute",
    );
    check(
        (Duration::from_secs(1800)..=Duration::from_secs(90 * 86_400))
            .contains(&baseline.min_history),
        "baseline.min_history",
        format!("{:?} is out of range", baseline.min_history),
        "use 30m to 90d (a week learns each weekday once)",
    );
    check(
        (1..=12).contains(&baseline.weeks),
        "baseline.weeks",
        format!("{} is out of range", baseline.weeks),
        "use 1 to 12 weeks",
    );
    check(
        config.monitoring.metrics_path.starts_with('/'),
        "monitoring.metrics_path",
        format!("{:?} does not start with /", config.monitoring.metrics_path),
        "write a path such as /metrics",
    );
    check(
        (1..=10_240).contains(&config.logging.max_size),
        "logging.max_size",
        format!("{} MB is out of range", config.logging.max_size),
        "use 1 to 10240 (megabytes)",
    );
    check(
        config.logging.max_backups <= 10_000,
        "logging.max_backups",
        format!("{} is out of range", config.logging.max_backups),
        "use 0 to 10000 files",
    );
    check(
        !config.logging.log_dir.trim().is_empty(),
        "logging.log_dir",
        "is empty".into(),
        "name a folder, e.g. logs",
    );
    check(
        config.alerting.retry_count <= 100,
        "alerting.retry_count",
        format!("{} is out of range", config.alerting.retry_count),
        "use 0 to 100 retries",
    );
    check(
        !config.alerting.timeout.is_zero(),
        "alerting.timeout",
        "must be longer than zero".into(),
        "use a timeout such as \"10s\"",
    );
    check(
        config.alerting.rate_limit >= 1,
        "alerting.rate_limit",
        "must be at least 1".into(),
        "use the number of notifications allowed per window",
    );
    check(
        !config.alerting.rate_limit_window.is_zero(),
        "alerting.rate_limit_window",
        "must be longer than zero".into(),
        "use a window such as \"1m\"",
    );
    check(
        config.alerting.evaluation_interval >= Duration::from_millis(100),
        "alerting.evaluation_interval",
        "is shorter than 100ms".into(),
        "use an interval such as \"10s\"",
    );
    check(
        config.alerting.history_retention >= Duration::from_secs(24 * 3600),
        "alerting.history_retention",
        format!(
            "{} is shorter than a day",
            humantime::format_duration(config.alerting.history_retention)
        ),
        "keep at least \"1d\" (a day of history; \"90d\" is the default)",
    );
    check(
        (1..=100_000).contains(&config.audit.batch_size),
        "audit.batch_size",
        format!("{} is out of range", config.audit.batch_size),
        "use 1 to 100000 events per batch",
    );
    check(
        !config.audit.batch_timeout.is_zero(),
        "audit.batch_timeout",
        "must be longer than zero".into(),
        "use a timeout such as \"5s\"",
    );
    for (key, value) in [
        ("auth.session_idle", config.auth.session_idle),
        ("auth.session_max", config.auth.session_max),
        ("auth.failed_login_window", config.auth.failed_login_window),
        ("auth.lockout", config.auth.lockout),
    ] {
        check(
            !value.is_zero(),
            key,
            "must be longer than zero".into(),
            "use a duration such as \"30m\"",
        );
    }
    check(
        config.auth.session_idle <= config.auth.session_max,
        "auth.session_idle",
        "is longer than auth.session_max".into(),
        "make the idle timeout at most the session's maximum length",
    );
    for (key, limit) in [
        ("auth.failed_login_limit", config.auth.failed_login_limit),
        (
            "auth.failed_login_limit_per_source",
            config.auth.failed_login_limit_per_source,
        ),
        (
            "auth.failed_login_limit_per_user",
            config.auth.failed_login_limit_per_user,
        ),
    ] {
        check(
            (1..=1000).contains(&limit),
            key,
            format!("{limit} is out of range"),
            "use 1 to 1000 sign-in attempts before a lockout",
        );
    }
    check(
        config.auth.lockout <= config.auth.max_lockout
            && config.auth.max_lockout <= std::time::Duration::from_secs(24 * 3600),
        "auth.max_lockout",
        "must be at least auth.lockout and at most 24h".into(),
        "use a duration such as \"15m\"",
    );
    for (key, secs) in [
        (
            "database.statement_timeout_secs",
            config.database.statement_timeout_secs,
        ),
        (
            "database.lock_timeout_secs",
            config.database.lock_timeout_secs,
        ),
        (
            "database.idle_in_transaction_timeout_secs",
            config.database.idle_in_transaction_timeout_secs,
        ),
        (
            "database.command_timeout_secs",
            config.database.command_timeout_secs,
        ),
    ] {
        check(
            (1..=86_400).contains(&secs),
            key,
            format!("{secs} is out of range"),
            "use 1 to 86400 seconds",
        );
    }
    check(
        config.audit.enabled,
        "audit.enabled",
        "the audit trail cannot be switched off".into(),
        "remove the setting (or set it to true): every change and refusal is always recorded",
    );
    check(
        !config.audit.compression_enabled,
        "audit.compression_enabled",
        "the audit trail is not compressed separately (its rows live in the store)".into(),
        "remove the setting (or set it to false); compress the store's disk if space matters",
    );
    check(
        !config.audit.encryption_enabled,
        "audit.encryption_enabled",
        "the audit trail is not encrypted separately (its rows live in the store)".into(),
        "remove the setting (or set it to false); encrypt the store's disk or use TLS to PostgreSQL",
    );
    check(
        config.audit.retention_days >= 1,
        "audit.retention_days",
        "must be at least 1".into(),
        "use the number of days audit entries are kept",
    );
    check(
        config.backup.keep_full >= 1,
        "backup.keep_full",
        "must be at least 1".into(),
        "keep at least one full backup",
    );
    check(
        config.backup.encryption_enabled,
        "backup.encryption_enabled",
        "backups are always encrypted (AES-256-GCM under the repository key)".into(),
        "remove the setting (or set it to true)",
    );
    check(
        (1..=19).contains(&config.backup.compression_level),
        "backup.compression_level",
        format!("{} is out of range", config.backup.compression_level),
        "use a zstd level from 1 to 19",
    );
}

/// A metric name, optionally followed by `{…}` (the monitoring crate parses the matchers
/// when it uses them and logs a selector it cannot read).
fn looks_like_selector(text: &str) -> bool {
    let name_end = text.find('{').unwrap_or(text.len());
    let (name, rest) = text.split_at(name_end);
    let name_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    name_ok && (rest.is_empty() || (rest.starts_with('{') && rest.ends_with('}')))
}
