//! End-to-end tests of the real app: `qcat-console` in a private Xvfb display, driven by
//! tauri-driver + WebKitWebDriver. They visit every screen, check what the core reports
//! (version, data dir, storage backend and health, schema version), switch the language,
//! and save a screenshot of each screen under `target/e2e-screenshots/`.

mod harness;
mod webdriver;

use harness::App;

const SCREENS: [&str; 7] = [
    "dashboard",
    "alerts",
    "backups",
    "access",
    "audit",
    "logs",
    "settings",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_screen_shows_core_data_and_switches_language() {
    let app = App::launch(
        "embedded",
        &[("LANG", "en_US.UTF-8"), ("QCAT_LOGGING__LEVEL", "debug")],
    )
    .await;

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
        } else {
            // Unbuilt screens say what will be there instead of showing invented numbers.
            let empty = app.text("empty-state").await;
            assert!(empty.len() > 40, "{screen} explains itself: {empty:?}");
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
