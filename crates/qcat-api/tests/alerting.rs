//! Alerting through the API as a desk runs it, against local stand-ins of the services
//! (`qcat-testkit/fixtures/robots.py`, which check signatures and shapes as the real
//! services document and enforce their rate limits):
//!
//! - a threshold rule on the simulated application's error ratio, routed by severity to a
//!   signed DingTalk robot: an error burst fires it, the robot accepts a correctly signed
//!   message, and the resolved message follows when the burst ends; the robot's URL and
//!   secret are in the keychain, not in the stored routing;
//! - alerts posted as Prometheus posts them: grouped, silenced, inhibited; a webhook down
//!   for a while is retried, its notifications go to the fallback receiver meanwhile and
//!   are delivered once it is back; a refusal becomes a dead letter that "retry now"
//!   delivers; over Slack's one-a-second budget the excess arrives as a digest.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qcat_api::access::{LoginInput, NewUserInput};
use qcat_api::alert::routing::{RoutingSaveInput, TestSendInput};
use qcat_api::alert::rules::{RuleSaveInput, RuleSpec};
use qcat_api::alert::silences::SilenceInput;
use qcat_api::alert::views::{DeliveriesInput, DeliveryKeyInput, HistoryInput};
use qcat_api::monitor::QuickStartInput;
use qcat_api::secrets::SecretText;
use qcat_api::{Api, ApiConfig, SessionSlot};
use qcat_core::config::{Config, ConfigSources};
use qcat_core::paths::DataDir;
use qcat_core::secret::Secret;
use qcat_secrets::keys::KeyOptions;
use qcat_testkit::{RobotCredentials, Robots};

const PASSWORD: &str = "alerting test password 1";
const DINGTALK_TOKEN: &str = "desk-robot-token";
const DINGTALK_SECRET: &str = "SECdesk0123456789";

fn robots() -> Robots {
    Robots::start(&RobotCredentials {
        dingtalk_token: DINGTALK_TOKEN,
        dingtalk_secret: DINGTALK_SECRET,
        feishu_secret: "f",
        aliyun_id: "i",
        aliyun_secret: "s",
    })
}

async fn open(database_url: &str, dir: &std::path::Path) -> Api {
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("master.key");
    if !key.exists() {
        qcat_secrets::keys::init_key_file(&key).unwrap();
    }
    let variables: Vec<(String, String)> = [
        ("QCAT_DATABASE__URL", database_url),
        ("QCAT_MONITORING__FLUSH_INTERVAL", "1s"),
        ("QCAT_MONITORING__PROMETHEUS_ENABLED", "false"),
        ("QCAT_ALERTING__EVALUATION_INTERVAL", "1s"),
        ("QCAT_ALERTING__RETRY_INTERVAL", "1s"),
        ("QCAT_ALERTING__RETRY_COUNT", "3"),
        ("QCAT_ALERTING__TIMEOUT", "3s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Api::open(ApiConfig {
        keys: KeyOptions {
            key_file: Some(key),
            ..KeyOptions::default()
        },
        data_dir: DataDir::at(dir),
        config: Config::load_from(&ConfigSources::environment_only(variables))
            .expect("valid test config"),
        mode: qcat_api::Mode::Console,
    })
    .await
    .unwrap()
}

async fn sign_in(api: &Api) -> SessionSlot {
    let slot = SessionSlot::new("test:desk");
    api.create_first_admin(
        &slot,
        NewUserInput {
            username: "root".into(),
            display_name: String::new(),
            password: SecretText(Secret::new(PASSWORD.into())),
            roles: vec![],
        },
    )
    .await
    .unwrap();
    api.login(
        &slot,
        LoginInput {
            username: "root".into(),
            password: SecretText(Secret::new(PASSWORD.into())),
        },
    )
    .await
    .ok();
    slot
}

async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(started.elapsed() < within, "{what} not within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn backends() -> [String; 2] {
    [String::new(), qcat_testkit::test_database_url()]
}

fn rule(json: serde_json::Value) -> RuleSpec {
    serde_json::from_value(json).expect("a rule")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_burst_fires_a_rule_to_a_signed_dingtalk_robot_and_it_resolves() {
    for url in backends() {
        error_burst_reaches_dingtalk(&url).await;
    }
}

async fn error_burst_reaches_dingtalk(database_url: &str) {
    let robots = robots();
    let dir = tempfile::tempdir().unwrap();
    let api = open(database_url, dir.path()).await;
    let slot = sign_in(&api).await;
    let demo = api
        .monitor_quick_start(
            &slot,
            QuickStartInput {
                what: "demo".into(),
            },
        )
        .await
        .unwrap();

    // CRITICAL goes to the desk's DingTalk robot, the rest nowhere. The robot's URL (with
    // its token) and signing secret are given in the file as they are…
    let yaml = format!(
        "route:\n  receiver: quiet\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\n  routes:\n    - receiver: desk\n      matchers: ['severity=\"critical\"']\nreceivers:\n  - name: quiet\n  - name: desk\n    dingtalk_configs:\n      - webhook_url: {}/dingtalk/robot/send?access_token={DINGTALK_TOKEN}\n        secret: {DINGTALK_SECRET}\n        at_mobiles: ['13800000000']\n",
        robots.base()
    );
    let saved = api
        .alert_routing_save(
            &slot,
            RoutingSaveInput {
                yaml,
                seen_version: 0,
            },
        )
        .await
        .unwrap();
    // …and kept in the keychain: the stored routing names them, never holds them.
    assert!(
        !saved.yaml.contains(DINGTALK_TOKEN) && !saved.yaml.contains(DINGTALK_SECRET),
        "{}",
        saved.yaml
    );
    assert!(
        saved
            .yaml
            .contains("secret:alert.desk.dingtalk.0.webhook_url")
    );
    assert!(saved.problems.is_empty(), "{:?}", saved.problems);

    let series = format!("app_error_ratio{{target=\"{}\"}}", demo.name);
    api.alert_rule_save(
        &slot,
        RuleSaveInput {
            rule: rule(serde_json::json!({
                "name": "HighErrorRate",
                "kind": "threshold",
                "series": series,
                "op": ">",
                "value": 0.05,
                "for": "2s",
                "severity": "critical",
                "annotations": {"summary": "error ratio {{ value | round(2) }} on {{ labels.target }}"},
                "runbookUrl": "https://runbooks.example/high-error-rate"
            })),
            seen_version: Some(0),
        },
    )
    .await
    .unwrap();

    // The calm demo fires nothing; then an error burst.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(api.alert_firing(&slot).await.unwrap().is_empty());
    let simulator = demo.url.trim_end_matches("/metrics").to_owned();
    qcat_api::simulate::start_incident(&simulator, "errors", "20s")
        .await
        .unwrap();
    let firing = wait_for(Duration::from_secs(60), "the alert to fire", || async {
        api.alert_firing(&slot)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.alertname == "HighErrorRate")
    })
    .await;
    assert_eq!(firing.severity, "critical");
    assert_eq!(firing.source, "rule:HighErrorRate");
    assert!(
        firing.annotations["summary"].starts_with("error ratio 0.")
            && firing.annotations["summary"].ends_with(&demo.name),
        "the annotation is filled in: {:?}",
        firing.annotations
    );
    // The robot accepted it, so the signature and timestamp were right.
    let message = wait_for(Duration::from_secs(30), "the DingTalk message", || async {
        robots.received("dingtalk").into_iter().next()
    })
    .await;
    let text = message["markdown"]["text"].as_str().unwrap();
    assert!(
        message["markdown"]["title"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING:1] HighErrorRate"),
        "{message}"
    );
    assert!(text.contains("**CRITICAL** error ratio"), "{text}");
    assert!(
        text.contains("@13800000000"),
        "the @-ed phone is in the text: {text}"
    );
    assert_eq!(message["at"]["atMobiles"][0], "13800000000");

    // The burst ends; the error ratio falls back and the robot is told.
    let resolved = wait_for(Duration::from_secs(120), "the resolved message", || async {
        robots.received("dingtalk").into_iter().find(|m| {
            m["markdown"]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("[RESOLVED]"))
        })
    })
    .await;
    assert!(resolved["markdown"]["text"].as_str().unwrap().contains("→"));
    assert!(api.alert_firing(&slot).await.unwrap().is_empty());
    // A quiet hour of the simulated day has few requests a reading, so the ratio can dip
    // under the threshold mid-burst: the alert may resolve and fire again. Whatever the
    // number, every firing is a resolved episode now and each message was delivered once.
    let history = api
        .alert_history(&slot, HistoryInput::default())
        .await
        .unwrap();
    assert!(!history.is_empty());
    assert!(
        history
            .iter()
            .all(|a| a.alertname == "HighErrorRate" && a.state == "resolved"),
        "{history:?}"
    );
    let messages = robots.received("dingtalk").len() as u64;
    assert!(messages >= 2, "a firing and a resolved message");
    let log = api
        .alert_deliveries(&slot, DeliveriesInput::default())
        .await
        .unwrap();
    let channel = &log.channels[0];
    assert_eq!(
        (
            channel.receiver.as_str(),
            channel.integration.as_str(),
            channel.sent,
            channel.dead
        ),
        ("desk", "dingtalk_configs[0]", messages, 0),
        "every notification sent once, none dead: {log:?}"
    );
    // The delivery counters are on /metrics.
    let metrics = api.metrics_text();
    assert!(
        metrics.contains(&format!(
            "qcat_alert_notifications_sent_total{{receiver=\"desk\",channel=\"dingtalk\"}} {messages}"
        )),
        "{metrics}"
    );
    api.close().await;
    // No file the console wrote — the store and its WAL, the metric store, the keychain's
    // file, the audit spool — holds the robot's token or secret in plain text.
    let mut files = vec![dir.path().to_path_buf()];
    let mut checked = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        for plaintext in [DINGTALK_TOKEN, DINGTALK_SECRET] {
            assert!(
                !bytes
                    .windows(plaintext.len())
                    .any(|w| w == plaintext.as_bytes()),
                "{plaintext} in {}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 3, "the store, its key and more were read");
}

/// Alerts as Prometheus posts them to `/api/v2/alerts`.
fn posted(alerts: &[(&str, &[(&str, &str)])]) -> Vec<u8> {
    let list: Vec<serde_json::Value> = alerts
        .iter()
        .map(|(name, labels)| {
            let mut all = serde_json::Map::new();
            all.insert("alertname".into(), (*name).into());
            for (k, v) in *labels {
                all.insert((*k).into(), (*v).into());
            }
            let ends = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(300);
            serde_json::json!({
                "labels": all,
                "annotations": {"summary": format!("{name} posted")},
                "startsAt": jiff::Timestamp::now().to_string(),
                "endsAt": ends.to_string(),
                "generatorURL": "http://prometheus.example/graph"
            })
        })
        .collect();
    serde_json::to_vec(&list).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_alerts_are_grouped_muted_retried_handed_to_the_fallback_and_never_lost() {
    for url in backends() {
        posted_alerts_flow(&url).await;
    }
}

async fn posted_alerts_flow(database_url: &str) {
    let robots = robots();
    let dir = tempfile::tempdir().unwrap();
    let api = open(database_url, dir.path()).await;
    let slot = sign_in(&api).await;
    let base = &robots.base();
    let yaml = format!(
        "route:\n  receiver: ops\n  group_by: [alertname]\n  group_wait: 500ms\n  group_interval: 1s\n  repeat_interval: 1h\n  routes:\n    - receiver: chat\n      matchers: ['team=\"chat\"']\n    - receiver: refused\n      matchers: ['team=\"refused\"']\n    - receiver: ops\n      matchers: ['team=\"night\"']\n      mute_time_intervals: [always]\ntime_intervals:\n  - name: always\n    time_intervals:\n      - weekdays: ['monday:sunday']\nreceivers:\n  - name: ops\n    fallback: pager\n    webhook_configs:\n      - url: {base}/webhook\n  - name: pager\n    wecom_configs:\n      - webhook_url: {base}/wecom/cgi-bin/webhook/send?key=k\n  - name: chat\n    slack_configs:\n      - api_url: {base}/slack/services/T0/B0/x\n  - name: refused\n    dingtalk_configs:\n      - webhook_url: {base}/dingtalk/robot/send?access_token=wrong\ninhibit_rules:\n  - source_matchers: ['severity=\"critical\"']\n    target_matchers: ['severity=\"warning\"']\n    equal: [cluster]\n"
    );
    api.alert_routing_save(
        &slot,
        RoutingSaveInput {
            yaml,
            seen_version: 0,
        },
    )
    .await
    .unwrap();

    // Grouped by alertname: two instances of one alert are one notification. A warning
    // in a cluster with a critical one is inhibited; a silenced alert is left out.
    api.alert_silence_add(
        &slot,
        SilenceInput {
            matchers: "alertname=\"Maintenance\"".into(),
            starts_ms: None,
            ends_ms: qcat_core::time::now_ms() + 3_600_000,
            comment: "planned work, ticket 42".into(),
        },
    )
    .await
    .unwrap();
    api.ingest_alerts(&posted(&[
        (
            "DiskFull",
            &[
                ("instance", "db1"),
                ("severity", "critical"),
                ("cluster", "a"),
            ],
        ),
        (
            "DiskFull",
            &[
                ("instance", "db2"),
                ("severity", "critical"),
                ("cluster", "a"),
            ],
        ),
        (
            "SlowDisk",
            &[
                ("instance", "db1"),
                ("severity", "warning"),
                ("cluster", "a"),
            ],
        ),
        ("Maintenance", &[("instance", "db3")]),
    ]))
    .await
    .unwrap();
    wait_for(
        Duration::from_secs(20),
        "the webhook notification",
        || async {
            let got = robots.received("webhook");
            (!got.is_empty()).then_some(got)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bodies: Vec<serde_json::Value> = robots
        .received("webhook")
        .into_iter()
        .map(|m| m["body"].clone())
        .collect();
    assert!(!bodies.is_empty());
    let names: Vec<&str> = bodies
        .iter()
        .map(|b| b["groupLabels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["DiskFull"],
        "SlowDisk is inhibited and Maintenance silenced: {bodies:?}"
    );
    assert_eq!(bodies[0]["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(
        bodies[0]["alerts"][0]["generatorURL"],
        "http://prometheus.example/graph"
    );
    let firing = api.alert_firing(&slot).await.unwrap();
    assert_eq!(firing.len(), 4, "all four fire, muted or not");
    // An alert that fires and resolves within group_wait is news to no one: not told
    // firing, so not told resolved either (as Alertmanager).
    let blip_ends = (jiff::Timestamp::now() + jiff::SignedDuration::from_millis(200)).to_string();
    api.ingest_alerts(
        serde_json::json!([{"labels": {"alertname": "Blip"}, "endsAt": blip_ends}])
            .to_string()
            .as_bytes(),
    )
    .await
    .unwrap();
    // A route inside its mute time tells no one; its alert still fires and is listed.
    api.ingest_alerts(&posted(&[("NightBatch", &[("team", "night")])]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !serde_json::to_string(&robots.received("webhook"))
            .unwrap()
            .contains("NightBatch"),
        "muted by its route's time interval"
    );
    assert!(
        !serde_json::to_string(&robots.received("webhook"))
            .unwrap()
            .contains("Blip"),
        "resolved before anyone was told it fired"
    );
    assert!(
        api.alert_firing(&slot)
            .await
            .unwrap()
            .iter()
            .any(|a| a.alertname == "NightBatch")
    );
    let slow = firing.iter().find(|a| a.alertname == "SlowDisk").unwrap();
    assert!(slow.inhibited);
    let maintenance = firing
        .iter()
        .find(|a| a.alertname == "Maintenance")
        .unwrap();
    assert_eq!(maintenance.silenced_by.len(), 1);

    // The webhook goes down: the notification is retried, the fallback (WeCom) gets it
    // meanwhile, and once the webhook is back the original arrives too — nothing lost.
    robots.control("down", "webhook", 4.0);
    api.ingest_alerts(&posted(&[("Latency", &[("instance", "api1")])]))
        .await
        .unwrap();
    let handed = wait_for(
        Duration::from_secs(20),
        "the fallback's message",
        || async { robots.received("wecom").into_iter().next() },
    )
    .await;
    assert!(
        handed.to_string().contains("Latency"),
        "the fallback carries the alert: {handed}"
    );
    wait_for(
        Duration::from_secs(30),
        "the webhook after its outage",
        || async {
            robots
                .received("webhook")
                .into_iter()
                .find(|m| m["body"]["groupLabels"]["alertname"] == "Latency")
        },
    )
    .await;
    // The robot records the message before it answers; the sender settles on the answer.
    let log = wait_for(Duration::from_secs(20), "the send settled", || async {
        let log = api
            .alert_deliveries(&slot, DeliveriesInput::default())
            .await
            .unwrap();
        log.entries
            .iter()
            .any(|e| e.receiver == "ops" && e.alerts == ["Latency"] && e.state == "sent")
            .then_some(log)
    })
    .await;
    let latency = log
        .entries
        .iter()
        .find(|e| e.receiver == "ops" && e.alerts == ["Latency"])
        .unwrap();
    assert!(latency.attempts >= 2, "retried: {latency:?}");
    assert!(
        log.entries
            .iter()
            .any(|e| e.receiver == "pager" && e.fallback_of.as_deref() == Some(&latency.key)),
        "the fallback's copy names the original"
    );

    // A robot that refuses the token: a dead letter at once (retrying repeats the
    // refusal), listed with the service's answer; "retry now" queues it again.
    api.ingest_alerts(&posted(&[("Refused", &[("team", "refused")])]))
        .await
        .unwrap();
    let dead = wait_for(Duration::from_secs(20), "the dead letter", || async {
        api.alert_deliveries(&slot, DeliveriesInput::default())
            .await
            .unwrap()
            .entries
            .into_iter()
            .find(|e| e.receiver == "refused" && e.state == "dead")
    })
    .await;
    assert!(
        dead.last_error.as_deref().unwrap().contains("300001"),
        "the service's own answer: {dead:?}"
    );
    assert!(
        !dead.last_error.as_deref().unwrap().contains("wrong"),
        "the token is not in the error: {dead:?}"
    );
    api.alert_delivery_retry(
        &slot,
        DeliveryKeyInput {
            key: dead.key.clone(),
        },
    )
    .await
    .unwrap();
    wait_for(
        Duration::from_secs(20),
        "the retried letter to fail again",
        || async {
            api.alert_deliveries(&slot, DeliveriesInput::default())
                .await
                .unwrap()
                .entries
                .into_iter()
                .find(|e| e.key == dead.key && e.state == "dead" && e.attempts == 1)
        },
    )
    .await;

    // Slack takes one message a second: five groups at once go as they fit, and the
    // excess as a digest — every alert arrives, none is dropped.
    let chat: Vec<(String, [(&str, &str); 1])> = (0..5)
        .map(|i| (format!("Chat{i}"), [("team", "chat")]))
        .collect();
    let chat_refs: Vec<(&str, &[(&str, &str)])> = chat
        .iter()
        .map(|(name, labels)| (name.as_str(), &labels[..]))
        .collect();
    api.ingest_alerts(&posted(&chat_refs)).await.unwrap();
    let messages = wait_for(Duration::from_secs(30), "every chat alert", || async {
        let got = robots.received("slack");
        let text = serde_json::to_string(&got).unwrap();
        (0..5)
            .all(|i| text.contains(&format!("Chat{i}")))
            .then_some(got)
    })
    .await;
    assert!(
        messages.len() < 5,
        "the excess went as a digest: {} messages",
        messages.len()
    );
    assert!(
        serde_json::to_string(&messages)
            .unwrap()
            .contains("digest of")
    );

    // A test send from the simulator's screen reaches the receiver now.
    let results = api
        .alert_test_send(
            &slot,
            TestSendInput {
                receiver: "pager".into(),
                labels: Default::default(),
                annotations: Default::default(),
            },
        )
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.ok), "{results:?}");
    api.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_down_for_two_minutes_is_retried_covered_by_its_fallback_and_recovers() {
    let robots = robots();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path()).unwrap();
    // Retries 5 s apart, doubling: 5, 10, 20, 40, 80 s — the fifth retry lands after the
    // outage.
    let api = {
        let key = dir.path().join("master.key");
        qcat_secrets::keys::init_key_file(&key).unwrap();
        let variables: Vec<(String, String)> = [
            ("QCAT_MONITORING__PROMETHEUS_ENABLED", "false"),
            ("QCAT_ALERTING__EVALUATION_INTERVAL", "1s"),
            ("QCAT_ALERTING__RETRY_INTERVAL", "5s"),
            ("QCAT_ALERTING__RETRY_COUNT", "6"),
            ("QCAT_ALERTING__TIMEOUT", "3s"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Api::open(ApiConfig {
            keys: KeyOptions {
                key_file: Some(key),
                ..KeyOptions::default()
            },
            data_dir: DataDir::at(dir.path()),
            config: Config::load_from(&ConfigSources::environment_only(variables)).unwrap(),
            mode: qcat_api::Mode::Console,
        })
        .await
        .unwrap()
    };
    let slot = sign_in(&api).await;
    let base = &robots.base();
    let yaml = format!(
        "route:\n  receiver: ops\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n  routes:\n    - receiver: pager\n      matchers: ['alertname=\"NotificationsFailing\"']\nreceivers:\n  - name: ops\n    fallback: pager\n    webhook_configs:\n      - url: {base}/webhook\n  - name: pager\n    wecom_configs:\n      - webhook_url: {base}/wecom/cgi-bin/webhook/send?key=k\n"
    );
    api.alert_routing_save(
        &slot,
        RoutingSaveInput {
            yaml,
            seen_version: 0,
        },
    )
    .await
    .unwrap();
    // "Notifications failing" is itself an alert, routed to the pager.
    api.alert_rule_save(
        &slot,
        RuleSaveInput {
            rule: rule(serde_json::json!({
                "name": "NotificationsFailing",
                "kind": "event",
                "event": "notifications_failing",
                "severity": "error",
                "annotations": {"summary": "notifications to {{ labels.receiver }} are failing"}
            })),
            seen_version: Some(0),
        },
    )
    .await
    .unwrap();

    robots.control("down", "webhook", 120.0);
    let outage = Instant::now();
    api.ingest_alerts(&posted(&[("OrderGatewayDown", &[("venue", "SSE")])]))
        .await
        .unwrap();
    // The fallback has the alert within seconds, and the failing channel is an alert too.
    wait_for(Duration::from_secs(20), "the fallback's copy", || async {
        robots
            .received("wecom")
            .into_iter()
            .find(|m| m.to_string().contains("OrderGatewayDown"))
    })
    .await;
    wait_for(
        Duration::from_secs(20),
        "the failing-notifications alert",
        || async {
            robots
                .received("wecom")
                .into_iter()
                .find(|m| m.to_string().contains("notifications to ops are failing"))
        },
    )
    .await;
    // The outage lasts its two minutes; the notification is retried, not dropped.
    let recovered = wait_for(
        Duration::from_secs(240),
        "delivery after the outage",
        || async {
            robots
                .received("webhook")
                .into_iter()
                .find(|m| m["body"]["groupLabels"]["alertname"] == "OrderGatewayDown")
        },
    )
    .await;
    assert!(
        outage.elapsed() >= Duration::from_secs(120),
        "not before the outage ended"
    );
    assert_eq!(recovered["body"]["status"], "firing");
    // The robot records the message before it answers; the sender settles on the answer.
    let original = wait_for(Duration::from_secs(20), "the send settled", || async {
        api.alert_deliveries(&slot, DeliveriesInput::default())
            .await
            .unwrap()
            .entries
            .into_iter()
            .find(|e| e.receiver == "ops" && e.alerts == ["OrderGatewayDown"])
            .filter(|e| e.state == "sent")
    })
    .await;
    assert!(
        (5..=7).contains(&original.attempts),
        "retried through the outage: {original:?}"
    );
    assert_eq!(robots.received("webhook").len(), 1, "sent once it could be");
    api.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_forwarded_to_an_existing_alertmanager_which_lists_them() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A real Alertmanager (Debian's prometheus-alertmanager) that keeps its own routing.
    let dir = tempfile::tempdir().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (am_port, cluster_port) = (free(), free());
    std::fs::write(
        dir.path().join("am.yml"),
        "route:\n  receiver: keep\nreceivers:\n  - name: keep\n",
    )
    .unwrap();
    let mut alertmanager = Command::new("prometheus-alertmanager")
        .arg(format!(
            "--config.file={}",
            dir.path().join("am.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg(format!("--cluster.listen-address=127.0.0.1:{cluster_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager is installed (scripts/setup.sh installs it)");
    let am = format!("http://127.0.0.1:{am_port}");
    let client = reqwest::Client::new();
    let listed = |name: &'static str| {
        let (client, am) = (client.clone(), am.clone());
        async move {
            let alerts: Vec<serde_json::Value> = client
                .get(format!("{am}/api/v2/alerts"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            alerts
                .into_iter()
                .find(|a| a["labels"]["alertname"] == name)
        }
    };
    wait_for(Duration::from_secs(30), "Alertmanager to start", || async {
        client
            .get(format!("{am}/-/ready"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;

    let api = open("", &dir.path().join("console")).await;
    let slot = sign_in(&api).await;
    api.alert_routing_save(
        &slot,
        RoutingSaveInput {
            yaml: format!(
                "route:\n  receiver: team-am\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\nreceivers:\n  - name: team-am\n    alertmanager_configs:\n      - url: {am}\n"
            ),
            seen_version: 0,
        },
    )
    .await
    .unwrap();
    // Through the outbox: an alert Prometheus posted to the console reaches the team's
    // Alertmanager with its labels and annotations.
    api.ingest_alerts(&posted(&[("Forwarded", &[("venue", "SZSE")])]))
        .await
        .unwrap();
    let forwarded = wait_for(Duration::from_secs(30), "the forwarded alert", || {
        listed("Forwarded")
    })
    .await;
    assert_eq!(forwarded["labels"]["venue"], "SZSE");
    assert_eq!(forwarded["annotations"]["summary"], "Forwarded posted");
    assert_eq!(forwarded["status"]["state"], "active");
    // And the simulator's test send, at once.
    let results = api
        .alert_test_send(
            &slot,
            TestSendInput {
                receiver: "team-am".into(),
                labels: Default::default(),
                annotations: Default::default(),
            },
        )
        .await
        .unwrap();
    assert!(
        results[0].ok && results[0].kind == "alertmanager",
        "{results:?}"
    );
    wait_for(Duration::from_secs(10), "the test alert", || {
        listed("QcatTestAlert")
    })
    .await;
    api.close().await;
    let _ = alertmanager.kill();
    let _ = alertmanager.wait();
}
