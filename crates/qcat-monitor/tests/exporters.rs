//! The parser on the live output of the real exporters from Debian's packages
//! (node_exporter, postgres_exporter, redis_exporter, started here against this test's own
//! servers) and of the simulator: every sample line is read, nothing is invented, and the
//! exporters' own `up` says they reached their servers.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qcat_monitor::exposition::{self, FamilyKind, quantile};

struct Exporter(Child);

impl Drop for Exporter {
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

fn start(program: &str, args: &[String], env: &[(&str, String)]) -> Exporter {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    Exporter(command.spawn().unwrap_or_else(|err| {
        panic!("cannot start {program} (scripts/setup.sh installs it): {err}")
    }))
}

/// Fetches `/metrics` until the exporter answers (they take a moment to listen).
async fn scrape(port: u16) -> String {
    let client = qcat_monitor::collect::http_client(Duration::from_secs(5)).unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let started = Instant::now();
    loop {
        match qcat_monitor::collect::fetch_text(&client, &url, None).await {
            Ok(text) => return text,
            Err(err) if started.elapsed() < Duration::from_secs(15) => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("{url}: {err}"),
        }
    }
}

/// Parses and checks that every non-comment line became exactly one sample.
fn parse_all(text: &str) -> Vec<exposition::Family> {
    let families =
        exposition::parse(text).unwrap_or_else(|err| panic!("the exporter's text parses: {err}"));
    let lines = text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .count();
    let samples: usize = families.iter().map(|family| family.samples.len()).sum();
    assert_eq!(samples, lines, "one sample per sample line");
    families
}

fn gauge(families: &[exposition::Family], name: &str) -> Option<f64> {
    families
        .iter()
        .flat_map(|family| &family.samples)
        .find(|sample| sample.name == name)
        .map(|sample| sample.value)
}

#[tokio::test]
async fn node_exporter_output_parses() {
    let port = free_port();
    let _exporter = start(
        "prometheus-node-exporter",
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        &[],
    );
    let families = parse_all(&scrape(port).await);
    let cpu = families
        .iter()
        .find(|f| f.name == "node_cpu_seconds_total")
        .expect("CPU counters");
    assert_eq!(cpu.kind, FamilyKind::Counter);
    assert!(cpu.help.as_deref().is_some_and(|help| !help.is_empty()));
    assert!(
        cpu.samples
            .iter()
            .all(|s| s.labels.contains_key("cpu") && s.labels.contains_key("mode"))
    );
    let summary = families
        .iter()
        .find(|f| f.kind == FamilyKind::Summary)
        .expect("a Go runtime summary");
    assert!(
        summary.samples.iter().any(|s| s.name.ends_with("_count")),
        "summary _count joins its family"
    );
}

#[tokio::test]
async fn postgres_exporter_output_parses_and_it_reached_the_test_server() {
    let database = qcat_testkit::test_database_url();
    let port = free_port();
    let _exporter = start(
        "prometheus-postgres-exporter",
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        &[("DATA_SOURCE_NAME", format!("{database}?sslmode=disable"))],
    );
    let families = parse_all(&scrape(port).await);
    assert_eq!(
        gauge(&families, "pg_up"),
        Some(1.0),
        "postgres_exporter reached this test's server"
    );
    assert!(
        families
            .iter()
            .any(|f| f.name == "pg_stat_database_xact_commit")
    );
}

#[tokio::test]
async fn redis_exporter_output_parses_and_it_reached_the_test_server() {
    let redis = qcat_testkit::RedisServer::start(None);
    let port = free_port();
    let _exporter = start(
        "prometheus-redis-exporter",
        &[
            "-redis.addr".into(),
            format!("redis://127.0.0.1:{}", redis.port()),
            "-web.listen-address".into(),
            format!("127.0.0.1:{port}"),
        ],
        &[],
    );
    let families = parse_all(&scrape(port).await);
    assert_eq!(
        gauge(&families, "redis_up"),
        Some(1.0),
        "redis_exporter reached this test's server"
    );
    let histograms = quantile::histograms(&families);
    for histogram in &histograms {
        let p99 = histogram.quantile(0.99);
        assert!(p99.is_nan() || p99 >= 0.0, "{}: {p99}", histogram.family);
    }
}

#[test]
fn the_simulator_output_parses_with_its_histograms() {
    let mut simulator = qcat_monitor::simulate::Simulator::new(3, 1.0, 1_767_240_000_000);
    let text = simulator.render(1_767_240_010_000).unwrap();
    let families = parse_all(&text);
    let histograms = quantile::histograms(&families);
    assert_eq!(histograms.len(), 6, "five endpoints and the order latency");
    for histogram in histograms {
        let count = histogram.count.unwrap();
        let inf = histogram
            .buckets
            .iter()
            .find(|(bound, _)| bound.is_infinite())
            .unwrap()
            .1;
        assert_eq!(count, inf, "_count equals the +Inf bucket");
        assert!(histogram.sum.unwrap() >= 0.0);
    }
}
