//! `qcatctl` as a user runs it: a real process with its own data dir.

use std::process::Command;

fn qcatctl(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qcatctl"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("QCAT_DATA_DIR", data_dir);
    command
}

#[test]
fn version_prints_the_crate_version() {
    let dir = qcat_testkit::temp_data_dir();
    let out = qcatctl(dir.path()).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!("qcatctl {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn status_reports_data_dir_backend_and_schema_version() {
    let dir = qcat_testkit::temp_data_dir();
    let out = qcatctl(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // QCAT_DATA_DIR decides where the data goes, and status says so.
    assert_eq!(json["app"]["dataDir"], dir.path().display().to_string());
    assert_eq!(json["app"]["dataDirSource"], "environment");
    assert_eq!(json["storage"]["backend"], "sqlite");
    assert_eq!(json["storage"]["health"], "healthy");
    assert!(json["storage"]["schemaVersion"].as_i64().unwrap() >= 1);
    assert!(
        dir.path().join("qcat.sqlite3").exists(),
        "first start created the store"
    );
}

#[test]
fn status_text_names_the_postgres_backend_in_team_mode() {
    let dir = qcat_testkit::temp_data_dir();
    let url = qcat_testkit::test_database_url();
    let out = qcatctl(dir.path())
        .arg("status")
        .env("QCAT_DATABASE__URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("storage         postgres"), "{text}");
    assert!(text.contains("health          healthy"), "{text}");
}

#[test]
fn an_unreachable_store_exits_with_the_storage_code_and_no_password() {
    let dir = qcat_testkit::temp_data_dir();
    let out = qcatctl(dir.path())
        .arg("status")
        .env(
            "QCAT_DATABASE__URL",
            "postgres://qcat:hunter2@127.0.0.1:9/qcat",
        )
        .env("QCAT_DATABASE__CONNECT_TIMEOUT_SECS", "1")
        .output()
        .unwrap();
    // 69 = EX_UNAVAILABLE, the code table's number for storage_unavailable.
    assert_eq!(out.status.code(), Some(69));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stderr.contains("error[storage_unavailable]"), "{stderr}");
    assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
}

#[test]
fn a_misspelt_variable_is_an_invalid_config_error() {
    let dir = qcat_testkit::temp_data_dir();
    let out = qcatctl(dir.path())
        .arg("status")
        .env("QCAT_DATABSE__URL", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    assert!(String::from_utf8_lossy(&out.stderr).contains("QCAT_DATABSE__URL"));
}

#[test]
fn config_show_reports_the_environment_as_the_source_of_an_override() {
    let dir = qcat_testkit::temp_data_dir();
    let out = qcatctl(dir.path())
        .current_dir(dir.path())
        .args(["config", "show", "--json"])
        .env("QCAT_LOGGING__LEVEL", "debug")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let level = json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|setting| setting["key"] == "logging.level")
        .unwrap();
    assert_eq!(level["value"], "debug");
    assert_eq!(level["origin"]["layer"], "environment");
    assert_eq!(level["origin"]["variable"], "QCAT_LOGGING__LEVEL");
    assert_eq!(level["shadowed"][0]["origin"]["layer"], "defaults");
}

#[test]
fn config_show_text_filters_by_section_and_masks_secrets() {
    let dir = qcat_testkit::temp_data_dir();
    let out = qcatctl(dir.path())
        .current_dir(dir.path())
        .args(["config", "show", "--section", "database"])
        .env("QCAT_DATABASE_PASSWORD", "hunter2")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("database.password"), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        !text.contains("logging."),
        "only the database section: {text}"
    );
}

#[test]
fn config_check_exits_1_and_lists_every_problem_with_file_and_line() {
    let dir = qcat_testkit::temp_data_dir();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[database]\nport = 70000\n[logging]\nlevel = \"loud\"\n",
    )
    .unwrap();
    let out = qcatctl(dir.path())
        .current_dir(dir.path())
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a linter's contract: 1 on problems"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("logging.level"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:4", file.display())),
        "names file:line: {stderr}"
    );
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[logging]\nlevel = \"warn\"\n").unwrap();
    let out = qcatctl(dir.path())
        .current_dir(dir.path())
        .args(["config", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
