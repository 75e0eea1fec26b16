//! Feishu (飞书) custom bot: a rich-text (`post`) message POSTed to
//! `…/open-apis/bot/v2/hook/<token>`, signed when the bot has a secret — `timestamp`
//! (seconds) and `sign` in the body, `sign` being the Base64 of HMAC-SHA256 over nothing,
//! keyed by `timestamp + "\n" + secret` (Feishu's documented scheme). Feishu answers with
//! `code`: 0 is delivered, 11232 is its frequency limit (retry later); 19021 (a bad
//! signature or a stale timestamp) and the rest are refusals.

use qcat_core::secret::Secret;

use super::{SendError, answer_body, hmac_sha256_base64, json_answer, transport_error};

const FREQUENCY_LIMIT: i64 = 11232;

#[derive(Debug, Clone)]
pub struct Feishu {
    pub webhook_url: Secret<String>,
    pub secret: Option<Secret<String>>,
}

/// Feishu's `sign` for `secret` at `timestamp_s`.
pub fn sign(secret: &str, timestamp_s: i64) -> String {
    hmac_sha256_base64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

impl Feishu {
    pub fn body(&self, title: &str, text: &str, now_ms: i64) -> serde_json::Value {
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::json!([{ "tag": "text", "text": line }]))
            .collect();
        let mut body = serde_json::json!({
            "msg_type": "post",
            "content": { "post": { "zh_cn": { "title": title, "content": lines } } },
        });
        if let Some(secret) = &self.secret {
            let timestamp = now_ms / 1000;
            body["timestamp"] = serde_json::json!(timestamp.to_string());
            body["sign"] = serde_json::json!(sign(secret.expose(), timestamp));
        }
        body
    }

    pub async fn send(
        &self,
        client: &reqwest::Client,
        title: &str,
        text: &str,
        now_ms: i64,
    ) -> Result<(), SendError> {
        let response = client
            .post(self.webhook_url.expose())
            .json(&self.body(title, text, now_ms))
            .send()
            .await
            .map_err(|err| transport_error("Feishu", &err))?;
        let answer = json_answer("Feishu", &answer_body("Feishu", response).await?)?;
        match answer["code"].as_i64() {
            Some(0) => Ok(()),
            Some(FREQUENCY_LIMIT) => Err(SendError {
                message: "Feishu: over the bot's frequency limit".into(),
                retryable: true,
                retry_after: Some(std::time::Duration::from_secs(10)),
            }),
            code => Err(SendError::permanent(format!(
                "Feishu refused the message (code {}): {}",
                code.map_or_else(|| "none".to_owned(), |c| c.to_string()),
                answer["msg"].as_str().unwrap_or("")
            ))),
        }
    }
}
