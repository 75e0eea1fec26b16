//! Alerting with the agent as a real process:
//!
//! - a real Prometheus (Debian's `prometheus`) evaluates an error-ratio rule on the
//!   simulator and sends its alerts to the agent's `/api/v2/alerts` (bearer token); the
//!   alert reaches the local DingTalk robot, signed;
//! - kill -9 the agent while it delivers thirty notifications to a slow webhook, start it
//!   again: every notification arrives, and only the sends whose answers the kill cut off
//!   (at most the eight in flight) can arrive twice — at least once: the outbox cannot know
//!   a request it never saw answered —, each with its first `Idempotency-Key`, so a
//!   receiver that keeps keys sees every notification once;
//! - the CLI: rules saved, listed, previewed and removed; silences; the routing imported
//!   with its credentials moved to the keychain; a test send; the delivery log.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{as_root, data_dir_with_admin, succeeded};
use qcat_testkit::{RobotCredentials, Robots};

const TOKEN: &str = "prometheus-to-agent-token";
const DINGTALK_TOKEN: &str = "agent-robot-token";
const DINGTALK_SECRET: &str = "SECagent0123";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP/1.0 request to 127.0.0.1:`port`; the status and body, or None while nothing
/// answers.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl AsRef<[u8]>,
) -> Option<(u16, String)> {
    let body = body.as_ref();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nContent-Type: application/json\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn wait_for<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(started.elapsed() < within, "{what} not within {within:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn robots() -> Robots {
    Robots::start(&RobotCredentials {
        dingtalk_token: DINGTALK_TOKEN,
        dingtalk_secret: DINGTALK_SECRET,
        feishu_secret: "f",
        aliyun_id: "i",
        aliyun_secret: "s",
    })
}

/// The agent on `dir` with its metrics (and `/api/v2/alerts`) on `port`.
fn agent(dir: &Path, port: u16) -> Killed {
    let child = Command::new(env!("CARGO_BIN_EXE_qcatctl"))
        .arg("agent")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("QCAT_DATA_DIR", dir)
        .env("QCAT_MASTER_KEY_FILE", dir.join("master.key"))
        .env("QCAT_MONITORING__PROMETHEUS_PORT", port.to_string())
        .env("QCAT_ALERTING__API_TOKEN", TOKEN)
        .env("QCAT_ALERTING__TIMEOUT", "2s")
        .env("QCAT_ALERTING__RETRY_INTERVAL", "1s")
        .env("QCAT_ALERTING__EVALUATION_INTERVAL", "1s")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let agent = Killed(child);
    wait_for("the agent's endpoint", Duration::from_secs(30), || {
        http(port, "GET", "/metrics", &[], "").filter(|(status, _)| *status == 200)
    });
    agent
}

fn import_routing(dir: &Path, yaml: &str) {
    let file = dir.join("alertmanager.yml");
    std::fs::write(&file, yaml).unwrap();
    succeeded(&as_root(
        dir,
        &["alert", "routing", "import", file.to_str().unwrap()],
    ));
}

#[test]
fn a_real_prometheus_rule_reaches_dingtalk_through_the_agent() {
    let dir = data_dir_with_admin();
    let robots = robots();
    import_routing(
        dir.path(),
        &format!(
            "route:\n  receiver: desk\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: desk\n    dingtalk_configs:\n      - webhook_url: {}/dingtalk/robot/send?access_token={DINGTALK_TOKEN}\n        secret: {DINGTALK_SECRET}\n",
            robots.base()
        ),
    );
    let port = free_port();
    let _agent = agent(dir.path(), port);

    // Without the token, Alertmanager's API refuses.
    let (status, _) = http(port, "POST", "/api/v2/alerts", &[], "[]").unwrap();
    assert_eq!(status, 401, "no token, no alerts");
    let wrong = [("Authorization", "Bearer prometheus-to-agent-tokeN")];
    let (status, _) = http(port, "POST", "/api/v2/alerts", &wrong, "[]").unwrap();
    assert_eq!(status, 401, "a token that differs in one letter is refused");

    // A broken client's post is refused whole, with the reason, as Alertmanager answers
    // (400); nothing of it is kept.
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let not_utf8 = b"[{\"labels\":{\"alertname\":\"\xff\xfe\"}}]";
    let (status, body) = http(port, "POST", "/api/v2/alerts", &auth, not_utf8).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("not a list of alerts"),
        "says what the body should be: {body}"
    );
    let second_bad = r#"[{"labels":{"alertname":"Fine"}},{"labels":{"alert-name":"Bad"}}]"#;
    let (status, body) = http(port, "POST", "/api/v2/alerts", &auth, second_bad).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with("[1].labels"),
        "names the alert and the field: {body}"
    );
    let reversed = r#"[{"labels":{"alertname":"Late"},"startsAt":"2026-01-02T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}]"#;
    let (status, body) = http(port, "POST", "/api/v2/alerts", &auth, reversed).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("[0].endsAt"), "{body}");
    let firing = succeeded(&as_root(dir.path(), &["alert", "firing", "--json"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&firing).unwrap(),
        serde_json::json!([]),
        "a refused post keeps none of its alerts, not even the valid first one"
    );

    // The simulator, and a real Prometheus scraping it with an error-ratio rule that
    // sends to the agent as to an Alertmanager.
    let simulator_port = free_port();
    let _simulator = Killed(
        Command::new(env!("CARGO_BIN_EXE_qcatctl"))
            .args([
                "simulate",
                "--listen",
                &format!("127.0.0.1:{simulator_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the simulator", Duration::from_secs(20), || {
        http(simulator_port, "GET", "/metrics", &[], "").filter(|(s, _)| *s == 200)
    });
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: desk\n    interval: 1s\n    rules:\n      - alert: HighErrorRatio\n        expr: sum(rate(qcat_http_requests_total{code=~\"5..\"}[5s])) / sum(rate(qcat_http_requests_total[5s])) > 0.05\n        labels: {severity: critical}\n        annotations: {summary: 'error ratio {{ $value }}'}\n",
    )
    .unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n      authorization: {{credentials: {TOKEN}}}\nscrape_configs:\n  - job_name: simulator\n    static_configs: [{{targets: ['127.0.0.1:{simulator_port}']}}]\n",
            rules.display()
        ),
    )
    .unwrap();
    let prometheus_port = free_port();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (scripts/setup.sh installs the Debian package)"),
    );
    // Let Prometheus see a few calm seconds, then an error burst.
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        robots.received("dingtalk").is_empty(),
        "the calm simulator fires nothing"
    );
    let (status, _) = http(
        simulator_port,
        "POST",
        "/incident?kind=errors&for=60s",
        &[],
        "",
    )
    .unwrap();
    assert_eq!(status, 200);
    let message = wait_for("the DingTalk message", Duration::from_secs(90), || {
        robots.received("dingtalk").into_iter().next()
    });
    let title = message["markdown"]["title"].as_str().unwrap();
    assert!(title.starts_with("[FIRING:1] HighErrorRatio"), "{message}");
    assert!(
        message["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("error ratio 0."),
        "Prometheus' annotation, rendered there: {message}"
    );
    // The alert is listed as Prometheus' (source api), with its generator link.
    let firing = succeeded(&as_root(dir.path(), &["alert", "firing", "--json"]));
    let firing: serde_json::Value = serde_json::from_str(&firing).unwrap();
    assert_eq!(firing[0]["alertname"], "HighErrorRatio");
    assert_eq!(firing[0]["source"], "api");
}

#[test]
fn kill_9_during_delivery_loses_nothing_and_repeats_only_the_cut_off_sends_by_key() {
    let dir = data_dir_with_admin();
    let robots = robots();
    import_routing(
        dir.path(),
        &format!(
            "route:\n  receiver: ops\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: ops\n    webhook_configs:\n      - url: {}/webhook\n",
            robots.base()
        ),
    );
    // Each answer takes 300 ms: thirty notifications take ~1.2 s, eight at a time.
    robots.control("slow", "webhook", 0.3);
    let port = free_port();
    let agent_process = agent(dir.path(), port);
    let ends = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600)).to_string();
    let alerts: Vec<serde_json::Value> = (0..30)
        .map(|i| {
            serde_json::json!({
                "labels": {"alertname": format!("Alert{i:02}"), "severity": "warning"},
                "endsAt": ends,
            })
        })
        .collect();
    let (status, body) = http(
        port,
        "POST",
        "/api/v2/alerts",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        serde_json::to_string(&alerts).unwrap(),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    // Kill -9 a few sends in.
    wait_for("the first deliveries", Duration::from_secs(30), || {
        (robots.received("webhook").len() >= 5).then_some(())
    });
    let mut agent_process = agent_process;
    agent_process.0.kill().unwrap();
    agent_process.0.wait().unwrap();
    let before_restart = robots.received("webhook").len();
    assert!(
        before_restart < 30,
        "killed mid-delivery ({before_restart} of 30 sent)"
    );

    let _agent = agent(dir.path(), port);
    let delivered = wait_for("every notification", Duration::from_secs(90), || {
        let got = robots.received("webhook");
        let mut groups: Vec<String> = got
            .iter()
            .map(|m| {
                m["body"]["groupLabels"]["alertname"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        groups.sort();
        groups.dedup();
        (groups.len() == 30).then_some(got)
    });
    std::thread::sleep(Duration::from_secs(3));
    let all = robots.received("webhook");
    let received = all.len().max(delivered.len());
    let mut names: Vec<String> = all
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["body"]["groupLabels"]["alertname"], m["body"]["status"]
            )
        })
        .collect();
    names.sort();
    let twice: Vec<&String> = names
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| &w[0])
        .collect();
    let mut keys: Vec<&str> = all
        .iter()
        .map(|m| m["key"].as_str().unwrap_or(""))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    println!(
        "killed after {before_restart} of 30; {received} messages received in all; twice: {twice:?}; {} distinct keys",
        keys.len()
    );
    assert!(
        received <= 30 + 8,
        "at most the sends the kill cut off (eight in flight) are repeated: {received} messages for 30 notifications"
    );
    // A repeat carries the key of the first send (Idempotency-Key): a receiver that keeps
    // the keys it has seen gets each of the thirty exactly once.
    assert!(
        keys.len() == 30 && keys.iter().all(|k| !k.is_empty()),
        "one key per notification, repeats included: {keys:?}"
    );
}

#[test]
fn the_cli_keeps_rules_silences_and_routing_and_sends_a_test() {
    let dir = data_dir_with_admin();
    let robots = robots();
    let path = dir.path();
    import_routing(
        path,
        &format!(
            "route:\n  receiver: ops\nreceivers:\n  - name: ops\n    webhook_configs:\n      - url: {}/webhook\n        http_config:\n          authorization:\n            credentials: hook-bearer-secret\n",
            robots.base()
        ),
    );
    // The routing kept in the store names the credentials; the keychain holds them.
    let shown = succeeded(&as_root(path, &["alert", "routing"]));
    assert!(!shown.contains("hook-bearer-secret"), "{shown}");
    assert!(
        shown.contains("secret:alert.ops.webhook.0.credentials"),
        "{shown}"
    );

    // A test send reaches the webhook with the bearer token from the keychain.
    let sent = succeeded(&as_root(path, &["alert", "test-send", "ops", "team=desk"]));
    assert!(
        sent.contains("webhook_configs[0]") && sent.contains("delivered"),
        "{sent}"
    );
    let got = robots.received("webhook");
    assert_eq!(got[0]["authorization"], "Bearer hook-bearer-secret");
    assert_eq!(got[0]["body"]["alerts"][0]["labels"]["team"], "desk");

    // Rules: a bad one is refused with the field named; a good one saved, listed,
    // previewed and removed.
    let bad = path.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"name": "Bad", "kind": "threshold", "series": "app_error_ratio", "op": "=>", "value": 1, "severity": "critical"}"#,
    )
    .unwrap();
    let refused = as_root(path, &["alert", "rules", "save", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("op: \"=>\": use > or <"), "{stderr}");
    let good = path.join("rule.json");
    std::fs::write(
        &good,
        r#"{"name": "HighErrorRate", "kind": "threshold", "series": "app_error_ratio", "op": ">", "value": 0.05, "for": "2m", "severity": "critical", "runbookUrl": "https://runbooks.example/errors"}"#,
    )
    .unwrap();
    let saved = succeeded(&as_root(
        path,
        &["alert", "rules", "save", good.to_str().unwrap()],
    ));
    assert!(
        saved.contains("saved rule HighErrorRate (version 1)"),
        "{saved}"
    );
    let listed = succeeded(&as_root(path, &["alert", "rules"]));
    assert!(
        listed.contains("HighErrorRate") && listed.contains("app_error_ratio > 0.05 for 2m"),
        "{listed}"
    );
    let preview = succeeded(&as_root(
        path,
        &["alert", "rules", "preview", good.to_str().unwrap()],
    ));
    assert!(
        preview.contains("0 firings over 0 matched series"),
        "{preview}"
    );
    succeeded(&as_root(
        path,
        &["alert", "rules", "remove", "HighErrorRate"],
    ));
    assert!(succeeded(&as_root(path, &["alert", "rules"])).contains("no alert rules"));

    // Silences: added with matchers and a comment, listed, ended; one that would silence
    // everything is refused.
    let everything = as_root(
        path,
        &[
            "alert",
            "silence",
            "add",
            "team=~\".*\"",
            "--comment",
            "all",
        ],
    );
    assert!(!everything.status.success());
    let added = succeeded(&as_root(
        path,
        &[
            "alert",
            "silence",
            "add",
            "alertname=\"DiskFull\"",
            "instance=~\"db.*\"",
            "--for",
            "2h",
            "--comment",
            "disk swap, ticket 7",
        ],
    ));
    let id = added.split_whitespace().nth(1).unwrap().to_owned();
    let listed = succeeded(&as_root(path, &["alert", "silence"]));
    assert!(
        listed.contains(&id) && listed.contains("active") && listed.contains("ticket 7"),
        "{listed}"
    );
    succeeded(&as_root(path, &["alert", "silence", "expire", &id]));
    assert!(succeeded(&as_root(path, &["alert", "silence"])).contains("expired"));

    // The audit trail has each change.
    let trail = succeeded(&as_root(
        path,
        &["audit", "query", "--action", "alert.", "--json"],
    ));
    for action in [
        "alert.routing.save",
        "alert.test_send",
        "alert.rule.save",
        "alert.rule.remove",
        "alert.silence.add",
        "alert.silence.expire",
    ] {
        assert!(trail.contains(action), "{action} audited: {trail}");
    }
    assert!(succeeded(&as_root(path, &["alert", "firing"])).contains("no alerts firing"));
}
