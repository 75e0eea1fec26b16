//! WeCom (企业微信) group robot: markdown POSTed to `…/cgi-bin/webhook/send?key=…`. WeCom
//! answers with `errcode`: 0 is delivered, 45009 is its 20-a-minute limit (retry later);
//! markdown content is limited to 4 096 bytes (longer text is cut, marked with "…").

use qcat_core::secret::Secret;

use super::{SendError, answer_body, json_answer, transport_error};

pub const PER_MINUTE: u32 = 20;
const FREQUENCY_LIMIT: i64 = 45009;
const MAX_CONTENT_BYTES: usize = 4096;

#[derive(Debug, Clone)]
pub struct WeCom {
    /// The robot's webhook URL with its key.
    pub webhook_url: Secret<String>,
    /// User ids to mention (`<@userid>` in the text).
    pub mentions: Vec<String>,
}

/// `text` cut at a character boundary to at most `limit` bytes, ending in "…" when cut.
pub fn cut(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl WeCom {
    pub fn body(&self, markdown: &str) -> serde_json::Value {
        let mut content = markdown.to_owned();
        for user in &self.mentions {
            content.push_str(&format!(" <@{user}>"));
        }
        serde_json::json!({
            "msgtype": "markdown",
            "markdown": { "content": cut(&content, MAX_CONTENT_BYTES) },
        })
    }

    pub async fn send(&self, client: &reqwest::Client, markdown: &str) -> Result<(), SendError> {
        let response = client
            .post(self.webhook_url.expose())
            .json(&self.body(markdown))
            .send()
            .await
            .map_err(|err| transport_error("WeCom", &err))?;
        let answer = json_answer("WeCom", &answer_body("WeCom", response).await?)?;
        match answer["errcode"].as_i64() {
            Some(0) => Ok(()),
            Some(FREQUENCY_LIMIT) => Err(SendError {
                message: "WeCom: over the robot's 20 messages a minute".into(),
                retryable: true,
                retry_after: Some(std::time::Duration::from_secs(60)),
            }),
            code => Err(SendError::permanent(format!(
                "WeCom refused the message (errcode {}): {}",
                code.map_or_else(|| "none".to_owned(), |c| c.to_string()),
                answer["errmsg"].as_str().unwrap_or("")
            ))),
        }
    }
}
