//! Loads a configuration full of secrets, logs it at every level, renders every API response
//! and error this build has, and searches all of it, log files included, for each plaintext.
//! Zero hits is the only pass.

use qcat_api::{Api, ApiConfig};
use qcat_core::config::{Config, ConfigSources};
use qcat_core::paths::DataDir;
use qcat_logging::json::JsonLayer;
use qcat_logging::{RotatingFile, RotationPolicy};
use qcat_secrets::keys::KeyOptions;
use tracing_subscriber::layer::SubscriberExt;

const PLAINTEXTS: [&str; 5] = [
    "pg-Plaintext-1",
    "redis-Plaintext-2",
    "jwt-Plaintext-3",
    "url-Plaintext-4",
    "named-Plaintext-5",
];

#[tokio::test(flavor = "multi_thread")]
async fn no_plaintext_secret_reaches_logs_responses_or_errors() {
    let dir = qcat_testkit::temp_data_dir();
    let key_file = dir.path().join("master.key");
    qcat_secrets::keys::init_key_file(&key_file).unwrap();
    let keys = KeyOptions {
        key_file: Some(key_file),
        ..KeyOptions::default()
    };
    let keyring = qcat_secrets::Keyring::load_or_create(&keys).unwrap();
    qcat_secrets::named::set(
        &keyring,
        "smtp_password",
        &qcat_core::secret::Secret::new(PLAINTEXTS[4].to_owned()),
    )
    .unwrap();
    let vars = vec![
        // A plaintext in the environment, an ENC value, a keychain reference, and a URL with
        // a password (unreachable port, so the connect error is rendered too).
        (
            "QCAT_DATABASE__URL".to_owned(),
            format!("postgres://qcat:{}@127.0.0.1:9/qcat", PLAINTEXTS[3]),
        ),
        (
            "QCAT_DATABASE__PASSWORD".to_owned(),
            PLAINTEXTS[0].to_owned(),
        ),
        (
            "QCAT_DATABASE__CONNECT_TIMEOUT_SECS".to_owned(),
            "1".to_owned(),
        ),
        (
            "QCAT_REDIS__PASSWORD".to_owned(),
            keyring.current().encrypt("redis.password", PLAINTEXTS[1]),
        ),
        (
            "QCAT_JWT__SECRET_KEY".to_owned(),
            "secret:smtp_password".to_owned(),
        ),
        ("QCAT_LOGGING__LEVEL".to_owned(), "trace".to_owned()),
    ];
    let sources = ConfigSources::environment_only(vars.clone());
    let loaded = Config::load_from(&sources).unwrap();

    let log_dir = dir.path().join("logs");
    let file = RotatingFile::open(
        &log_dir,
        RotationPolicy {
            max_bytes: 50 * 1024 * 1024,
            max_backups: 5,
            max_age: std::time::Duration::from_secs(86_400),
            compress: true,
            daily: true,
        },
    )
    .unwrap();
    let writer = file.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(JsonLayer::new(move || writer.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut rendered = Vec::new();
    let config = ApiConfig {
        data_dir: DataDir::at(dir.path()),
        config: loaded.clone(),
        keys,
        mode: qcat_api::Mode::OneShot,
    };
    tracing::trace!(?config, "config at trace");
    tracing::debug!(?config, "config at debug");
    tracing::info!(config = ?loaded.config, "config at info");
    tracing::warn!(settings = ?loaded.settings, "settings at warn");
    tracing::error!(database = ?loaded.config.database, redis = ?loaded.config.redis, jwt = ?loaded.config.jwt, "sections at error");
    rendered.push(format!("{config:?}"));

    let api = Api::open(config).await.unwrap();
    rendered.push(serde_json::to_string(&api.app_info()).unwrap());
    let status = api.storage_status().await;
    assert!(
        status.error.is_some(),
        "the unreachable store reports an error to render"
    );
    rendered.push(serde_json::to_string(&status).unwrap());
    // The store is unreachable, so nobody can sign in: render what config_settings serves.
    rendered.push(
        serde_json::to_string(&qcat_api::config::effective_config(&sources).unwrap()).unwrap(),
    );
    rendered.push(
        serde_json::to_string(&qcat_api::config::check_config_and_secrets(
            &sources,
            Ok(&keyring),
        ))
        .unwrap(),
    );
    let mut tampered = vars.clone();
    tampered.retain(|(name, _)| name != "QCAT_JWT__SECRET_KEY");
    tampered.push((
        "QCAT_JWT__SECRET_KEY".to_owned(),
        keyring
            .current()
            .encrypt("database.password", PLAINTEXTS[2]),
    ));
    let check = qcat_api::config::check_config_and_secrets(
        &ConfigSources::environment_only(tampered),
        Ok(&keyring),
    );
    assert!(
        !check.ok,
        "a value moved to another key is a problem to render"
    );
    rendered.push(serde_json::to_string(&check).unwrap());
    let encrypt_error = qcat_api::secrets::encrypt_for_key(
        &keyring,
        "logging.level",
        &qcat_core::secret::Secret::new(PLAINTEXTS[0].to_owned()),
    )
    .unwrap_err();
    rendered.push(serde_json::to_string(&encrypt_error).unwrap());
    rendered.push(encrypt_error.to_string());
    api.close().await;

    // Read the log back through the reader the Logs screen uses.
    file.wait_for_maintenance();
    let lines = qcat_logging::reader::read_lines(
        &log_dir,
        qcat_logging::rotate::CURRENT_FILE,
        &qcat_logging::reader::LogFilter {
            min_level: Some("trace".into()),
            ..Default::default()
        },
        5_000,
    )
    .unwrap();
    assert!(
        lines.len() >= 5,
        "the five config log lines are there: {}",
        lines.len()
    );
    rendered.push(format!("{lines:?}"));
    let mut files_text = String::new();
    for entry in std::fs::read_dir(&log_dir).unwrap() {
        files_text.push_str(&String::from_utf8_lossy(
            &std::fs::read(entry.unwrap().path()).unwrap(),
        ));
    }
    assert!(
        files_text.contains("config at trace"),
        "the log file was written"
    );
    rendered.push(files_text);

    for plaintext in PLAINTEXTS {
        for (index, text) in rendered.iter().enumerate() {
            assert!(
                !text.contains(plaintext),
                "{plaintext} leaked into output #{index}: {}",
                &text[text.find(plaintext).unwrap().saturating_sub(80)..]
                    .chars()
                    .take(200)
                    .collect::<String>()
            );
        }
    }
}
