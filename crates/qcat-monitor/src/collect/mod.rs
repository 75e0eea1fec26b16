//! Collectors: each target's config is built into a [`Collector`]; `collect` reads one set of
//! samples, `check` (the window's **Test connection**) connects step by step and says which
//! step failed — DNS, refused, no answer, TLS, authentication, permission — in words.
//! A collector owns its connection and its previous reading (for per-scrape rates); one
//! failing target never waits on another (each runs in its own task, bounded by its
//! timeout).

mod host;
mod net;
mod postgres;
mod prometheus;
mod prometheus_server;
mod redis;

use std::time::{Duration, Instant};

use qcat_core::secret::Secret;
use serde::Serialize;

use crate::targets::{Target, TargetKind};
use crate::tsdb::SeriesKey;

pub use host::HostCollector;
pub use postgres::PostgresCollector;
pub use prometheus::{
    AppSeries, PrometheusCollector, Scrapes, describe_http, fetch_text, http_client,
};
pub use prometheus_server::{PrometheusApi, PrometheusServerCollector};
pub use redis::RedisCollector;

/// What went wrong, as a kind the window can colour and a message that says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens at the address.
    Refused,
    /// No answer within the target's timeout (connecting or after).
    Timeout,
    Tls,
    /// Wrong user or password.
    Auth,
    /// Signed in, but not allowed to read what monitoring needs.
    Permission,
    /// It answered, but not in the expected protocol or format.
    Protocol,
    /// The target's own settings are wrong (no such database, a secret that is missing).
    Config,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Dns => "dns",
            FailureKind::Refused => "refused",
            FailureKind::Timeout => "timeout",
            FailureKind::Tls => "tls",
            FailureKind::Auth => "auth",
            FailureKind::Permission => "permission",
            FailureKind::Protocol => "protocol",
            FailureKind::Config => "config",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CollectError {
    pub kind: FailureKind,
    pub message: String,
}

impl CollectError {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// One reading: series and values, with the time each was taken (a Prometheus server's
/// results carry their own times).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub samples: Vec<(SeriesKey, i64, f64)>,
    /// Extra detail for the window (PostgreSQL's top statements…), not stored as series.
    pub detail: Option<serde_json::Value>,
}

impl Reading {
    pub fn new() -> Self {
        Self {
            samples: Vec::new(),
            detail: None,
        }
    }

    pub fn push(&mut self, key: SeriesKey, at_ms: i64, value: f64) {
        self.samples.push((key, at_ms, value));
    }
}

impl Default for Reading {
    fn default() -> Self {
        Self::new()
    }
}

/// The steps a connection test went through, each with how long it took.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub ok: bool,
    pub steps: Vec<CheckStep>,
    /// How many series one reading gave (when it got that far).
    pub samples: usize,
    pub failure: Option<FailureKind>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckStep {
    pub step: String,
    pub ok: bool,
    pub millis: u64,
    pub detail: String,
}

pub enum Collector {
    Host(Box<HostCollector>),
    Postgres(PostgresCollector),
    Redis(RedisCollector),
    Prometheus(PrometheusCollector),
    PrometheusServer(PrometheusServerCollector),
}

impl Collector {
    /// Builds the collector of `target`; `password` is the resolved plaintext, if any.
    pub fn build(target: &Target, password: Option<Secret<String>>) -> Result<Self, CollectError> {
        Ok(match target.kind {
            TargetKind::Host => Collector::Host(Box::new(HostCollector::new()?)),
            TargetKind::Postgres => Collector::Postgres(PostgresCollector::new(target, password)?),
            TargetKind::Redis => Collector::Redis(RedisCollector::new(target, password)?),
            TargetKind::Prometheus => {
                Collector::Prometheus(PrometheusCollector::new(target, password)?)
            }
            TargetKind::PrometheusServer => {
                Collector::PrometheusServer(PrometheusServerCollector::new(target, password)?)
            }
        })
    }

    /// One reading, bounded by `timeout` as a whole.
    pub async fn collect(
        &mut self,
        at_ms: i64,
        timeout: Duration,
    ) -> Result<Reading, CollectError> {
        let work = async {
            match self {
                Collector::Host(collector) => Ok(collector.collect(at_ms)),
                Collector::Postgres(collector) => collector.collect(at_ms, timeout).await,
                Collector::Redis(collector) => collector.collect(at_ms, timeout).await,
                Collector::Prometheus(collector) => collector.collect(at_ms, timeout).await,
                Collector::PrometheusServer(collector) => collector.collect(at_ms, timeout).await,
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => {
                self.disconnect();
                Err(CollectError::new(
                    FailureKind::Timeout,
                    format!(
                        "no complete answer within the target's timeout ({}); raise the \
                         timeout or look at the server's load",
                        crate::targets::humanize(timeout)
                    ),
                ))
            }
        }
    }

    /// Drops a connection that may be in an unknown state (after a timeout).
    fn disconnect(&mut self) {
        match self {
            Collector::Postgres(collector) => collector.disconnect(),
            Collector::Redis(collector) => collector.disconnect(),
            _ => {}
        }
    }

    /// Tests the connection step by step: address → connect → sign in/read → one reading.
    pub async fn check(&mut self, target: &Target) -> CheckReport {
        let mut steps = Vec::new();
        if let Some(address) = net::address_of(target) {
            match net::probe(&address, target.timeout, &mut steps).await {
                Ok(()) => {}
                Err(err) => return report(steps, Err(err), 0),
            }
        }
        let started = Instant::now();
        let result = self
            .collect(qcat_core::time::now_ms(), target.timeout)
            .await;
        let samples = result.as_ref().map_or(0, |reading| reading.samples.len());
        steps.push(CheckStep {
            step: "read".into(),
            ok: result.is_ok(),
            millis: started.elapsed().as_millis() as u64,
            detail: match &result {
                Ok(_) => format!("{samples} series read"),
                Err(err) => err.message.clone(),
            },
        });
        report(steps, result.map(|_| ()), samples)
    }
}

fn report(steps: Vec<CheckStep>, result: Result<(), CollectError>, samples: usize) -> CheckReport {
    match result {
        Ok(()) => CheckReport {
            ok: true,
            message: format!("connected; {samples} series read"),
            steps,
            samples,
            failure: None,
        },
        Err(err) => CheckReport {
            ok: false,
            steps,
            samples,
            failure: Some(err.kind),
            message: err.message,
        },
    }
}

/// Adds `target=NAME` to every series of a reading; a `target` label the source already
/// had becomes `exported_target`, as Prometheus renames clashing labels.
pub fn label_with_target(reading: &mut Reading, target: &str) {
    for (key, _, _) in reading.samples.iter_mut() {
        if let Some(existing) = key.labels.remove("target") {
            key.labels.insert("exported_target".into(), existing);
        }
        key.labels.insert("target".into(), target.to_owned());
    }
}
