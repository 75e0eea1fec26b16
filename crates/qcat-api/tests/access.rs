//! Access control through the API, on SQLite and on a real PostgreSQL: every registered
//! command is guarded and audited, escalation attempts are refused and audited, sign-in is
//! throttled, sessions expire, and a change made by one process reaches another within a
//! second.

use std::time::{Duration, Instant};

use qcat_api::access::{
    LoginInput, NewUserInput, PasswordInput, RoleChange, RoleInput, SessionView,
};
use qcat_api::audit::{AuditEntryView, AuditFilterInput, AuditQuery};
use qcat_api::commands::{Access, COMMANDS};
use qcat_api::logs::{FrontendLog, LogQuery};
use qcat_api::secrets::{NamedSecretInput, SecretText};
use qcat_api::{Api, ApiConfig, ApiError, SessionSlot};
use qcat_core::ErrorCode;
use qcat_core::config::{Config, ConfigSources, UserFile};
use qcat_core::paths::DataDir;
use qcat_core::secret::Secret;
use qcat_secrets::keys::KeyOptions;

const ADMIN_PASSWORD: &str = "root password 1";
const USER_PASSWORD: &str = "user password 1";

fn secret(text: &str) -> SecretText {
    SecretText(Secret::new(text.to_owned()))
}

/// An API on `database_url` ("" = SQLite in `dir`), with extra `QCAT_` variables.
async fn open_api(database_url: &str, dir: &std::path::Path, vars: &[(&str, &str)]) -> Api {
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("master.key");
    if !key.exists() {
        qcat_secrets::keys::init_key_file(&key).unwrap();
    }
    let mut env = vec![("QCAT_DATABASE__URL".to_owned(), database_url.to_owned())];
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let mut sources = ConfigSources::environment_only(env);
    // set_setting writes here, never to the platform config folder.
    sources.user_file = Some(UserFile {
        path: dir.join("config.toml"),
        required: false,
    });
    Api::open(ApiConfig {
        keys: KeyOptions {
            key_file: Some(key),
            ..KeyOptions::default()
        },
        data_dir: DataDir::at(dir),
        config: Config::load_from(&sources).expect("valid test config"),
        mode: qcat_api::Mode::OneShot,
    })
    .await
    .unwrap()
}

/// Runs `suite` against an API on SQLite, then on a fresh PostgreSQL database.
async fn on_both_backends<F, Fut>(vars: &[(&str, &str)], suite: F)
where
    F: Fn(Api, std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for url in [String::new(), qcat_testkit::test_database_url()] {
        let dir = qcat_testkit::temp_data_dir();
        let api = open_api(&url, dir.path(), vars).await;
        suite(api.clone(), dir.path().to_owned()).await;
        api.close().await;
    }
}

async fn first_admin(api: &Api) -> SessionSlot {
    let slot = SessionSlot::new("test:admin");
    api.create_first_admin(
        &slot,
        NewUserInput {
            username: "root".into(),
            display_name: "Root".into(),
            password: secret(ADMIN_PASSWORD),
            roles: vec![],
        },
    )
    .await
    .unwrap();
    slot
}

async fn sign_in(api: &Api, username: &str, password: &str, source: &str) -> SessionSlot {
    let slot = SessionSlot::new(source);
    api.login(
        &slot,
        LoginInput {
            username: username.into(),
            password: secret(password),
        },
    )
    .await
    .unwrap_or_else(|err| panic!("{username} signs in: {err}"));
    slot
}

async fn add_user(api: &Api, admin: &SessionSlot, username: &str, roles: &[&str]) {
    api.create_user(
        admin,
        NewUserInput {
            username: username.into(),
            display_name: String::new(),
            password: secret(USER_PASSWORD),
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        },
    )
    .await
    .unwrap();
}

/// The newest audit entries (read as the administrator, after the writer flushed).
async fn audit_tail(api: &Api, admin: &SessionSlot, limit: u32) -> Vec<AuditEntryView> {
    api.audit_page(
        admin,
        AuditQuery {
            filter: AuditFilterInput::default(),
            before_seq: None,
            limit: Some(limit),
        },
    )
    .await
    .unwrap()
}

async fn last_seq(api: &Api, admin: &SessionSlot) -> i64 {
    audit_tail(api, admin, 1).await.first().map_or(0, |e| e.seq)
}

/// Calls command `name` as `slot` with arguments that are valid for it (`n` keeps names
/// unique between calls). Every registered command must have a line here.
async fn invoke(api: &Api, slot: &SessionSlot, name: &str, n: usize) -> Result<(), ApiError> {
    match name {
        "app_info" => {
            assert!(!api.app_info().version.is_empty());
            Ok(())
        }
        "storage_status" => {
            api.storage_status().await;
            Ok(())
        }
        "setup_status" => api.setup_status().map(drop),
        "create_first_admin" => api
            .create_first_admin(
                slot,
                NewUserInput {
                    username: format!("second{n}"),
                    display_name: String::new(),
                    password: secret(USER_PASSWORD),
                    roles: vec![],
                },
            )
            .await
            .map(drop),
        "login" => api
            .login(
                slot,
                LoginInput {
                    username: "root".into(),
                    password: secret(ADMIN_PASSWORD),
                },
            )
            .await
            .map(drop),
        "logout" => api.logout(slot).await,
        "current_session" => api.current_session(slot).map(drop),
        "change_password" => {
            let username = api
                .current_session(slot)?
                .map_or_else(|| "root".to_owned(), |session| session.username);
            let password = if username == "root" {
                ADMIN_PASSWORD
            } else {
                USER_PASSWORD
            };
            api.change_password(
                slot,
                PasswordInput {
                    username,
                    password: secret(password),
                    current_password: Some(secret(password)),
                },
            )
            .await
        }
        "config_settings" => api.config_settings(slot).await.map(drop),
        "set_setting" => api
            .set_setting(slot, "logging.level", "debug")
            .await
            .map(drop),
        "log_files" => api.log_files(slot).await.map(drop),
        "log_lines" => match api.log_lines(slot, LogQuery::default()).await {
            // No log file in a test data dir: reaching the reader is what counts.
            Err(err) if err.code == ErrorCode::NotFound => Ok(()),
            other => other.map(drop),
        },
        "log_frontend" => api.log_frontend(&FrontendLog {
            level: "info".into(),
            message: "from the guard test".into(),
            context: None,
        }),
        "named_secrets" => api.named_secrets(slot).await.map(drop),
        "set_named_secret" => {
            api.set_named_secret(
                slot,
                NamedSecretInput {
                    name: format!("guard_test_{n}"),
                    value: secret("guarded value"),
                },
            )
            .await
        }
        "access_model" => api.access_model(slot).await.map(drop),
        "explain_access" => api
            .explain_access(slot, "root", "rbac:edit")
            .await
            .map(drop),
        "save_role" => api
            .save_role(
                slot,
                RoleInput {
                    name: format!("made-{n}"),
                    description: String::new(),
                    grants: vec!["backup:view".into()],
                    parents: vec![],
                    create: true,
                    seen_version: None,
                },
            )
            .await
            .map(drop),
        "edit_role" => api
            .edit_role(
                slot,
                "scratch",
                RoleChange::Describe(format!("edited {n}")),
                None,
            )
            .await
            .map(drop),
        "delete_role" => api.delete_role(slot, "scratch", None).await,
        "create_user" => api
            .create_user(
                slot,
                NewUserInput {
                    username: format!("made{n}"),
                    display_name: String::new(),
                    password: secret(USER_PASSWORD),
                    roles: vec!["viewer".into()],
                },
            )
            .await
            .map(drop),
        "set_user_roles" => api
            .set_user_roles(slot, "nobody", vec![], None)
            .await
            .map(drop),
        "set_user_enabled" => api
            .set_user_enabled(slot, "nobody", true, None)
            .await
            .map(drop),
        "audit_page" => api.audit_page(slot, AuditQuery::default()).await.map(drop),
        "audit_count" => api
            .audit_count(slot, AuditFilterInput::default())
            .await
            .map(drop),
        // A job's entry is written when it ends: wait for it.
        "audit_verify" => {
            let job = api.audit_verify(slot).await?;
            api.job_wait(&job.id).await.map(drop)
        }
        "audit_export" => {
            let mut out = Vec::new();
            api.audit_export(
                slot,
                AuditFilterInput::default(),
                qcat_audit::query::ExportFormat::Json,
                &mut out,
                &qcat_api::Progress::silent("entries"),
            )
            .await
            .map(drop)
        }
        "job_cancel" => {
            api.job_cancel(
                slot,
                qcat_api::jobs::JobIdInput {
                    id: "no-such-job".into(),
                },
            )
            .await
        }
        "jobs_recent" => api.jobs_recent(slot).await.map(drop),
        "schedules_list" => api.schedules_list(slot).await.map(drop),
        "runtime_status" => api.runtime_status(slot).await.map(drop),
        "monitor_targets" => api.monitor_targets(slot).await.map(drop),
        "monitor_target_save" => api
            .monitor_target_save(slot, host_target(n))
            .await
            .map(drop),
        "monitor_target_remove" => {
            api.monitor_target_remove(
                slot,
                qcat_api::monitor::TargetNameInput {
                    name: format!("gone{n}"),
                },
            )
            .await
        }
        "monitor_target_test" => api
            .monitor_target_test(slot, host_target(n))
            .await
            .map(drop),
        "monitor_query" => api
            .monitor_query(
                slot,
                qcat_api::monitor::QueryInput {
                    series: "up".into(),
                    from_ms: 0,
                    to_ms: 1000,
                    max_points: 10,
                    function: None,
                },
            )
            .await
            .map(drop),
        "alert_rules" => api.alert_rules(slot).await.map(drop),
        "alert_rule_save" => api
            .alert_rule_save(
                slot,
                serde_json::from_value(serde_json::json!({
                    "rule": {"name": format!("Guard{n}"), "kind": "threshold", "series": "app_error_ratio",
                             "op": ">", "value": 0.5, "severity": "warning"},
                    "seenVersion": null
                }))
                .expect("a rule"),
            )
            .await
            .map(drop),
        "alert_rule_remove" => api
            .alert_rule_remove(
                slot,
                qcat_api::alert::rules::RuleNameInput {
                    name: "NoSuchRule".into(),
                },
            )
            .await,
        "alert_rule_preview" => api
            .alert_rule_preview(
                slot,
                serde_json::from_value(serde_json::json!({
                    "rule": {"name": "Preview", "kind": "event", "event": "backup_failed", "severity": "error"}
                }))
                .expect("a preview"),
            )
            .await
            .map(drop),
        "alert_routing" => api.alert_routing(slot).await.map(drop),
        "alert_routing_save" => api
            .alert_routing_save(
                slot,
                qcat_api::alert::routing::RoutingSaveInput {
                    yaml: "route:\n  receiver: ops\nreceivers:\n  - name: ops\n".into(),
                    seen_version: -1,
                },
            )
            .await
            .map(drop),
        "alert_route_preview" => api
            .alert_route_preview(
                slot,
                serde_json::from_value(serde_json::json!({"labels": {"alertname": "X"}}))
                    .expect("a preview"),
            )
            .await
            .map(drop),
        "alert_test_send" => api
            .alert_test_send(
                slot,
                serde_json::from_value(serde_json::json!({"receiver": "nobody"}))
                    .expect("a test send"),
            )
            .await
            .map(drop),
        "alert_silences" => api.alert_silences(slot).await.map(drop),
        "alert_silence_add" => api
            .alert_silence_add(
                slot,
                qcat_api::alert::silences::SilenceInput {
                    matchers: format!("alertname=\"Guard{n}\""),
                    starts_ms: None,
                    ends_ms: i64::MAX / 2,
                    comment: "guard test".into(),
                },
            )
            .await
            .map(drop),
        "alert_silence_expire" => api
            .alert_silence_expire(
                slot,
                qcat_api::alert::silences::SilenceIdInput {
                    id: "no-such-silence".into(),
                },
            )
            .await,
        "alert_firing" => api.alert_firing(slot).await.map(drop),
        "alert_history" => api
            .alert_history(slot, qcat_api::alert::views::HistoryInput::default())
            .await
            .map(drop),
        "alert_deliveries" => api
            .alert_deliveries(slot, qcat_api::alert::views::DeliveriesInput::default())
            .await
            .map(drop),
        "alert_delivery_retry" => api
            .alert_delivery_retry(
                slot,
                qcat_api::alert::views::DeliveryKeyInput {
                    key: "no-such-key".into(),
                },
            )
            .await,
        "monitor_overview" => api.monitor_overview(slot).await.map(drop),
        "monitor_quick_start" => api
            .monitor_quick_start(
                slot,
                qcat_api::monitor::QuickStartInput {
                    what: "host".into(),
                },
            )
            .await
            .map(drop),
        "backup_list" => api.backup_list(slot).await.map(drop),
        "backup_show" => api
            .backup_show(slot, qcat_api::backup::BackupIdInput { id: "none".into() })
            .await
            .map(drop),
        "backup_run" => {
            let job = api
                .backup_run(
                    slot,
                    qcat_api::backup::BackupRunInput {
                        kind: "full".into(),
                        sources: vec![format!("no-such-source{n}")],
                        label: None,
                    },
                )
                .await?;
            api.job_wait(&job.id).await.map(drop)
        }
        "backup_verify" => {
            let job = api
                .backup_verify(
                    slot,
                    qcat_api::backup::BackupVerifyInput {
                        ids: vec![],
                        rolling_budget_ms: None,
                    },
                )
                .await?;
            api.job_wait(&job.id).await.map(drop)
        }
        "backup_restore_plan" => api
            .backup_restore_plan(slot, restore_input())
            .await
            .map(drop),
        "backup_restore" => {
            let job = api.backup_restore(slot, restore_input()).await?;
            api.job_wait(&job.id).await.map(drop)
        }
        "backup_drill" => {
            let job = api.backup_drill(slot).await?;
            api.job_wait(&job.id).await.map(drop)
        }
        "backup_expire" => api
            .backup_expire(slot, qcat_api::backup::BackupExpireInput { dry_run: false })
            .await
            .map(drop),
        "backup_policy" => api.backup_policy(slot).await.map(drop),
        "monitor_import_prometheus" => api
            .monitor_import_prometheus(
                slot,
                qcat_api::monitor::PrometheusImportInput {
                    url: "http://127.0.0.1:9".into(),
                    query: "up".into(),
                    series: "imported_up".into(),
                    since_ms: 60_000,
                    step_ms: 1000,
                },
            )
            .await
            .map(drop),
        "baseline_deviations" => api
            .baseline_deviations(
                slot,
                qcat_api::monitor::DeviationsInput {
                    series: "app_request_rate".into(),
                    since_ms: 0,
                    until_ms: 60_000,
                    for_ms: None,
                    threshold: None,
                },
            )
            .await
            .map(drop),
        "baseline_band" => api
            .baseline_band(
                slot,
                qcat_api::monitor::BandInput {
                    series: "app_request_rate".into(),
                    since_ms: 0,
                    until_ms: 60_000,
                    max_points: None,
                },
            )
            .await
            .map(drop),
        "baseline_status" => api.baseline_status(slot).await.map(drop),
        "baseline_events" => api
            .baseline_events(
                slot,
                qcat_api::monitor::DeviationEventsInput {
                    since_ms: 0,
                    until_ms: 60_000,
                    series: None,
                    limit: None,
                },
            )
            .await
            .map(drop),
        "baseline_marks" => api
            .baseline_marks(
                slot,
                qcat_api::monitor::RangeInput {
                    since_ms: 0,
                    until_ms: 60_000,
                },
            )
            .await
            .map(drop),
        "baseline_mark" => api
            .baseline_mark(
                slot,
                qcat_api::monitor::MarkInput {
                    kind: "maintenance".into(),
                    from_ms: 0,
                    until_ms: 60_000,
                    series: None,
                    note: Some(format!("guard test {n}")),
                },
            )
            .await
            .map(drop),
        "baseline_unmark" => api.baseline_unmark(slot, "no-such-mark".into()).await,
        "baseline_list" => api.baseline_list(slot).await.map(drop),
        "baseline_show" => api.baseline_show(slot, "none".into()).await.map(drop),
        "baseline_capture" => api
            .baseline_capture(
                slot,
                qcat_api::monitor::CaptureInput {
                    name: format!("guard {n}"),
                    description: None,
                    from_ms: 0,
                    until_ms: 3_600_000,
                    series: vec![],
                },
            )
            .await
            .map(drop),
        "baseline_remove" => api.baseline_remove(slot, "none".into()).await,
        "baseline_compare" => api.baseline_compare(slot, compare_input()).await.map(drop),
        "baseline_report" => api
            .baseline_report(
                slot,
                qcat_api::monitor::ReportInput {
                    compare: compare_input(),
                    language: None,
                },
            )
            .await
            .map(drop),
        "baseline_report_html" => api
            .baseline_report_html(
                slot,
                qcat_api::monitor::ReportInput {
                    compare: compare_input(),
                    language: Some("zh-CN".into()),
                },
            )
            .await
            .map(drop),
        "monitor_import" => api
            .monitor_import(
                slot,
                qcat_api::monitor::ImportInput {
                    series: "imported_latency_seconds".into(),
                    format: "csv".into(),
                    text: "2026-11-02 09:30:00,0.25\n".into(),
                    source: "test.csv".into(),
                },
            )
            .await
            .map(drop),
        "backup_trends" => api
            .backup_trends(
                slot,
                qcat_api::backup::BackupTrendsInput {
                    from_ms: 0,
                    to_ms: 1,
                },
            )
            .await
            .map(drop),
        "backup_policy_save" => api
            .backup_policy_save(
                slot,
                qcat_api::backup::BackupPolicyInput {
                    sources: Vec::new(),
                    keep_full: 7,
                    keep_age: "0s".into(),
                    schedule_full: String::new(),
                    schedule_diff: String::new(),
                    schedule_incr: String::new(),
                    schedule_verify: String::new(),
                    schedule_drill: String::new(),
                    verify_budget: "10m".into(),
                    rto: "30m".into(),
                },
            )
            .await
            .map(drop),
        "rotate_master_key" => api.rotate_master_key(slot).await.map(drop),
        "audit_export_file" => {
            let job = api
                .audit_export_file(
                    slot,
                    qcat_api::audit::AuditExportInput {
                        filter: AuditFilterInput::default(),
                        format: "csv".into(),
                    },
                )
                .await?;
            let ended = api.job_wait(&job.id).await?;
            let file: qcat_api::audit::ExportedFile =
                serde_json::from_value(ended.result.expect("an export job yields its file"))
                    .unwrap();
            let text = std::fs::read_to_string(&file.path).unwrap();
            assert_eq!(
                text.lines().count() as u64,
                file.entries + 1,
                "a header and one line per entry"
            );
            Ok(())
        }
        other => panic!("no invocation for command {other}: add one to this table"),
    }
}

fn compare_input() -> qcat_api::monitor::CompareInput {
    qcat_api::monitor::CompareInput {
        name: "none".into(),
        since_ms: None,
        until_ms: None,
        against: None,
    }
}

fn restore_input() -> qcat_api::backup::BackupRestoreInput {
    qcat_api::backup::BackupRestoreInput {
        id: "none".into(),
        source: "db".into(),
        destination: "postgres://127.0.0.1:1/none".into(),
        confirm: None,
        jobs: None,
    }
}

fn host_target(n: usize) -> qcat_api::monitor::TargetInput {
    qcat_api::monitor::TargetInput {
        name: format!("box{n}"),
        kind: "host".into(),
        url: "local".into(),
        password: None,
        environment: Some("staging".into()),
        interval_ms: 5000,
        timeout_ms: None,
        queries: Default::default(),
        seen_version: None,
    }
}

fn is_access_error(err: &ApiError) -> bool {
    matches!(
        err.code,
        ErrorCode::Unauthenticated | ErrorCode::PermissionDenied
    )
}

#[tokio::test]
async fn every_registered_command_is_guarded_and_audited() {
    on_both_backends(&[], |api, _dir| async move {
        let admin = first_admin(&api).await;
        add_user(&api, &admin, "nobody", &[]).await;
        api.save_role(
            &admin,
            RoleInput {
                name: "scratch".into(),
                description: String::new(),
                grants: vec!["alerts:view".into()],
                parents: vec![],
                create: true,
                seen_version: None,
            },
        )
        .await
        .unwrap();
        let public: Vec<&str> = COMMANDS
            .iter()
            .filter(|command| command.access == Access::Public)
            .map(|command| command.name)
            .collect();
        // Callable without a session: only what the sign-in screen and status bar need.
        assert_eq!(
            public,
            [
                "app_info",
                "storage_status",
                "setup_status",
                "create_first_admin",
                "login",
                "current_session",
                "log_frontend"
            ]
        );
        for (n, command) in COMMANDS.iter().enumerate() {
            if command.access == Access::Public {
                continue;
            }
            // Signed out: refused, and the refusal is in the audit trail.
            let anonymous = SessionSlot::new("test:anonymous");
            let err = invoke(&api, &anonymous, command.name, n).await.unwrap_err();
            assert_eq!(
                err.code,
                ErrorCode::Unauthenticated,
                "{}: {err}",
                command.name
            );
            let denied = &audit_tail(&api, &admin, 1).await[0];
            assert_eq!(
                (
                    denied.action.as_str(),
                    denied.target.as_str(),
                    denied.outcome.as_str()
                ),
                (
                    "access.denied",
                    format!("command:{}", command.name).as_str(),
                    "denied"
                ),
                "the signed-out attempt at {} is audited",
                command.name
            );
            if let Access::Permission(permission) = command.access {
                // Signed in without the permission: refused and audited under the user's name.
                let nobody = sign_in(&api, "nobody", USER_PASSWORD, "test:nobody").await;
                let err = invoke(&api, &nobody, command.name, n).await.unwrap_err();
                assert_eq!(
                    err.code,
                    ErrorCode::PermissionDenied,
                    "{}: {err}",
                    command.name
                );
                assert!(err.message.contains(permission), "{err}");
                let denied = &audit_tail(&api, &admin, 1).await[0];
                assert_eq!(denied.actor, "nobody");
                assert_eq!(denied.target, format!("command:{}", command.name));
            }
            // With the permission: allowed (other errors are fine: only access matters
            // here), and a change leaves an entry by the caller.
            let caller = sign_in(&api, "root", ADMIN_PASSWORD, "test:root").await;
            let before = last_seq(&api, &admin).await;
            if let Err(err) = invoke(&api, &caller, command.name, n).await {
                assert!(
                    !is_access_error(&err),
                    "{} refused root: {err}",
                    command.name
                );
            }
            if command.audited {
                let entries = audit_tail(&api, &admin, 20).await;
                assert!(
                    entries.iter().any(|entry| entry.seq > before
                        && entry.actor == "root"
                        && entry.action != "access.denied"
                        && entry.source == "test:root"),
                    "{} left no audit entry by its caller",
                    command.name
                );
            }
        }
        let report = verify_report(&api, &admin).await;
        assert!(report.ok, "{:?}", report.problem);
    })
    .await;
}

/// Runs the audit verify job and returns its report.
async fn verify_report(api: &Api, slot: &SessionSlot) -> qcat_api::audit::AuditVerifyReport {
    let job = api.audit_verify(slot).await.unwrap();
    let ended = api.job_wait(&job.id).await.unwrap();
    serde_json::from_value(ended.result.expect("a finished verify job has a report")).unwrap()
}

/// Asserts `result` is refused with `code` and that the newest entry records the refusal.
async fn refused(
    api: &Api,
    admin: &SessionSlot,
    result: Result<impl std::fmt::Debug, ApiError>,
    code: ErrorCode,
    action: &str,
) -> String {
    let err = result.expect_err("an escalation attempt must be refused");
    assert_eq!(err.code, code, "{err}");
    let entry = &audit_tail(api, admin, 1).await[0];
    assert_eq!(entry.action, action, "{entry:?}");
    assert_eq!(entry.outcome, "denied", "{entry:?}");
    err.message
}

#[tokio::test]
async fn escalation_attempts_are_refused_and_audited() {
    on_both_backends(&[], |api, _dir| async move {
        let admin = first_admin(&api).await;
        // keeper may edit users and roles but holds nothing else beyond an operator.
        api.save_role(
            &admin,
            RoleInput {
                name: "keeper".into(),
                description: "edits access".into(),
                grants: vec!["rbac:*".into()],
                parents: vec!["operator".into()],
                create: true,
                seen_version: None,
            },
        )
        .await
        .unwrap();
        add_user(&api, &admin, "ops", &["keeper"]).await;
        add_user(&api, &admin, "plain", &["operator"]).await;
        let ops = sign_in(&api, "ops", USER_PASSWORD, "test:ops").await;
        let plain = sign_in(&api, "plain", USER_PASSWORD, "test:plain").await;

        // Granting a permission one lacks.
        let message = refused(
            &api,
            &admin,
            api.edit_role(
                &ops,
                "keeper",
                RoleChange::Grant("backup:restore".into()),
                None,
            )
            .await,
            ErrorCode::PermissionDenied,
            "rbac.role.update",
        )
        .await;
        assert!(
            message.contains("backup:restore"),
            "names what is missing: {message}"
        );
        // Creating a role that inherits from one more powerful.
        refused(
            &api,
            &admin,
            api.save_role(
                &ops,
                RoleInput {
                    name: "sneaky".into(),
                    description: String::new(),
                    grants: vec![],
                    parents: vec!["admin".into()],
                    create: true,
                    seen_version: None,
                },
            )
            .await,
            ErrorCode::PermissionDenied,
            "rbac.role.create",
        )
        .await;
        // Giving oneself the admin role.
        refused(
            &api,
            &admin,
            api.set_user_roles(&ops, "ops", vec!["admin".into()], None)
                .await,
            ErrorCode::PermissionDenied,
            "rbac.user.roles",
        )
        .await;
        // Weakening a role more powerful than oneself.
        refused(
            &api,
            &admin,
            api.edit_role(&ops, "admin", RoleChange::Revoke("*".into()), None)
                .await,
            ErrorCode::PermissionDenied,
            "rbac.role.update",
        )
        .await;
        // Editing one's own roles without rbac:edit.
        refused(
            &api,
            &admin,
            api.set_user_roles(&plain, "plain", vec!["admin".into()], None)
                .await,
            ErrorCode::PermissionDenied,
            "access.denied",
        )
        .await;
        // A cycle, named.
        let message = refused(
            &api,
            &admin,
            api.edit_role(
                &admin,
                "viewer",
                RoleChange::Inherit("operator".into()),
                None,
            )
            .await,
            ErrorCode::Conflict,
            "rbac.role.update",
        )
        .await;
        assert!(message.contains("viewer → operator → viewer"), "{message}");
        // Removing the last administrator, by roles or by disabling.
        refused(
            &api,
            &admin,
            api.set_user_roles(&admin, "root", vec!["viewer".into()], None)
                .await,
            ErrorCode::Conflict,
            "rbac.user.roles",
        )
        .await;
        refused(
            &api,
            &admin,
            api.set_user_enabled(&admin, "root", false, None).await,
            ErrorCode::Conflict,
            "rbac.user.disable",
        )
        .await;

        // Stripping the admin role (finding: `role grant admin rbac:edit` then `role revoke
        // admin '*'` left backup:restore, config:edit and secrets:write beyond everyone's
        // reach for good): the admin role keeps every permission, whatever else it grants.
        api.edit_role(&admin, "admin", RoleChange::Grant("rbac:edit".into()), None)
            .await
            .expect("a redundant grant on admin is harmless");
        let message = refused(
            &api,
            &admin,
            api.edit_role(&admin, "admin", RoleChange::Revoke("*".into()), None)
                .await,
            ErrorCode::Conflict,
            "rbac.role.update",
        )
        .await;
        assert!(
            message.contains("admin role must keep every permission")
                && message.contains("backup:restore")
                && message.contains("secrets:write"),
            "names what would be lost: {message}"
        );
        // Nor by replacing the whole role.
        refused(
            &api,
            &admin,
            api.save_role(
                &admin,
                RoleInput {
                    name: "admin".into(),
                    description: String::new(),
                    grants: vec!["rbac:*".into()],
                    parents: vec![],
                    create: false,
                    seen_version: None,
                },
            )
            .await,
            ErrorCode::Conflict,
            "rbac.role.update",
        )
        .await;
        let admin_role = api
            .access_model(&admin)
            .await
            .unwrap()
            .roles
            .into_iter()
            .find(|role| role.name == "admin")
            .unwrap();
        assert!(
            admin_role.grants.contains(&"*".to_owned()),
            "{admin_role:?}"
        );

        // None of it happened.
        let model = api.access_model(&admin).await.unwrap();
        let ops_user = model.users.iter().find(|u| u.username == "ops").unwrap();
        assert_eq!(ops_user.roles, ["keeper"]);
        let keeper = model.roles.iter().find(|r| r.name == "keeper").unwrap();
        assert!(!keeper.direct.contains(&"backup:restore".to_owned()));
        assert!(!model.roles.iter().any(|r| r.name == "sneaky"));

        // What ops does hold, ops may hand out: a role within its own permissions.
        api.save_role(
            &ops,
            RoleInput {
                name: "watcher".into(),
                description: String::new(),
                grants: vec!["backup:view".into()],
                parents: vec!["viewer".into()],
                create: true,
                seen_version: None,
            },
        )
        .await
        .expect("granting what one holds is allowed");

        // Passwords never reach the audit trail.
        let mut export = Vec::new();
        api.audit_export(
            &admin,
            AuditFilterInput::default(),
            qcat_audit::query::ExportFormat::Json,
            &mut export,
            &qcat_api::Progress::silent("entries"),
        )
        .await
        .unwrap();
        let export = String::from_utf8(export).unwrap();
        assert!(!export.contains(ADMIN_PASSWORD) && !export.contains(USER_PASSWORD));
        assert!(verify_report(&api, &admin).await.ok);
    })
    .await;
}

#[tokio::test]
async fn changing_ones_own_password_needs_the_current_one() {
    on_both_backends(&[], |api, _dir| async move {
        let admin = first_admin(&api).await;
        add_user(&api, &admin, "rita", &["viewer"]).await;
        let rita = sign_in(&api, "rita", USER_PASSWORD, "test:rita").await;
        let change = |current: Option<&str>| PasswordInput {
            username: "rita".into(),
            password: secret("a brand new password"),
            current_password: current.map(secret),
        };
        // An unattended session is not enough to take the account over.
        for current in [None, Some("not the password")] {
            let err = api
                .change_password(&rita, change(current))
                .await
                .unwrap_err();
            // A wrong current password is a wrong input, not a missing permission.
            assert_eq!(err.code, ErrorCode::InvalidInput, "{err}");
            assert!(err.message.contains("current password"), "{err}");
            let entry = &audit_tail(&api, &admin, 1).await[0];
            assert_eq!(
                (entry.action.as_str(), entry.outcome.as_str()),
                ("rbac.user.password", "denied")
            );
        }
        api.change_password(&rita, change(Some(USER_PASSWORD)))
            .await
            .unwrap();
        sign_in(&api, "rita", "a brand new password", "test:rita").await;
        // An administrator resets another user's password without knowing it.
        api.change_password(
            &admin,
            PasswordInput {
                username: "rita".into(),
                password: secret(USER_PASSWORD),
                current_password: None,
            },
        )
        .await
        .unwrap();
        sign_in(&api, "rita", USER_PASSWORD, "test:rita").await;
    })
    .await;
}

/// How many refused sign-ins the trail holds.
async fn refused_sign_ins(api: &Api, admin: &SessionSlot) -> i64 {
    api.audit_count(
        admin,
        AuditFilterInput {
            action: Some("auth.login".into()),
            outcome: Some("denied".into()),
            ..AuditFilterInput::default()
        },
    )
    .await
    .unwrap()
}

/// One sign-in attempt from `source`.
async fn attempt(
    api: &Api,
    source: &str,
    username: &str,
    password: &str,
) -> Result<SessionView, ApiError> {
    api.login(
        &SessionSlot::new(source),
        LoginInput {
            username: username.to_owned(),
            password: secret(password),
        },
    )
    .await
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_pair_per_source_and_per_user() {
    let vars = [
        ("QCAT_AUTH__FAILED_LOGIN_LIMIT", "3"),
        ("QCAT_AUTH__FAILED_LOGIN_LIMIT_PER_SOURCE", "5"),
        ("QCAT_AUTH__FAILED_LOGIN_LIMIT_PER_USER", "5"),
        ("QCAT_AUTH__LOCKOUT", "1h"),
        ("QCAT_AUTH__MAX_LOCKOUT", "2h"),
    ];
    on_both_backends(&vars, |api, _dir| async move {
        let admin = first_admin(&api).await;
        add_user(&api, &admin, "alice", &["viewer"]).await;
        add_user(&api, &admin, "carol", &["viewer"]).await;
        for _ in 0..3 {
            let err = attempt(&api, "test:attacker", "alice", "wrong guess 123")
                .await
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthenticated);
        }
        // The pair is locked now: even the right password is refused, without being checked.
        let err = attempt(&api, "test:attacker", "alice", USER_PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Throttled, "{err}");
        assert!(
            err.message.contains("for user alice from test:attacker"),
            "{err}"
        );
        // A stranger's guesses do not lock alice out at her own desk.
        attempt(&api, "test:alice-desk", "alice", USER_PASSWORD)
            .await
            .expect("alice signs in from her own place");
        // Per source: the attacker's place has two failures left (3 of 5 used; a refused
        // attempt is not a failure), then is locked for any user.
        for _ in 0..2 {
            let err = attempt(&api, "test:attacker", "root", "wrong guess 456")
                .await
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthenticated, "{err}");
        }
        let err = attempt(&api, "test:attacker", "root", ADMIN_PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Throttled, "{err}");
        assert!(err.message.contains("from test:attacker"), "{err}");
        // Per user: five places guessing carol once each lock carol for everyone.
        for n in 0..5 {
            let err = attempt(&api, &format!("test:bot{n}"), "carol", "wrong guess 789")
                .await
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthenticated, "{err}");
        }
        let err = attempt(&api, "test:carol-desk", "carol", USER_PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Throttled, "{err}");
        assert!(err.message.contains("for user carol"), "{err}");
        // Root from its own place is unaffected.
        sign_in(&api, "root", ADMIN_PASSWORD, "test:desk").await;
        let denied = refused_sign_ins(&api, &admin).await;
        assert_eq!(denied, 13, "every failed and throttled attempt is audited");
    })
    .await;
}

#[tokio::test]
async fn many_scripts_signing_in_at_once_with_the_right_password_all_succeed() {
    // Slots are given back as attempts settle, so twelve parallel runs with the right
    // password from one place wait their turn instead of being locked out by limit 5.
    let vars = [("QCAT_AUTH__FAILED_LOGIN_LIMIT", "5")];
    on_both_backends(&vars, |api, _dir| async move {
        first_admin(&api).await;
        let runs: Vec<_> = (0..12)
            .map(|_| {
                let api = api.clone();
                tokio::spawn(
                    async move { attempt(&api, "test:cron", "root", ADMIN_PASSWORD).await },
                )
            })
            .collect();
        for run in runs {
            run.await
                .unwrap()
                .expect("a right password is never throttled by its own kind");
        }
    })
    .await;
}

#[tokio::test]
async fn parallel_guesses_are_each_counted_before_any_password_is_checked() {
    // Finding 1: the lock was checked before the password and the count written back
    // without a lock, so 28 of 30 parallel guesses were checked (limit 5) on PostgreSQL and
    // 26 of 40 failed unaudited with "database is locked" on SQLite.
    let vars = [
        ("QCAT_AUTH__FAILED_LOGIN_LIMIT", "5"),
        ("QCAT_AUTH__LOCKOUT", "1h"),
        ("QCAT_AUTH__MAX_LOCKOUT", "1h"),
    ];
    on_both_backends(&vars, |api, _dir| async move {
        let admin = first_admin(&api).await;
        add_user(&api, &admin, "pat", &["viewer"]).await;
        let burst = (0..30).map(|n| {
            let api = api.clone();
            tokio::spawn(async move {
                attempt(&api, "test:burst", "pat", &format!("guess number {n}")).await
            })
        });
        let mut checked = 0;
        let mut throttled = 0;
        for task in burst.collect::<Vec<_>>() {
            match task.await.unwrap().unwrap_err().code {
                ErrorCode::Unauthenticated => checked += 1,
                ErrorCode::Throttled => throttled += 1,
                other => panic!("an attempt failed otherwise: {other}"),
            }
        }
        assert_eq!(checked, 5, "exactly the limit had their password checked");
        assert_eq!(throttled, 25);
        let denied = refused_sign_ins(&api, &admin).await;
        assert_eq!(denied, 30, "every refused attempt is in the trail");
    })
    .await;
}

#[tokio::test]
async fn an_idle_session_expires() {
    on_both_backends(
        &[("QCAT_AUTH__SESSION_IDLE", "300ms")],
        |api, _dir| async move {
            let admin = first_admin(&api).await;
            api.config_settings(&admin)
                .await
                .expect("fresh session works");
            tokio::time::sleep(Duration::from_millis(600)).await;
            let err = api.config_settings(&admin).await.unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthenticated);
            assert!(err.message.contains("expired"), "{err}");
            assert!(api.current_session(&admin).unwrap().is_none());
        },
    )
    .await;
}

#[tokio::test]
async fn a_change_in_one_process_reaches_another_within_a_second() {
    // Two consoles on one store: PostgreSQL (NOTIFY) and a shared SQLite file (polling).
    for url in [String::new(), qcat_testkit::test_database_url()] {
        let dir = qcat_testkit::temp_data_dir();
        let one = open_api(&url, dir.path(), &[]).await;
        let two = open_api(&url, dir.path(), &[]).await;
        let admin = first_admin(&one).await;
        add_user(&one, &admin, "ops", &["viewer"]).await;
        // Sign-in reads the store, so the user created by `one` can sign in at `two`.
        let ops = sign_in(&two, "ops", USER_PASSWORD, "test:two").await;
        let err = two
            .audit_page(&ops, AuditQuery::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PermissionDenied);

        one.set_user_roles(&admin, "ops", vec!["auditor".into()], None)
            .await
            .unwrap();
        let changed = Instant::now();
        loop {
            if two.audit_page(&ops, AuditQuery::default()).await.is_ok() {
                break;
            }
            assert!(
                changed.elapsed() < Duration::from_secs(1),
                "the grant did not reach the other process within a second"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        one.close().await;
        two.close().await;
    }
}

#[tokio::test]
async fn concurrent_edits_from_two_consoles_never_lose_an_update() {
    // Two consoles on one SQLite file (polling makes each console's view of the other's
    // change stale for a moment): they grant different permissions to the same role right
    // after each other. An edit either lands on top of the other or is refused as a
    // conflict and succeeds when retried; the role never ends up missing one of them.
    let dir = qcat_testkit::temp_data_dir();
    let one = open_api("", dir.path(), &[]).await;
    let two = open_api("", dir.path(), &[]).await;
    let admin_one = first_admin(&one).await;
    let admin_two = sign_in(&two, "root", ADMIN_PASSWORD, "test:two").await;
    one.save_role(
        &admin_one,
        RoleInput {
            name: "shared".into(),
            description: String::new(),
            grants: vec![],
            parents: vec![],
            create: true,
            seen_version: None,
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await; // both see the new role
    let mut conflicts = 0;
    for (first, second) in [
        ("backup:view", "backup:run"),
        ("alerts:view", "alerts:silence"),
        ("logs:view", "config:view"),
    ] {
        for (api, slot, permission) in [(&one, &admin_one, first), (&two, &admin_two, second)] {
            let grant =
                || api.edit_role(slot, "shared", RoleChange::Grant(permission.into()), None);
            if let Err(err) = grant().await {
                // Its view was stale: refused, and the view reloaded for the retry.
                assert_eq!(err.code, ErrorCode::Conflict, "{err}");
                assert!(err.message.contains("changed meanwhile"), "{err}");
                conflicts += 1;
                grant()
                    .await
                    .expect("the retry, on the reloaded view, succeeds");
            }
        }
        // `two` wrote last and reloaded after its commit: its view is the store's.
        let role = two
            .access_model(&admin_two)
            .await
            .unwrap()
            .roles
            .into_iter()
            .find(|role| role.name == "shared")
            .unwrap();
        assert!(
            role.grants.contains(&first.to_owned()) && role.grants.contains(&second.to_owned()),
            "an update was lost: {:?}",
            role.grants
        );
    }
    // Each refused attempt is in the trail (counting through each console writes what it
    // has queued first).
    let refused = AuditFilterInput {
        action: Some("rbac.role.update".into()),
        outcome: Some("failed".into()),
        ..AuditFilterInput::default()
    };
    one.audit_count(&admin_one, refused.clone()).await.unwrap();
    let failed = two.audit_count(&admin_two, refused).await.unwrap();
    assert_eq!(failed, conflicts);
    one.close().await;
    two.close().await;
}
