//! Targets: the connection profiles monitoring (and later backups) use. A target is a kind,
//! a connection (a URL without a password; the password as `secret:NAME` or `ENC:`), an
//! environment and an interval. Validation names the field and the fix.

pub mod store;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// The machine the collecting process runs on.
    Host,
    Postgres,
    Redis,
    /// An application's (or exporter's) `/metrics` in the Prometheus text format.
    Prometheus,
    /// A Prometheus server's HTTP API: named PromQL expressions become series.
    PrometheusServer,
}

impl TargetKind {
    pub const ALL: [TargetKind; 5] = [
        TargetKind::Host,
        TargetKind::Postgres,
        TargetKind::Redis,
        TargetKind::Prometheus,
        TargetKind::PrometheusServer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Host => "host",
            TargetKind::Postgres => "postgres",
            TargetKind::Redis => "redis",
            TargetKind::Prometheus => "prometheus",
            TargetKind::PrometheusServer => "prometheus-server",
        }
    }

    pub fn parse(text: &str) -> Option<TargetKind> {
        TargetKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    pub fn parse(text: &str) -> Option<Environment> {
        match text {
            "development" | "dev" => Some(Environment::Development),
            "staging" => Some(Environment::Staging),
            "production" | "prod" => Some(Environment::Production),
            _ => None,
        }
    }
}

/// A target as defined (in the store or the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    /// `local` for a host; `postgres://user@host:port/db`, `redis://host:port/db`,
    /// `http(s)://…` otherwise. Never holds a password.
    pub url: String,
    /// `""`, `secret:NAME` or `ENC:v1:…`: resolved only when the collector connects.
    pub password: String,
    pub environment: Environment,
    pub interval: Duration,
    pub timeout: Duration,
    /// Prometheus server targets: series name → PromQL expression.
    pub queries: BTreeMap<String, String>,
    /// Bumped by each change; a window sends the version it showed.
    pub version: i64,
}

pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
pub const MAX_INTERVAL: Duration = Duration::from_secs(300);

/// The key a target's encrypted password is bound to (the `ENC:` associated data).
pub fn password_key(name: &str) -> String {
    format!("monitoring.targets.{name}.password")
}

/// The default timeout for an interval: the interval itself, at most 10 s.
pub fn default_timeout(interval: Duration) -> Duration {
    interval.min(Duration::from_secs(10))
}

impl Target {
    /// Every problem of the definition, each naming its field and the fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !valid_name(&self.name) {
            problems.push(format!(
                "name {:?}: use 1 to 63 lowercase letters, digits, `-`, `_` or `.`, starting \
                 with a letter or digit (e.g. trading-db)",
                qcat_core::text::bounded(&self.name, 80)
            ));
        }
        if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&self.interval) {
            problems.push(format!(
                "interval {}: must be between 1s and 5m",
                humanize(self.interval)
            ));
        }
        if self.timeout.is_zero() || self.timeout > self.interval.max(Duration::from_secs(1)) {
            problems.push(format!(
                "timeout {}: must be above 0 and at most the interval ({})",
                humanize(self.timeout),
                humanize(self.interval)
            ));
        }
        if !(self.password.is_empty()
            || self.password.starts_with("secret:")
            || self.password.starts_with("ENC:"))
        {
            problems.push(
                "password: store it as a named secret (`qcatctl secret set NAME`, then \
                 `secret:NAME`) or type it in the window, which encrypts it; a plaintext \
                 password is never stored"
                    .to_owned(),
            );
        }
        if let Err(problem) = self.check_url() {
            problems.push(problem);
        }
        if self.kind == TargetKind::PrometheusServer {
            if self.queries.is_empty() {
                problems.push(
                    "queries: a Prometheus server target needs at least one named PromQL \
                     expression (e.g. --query 'api_p99=histogram_quantile(0.99, …)')"
                        .to_owned(),
                );
            }
            for name in self.queries.keys() {
                if !valid_series_name(name) {
                    problems.push(format!(
                        "queries: {:?} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
                        qcat_core::text::bounded(name, 80)
                    ));
                }
            }
        } else if !self.queries.is_empty() {
            problems.push(format!(
                "queries: only prometheus-server targets take queries, this one is {}",
                self.kind.as_str()
            ));
        }
        problems
    }

    fn check_url(&self) -> Result<(), String> {
        let shown = qcat_core::redact::url(&self.url);
        if self.kind == TargetKind::Host {
            return if self.url.is_empty() || self.url == "local" {
                Ok(())
            } else {
                Err(format!(
                    "url {shown:?}: a host target is the machine the collector runs on; write \
                     `local` (for another machine run `qcatctl agent` there, or add its \
                     node_exporter as a prometheus target)"
                ))
            };
        }
        let schemes: &[&str] = match self.kind {
            TargetKind::Postgres => &["postgres", "postgresql"],
            TargetKind::Redis => &["redis", "rediss"],
            _ => &["http", "https"],
        };
        let example = match self.kind {
            TargetKind::Postgres => "postgres://monitor@db.example:5432/trading",
            TargetKind::Redis => "redis://cache.example:6379/0",
            TargetKind::Prometheus => "http://app.example:8080/metrics",
            _ => "http://prometheus.example:9090",
        };
        let parsed = url::Url::parse(&self.url)
            .map_err(|err| format!("url {shown:?}: not a URL ({err}); e.g. {example}"))?;
        if !schemes.contains(&parsed.scheme()) {
            return Err(format!(
                "url {shown:?}: a {} target's URL starts with {}://; e.g. {example}",
                self.kind.as_str(),
                schemes.join(":// or ")
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(format!(
                "url {shown:?}: the host is missing; e.g. {example}"
            ));
        }
        if parsed.password().is_some() || qcat_core::redact::url_has_credential(&self.url) {
            return Err(format!(
                "url {shown:?}: remove the password from the URL and give it as the target's \
                 password (`secret:NAME`, or type it in the window)"
            ));
        }
        Ok(())
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn valid_series_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub fn humanize(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: TargetKind, url: &str) -> Target {
        Target {
            name: "trading-db".into(),
            kind,
            url: url.into(),
            password: String::new(),
            environment: Environment::Production,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            queries: BTreeMap::new(),
            version: 0,
        }
    }

    #[test]
    fn good_targets_have_no_problems() {
        for (kind, url) in [
            (TargetKind::Host, "local"),
            (
                TargetKind::Postgres,
                "postgres://monitor@127.0.0.1:5432/trading",
            ),
            (TargetKind::Redis, "redis://127.0.0.1:6379/0"),
            (TargetKind::Prometheus, "http://127.0.0.1:8080/metrics"),
        ] {
            assert_eq!(target(kind, url).problems(), Vec::<String>::new(), "{url}");
        }
    }

    #[test]
    fn each_problem_names_its_field() {
        let mut bad = target(TargetKind::Postgres, "postgres://u:hunter2@db/x");
        bad.name = "Trading DB".into();
        bad.interval = Duration::from_millis(500);
        bad.password = "hunter2".into();
        let problems = bad.problems().join("\n");
        for field in [
            "name \"Trading DB\"",
            "interval 500ms",
            "password:",
            "remove the password",
        ] {
            assert!(problems.contains(field), "{field} in:\n{problems}");
        }
        assert!(
            !problems.contains("hunter2"),
            "a password never appears in a message"
        );
        let wrong_scheme = target(TargetKind::Redis, "http://127.0.0.1:6379").problems();
        assert!(wrong_scheme[0].contains("redis://"), "{wrong_scheme:?}");
        let no_queries = target(TargetKind::PrometheusServer, "http://127.0.0.1:9090").problems();
        assert!(no_queries[0].starts_with("queries:"), "{no_queries:?}");
    }
}
