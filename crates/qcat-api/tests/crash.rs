//! Kill -9 during a burst of audited actions: every action the process reported done (or
//! refused) has its audit entry once the console starts again, and the chain verifies.
//!
//! The test runs itself as the victim: with `QCAT_BURST_DIR` set, the same test function
//! signs in and performs actions forever, printing `done N` after each returns; the parent
//! kills it with SIGKILL mid-burst and inspects the store.

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
const TEST_NAME: &str = "killing_the_process_mid_burst_loses_no_reported_action";
/// Actions the parent waits for before it kills.
const BEFORE_KILL: usize = 60;

fn secret(text: &str) -> SecretText {
    SecretText(Secret::new(text.to_owned()))
}

async fn open_api(database_url: &str, dir: &std::path::Path) -> Api {
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
        mode: qcat_api::Mode::OneShot,
    })
    .await
    .unwrap()
}

/// The victim: rotates through a role change (committed with its entry in one transaction),
/// a named-secret change (awaited through the batching writer) and a refused sign-in
/// (spooled, stored by a later batch), reporting each when it returns.
async fn burst(dir: &str, url: &str) {
    let api = open_api(url, std::path::Path::new(dir)).await;
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
        if n % 3 == 2 {
            let refused = api
                .login(
                    &SessionSlot::new("test:burst"),
                    LoginInput {
                        username: format!("ghost-{n}"),
                        password: secret("not a password"),
                    },
                )
                .await;
            assert!(refused.is_err());
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
            .unwrap();
        } else {
            api.set_named_secret(
                &slot,
                NamedSecretInput {
                    name: format!("burst_{n}"),
                    value: secret("burst value"),
                },
            )
            .await
            .unwrap();
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
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
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
        // SIGKILL: no destructor, flush or shutdown hook runs.
        child.kill().unwrap();
        child.wait().unwrap();
        // Lines already in the pipe were reported done before the kill, too.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("done ") {
                reported.push(n.parse::<usize>().unwrap());
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
