//! Slack incoming webhook: `text` (the fallback notifications show) and `blocks` (a header
//! and a section of mrkdwn). Slack answers `ok`; 400 `invalid_payload` and similar are
//! refusals; 429 comes with `Retry-After` (about one message a second per webhook).

use qcat_core::secret::Secret;

use super::{SendError, answer_body, transport_error};

#[derive(Debug, Clone)]
pub struct Slack {
    pub webhook_url: Secret<String>,
}

impl Slack {
    pub fn body(&self, title: &str, text: &str) -> serde_json::Value {
        // Slack's section text is at most 3 000 characters.
        let section: String = text.chars().take(3000).collect();
        serde_json::json!({
            "text": title,
            "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": title.chars().take(150).collect::<String>() } },
                { "type": "section", "text": { "type": "mrkdwn", "text": section } },
            ],
        })
    }

    pub async fn send(
        &self,
        client: &reqwest::Client,
        title: &str,
        text: &str,
    ) -> Result<(), SendError> {
        let response = client
            .post(self.webhook_url.expose())
            .json(&self.body(title, text))
            .send()
            .await
            .map_err(|err| transport_error("Slack", &err))?;
        answer_body("Slack", response).await.map(drop)
    }
}
