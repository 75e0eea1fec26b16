//! Monitoring end to end through the API, beside a real Prometheus (Debian's `prometheus`)
//! scraping the same simulator: the console's request rate and P99 agree with Prometheus'
//! `rate()` and `histogram_quantile()` over the same window, and the Prometheus-server
//! collector reads Prometheus' answers back exactly. Also: a failing target never delays
//! another, and target changes are audited without their password.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qcat_api::access::{LoginInput, NewUserInput};
use qcat_api::audit::{AuditFilterInput, AuditQuery};
use qcat_api::monitor::{QueryInput, SeriesView, TargetInput};
use qcat_api::secrets::SecretText;
use qcat_api::{Api, ApiConfig, SessionSlot};
use qcat_core::config::{Config, ConfigSources};
use qcat_core::paths::DataDir;
use qcat_core::secret::Secret;
use qcat_secrets::keys::KeyOptions;

const PASSWORD: &str = "monitor test password 1";

struct Process(Child);

impl Drop for Process {
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

/// An agent-mode API (it leads the collection duty) on a fresh SQLite data dir.
async fn open_agent(dir: &std::path::Path) -> Api {
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("master.key");
    qcat_secrets::keys::init_key_file(&key).unwrap();
    let sources = ConfigSources::environment_only(vec![
        (
            "QCAT_MONITORING__FLUSH_INTERVAL".to_owned(),
            "1s".to_owned(),
        ),
        ("QCAT_RUNTIME__FAILOVER".to_owned(), "3s".to_owned()),
    ]);
    Api::open(ApiConfig {
        keys: KeyOptions {
            key_file: Some(key),
            ..KeyOptions::default()
        },
        data_dir: DataDir::at(dir),
        config: Config::load_from(&sources).expect("valid test config"),
        mode: qcat_api::Mode::Agent,
    })
    .await
    .unwrap()
}

async fn admin(api: &Api) -> SessionSlot {
    let slot = SessionSlot::new("test:admin");
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

fn target(name: &str, kind: &str, url: &str, interval_ms: i64) -> TargetInput {
    TargetInput {
        name: name.into(),
        kind: kind.into(),
        url: url.into(),
        password: None,
        environment: Some("production".into()),
        interval_ms,
        timeout_ms: None,
        queries: Default::default(),
        seen_version: None,
    }
}

async fn query(
    api: &Api,
    slot: &SessionSlot,
    series: &str,
    from: i64,
    to: i64,
    function: &str,
) -> Vec<SeriesView> {
    api.monitor_query(
        slot,
        QueryInput {
            series: series.into(),
            from_ms: from,
            to_ms: to,
            max_points: 2,
            function: Some(function.into()),
        },
    )
    .await
    .unwrap()
}

/// Prometheus' instant query at `at_ms`: the single value of a one-series result.
async fn prometheus_value(
    client: &reqwest::Client,
    port: u16,
    expression: &str,
    at_ms: i64,
) -> f64 {
    let body: serde_json::Value = client
        .get(format!("http://127.0.0.1:{port}/api/v1/query"))
        .query(&[
            ("query", expression),
            ("time", &format!("{:.3}", at_ms as f64 / 1000.0)),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let result = &body["data"]["result"];
    assert_eq!(
        result.as_array().map(Vec::len),
        Some(1),
        "{expression}: {body}"
    );
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn rates_and_quantiles_agree_with_a_real_prometheus_scraping_the_same_simulator() {
    let dir = qcat_testkit::temp_data_dir();
    // The simulated application, busy enough that 30 s windows hold thousands of requests.
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let simulator = tokio::spawn(qcat_api::simulate::run_simulator(
        qcat_api::simulate::SimulatorOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            seed: 42,
            time_scale: 1.0,
            peak_rate: 4000.0,
            latency_factor: 1.0,
        },
        bound_tx,
        async {
            let _ = stop_rx.await;
        },
    ));
    let simulated = bound_rx.await.unwrap();
    // Prometheus scrapes it every second.
    let prometheus_port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             scrape_configs:\n  - job_name: sim\n    static_configs: [{{targets: ['{simulated}']}}]\n"
        ),
    )
    .unwrap();
    let _prometheus = Process(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs (scripts/setup.sh installs it)"),
    );
    let api = open_agent(&dir.path().join("data")).await;
    let slot = admin(&api).await;
    api.monitor_target_save(
        &slot,
        target(
            "app",
            "prometheus",
            &format!("http://{simulated}/metrics"),
            1000,
        ),
    )
    .await
    .unwrap();
    let mut server = target(
        "prom",
        "prometheus-server",
        &format!("http://127.0.0.1:{prometheus_port}"),
        5000,
    );
    server.queries.insert(
        "api_rate".into(),
        "sum(rate(qcat_http_requests_total[30s]))".into(),
    );
    api.monitor_target_save(&slot, server).await.unwrap();

    // A whole 30 s window (on the 30 s grid) after both started scraping, and complete.
    let started = qcat_core::time::now_ms();
    let (now, end) = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = qcat_core::time::now_ms();
        let end = (now - 3_000).div_euclid(30_000) * 30_000;
        if end - 30_000 >= started + 5_000 {
            break (now, end);
        }
    };
    let (from, to) = (end - 30_000, end - 1);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();

    // Request rate: the sum over every endpoint and code of the counter's per-second growth.
    let ours: f64 = query(&api, &slot, "qcat_http_requests_total", from, to, "rate")
        .await
        .iter()
        .map(|series| series.avg[0])
        .sum();
    let theirs = prometheus_value(
        &client,
        prometheus_port,
        "sum(rate(qcat_http_requests_total[30s]))",
        end,
    )
    .await;
    println!("request rate over [{from}, {to}]: console {ours}, prometheus {theirs}");
    let tolerance = 0.03;
    assert!(
        (ours - theirs).abs() <= tolerance * theirs,
        "request rate: console {ours:.1}/s, Prometheus {theirs:.1}/s (within {}%: the two scrape at \
         different instants, a second apart at most, and Prometheus extrapolates to the window's edges)",
        tolerance * 100.0
    );

    // P99 of the busiest endpoint from the histogram's bucket growth in the same window.
    let path = "/market/quote";
    let ours = query(
        &api,
        &slot,
        &format!("qcat_http_request_duration_seconds{{path=\"{path}\"}}"),
        from,
        to,
        "0.99",
    )
    .await[0]
        .avg[0];
    let theirs = prometheus_value(
        &client,
        prometheus_port,
        &format!(
            "histogram_quantile(0.99, sum by (le) (rate(qcat_http_request_duration_seconds_bucket{{path=\"{path}\"}}[30s])))"
        ),
        end,
    )
    .await;
    println!("P99 of {path}: console {ours}, prometheus {theirs}");
    assert!(
        (ours - theirs).abs() <= 0.05 * theirs,
        "P99 of {path}: console {ours:.4} s, Prometheus {theirs:.4} s (within 5%: the same \
         buckets, grown over windows up to a second apart)"
    );

    // The Prometheus-server collector stored Prometheus' own answers, at their times.
    let read_back = api
        .monitor_query(
            &slot,
            QueryInput {
                series: "api_rate{target=\"prom\"}".into(),
                from_ms: now - 60_000,
                to_ms: now,
                max_points: 10_000,
                function: None,
            },
        )
        .await
        .unwrap();
    let series = read_back
        .first()
        .expect("the prometheus-server target stored api_rate");
    let (t, value) = (
        series.t[series.t.len() - 1],
        series.avg[series.avg.len() - 1],
    );
    let direct = prometheus_value(
        &client,
        prometheus_port,
        "sum(rate(qcat_http_requests_total[30s]))",
        t,
    )
    .await;
    assert!(
        (value - direct).abs() <= 1e-9 * direct.abs().max(1.0),
        "read back through query_range: {value} at {t}, Prometheus says {direct}"
    );
    api.close().await;
    let _ = stop_tx.send(());
    let _ = simulator.await;
}

#[tokio::test]
async fn a_target_that_never_answers_does_not_slow_the_others() {
    let dir = qcat_testkit::temp_data_dir();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        loop {
            if let Ok((socket, _)) = silent.accept().await {
                open.push(socket);
            }
        }
    });
    let api = open_agent(&dir.path().join("data")).await;
    let slot = admin(&api).await;
    let mut stuck = target(
        "stuck",
        "redis",
        &format!("redis://127.0.0.1:{silent_port}/0"),
        2000,
    );
    stuck.timeout_ms = Some(2000);
    api.monitor_target_save(&slot, stuck).await.unwrap();
    api.monitor_target_save(&slot, target("box", "host", "local", 1000))
        .await
        .unwrap();
    let started = qcat_core::time::now_ms();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let up = |name: &'static str| {
        let (api, slot) = (api.clone(), &slot);
        async move {
            api.monitor_query(
                slot,
                QueryInput {
                    series: format!("up{{target=\"{name}\"}}"),
                    from_ms: started,
                    to_ms: qcat_core::time::now_ms(),
                    max_points: 10_000,
                    function: None,
                },
            )
            .await
            .unwrap()
        }
    };
    let fast = up("box").await;
    assert!(
        fast[0].t.len() >= 5 && fast[0].avg.iter().all(|v| *v == 1.0),
        "the host target kept its 1 s interval while the other hung: {:?}",
        fast[0].t
    );
    let slow = up("stuck").await;
    assert!(
        slow[0].avg.iter().all(|v| *v == 0.0),
        "the silent target is down"
    );
    let targets = api.monitor_targets(&slot).await.unwrap();
    let stuck = targets.iter().find(|t| t.name == "stuck").unwrap();
    let health = stuck.health.as_ref().expect("its health is known");
    assert_eq!(health.error_kind.as_deref(), Some("timeout"), "{health:?}");
    assert!(health.since_ms >= started - 1000, "down since it was added");
    held.abort();
    api.close().await;
}

#[tokio::test]
async fn targets_from_the_config_file_are_listed_collected_and_not_editable_in_the_window() {
    let dir = qcat_testkit::temp_data_dir();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let key = data.join("master.key");
    qcat_secrets::keys::init_key_file(&key).unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[monitoring.targets.file-box]\nkind = \"host\"\ninterval = \"1s\"\nenvironment = \"staging\"\n",
    )
    .unwrap();
    let mut sources = ConfigSources::environment_only(vec![(
        "QCAT_MONITORING__FLUSH_INTERVAL".to_owned(),
        "1s".to_owned(),
    )]);
    sources.user_file = Some(qcat_core::config::UserFile {
        path: file.clone(),
        required: true,
    });
    let api = Api::open(ApiConfig {
        keys: KeyOptions {
            key_file: Some(key),
            ..KeyOptions::default()
        },
        data_dir: DataDir::at(&data),
        config: Config::load_from(&sources).expect("a target table is valid config"),
        mode: qcat_api::Mode::Agent,
    })
    .await
    .unwrap();
    let slot = admin(&api).await;
    let started = qcat_core::time::now_ms();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let targets = api.monitor_targets(&slot).await.unwrap();
    let from_file = targets
        .iter()
        .find(|t| t.name == "file-box")
        .expect("listed");
    assert_eq!(from_file.origin, "config");
    assert_eq!(from_file.environment, "staging");
    let up = api
        .monitor_query(
            &slot,
            QueryInput {
                series: "up{target=\"file-box\"}".into(),
                from_ms: started,
                to_ms: qcat_core::time::now_ms(),
                max_points: 1000,
                function: None,
            },
        )
        .await
        .unwrap();
    assert!(
        up.first().is_some_and(|s| s.t.len() >= 2),
        "collected like any target: {up:?}"
    );
    let err = api
        .monitor_target_save(&slot, target("file-box", "host", "local", 5000))
        .await
        .unwrap_err();
    assert_eq!(err.code, qcat_core::ErrorCode::Conflict);
    assert!(
        err.message.contains("[monitoring.targets.file-box]"),
        "{err:?}"
    );
    api.close().await;

    // A wrong field in the file is refused at load, naming the key and the fix.
    std::fs::write(&file, "[monitoring.targets.db]\nkind = \"postgress\"\nurl = \"postgres://m@h/x\"\npassword = \"hunter2\"\n").unwrap();
    let err = Config::load_from(&sources).unwrap_err().to_string();
    assert!(err.contains("monitoring.targets.db.kind"), "{err}");
    assert!(
        err.contains("monitoring.targets.db.password"),
        "a plaintext password in a file is refused: {err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn target_changes_are_audited_without_the_password_and_stale_edits_refused() {
    let dir = qcat_testkit::temp_data_dir();
    let api = open_agent(&dir.path().join("data")).await;
    let slot = admin(&api).await;
    let mut input = target("cache", "redis", "redis://127.0.0.1:6399/0", 5000);
    input.password = Some(SecretText(Secret::new("typed-redis-password".into())));
    let saved = api.monitor_target_save(&slot, input).await.unwrap();
    assert_eq!(
        saved.password, "encrypted",
        "a typed password is stored encrypted, never shown"
    );
    let mut stale = target("cache", "redis", "redis://127.0.0.1:6400/0", 5000);
    stale.seen_version = Some(0);
    let err = api.monitor_target_save(&slot, stale).await.unwrap_err();
    assert_eq!(err.code, qcat_core::ErrorCode::Conflict, "{err:?}");
    let entries = api
        .audit_page(
            &slot,
            AuditQuery {
                filter: AuditFilterInput::default(),
                before_seq: None,
                limit: Some(10),
            },
        )
        .await
        .unwrap();
    let text = serde_json::to_string(&entries).unwrap();
    assert!(
        text.contains("monitor.target.save"),
        "the save is in the trail"
    );
    assert!(
        !text.contains("typed-redis-password"),
        "the password is not"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "monitor.target.save" && e.outcome == "failed"),
        "the stale edit too"
    );
    let stored = std::fs::read(dir.path().join("data").join("qcat.sqlite3")).unwrap();
    assert!(
        !stored.windows(20).any(|w| w == b"typed-redis-password"),
        "the store holds the password only encrypted"
    );
    let started = Instant::now();
    api.close().await;
    assert!(started.elapsed() < Duration::from_secs(15));
}
