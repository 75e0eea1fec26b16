//! Channels: how a notification reaches people. Each renders the notification with its
//! template (minijinja; a default per channel, overridable) and sends it the way the
//! service documents — DingTalk's signed robot webhook, WeCom's and Feishu's robots (Feishu
//! signed too), Slack's incoming webhook, SMS through an HTTP API (Aliyun's signed
//! `SendSms`), Alertmanager's webhook JSON — over one rustls client. A failure says whether
//! trying again can help ([`SendError::retryable`]) and, when the service said so, how long
//! to wait.

use std::time::Duration;

pub mod dingtalk;
pub mod email;
pub mod feishu;
pub mod slack;
pub mod sms;
pub mod template;
pub mod webhook;
pub mod wecom;

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    /// A later attempt may succeed (a timeout, a 5xx, a rate limit); otherwise the request
    /// itself is wrong (a bad signature, an unknown token) and retrying repeats the refusal.
    pub retryable: bool,
    /// How long the service asked to be left alone (a 429's `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }
}

/// The HTTP client every channel sends with: rustls with the ring provider, a per-attempt
/// timeout, no redirects (a webhook that redirects is misconfigured, and following it could
/// leak the message elsewhere).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, SendError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| SendError::permanent(format!("the HTTP client could not be built: {err}")))
}

/// A transport failure in words, without the URL (webhook URLs carry their tokens).
pub(crate) fn transport_error(channel: &str, err: &reqwest::Error) -> SendError {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    SendError::retry(format!("{channel}: the request {what}"))
}

/// The body of a 2xx answer; any other status as a send error (429 and 5xx can pass, with
/// the `Retry-After` the service gave).
pub(crate) async fn answer_body(
    channel: &str,
    response: reqwest::Response,
) -> Result<String, SendError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(body);
    }
    Err(SendError {
        message: format!(
            "{channel}: HTTP {status}: {}",
            qcat_core::text::bounded(body.trim(), 200)
        ),
        retryable: status.as_u16() == 429 || status.is_server_error(),
        retry_after,
    })
}

/// A JSON answer, or a retryable error (a proxy's HTML page is not the service's answer).
pub(crate) fn json_answer(channel: &str, body: &str) -> Result<serde_json::Value, SendError> {
    serde_json::from_str(body).map_err(|_| {
        SendError::retry(format!(
            "{channel}: the answer is not JSON: {}",
            qcat_core::text::bounded(body.trim(), 200)
        ))
    })
}

/// HMAC-SHA256 of `message` under `key`, Base64 (DingTalk's and Feishu's signatures).
pub(crate) fn hmac_sha256_base64(key: &[u8], message: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
