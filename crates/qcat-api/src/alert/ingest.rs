//! Alertmanager's `POST /api/v2/alerts` on the agent: an existing Prometheus points its
//! `alerting.alertmanagers` at the agent and its alerts are routed through the console.
//! The body is Alertmanager's list of postable alerts (`labels`, `annotations`,
//! `startsAt`, `endsAt`, `generatorURL`); each becomes (or renews) an episode with source
//! `api`, ended at its `endsAt` — Prometheus renews that end while the alert fires, so an
//! alert it stops sending resolves by itself — or five minutes after it was last sent
//! when it gives none (Alertmanager's `resolve_timeout`). The request must carry
//! `alerting.api_token` as a bearer token (or as the password of basic auth).

use std::collections::HashMap;

use qcat_alert::Labels;
use qcat_alert::notify::fingerprint;
use qcat_alert::state::{self, Episode};
use qcat_core::ErrorCode;
use qcat_core::secret::Secret;
use serde::Deserialize;

use crate::{Api, ApiError};

/// An alert without `endsAt` ends this long after it was last posted.
pub const RESOLVE_TIMEOUT_MS: i64 = 5 * 60_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(rename = "generatorURL", default)]
    generator_url: Option<String>,
}

fn time(field: &str, index: usize, text: &Option<String>) -> Result<Option<i64>, ApiError> {
    match text.as_deref().map(str::trim) {
        None | Some("") | Some("0001-01-01T00:00:00Z") => Ok(None),
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .map(|t| Some(t.as_millisecond()))
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("[{index}].{field}: {text:?} is not an RFC 3339 time"),
                )
            }),
    }
}

/// Whether `header` (an `Authorization` value) carries `token`: `Bearer <token>`, or basic
/// auth whose password is the token. Compared in constant time.
pub fn authorized(header: Option<&str>, token: &Secret<String>) -> bool {
    use base64::Engine as _;
    let expected = token.expose().as_bytes();
    if expected.is_empty() {
        return false;
    }
    let Some(header) = header else { return false };
    let offered: Vec<u8> = if let Some(bearer) = header.strip_prefix("Bearer ") {
        bearer.trim().as_bytes().to_vec()
    } else if let Some(basic) = header.strip_prefix("Basic ") {
        base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|decoded| {
                let text = String::from_utf8(decoded).ok()?;
                text.split_once(':')
                    .map(|(_, password)| password.as_bytes().to_vec())
            })
            .unwrap_or_default()
    } else {
        return false;
    };
    offered.len() == expected.len()
        && offered
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

impl Api {
    /// The token `/api/v2/alerts` requires (`None`: not configured, so every post is
    /// refused with the fix).
    pub(crate) fn alert_api_token(&self) -> Option<Secret<String>> {
        let setting = &self.inner.config.config.config.alerting.api_token;
        if setting.raw().is_empty() {
            return None;
        }
        match crate::secrets::resolve(self.inner.keys.as_ref(), "alerting.api_token", setting) {
            Ok(token) => Some(token),
            Err(err) => {
                tracing::warn!(error = %err.message, "alerting.api_token cannot be read; /api/v2/alerts refuses every alert");
                None
            }
        }
    }

    /// Takes a body of Alertmanager's `POST /api/v2/alerts`; returns how many alerts it
    /// held. Every problem names the alert's index and field.
    pub async fn ingest_alerts(&self, body: &[u8]) -> Result<usize, ApiError> {
        let alerts: Vec<PostableAlert> = serde_json::from_slice(body).map_err(|err| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("the body is not a list of alerts as Alertmanager's API takes them: {err}"),
            )
        })?;
        let now = qcat_core::time::now_ms();
        let store = self.store()?;
        let fingerprints: Vec<String> = alerts.iter().map(|a| fingerprint(&a.labels)).collect();
        let open: HashMap<String, Episode> = state::open_of(store, &fingerprints, now)
            .await
            .map_err(|err| ApiError::store_failure(&err))?
            .into_iter()
            .filter(|e| e.source == "api")
            .map(|e| (e.fingerprint.clone(), e))
            .collect();
        let mut episodes = Vec::with_capacity(alerts.len());
        for (index, alert) in alerts.into_iter().enumerate() {
            if alert.labels.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("[{index}].labels: an alert needs at least one label"),
                ));
            }
            for (name, value) in &alert.labels {
                qcat_alert::matcher::Matcher::new(name, qcat_alert::matcher::MatchOp::Equal, value)
                    .map_err(|err| {
                        ApiError::new(
                            ErrorCode::InvalidInput,
                            format!("[{index}].labels: {}", err.0),
                        )
                    })?;
            }
            let starts = time("startsAt", index, &alert.starts_at)?.unwrap_or(now);
            let ends = time("endsAt", index, &alert.ends_at)?;
            if ends.is_some_and(|end| end < starts) {
                return Err(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("[{index}].endsAt: before startsAt"),
                ));
            }
            let ends = ends.unwrap_or(now + RESOLVE_TIMEOUT_MS);
            let key = fingerprint(&alert.labels);
            match open.get(&key) {
                Some(current) => {
                    // Renewed (or resolved): same episode, new end.
                    episodes.push(Episode {
                        annotations: alert.annotations,
                        ends_ms: Some(ends),
                        updated_ms: now,
                        ..current.clone()
                    });
                }
                None if ends > now => episodes.push(Episode {
                    fingerprint: key,
                    source: "api".into(),
                    labels: alert.labels,
                    annotations: alert.annotations,
                    generator_url: alert.generator_url.unwrap_or_default(),
                    starts_ms: starts,
                    ends_ms: Some(ends),
                    updated_ms: now,
                    flapping: false,
                }),
                // Resolved before this console ever saw it firing: nothing to tell.
                None => {}
            }
        }
        let count = episodes.len();
        state::upsert_episodes(store, &episodes)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        self.inner.alert.wake.notify_one();
        Ok(count)
    }
}
