//! End-to-end tests of the real app: `qcat-console` in a private Xvfb display, driven by
//! tauri-driver + WebKitWebDriver. They create the first administrator, visit every screen,
//! check what the core reports (version, data dir, storage backend and health, schema
//! version), switch the language, walk the access-control flow from a new role to a
//! restricted user and the audit trail, and save a screenshot of each screen under
//! `target/e2e-screenshots/`.

mod harness;
mod webdriver;

use harness::App;

const ADMIN_PASSWORD: &str = "e2e admin password";
const USER_PASSWORD: &str = "e2e user password";

const SCREENS: [&str; 9] = [
    "dashboard",
    "performance",
    "alerts",
    "backups",
    "access",
    "audit",
    "logs",
    "system",
    "settings",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_screen_shows_core_data_and_switches_language() {
    let app = App::launch(
        "embedded",
        &[("LANG", "en_US.UTF-8"), ("QCAT_LOGGING__LEVEL", "debug")],
    )
    .await;
    // An empty store asks for the first administrator before anything else.
    app.wait_for_text("first-admin-form", |t| !t.is_empty())
        .await;
    // A fresh window's first paint lags its DOM; the screenshot would be blank.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    app.screenshot("first-admin").await;
    app.create_first_admin("root", ADMIN_PASSWORD).await;

    // The status bar's values come from the core: the embedded SQLite store it created in
    // the data dir we gave it, probed healthy, migrated to the newest schema.
    let backend = app.wait_for_text("status-backend", |t| !t.is_empty()).await;
    assert_eq!(backend, "SQLite (embedded)");
    app.wait_for_text("status-health", |t| t == "healthy").await;
    assert_eq!(
        app.attribute("status-health", "data-health")
            .await
            .as_deref(),
        Some("healthy")
    );
    let schema = app.text("status-schema").await;
    assert!(schema.starts_with("schema v"), "{schema}");
    assert!(
        app.data_dir.path().join("qcat.sqlite3").exists(),
        "the app created its store in QCAT_DATA_DIR"
    );

    for screen in SCREENS {
        app.click(&format!("nav-{screen}")).await;
        app.element(&format!("page-{screen}")).await;
        if screen == "logs" {
            // The app's own log, read back through the core: the line the store wrote
            // when this very run opened it.
            app.wait_for_text("logs-table", |t| t.contains("store opened"))
                .await;
        } else if screen == "settings" {
            // The effective configuration comes from the core with its provenance: the
            // variable set for this app wins over the default.
            app.wait_for_text("config-layer-logging.level", |t| t == "environment")
                .await;
            let row = app.text("config-row-logging.level").await;
            assert!(
                row.contains("debug") && row.contains("QCAT_LOGGING__LEVEL"),
                "{row}"
            );
            // Editing a setting saves it to the user's config file (here inside the fixture's
            // XDG config folder) and the table then shows the file as its source.
            app.click("config-editbtn-audit.retention_days").await;
            let field = app.element("config-edit-audit.retention_days").await;
            app.session.clear(&field).await.expect("clear the field");
            app.type_into("config-edit-audit.retention_days", "180")
                .await;
            app.click("config-save-audit.retention_days").await;
            app.wait_for_text("config-saved", |t| t.contains("audit.retention_days"))
                .await;
            app.wait_for_text("config-layer-audit.retention_days", |t| t == "config file")
                .await;
            let saved = std::fs::read_to_string(
                app.data_dir
                    .path()
                    .join("xdg-config/qcat-console/config.toml"),
            )
            .expect("the user config file was written");
            assert!(saved.contains("retention_days = 180"), "{saved}");
            // A named secret set from the UI is stored by the core and listed by name only.
            app.type_into("secret-name", "smtp_password").await;
            app.type_into("secret-value", "e2e-hunter2").await;
            app.click("secret-save").await;
            app.wait_for_text("secret-names", |t| t.contains("secret:smtp_password"))
                .await;
            let names = app.text("secret-names").await;
            assert!(!names.contains("e2e-hunter2"));
        } else if screen == "access" {
            // The role matrix comes from the core: the built-in roles, admin holding all.
            app.wait_for_text("role-matrix", |t| {
                t.contains("operator") && t.contains("backup:restore")
            })
            .await;
            assert_eq!(
                app.attribute("cell-operator-monitor:view", "data-state")
                    .await
                    .as_deref(),
                Some("inherited"),
                "operator inherits monitor:view from viewer"
            );
            app.element("role-graph").await;
        } else if screen == "system" {
            // The runtime as the core reports it: on the embedded store this console holds
            // the data dir's lock, so it leads the scheduler; its tasks run; the schedule is
            // the configured one.
            app.wait_for_text("duty-scheduler", |t| t.contains("this console"))
                .await;
            let tasks = app.text("system-tasks").await;
            for task in [
                "audit-writer",
                "access-cache",
                "scheduler",
                "duty:scheduler",
            ] {
                assert!(tasks.contains(task), "{task} is listed: {tasks}");
            }
            let schedule = app.text("schedule-audit-maintenance").await;
            assert!(schedule.contains("@every 1h"), "{schedule}");
        } else if screen == "dashboard" {
            // Nothing is monitored yet: the empty state says how to add a target and offers
            // the two first steps.
            let empty = app.text("monitor-empty").await;
            assert!(empty.contains("qcatctl target add"), "{empty}");
            app.element("quick-host").await;
            app.element("quick-demo").await;
        } else if screen == "performance" {
            // No application monitored yet: the latency tab says how to get one.
            let empty = app.text("latency-empty").await;
            assert!(empty.contains("/metrics"), "{empty}");
        } else if screen == "audit" {
            // The first administrator's creation is the first entry of the trail.
            app.wait_for_text("audit-list", |t| t.contains("rbac.user.create_first_admin"))
                .await;
        } else if screen == "alerts" {
            // Nothing fires on a new store, and the screen says so.
            let none = app.text("alerts-none").await;
            assert!(none.contains("No alert is firing"), "{none}");
        } else if screen == "backups" {
            // No backup yet: the screen says so and how to take the first one.
            let empty = app.text("backups-empty").await;
            assert!(empty.contains("Back up now"), "{empty}");
        } else {
            unreachable!("{screen} has a check of its own above");
        }
        app.screenshot(screen).await;
    }

    app.click("nav-about").await;
    assert_eq!(app.text("about-version").await, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        app.text("about-data-dir").await,
        app.data_dir.path().display().to_string(),
        "About shows the data dir the core uses"
    );
    let master_key = app.text("about-master-key").await;
    assert!(
        master_key.contains("key file"),
        "About says where the master key comes from: {master_key}"
    );
    app.screenshot("about").await;
    app.click("about-close").await;

    // Switch to Simplified Chinese in Settings: the navigation and the core-fed status bar
    // re-render in Chinese.
    app.click("nav-settings").await;
    // Selecting an <option> by clicking it is the W3C way to choose from a <select>.
    let chinese = app
        .element_css("[data-testid='language-select'] option[value='zh-CN']")
        .await;
    app.session.click(&chinese).await.expect("choose 简体中文");
    let backups = app
        .wait_for_text("nav-backups", |t| t.contains("备份"))
        .await;
    assert!(
        !backups.contains("Backups"),
        "the English label is gone: {backups:?}"
    );
    app.wait_for_text("status-backend", |t| t == "SQLite（内置）")
        .await;
    app.screenshot("settings-zh-CN").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn team_mode_on_a_chinese_desktop() {
    // A Chinese desktop (LANG) gets the Chinese UI with no setting touched, and a
    // postgres:// URL puts the console in team mode on a real PostgreSQL server.
    let url = qcat_testkit::test_database_url();
    let app = App::launch(
        "team",
        &[
            ("LANG", "zh_CN.UTF-8"),
            ("LANGUAGE", "zh_CN:zh"),
            ("QCAT_DATABASE__URL", &url),
        ],
    )
    .await;
    app.create_first_admin("root", ADMIN_PASSWORD).await;
    app.wait_for_text("status-backend", |t| t == "PostgreSQL（团队）")
        .await;
    app.wait_for_text("status-health", |t| t == "正常").await;
    assert_eq!(
        app.attribute("status-health", "data-health")
            .await
            .as_deref(),
        Some("healthy")
    );
    app.screenshot("dashboard").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_role_reaches_a_new_user_and_the_audit_trail() {
    let app = App::launch("access", &[("LANG", "en_US.UTF-8")]).await;
    app.create_first_admin("root", ADMIN_PASSWORD).await;
    app.sign_out().await;
    app.sign_in("root", ADMIN_PASSWORD).await;

    // A role inheriting from operator, granted backup:restore in the matrix.
    app.click("nav-access").await;
    app.type_into("role-name", "restorer").await;
    app.type_into("role-description", "restores at 3 a.m.")
        .await;
    app.click("new-parent-operator").await;
    app.click("role-create-submit").await;
    app.element("role-col-restorer").await;
    assert_eq!(
        app.attribute("cell-restorer-backup:run", "data-state")
            .await
            .as_deref(),
        Some("inherited"),
        "restorer inherits operator's backup:run"
    );
    app.click_css("[data-testid='cell-restorer-backup:restore'] button")
        .await;
    app.wait_for_attribute("cell-restorer-backup:restore", "data-state", "direct")
        .await;
    app.screenshot("roles").await;

    // A new user holding it.
    app.click("access-tab-users").await;
    app.type_into("user-name", "rita").await;
    app.type_into("user-password", USER_PASSWORD).await;
    app.click("user-new-role-restorer").await;
    app.click("user-create-submit").await;
    app.element("user-rita").await;
    app.screenshot("users").await;

    // Why can rita restore? Through restorer.
    app.click("access-tab-explain").await;
    app.select_option("explain-user", "rita").await;
    app.select_option("explain-permission", "backup:restore")
        .await;
    app.click("explain-submit").await;
    let answer = app
        .wait_for_text("explain-answer", |t| t.starts_with("Yes"))
        .await;
    assert!(answer.contains("restorer"), "{answer}");
    app.sign_out().await;

    // rita sees exactly the screens her roles allow: no access control, no audit trail,
    // and no editing of settings or secrets.
    app.sign_in("rita", USER_PASSWORD).await;
    for screen in ["dashboard", "alerts", "backups", "logs", "settings"] {
        assert!(
            app.exists(&format!("nav-{screen}")).await,
            "rita sees {screen}"
        );
    }
    for screen in ["access", "audit"] {
        assert!(
            !app.exists(&format!("nav-{screen}")).await,
            "rita must not see {screen}"
        );
    }
    app.click("nav-settings").await;
    app.wait_for_text("config-layer-logging.level", |t| !t.is_empty())
        .await;
    assert!(
        !app.exists("config-editbtn-logging.level").await,
        "no config:edit"
    );
    assert!(!app.exists("secret-form").await, "no secrets:write");
    app.screenshot("restricted-user").await;
    app.sign_out().await;

    // All of it is in the audit viewer.
    app.sign_in("root", ADMIN_PASSWORD).await;
    app.click("nav-audit").await;
    let list = app
        .wait_for_text("audit-list", |t| t.contains("rbac.user.create"))
        .await;
    app.screenshot("audit-list").await;
    for expected in [
        "rbac.role.create",
        "rbac.role.update",
        "auth.login",
        "auth.logout",
        "rbac.user.create",
        "rita",
    ] {
        assert!(
            list.contains(expected),
            "{expected} missing from the audit list:\n{list}"
        );
    }
    // The grant's before/after diff.
    app.type_into("audit-action", "rbac.role.update").await;
    app.click("audit-apply").await;
    app.wait_for_text("audit-total", |t| t.ends_with(": 1"))
        .await;
    app.click_css("[data-testid='audit-list'] button.row").await;
    let diff = app
        .wait_for_text("audit-diff", |t| t.contains("backup:restore"))
        .await;
    assert!(diff.contains("grants"), "{diff}");
    let detail = app.text("audit-detail").await;
    assert!(
        detail.contains("role:restorer") && detail.contains("root"),
        "{detail}"
    );
    // Export what the filter shows; the file lands in the data dir's exports folder.
    app.click("audit-export-csv").await;
    let exported = app
        .wait_for_text("audit-exported", |t| t.contains("exports"))
        .await;
    let path = exported
        .split(" to ")
        .last()
        .expect("the message names the file")
        .trim();
    let csv = std::fs::read_to_string(path).expect("the export exists");
    assert_eq!(
        csv.lines().count(),
        2,
        "a header and the one filtered entry: {csv}"
    );
    assert!(csv.contains("rbac.role.update") && csv.contains("backup:restore"));
    app.click("audit-verify").await;
    app.wait_for_text("audit-verify-result", |t| t.contains("holds"))
        .await;
    app.screenshot("audit").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_viewer_pages_through_a_hundred_thousand_entries() {
    const ENTRIES: usize = 100_000;
    let app = App::launch("audit-100k", &[("LANG", "en_US.UTF-8")]).await;
    app.create_first_admin("root", ADMIN_PASSWORD).await;
    // 100 000 more entries in the app's own store, chained like any others.
    let store = qcat_store::Store::open(
        &qcat_store::StoreTarget::Sqlite(app.data_dir.path().join("qcat.sqlite3")),
        &qcat_store::StoreOptions::default(),
    )
    .await
    .unwrap();
    for chunk in (0..ENTRIES).collect::<Vec<_>>().chunks(10_000) {
        let events: Vec<qcat_audit::AuditEvent> = chunk
            .iter()
            .map(|n| {
                qcat_audit::AuditEvent::new(
                    "loadgen",
                    "test.event",
                    format!("item:{n}"),
                    "e2e",
                    qcat_audit::Outcome::Ok,
                )
            })
            .collect();
        let mut tx = store.pool().begin().await.unwrap();
        qcat_audit::chain::append(&mut tx, &events).await.unwrap();
        tx.commit().await.unwrap();
    }
    store.close().await;

    app.click("nav-audit").await;
    let total = app
        .wait_for_text("audit-total", |t| {
            t.rsplit(": ")
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n > ENTRIES)
        })
        .await;
    let total: i64 = total.rsplit(": ").next().unwrap().parse().unwrap();
    // The newest entry is row 0; row i holds sequence number total - i.
    app.element(&format!("audit-row-{total}")).await;
    for row in [60_000_i64, 99_000, 1_000] {
        let started = std::time::Instant::now();
        app.scroll_to("audit-list", u64::try_from(row * 30).unwrap())
            .await;
        app.element(&format!("audit-row-{}", total - row)).await;
        println!(
            "audit viewer: row {row} of {total} shown {} ms after the scroll",
            started.elapsed().as_millis()
        );
    }
    // Let the paint catch up with the DOM before the picture.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    app.screenshot("deep-scroll").await;

    // Verifying the 100 000 entries is a job: its bar moves, then the report shows.
    app.click("audit-verify").await;
    app.element("job-progress-bar").await;
    let mut seen = Vec::new();
    while seen.len() < 40 && app.exists("job-progress-bar").await {
        if let Some(done) = app.attribute_now("job-progress-bar", "data-done").await
            && let Ok(done) = done.parse::<u64>()
            && seen.last() != Some(&done)
        {
            seen.push(done);
        }
        if seen.len() == 2 {
            app.screenshot("verify-progress").await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
    println!("verify progress as the window saw it: {seen:?}");
    assert!(
        seen.len() >= 2 && seen.windows(2).all(|pair| pair[0] < pair[1]),
        "the progress bar moved forward: {seen:?}"
    );
    app.wait_for_text("audit-verify-result", |t| t.contains("holds"))
        .await;
    // And Cancel stops it: no report, the cancellation said as such.
    app.click("audit-verify").await;
    app.element("job-progress-bar").await;
    app.click("job-cancel").await;
    let failure = app
        .wait_for_text("audit-failure", |t| t.starts_with("Cancelled"))
        .await;
    app.screenshot("verify-cancelled").await;
    assert!(failure.contains("nothing was concluded"), "{failure}");
    assert!(!app.exists("audit-verify-result").await);
    app.close().await;
}

/// `qcatctl` (built next to the app by the workspace's test build) acting as root on the
/// app's own data dir, as a second console would.
fn qcatctl_as_root(app: &App, args: &[&str]) -> String {
    let app_binary = std::path::Path::new(env!("CARGO_BIN_EXE_qcat-console"));
    let qcatctl = app_binary.with_file_name("qcatctl");
    if !qcatctl.exists() {
        let built = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "qcatctl"])
            .status()
            .expect("cargo runs");
        assert!(built.success(), "qcatctl builds");
    }
    let out = std::process::Command::new(&qcatctl)
        .env_clear()
        .env("QCAT_DATA_DIR", app.data_dir.path())
        .env(
            "QCAT_MASTER_KEY_FILE",
            app.data_dir.path().join("master.key"),
        )
        .env("QCAT_USER", "root")
        .env("QCAT_PASSWORD", ADMIN_PASSWORD)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("qcatctl runs");
    assert!(
        out.status.success(),
        "qcatctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_window_follows_qcatctl_within_a_second_and_their_edits_revert_nothing() {
    // Issue #9: a change made by another console or qcatctl reaches the open Access screen
    // by a live event, no reload. Issue #8, finding 17: the window once sent the role's
    // whole grant list built from its own copy, undoing a grant made meanwhile.
    let app = App::launch("concurrent-edit", &[("LANG", "en_US.UTF-8")]).await;
    app.create_first_admin("root", ADMIN_PASSWORD).await;
    app.click("nav-access").await;
    app.type_into("role-name", "desk").await;
    app.click("role-create-submit").await;
    app.element("role-col-desk").await;

    // qcatctl grants backup:view while the window shows the role without it.
    qcatctl_as_root(&app, &["role", "grant", "desk", "backup:view"]);
    let granted = std::time::Instant::now();
    app.wait_for_attribute("cell-desk-backup:view", "data-state", "direct")
        .await;
    let seen_after = granted.elapsed();
    println!("qcatctl's grant shown in the window after {seen_after:?}");
    assert!(
        seen_after < std::time::Duration::from_secs(1),
        "the open Access screen follows within a second, took {seen_after:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.screenshot("followed").await;
    // The window's own grant on the followed view goes through, and both grants are there.
    app.click_css("[data-testid='cell-desk-alerts:view'] button")
        .await;
    app.wait_for_attribute("cell-desk-alerts:view", "data-state", "direct")
        .await;
    let role: serde_json::Value =
        serde_json::from_str(&qcatctl_as_root(&app, &["role", "show", "desk", "--json"])).unwrap();
    let grants: Vec<&str> = role["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|grant| grant.as_str())
        .collect();
    assert_eq!(
        grants,
        ["alerts:view", "backup:view"],
        "nothing was reverted"
    );
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_goes_live_an_incident_turns_a_panel_red_and_the_big_screen_shows_it() {
    let app = App::launch(
        "monitoring",
        &[
            ("LANG", "en_US.UTF-8"),
            ("QCAT_MONITORING__FLUSH_INTERVAL", "1s"),
        ],
    )
    .await;
    app.wait_for_text("first-admin-form", |t| !t.is_empty())
        .await;
    app.create_first_admin("root", ADMIN_PASSWORD).await;
    app.click("nav-dashboard").await;
    // First steps from the empty state: the demo trading application, then this machine.
    app.click("quick-demo").await;
    app.element("target-demo-trading-app").await;
    app.click("tab-targets").await;
    app.click("targets-quick-host").await;
    // A target that cannot work, added through the editor: Test connection names the step.
    app.click("target-add").await;
    app.type_into("target-name", "orders-db").await;
    app.select_option("target-kind", "postgres").await;
    app.type_into("target-url", "postgres://monitor@127.0.0.1:1/orders")
        .await;
    app.click("target-test").await;
    let check = app
        .wait_for_text("target-check", |t| t.contains("Connection refused"))
        .await;
    assert!(
        check.contains("Connect"),
        "the failing step is named: {check}"
    );
    app.click("target-save").await;

    // The overview fills with live values from the simulator and from this machine.
    app.click("tab-overview").await;
    let rate = app
        .wait_for_text("stat-demo-trading-app-requests", |t| {
            t.contains("/s") && !t.contains("–/s")
        })
        .await;
    assert!(rate.contains("Request rate"), "{rate}");
    app.wait_for_text("stat-this-machine-cpu", |t| t.contains('%'))
        .await;
    app.wait_for_attribute("target-orders-db", "data-state", "down")
        .await;
    let down = app.text("target-orders-db").await;
    assert!(
        down.contains("Connection refused"),
        "the error in words: {down}"
    );
    app.wait_for_text("attention", |t| t.contains("1 target(s) down"))
        .await;
    app.screenshot("dashboard-overview").await;

    // The application's page: charts, and the range picker changes what they read.
    app.click("tab-prometheus").await;
    app.wait_for_attribute("panel-demo-trading-app-latency", "data-range-ms", "901000")
        .await;
    app.click("range-1h").await;
    app.wait_for_attribute("panel-demo-trading-app-latency", "data-range-ms", "3601000")
        .await;
    // Before the incident its P99 is not red (the simulator's latencies are tens of ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let before = loop {
        let level = app
            .attribute("panel-demo-trading-app-latency", "data-level")
            .await
            .unwrap_or_default();
        if level != "none" || std::time::Instant::now() > deadline {
            break level;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        before == "ok" || before == "warn",
        "P99 before the incident: {before}"
    );
    app.screenshot("dashboard-application").await;

    // A latency step in the application: its P99 panel turns red within a few readings.
    let url = app.text("target-url-demo-trading-app").await;
    let port = url
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/incident?kind=latency&for=5m"
        ))
        .send()
        .await
        .expect("the demo application answers");
    assert!(response.status().is_success());
    app.wait_for_attribute("panel-demo-trading-app-latency", "data-level", "bad")
        .await;
    app.screenshot("dashboard-incident").await;

    for (tab, shot) in [
        ("host", "dashboard-hosts"),
        ("postgres", "dashboard-postgresql"),
        ("redis", "dashboard-redis"),
        ("targets", "dashboard-targets"),
    ] {
        app.click(&format!("tab-{tab}")).await;
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        app.screenshot(shot).await;
    }

    // The big screen: dark, a clock, the banner naming the target that is down.
    app.click("tab-overview").await;
    app.click("open-bigscreen").await;
    app.element("bigscreen").await;
    app.wait_for_text("bigscreen-banner", |t| t.contains("orders-db"))
        .await;
    let clock = app.text("bigscreen-clock").await;
    assert!(clock.contains(':'), "a clock: {clock}");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    app.screenshot("bigscreen").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_moves_its_progress_bar_and_the_wizard_restores_it_into_a_new_database() {
    // Issue #11: Back up now with a visible, moving progress bar; the restore wizard
    // verifies, previews, refuses a wrong typed name for a production target, restores
    // into a new database and shows the row-count check.
    let source_url = qcat_testkit::test_database_url();
    let psql = |url: &str, sql: &str| {
        let out = std::process::Command::new("psql")
            .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(
        &source_url,
        "CREATE TABLE fills AS SELECT g AS id, md5(g::text) || md5((g * 3)::text) AS note, g * 0.01 AS px FROM generate_series(1, 1500000) g",
    );
    let app = App::launch("backup", &[("LANG", "en_US.UTF-8")]).await;
    app.create_first_admin("root", ADMIN_PASSWORD).await;
    qcatctl_as_root(
        &app,
        &[
            "target",
            "add",
            "orders-db",
            "--kind",
            "postgres",
            "--url",
            &source_url,
            "--environment",
            "production",
        ],
    );
    app.click("nav-backups").await;
    app.element("backup-source-orders-db").await;
    app.click("backup-now").await;
    // The bar moves: at least two different amounts done while the job runs.
    let mut seen = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline && !app.exists("backup-notice").await {
        if !app.exists("job-progress-bar").await {
            if app.exists("backup-error").await {
                panic!("the backup failed: {}", app.text("backup-error").await);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        }
        if let Some(done) = app.attribute_now("job-progress-bar", "data-done").await
            && seen.insert(done)
            && seen.len() == 2
        {
            app.screenshot("backup-progress").await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen.len() >= 2, "the progress bar moved: {seen:?}");
    let notice = app
        .wait_for_text("backup-notice", |t| t.contains("is published"))
        .await;
    let id = notice.split_whitespace().nth(1).unwrap().to_owned();
    app.element(&format!("backup-{id}")).await;
    app.screenshot("backup-listed").await;

    // The wizard: verify → target → preview → typed name → restore → check.
    app.click(&format!("restore-{id}")).await;
    app.click("restore-verify").await;
    let database = format!("{}_restored", source_url.rsplit('/').next().unwrap());
    let destination = format!("{}/{database}", source_url.rsplit_once('/').unwrap().0);
    app.type_into("restore-destination", &destination).await;
    app.click("restore-preview").await;
    app.wait_for_attribute("restore-plan", "data-action", "create")
        .await;
    let plan = app.text("restore-plan").await;
    assert!(
        plan.contains("· production"),
        "a URL on a production target's server is production: {plan}"
    );
    app.type_into("restore-confirm", "orders").await;
    assert!(
        app.attribute("restore-start", "disabled").await.is_some(),
        "a wrong name leaves Restore disabled"
    );
    app.screenshot("restore-confirm").await;
    // Past the window, the core refuses the wrong name too (and audits the refusal).
    let refused = std::process::Command::new(
        std::path::Path::new(env!("CARGO_BIN_EXE_qcat-console")).with_file_name("qcatctl"),
    )
    .env_clear()
    .env("QCAT_DATA_DIR", app.data_dir.path())
    .env(
        "QCAT_MASTER_KEY_FILE",
        app.data_dir.path().join("master.key"),
    )
    .env("QCAT_USER", "root")
    .env("QCAT_PASSWORD", ADMIN_PASSWORD)
    .args([
        "backup",
        "restore",
        &id,
        "--target",
        &format!("orders-db={destination}"),
        "--confirm",
        "orders",
    ])
    .output()
    .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(77),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // Six backspaces (WebDriver's U+E003) take "orders" back out; then the right name.
    app.type_into(
        "restore-confirm",
        &format!("{}{database}", "\u{E003}".repeat(6)),
    )
    .await;
    assert!(
        app.attribute("restore-start", "disabled").await.is_none(),
        "the exact name enables Restore"
    );
    app.click("restore-start").await;
    app.wait_for_attribute("restore-result", "data-passed", "true")
        .await;
    let result = app.text("restore-result").await;
    assert!(result.contains("row count matches"), "{result}");
    app.screenshot("restore-checked").await;
    app.click("restore-finish").await;

    // The recovery point is on its source's timeline; picking it opens its chain.
    app.element_css("[data-testid^='timeline-orders-db-']")
        .await;
    app.click_css("[data-testid^='select-']").await;
    let chain = app
        .wait_for_text("backup-chain", |text| !text.is_empty())
        .await;
    assert!(
        chain.starts_with("20"),
        "a full's chain is its own id: {chain}"
    );

    // The policy: a schedule saved in the window is planned at once (no restart).
    app.click("backups-tab-policy").await;
    app.element("policy-schedule-full").await;
    app.type_into("policy-schedule-full", "@every 6h").await;
    app.click("policy-save").await;
    // A schedule with no source to take is refused, naming the field.
    let refused = app
        .wait_for_text("policy-error", |text| !text.is_empty())
        .await;
    assert!(refused.contains("backup.sources"), "{refused}");
    app.click("policy-source-orders-db").await;
    app.click("policy-save").await;
    app.element("policy-saved").await;
    let next = app.text("policy-next-full").await;
    assert!(
        !next.contains("not scheduled") && next.chars().any(|c| c.is_ascii_digit()),
        "the saved schedule shows its next run: {next}"
    );
    app.screenshot("backup-policy").await;

    // The history: the backup's duration is a point of the metric store's series.
    app.click("backups-tab-history").await;
    app.wait_for_attribute_css(
        "[data-testid='trend-backup_duration_seconds'] [data-testid='time-chart']",
        "data-points",
        |points| points.parse::<u32>().is_ok_and(|n| n >= 1),
    )
    .await;
    app.screenshot("backup-history").await;
    app.close().await;
}

/// Polls `probe` (which may click and read) every second until it returns something, for
/// waits longer than one UI step (a deviation must last its `for` duration first).
async fn wait_long<T, F, Fut>(limit: std::time::Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_performance_page_shows_the_band_a_deviation_a_comparison_and_a_report() {
    // Issue #12 in the real window: the demo starts with a week of history, so its P99 has
    // a learned band at once; a latency incident becomes a deviation on the timeline; a
    // named baseline is captured and compared; the report exported from the window opens
    // with its charts.
    let app = App::launch(
        "performance",
        &[
            ("LANG", "en_US.UTF-8"),
            ("QCAT_MONITORING__FLUSH_INTERVAL", "1s"),
            // A deviation is an event after two minutes instead of five: the test waits less.
            ("QCAT_BASELINE__DEVIATION_FOR", "2m"),
        ],
    )
    .await;
    app.create_first_admin("root", ADMIN_PASSWORD).await;
    app.click("nav-dashboard").await;
    app.click("quick-demo").await;
    app.element("target-demo-trading-app").await;
    app.click("tab-prometheus").await;
    let url = app.text("target-url-demo-trading-app").await;
    let port = url
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();

    // Any dashboard chart of a baselined series shows its band on request.
    app.click("panel-band-demo-trading-app-latency").await;
    app.wait_for_attribute_css(
        "[data-testid='panel-demo-trading-app-latency'] [data-testid='band-chart']",
        "data-banded",
        |n| n.parse::<u32>().is_ok_and(|n| n > 0),
    )
    .await;

    // The application's P99 against its band: learned from the backfilled week.
    app.click("nav-performance").await;
    app.element("page-performance").await;
    let p99 = "app_latency_seconds{quantile=\"0.99\",target=\"demo-trading-app\"}";
    let panel = format!(
        "[data-testid='band-panel'][data-series='{}']",
        p99.replace('"', "\\\"")
    );
    app.wait_for_attribute_css(
        &format!("{panel} [data-testid='band-chart']"),
        "data-banded",
        |n| n.parse::<u32>().is_ok_and(|n| n > 10),
    )
    .await;
    // Each endpoint has its own panel.
    app.element_css("[data-testid='band-panel'][data-series*='/order/submit']")
        .await;
    app.screenshot("latency-bands").await;

    // A named baseline of the calm, backfilled week, captured before anything happens.
    app.click("perf-tab-baselines").await;
    app.click("capture-open").await;
    app.type_into("capture-name", "before 1.5").await;
    app.click("capture-save").await;
    app.element_css("[data-testid='baseline-row'][data-name='before 1.5']")
        .await;

    // Every latency ×8 for five minutes.
    let injected = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/incident?kind=latency&for=5m"
        ))
        .send()
        .await
        .expect("the demo application answers");
    assert!(response.status().is_success());

    // The deviation timeline shows it once it has lasted its two minutes.
    app.click("perf-tab-deviations").await;
    let row = format!(
        "[data-testid='deviation-row'][data-series='{}'][data-direction='above']",
        p99.replace('"', "\\\"")
    );
    // The one that starts with the incident (the minute it began in, or the next two).
    let row = wait_long(std::time::Duration::from_secs(300), "the P99 deviation", || async {
        let found = app
            .session
            .execute(
                "return [...document.querySelectorAll(arguments[0])] \
                   .map((row) => Number(row.dataset.start)) \
                   .find((start) => start >= arguments[1] - 60000 && start <= arguments[1] + 180000) ?? null;",
                vec![serde_json::json!(row), serde_json::json!(injected)],
            )
            .await
            .expect("read the rows");
        found
            .as_i64()
            .map(|start| format!("{row}[data-start='{start}']"))
    })
    .await;
    app.element("deviation-timeline").await;
    app.session
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView({ block: 'center' });",
            vec![serde_json::json!(row)],
        )
        .await
        .expect("scroll to the row");
    app.click_css(&format!("{row} [data-testid='deviation-choose']"))
        .await;
    // The chosen event's chart around it shades the deviation.
    app.wait_for_attribute_css(
        "[data-testid='band-chart'][data-deviations]",
        "data-deviations",
        |n| n.parse::<u32>().is_ok_and(|n| n >= 1),
    )
    .await;
    app.screenshot("deviation-timeline").await;
    // The Learning tab: the P99 has all the history it needs.
    app.click("perf-tab-learning").await;
    app.wait_for_attribute_css(
        &format!(
            "[data-testid='learning-row'][data-series='{}']",
            p99.replace('"', "\\\"")
        ),
        "data-ready",
        |ready| ready == "yes",
    )
    .await;
    app.screenshot("learning").await;

    // Compared with the calm week captured before the incident, the last hour's P99 is
    // higher (whether that is significant depends on how many of its minutes the incident
    // took: the API tests hold the statistics to account; here the flow is checked).
    app.click("perf-tab-baselines").await;
    app.element_css("[data-testid='baseline-row'][data-name='before 1.5']")
        .await;
    app.click_css("[data-testid='baseline-row'][data-name='before 1.5'] button")
        .await;
    app.click("compare-1h").await;
    app.click("compare-run").await;
    app.wait_for_text("compare-summary", |t| {
        t.contains("series changed significantly")
    })
    .await;
    // The P99 row has its change and interval (whether the incident's minutes already fill
    // a whole 10-minute block of the hour depends on timing, so its sign is not asserted
    // here: the API tests hold the statistics to account), and the summary counts exactly
    // the rows marked significant.
    let compared = app
        .element_css(&format!(
            "[data-testid='compare-row'][data-series='{}']",
            p99.replace('"', "\\\"")
        ))
        .await;
    let change: f64 = app
        .session
        .attribute(&compared, "data-change")
        .await
        .unwrap()
        .and_then(|change| change.parse().ok())
        .expect("the P99 row has a change");
    assert!(change.is_finite(), "{change}");
    let significant = app
        .session
        .execute(
            "return document.querySelectorAll(\"[data-testid='compare-row'][data-significant='yes']\").length;",
            vec![],
        )
        .await
        .expect("count the rows")
        .as_u64()
        .unwrap();
    let summary = app.text("compare-summary").await;
    assert!(
        summary.starts_with(&format!("{significant} of ")),
        "{summary} vs {significant} rows marked significant"
    );
    app.screenshot("named-baselines").await;

    // The report, exported from the window: one file whose charts a browser engine opens.
    app.click("report-export").await;
    let written = app
        .wait_for_text("report-path", |t| t.contains(".html"))
        .await;
    let path = written
        .split_once(": ")
        .map(|(_, path)| path.trim().to_owned())
        .expect("the path is shown");
    let html = std::fs::read_to_string(&path).expect("the report file exists");
    let images: Vec<String> = html
        .split("src=\"data:image/png;base64,")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    assert!(images.len() >= 2, "the report holds its charts");
    let decoded = app
        .session
        .execute(
            "return Promise.all(arguments[0].map((data) => new Promise((resolve) => { \
               const image = new Image(); \
               image.onload = () => resolve(image.naturalWidth); \
               image.onerror = () => resolve(0); \
               image.src = 'data:image/png;base64,' + data; })));",
            vec![serde_json::json!(images)],
        )
        .await
        .expect("the webview decodes the charts");
    let widths: Vec<u64> = decoded
        .as_array()
        .expect("one width per chart")
        .iter()
        .map(|w| w.as_u64().unwrap_or(0))
        .collect();
    assert!(
        widths.iter().all(|w| *w >= 600),
        "every chart opens: {widths:?}"
    );
    app.close().await;
}

const ROBOT_TOKEN: &str = "e2e-robot-token";
const ROBOT_SECRET: &str = "SECe2e0123456789";

/// The local DingTalk stand-in: accepts only correctly signed messages with the right
/// token.
fn robot() -> qcat_testkit::Robots {
    qcat_testkit::Robots::start(&qcat_testkit::RobotCredentials {
        dingtalk_token: ROBOT_TOKEN,
        dingtalk_secret: ROBOT_SECRET,
        feishu_secret: "f",
        aliyun_id: "i",
        aliyun_secret: "s",
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_rule_made_in_the_window_fires_to_dingtalk_signed_and_resolves() {
    // Issue #13 in the real window: CRITICAL routed to the local DingTalk robot, a
    // threshold rule on the demo's error ratio made and previewed in the editor, an error
    // burst injected: the alert fires in the list, the robot accepts a signed message,
    // and the alert resolves into the history; the delivery log counts the messages.
    let robot = robot();
    let app = App::launch(
        "alerts",
        &[
            ("LANG", "en_US.UTF-8"),
            ("QCAT_MONITORING__FLUSH_INTERVAL", "1s"),
            ("QCAT_ALERTING__EVALUATION_INTERVAL", "1s"),
        ],
    )
    .await;
    app.create_first_admin("root", ADMIN_PASSWORD).await;
    app.click("nav-dashboard").await;
    app.click("quick-demo").await;
    app.element("target-demo-trading-app").await;
    app.click("tab-prometheus").await;
    let url = app.text("target-url-demo-trading-app").await;
    let port = url
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();

    // The routing: CRITICAL to the desk's robot, given with its token and secret as they
    // are (the save moves them into the keychain).
    app.click("nav-alerts").await;
    app.click("alerts-tab-routing").await;
    let yaml = format!(
        "route:\n  receiver: quiet\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\n  routes:\n    - receiver: desk\n      matchers: ['severity=\"critical\"']\nreceivers:\n  - name: quiet\n  - name: desk\n    dingtalk_configs:\n      - webhook_url: {}/dingtalk/robot/send?access_token={ROBOT_TOKEN}\n        secret: {ROBOT_SECRET}\n",
        robot.base()
    );
    app.element("routing-yaml").await;
    app.session
        .execute(
            "const area = document.querySelector(\"[data-testid='routing-yaml']\"); \
             area.value = arguments[0]; area.dispatchEvent(new Event('input', { bubbles: true }));",
            vec![serde_json::json!(yaml)],
        )
        .await
        .expect("set the routing text");
    app.click("routing-save").await;
    app.element("routing-saved").await;
    let stored = app
        .session
        .execute(
            "return document.querySelector(\"[data-testid='routing-yaml']\").value;",
            vec![],
        )
        .await
        .expect("read the routing text");
    let stored = stored.as_str().unwrap_or_default();
    assert!(
        stored.contains("secret:alert.desk.dingtalk.0.secret") && !stored.contains(ROBOT_SECRET),
        "the secret moved into the keychain: {stored}"
    );
    // The simulator: a critical alert reaches the desk, rendered as DingTalk shows it.
    app.click("simulate-run").await;
    app.element_css("[data-testid='simulate-route'][data-receiver='desk'] [data-testid='simulate-message'][data-kind='dingtalk']")
        .await;
    app.screenshot("routing-simulator").await;

    // The rule, previewed, then saved.
    app.click("alerts-tab-rules").await;
    app.click("rule-new").await;
    app.type_into("rule-name", "HighErrorRate").await;
    app.type_into(
        "rule-series",
        "app_error_ratio{target=\"demo-trading-app\"}",
    )
    .await;
    app.session
        .execute(
            "for (const [id, value] of [['rule-value', '0.05'], ['rule-for', '2s']]) { \
               const input = document.querySelector(`[data-testid='${id}']`); \
               input.value = value; input.dispatchEvent(new Event('input', { bubbles: true })); }",
            vec![],
        )
        .await
        .expect("set the threshold");
    app.select_option("rule-severity", "critical").await;
    app.type_into("rule-summary", "error ratio {{ value | round(3) }}")
        .await;
    app.click("rule-preview").await;
    app.wait_for_attribute_css("[data-testid='rule-preview-result']", "data-firings", |n| {
        n.parse::<u32>().is_ok()
    })
    .await;
    app.click("rule-save").await;
    app.element_css("[data-testid='rule-row'][data-name='HighErrorRate']")
        .await;

    // An error burst on the demo.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let response = client
        .post(format!(
            "http://127.0.0.1:{port}/incident?kind=errors&for=20s"
        ))
        .send()
        .await
        .expect("the demo application answers");
    assert!(response.status().is_success());
    app.click("alerts-tab-firing").await;
    app.element_css(
        "[data-testid='alert-row'][data-name='HighErrorRate'][data-severity='critical']",
    )
    .await;
    app.element("nav-alerts-count").await;
    app.screenshot("alert-firing").await;
    // The robot accepted it: signed with the secret from the keychain.
    let message = wait_long(
        std::time::Duration::from_secs(60),
        "the DingTalk message",
        || async { robot.received("dingtalk").into_iter().next() },
    )
    .await;
    assert!(
        message["markdown"]["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("[FIRING:1] HighErrorRate"),
        "{message}"
    );
    // The burst ends and the alert resolves into the history.
    wait_long(
        std::time::Duration::from_secs(120),
        "the resolved alert",
        || async {
            app.find(
                "[data-testid='history-row'][data-name='HighErrorRate'][data-state='resolved']",
            )
            .await
            .map(|_| ())
        },
    )
    .await;
    app.click("alerts-tab-deliveries").await;
    // A firing and a resolved message at least (a quiet hour of the simulated day can make
    // the ratio dip mid-burst: resolved and fired again).
    app.wait_for_attribute_css(
        "[data-testid='delivery-channel'][data-receiver='desk']",
        "data-sent",
        |n| n.parse::<u32>().is_ok_and(|n| n >= 2),
    )
    .await;
    app.screenshot("delivery-log").await;
    app.close().await;
}
