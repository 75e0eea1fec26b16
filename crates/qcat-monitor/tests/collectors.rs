//! Collectors against real servers: PostgreSQL under pgbench and Redis under
//! redis-benchmark (values move as the load does), and each kind of failure — a wrong
//! password, a closed port, a port that accepts and never answers — reported as its own
//! kind within the target's timeout.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qcat_core::secret::Secret;
use qcat_monitor::collect::{Collector, FailureKind, Reading};
use qcat_monitor::targets::{Environment, Target, TargetKind};

fn target(kind: TargetKind, url: &str, timeout: Duration) -> Target {
    Target {
        name: "probe".into(),
        kind,
        url: url.into(),
        password: String::new(),
        environment: Environment::Staging,
        interval: Duration::from_secs(5),
        timeout,
        queries: BTreeMap::new(),
        version: 1,
    }
}

fn value(reading: &Reading, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    reading
        .samples
        .iter()
        .find(|(key, _, _)| {
            key.name == name
                && label.is_none_or(|(l, v)| key.labels.get(l).map(String::as_str) == Some(v))
        })
        .map(|(_, _, value)| *value)
}

/// Splits `postgres://user:password@host/db` into the URL without its password and the
/// password, as a target stores them.
fn split_password(url: &str) -> (String, Secret<String>) {
    let mut parsed = url::Url::parse(url).unwrap();
    let password = parsed.password().unwrap().to_owned();
    parsed.set_password(None).unwrap();
    (parsed.to_string(), Secret::new(password))
}

async fn collect(
    collector: &mut Collector,
) -> Result<Reading, qcat_monitor::collect::CollectError> {
    collector
        .collect(qcat_core::time::now_ms(), Duration::from_secs(5))
        .await
}

#[tokio::test]
async fn postgres_values_move_with_pgbench_load() {
    let server = qcat_testkit::PostgresServer::with_passwords();
    let url = server.create_database();
    let (plain, password) = split_password(&url);
    let pgbench = qcat_testkit::postgres_program("pgbench");
    let init = Command::new(&pgbench)
        .args(["-i", "-s", "2", "-q", &url])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let extension = Command::new("psql")
        .args([
            url.as_str(),
            "-q",
            "-c",
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        extension.status.success(),
        "{}",
        String::from_utf8_lossy(&extension.stderr)
    );
    let mut collector = Collector::build(
        &target(TargetKind::Postgres, &plain, Duration::from_secs(5)),
        Some(password),
    )
    .unwrap();
    let before = collect(&mut collector).await.expect("the server reads");
    let mut load = Command::new(&pgbench)
        .args(["-c", "4", "-j", "2", "-T", "4", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut busiest: f64 = 0.0;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = collect(&mut collector).await.unwrap();
        busiest = busiest.max(value(&during, "pg_connections_total", None).unwrap());
    }
    load.wait().unwrap();
    let after = collect(&mut collector).await.unwrap();
    let commits = |reading: &Reading| value(reading, "pg_xact_commit_total", None).unwrap();
    assert!(
        commits(&after) - commits(&before) > 200.0,
        "pgbench's transactions are counted: {} → {}",
        commits(&before),
        commits(&after)
    );
    assert!(
        busiest >= 4.0,
        "pgbench's 4 clients were seen connected: {busiest}"
    );
    assert_eq!(
        value(&after, "pg_max_connections", None),
        Some(200.0),
        "the cluster's setting"
    );
    let database = url::Url::parse(&url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    assert!(
        value(
            &after,
            "pg_database_size_bytes",
            Some(("database", &database))
        )
        .unwrap()
            > 10e6,
        "pgbench's tables at scale 2 take more than 10 MB"
    );
    let statements = after
        .detail
        .as_ref()
        .expect("pg_stat_statements is installed")["topStatements"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        statements.iter().any(
            |s| s["query"].as_str().unwrap().contains("pgbench_accounts")
                && s["calls"].as_f64().unwrap() > 100.0
        ),
        "pgbench's statements lead the top list: {statements:?}"
    );
    let ratio = value(&after, "pg_cache_hit_ratio", None).unwrap();
    assert!((0.0..=1.0).contains(&ratio), "a ratio: {ratio}");
    assert_eq!(
        value(&after, "pg_in_recovery", None),
        Some(0.0),
        "a primary"
    );
}

#[tokio::test]
async fn a_wrong_postgres_password_is_an_auth_failure() {
    let server = qcat_testkit::PostgresServer::with_passwords();
    let (plain, _) = split_password(&server.create_database());
    let mut collector = Collector::build(
        &target(TargetKind::Postgres, &plain, Duration::from_secs(5)),
        Some(Secret::new("not-the-password".into())),
    )
    .unwrap();
    let err = collect(&mut collector).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Auth, "{err}");
    assert!(err.message.contains("check the target's password"), "{err}");
    assert!(
        !err.message.contains("not-the-password"),
        "the password is never echoed"
    );
}

#[tokio::test]
async fn redis_values_move_with_redis_benchmark_load() {
    let server = qcat_testkit::RedisServer::start(Some("bench-pass"));
    let mut collector = Collector::build(
        &target(TargetKind::Redis, &server.url(), Duration::from_secs(5)),
        Some(Secret::new("bench-pass".into())),
    )
    .unwrap();
    let before = collect(&mut collector).await.expect("INFO reads");
    let bench = Command::new("redis-benchmark")
        .args([
            "-p",
            &server.port().to_string(),
            "-a",
            "bench-pass",
            "-n",
            "20000",
            "-q",
        ])
        .args(["-t", "set,get", "-r", "1000"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        bench.status.success(),
        "redis-benchmark: {}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let after = collect(&mut collector).await.unwrap();
    let commands =
        |reading: &Reading| value(reading, "redis_commands_processed_total", None).unwrap();
    assert!(
        commands(&after) - commands(&before) >= 40_000.0,
        "20 000 SETs and 20 000 GETs: {} → {}",
        commands(&before),
        commands(&after)
    );
    let hits = value(&after, "redis_keyspace_hits_total", None).unwrap();
    assert!(hits > 0.0, "GETs of keys the SETs wrote hit: {hits}");
    assert!(
        value(&after, "redis_keys", Some(("db", "0"))).unwrap() >= 100.0,
        "the benchmark's keys"
    );
    assert!(
        value(&after, "redis_memory_used_bytes", None).unwrap()
            > value(&before, "redis_memory_used_bytes", None).unwrap(),
        "the keys take memory"
    );
    assert_eq!(value(&after, "redis_role_primary", None), Some(1.0));
    assert_eq!(
        value(&after, "redis_rejected_connections_total", None),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_wrong_redis_password_is_an_auth_failure() {
    let server = qcat_testkit::RedisServer::start(Some("right-pass"));
    let mut collector = Collector::build(
        &target(TargetKind::Redis, &server.url(), Duration::from_secs(5)),
        Some(Secret::new("wrong-pass".into())),
    )
    .unwrap();
    let err = collect(&mut collector).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Auth, "{err}");
    assert!(
        !err.message.contains("wrong-pass"),
        "the password is never echoed: {err}"
    );
}

#[tokio::test]
async fn a_closed_port_is_refused_and_a_silent_one_times_out_on_time() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Accepts connections and never says a word.
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
    let timeout = Duration::from_millis(1500);
    let cases = [
        (
            TargetKind::Postgres,
            format!("postgres://monitor@127.0.0.1:{closed}/x"),
        ),
        (TargetKind::Redis, format!("redis://127.0.0.1:{closed}/0")),
        (
            TargetKind::Prometheus,
            format!("http://127.0.0.1:{closed}/metrics"),
        ),
    ];
    for (kind, url) in &cases {
        let mut collector = Collector::build(&target(*kind, url, timeout), None).unwrap();
        let err = collector.collect(0, timeout).await.unwrap_err();
        assert_eq!(
            err.kind,
            FailureKind::Refused,
            "{kind:?} at a closed port: {err}"
        );
    }
    for (kind, url) in [
        (
            TargetKind::Postgres,
            format!("postgres://monitor@127.0.0.1:{silent_port}/x"),
        ),
        (
            TargetKind::Redis,
            format!("redis://127.0.0.1:{silent_port}/0"),
        ),
        (
            TargetKind::Prometheus,
            format!("http://127.0.0.1:{silent_port}/metrics"),
        ),
    ] {
        let mut collector = Collector::build(&target(kind, &url, timeout), None).unwrap();
        let started = Instant::now();
        let err = collector.collect(0, timeout).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(
            err.kind,
            FailureKind::Timeout,
            "{kind:?} at a silent port: {err}"
        );
        assert!(
            took >= timeout - Duration::from_millis(100) && took < timeout + Duration::from_secs(1),
            "{kind:?} gave up after its timeout, not before or much after: {took:?}"
        );
        // The connection test names the step: the TCP connect works, the read does not.
        let report = collector.check(&target(kind, &url, timeout)).await;
        assert!(
            report.steps.iter().any(|s| s.step == "connect" && s.ok),
            "{report:?}"
        );
        assert_eq!(report.failure, Some(FailureKind::Timeout), "{report:?}");
    }
    let unresolvable = target(
        TargetKind::Redis,
        "redis://no-such-host.invalid:6379/0",
        timeout,
    );
    let mut collector = Collector::build(&unresolvable, None).unwrap();
    let report = collector.check(&unresolvable).await;
    assert_eq!(report.failure, Some(FailureKind::Dns), "{report:?}");
    held.abort();
}

#[tokio::test]
async fn the_host_collector_reads_this_machine() {
    let mut collector = Collector::build(
        &target(TargetKind::Host, "local", Duration::from_secs(5)),
        None,
    )
    .unwrap();
    collect(&mut collector).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reading = collect(&mut collector).await.unwrap();
    let cpu = value(&reading, "host_cpu_usage_ratio", Some(("cpu", "total"))).unwrap();
    assert!(
        (0.0..=1.0).contains(&cpu),
        "CPU use is a ratio after the second reading: {cpu}"
    );
    let total = value(&reading, "host_memory_total_bytes", None).unwrap();
    let used = value(&reading, "host_memory_used_bytes", None).unwrap();
    assert!(
        total > 1e9 && used > 0.0 && used <= total,
        "memory {used} of {total}"
    );
    assert!(
        reading
            .samples
            .iter()
            .any(|(key, _, _)| key.name == "host_disk_total_bytes" && key.labels["mount"] == "/"),
        "the root file system is listed"
    );
    assert!(
        value(
            &reading,
            "host_network_received_bytes_total",
            Some(("interface", "lo"))
        )
        .is_some()
    );
}
