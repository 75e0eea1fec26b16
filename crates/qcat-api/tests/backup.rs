//! Backups on the agent's /metrics: after a backup and a restore through the API, the
//! repository's summary and this process's runs are there under the documented names.

use qcat_api::access::{LoginInput, NewUserInput};
use qcat_api::backup::{BackupPolicyInput, BackupRestoreInput, BackupRunInput};
use qcat_api::monitor::TargetInput;
use qcat_api::secrets::SecretText;
use qcat_api::{Api, ApiConfig, SessionSlot};
use qcat_core::config::{Config, ConfigSources, UserFile};
use qcat_core::paths::DataDir;
use qcat_core::secret::Secret;
use qcat_secrets::keys::KeyOptions;

const PASSWORD: &str = "backup test password 1";

async fn open(dir: &std::path::Path, env: &[(&str, &str)]) -> Api {
    let sources = ConfigSources::environment_only(
        env.iter()
            .map(|(key, value)| (key.to_string(), value.to_string())),
    );
    open_with(dir, sources).await
}

async fn open_with(dir: &std::path::Path, sources: ConfigSources) -> Api {
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("master.key");
    qcat_secrets::keys::init_key_file(&key).unwrap();
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

/// The value of the first sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_and_a_restore_show_on_the_metrics_endpoint() {
    let source_url = qcat_testkit::test_database_url();
    let out = std::process::Command::new("psql")
        .args([
            &source_url,
            "-q",
            "-c",
            "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dir = qcat_testkit::temp_data_dir();
    let api = open(dir.path(), &[]).await;
    let slot = admin(&api).await;
    api.monitor_target_save(
        &slot,
        TargetInput {
            name: "db".into(),
            kind: "postgres".into(),
            url: source_url.clone(),
            password: None,
            environment: Some("staging".into()),
            interval_ms: 5000,
            timeout_ms: None,
            queries: Default::default(),
            seen_version: None,
        },
    )
    .await
    .unwrap();
    let before = api.metrics_text();
    assert!(
        !before.contains("qcat_backups "),
        "no repository yet, no summary"
    );
    let job = api
        .backup_run(
            &slot,
            BackupRunInput {
                kind: "full".into(),
                sources: vec!["db".into()],
                label: None,
            },
        )
        .await
        .unwrap();
    let ended = api.job_wait(&job.id).await.unwrap();
    assert_eq!(ended.error, None);
    let copy = format!("{}_copy", source_url);
    let restore = api
        .backup_restore(
            &slot,
            BackupRestoreInput {
                id: ended.result.unwrap()["id"].as_str().unwrap().to_owned(),
                source: "db".into(),
                destination: copy,
                confirm: None,
                jobs: Some(1),
            },
        )
        .await
        .unwrap();
    let restored = api.job_wait(&restore.id).await.unwrap();
    assert_eq!(restored.error, None);

    let text = api.metrics_text();
    assert_eq!(sample(&text, "qcat_backups "), 1.0);
    assert_eq!(sample(&text, "qcat_backup_runs_total{outcome=\"ok\"}"), 1.0);
    assert_eq!(
        sample(&text, "qcat_restore_runs_total{outcome=\"ok\"}"),
        1.0
    );
    assert!(sample(&text, "qcat_restore_last_duration_seconds") > 0.0);
    assert!(
        sample(&text, "qcat_backup_newest_age_seconds{source=\"db\"}") < 120.0,
        "the backup is minutes old at most"
    );
    assert!(sample(&text, "qcat_backup_last_logical_bytes{type=\"full\"}") > 0.0);
    assert!(
        sample(&text, "qcat_backup_last_dedup_ratio{type=\"full\"}") > 1.0,
        "a dump compresses"
    );
    assert!(sample(&text, "qcat_backup_repository_size_bytes") > 0.0);
    // A verify of everything covers the whole repository.
    assert_eq!(
        sample(&text, "qcat_backup_verify_coverage_ratio"),
        0.0,
        "not verified yet"
    );
    let verify = api
        .backup_verify(
            &slot,
            qcat_api::backup::BackupVerifyInput {
                ids: vec![],
                rolling_budget_ms: None,
            },
        )
        .await
        .unwrap();
    api.job_wait(&verify.id).await.unwrap();
    assert_eq!(
        sample(&api.metrics_text(), "qcat_backup_verify_coverage_ratio"),
        1.0
    );
    api.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_takes_backups_of_the_configured_sources_and_expires_after_them() {
    let source_url = qcat_testkit::test_database_url();
    let dir = qcat_testkit::temp_data_dir();
    let api = open(
        dir.path(),
        &[
            ("QCAT_BACKUP__SOURCES", "db"),
            ("QCAT_BACKUP__SCHEDULE_FULL", "@every 3s"),
            ("QCAT_BACKUP__KEEP_FULL", "1"),
        ],
    )
    .await;
    let slot = admin(&api).await;
    api.monitor_target_save(
        &slot,
        TargetInput {
            name: "db".into(),
            kind: "postgres".into(),
            url: source_url,
            password: None,
            environment: Some("staging".into()),
            interval_ms: 5000,
            timeout_ms: None,
            queries: Default::default(),
            seen_version: None,
        },
    )
    .await
    .unwrap();
    // The agent leads the scheduler: scheduled fulls arrive, and after each one retention
    // (keep_full = 1) leaves only the newest.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut taken = std::collections::BTreeSet::new();
    while std::time::Instant::now() < deadline && taken.len() < 2 {
        for backup in api.backup_list(&slot).await.unwrap() {
            assert_eq!(backup.label, "scheduled full");
            taken.insert(backup.id);
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    if taken.len() < 2 {
        let jobs = api.jobs_recent(&slot).await.unwrap();
        let schedules = api.schedules_list(&slot).await.unwrap();
        panic!(
            "two scheduled fulls within a minute: {taken:?}; jobs {jobs:?}; schedules {schedules:?}"
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let listed = api.backup_list(&slot).await.unwrap();
        if listed.len() == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retention after the scheduled backup keeps one full: {}",
            listed.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let entries = api
        .audit_page(
            &slot,
            qcat_api::audit::AuditQuery {
                filter: qcat_api::audit::AuditFilterInput {
                    actor: Some("scheduler".into()),
                    ..Default::default()
                },
                before_seq: None,
                limit: Some(50),
            },
        )
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"backup.run") && actions.contains(&"backup.expire"),
        "{actions:?}"
    );
    api.close().await;
}

fn policy(sources: &[&str], keep_full: u32, schedule_full: &str) -> BackupPolicyInput {
    BackupPolicyInput {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        keep_full,
        keep_age: "0s".into(),
        schedule_full: schedule_full.into(),
        schedule_diff: String::new(),
        schedule_incr: String::new(),
        schedule_verify: String::new(),
        schedule_drill: String::new(),
        verify_budget: "10m".into(),
        rto: "45m".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_saved_in_the_window_is_checked_written_audited_and_scheduled_without_a_restart() {
    let dir = qcat_testkit::temp_data_dir();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "# the operator's own comment\n[backup]\nkeep_full = 7\n",
    )
    .unwrap();
    let mut sources =
        ConfigSources::environment_only([("QCAT_BACKUP__RTO".to_string(), "45m".to_string())]);
    sources.user_file = Some(UserFile {
        path: file.clone(),
        required: true,
    });
    let api = open_with(dir.path(), sources).await;
    let slot = admin(&api).await;
    api.monitor_target_save(
        &slot,
        TargetInput {
            name: "db".into(),
            kind: "postgres".into(),
            url: qcat_testkit::test_database_url(),
            password: None,
            environment: Some("staging".into()),
            interval_ms: 5000,
            timeout_ms: None,
            queries: Default::default(),
            seen_version: None,
        },
    )
    .await
    .unwrap();

    let shown = api.backup_policy(&slot).await.unwrap();
    assert_eq!(shown.keep_full, 7, "the file's value is the one in force");
    assert!(
        shown
            .locked
            .iter()
            .any(|lock| lock.key == "backup.rto" && lock.variable == "QCAT_BACKUP__RTO"),
        "a key the environment sets is reported locked, with its variable: {:?}",
        shown.locked
    );
    assert!(
        shown
            .schedules
            .iter()
            .all(|s| s.spec.is_empty() && s.next_ms.is_none())
    );

    // Wrong fields are refused, each named, and the file is left as it was.
    let before = std::fs::read_to_string(&file).unwrap();
    let mut bad_cron = policy(&["db"], 7, "");
    bad_cron.schedule_incr = "every day".into();
    let err = api.backup_policy_save(&slot, bad_cron).await.unwrap_err();
    assert!(
        err.message.contains("backup.schedule_incr"),
        "a bad schedule names its key: {}",
        err.message
    );
    let err = api
        .backup_policy_save(&slot, policy(&["nope"], 7, ""))
        .await
        .unwrap_err();
    assert!(
        err.message.contains("nope") && err.message.contains("sources"),
        "an unknown source is named: {}",
        err.message
    );
    let mut locked = policy(&["db"], 7, "");
    locked.rto = "10m".into();
    let err = api.backup_policy_save(&slot, locked).await.unwrap_err();
    assert!(
        err.message.contains("QCAT_BACKUP__RTO"),
        "changing a key the environment sets says which variable to unset: {}",
        err.message
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "refused saves write nothing"
    );

    // A valid policy: written in one go (the comment kept), and scheduled at once.
    let saved = api
        .backup_policy_save(&slot, policy(&["db"], 1, "@every 2s"))
        .await
        .unwrap();
    assert_eq!(saved.keep_full, 1);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("# the operator's own comment")
            && text.contains("keep_full = 1")
            && text.contains("schedule_full = \"@every 2s\"")
            && text.contains("sources = [\"db\"]"),
        "the file holds the policy and keeps its comments:\n{text}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let listed = api.backup_list(&slot).await.unwrap();
        if listed.iter().any(|b| b.label == "scheduled full") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the saved schedule runs without a restart; schedules {:?}",
            api.schedules_list(&slot).await.unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let full = api
        .backup_policy(&slot)
        .await
        .unwrap()
        .schedules
        .into_iter()
        .find(|s| s.kind == "full")
        .unwrap();
    assert!(full.next_ms.is_some(), "the schedule shows its next run");

    // Turned off again: the scheduler drops it.
    api.backup_policy_save(&slot, policy(&["db"], 1, ""))
        .await
        .unwrap();
    let names: Vec<String> = api
        .schedules_list(&slot)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(
        !names.iter().any(|name| name == "backup-full"),
        "an emptied schedule is gone: {names:?}"
    );

    let entries = api
        .audit_page(
            &slot,
            qcat_api::audit::AuditQuery {
                filter: qcat_api::audit::AuditFilterInput {
                    action: Some("backup.policy".into()),
                    ..Default::default()
                },
                before_seq: None,
                limit: Some(50),
            },
        )
        .await
        .unwrap();
    let outcomes: Vec<&str> = entries.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "ok").count(),
        2,
        "both saves are audited: {outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o != "ok").count(),
        3,
        "and the three refusals: {outcomes:?}"
    );
    let changed = entries
        .iter()
        .find(|e| e.outcome == "ok" && e.after.as_deref().is_some_and(|a| a.contains("@every 2s")))
        .expect("the save's after holds the schedule");
    assert!(
        changed
            .before
            .as_deref()
            .is_some_and(|b| b.contains("\"backup.keep_full\":\"7\"")),
        "with what it replaced: {:?}",
        changed.before
    );
    api.close().await;
}
