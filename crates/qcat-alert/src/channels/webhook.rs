//! A generic webhook: Alertmanager's webhook JSON (version 4) POSTed as it is — so any
//! receiver written for Alertmanager reads it. And [`Forward`]: a notification's alerts
//! handed to an existing Alertmanager's `POST /api/v2/alerts`, as Prometheus would post
//! them. Optional bearer token.
//!
//! Each request carries the notification's key as `Idempotency-Key`: delivery is at least
//! once (a send whose answer a crash cut off is sent again, with the same key), so a
//! receiver that keeps the keys it has seen gets every notification exactly once.

use qcat_core::secret::Secret;

use super::{SendError, answer_body, transport_error};
use crate::notify::Notification;

#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: Secret<String>,
    pub bearer_token: Option<Secret<String>>,
    /// At most this many alerts per message (the rest counted in `truncatedAlerts`);
    /// 0: all.
    pub max_alerts: usize,
}

impl Webhook {
    pub fn body(&self, notification: &Notification) -> serde_json::Value {
        if self.max_alerts == 0 || notification.alerts.len() <= self.max_alerts {
            return notification.webhook_json();
        }
        let mut cut = notification.clone();
        cut.truncated_alerts = cut.alerts.len() - self.max_alerts;
        cut.alerts.truncate(self.max_alerts);
        cut.webhook_json()
    }

    pub async fn send(
        &self,
        client: &reqwest::Client,
        notification: &Notification,
        key: &str,
    ) -> Result<(), SendError> {
        let mut request = client
            .post(self.url.expose())
            .header("Idempotency-Key", key)
            .json(&self.body(notification));
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|err| transport_error("webhook", &err))?;
        answer_body("webhook", response).await.map(drop)
    }
}

/// Forwarding to an existing Alertmanager (`alertmanager_configs`): the notification's
/// alerts posted to its `/api/v2/alerts`, each with its labels, annotations, start, end
/// (for a resolved one) and generator URL — so a team that keeps its Alertmanager gets
/// the console's alerts there too.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The Alertmanager's base URL (`http://alertmanager:9093`).
    pub url: Secret<String>,
    pub bearer_token: Option<Secret<String>>,
}

impl Forward {
    pub fn body(notification: &Notification) -> serde_json::Value {
        let alerts: Vec<serde_json::Value> = notification
            .alerts
            .iter()
            .map(|alert| {
                let mut posted = serde_json::json!({
                    "labels": alert.labels,
                    "annotations": alert.annotations,
                    "startsAt": alert.starts_at,
                    "generatorURL": alert.generator_url,
                });
                if alert.ends_at != "0001-01-01T00:00:00Z" {
                    posted["endsAt"] = serde_json::json!(alert.ends_at);
                }
                posted
            })
            .collect();
        serde_json::Value::Array(alerts)
    }

    pub async fn send(
        &self,
        client: &reqwest::Client,
        notification: &Notification,
    ) -> Result<(), SendError> {
        let url = format!("{}/api/v2/alerts", self.url.expose().trim_end_matches('/'));
        let mut request = client.post(url).json(&Self::body(notification));
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|err| transport_error("Alertmanager", &err))?;
        answer_body("Alertmanager", response).await.map(drop)
    }
}
