//! The local stand-ins of the services alerts go to (`fixtures/robots.py`, stdlib Python
//! written from the services' documentation): DingTalk, WeCom, Feishu, Slack, Aliyun SMS and
//! Alertmanager-style webhooks, each checking signatures, shapes and rate limits as the
//! service does. `GET /received?channel=C` lists what each accepted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running stand-in on 127.0.0.1, stopped when dropped.
pub struct Robots {
    child: Child,
    pub port: u16,
}

/// The credentials the stand-in accepts.
pub struct RobotCredentials<'a> {
    pub dingtalk_token: &'a str,
    pub dingtalk_secret: &'a str,
    pub feishu_secret: &'a str,
    pub aliyun_id: &'a str,
    pub aliyun_secret: &'a str,
}

impl Robots {
    pub fn start(credentials: &RobotCredentials<'_>) -> Self {
        let mut child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/robots.py"))
            .args(["--dingtalk-token", credentials.dingtalk_token])
            .args(["--dingtalk-secret", credentials.dingtalk_secret])
            .args(["--feishu-secret", credentials.feishu_secret])
            .args(["--aliyun-id", credentials.aliyun_id])
            .args(["--aliyun-secret", credentials.aliyun_secret])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the robot server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the server prints its port");
        let port = line.trim().parse().expect("the server prints its port");
        Self { child, port }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What `channel` accepted so far, oldest first.
    pub fn received(&self, channel: &str) -> Vec<serde_json::Value> {
        let body = self.request("GET", &format!("/received?channel={channel}"));
        serde_json::from_str(&body).expect("the robots list what they received as JSON")
    }

    /// Makes `channel` misbehave for `seconds`: `down` answers 503, `slow` answers late.
    pub fn control(&self, what: &str, channel: &str, seconds: f64) {
        self.request(
            "POST",
            &format!("/control/{what}?channel={channel}&seconds={seconds}"),
        );
    }

    /// One HTTP/1.0 request to the stand-in (a local, threaded server: a blocking call of
    /// a few milliseconds, usable from sync and async tests alike); the body of its answer.
    fn request(&self, method: &str, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("the robots answer");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
        )
        .expect("the request is sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("the robots answer");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        assert!(
            head.split_whitespace().nth(1) == Some("200"),
            "{method} {path}: {head}"
        );
        body.to_owned()
    }
}

impl Drop for Robots {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
