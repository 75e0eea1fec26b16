//! The API as the shell and the CLI see it, on both storage backends.

use qcat_api::dto::{DataDirSource, StorageBackend, StorageHealth};
use qcat_api::{Api, ApiConfig};
use qcat_core::ErrorCode;
use qcat_core::config::{Config, ConfigSources};
use qcat_core::paths::DataDir;
use qcat_secrets::keys::KeyOptions;

/// Key options for a test: a fresh 0600 key file inside the test's data dir, never the
/// user's keychain.
fn test_keys(data_dir: &std::path::Path) -> KeyOptions {
    std::fs::create_dir_all(data_dir).unwrap();
    let path = data_dir.join("master.key");
    if !path.exists() {
        qcat_secrets::keys::init_key_file(&path).unwrap();
    }
    KeyOptions {
        key_file: Some(path),
        ..KeyOptions::default()
    }
}

/// The seed's QCAT_DATABASE_HOST/PORT/USER/NAME variables describing the server at `url`.
fn seed_host_vars(url: &url::Url) -> Vec<(String, String)> {
    vec![
        (
            "QCAT_DATABASE_HOST".to_owned(),
            url.host_str().unwrap().to_owned(),
        ),
        (
            "QCAT_DATABASE_PORT".to_owned(),
            url.port().unwrap().to_string(),
        ),
        ("QCAT_DATABASE_USER".to_owned(), url.username().to_owned()),
        (
            "QCAT_DATABASE_NAME".to_owned(),
            url.path().trim_start_matches('/').to_owned(),
        ),
    ]
}

fn config_with(database_url: &str, data_dir: &std::path::Path) -> ApiConfig {
    ApiConfig {
        keys: test_keys(data_dir),
        data_dir: DataDir::at(data_dir),
        config: Config::load_from(&ConfigSources::environment_only([(
            "QCAT_DATABASE__URL".to_owned(),
            database_url.to_owned(),
        )]))
        .expect("valid test config"),
        mode: qcat_api::Mode::OneShot,
    }
}

#[tokio::test]
async fn embedded_default_opens_a_healthy_sqlite_store_in_the_data_dir() {
    let dir = qcat_testkit::temp_data_dir();
    let data_dir = dir.path().join("nested/data");
    let api = Api::open(config_with("", &data_dir)).await.unwrap();
    let status = api.storage_status().await;
    // Nothing configured: the embedded SQLite file, created and migrated on first start.
    assert_eq!(status.backend, StorageBackend::Sqlite);
    assert_eq!(status.health, StorageHealth::Healthy, "{:?}", status.error);
    assert!(
        data_dir.join("qcat.sqlite3").exists(),
        "the file lives in the data dir"
    );
    assert_eq!(status.schema_version, status.known_schema_version);
    assert!(status.schema_version.unwrap() >= 1);
    api.close().await;
}

#[tokio::test]
async fn a_postgres_url_switches_to_team_mode() {
    let dir = qcat_testkit::temp_data_dir();
    let url = qcat_testkit::test_database_url();
    let api = Api::open(config_with(&url, dir.path())).await.unwrap();
    let status = api.storage_status().await;
    assert_eq!(status.backend, StorageBackend::Postgres);
    assert_eq!(status.health, StorageHealth::Healthy, "{:?}", status.error);
    assert_eq!(status.schema_version, status.known_schema_version);
    assert!(
        !dir.path().join("qcat.sqlite3").exists(),
        "team mode must not create the embedded file"
    );
    api.close().await;
}

#[tokio::test]
async fn an_unreachable_store_still_opens_the_api_and_reports_why() {
    // The console must start and show the problem, not crash, when PostgreSQL is down.
    let dir = qcat_testkit::temp_data_dir();
    let mut config = config_with("postgres://qcat:hunter2@127.0.0.1:9/qcat", dir.path());
    config.config.config.database.connect_timeout_secs = 1;
    let api = Api::open(config).await.unwrap();
    let status = api.storage_status().await;
    assert_eq!(status.health, StorageHealth::Failed);
    let error = status.error.expect("a failed store explains itself");
    assert_eq!(error.code, ErrorCode::StorageUnavailable);
    assert!(!error.message.contains("hunter2"), "{}", error.message);
    assert!(!status.location.contains("hunter2"), "{}", status.location);
    let wire = serde_json::to_string(&api.storage_status().await).unwrap();
    assert!(
        !wire.contains("hunter2"),
        "the IPC response carries no password: {wire}"
    );
}

#[test]
fn a_bad_url_is_refused_by_config_validation() {
    // Caught while loading, with the key and the fix, before anything tries to connect.
    let err = Config::load_from(&ConfigSources::environment_only([(
        "QCAT_DATABASE__URL".to_owned(),
        "mysql://h/db".to_owned(),
    )]))
    .unwrap_err();
    assert_eq!(err.problems[0].key, "database.url");
    assert!(err.problems[0].fix.contains("postgres://"));
}

#[tokio::test]
async fn the_seed_host_keys_select_postgres() {
    // QCAT_DATABASE_HOST/PORT/USER/NAME (the seed's spelling) describe a PostgreSQL server.
    let url = url::Url::parse(&qcat_testkit::test_database_url()).unwrap();
    let dir = qcat_testkit::temp_data_dir();
    let vars = seed_host_vars(&url);
    let config = ApiConfig {
        keys: test_keys(dir.path()),
        data_dir: DataDir::at(dir.path()),
        config: Config::load_from(&ConfigSources::environment_only(vars.clone())).unwrap(),
        mode: qcat_api::Mode::OneShot,
    };
    let api = Api::open(config).await.unwrap();
    let status = api.storage_status().await;
    assert_eq!(status.backend, StorageBackend::Postgres);
    assert_eq!(status.health, StorageHealth::Healthy, "{:?}", status.error);
    api.close().await;
}

#[tokio::test]
async fn app_info_reports_version_and_the_data_dir_in_use() {
    let dir = qcat_testkit::temp_data_dir();
    let api = Api::open(config_with("", dir.path())).await.unwrap();
    let info = api.app_info();
    assert_eq!(info.version, qcat_core::VERSION);
    assert_eq!(info.data_dir, dir.path().display().to_string());
    assert_eq!(info.data_dir_source, DataDirSource::Explicit);
    api.close().await;
}

#[tokio::test]
async fn errors_cross_the_wire_as_code_and_message() {
    // The UI branches on `code`; the shape is part of the contract.
    let error = qcat_api::ApiError::new(ErrorCode::NotFound, "no such backup");
    let json: serde_json::Value = serde_json::to_value(&error).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"code": "not_found", "message": "no such backup"})
    );
}

#[tokio::test]
async fn an_encrypted_database_password_is_decrypted_to_reach_postgres() {
    // The seed's QCAT_DATABASE_PASSWORD=ENC:... form: the console decrypts it with the master
    // key and connects. The throwaway server trusts any password, so the check is that the
    // ENC value resolves (a wrong key would fail before connecting).
    let url = url::Url::parse(&qcat_testkit::test_database_url()).unwrap();
    let dir = qcat_testkit::temp_data_dir();
    let keys = test_keys(dir.path());
    let keyring = qcat_secrets::Keyring::load_or_create(&keys).unwrap();
    let encrypted = keyring.current().encrypt("database.password", "s3cret");
    let mut vars = seed_host_vars(&url);
    vars.push(("QCAT_DATABASE_PASSWORD".to_owned(), encrypted));
    let config = ApiConfig {
        keys,
        data_dir: DataDir::at(dir.path()),
        config: Config::load_from(&ConfigSources::environment_only(vars.clone())).unwrap(),
        mode: qcat_api::Mode::OneShot,
    };
    let api = Api::open(config).await.unwrap();
    let status = api.storage_status().await;
    assert_eq!(status.health, StorageHealth::Healthy, "{:?}", status.error);
    assert!(!status.location.contains("s3cret"), "{}", status.location);
    assert!(
        api.app_info()
            .master_key
            .source
            .unwrap()
            .contains("key file")
    );
    api.close().await;
}

#[tokio::test]
async fn a_value_encrypted_under_another_key_names_the_key_and_the_fix() {
    let dir = qcat_testkit::temp_data_dir();
    let foreign = qcat_secrets::MasterKey::generate().encrypt("database.password", "x");
    let config = ApiConfig {
        keys: test_keys(dir.path()),
        data_dir: DataDir::at(dir.path()),
        config: Config::load_from(&ConfigSources::environment_only([
            ("QCAT_DATABASE_HOST".to_owned(), "127.0.0.1".to_owned()),
            ("QCAT_DATABASE_PASSWORD".to_owned(), foreign),
        ]))
        .unwrap(),
        mode: qcat_api::Mode::OneShot,
    };
    let api = Api::open(config).await.unwrap();
    let error = api.storage_status().await.error.unwrap();
    assert_eq!(error.code, ErrorCode::InvalidConfig);
    assert!(
        error.message.contains("database.password"),
        "{}",
        error.message
    );
    assert!(error.message.contains("master key"), "{}", error.message);
}

mod settings {
    use qcat_api::config::set_setting;
    use qcat_core::ErrorCode;
    use qcat_core::config::{Config, ConfigSources, Layer, UserFile};

    fn sources(path: &std::path::Path) -> ConfigSources {
        ConfigSources {
            user_file: Some(UserFile {
                path: path.to_owned(),
                required: false,
            }),
            dotenv_file: None,
            environment: Vec::new(),
            invalid_environment: Vec::new(),
        }
    }

    #[test]
    fn a_saved_setting_lands_in_the_user_file_keeping_its_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "# ops team settings\n[logging]\nlevel = \"warn\" # noisy otherwise\n",
        )
        .unwrap();
        let change = set_setting(&sources(&path), "audit.retention_days", "180").unwrap();
        assert_eq!(change.after, "180");
        assert!(change.before.is_none(), "the file did not set it before");
        let change = set_setting(&sources(&path), "logging.level", "error").unwrap();
        assert_eq!(change.before.as_deref(), Some("warn"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# ops team settings"), "{text}");
        // The new values load from the file layer.
        let loaded = Config::load_from(&sources(&path)).unwrap();
        assert_eq!(loaded.config.audit.retention_days, 180);
        assert_eq!(
            loaded.setting("logging.level").unwrap().origin.layer,
            Layer::File
        );
        assert_eq!(loaded.setting("logging.level").unwrap().value, "error");
    }

    #[test]
    fn a_change_that_would_break_the_config_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[database]\nport = 5433\n").unwrap();
        let err = set_setting(&sources(&path), "database.port", "0").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("database.port"), "{}", err.message);
        let err = set_setting(&sources(&path), "database.port", "many").unwrap_err();
        assert!(err.message.contains("whole number"), "{}", err.message);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[database]\nport = 5433\n"
        );
    }

    #[test]
    fn secrets_cannot_be_saved_as_plain_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let err = set_setting(&sources(&path), "database.password", "hunter2").unwrap_err();
        assert!(err.message.contains("named secret"), "{}", err.message);
        assert!(!err.message.contains("hunter2"));
        assert!(!path.exists(), "nothing written");
    }
}

#[tokio::test]
async fn a_store_file_deleted_under_a_running_console_is_reported_not_used() {
    // Issue #8, finding 3, "even while running": SQLite keeps writing to the unlinked file,
    // and a new empty one may appear at the path; the status must say so.
    let dir = qcat_testkit::temp_data_dir();
    let api = Api::open(config_with("", dir.path())).await.unwrap();
    assert_eq!(api.storage_status().await.health, StorageHealth::Healthy);
    std::fs::remove_file(dir.path().join("qcat.sqlite3")).unwrap();
    let status = api.storage_status().await;
    assert_eq!(status.health, StorageHealth::Unreachable);
    let message = status.error.expect("the status says why").message;
    assert!(message.contains("deleted or replaced"), "{message}");
    api.close().await;
    // The next start refuses the missing store instead of creating a new one.
    let reopened = Api::open(config_with("", dir.path())).await.unwrap();
    let status = reopened.storage_status().await;
    let error = status.error.expect("refused");
    assert_eq!(error.code, ErrorCode::StorageLost, "{}", error.message);
    assert!(
        !dir.path().join("qcat.sqlite3").exists(),
        "nothing was re-created"
    );
}
