//! Alerting side by side with Prometheus + Alertmanager, in one run on this machine:
//!
//! 1. Breach → notification received. One simulator; the console and Prometheus both read
//!    it every second; the same error-ratio condition (> 5 %, no `for`), `group_wait` 0,
//!    both sending to one local webhook. An error burst starts at a known instant; each
//!    side's first firing notification is timed from it. Twenty bursts.
//! 2. Alerts ingested per second through a 50-route tree: batches of 100 alerts posted to
//!    the agent's and to Alertmanager's `POST /api/v2/alerts` by four clients for ten
//!    seconds each.
//! 3. 10 000 alerts in 10 000 groups, `group_wait` 0: the time until the webhook has all
//!    10 000 notifications (for the console, each through the durable outbox).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qcat_api::{Api, ApiConfig, Mode, SessionSlot};
use qcat_core::config::{Config, ConfigSources};
use qcat_core::paths::DataDir;

/// What the webhook received: per path, (arrival, body).
type Inbox = Arc<Mutex<BTreeMap<String, Vec<(Instant, serde_json::Value)>>>>;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn webhook() -> (u16, Inbox) {
    let inbox: Inbox = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shared = inbox.clone();
    let app = axum::Router::new().route(
        "/{side}",
        axum::routing::post(
            move |axum::extract::Path(side): axum::extract::Path<String>,
                  body: axum::body::Bytes| {
                let inbox = shared.clone();
                async move {
                    let value: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    inbox
                        .lock()
                        .unwrap()
                        .entry(side)
                        .or_default()
                        .push((Instant::now(), value));
                    ""
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, inbox)
}

fn received(inbox: &Inbox, side: &str) -> Vec<(Instant, serde_json::Value)> {
    inbox.lock().unwrap().get(side).cloned().unwrap_or_default()
}

async fn open_console(
    dir: &std::path::Path,
    metrics_port: u16,
    extra: &[(&str, &str)],
) -> (Api, SessionSlot) {
    let key = dir.join("master.key");
    qcat_secrets::keys::init_key_file(&key).unwrap();
    let mut variables: Vec<(String, String)> = vec![
        ("QCAT_MONITORING__FLUSH_INTERVAL".into(), "1s".into()),
        (
            "QCAT_MONITORING__PROMETHEUS_PORT".into(),
            metrics_port.to_string(),
        ),
        ("QCAT_ALERTING__EVALUATION_INTERVAL".into(), "1s".into()),
        ("QCAT_ALERTING__API_TOKEN".into(), "bench-token".into()),
        ("QCAT_ALERTING__RATE_LIMIT".into(), "1000000".into()),
        ("QCAT_LOGGING__LEVEL".into(), "warn".into()),
        ("QCAT_LOGGING__OUTPUT".into(), "console".into()),
    ];
    variables.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let config = ApiConfig {
        keys: qcat_secrets::keys::KeyOptions {
            key_file: Some(key),
            ..Default::default()
        },
        data_dir: DataDir::at(dir),
        config: Config::load_from(&ConfigSources::environment_only(variables)).unwrap(),
        mode: Mode::Agent,
    };
    // Warnings (a failing round, a lost lease) go to stderr: a number is only as good as
    // the run behind it.
    static LOGGING: std::sync::Once = std::sync::Once::new();
    LOGGING.call_once(|| {
        std::mem::forget(qcat_api::logs::init_logging(&config).unwrap());
    });
    let api = Api::open(config).await.unwrap();
    let slot = SessionSlot::new("bench");
    api.create_first_admin(
        &slot,
        qcat_api::access::NewUserInput {
            username: "bench".into(),
            display_name: String::new(),
            password: qcat_api::secrets::SecretText(qcat_core::secret::Secret::new(
                "bench password 1".into(),
            )),
            roles: vec![],
        },
    )
    .await
    .unwrap();
    (api, slot)
}

fn alertmanager(dir: &std::path::Path, config: &str) -> (Killed, u16) {
    let file = dir.join("alertmanager.yml");
    std::fs::write(&file, config).unwrap();
    let port = free_port();
    let cluster = free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", file.display()))
        .arg(format!("--storage.path={}", dir.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--cluster.listen-address=127.0.0.1:{cluster}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager is installed (scripts/setup.sh installs it)");
    (Killed(child), port)
}

async fn wait_http(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered");
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn summary(label: &str, mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let (p50, p99) = (quantile(&values, 0.5), quantile(&values, 0.99));
    println!(
        "  {label:<44} p50 {p50:>7.0} ms   p99 {p99:>7.0} ms   (n = {})",
        values.len()
    );
    (p50, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    println!("bench-alert: the console's alerting beside Prometheus + Alertmanager\n");
    // BENCH_ONLY=1,3 runs some parts.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only.split(',').any(|p| p == part);
    if run("1") {
        breach_to_notification().await;
    }
    if run("2") {
        ingest().await;
    }
    if run("3") {
        ten_thousand_groups().await;
    }
}

async fn breach_to_notification() {
    let dir = tempfile::tempdir().unwrap();
    let (hook_port, inbox) = webhook().await;
    // The simulator both sides read.
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(qcat_api::simulate::run_simulator(
        qcat_api::simulate::SimulatorOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            seed: 7,
            time_scale: 1.0,
            peak_rate: 400.0,
            latency_factor: 1.0,
        },
        bound_tx,
        std::future::pending(),
    ));
    let simulator = bound_rx.await.unwrap();
    let simulator_url = format!("http://{simulator}");

    // The console: a target read every second, the rule, the routing.
    let (api, slot) = open_console(dir.path(), free_port(), &[]).await;
    api.monitor_target_save(
        &slot,
        serde_json::from_value(serde_json::json!({
            "name": "sim", "kind": "prometheus", "url": format!("{simulator_url}/metrics"),
            "intervalMs": 1000, "timeoutMs": 900
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    api.alert_routing_save(
        &slot,
        qcat_api::alert::routing::RoutingSaveInput {
            yaml: format!(
                "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{hook_port}/console\n"
            ),
            seen_version: 0,
        },
    )
    .await
    .unwrap();
    api.alert_rule_save(
        &slot,
        serde_json::from_value(serde_json::json!({
            "rule": {"name": "HighErrorRatio", "kind": "threshold",
                     "series": "app_error_ratio{target=\"sim\"}", "op": ">", "value": 0.05,
                     "for": "0s", "severity": "critical"},
            "seenVersion": 0
        }))
        .unwrap(),
    )
    .await
    .unwrap();

    // Prometheus + Alertmanager on the same simulator and webhook.
    let (_am, am_port) = alertmanager(
        dir.path(),
        &format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{hook_port}/alertmanager\n"
        ),
    );
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: bench\n    interval: 1s\n    rules:\n      - alert: HighErrorRatio\n        expr: sum(irate(qcat_http_requests_total{code=~\"5..\"}[3s])) / sum(irate(qcat_http_requests_total[3s])) > 0.05\n        labels: {severity: critical}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\nscrape_configs:\n  - job_name: sim\n    static_configs: [{{targets: ['{simulator}']}}]\n",
            dir.path().join("rules.yml").display()
        ),
    )
    .unwrap();
    let prometheus_port = free_port();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed"),
    );
    wait_http(&format!("http://127.0.0.1:{am_port}/-/ready")).await;
    wait_http(&format!("http://127.0.0.1:{prometheus_port}/-/ready")).await;
    tokio::time::sleep(Duration::from_secs(8)).await;

    let client = reqwest::Client::new();
    let firing_after = |side: &str, since: Instant| {
        received(&inbox, side)
            .into_iter()
            .find(|(at, body)| *at >= since && body["status"] == "firing")
    };
    let resolved_after = |side: &str, since: Instant| {
        received(&inbox, side)
            .into_iter()
            .any(|(at, body)| at >= since && body["status"] == "resolved")
    };
    let (mut console, mut theirs, mut inside) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..20 {
        // A burst at a random phase of the scrape second.
        let jitter = qcat_core::random::bytes::<1>()[0] as u64 * 4;
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        let started = Instant::now();
        let started_ms = qcat_core::time::now_ms();
        client
            .post(format!("{simulator_url}/incident?kind=errors&for=4s"))
            .send()
            .await
            .unwrap();
        let deadline = started + Duration::from_secs(20);
        let (mut ours, mut am) = (None, None);
        while (ours.is_none() || am.is_none()) && Instant::now() < deadline {
            ours = ours.or_else(|| firing_after("console", started).map(|(at, _)| at));
            am = am.or_else(|| firing_after("alertmanager", started).map(|(at, _)| at));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if let Some(at) = ours {
            console.push((at - started).as_secs_f64() * 1000.0);
            // From the evaluation that saw the breach to the webhook having the message.
            let history = api
                .alert_history(
                    &slot,
                    qcat_api::alert::views::HistoryInput {
                        from_ms: Some(started_ms - 1000),
                        to_ms: None,
                        limit: Some(5),
                    },
                )
                .await
                .unwrap();
            if let Some(episode) = history.first() {
                let evaluated_after = (episode.starts_ms - started_ms) as f64;
                inside.push((at - started).as_secs_f64() * 1000.0 - evaluated_after);
            }
        }
        if let Some(at) = am {
            theirs.push((at - started).as_secs_f64() * 1000.0);
        }
        // Both resolved before the next burst.
        let calm = Instant::now();
        let deadline = calm + Duration::from_secs(30);
        while !(resolved_after("console", calm) && resolved_after("alertmanager", calm))
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "1. error burst on the simulator → firing notification at the webhook (both read every 1 s)"
    );
    let (ours50, ours99) = summary("console (rule → outbox → webhook)", console);
    let (am50, am99) = summary("Prometheus (eval 1 s) + Alertmanager", theirs);
    summary("console, from the evaluation that saw it", inside);
    println!(
        "  ratio console / Prometheus+Alertmanager: p50 {:.2}x, p99 {:.2}x\n",
        ours50 / am50,
        ours99 / am99
    );
    api.close().await;
}

/// A 50-route tree: one route per team, each with its own grouping; the rest default.
fn fifty_routes(receiver_url: &str) -> String {
    let mut yaml = String::from(
        "route:\n  receiver: default\n  group_by: [alertname]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\n  routes:\n",
    );
    for team in 0..50 {
        yaml.push_str(&format!(
            "    - receiver: team{team}\n      matchers: ['team=\"team{team}\"']\n      group_by: [alertname, instance]\n"
        ));
    }
    yaml.push_str(&format!(
        "receivers:\n  - name: default\n    webhook_configs: [{{url: '{receiver_url}'}}]\n"
    ));
    for team in 0..50 {
        yaml.push_str(&format!(
            "  - name: team{team}\n    webhook_configs: [{{url: '{receiver_url}'}}]\n"
        ));
    }
    yaml
}

/// Batches of 100 alerts (10 000 distinct, posted round and round) for `seconds` from
/// four clients; alerts accepted per second.
async fn post_for(url: &str, token: Option<&str>, seconds: u64) -> f64 {
    let ends = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600)).to_string();
    let batches: Vec<String> = (0..100)
        .map(|batch| {
            let alerts: Vec<serde_json::Value> = (0..100)
                .map(|i| {
                    let n = batch * 100 + i;
                    serde_json::json!({
                        "labels": {"alertname": format!("Bench{}", n % 500), "team": format!("team{}", n % 60),
                                   "instance": format!("host{n}")},
                        "annotations": {"summary": "benchmark"},
                        "endsAt": ends,
                    })
                })
                .collect();
            serde_json::to_string(&alerts).unwrap()
        })
        .collect();
    let batches = Arc::new(batches);
    let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut clients = Vec::new();
    for client_index in 0..4 {
        let (batches, accepted, url) = (batches.clone(), accepted.clone(), url.to_owned());
        let token = token.map(str::to_owned);
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut next = client_index * 25;
            while Instant::now() < deadline {
                let mut request = client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .body(batches[next % batches.len()].clone());
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.unwrap();
                assert!(
                    response.status().is_success(),
                    "{}",
                    response.text().await.unwrap_or_default()
                );
                accepted.fetch_add(100, std::sync::atomic::Ordering::Relaxed);
                next += 1;
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    accepted.load(std::sync::atomic::Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn ingest() {
    let dir = tempfile::tempdir().unwrap();
    let (hook_port, _inbox) = webhook().await;
    let sink = format!("http://127.0.0.1:{hook_port}/sink");
    let metrics_port = free_port();
    let (api, slot) = open_console(dir.path(), metrics_port, &[]).await;
    api.alert_routing_save(
        &slot,
        qcat_api::alert::routing::RoutingSaveInput {
            yaml: fifty_routes(&sink),
            seen_version: 0,
        },
    )
    .await
    .unwrap();
    api.serve_metrics().await.unwrap();
    let ours = post_for(
        &format!("http://127.0.0.1:{metrics_port}/api/v2/alerts"),
        Some("bench-token"),
        10,
    )
    .await;
    let (_am, am_port) = alertmanager(dir.path(), &fifty_routes(&sink));
    wait_http(&format!("http://127.0.0.1:{am_port}/-/ready")).await;
    let theirs = post_for(
        &format!("http://127.0.0.1:{am_port}/api/v2/alerts"),
        None,
        10,
    )
    .await;
    println!("2. POST /api/v2/alerts, batches of 100, a 50-route tree, 4 clients, 10 s each");
    println!("  console agent (durable: each batch one store transaction)  {ours:>9.0} alerts/s");
    println!("  Alertmanager (in memory)                                   {theirs:>9.0} alerts/s");
    println!("  ratio console / Alertmanager: {:.2}x\n", ours / theirs);
    api.close().await;
}

async fn ten_thousand_groups() {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let (hook_port, inbox) = webhook().await;
    let metrics_port = free_port();
    let (api, slot) = open_console(dir.path(), metrics_port, &[]).await;
    let routing = |side: &str| {
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1m\n  repeat_interval: 4h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{hook_port}/{side}\n"
        )
    };
    api.alert_routing_save(
        &slot,
        qcat_api::alert::routing::RoutingSaveInput {
            yaml: routing("console"),
            seen_version: 0,
        },
    )
    .await
    .unwrap();
    api.serve_metrics().await.unwrap();
    let (_am, am_port) = alertmanager(dir.path(), &routing("alertmanager"));
    wait_http(&format!("http://127.0.0.1:{am_port}/-/ready")).await;
    let ends = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600)).to_string();
    let alerts: Vec<serde_json::Value> = (0..N)
        .map(|n| serde_json::json!({"labels": {"alertname": format!("Group{n:05}")}, "endsAt": ends}))
        .collect();
    let client = reqwest::Client::new();
    let mut results = Vec::new();
    for (side, url, token) in [
        (
            "console",
            format!("http://127.0.0.1:{metrics_port}/api/v2/alerts"),
            Some("bench-token"),
        ),
        (
            "alertmanager",
            format!("http://127.0.0.1:{am_port}/api/v2/alerts"),
            None,
        ),
    ] {
        let started = Instant::now();
        for chunk in alerts.chunks(1000) {
            let mut request = client.post(&url).json(&chunk);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            assert!(request.send().await.unwrap().status().is_success());
        }
        let deadline = started + Duration::from_secs(600);
        loop {
            let count = received(&inbox, side).len();
            if count >= N || Instant::now() > deadline {
                let last = received(&inbox, side)
                    .last()
                    .map(|(at, _)| *at)
                    .unwrap_or(started);
                results.push((side, count, (last - started).as_secs_f64()));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!("3. {N} alerts in {N} groups (group_wait 0) → {N} webhook notifications");
    for (side, count, seconds) in &results {
        println!(
            "  {side:<13} {count:>6} delivered in {seconds:>6.2} s  ({:>6.0} notifications/s)",
            *count as f64 / seconds
        );
    }
    let log = api
        .alert_deliveries(
            &slot,
            qcat_api::alert::views::DeliveriesInput {
                since_ms: None,
                limit: Some(10_000),
            },
        )
        .await
        .unwrap();
    let sent: u64 = log.channels.iter().map(|c| c.sent).sum();
    println!(
        "  console outbox: {sent} rows sent, {} dead; ratio console / Alertmanager time: {:.2}x",
        log.channels.iter().map(|c| c.dead).sum::<u64>(),
        results[0].2 / results[1].2
    );
    api.close().await;
}
