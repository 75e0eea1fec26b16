//! `cargo run --release -p bench-access-audit [-- --entries N]`: see Cargo.toml. Prints one
//! line per measurement with our number, the alternative's, and the ratio.

use std::time::{Duration, Instant};

use qcat_access::catalog::find;
use qcat_access::control::{AccessControl, AuthSettings, NewUser, RoleSpec};
use qcat_access::throttle::ThrottleSettings;
use qcat_audit::query::{AuditFilter, ExportFormat, count, export, page};
use qcat_audit::{AuditEvent, AuditWriter, Outcome, WriterOptions, chain};
use qcat_store::{Store, StoreOptions, StoreTarget};

fn report(
    what: &str,
    ours: f64,
    theirs: f64,
    unit: &str,
    alternative: &str,
    higher_is_better: bool,
) {
    let ratio = if higher_is_better {
        ours / theirs
    } else {
        theirs / ours
    };
    println!(
        "{what:<58} {ours:>12.1} {unit:<9} vs {theirs:>12.1} {unit:<9} ({alternative}): {ratio:.1}x"
    );
}

fn event(n: usize) -> AuditEvent {
    AuditEvent::new(
        format!("user{}", n % 50),
        ["auth.login", "rbac.role.update", "config.set", "backup.run"][n % 4],
        format!("role:r{}", n % 1000),
        "bench:host",
        if n.is_multiple_of(10) {
            Outcome::Denied
        } else {
            Outcome::Ok
        },
    )
    .change(
        Some(serde_json::json!({ "grants": ["backup:view"] })),
        Some(serde_json::json!({ "grants": ["backup:view", "backup:restore"] })),
    )
}

async fn open(target: &StoreTarget) -> Store {
    Store::open(
        target,
        &StoreOptions {
            max_connections: 16,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap()
}

/// Cached check against the store lookup a script would do on each call.
async fn permission_checks(store: &Store) {
    let writer = AuditWriter::start(
        store.clone(),
        WriterOptions::default(),
        None,
        &qcat_runtime::Tasks::default(),
    );
    let settings = AuthSettings {
        session_idle: Duration::from_secs(3600),
        session_max: Duration::from_secs(3600),
        throttle: ThrottleSettings::uniform(5, Duration::from_secs(900), Duration::from_secs(60)),
    };
    let access = AccessControl::open(
        store.clone(),
        writer,
        settings,
        &qcat_runtime::Tasks::default(),
    )
    .await
    .unwrap();
    access
        .create_first_admin("root", "", "bench password", "bench")
        .await
        .unwrap();
    let (root, _) = access
        .login("root", "bench password", "bench", "bench")
        .await
        .unwrap();
    let proof = access
        .authorize(Some(&root), Some("rbac:edit"), "bench", "bench")
        .await
        .unwrap();
    access
        .save_role(
            &proof,
            RoleSpec {
                name: "restorer".into(),
                description: String::new(),
                grants: vec!["backup:restore".into()],
                parents: vec!["operator".into()],
            },
            true,
            None,
        )
        .await
        .unwrap();
    access
        .create_user(
            &proof,
            NewUser {
                username: "rita".into(),
                display_name: String::new(),
                password: "bench password".into(),
                roles: vec!["restorer".into()],
            },
        )
        .await
        .unwrap();
    let (rita, _) = access
        .login("rita", "bench password", "bench", "bench")
        .await
        .unwrap();
    let permission = find("backup:view").unwrap(); // inherited two levels up
    let checks = 1_000_000;
    let started = Instant::now();
    for _ in 0..checks {
        assert!(access.check(Some(&rita), Some(permission)).is_ok());
    }
    let cached_ns = started.elapsed().as_nanos() as f64 / f64::from(checks);

    let lookups = 2_000;
    let started = Instant::now();
    for _ in 0..lookups {
        let grants: Vec<String> = sqlx::query_scalar(
            "WITH RECURSIVE held(role) AS ( \
               SELECT ur.role FROM user_roles ur JOIN users u ON u.id = ur.user_id \
               WHERE u.username = $1 AND u.enabled = 1 \
               UNION SELECT rp.parent FROM role_parents rp JOIN held h ON rp.role = h.role) \
             SELECT g.pattern FROM role_grants g JOIN held h ON g.role = h.role",
        )
        .bind("rita")
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert!(grants.iter().any(|grant| grant == "backup:view"));
    }
    let lookup_ns = started.elapsed().as_nanos() as f64 / f64::from(lookups);
    report(
        &format!("permission check, cached ({})", store.backend()),
        cached_ns,
        lookup_ns,
        "ns/check",
        "recursive SQL per check",
        false,
    );
}

/// How long a refused sign-in takes for a name that does not exist against one that does
/// (wrong password): equal, or the time tells an attacker which names exist. Measured from
/// a fresh process state (the first unknown name included) over alternating attempts.
async fn refusal_timing(store: &Store) {
    let writer = AuditWriter::start(
        store.clone(),
        WriterOptions::default(),
        None,
        &qcat_runtime::Tasks::default(),
    );
    let settings = AuthSettings {
        session_idle: Duration::from_secs(3600),
        session_max: Duration::from_secs(3600),
        throttle: ThrottleSettings::uniform(
            100_000,
            Duration::from_secs(900),
            Duration::from_secs(60),
        ),
    };
    let access = AccessControl::open(
        store.clone(),
        writer,
        settings,
        &qcat_runtime::Tasks::default(),
    )
    .await
    .unwrap();
    let time = |name: &'static str| {
        let access = access.clone();
        async move {
            let started = Instant::now();
            assert!(
                access
                    .login(name, "not the password", "bench", "bench")
                    .await
                    .is_err()
            );
            started.elapsed().as_secs_f64() * 1000.0
        }
    };
    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    for _ in 0..25 {
        unknown.push(time("nobody-here").await);
        known.push(time("rita").await);
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let first_unknown = unknown[0];
    report(
        &format!("refused sign-in, unknown name ({})", store.backend()),
        median(&mut unknown),
        median(&mut known),
        "ms",
        "known name, wrong password",
        false,
    );
    println!(
        "{:<58} {first_unknown:>12.1} ms (the process's first unknown name)",
        ""
    );
}

/// Events per second through the batching writer from 32 concurrent callers that each wait
/// for durability, against one autocommitted INSERT per event.
async fn ingest(store: &Store, events: usize) {
    let writer = AuditWriter::start(
        store.clone(),
        WriterOptions::default(),
        None,
        &qcat_runtime::Tasks::default(),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..32 {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            for n in (caller..events).step_by(32) {
                writer.record(event(n)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let ours = events as f64 / started.elapsed().as_secs_f64();

    // async_mode: callers wait only for the local spool's fsync; the batch is stored later.
    let spool_dir = qcat_testkit::temp_data_dir();
    let spooled = AuditWriter::start(
        store.clone(),
        WriterOptions::default(),
        Some(qcat_audit::spool::Spool::open(spool_dir.path()).unwrap()),
        &qcat_runtime::Tasks::default(),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..32 {
        let writer = spooled.clone();
        tasks.push(tokio::spawn(async move {
            for n in (caller..events).step_by(32) {
                writer.submit(event(n)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    spooled.flush().await.unwrap();
    let ours_spooled = events as f64 / started.elapsed().as_secs_f64();

    sqlx::query("CREATE TABLE IF NOT EXISTS naive_log (at_ms BIGINT, actor TEXT, action TEXT, target TEXT, source TEXT, result TEXT, before_json TEXT, after_json TEXT)")
        .execute(store.pool())
        .await
        .unwrap();
    let naive_events = events / 4;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in (caller..naive_events).step_by(32) {
                let e = event(n);
                sqlx::query("INSERT INTO naive_log VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(e.at_ms)
                    .bind(e.actor)
                    .bind(e.action)
                    .bind(e.target)
                    .bind(e.source)
                    .bind(e.outcome.as_str())
                    .bind(e.before.map(|v| v.to_string()))
                    .bind(e.after.map(|v| v.to_string()))
                    .execute(store.pool())
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let theirs = naive_events as f64 / started.elapsed().as_secs_f64();
    report(
        &format!("audit ingest, durable, 32 callers ({})", store.backend()),
        ours,
        theirs,
        "events/s",
        "INSERT per event, unchained",
        true,
    );
    report(
        &format!(
            "audit ingest, spooled (async_mode), 32 callers ({})",
            store.backend()
        ),
        ours_spooled,
        theirs,
        "events/s",
        "INSERT per event, unchained",
        true,
    );
}

/// Fills the log to `total` entries in large chained transactions.
async fn fill(store: &Store, total: usize) {
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let mut n = usize::try_from(existing).unwrap();
    while n < total {
        let batch: Vec<AuditEvent> = (n..(n + 5_000).min(total)).map(event).collect();
        let mut tx = store.pool().begin().await.unwrap();
        chain::append(&mut tx, &batch).await.unwrap();
        tx.commit().await.unwrap();
        n += batch.len();
    }
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

async fn timed<F, Fut, T>(runs: usize, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut samples = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let _ = f().await;
        samples.push(started.elapsed());
    }
    median_ms(samples)
}

fn shell_ms(runs: usize, script: &str) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let status = std::process::Command::new("sh")
            .args(["-c", script])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success() || status.code() == Some(1), "{script}");
        samples.push(started.elapsed());
    }
    median_ms(samples)
}

/// Queries and verification over `total` entries, against grep and sha256sum over the same
/// entries exported as JSON lines (a log file is what a pile of scripts would keep).
async fn over_a_million(store: &Store, total: usize, scratch: &std::path::Path) {
    let started = Instant::now();
    fill(store, total).await;
    println!(
        "-- {total} entries in the {} audit log (filled in {:.1} s)",
        store.backend(),
        started.elapsed().as_secs_f64()
    );
    let file = scratch.join(format!("audit-{}.json", store.backend()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    export(store, &AuditFilter::default(), ExportFormat::Json, &mut out)
        .await
        .unwrap();
    drop(out);
    let path = file.display();
    let backend = store.backend();

    let everything = AuditFilter::default();
    let newest = timed(20, || page(store, &everything, None, 200)).await;
    let grep_tail = shell_ms(5, &format!("tail -n 200 {path}"));
    report(
        &format!("audit newest page of 200 ({backend})"),
        newest,
        grep_tail,
        "ms",
        "tail -n 200 on the file",
        false,
    );

    let deep = timed(20, || {
        page(store, &everything, Some((total / 2) as i64), 200)
    })
    .await;
    let sed_mid = shell_ms(
        5,
        &format!("sed -n '{},{}p' {path}", total / 2, total / 2 + 200),
    );
    report(
        &format!("audit page of 200 in the middle ({backend})"),
        deep,
        sed_mid,
        "ms",
        "sed -n range on the file",
        false,
    );

    let by_user = AuditFilter {
        actor: Some("user7".into()),
        action: Some("rbac.".into()),
        ..AuditFilter::default()
    };
    let filtered = timed(20, || page(store, &by_user, None, 200)).await;
    let grep_user = shell_ms(
        5,
        &format!("grep '\"actor\":\"user7\"' {path} | grep '\"action\":\"rbac\\.' | tail -n 200"),
    );
    report(
        &format!("audit filtered page (user + action prefix) ({backend})"),
        filtered,
        grep_user,
        "ms",
        "grep | grep | tail",
        false,
    );

    let counted = timed(5, || count(store, &by_user)).await;
    let grep_count = shell_ms(
        5,
        &format!("grep '\"actor\":\"user7\"' {path} | grep -c '\"action\":\"rbac\\.'"),
    );
    report(
        &format!("audit filtered count ({backend})"),
        counted,
        grep_count,
        "ms",
        "grep | grep -c",
        false,
    );

    let verify = timed(3, || qcat_audit::verify::verify(store)).await;
    let sha = shell_ms(3, &format!("sha256sum {path}"));
    report(
        &format!("audit verify, whole chain ({backend})"),
        verify,
        sha,
        "ms",
        "sha256sum of the file (no chain)",
        false,
    );
    let _ = std::fs::remove_file(&file);
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut total = 1_000_000;
    while let Some(arg) = args.next() {
        if arg == "--entries" {
            total = args
                .next()
                .and_then(|n| n.parse().ok())
                .expect("--entries N");
        }
    }
    let scratch = qcat_testkit::temp_data_dir();
    let sqlite = open(&StoreTarget::Sqlite(scratch.path().join("bench.sqlite3"))).await;
    // Durability costs are what is compared: a cluster that syncs, unlike the test server.
    let postgres = open(
        &StoreTarget::from_setting(&qcat_testkit::durable_database_url(), "unused".into()).unwrap(),
    )
    .await;
    let fsync: String = sqlx::query_scalar("SELECT current_setting('fsync')")
        .fetch_one(postgres.pool())
        .await
        .unwrap();
    println!("-- SQLite: WAL, synchronous=FULL; PostgreSQL: fsync={fsync}, synchronous_commit=on");
    for store in [&sqlite, &postgres] {
        permission_checks(store).await;
        refusal_timing(store).await;
    }
    for store in [&sqlite, &postgres] {
        ingest(store, 40_000).await;
    }
    for store in [&sqlite, &postgres] {
        if total > 0 {
            over_a_million(store, total, scratch.path()).await;
        }
    }
}
