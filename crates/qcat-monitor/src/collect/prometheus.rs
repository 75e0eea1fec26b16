//! An application's (or an exporter's) `/metrics` in the Prometheus text format: every
//! sample is kept under its own name, and from two consecutive scrapes the application's
//! headline series are derived — request rate, error ratio and rate, in-flight,
//! throughput, and P50/P95/P99 latency from the histogram's bucket increases (Prometheus'
//! `histogram_quantile` over the rate between the scrapes; counter resets handled) — for
//! the whole application and per endpoint (`app_endpoint_*{endpoint}`), so a regression
//! can be pinned on `/order/submit`. Rates are per scrape interval; latency quantiles are
//! over the last [`QUANTILE_WINDOW_MS`] of requests (Prometheus' `rate(…[1m])`), so a P99
//! is a P99 of enough requests whatever the scrape interval, and the same statistic
//! whether scraped every second or backfilled once a minute.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use qcat_core::secret::Secret;

use super::{CollectError, FailureKind, Reading};
use crate::exposition::quantile::{bucket_quantile, increase};
use crate::exposition::{self, Family, FamilyKind, parse_float};
use crate::targets::Target;
use crate::tsdb::SeriesKey;

/// Latency quantiles are computed over at least this much of the latest requests.
pub const QUANTILE_WINDOW_MS: i64 = 60_000;

/// The quantiles stored for the application's latency.
pub const LATENCY_QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.95, "0.95"), (0.99, "0.99")];

/// Names of the derived series (each also labelled with the target).
pub struct AppSeries;

impl AppSeries {
    pub const REQUEST_RATE: &'static str = "app_request_rate";
    pub const ERROR_RATE: &'static str = "app_error_rate";
    pub const ERROR_RATIO: &'static str = "app_error_ratio";
    pub const LATENCY: &'static str = "app_latency_seconds";
    pub const IN_FLIGHT: &'static str = "app_in_flight";
    pub const THROUGHPUT: &'static str = "app_throughput";
    /// Per endpoint (label `endpoint`, from the application's `endpoint`, `path`, `route`,
    /// `handler` or `uri` label).
    pub const ENDPOINT_REQUEST_RATE: &'static str = "app_endpoint_request_rate";
    pub const ENDPOINT_ERROR_RATIO: &'static str = "app_endpoint_error_ratio";
    pub const ENDPOINT_LATENCY: &'static str = "app_endpoint_latency_seconds";
}

/// The labels an application names its endpoints with, most specific first.
const ENDPOINT_LABELS: [&str; 5] = ["endpoint", "path", "route", "handler", "uri"];

fn endpoint_of(labels: &BTreeMap<String, String>) -> Option<&str> {
    ENDPOINT_LABELS
        .iter()
        .find_map(|label| labels.get(*label))
        .map(String::as_str)
}

pub struct PrometheusCollector {
    client: reqwest::Client,
    url: String,
    user: Option<(String, Option<Secret<String>>)>,
    scrapes: Scrapes,
}

/// Consecutive scrapes of one endpoint turned into readings: every sample, and the derived
/// `app_*` series from the growth since the previous scrape. The collector feeds it what
/// it fetches; the simulator's history feeds it what it renders.
#[derive(Default)]
pub struct Scrapes {
    /// The scrapes of the last [`QUANTILE_WINDOW_MS`] (and the newest one before them),
    /// oldest first: rates use the newest, quantiles the oldest.
    history: std::collections::VecDeque<Previous>,
}

struct Previous {
    at_ms: i64,
    values: HashMap<SeriesKey, f64>,
}

/// Builds the one HTTP client configuration collectors use: rustls with the ring provider.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, CollectError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("qcat-console/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| CollectError::new(FailureKind::Config, format!("HTTP client: {err}")))
}

/// GETs `url` as Prometheus text, each failure in words.
pub async fn fetch_text(
    client: &reqwest::Client,
    url: &str,
    user: Option<&(String, Option<Secret<String>>)>,
) -> Result<String, CollectError> {
    let mut request = client
        .get(url)
        .header("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1");
    if let Some((name, password)) = user {
        request = request.basic_auth(name, password.as_ref().map(|p| p.expose().to_owned()));
    }
    let shown = qcat_core::redact::url(url);
    let response = request
        .send()
        .await
        .map_err(|err| describe_http(&shown, &err))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Err(CollectError::new(
            FailureKind::Auth,
            format!(
                "{shown} answered 401: it needs a user and password (the URL's user, the target's password)"
            ),
        ));
    }
    if status == reqwest::StatusCode::FORBIDDEN {
        return Err(CollectError::new(
            FailureKind::Permission,
            format!("{shown} answered 403: this user may not read it"),
        ));
    }
    if !status.is_success() {
        return Err(CollectError::new(
            FailureKind::Protocol,
            format!("{shown} answered {status}; is the path right (usually /metrics)?"),
        ));
    }
    response
        .text()
        .await
        .map_err(|err| describe_http(&shown, &err))
}

pub fn describe_http(shown: &str, err: &reqwest::Error) -> CollectError {
    use std::error::Error as _;
    let mut chain = String::new();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let lower = chain.to_ascii_lowercase();
    if err.is_timeout() {
        return CollectError::new(
            FailureKind::Timeout,
            format!("{shown} did not answer in time"),
        );
    }
    if lower.contains("dns")
        || lower.contains("failed to lookup")
        || lower.contains("name or service not known")
    {
        return CollectError::new(
            FailureKind::Dns,
            format!("the host of {shown} does not resolve{chain}"),
        );
    }
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        return CollectError::new(
            FailureKind::Tls,
            format!("TLS with {shown} failed{chain} (check https vs http and the certificate)"),
        );
    }
    if lower.contains("refused") {
        return CollectError::new(
            FailureKind::Refused,
            format!("connection refused at {shown}: nothing listens there"),
        );
    }
    if err.is_connect() {
        return CollectError::new(
            FailureKind::Refused,
            format!("cannot connect to {shown}{chain}"),
        );
    }
    CollectError::new(FailureKind::Protocol, format!("{shown}: {err}{chain}"))
}

impl PrometheusCollector {
    pub fn new(target: &Target, password: Option<Secret<String>>) -> Result<Self, CollectError> {
        let parsed = url::Url::parse(&target.url)
            .map_err(|err| CollectError::new(FailureKind::Config, format!("the URL: {err}")))?;
        let user =
            (!parsed.username().is_empty()).then(|| (parsed.username().to_owned(), password));
        let mut plain = parsed.clone();
        let _ = plain.set_username("");
        Ok(Self {
            client: http_client(target.timeout)?,
            url: plain.to_string(),
            user,
            scrapes: Scrapes::default(),
        })
    }

    pub async fn collect(
        &mut self,
        at_ms: i64,
        _timeout: Duration,
    ) -> Result<Reading, CollectError> {
        let text = fetch_text(&self.client, &self.url, self.user.as_ref()).await?;
        self.scrapes.read(&text, at_ms).map_err(|err| {
            CollectError::new(
                FailureKind::Protocol,
                format!("{} is not in the Prometheus text format: {err}", self.url),
            )
        })
    }
}

impl Scrapes {
    /// One scrape's text at `at_ms`: its samples and, from the second scrape on, the
    /// derived series. A text that does not parse is refused and forgotten.
    pub fn read(&mut self, text: &str, at_ms: i64) -> Result<Reading, exposition::ParseError> {
        let families = exposition::parse(text)?;
        let mut reading = Reading::new();
        let mut values = HashMap::new();
        for family in &families {
            for sample in &family.samples {
                let key = SeriesKey {
                    name: sample.name.clone(),
                    labels: sample.labels.clone(),
                };
                reading.push(
                    key.clone(),
                    sample.timestamp_ms.unwrap_or(at_ms),
                    sample.value,
                );
                values.insert(key, sample.value);
            }
        }
        // The window's start: the newest scrape at least a window old, else the oldest.
        let window = self
            .history
            .iter()
            .rev()
            .find(|p| p.at_ms <= at_ms - QUANTILE_WINDOW_MS)
            .or(self.history.front());
        if let (Some(previous), Some(window)) = (self.history.back(), window) {
            derive(&families, previous, window, &values, at_ms, &mut reading);
        }
        if let Some(gauge) = families.iter().find(|f| is_in_flight(f)) {
            let total: f64 = gauge
                .samples
                .iter()
                .map(|s| s.value)
                .filter(|v| v.is_finite())
                .sum();
            reading.push(SeriesKey::new(AppSeries::IN_FLIGHT), at_ms, total);
        }
        self.history.push_back(Previous { at_ms, values });
        while self
            .history
            .get(1)
            .is_some_and(|second| second.at_ms <= at_ms - QUANTILE_WINDOW_MS)
        {
            self.history.pop_front();
        }
        Ok(reading)
    }
}

fn is_in_flight(family: &Family) -> bool {
    family.kind == FamilyKind::Gauge
        && (family.name.contains("in_flight") || family.name.contains("inflight"))
}

fn requests_family(families: &[Family]) -> Option<&Family> {
    let counters = || families.iter().filter(|f| f.kind == FamilyKind::Counter);
    counters()
        .find(|f| f.name.ends_with("http_requests_total") || f.name.ends_with("http_requests"))
        .or_else(|| counters().find(|f| f.name.contains("requests")))
}

fn latency_family(families: &[Family]) -> Option<&Family> {
    let histograms = || families.iter().filter(|f| f.kind == FamilyKind::Histogram);
    histograms()
        .find(|f| f.name.contains("request_duration"))
        .or_else(|| histograms().find(|f| f.name.ends_with("_seconds")))
}

fn throughput_family(families: &[Family]) -> Option<&Family> {
    families.iter().find(|f| {
        f.kind == FamilyKind::Counter
            && ["orders", "trades", "transactions", "messages"]
                .iter()
                .any(|word| f.name.contains(word))
    })
}

/// Whether a request sample counts as an error: a 5xx code or an error status/outcome.
fn is_error(labels: &BTreeMap<String, String>) -> bool {
    labels
        .get("code")
        .or_else(|| labels.get("status_code"))
        .is_some_and(|code| code.starts_with('5'))
        || ["status", "outcome", "result"].iter().any(|label| {
            labels
                .get(*label)
                .is_some_and(|v| v == "error" || v.starts_with('5'))
        })
}

/// The derived series from `values` (this scrape) against `previous` (rates) and `window`
/// (the start of the quantiles' window).
fn derive(
    families: &[Family],
    previous: &Previous,
    window: &Previous,
    values: &HashMap<SeriesKey, f64>,
    at_ms: i64,
    reading: &mut Reading,
) {
    let seconds = (at_ms - previous.at_ms) as f64 / 1000.0;
    if seconds <= 0.0 {
        return;
    }
    let grown = |key: &SeriesKey| -> Option<f64> {
        let now = *values.get(key)?;
        let before = *previous.values.get(key)?;
        Some(increase(before, now))
    };
    let grown_in_window = |key: &SeriesKey| -> Option<f64> {
        let now = *values.get(key)?;
        let before = *window.values.get(key)?;
        Some(increase(before, now))
    };
    let key_of = |name: &str, labels: &BTreeMap<String, String>| SeriesKey {
        name: name.to_owned(),
        labels: labels.clone(),
    };
    if let Some(requests) = requests_family(families) {
        let (mut all, mut errors) = (0.0, 0.0);
        let mut per_endpoint: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for sample in &requests.samples {
            if let Some(increase) = grown(&key_of(&sample.name, &sample.labels)) {
                let error = if is_error(&sample.labels) {
                    increase
                } else {
                    0.0
                };
                all += increase;
                errors += error;
                if let Some(endpoint) = endpoint_of(&sample.labels) {
                    let entry = per_endpoint.entry(endpoint).or_default();
                    entry.0 += increase;
                    entry.1 += error;
                }
            }
        }
        for (endpoint, (all, errors)) in per_endpoint {
            reading.push(
                SeriesKey::new(AppSeries::ENDPOINT_REQUEST_RATE).with("endpoint", endpoint),
                at_ms,
                all / seconds,
            );
            if all > 0.0 {
                reading.push(
                    SeriesKey::new(AppSeries::ENDPOINT_ERROR_RATIO).with("endpoint", endpoint),
                    at_ms,
                    errors / all,
                );
            }
        }
        reading.push(
            SeriesKey::new(AppSeries::REQUEST_RATE),
            at_ms,
            all / seconds,
        );
        reading.push(
            SeriesKey::new(AppSeries::ERROR_RATE),
            at_ms,
            errors / seconds,
        );
        if all > 0.0 {
            reading.push(SeriesKey::new(AppSeries::ERROR_RATIO), at_ms, errors / all);
        }
    }
    if let Some(throughput) = throughput_family(families) {
        let total: f64 = throughput
            .samples
            .iter()
            .filter_map(|sample| grown(&key_of(&sample.name, &sample.labels)))
            .sum();
        reading.push(
            SeriesKey::new(AppSeries::THROUGHPUT),
            at_ms,
            total / seconds,
        );
    }
    if let Some(latency) = latency_family(families) {
        // sum by (le) (increase(bucket)) over every label set, then histogram_quantile;
        // and the same per endpoint.
        type Buckets = BTreeMap<String, (f64, f64)>;
        let mut by_bound: Buckets = BTreeMap::new();
        let mut per_endpoint: BTreeMap<&str, Buckets> = BTreeMap::new();
        let bucket_name = format!("{}_bucket", latency.name);
        for sample in latency.samples.iter().filter(|s| s.name == bucket_name) {
            let Some(le) = sample.labels.get("le") else {
                continue;
            };
            let Some(bound) = parse_float(le) else {
                continue;
            };
            if let Some(increase) = grown_in_window(&key_of(&sample.name, &sample.labels)) {
                by_bound.entry(le.clone()).or_insert((bound, 0.0)).1 += increase;
                if let Some(endpoint) = endpoint_of(&sample.labels) {
                    per_endpoint
                        .entry(endpoint)
                        .or_default()
                        .entry(le.clone())
                        .or_insert((bound, 0.0))
                        .1 += increase;
                }
            }
        }
        let mut push_quantiles = |key: SeriesKey, buckets: Buckets| {
            let buckets: Vec<(f64, f64)> = buckets.into_values().collect();
            for (q, label) in LATENCY_QUANTILES {
                let value = bucket_quantile(q, buckets.clone());
                if value.is_finite() {
                    reading.push(key.clone().with("quantile", label), at_ms, value);
                }
            }
        };
        push_quantiles(SeriesKey::new(AppSeries::LATENCY), by_bound);
        for (endpoint, buckets) in per_endpoint {
            push_quantiles(
                SeriesKey::new(AppSeries::ENDPOINT_LATENCY).with("endpoint", endpoint),
                buckets,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram's text with `fast` requests in (0, 0.1] and `slow` in (0.1, 1].
    fn text(fast: u64, slow: u64) -> String {
        format!(
            "# TYPE x_request_duration_seconds histogram\n\
             x_request_duration_seconds_bucket{{le=\"0.1\"}} {fast}\n\
             x_request_duration_seconds_bucket{{le=\"1\"}} {}\n\
             x_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n\
             x_request_duration_seconds_sum 0\n\
             x_request_duration_seconds_count {}\n",
            fast + slow,
            fast + slow,
            fast + slow
        )
    }

    fn p99(reading: &Reading) -> Option<f64> {
        reading
            .samples
            .iter()
            .find(|(key, _, _)| {
                key.name == AppSeries::LATENCY
                    && key.labels.get("quantile").map(String::as_str) == Some("0.99")
            })
            .map(|(_, _, value)| *value)
    }

    #[test]
    fn latency_quantiles_cover_the_last_minute_of_requests_not_the_last_scrape() {
        // One fast request every 2 s scrape, and ten slow ones at 30 s: a P99 of the last
        // scrape alone would say 0.1 s at 60 s; over the last minute the slow ten are 1 in 4
        // requests, so the P99 is in their bucket. Once they are more than a minute old,
        // the P99 is fast again.
        let mut scrapes = Scrapes::default();
        let (mut fast, mut slow) = (0, 0);
        let mut at_60 = None;
        let mut at_92 = None;
        for second in (0..=92).step_by(2) {
            if second > 0 {
                fast += 1;
            }
            if second == 30 {
                slow += 10;
            }
            let reading = scrapes.read(&text(fast, slow), second * 1000).unwrap();
            match second {
                60 => at_60 = p99(&reading),
                92 => at_92 = p99(&reading),
                _ => {}
            }
        }
        let at_60 = at_60.expect("a P99 at 60 s");
        assert!(
            at_60 > 0.9,
            "the slow requests are in the last minute: {at_60}"
        );
        let at_92 = at_92.expect("a P99 at 92 s");
        assert!(at_92 <= 0.1, "a minute later they are not: {at_92}");
        // The window keeps a minute of scrapes, not everything.
        assert!(scrapes.history.len() <= 32, "{}", scrapes.history.len());
    }
}
