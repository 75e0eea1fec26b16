//! The e-mail channel against a real SMTP server (Debian's `python3-aiosmtpd`), whose own
//! MIME parser reads every message back: STARTTLS and implicit TLS with a certificate the
//! channel is told to trust, AUTH over TLS, HTML and plain text as alternatives with the
//! chart inline (`cid:chart`, a real PNG); a wrong password or an unknown recipient is a
//! permanent failure whose message does not carry the password; plain SMTP only to this
//! machine.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use qcat_alert::channels::email::{Email, EmailContent, Security};
use qcat_core::secret::Secret;

struct Sink {
    child: Child,
    port: u16,
    out: std::path::PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test CA (`ca.pem`) and a server certificate for 127.0.0.1 it signed (openssl), as
/// PEM files in `dir`: the server's certificate and key.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() {
        return (cert, key);
    }
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=qcat test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "cert.pem",
    ]);
    (cert, key)
}

fn sink(dir: &Path, mode: &str) -> Sink {
    let port = free_port();
    let out = dir.join(format!("{mode}.jsonl"));
    let (cert, key) = certificate(dir);
    // Debian's python3 has aiosmtpd (python3-aiosmtpd); another python on PATH may not.
    let mut child = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/smtp_sink.py"
        ))
        .args(["--port", &port.to_string(), "--mode", mode])
        .arg("--out")
        .arg(&out)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the SMTP server starts (apt-get install python3-aiosmtpd)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    Sink { child, port, out }
}

fn messages(sink: &Sink) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&sink.out)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn content() -> EmailContent {
    EmailContent {
        subject: "[FIRING:1] HighErrorRate 错误率".into(),
        text: "HighErrorRate: 12 % of orders failed".into(),
        html: "<p><b>HighErrorRate</b>: 12 %</p><img src=\"cid:chart\" alt=\"chart\">".into(),
        // A real 1×1 PNG: the signature and IHDR/IDAT/IEND chunks.
        chart_png: Some(vec![
            0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48,
            0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
            0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78,
            0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99,
            0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
        ]),
    }
}

fn email(sink: &Sink, dir: &Path, security: Security, password: &str) -> Email {
    Email {
        host: "127.0.0.1".into(),
        port: sink.port,
        security,
        username: Some("alerts".into()),
        password: Some(Secret::new(password.into())),
        from: "QCAT Console <alerts@desk.example>".into(),
        to: vec!["oncall@desk.example".into()],
        extra_root_pem: Some(std::fs::read(dir.join("ca.pem")).unwrap()),
        timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn starttls_with_auth_delivers_both_bodies_and_the_inline_chart() {
    let dir = tempfile::tempdir().unwrap();
    let sink = sink(dir.path(), "starttls");
    email(&sink, dir.path(), Security::StartTls, "s3cret-pass")
        .send(&content())
        .await
        .unwrap();
    let got = messages(&sink);
    assert_eq!(got.len(), 1);
    let message = &got[0];
    assert_eq!(message["tls"], true, "STARTTLS was used");
    assert_eq!(message["authenticated"], true);
    assert_eq!(message["subject"], "[FIRING:1] HighErrorRate 错误率");
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!(["oncall@desk.example"])
    );
    assert_eq!(message["top"], "multipart/alternative");
    assert!(
        message["text"]
            .as_str()
            .unwrap()
            .contains("12 % of orders failed")
    );
    assert!(message["html"].as_str().unwrap().contains("cid:chart"));
    // The chart is an inline PNG part whose Content-ID the HTML names.
    let chart = message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == "image/png")
        .expect("an image part");
    assert_eq!(chart["content_id"], "<chart>");
    assert_eq!(chart["disposition"], "inline");
    assert_eq!(chart["png"], true);
}

#[tokio::test]
async fn implicit_tls_and_plain_to_this_machine_deliver_and_refusals_are_permanent() {
    let dir = tempfile::tempdir().unwrap();
    let tls = sink(dir.path(), "tls");
    email(&tls, dir.path(), Security::Tls, "s3cret-pass")
        .send(&content())
        .await
        .unwrap();
    assert_eq!(messages(&tls)[0]["tls"], true);

    // A wrong password: 535, not worth retrying; the password is not in the message.
    let err = email(&tls, dir.path(), Security::Tls, "wrong-pass-123")
        .send(&content())
        .await
        .unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(!err.message.contains("wrong-pass-123"), "{}", err.message);

    // An unknown recipient: 550, permanent.
    let mut unknown = email(&tls, dir.path(), Security::Tls, "s3cret-pass");
    unknown.to = vec!["ghost@nowhere.invalid".into()];
    let err = unknown.send(&content()).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");

    // Plain SMTP to a relay on this machine (no credentials: the server only takes them
    // over TLS) works; to another host it is refused before connecting.
    let plain = sink(dir.path(), "plain");
    let mut relay = email(&plain, dir.path(), Security::None, "unused");
    relay.username = None;
    relay.password = None;
    relay.send(&content()).await.unwrap();
    assert_eq!(messages(&plain)[0]["tls"], false);
    let mut remote = relay.clone();
    remote.host = "mail.desk.example".into();
    let err = remote.send(&content()).await.unwrap_err();
    assert!(err.message.contains("not on this machine"), "{err:?}");

    // Nothing listening: a connection failure is worth retrying.
    let mut closed = relay.clone();
    closed.port = free_port();
    assert!(closed.send(&content()).await.unwrap_err().retryable);
}
