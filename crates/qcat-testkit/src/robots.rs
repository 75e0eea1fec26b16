//! The local stand-ins of the services alerts go to (`fixtures/robots.py`, stdlib Python
//! written from the services' documentation): DingTalk, WeCom, Feishu, Slack, Aliyun SMS and
//! Alertmanager-style webhooks, each checking signatures, shapes and rate limits as the
//! service does. `GET /received?channel=C` lists what each accepted.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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
}

impl Drop for Robots {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
