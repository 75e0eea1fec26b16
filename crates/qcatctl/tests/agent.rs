//! `qcatctl agent` as a real process: it serves its metrics to a real Prometheus server
//! (Debian's `prometheus`), which finds the target up and every family parseable, and it
//! stops on SIGTERM with exit 0.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on now (bound and released; the window for a race is tiny).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path` from 127.0.0.1:`port` over HTTP/1.0; the body, or None while nothing answers.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.")
        .then(|| body.to_owned())
        .filter(|_| head.contains(" 200 "))
}

fn wait_for<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(started.elapsed() < within, "{what} not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent(dir: &Path, port: u16) -> Killed {
    let key = dir.join("master.key");
    let status = Command::new(env!("CARGO_BIN_EXE_qcatctl"))
        .args(["key", "init", "--to-file"])
        .arg(&key)
        .env("QCAT_DATA_DIR", dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let child = Command::new(env!("CARGO_BIN_EXE_qcatctl"))
        .arg("agent")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("QCAT_DATA_DIR", dir)
        .env("QCAT_MASTER_KEY_FILE", &key)
        .env("QCAT_MONITORING__PROMETHEUS_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Killed(child)
}

#[test]
fn a_real_prometheus_scrapes_the_agent_and_sigterm_stops_it_with_exit_0() {
    let dir = qcat_testkit::temp_data_dir();
    let port = free_port();
    let mut agent = agent(dir.path(), port);
    let metrics = wait_for("the agent's metrics", Duration::from_secs(30), || {
        get(port, "/metrics")
    });
    // Our own check of the exposition: build info, the audit families, task health.
    for family in [
        "qcat_build_info{",
        "# TYPE qcat_audit_events counter",
        "# TYPE qcat_audit_processing_latency_seconds histogram",
        "qcat_task_up{task=\"audit-writer\",stage=\"audit\"} 1",
        "qcat_duty_leader{duty=\"scheduler\"}",
        "# EOF",
    ] {
        assert!(
            metrics.contains(family),
            "{family} missing from:\n{metrics}"
        );
    }

    // A real Prometheus, scraping every second.
    let prometheus_port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: qcat-agent\n    static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n"
        ),
    )
    .unwrap();
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is installed (scripts/setup.sh installs the Debian package)");
    let _prometheus = Killed(prometheus);
    let target = wait_for(
        "Prometheus to scrape the agent",
        Duration::from_secs(60),
        || {
            let body = get(prometheus_port, "/api/v1/targets")?;
            let targets: serde_json::Value = serde_json::from_str(&body).ok()?;
            let target = targets["data"]["activeTargets"][0].clone();
            (target["health"] == "up").then_some(target)
        },
    );
    // Up, and nothing it could not parse (a bad family fails the whole scrape).
    assert_eq!(target["lastError"], "", "{target}");
    let query = wait_for("the build info series", Duration::from_secs(30), || {
        let body = get(prometheus_port, "/api/v1/query?query=qcat_build_info")?;
        let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = answer["data"]["result"].as_array()?.clone();
        (!result.is_empty()).then_some(result)
    });
    assert_eq!(query[0]["value"][1], "1", "{query:?}");
    assert_eq!(query[0]["metric"]["mode"], "agent");

    // SIGTERM: an ordered stop, exit 0.
    let pid = agent.0.id();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = agent.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the agent did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    agent
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(exit.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM: stopping"), "{stderr}");
}
