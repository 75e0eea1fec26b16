//! DingTalk custom robot: a markdown message POSTed to the robot's webhook
//! (`…/robot/send?access_token=…`), signed when the robot has a secret — `timestamp`
//! (milliseconds) and `sign` = URL-encoded Base64 of HMAC-SHA256 over
//! `timestamp + "\n" + secret` keyed by the secret — with `at.atMobiles` / `at.isAtAll`.
//! DingTalk answers HTTP 200 with `errcode`: 0 is delivered, 130101 is its 20-a-minute
//! limit (retry later), anything else (a bad signature or token, a keyword the robot
//! requires) is refused as sent.

use qcat_core::secret::Secret;

use super::{SendError, answer_body, hmac_sha256_base64, json_answer, transport_error};

/// DingTalk allows a robot this many messages a minute.
pub const PER_MINUTE: u32 = 20;
/// Its rate-limit error code.
const SEND_TOO_FAST: i64 = 130101;

#[derive(Debug, Clone)]
pub struct DingTalk {
    /// The robot's webhook URL with its access token.
    pub webhook_url: Secret<String>,
    /// The robot's signing secret (`SEC…`), when "sign" security is on.
    pub secret: Option<Secret<String>>,
    pub at_mobiles: Vec<String>,
    pub at_all: bool,
}

/// `timestamp=…&sign=…` for `secret` at `timestamp_ms`, URL-encoded as DingTalk wants it.
pub fn signature_query(secret: &str, timestamp_ms: i64) -> String {
    let sign = hmac_sha256_base64(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    );
    let encoded: String = url::form_urlencoded::byte_serialize(sign.as_bytes()).collect();
    format!("timestamp={timestamp_ms}&sign={encoded}")
}

impl DingTalk {
    /// The JSON body DingTalk takes for a markdown message.
    pub fn body(&self, title: &str, markdown: &str) -> serde_json::Value {
        // DingTalk only notifies the @-ed phones when their numbers appear in the text.
        let mut text = markdown.to_owned();
        for mobile in &self.at_mobiles {
            text.push_str(&format!(" @{mobile}"));
        }
        serde_json::json!({
            "msgtype": "markdown",
            "markdown": { "title": title, "text": text },
            "at": { "atMobiles": self.at_mobiles, "isAtAll": self.at_all },
        })
    }

    pub async fn send(
        &self,
        client: &reqwest::Client,
        title: &str,
        markdown: &str,
        now_ms: i64,
    ) -> Result<(), SendError> {
        let mut url = self.webhook_url.expose().clone();
        if let Some(secret) = &self.secret {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&signature_query(secret.expose(), now_ms));
        }
        let response = client
            .post(&url)
            .json(&self.body(title, markdown))
            .send()
            .await
            .map_err(|err| transport_error("DingTalk", &err))?;
        let answer = json_answer("DingTalk", &answer_body("DingTalk", response).await?)?;
        match answer["errcode"].as_i64() {
            Some(0) => Ok(()),
            Some(SEND_TOO_FAST) => Err(SendError {
                message: "DingTalk: over the robot's 20 messages a minute".into(),
                retryable: true,
                retry_after: Some(std::time::Duration::from_secs(60)),
            }),
            code => Err(SendError::permanent(format!(
                "DingTalk refused the message (errcode {}): {}",
                code.map_or_else(|| "none".to_owned(), |c| c.to_string()),
                answer["errmsg"].as_str().unwrap_or("")
            ))),
        }
    }
}
