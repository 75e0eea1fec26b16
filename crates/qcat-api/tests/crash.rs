//! Kill -9 during a burst of audited actions: every action the process reported done (or
//! refused) has its audit entry once the console starts again, and the chain verifies.
//! SIGTERM during the burst: the process stops in order with exit 0, and every reported
//! action is already stored when it exits (nothing left for the next start to replay).
//!
//! The tests run themselves as the victim: with `QCAT_BURST_DIR` set, the same test
//! function signs in and performs actions forever, printing `done N` after each returns;
//! the parent kills it (SIGKILL) or stops it (SIGTERM) mid-burst and inspects the store.

use std::io::BufRead;
use std::process::{Command, Stdio};

use qcat_api::access::{LoginInput, NewUserInput, RoleInput};
use qcat_api::audit::{AuditFilterInput, AuditQuery};
use qcat_api::secrets::{NamedSecretInput, SecretText};
use qcat_api::{Api, ApiConfig, SessionSlot};
use qcat_core::config::{Config, ConfigSources};
use qcat_core::paths::DataDir;
use qcat_core::secret::Secret;
use qcat_secrets::keys::KeyOptions;

const PASSWORD: &str = "root password 1";
const KILL_TEST: &str = "killing_the_process_mid_burst_loses_no_reported_action";
const TERM_TEST: &str = "sigterm_mid_burst_stores_every_action_before_exit_0";
/// Actions the parent waits for before it kills.
const BEFORE_KILL: usize = 60;

fn secret(text: &str) -> SecretText {
    SecretText(Secret::new(text.to_owned()))
}

async fn open_api(database_url: &str, dir: &std::path::Path) -> Api {
    open_api_as(database_url, dir, qcat_api::Mode::OneShot).await
}

async fn open_api_as(database_url: &str, dir: &std::path::Path, mode: qcat_api::Mode) -> Api {
    let key = dir.join("master.key");
    if !key.exists() {
        qcat_secrets::keys::init_key_file(&key).unwrap();
    }
    let sources = ConfigSources::environment_only([(
        "QCAT_DATABASE__URL".to_owned(),
        database_url.to_owned(),
    )]);
    Api::open(ApiConfig {
        keys: KeyOptions {
            key_file: Some(key),
            ..KeyOptions::default()
        },
        data_dir: DataDir::at(dir),
        config: Config::load_from(&sources).unwrap(),
        mode,
    })
    .await
    .unwrap()
}

/// The victim: rotates through a role change (committed with its entry in one transaction),
/// a named-secret change (awaited through the batching writer) and a refused sign-in
/// (spooled, stored by a later batch), reporting each when it returns.
async fn burst(dir: &str, url: &str) {
    // Run as the agent does: its ordered shutdown on SIGTERM, exit 0.
    let api = open_api_as(url, std::path::Path::new(dir), qcat_api::Mode::Agent).await;
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    let stopping = api.clone();
    tokio::spawn(async move {
        terminate.recv().await;
        stopping.close().await;
        println!("closed");
        std::process::exit(0);
    });
    let slot = SessionSlot::new("test:burst");
    api.login(
        &slot,
        LoginInput {
            username: "root".into(),
            password: secret(PASSWORD),
        },
    )
    .await
    .unwrap();
    for n in 0.. {
        // Only what returned as done (or as a recorded refusal) is reported; once the
        // shutdown has begun, actions fail ("stopping") and the burst ends.
        let reported = if n % 3 == 2 {
            let refused = api
                .login(
                    &SessionSlot::new("test:burst"),
                    LoginInput {
                        username: format!("ghost-{n}"),
                        password: secret("not a password"),
                    },
                )
                .await;
            matches!(refused, Err(err) if err.code == qcat_api::ErrorCode::Unauthenticated)
        } else if n % 3 == 0 {
            api.save_role(
                &slot,
                RoleInput {
                    name: format!("burst-{n}"),
                    description: String::new(),
                    grants: vec!["backup:view".into()],
                    parents: vec![],
                    create: true,
                    seen_version: None,
                },
            )
            .await
            .is_ok()
        } else {
            api.set_named_secret(
                &slot,
                NamedSecretInput {
                    name: format!("burst_{n}"),
                    value: secret("burst value"),
                },
            )
            .await
            .is_ok()
        };
        if !reported {
            std::future::pending::<()>().await;
        }
        println!("done {n}");
    }
}

#[tokio::test]
async fn killing_the_process_mid_burst_loses_no_reported_action() {
    if let (Ok(dir), Ok(url)) = (
        std::env::var("QCAT_BURST_DIR"),
        std::env::var("QCAT_BURST_URL"),
    ) {
        return burst(&dir, &url).await;
    }
    burst_and_stop(KILL_TEST, Stop::Kill).await;
}

#[tokio::test]
async fn sigterm_mid_burst_stores_every_action_before_exit_0() {
    if let (Ok(dir), Ok(url)) = (
        std::env::var("QCAT_BURST_DIR"),
        std::env::var("QCAT_BURST_URL"),
    ) {
        return burst(&dir, &url).await;
    }
    burst_and_stop(TERM_TEST, Stop::Term).await;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGKILL: no destructor, flush or shutdown hook runs.
    Kill,
    /// SIGTERM: the ordered shutdown.
    Term,
}

async fn burst_and_stop(test_name: &str, stop: Stop) {
    for url in [String::new(), qcat_testkit::test_database_url()] {
        let dir = qcat_testkit::temp_data_dir();
        let api = open_api(&url, dir.path()).await;
        let admin = SessionSlot::new("test:admin");
        api.create_first_admin(
            &admin,
            NewUserInput {
                username: "root".into(),
                display_name: String::new(),
                password: secret(PASSWORD),
                roles: vec![],
            },
        )
        .await
        .unwrap();

        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
            .env("QCAT_BURST_DIR", dir.path())
            .env("QCAT_BURST_URL", &url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reported = Vec::new();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        while reported.len() < BEFORE_KILL {
            let line = lines
                .next()
                .expect("the victim keeps reporting until killed")
                .unwrap();
            if let Some(n) = line.strip_prefix("done ") {
                reported.push(n.parse::<usize>().unwrap());
            }
        }
        let exit = match stop {
            Stop::Kill => {
                child.kill().unwrap();
                child.wait().unwrap()
            }
            Stop::Term => {
                let status = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(status.success());
                child.wait().unwrap()
            }
        };
        // Lines already in the pipe were reported done before the kill, too.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("done ") {
                reported.push(n.parse::<usize>().unwrap());
            }
        }

        if stop == Stop::Term {
            assert_eq!(exit.code(), Some(0), "SIGTERM ends the victim with exit 0");
            // Before any other process could replay a spool: everything is stored, and the
            // victim left no spooled event behind.
            let stored = count_reported(&url, dir.path(), &reported).await;
            assert_eq!(
                stored,
                reported.len(),
                "every reported action is stored at exit"
            );
            // What may remain spooled are only refusals submitted after the queue closed:
            // their callers were told they were not stored (so never reported), and the
            // next start stores them.
            let spool = dir.path().join("audit-spool");
            for entry in std::fs::read_dir(&spool).unwrap().filter_map(Result::ok) {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                for line in text.lines().filter(|line| !line.trim().is_empty()) {
                    let event: serde_json::Value = serde_json::from_str(line).unwrap();
                    let target = event["target"].as_str().unwrap_or_default();
                    let reported_target = reported.iter().any(|n| {
                        target == format!("user:ghost-{n}")
                            || target == format!("role:burst-{n}")
                            || target == format!("secret:burst_{n}")
                    });
                    assert!(
                        !reported_target,
                        "a reported action was left in the spool: {line}"
                    );
                }
            }
        }
        // A console starting after the kill stores what the victim had spooled.
        api.close().await;
        let api = open_api(&url, dir.path()).await;
        let admin = SessionSlot::new("test:admin");
        api.login(
            &admin,
            LoginInput {
                username: "root".into(),
                password: secret(PASSWORD),
            },
        )
        .await
        .unwrap();
        let job = api.audit_verify(&admin).await.unwrap();
        let ended = api.job_wait(&job.id).await.unwrap();
        let report: qcat_api::audit::AuditVerifyReport =
            serde_json::from_value(ended.result.expect("the verify job finished")).unwrap();
        assert!(
            report.ok,
            "the chain breaks after the kill: {:?}",
            report.problem
        );
        let entries = api
            .audit_page(
                &admin,
                AuditQuery {
                    filter: AuditFilterInput::default(),
                    before_seq: None,
                    limit: Some(10_000),
                },
            )
            .await
            .unwrap();
        for n in &reported {
            let (action, target, outcome) = match n % 3 {
                0 => ("rbac.role.create", format!("role:burst-{n}"), "ok"),
                1 => ("secrets.set", format!("secret:burst_{n}"), "ok"),
                _ => ("auth.login", format!("user:ghost-{n}"), "denied"),
            };
            let found = entries
                .iter()
                .filter(|e| e.action == action && e.target == target && e.outcome == outcome)
                .count();
            assert_eq!(
                found, 1,
                "action {n} was reported but has {found} audit entries"
            );
        }
        api.close().await;
    }
}

/// How many of the reported actions have their entry in the store, read straight from the
/// database (no console opened, so no spool is replayed).
async fn count_reported(url: &str, dir: &std::path::Path, reported: &[usize]) -> usize {
    sqlx::any::install_default_drivers();
    let url = if url.is_empty() {
        format!("sqlite://{}", dir.join("qcat.sqlite3").display())
    } else {
        url.to_owned()
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT action, target, result FROM audit_log")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    reported
        .iter()
        .filter(|n| {
            let (action, target, outcome) = match *n % 3 {
                0 => ("rbac.role.create", format!("role:burst-{n}"), "ok"),
                1 => ("secrets.set", format!("secret:burst_{n}"), "ok"),
                _ => ("auth.login", format!("user:ghost-{n}"), "denied"),
            };
            rows.iter()
                .any(|(a, t, o)| a == action && *t == target && o == outcome)
        })
        .count()
}
