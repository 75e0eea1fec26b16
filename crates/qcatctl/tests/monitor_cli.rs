//! `qcatctl monitor scrape`, `target`, `monitor query` and `simulate` as an operator runs
//! them: the exact `--json` shape, Prometheus' `histogram_quantile` edge cases, malformed
//! input naming its line, and a simulator served, collected by an agent and queried back.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{as_root, qcatctl, run_with_stdin as run, succeeded};

fn scrape_json(text: &str, extra: &[&str]) -> serde_json::Value {
    let dir = qcat_testkit::temp_data_dir();
    let mut command = qcatctl(dir.path());
    command
        .args(["monitor", "scrape", "-", "--json"])
        .args(extra);
    let out = succeeded(&run(command, text));
    serde_json::from_str(&out).expect("exactly one JSON object")
}

#[test]
fn scrape_json_has_the_documented_shape_and_prometheus_quantiles() {
    let text = "# HELP req_seconds Request time.\n\
        # TYPE req_seconds histogram\n\
        req_seconds_bucket{path=\"/a\",le=\"0.1\"} 5\n\
        req_seconds_bucket{path=\"/a\",le=\".2\"} 7\n\
        req_seconds_bucket{path=\"/a\",le=\"1e0\"} 11\n\
        req_seconds_bucket{path=\"/a\",le=\"+Inf\"} 12\n\
        req_seconds_sum{path=\"/a\"} 3.5\n\
        req_seconds_count{path=\"/a\"} 12\n\
        # TYPE up gauge\n\
        up NaN 1700000000000\n\
        plain_total +Inf\n";
    let json = scrape_json(text, &[]);
    let families = json["families"].as_array().unwrap();
    assert_eq!(families.len(), 3);
    assert_eq!(families[0]["name"], "req_seconds");
    assert_eq!(families[0]["type"], "histogram");
    assert_eq!(families[0]["help"], "Request time.");
    assert_eq!(
        families[1]["help"],
        serde_json::Value::Null,
        "no HELP is null"
    );
    assert_eq!(families[2]["type"], "untyped");
    let up = &families[1]["samples"][0];
    assert_eq!(up["value"], "NaN", "NaN is spelled as Prometheus does");
    assert_eq!(up["timestamp_ms"], 1_700_000_000_000i64);
    assert_eq!(families[2]["samples"][0]["value"], "+Inf");
    assert_eq!(
        families[2]["samples"][0]["timestamp_ms"],
        serde_json::Value::Null
    );
    assert_eq!(
        families[0]["samples"][1]["labels"]["le"], ".2",
        "labels as written"
    );
    let histogram = &json["histograms"][0];
    assert_eq!(histogram["name"], "req_seconds");
    assert_eq!(
        histogram["labels"],
        serde_json::json!({"path": "/a"}),
        "without le"
    );
    assert_eq!(histogram["count"], 12.0);
    assert_eq!(histogram["sum"], 3.5);
    // Prometheus' own test data (histograms.test, "testhistogram", start="positive").
    let q = &histogram["quantiles"];
    let close = |got: &serde_json::Value, want: f64| (got.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(close(&q["0.5"], 0.15), "{q}");
    assert!(
        close(&q["0.95"], 1.0),
        "a rank in the +Inf bucket answers the highest finite bound: {q}"
    );
    let custom = scrape_json(
        text,
        &[
            "--quantile",
            "0.2",
            "--quantile",
            "0.8",
            "--quantile",
            "1.5",
        ],
    );
    let q = &custom["histograms"][0]["quantiles"];
    assert!(close(&q["0.2"], 0.048) && close(&q["0.8"], 0.72), "{q}");
    assert_eq!(q["1.5"], "+Inf", "φ > 1 is +Inf");
}

#[test]
fn malformed_input_exits_non_zero_naming_the_line() {
    let dir = qcat_testkit::temp_data_dir();
    let mut command = qcatctl(dir.path());
    command.args(["monitor", "scrape", "-", "--json"]);
    let out = run(command, "ok 1\n# TYPE m gauge\nm{a=\"1\" 2\n");
    assert_eq!(out.status.code(), Some(64), "invalid input (EX_USAGE)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "nothing half-printed on standard output"
    );
    let mut missing = qcatctl(dir.path());
    missing.args(["monitor", "scrape", "/no/such/file"]);
    let out = run(missing, "");
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file"));
}

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

#[test]
fn an_operator_adds_targets_runs_an_agent_and_queries_what_it_collected() {
    let dir = common::data_dir_with_admin();

    // The simulator, on a port it reports.
    let port = free_port();
    let mut simulator = qcatctl(dir.path());
    simulator
        .args([
            "simulate",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--peak-rate",
            "500",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut simulator = Killed(simulator.spawn().unwrap());
    let first = BufReader::new(simulator.0.stderr.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    assert!(
        first.contains(&format!("http://127.0.0.1:{port}/metrics")),
        "{first}"
    );

    let url = format!("http://127.0.0.1:{port}/metrics");
    succeeded(&as_root(
        dir.path(),
        &[
            "target",
            "add",
            "app",
            "--kind",
            "prometheus",
            "--url",
            &url,
            "--interval",
            "1s",
            "--environment",
            "production",
        ],
    ));
    succeeded(&as_root(
        dir.path(),
        &[
            "target",
            "add",
            "box",
            "--kind",
            "host",
            "--url",
            "local",
            "--interval",
            "1s",
        ],
    ));
    let bad = as_root(
        dir.path(),
        &[
            "target",
            "add",
            "db",
            "--kind",
            "postgres",
            "--url",
            "postgres://u:hunter2@h/x",
        ],
    );
    assert_eq!(
        bad.status.code(),
        Some(64),
        "a password in the URL is refused"
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("remove the password from the URL") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    let tested = succeeded(&as_root(dir.path(), &["target", "test", "app"]));
    assert!(
        tested.contains("connect") && tested.contains("series read"),
        "{tested}"
    );

    let mut agent = qcatctl(dir.path());
    agent
        .env("QCAT_MONITORING__PROMETHEUS_PORT", free_port().to_string())
        .env("QCAT_MONITORING__FLUSH_INTERVAL", "1s")
        .env("QCAT_LOGGING__OUTPUT", "file")
        .arg("agent")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _agent = Killed(agent.spawn().unwrap());
    // The agent collects; a one-shot query reads what it flushed.
    let started = Instant::now();
    let rates = loop {
        let out = as_root(
            dir.path(),
            &[
                "monitor",
                "query",
                "app_request_rate",
                "--since",
                "1m",
                "--step",
                "1s",
                "--json",
            ],
        );
        let json: serde_json::Value = serde_json::from_str(&succeeded(&out)).unwrap();
        let points = json[0]["avg"].as_array().map(Vec::len).unwrap_or(0);
        if points >= 3 {
            break json;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the agent stored app_request_rate: {json}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(rates[0]["labels"]["target"], "app");
    assert!(
        rates[0]["avg"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v.as_f64().unwrap() >= 0.0)
    );
    let listed = succeeded(&as_root(dir.path(), &["target", "list", "--json"]));
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let app = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "app")
        .unwrap();
    assert_eq!(app["environment"], "production");
    assert_eq!(app["health"]["up"], true, "{app}");

    // An outage turns the target red, with the simulator's answer as the reason.
    let mut incident = qcatctl(dir.path());
    incident.args([
        "simulate",
        "incident",
        "outage",
        "--for",
        "30s",
        "--url",
        &format!("http://127.0.0.1:{port}"),
    ]);
    succeeded(&run(incident, ""));
    let started = Instant::now();
    loop {
        let listed: serde_json::Value = serde_json::from_str(&succeeded(&as_root(
            dir.path(),
            &["target", "list", "--json"],
        )))
        .unwrap();
        let app = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "app")
            .unwrap()
            .clone();
        if app["health"]["up"] == false {
            assert!(
                app["health"]["error"].as_str().unwrap().contains("503"),
                "{app}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the outage was noticed: {app}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    succeeded(&as_root(dir.path(), &["target", "remove", "box"]));
    let audit = succeeded(&as_root(
        dir.path(),
        &["audit", "query", "--json", "--target", "target:"],
    ));
    assert!(
        audit.contains("monitor.target.save") && audit.contains("monitor.target.remove"),
        "{audit}"
    );
}

#[test]
fn history_imported_from_csv_is_queryable_and_bad_files_name_their_line() {
    let dir = common::data_dir_with_admin();

    // Three days of one-minute history ending an hour ago, half the rows in each form.
    let now = jiff::Timestamp::now();
    let start = now.as_second() - 3 * 86_400 - 3600;
    let mut csv = String::from("timestamp,value\n");
    for minute in 0..3 * 1440_i64 {
        let at = jiff::Timestamp::from_second(start + minute * 60).unwrap();
        let value = 0.2 + (minute % 60) as f64 / 1000.0;
        if minute % 2 == 0 {
            csv.push_str(&format!("{at},{value}\n"));
        } else {
            csv.push_str(&format!("{},{value}\n", at.strftime("%Y-%m-%d %H:%M:%S")));
        }
    }
    let file = dir.path().join("p99.csv");
    std::fs::write(&file, &csv).unwrap();
    let file = file.to_str().unwrap();
    let imported = succeeded(&as_root(
        dir.path(),
        &[
            "monitor",
            "import",
            "--format",
            "csv",
            "--series",
            "app_p99_seconds{endpoint=\"/order/submit\"}",
            file,
            "--json",
        ],
    ));
    let imported: serde_json::Value = serde_json::from_str(&imported).unwrap();
    assert_eq!(
        imported["points"],
        3 * 1440,
        "every row is a point: {imported}"
    );

    // The store answers for the imported range from its rollups, like live history.
    let queried = succeeded(&as_root(
        dir.path(),
        &[
            "monitor",
            "query",
            "app_p99_seconds{endpoint=\"/order/submit\"}",
            "--since",
            "4d",
            "--json",
        ],
    ));
    let queried: serde_json::Value = serde_json::from_str(&queried).unwrap();
    let points = queried[0]["t"].as_array().map_or(0, Vec::len);
    assert!(points > 50, "three days of history come back: {queried}");

    // The same history again overlaps the series' own samples: refused, naming it.
    let again = as_root(
        dir.path(),
        &[
            "monitor",
            "import",
            "--series",
            "app_p99_seconds{endpoint=\"/order/submit\"}",
            file,
        ],
    );
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("already has samples"), "{said}");

    // A bad row: the file's line and field are named, nothing is written.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "2026-11-02 09:30:00,1\n2026-11-02 09:31:00,1\n2026-11-02 25:00:00,1\n",
    )
    .unwrap();
    let refused = as_root(
        dir.path(),
        &[
            "monitor",
            "import",
            "--series",
            "other_series",
            bad.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("line 3, timestamp"),
        "the bad row is named: {said}"
    );

    // Both attempts and the import are in the audit trail.
    let audit = succeeded(&as_root(
        dir.path(),
        &["audit", "query", "--json", "--limit", "20"],
    ));
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let imports: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "monitor.import")
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(imports.len(), 3, "{imports:?}");
    assert_eq!(imports.iter().filter(|o| **o == "ok").count(), 1);
}

#[test]
fn a_prometheus_servers_history_is_imported_with_its_labels() {
    let dir = common::data_dir_with_admin();

    // Two days of one-minute history for two endpoints, ending three hours ago, written
    // into a real Prometheus TSDB by promtool's backfill, then served by Prometheus.
    let end = jiff::Timestamp::now().as_second() - 3 * 3600;
    let minutes = 2 * 1440_i64;
    let mut openmetrics = String::from("# TYPE p99_latency_seconds gauge\n");
    for minute in 0..minutes {
        let at = end - (minutes - 1 - minute) * 60;
        for (endpoint, base) in [("/order/submit", 0.2), ("/quote", 0.05)] {
            openmetrics.push_str(&format!(
                "p99_latency_seconds{{endpoint=\"{endpoint}\"}} {} {at}\n",
                base + (minute % 30) as f64 / 1000.0
            ));
        }
    }
    openmetrics.push_str("# EOF\n");
    let input = dir.path().join("history.om");
    std::fs::write(&input, openmetrics).unwrap();
    let tsdb = dir.path().join("tsdb");
    let backfill = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&tsdb)
        .output()
        .expect("promtool runs (scripts/setup.sh installs prometheus)");
    assert!(
        backfill.status.success(),
        "{}",
        String::from_utf8_lossy(&backfill.stderr)
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global: {scrape_interval: 15s}\n").unwrap();
    let port = free_port();
    let _prometheus = Killed(
        std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ready = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < ready, "prometheus listens within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }

    let url = format!("http://127.0.0.1:{port}");
    let imported = loop {
        // Prometheus answers 503 until its TSDB is loaded.
        let out = as_root(
            dir.path(),
            &[
                "monitor",
                "import",
                "--series",
                "imported_p99_seconds",
                "--from-prometheus",
                &url,
                "--query",
                "p99_latency_seconds",
                "--since",
                "3d",
                "--step",
                "1m",
                "--json",
            ],
        );
        if out.status.success() || Instant::now() > ready {
            break succeeded(&out);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let imported: serde_json::Value = serde_json::from_str(&imported).unwrap();
    let series = imported.as_array().unwrap();
    assert_eq!(series.len(), 2, "one series per endpoint: {imported}");
    for one in series {
        let points = one["points"].as_u64().unwrap();
        // query_range at 1 m over 3 days (read in windows of at most 10,000 steps) has a
        // value at every minute of the history, and for Prometheus' 5 m look-back after.
        assert!(
            (minutes as u64..=minutes as u64 + 6).contains(&points),
            "{points} points for {minutes} minutes of history: {one}"
        );
        assert!(
            one["series"]
                .as_str()
                .unwrap()
                .starts_with("imported_p99_seconds{endpoint=")
        );
    }
    let queried = succeeded(&as_root(
        dir.path(),
        &[
            "monitor",
            "query",
            "imported_p99_seconds{endpoint=\"/quote\"}",
            "--since",
            "3d",
            "--json",
        ],
    ));
    let queried: serde_json::Value = serde_json::from_str(&queried).unwrap();
    let max = queried[0]["max"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .fold(f64::MIN, f64::max);
    assert!(
        (max - 0.079).abs() < 1e-9,
        "the /quote series keeps its own values (0.05 + 29/1000 at most): {max}"
    );
}

#[test]
fn deviations_of_imported_history_are_the_ones_the_live_system_would_have_raised() {
    let dir = common::data_dir_with_admin();
    // Four weeks of one-minute history ending an hour ago: a daily wave with 3 % noise,
    // and from day 24 at noon, two hours at 1.6 times the level.
    let now = jiff::Timestamp::now().as_second() / 60 * 60;
    let start = now - 28 * 86_400 - 3600;
    let step_start = start + 24 * 86_400 + 12 * 3600;
    let step_end = step_start + 2 * 3600;
    let mut noise_state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut noise = move || {
        noise_state ^= noise_state << 13;
        noise_state ^= noise_state >> 7;
        noise_state ^= noise_state << 17;
        (noise_state % 10_000) as f64 / 10_000.0 - 0.5
    };
    let mut csv = String::new();
    for minute in 0..28 * 1440_i64 {
        let at = start + minute * 60;
        let phase = (at % 86_400) as f64 / 86_400.0;
        let mut value = 100.0 * (1.0 + 0.4 * (phase * std::f64::consts::TAU).sin());
        if (step_start..step_end).contains(&at) {
            value *= 1.6;
        }
        value *= 1.0 + 0.06 * noise();
        let t = jiff::Timestamp::from_second(at).unwrap();
        csv.push_str(&format!("{t},{value:.4}\n"));
    }
    let file = dir.path().join("rate.csv");
    std::fs::write(&file, &csv).unwrap();
    succeeded(&as_root(
        dir.path(),
        &[
            "monitor",
            "import",
            "--series",
            "orders_rate",
            file.to_str().unwrap(),
        ],
    ));
    let rfc = |s: i64| jiff::Timestamp::from_second(s).unwrap().to_string();
    let deviations = |until: i64| -> serde_json::Value {
        let out = succeeded(&as_root(
            dir.path(),
            &[
                "baseline",
                "deviations",
                "orders_rate",
                "--since",
                &rfc(start + 14 * 86_400),
                "--until",
                &rfc(until),
                "--json",
            ],
        ));
        serde_json::from_str(&out).expect("one JSON array")
    };

    let all = deviations(now);
    let events = all.as_array().expect("an array");
    // The step is the only thing out of the ordinary in the last two weeks.
    assert_eq!(events.len(), 1, "{all}");
    let event = &events[0];
    assert_eq!(event["direction"], "above");
    let start_ms = event["start_ms"].as_i64().unwrap();
    assert!(
        (step_start * 1000..step_start * 1000 + 5 * 60_000).contains(&start_ms),
        "it starts with the step: {event}"
    );
    assert_eq!(
        event["end_ms"].as_i64(),
        Some(step_end * 1000),
        "it ends at the first minute back in the band"
    );
    assert!(event["peak_score"].as_f64().unwrap() > 4.0, "{event}");

    // Causal: three minutes into the step it has not lasted its 5 minutes yet, so a replay
    // ending there raises nothing, as the live system would not have; ten minutes in, it
    // is raised and still open.
    assert_eq!(deviations(step_start + 180), serde_json::json!([]));
    let early = deviations(step_start + 600);
    assert_eq!(early.as_array().unwrap().len(), 1, "{early}");
    assert_eq!(
        early[0]["start_ms"], event["start_ms"],
        "the same event, seen early"
    );
    assert_eq!(
        early[0]["end_ms"],
        serde_json::Value::Null,
        "still open then"
    );

    // Bad input names the flag and the fix.
    let refused = as_root(
        dir.path(),
        &[
            "baseline",
            "deviations",
            "orders_rate",
            "--since",
            "yesterday",
        ],
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--since \"yesterday\""), "{stderr}");
}
