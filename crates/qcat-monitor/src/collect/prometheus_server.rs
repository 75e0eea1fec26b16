//! A Prometheus server a team already runs: each named PromQL expression is read with
//! `/api/v1/query_range` from where the previous reading stopped (at most an hour back) to
//! now, at the target's interval, and becomes series under that name with the result's
//! labels.

use std::collections::BTreeMap;
use std::time::Duration;

use qcat_core::secret::Secret;
use serde::Deserialize;

use super::prometheus::{describe_http, http_client};
use super::{CollectError, FailureKind, Reading};
use crate::exposition::parse_float;
use crate::targets::Target;
use crate::tsdb::SeriesKey;

pub struct PrometheusServerCollector {
    api: PrometheusApi,
    queries: BTreeMap<String, String>,
    step: Duration,
    /// Where the previous reading ended (ms).
    until_ms: Option<i64>,
}

/// A Prometheus server's HTTP API: `query_range`, as the collector and history imports
/// use it.
pub struct PrometheusApi {
    client: reqwest::Client,
    base: url::Url,
    user: Option<(String, Option<Secret<String>>)>,
}

/// Prometheus answers at most 11,000 points per series; longer ranges are read in windows.
const MAX_STEPS: i64 = 10_000;

#[derive(Deserialize)]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<ApiData>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
}

#[derive(Deserialize)]
struct ApiData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<ApiSeries>,
}

#[derive(Deserialize)]
struct ApiSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, std::string::String)>,
}

impl PrometheusApi {
    /// `url` is the server's base (`http://host:9090`), a user in it goes as basic auth
    /// with `password`.
    pub fn new(
        url: &str,
        password: Option<Secret<String>>,
        timeout: Duration,
    ) -> Result<Self, CollectError> {
        let mut base = url::Url::parse(url)
            .map_err(|err| CollectError::new(FailureKind::Config, format!("the URL: {err}")))?;
        let user = (!base.username().is_empty()).then(|| (base.username().to_owned(), password));
        let _ = base.set_username("");
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            client: http_client(timeout)?,
            base,
            user,
        })
    }

    /// `query` over `[start_ms, end_ms]` at `step_ms`, its series named `name` with the
    /// result's labels.
    pub async fn query_range(
        &self,
        name: &str,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<(SeriesKey, Vec<(i64, f64)>)>, CollectError> {
        let url = self
            .base
            .join("api/v1/query_range")
            .map_err(|err| CollectError::new(FailureKind::Config, err.to_string()))?;
        let mut request = self.client.get(url.clone()).query(&[
            ("query", query),
            ("start", &format!("{:.3}", start_ms as f64 / 1000.0)),
            ("end", &format!("{:.3}", end_ms as f64 / 1000.0)),
            ("step", &format!("{}s", step_ms as f64 / 1000.0)),
        ]);
        if let Some((user, password)) = &self.user {
            request = request.basic_auth(user, password.as_ref().map(|p| p.expose().to_owned()));
        }
        let shown = qcat_core::redact::url(url.as_str());
        let response = request
            .send()
            .await
            .map_err(|err| describe_http(&shown, &err))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(CollectError::new(
                FailureKind::Auth,
                format!(
                    "{shown} answered {status}: check the URL's user and the target's password"
                ),
            ));
        }
        let body: ApiResponse = response.json().await.map_err(|err| {
            CollectError::new(
                FailureKind::Protocol,
                format!("{shown} did not answer as a Prometheus API ({status}): {err}"),
            )
        })?;
        if body.status != "success" {
            return Err(CollectError::new(
                FailureKind::Config,
                format!(
                    "query {name} was refused by Prometheus ({}): {}",
                    body.error_type.unwrap_or_default(),
                    body.error.unwrap_or_default()
                ),
            ));
        }
        let data = body.data.ok_or_else(|| {
            CollectError::new(
                FailureKind::Protocol,
                format!("{shown}: a success without data"),
            )
        })?;
        if data.result_type != "matrix" {
            return Err(CollectError::new(
                FailureKind::Protocol,
                format!("{shown}: expected a matrix, got {}", data.result_type),
            ));
        }
        Ok(data
            .result
            .into_iter()
            .map(|series| {
                let mut labels = series.metric;
                labels.remove("__name__");
                let points = series
                    .values
                    .into_iter()
                    .filter_map(|(seconds, text)| {
                        parse_float(text.as_str())
                            .map(|value| ((seconds * 1000.0).round() as i64, value))
                    })
                    .collect();
                (
                    SeriesKey {
                        name: name.to_owned(),
                        labels,
                    },
                    points,
                )
            })
            .collect())
    }

    /// Like [`query_range`](Self::query_range) over any length: read in windows Prometheus
    /// accepts, each series' points joined in time order.
    pub async fn history(
        &self,
        name: &str,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<(SeriesKey, Vec<(i64, f64)>)>, CollectError> {
        let step_ms = step_ms.max(1000);
        let mut joined: BTreeMap<String, (SeriesKey, Vec<(i64, f64)>)> = BTreeMap::new();
        let mut from = start_ms;
        while from <= end_ms {
            let to = (from + step_ms * (MAX_STEPS - 1)).min(end_ms);
            for (key, points) in self.query_range(name, query, from, to, step_ms).await? {
                let entry = joined
                    .entry(key.canonical())
                    .or_insert_with(|| (key, Vec::new()));
                entry.1.extend(points);
            }
            from = to + step_ms;
        }
        Ok(joined.into_values().collect())
    }
}

impl PrometheusServerCollector {
    pub fn new(target: &Target, password: Option<Secret<String>>) -> Result<Self, CollectError> {
        Ok(Self {
            api: PrometheusApi::new(&target.url, password, target.timeout)?,
            queries: target.queries.clone(),
            step: target.interval,
            until_ms: None,
        })
    }

    pub async fn collect(
        &mut self,
        at_ms: i64,
        _timeout: Duration,
    ) -> Result<Reading, CollectError> {
        let step_ms = self.step.as_millis().max(1000) as i64;
        let end = at_ms.div_euclid(step_ms) * step_ms;
        let start = match self.until_ms {
            Some(until) => (until + step_ms).max(end - 3_600_000),
            None => end,
        };
        let mut reading = Reading::new();
        if start > end {
            return Ok(reading);
        }
        for (name, query) in &self.queries {
            for (key, points) in self
                .api
                .query_range(name, query, start, end, step_ms)
                .await?
            {
                for (at, value) in points {
                    reading.push(key.clone(), at, value);
                }
            }
        }
        self.until_ms = Some(end);
        Ok(reading)
    }
}
