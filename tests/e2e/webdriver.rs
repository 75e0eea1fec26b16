//! A minimal W3C WebDriver client: just the endpoints these tests use, over plain HTTP to
//! the loopback tauri-driver, one connection per command (see `Session::start`).

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

/// The key W3C uses for an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

#[derive(Debug)]
pub struct WebDriverError(pub String);

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct Session {
    http: reqwest::Client,
    base: String,
    id: String,
}

#[derive(Debug, Clone)]
pub struct Element(String);

impl Session {
    /// `POST /session` with the given `alwaysMatch` capabilities.
    pub async fn start(base: &str, capabilities: Value) -> Result<Session, WebDriverError> {
        // reqwest is built with rustls and no default provider (the monitoring collectors
        // choose ring); a client needs one installed first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            // A fresh connection per command: tauri-driver 2.1 stalls on a reused
            // keep-alive connection after a few commands (seen here; curl's one
            // connection per request never stalls).
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|err| WebDriverError(err.to_string()))?;
        let mut session = Session {
            http,
            base: base.trim_end_matches('/').to_owned(),
            id: String::new(),
        };
        let value = session
            .send(
                reqwest::Method::POST,
                "/session",
                Some(json!({ "capabilities": { "alwaysMatch": capabilities } })),
            )
            .await?;
        session.id = value["sessionId"]
            .as_str()
            .ok_or_else(|| WebDriverError(format!("no sessionId in {value}")))?
            .to_owned();
        Ok(session)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| WebDriverError(format!("{path}: {err}")))?;
        let status = response.status();
        let json: Value = response
            .json()
            .await
            .map_err(|err| WebDriverError(format!("{path}: unreadable answer: {err}")))?;
        if !status.is_success() {
            return Err(WebDriverError(format!(
                "{path}: {} {}",
                json["value"]["error"], json["value"]["message"]
            )));
        }
        Ok(json["value"].clone())
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.id)
    }

    /// The first element matching `css`, or `None` when there is none yet.
    pub async fn find(&self, css: &str) -> Result<Option<Element>, WebDriverError> {
        let result = self
            .send(
                reqwest::Method::POST,
                &self.session_path("/element"),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        match result {
            Ok(value) => Ok(value[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned()))),
            Err(err) if err.0.contains("no such element") => Ok(None),
            Err(err) => Err(err),
        }
    }

    pub async fn click(&self, element: &Element) -> Result<(), WebDriverError> {
        self.send(
            reqwest::Method::POST,
            &self.session_path(&format!("/element/{}/click", element.0)),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    pub async fn clear(&self, element: &Element) -> Result<(), WebDriverError> {
        self.send(
            reqwest::Method::POST,
            &self.session_path(&format!("/element/{}/clear", element.0)),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    pub async fn send_keys(&self, element: &Element, text: &str) -> Result<(), WebDriverError> {
        self.send(
            reqwest::Method::POST,
            &self.session_path(&format!("/element/{}/value", element.0)),
            Some(json!({ "text": text })),
        )
        .await
        .map(drop)
    }

    pub async fn text(&self, element: &Element) -> Result<String, WebDriverError> {
        let value = self
            .send(
                reqwest::Method::GET,
                &self.session_path(&format!("/element/{}/text", element.0)),
                None,
            )
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    pub async fn attribute(
        &self,
        element: &Element,
        name: &str,
    ) -> Result<Option<String>, WebDriverError> {
        let value = self
            .send(
                reqwest::Method::GET,
                &self.session_path(&format!("/element/{}/attribute/{name}", element.0)),
                None,
            )
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// Runs `script` in the page (W3C "execute script"), with `args` as `arguments`.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, WebDriverError> {
        self.send(
            reqwest::Method::POST,
            &self.session_path("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Result<Vec<u8>, WebDriverError> {
        let value = self
            .send(
                reqwest::Method::GET,
                &self.session_path("/screenshot"),
                None,
            )
            .await?;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .map_err(|err| WebDriverError(format!("screenshot is not base64: {err}")))
    }

    pub async fn close(&self) -> Result<(), WebDriverError> {
        self.send(reqwest::Method::DELETE, &self.session_path(""), None)
            .await
            .map(drop)
    }
}
