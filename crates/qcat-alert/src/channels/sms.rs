//! SMS through Aliyun's `SendSms` (dysmsapi, API version 2017-05-25), signed as Aliyun's
//! RPC APIs document: every parameter (with `AccessKeyId`, a fresh `SignatureNonce`, a
//! `Timestamp` in UTC, `SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`) sorted,
//! percent-encoded per RFC 3986, `POST&%2F&` + the encoded query signed with
//! HMAC-SHA1 keyed by `AccessKeySecret + "&"`, Base64. Aliyun answers `Code: OK`;
//! `isv.BUSINESS_LIMIT_CONTROL` and `Throttling*` are its rate limits (retry later); other
//! codes (a bad signature, an unapproved template) are refusals.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::Mac as _;
use qcat_core::secret::Secret;

use super::{SendError, json_answer, transport_error};

#[derive(Debug, Clone)]
pub struct AliyunSms {
    /// `https://dysmsapi.aliyuncs.com/` (a test server's URL in tests).
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: Secret<String>,
    pub sign_name: String,
    pub template_code: String,
    pub phone_numbers: Vec<String>,
    pub region: String,
}

/// RFC 3986 percent-encoding as Aliyun wants it (`~` kept, space as `%20`).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The `Signature` of `parameters` (without it) for `method` under `secret`.
pub fn signature(method: &str, parameters: &BTreeMap<String, String>, secret: &str) -> String {
    let canonical: Vec<String> = parameters
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    let to_sign = format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonical.join("&"))
    );
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl AliyunSms {
    /// The signed form parameters for one message (`template_param` is the template's
    /// JSON object, e.g. `{"alert":"…"}`).
    pub fn parameters(
        &self,
        template_param: &serde_json::Value,
        now_ms: i64,
        nonce: &str,
    ) -> BTreeMap<String, String> {
        let timestamp = jiff::Timestamp::from_millisecond(now_ms)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        let mut parameters: BTreeMap<String, String> = [
            ("AccessKeyId", self.access_key_id.clone()),
            ("Action", "SendSms".to_owned()),
            ("Format", "JSON".to_owned()),
            ("PhoneNumbers", self.phone_numbers.join(",")),
            ("RegionId", self.region.clone()),
            ("SignName", self.sign_name.clone()),
            ("SignatureMethod", "HMAC-SHA1".to_owned()),
            ("SignatureNonce", nonce.to_owned()),
            ("SignatureVersion", "1.0".to_owned()),
            ("TemplateCode", self.template_code.clone()),
            ("TemplateParam", template_param.to_string()),
            ("Timestamp", timestamp),
            ("Version", "2017-05-25".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let signed = signature("POST", &parameters, self.access_key_secret.expose());
        parameters.insert("Signature".into(), signed);
        parameters
    }

    pub async fn send(
        &self,
        client: &reqwest::Client,
        text: &str,
        now_ms: i64,
        nonce: &str,
    ) -> Result<(), SendError> {
        let parameters = self.parameters(&serde_json::json!({ "alert": text }), now_ms, nonce);
        let response = client
            .post(&self.endpoint)
            .form(&parameters)
            .send()
            .await
            .map_err(|err| transport_error("Aliyun SMS", &err))?;
        // Aliyun answers refusals (a bad signature, a limit) with a 4xx and its JSON code:
        // read the code whatever the status; a 5xx or a non-JSON answer is retried.
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status.is_server_error() {
            return Err(SendError::retry(format!("Aliyun SMS: HTTP {status}")));
        }
        let answer = json_answer("Aliyun SMS", &body)?;
        let code = answer["Code"].as_str().unwrap_or("");
        if code == "OK" {
            return Ok(());
        }
        let message = format!(
            "Aliyun SMS: {code}: {}",
            answer["Message"].as_str().unwrap_or("")
        );
        if code == "isv.BUSINESS_LIMIT_CONTROL" || code.starts_with("Throttling") {
            Err(SendError {
                message,
                retryable: true,
                retry_after: Some(std::time::Duration::from_secs(60)),
            })
        } else {
            Err(SendError::permanent(message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_aliyuns_documented_example() {
        // The worked example of Aliyun's RPC signature documentation (DescribeRegions with
        // AccessKeyId testid, secret testsecret, the nonce and time below).
        let parameters: BTreeMap<String, String> = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            signature("GET", &parameters, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        assert_eq!(percent_encode("a b*~/"), "a%20b%2A~%2F");
    }
}
