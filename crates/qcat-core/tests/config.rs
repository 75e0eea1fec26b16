//! Configuration layering, provenance and error messages, with real files on disk.

use std::path::{Path, PathBuf};

use qcat_core::config::{
    Config, ConfigError, ConfigSources, Layer, LoadedConfig, LogLevel, UserFile,
};

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn sources(file: Option<&Path>, dotenv: Option<&Path>, vars: &[(&str, &str)]) -> ConfigSources {
    ConfigSources {
        user_file: file.map(|path| UserFile {
            path: path.to_owned(),
            required: true,
        }),
        dotenv_file: dotenv.map(Path::to_owned),
        environment: env(vars),
        invalid_environment: Vec::new(),
    }
}

fn load(sources: &ConfigSources) -> LoadedConfig {
    Config::load_from(sources).unwrap_or_else(|err| panic!("{err}"))
}

fn load_err(sources: &ConfigSources) -> ConfigError {
    match Config::load_from(sources) {
        Ok(_) => panic!("expected a configuration error"),
        Err(err) => err,
    }
}

#[test]
fn each_layer_overrides_the_one_below_and_remembers_what_it_shadowed() {
    let files = Files::new();
    let file = files.write("config.toml", "[logging]\nlevel = \"warn\"\n");
    let dotenv = files.write(".env", "QCAT_LOGGING__LEVEL=error\n");
    // Environment beats .env beats file beats defaults.
    let loaded = load(&sources(
        Some(&file),
        Some(&dotenv),
        &[("QCAT_LOGGING__LEVEL", "debug")],
    ));
    assert_eq!(loaded.config.logging.level, LogLevel::Debug);
    let setting = loaded.setting("logging.level").unwrap();
    assert_eq!(setting.value, "debug");
    assert_eq!(setting.origin.layer, Layer::Environment);
    assert_eq!(
        setting.origin.variable.as_deref(),
        Some("QCAT_LOGGING__LEVEL")
    );
    let shadowed: Vec<(Layer, &str)> = setting
        .shadowed
        .iter()
        .map(|s| (s.origin.layer, s.value.as_str()))
        .collect();
    assert_eq!(
        shadowed,
        vec![
            (Layer::DotEnv, "error"),
            (Layer::File, "warn"),
            (Layer::Defaults, "info")
        ],
        "highest shadowed layer first"
    );

    // Without the environment, .env wins; without .env too, the file.
    let loaded = load(&sources(Some(&file), Some(&dotenv), &[]));
    assert_eq!(loaded.config.logging.level, LogLevel::Error);
    let loaded = load(&sources(Some(&file), None, &[]));
    assert_eq!(loaded.config.logging.level, LogLevel::Warn);
    let origin = &loaded.setting("logging.level").unwrap().origin;
    assert_eq!(origin.layer, Layer::File);
    assert_eq!(origin.line, Some(2), "the file line of the key");
}

#[test]
fn defaults_alone_give_the_embedded_setup_with_their_line_numbers() {
    let loaded = load(&sources(None, None, &[]));
    assert!(
        loaded.config.database.url.is_empty(),
        "embedded SQLite by default"
    );
    let setting = loaded.setting("audit.batch_size").unwrap();
    assert_eq!(setting.value, "100", "the seed's audit batch_size");
    assert_eq!(setting.origin.layer, Layer::Defaults);
    assert!(setting.origin.line.unwrap() > 1);
    assert!(setting.shadowed.is_empty());
}

#[test]
fn both_env_spellings_reach_the_same_key() {
    for name in ["QCAT_JWT__SECRET_KEY", "QCAT_JWT_SECRET_KEY"] {
        let loaded = load(&sources(None, None, &[(name, "ENC:v1:k1:AAAA")]));
        assert_eq!(
            loaded.config.jwt.secret_key.raw(),
            "ENC:v1:k1:AAAA",
            "{name} sets jwt.secret_key"
        );
    }
    let loaded = load(&sources(
        None,
        None,
        &[("QCAT_REDIS_ADDR", "127.0.0.1:6380")],
    ));
    assert_eq!(loaded.config.redis.addr, "127.0.0.1:6380");
}

#[test]
fn an_unknown_variable_is_reported_with_the_fix() {
    let err = load_err(&sources(None, None, &[("QCAT_DATABSE__URL", "x")]));
    let text = err.to_string();
    assert!(text.contains("QCAT_DATABSE__URL"), "{text}");
    assert!(
        text.contains("config/default.toml"),
        "says where keys are listed: {text}"
    );
}

#[test]
fn process_variables_and_foreign_variables_are_not_config_keys() {
    let loaded = load(&sources(
        None,
        None,
        &[
            ("QCAT_DATA_DIR", "/tmp/x"),
            ("QCAT_MASTER_KEY_FILE", "/tmp/k"),
            ("PATH", "/bin"),
        ],
    ));
    assert_eq!(loaded.config.app.name, "QCAT");
}

#[test]
fn file_problems_name_key_file_line_expectation_and_fix() {
    let files = Files::new();
    let file = files.write(
        "config.toml",
        "[database]\nport = \"5432\"\nhots = \"db\"\n\n[nonsense]\nx = 1\n",
    );
    let err = load_err(&sources(Some(&file), None, &[]));
    // Every problem is listed, not only the first.
    assert_eq!(err.problems.len(), 3, "{err}");
    let port = err
        .problems
        .iter()
        .find(|p| p.key == "database.port")
        .unwrap();
    assert_eq!(port.origin.as_ref().unwrap().line, Some(2));
    assert!(port.problem.contains("whole number"), "{port}");
    assert!(
        port.fix.contains("database.port = 5432"),
        "shows the default: {port}"
    );
    let typo = err
        .problems
        .iter()
        .find(|p| p.key == "database.hots")
        .unwrap();
    assert_eq!(typo.origin.as_ref().unwrap().line, Some(3));
    assert!(
        typo.fix.contains("database.host"),
        "lists the real keys: {typo}"
    );
    let section = err.problems.iter().find(|p| p.key == "nonsense.x").unwrap();
    assert!(
        section.fix.contains("logging"),
        "lists the sections: {section}"
    );
    let text = err.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
}

#[test]
fn a_toml_syntax_error_gives_the_line() {
    let files = Files::new();
    let file = files.write("config.toml", "[app]\nname = \"QCAT\"\nenvironment = \n");
    let err = load_err(&sources(Some(&file), None, &[]));
    let problem = &err.problems[0];
    assert!(problem.problem.contains("not valid TOML"), "{problem}");
    assert_eq!(problem.origin.as_ref().unwrap().line, Some(3));
}

#[test]
fn bad_values_name_the_accepted_ones() {
    let err = load_err(&sources(
        None,
        None,
        &[
            ("QCAT_APP_ENVIRONMENT", "prod"),
            ("QCAT_ALERTING__RETRY_INTERVAL", "thirty"),
            ("QCAT_DATABASE_PORT", "0"),
        ],
    ));
    let by_key = |key: &str| {
        err.problems
            .iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("no problem for {key}: {err}"))
            .to_string()
    };
    assert!(by_key("app.environment").contains("production"));
    assert!(by_key("app.environment").contains("QCAT_APP_ENVIRONMENT"));
    assert!(by_key("alerting.retry_interval").contains("30s"));
}

#[test]
fn range_problems_are_reported_after_types_are_valid() {
    let err = load_err(&sources(None, None, &[("QCAT_DATABASE_PORT", "0")]));
    let problem = &err.problems[0];
    assert_eq!(problem.key, "database.port");
    assert!(problem.fix.contains("65535"), "{problem}");

    // Alert history kept for an hour would forget what the desk looks back on tomorrow.
    let err = load_err(&sources(
        None,
        None,
        &[("QCAT_ALERTING__HISTORY_RETENTION", "1h")],
    ));
    let problem = &err.problems[0];
    assert_eq!(problem.key, "alerting.history_retention");
    assert!(
        problem.to_string().contains("shorter than a day"),
        "{problem}"
    );
    assert!(problem.fix.contains("1d"), "{problem}");
}

#[test]
fn dotenv_follows_dotenv_rules() {
    let files = Files::new();
    let dotenv = files.write(
        ".env",
        "# comment\nexport QCAT_APP_NAME=\"QCAT Prod\"\nOTHER_TOOL=1\nQCAT_AUDIT_BATCH_SIZE=250 # inline\n",
    );
    let loaded = load(&sources(None, Some(&dotenv), &[]));
    assert_eq!(
        loaded.config.app.name, "QCAT Prod",
        "quotes removed, export allowed"
    );
    assert_eq!(loaded.config.audit.batch_size, 250);
    let origin = &loaded.setting("audit.batch_size").unwrap().origin;
    assert_eq!(origin.layer, Layer::DotEnv);
    assert_eq!(origin.line, Some(4));
}

#[test]
fn the_seed_environment_example_loads_as_is() {
    // config/env.example is the seed's own example; it must load unchanged.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/env.example");
    let loaded = load(&sources(None, Some(&example), &[]));
    assert_eq!(loaded.config.app.name, "QCAT");
    assert_eq!(loaded.config.app.version, "1.0.0");
    assert_eq!(loaded.config.database.host, "localhost");
    assert_eq!(loaded.config.database.user, "qcat_user");
    assert_eq!(loaded.config.redis.addr, "localhost:6379");
    assert_eq!(loaded.config.jwt.expiration_hours, 24);
    // The ENC: placeholders are secrets: masked in every display.
    let password = loaded.setting("database.password").unwrap();
    assert!(password.secret);
    assert!(
        !password.value.contains("encrypted_password"),
        "{}",
        password.value
    );
}

#[test]
fn secrets_are_masked_in_settings_and_debug_output() {
    let loaded = load(&sources(
        None,
        None,
        &[
            ("QCAT_DATABASE_PASSWORD", "hunter2"),
            ("QCAT_REDIS_PASSWORD", "ENC:v1:k7:c2VjcmV0"),
            ("QCAT_JWT_SECRET_KEY", "secret:jwt"),
            ("QCAT_DATABASE__URL", "postgres://qcat:hunter3@db:5432/qcat"),
        ],
    ));
    let value = |key: &str| loaded.setting(key).unwrap().value.clone();
    assert_eq!(value("database.password"), "<redacted>");
    assert_eq!(
        value("redis.password"),
        "ENC:v1:k7:<redacted>",
        "key id helps diagnosis"
    );
    assert_eq!(
        value("jwt.secret_key"),
        "secret:jwt",
        "a keychain name is not a secret"
    );
    assert!(!value("database.url").contains("hunter3"));
    assert!(value("database.url").contains("db:5432"));
    let debug = format!("{:?}", loaded.config);
    for plaintext in ["hunter2", "hunter3", "c2VjcmV0"] {
        assert!(!debug.contains(plaintext), "Debug leaks {plaintext}");
    }
    let shown = format!("{:?}", loaded.settings);
    for plaintext in ["hunter2", "hunter3", "c2VjcmV0"] {
        assert!(!shown.contains(plaintext), "settings leak {plaintext}");
    }
}

#[test]
fn a_plaintext_secret_in_a_file_is_refused_with_the_fix() {
    // default.toml says plaintext secrets are refused in files; a password inside a URL
    // is one too.
    let files = Files::new();
    for text in [
        "[redis]\npassword = \"hunter2\"\n",
        "[database]\nurl = \"postgres://qcat@db/qcat?password=hunter2\"\n",
    ] {
        let file = files.write("config.toml", text);
        let err = load_err(&sources(Some(&file), None, &[]));
        let problem = &err.problems[0];
        assert!(
            problem.key == "redis.password" || problem.key == "database.url",
            "{problem}"
        );
        assert!(
            problem.fix.contains("qcatctl secret encrypt --key"),
            "{problem}"
        );
        assert_eq!(problem.origin.as_ref().unwrap().line, Some(2), "{problem}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[test]
fn a_plaintext_secret_in_the_environment_is_a_warning() {
    // Service managers and CI pass secrets as variables; that works, and says so.
    let loaded = load(&sources(None, None, &[("QCAT_REDIS__PASSWORD", "hunter2")]));
    let warning = &loaded.warnings[0];
    assert_eq!(warning.key, "redis.password");
    assert!(!warning.to_string().contains("hunter2"));
}

#[test]
fn a_named_config_file_that_is_missing_is_an_error() {
    let err = load_err(&sources(
        Some(Path::new("/nonexistent/qcat.toml")),
        None,
        &[],
    ));
    // The problem names the file itself (not a variable it may not have come from).
    let problem = &err.problems[0];
    assert!(
        problem.problem.contains("/nonexistent/qcat.toml"),
        "{problem}"
    );
    assert!(problem.fix.contains("create the file"), "{problem}");
}

#[test]
fn schedule_settings_are_checked_with_the_fix() {
    // A bad expression, an unknown zone and a jitter as long as the interval: each named.
    let err = load_err(&sources(
        None,
        None,
        &[("QCAT_AUDIT__MAINTENANCE_SCHEDULE", "61 * * * *")],
    ));
    assert!(
        err.problems
            .iter()
            .any(|p| p.key == "audit.maintenance_schedule" && p.fix.contains("0 3 * * *")),
        "{err}"
    );
    let err = load_err(&sources(
        None,
        None,
        &[("QCAT_RUNTIME__TIME_ZONE", "Mars/Olympus")],
    ));
    assert!(
        err.problems
            .iter()
            .any(|p| p.key == "runtime.time_zone" && p.problem.contains("Asia/Shanghai")),
        "{err}"
    );
    let err = load_err(&sources(
        None,
        None,
        &[("QCAT_AUDIT__MAINTENANCE_SCHEDULE", "@every 30s")],
    ));
    assert!(
        err.problems
            .iter()
            .any(|p| p.key == "audit.maintenance_jitter" && p.problem.contains("30s")),
        "the default 1m jitter is longer than a 30 s interval: {err}"
    );
    let err = load_err(&sources(None, None, &[("QCAT_RUNTIME__FAILOVER", "1s")]));
    assert!(
        err.problems.iter().any(|p| p.key == "runtime.failover"),
        "{err}"
    );
}
