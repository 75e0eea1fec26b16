//! `qcatctl` as a user runs it: a real process with its own data dir.

mod common;

use std::process::Command;

use common::{assert_exit, run_with_stdin, succeeded};

fn qcatctl(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qcatctl"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("QCAT_DATA_DIR", data_dir);
    command
}

/// `qcatctl config check FILE` run in `dir`, with extra environment variables.
fn config_check(
    dir: &std::path::Path,
    file: &std::path::Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> std::process::Output {
    let mut command = qcatctl(dir);
    command.current_dir(dir).args(["config", "check"]).arg(file);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
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
    succeeded(&out);
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
    succeeded(&out);
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
    succeeded(&out);
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
    succeeded(&out);
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
    let out = config_check(dir.path(), &file, &[]);
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
    let out = config_check(dir.path(), &good, &[]);
    assert_exit(&out, 0);
}

/// `qcatctl` with a fresh 0600 key file (a server without a keychain).
fn with_key_file(dir: &std::path::Path) -> (Command, std::path::PathBuf) {
    let key = dir.join("master.key");
    if !key.exists() {
        let out = qcatctl(dir)
            .args(["key", "init", "--to-file"])
            .arg(&key)
            .output()
            .unwrap();
        succeeded(&out);
    }
    let mut command = qcatctl(dir);
    command.current_dir(dir).env("QCAT_MASTER_KEY_FILE", &key);
    (command, key)
}

const ADMIN_PASSWORD: &str = "admin password 1";

/// Creates the first administrator `root` of the store `command`'s environment selects.
fn create_admin(mut command: Command) {
    command.args(["user", "add", "--admin", "root"]);
    let out = run_with_stdin(command, &format!("{ADMIN_PASSWORD}\n"));
    succeeded(&out);
}

/// `command` acting as `root`.
fn as_admin(mut command: Command) -> Command {
    command
        .env("QCAT_USER", "root")
        .env("QCAT_PASSWORD", ADMIN_PASSWORD);
    command
}

#[test]
fn an_encrypted_value_works_in_a_config_file_is_masked_and_tampering_fails_check() {
    let dir = qcat_testkit::temp_data_dir();
    let (mut encrypt, key) = with_key_file(dir.path());
    encrypt.args(["secret", "encrypt", "--key", "database.password"]);
    let out = run_with_stdin(encrypt, "s3cret");
    succeeded(&out);
    let value = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(value.starts_with("ENC:v1:"), "{value}");

    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("[database]\npassword = \"{value}\"\n")).unwrap();
    let show = qcatctl(dir.path())
        .current_dir(dir.path())
        .env("QCAT_MASTER_KEY_FILE", &key)
        .env("QCAT_CONFIG", &config)
        .args(["config", "show", "--section", "database"])
        .output()
        .unwrap();
    let text = String::from_utf8(show.stdout).unwrap();
    assert!(
        text.contains("<redacted>") && !text.contains("s3cret"),
        "{text}"
    );
    let check = config_check(
        dir.path(),
        &config,
        &[("QCAT_MASTER_KEY_FILE", key.as_ref())],
    );
    assert_exit(&check, 0);

    // Flip one character of the ciphertext: authentication fails, check exits 1 naming the key.
    let body_start = value.rfind(':').unwrap() + 1;
    let mut tampered = value.clone().into_bytes();
    tampered[body_start + 2] = if tampered[body_start + 2] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = String::from_utf8(tampered).unwrap();
    std::fs::write(&config, format!("[database]\npassword = \"{tampered}\"\n")).unwrap();
    let check = config_check(
        dir.path(),
        &config,
        &[("QCAT_MASTER_KEY_FILE", key.as_ref())],
    );
    assert_eq!(check.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("database.password") && stderr.contains("does not authenticate"),
        "{stderr}"
    );
}

#[test]
fn encrypt_refuses_keys_that_are_not_secrets() {
    let dir = qcat_testkit::temp_data_dir();
    let (mut command, _) = with_key_file(dir.path());
    command.args(["secret", "encrypt", "--key", "logging.level"]);
    let out = run_with_stdin(command, "debug");
    assert_eq!(out.status.code(), Some(64), "EX_USAGE for bad input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a secret-bearing key"));
}

#[test]
fn key_init_refuses_to_overwrite_an_existing_key() {
    let dir = qcat_testkit::temp_data_dir();
    let (_, key) = with_key_file(dir.path());
    let before = std::fs::read(&key).unwrap();
    let out = qcatctl(dir.path())
        .args(["key", "init", "--to-file"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(75), "EX_TEMPFAIL-class conflict");
    assert_eq!(std::fs::read(&key).unwrap(), before, "the key is untouched");
}

#[test]
fn key_rotate_reencrypts_the_user_config_file() {
    let dir = qcat_testkit::temp_data_dir();
    let (mut encrypt, key) = with_key_file(dir.path());
    encrypt.args(["secret", "encrypt", "--key", "jwt.secret_key"]);
    let value = String::from_utf8(run_with_stdin(encrypt, "jwt-key").stdout).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[jwt]\nsecret_key = \"{}\"\n", value.trim()),
    )
    .unwrap();
    let rotate = || {
        let mut command = qcatctl(dir.path());
        command
            .current_dir(dir.path())
            .env("QCAT_MASTER_KEY_FILE", &key)
            .env("QCAT_CONFIG", &config);
        command
    };
    create_admin(rotate());
    let out = as_admin(rotate()).args(["key", "rotate"]).output().unwrap();
    succeeded(&out);
    let rewritten = std::fs::read_to_string(&config).unwrap();
    assert_ne!(
        rewritten.trim(),
        format!("[jwt]\nsecret_key = \"{}\"", value.trim())
    );
    assert!(
        dir.path().join("config.toml.bak").exists(),
        "the old file is kept"
    );
    let check = config_check(
        dir.path(),
        &config,
        &[("QCAT_MASTER_KEY_FILE", key.as_ref())],
    );
    assert_exit(&check, 0);
}

#[test]
fn named_secrets_live_in_the_os_keychain_and_survive_a_restart() {
    // A real Secret Service (gnome-keyring on a private D-Bus), not a mock.
    let keychain = qcat_testkit::SecretService::start();
    let dir = qcat_testkit::temp_data_dir();
    let with_bus = || {
        let mut command = qcatctl(dir.path());
        command.env("DBUS_SESSION_BUS_ADDRESS", keychain.bus_address());
        command
    };
    create_admin(with_bus());
    let mut set = as_admin(with_bus());
    set.args(["secret", "set", "smtp_password"]);
    let out = run_with_stdin(set, "mail-hunter2\n");
    succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("OS keychain"));

    // A second process (a restart) lists it, names only.
    let out = as_admin(with_bus())
        .args(["secret", "list"])
        .output()
        .unwrap();
    succeeded(&out);
    let listed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(listed.trim(), "smtp_password");
    assert!(!listed.contains("hunter2"));

    // The master key was created in the keychain too: an ENC value made by one process is
    // read by the next.
    let mut encrypt = qcatctl(dir.path());
    encrypt
        .env("DBUS_SESSION_BUS_ADDRESS", keychain.bus_address())
        .args(["secret", "encrypt", "--key", "redis.password"]);
    let value = String::from_utf8(run_with_stdin(encrypt, "redis-pw").stdout).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[redis]\npassword = \"{}\"\n", value.trim()),
    )
    .unwrap();
    let check = config_check(
        dir.path(),
        &config,
        &[("DBUS_SESSION_BUS_ADDRESS", keychain.bus_address().as_ref())],
    );
    assert_exit(&check, 0);
    // Nothing lands in the keyring's files in plaintext.
    for entry in std::fs::read_dir(keychain.data_dir().join("keyrings")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("mail-hunter2"));
    }
}

#[test]
fn without_a_keychain_or_key_file_the_error_says_how_to_fix_it() {
    let dir = qcat_testkit::temp_data_dir();
    let without_bus = || {
        let mut command = qcatctl(dir.path());
        command.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
        command
    };
    create_admin(without_bus());
    let out = as_admin(without_bus())
        .args(["secret", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key init --to-file"), "{stderr}");
}
