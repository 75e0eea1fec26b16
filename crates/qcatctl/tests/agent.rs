//! `qcatctl agent` as a real process: it serves its metrics to a real Prometheus server
//! (Debian's `prometheus`), which finds the target up and every family parseable, and it
//! stops on SIGTERM with exit 0. Two agents on one real PostgreSQL: exactly one leads the
//! scheduler; kill -9 it and the other leads within the failover time, never both at once.
//! kill -9 an agent during its verification job: the next start marks the job interrupted.

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
    agent_with(dir, port, &[])
}

/// An agent on the data dir `dir` (a key file is made the first time), metrics on `port`,
/// with extra settings.
fn agent_with(dir: &Path, port: u16, env: &[(&str, String)]) -> Killed {
    let key = dir.join("master.key");
    if !key.exists() {
        let status = Command::new(env!("CARGO_BIN_EXE_qcatctl"))
            .args(["key", "init", "--to-file"])
            .arg(&key)
            .env("QCAT_DATA_DIR", dir)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_qcatctl"));
    command
        .arg("agent")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("QCAT_DATA_DIR", dir)
        .env("QCAT_MASTER_KEY_FILE", &key)
        .env("QCAT_MONITORING__PROMETHEUS_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    Killed(command.spawn().unwrap())
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

/// Whether the agent serving metrics on `port` says it leads the scheduler now (None: it
/// did not answer).
fn leads(port: u16) -> Option<bool> {
    let metrics = get(port, "/metrics")?;
    Some(metrics.contains("qcat_duty_leader{duty=\"scheduler\"} 1"))
}

/// Runs `query` on a connection pool to `url` (made and closed on one runtime).
fn on_store<T, Done>(url: &str, query: impl FnOnce(sqlx::AnyPool) -> Done) -> T
where
    Done: std::future::Future<Output = T>,
{
    sqlx::any::install_default_drivers();
    block_on(async move {
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        let result = query(pool.clone()).await;
        pool.close().await;
        result
    })
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// (member, state, started_ms) of every audit maintenance job.
fn maintenance_jobs(url: &str) -> Vec<(String, String, i64)> {
    on_store(url, |pool| async move {
        sqlx::query_as(
            "SELECT member, state, started_ms FROM jobs WHERE kind = 'audit.maintenance' ORDER BY started_ms",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    })
}

#[test]
fn two_agents_on_one_postgres_one_leads_and_a_kill_9_hands_over_within_the_failover_time() {
    let url = qcat_testkit::test_database_url();
    let failover = Duration::from_secs(3);
    let env = [
        ("QCAT_DATABASE__URL", url.clone()),
        ("QCAT_RUNTIME__FAILOVER", "3s".to_owned()),
        // A run every second makes the duty's acts visible (one job per run).
        ("QCAT_AUDIT__MAINTENANCE_SCHEDULE", "@every 1s".to_owned()),
        ("QCAT_AUDIT__MAINTENANCE_JITTER", "0s".to_owned()),
    ];
    let (dir_a, dir_b) = (qcat_testkit::temp_data_dir(), qcat_testkit::temp_data_dir());
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = agent_with(dir_a.path(), port_a, &env);
    wait_for("agent a", Duration::from_secs(30), || leads(port_a));
    let mut b = agent_with(dir_b.path(), port_b, &env);
    wait_for("agent b", Duration::from_secs(30), || leads(port_b));

    // Sampled for a while: never both, and one of them leads.
    let mut led = 0;
    let sampling = Instant::now();
    while sampling.elapsed() < Duration::from_secs(4) {
        let (la, lb) = (leads(port_a).unwrap(), leads(port_b).unwrap());
        assert!(!(la && lb), "both agents lead at once");
        led += usize::from(la || lb);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(led > 0, "nobody led the scheduler");
    let a_leads = leads(port_a).unwrap();
    let (leader, survivor_port) = if a_leads {
        (&mut a, port_b)
    } else {
        (&mut b, port_a)
    };
    // kill -9: the lease is not released; the survivor waits out the term.
    leader.0.kill().unwrap();
    leader.0.wait().unwrap();
    let killed_ms = jiff::Timestamp::now().as_millisecond();
    let killed = Instant::now();
    wait_for("the survivor to lead", Duration::from_secs(30), || {
        leads(survivor_port).unwrap().then_some(())
    });
    let handover = killed.elapsed();
    println!("handover after kill -9: {handover:?}");
    assert!(
        handover <= failover,
        "the survivor led {handover:?} after the kill; runtime.failover is {failover:?}"
    );
    // The duty's own record: runs before the kill are the dead leader's, runs after it the
    // survivor's, and their fencing tokens grew (each run was claimed under a live term).
    wait_for("a run by the survivor", Duration::from_secs(10), || {
        let jobs = maintenance_jobs(&url);
        let last = jobs.last()?;
        (last.2 > killed_ms).then_some(())
    });
    let jobs = maintenance_jobs(&url);
    let dead: Vec<_> = jobs.iter().filter(|job| job.2 <= killed_ms).collect();
    let after: Vec<_> = jobs.iter().filter(|job| job.2 > killed_ms).collect();
    assert!(
        !dead.is_empty(),
        "the first leader ran the schedule: {jobs:?}"
    );
    let dead_member = &dead[0].0;
    assert!(
        dead.iter().all(|job| &job.0 == dead_member),
        "before the kill only one member ran the duty: {jobs:?}"
    );
    assert!(
        after.iter().all(|job| &job.0 != dead_member),
        "after the kill the dead member ran nothing: {jobs:?}"
    );
}

#[test]
fn a_kill_9_during_the_verify_job_leaves_it_interrupted_after_the_restart() {
    let dir = qcat_testkit::temp_data_dir();
    let port = free_port();
    // First start makes the store; stop it, then give the trail enough entries that
    // verifying takes a while.
    let mut first = agent(dir.path(), port);
    wait_for("the agent", Duration::from_secs(30), || {
        get(port, "/metrics")
    });
    Command::new("kill")
        .args(["-TERM", &first.0.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(first.0.wait().unwrap().code(), Some(0));
    let file = dir.path().join("qcat.sqlite3");
    let url = format!("sqlite://{}", file.display());
    append_entries(&url, 200_000);

    let env = [
        ("QCAT_AUDIT__MAINTENANCE_SCHEDULE", "@every 1s".to_owned()),
        ("QCAT_AUDIT__MAINTENANCE_JITTER", "0s".to_owned()),
    ];
    let mut victim = agent_with(dir.path(), port, &env);
    let running = wait_for("a verify job under way", Duration::from_secs(60), || {
        on_store(&url, |pool| async move {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT id, done FROM jobs WHERE kind = 'audit.maintenance' AND state = 'running' AND done > 0",
            )
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten()
        })
    });
    victim.0.kill().unwrap();
    victim.0.wait().unwrap();

    let _restarted = agent_with(dir.path(), port, &[]);
    let (state, error) = wait_for(
        "the job marked interrupted",
        Duration::from_secs(30),
        || {
            let id = running.0.clone();
            on_store(&url, |pool| async move {
                let row: Option<(String, Option<String>)> =
                    sqlx::query_as("SELECT state, error FROM jobs WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&pool)
                        .await
                        .ok()
                        .flatten();
                row.filter(|(state, _)| state != "running")
            })
        },
    );
    assert_eq!(state, "interrupted", "{error:?}");
    assert!(
        error
            .unwrap_or_default()
            .contains("stopped before it ended")
    );
}

/// Appends `count` entries to the trail, chained as the writer would.
fn append_entries(url: &str, count: usize) {
    let url = url.to_owned();
    block_on(async move {
        let target = qcat_store::StoreTarget::from_setting(
            "",
            url.strip_prefix("sqlite://").unwrap().into(),
        )
        .unwrap();
        let store = qcat_store::Store::open(&target, &qcat_store::StoreOptions::default())
            .await
            .unwrap();
        let events: Vec<_> = (0..5_000)
            .map(|n| {
                qcat_audit::AuditEvent::new(
                    "bench",
                    "test.bulk",
                    format!("n:{n}"),
                    "test",
                    qcat_audit::Outcome::Ok,
                )
            })
            .collect();
        for _ in 0..count / events.len() {
            let mut tx = store.pool().begin().await.unwrap();
            qcat_audit::chain::append(&mut tx, &events).await.unwrap();
            tx.commit().await.unwrap();
        }
        store.close().await;
    });
}

#[test]
fn a_long_verify_outlives_the_command_timeout_while_it_advances() {
    // database.command_timeout_secs bounds a stall (a frozen server), not a job that is
    // moving: a verify longer than the timeout completes.
    let dir = qcat_testkit::temp_data_dir();
    let key = dir.path().join("master.key");
    let qcatctl = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_qcatctl"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("QCAT_DATA_DIR", dir.path())
            .env("QCAT_MASTER_KEY_FILE", &key);
        command
    };
    assert!(
        qcatctl()
            .args(["key", "init", "--to-file"])
            .arg(&key)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let mut add = qcatctl();
    add.args(["user", "add", "--admin", "root"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = add.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"root password 1\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    append_entries(
        &format!("sqlite://{}", dir.path().join("qcat.sqlite3").display()),
        300_000,
    );
    let started = Instant::now();
    let out = qcatctl()
        .args(["--user", "root", "audit", "verify"])
        .env("QCAT_PASSWORD", "root password 1")
        .env("QCAT_DATABASE__COMMAND_TIMEOUT_SECS", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified: u64 = stdout
        .strip_prefix("audit chain ok: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(verified > 300_000, "every entry verified: {stdout}");
    // Only meaningful if the verify did outlast the one-second deadline.
    assert!(took > Duration::from_secs(1), "the verify took {took:?}");
    println!("verify of 300 000 entries with a 1 s command timeout: {took:?}");
}
