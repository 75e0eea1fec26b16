//! A generic webhook: Alertmanager's webhook JSON (version 4) POSTed as it is — so any
//! receiver written for Alertmanager reads it, and another Alertmanager's
//! `/api/v2/alerts` can be fed from it (`forward`). Optional basic auth or bearer token.

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
    ) -> Result<(), SendError> {
        let mut request = client
            .post(self.url.expose())
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
