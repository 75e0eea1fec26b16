//! Layered configuration with provenance.
//!
//! Layers, lowest first: the shipped defaults (`config/default.toml`, embedded, which is also
//! the schema), the user's config file (`QCAT_CONFIG`, else `config.toml` in the platform
//! config dir), `.env` in the working dir, then `QCAT_` environment variables. Loading has
//! two stages, raw → validated: each layer becomes a list of `(key, value, origin)` checked
//! against the schema; the merged table is deserialized into [`Config`] and validated. Every
//! problem names the key, where the value came from (file and line where there is one), what
//! was expected and how to fix it; all problems are collected, not just the first.

mod layers;
mod model;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use layers::{Layer, Origin};
pub use model::*;

/// The shipped defaults, embedded so the binary runs with nothing else installed.
pub const DEFAULT_TOML: &str = include_str!("../../../../config/default.toml");

/// The environment variable naming the user's config file.
pub const CONFIG_FILE_ENV: &str = "QCAT_CONFIG";

/// Environment variables that steer the process rather than name a config key.
pub(crate) const PROCESS_VARIABLES: &[&str] = &[
    "QCAT_DATA_DIR",
    "QCAT_CONFIG",
    "QCAT_USER",
    "QCAT_PASSWORD",
    "QCAT_MASTER_KEY_FILE",
    "QCAT_MASTER_KEY",
    "QCAT_LOG",
];

/// Where the layers come from. Tests build this by hand; the binaries use
/// [`ConfigSources::from_process`]. Debug shows variable names only: environment values
/// include secrets.
#[derive(Clone, Default)]
pub struct ConfigSources {
    /// The user's config file, if any. `required` files that do not exist are an error.
    pub user_file: Option<UserFile>,
    /// A `.env` file, if present.
    pub dotenv_file: Option<PathBuf>,
    /// The environment, as `(name, value)` pairs.
    pub environment: Vec<(String, String)>,
    /// `QCAT_` variables whose value is not UTF-8 (reported as problems; other variables'
    /// encodings are none of our business and are skipped).
    pub invalid_environment: Vec<String>,
}

impl std::fmt::Debug for ConfigSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .environment
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| name.starts_with("QCAT_"))
            .collect();
        f.debug_struct("ConfigSources")
            .field("user_file", &self.user_file)
            .field("dotenv_file", &self.dotenv_file)
            .field("environment", &names)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct UserFile {
    pub path: PathBuf,
    /// Named explicitly (`QCAT_CONFIG`), so it must exist; the platform file is optional.
    pub required: bool,
}

impl ConfigSources {
    /// `QCAT_CONFIG` or the platform config file, `./.env`, and the process environment.
    pub fn from_process() -> Self {
        // vars() panics on a variable that is not UTF-8, even one that has nothing to do
        // with us; read them raw and keep what is ours.
        let mut environment = Vec::new();
        let mut invalid_environment = Vec::new();
        for (name, value) in std::env::vars_os() {
            match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => environment.push((name, value)),
                (Ok(name), Err(_)) if name.starts_with("QCAT_") => invalid_environment.push(name),
                _ => {}
            }
        }
        let user_file = match std::env::var_os(CONFIG_FILE_ENV) {
            Some(path) if !path.is_empty() => Some(UserFile {
                path: PathBuf::from(path),
                required: true,
            }),
            _ => platform_config_file().map(|path| UserFile {
                path,
                required: false,
            }),
        };
        let dotenv = PathBuf::from(".env");
        Self {
            user_file,
            dotenv_file: dotenv.is_file().then_some(dotenv),
            environment,
            invalid_environment,
        }
    }

    /// Only the given environment pairs (no files): what tests of single variables use.
    pub fn environment_only(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            user_file: None,
            dotenv_file: None,
            environment: vars.into_iter().collect(),
            invalid_environment: Vec::new(),
        }
    }
}

/// `config.toml` in the platform config dir (`~/.config/qcat-console/` on Linux).
pub fn platform_config_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "qcat", "qcat-console")
        .map(|dirs| dirs.config_dir().join("config.toml"))
}

/// One key's effective value and its history through the layers.
#[derive(Debug, Clone)]
pub struct Setting {
    /// Dotted key, e.g. `database.password`.
    pub key: String,
    /// The effective value for display: secrets masked (see [`display_value`]).
    pub value: String,
    /// Whether the key holds a secret (its value is always masked).
    pub secret: bool,
    /// The layer that won.
    pub origin: Origin,
    /// Lower layers that also set the key, highest first, with their (masked) values.
    pub shadowed: Vec<Shadowed>,
}

#[derive(Debug, Clone)]
pub struct Shadowed {
    pub value: String,
    pub origin: Origin,
}

/// A problem with one key: what, where from, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub origin: Option<Origin>,
    pub problem: String,
    pub fix: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        write!(f, "; fix: {}", self.fix)
    }
}

/// Every problem found while loading; loading stops only after all layers were read.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "invalid configuration: {one}"),
            many => {
                write!(f, "invalid configuration ({} problems):", many.len())?;
                for problem in many {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
        }
    }
}

/// A validated configuration with the provenance of every key.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// Every key, sorted, with its effective value and the layers it shadowed.
    pub settings: Vec<Setting>,
    /// Things that work but should be fixed (a plaintext secret in a file).
    pub warnings: Vec<ConfigProblem>,
    /// Where it was loaded from, to reload or to save a changed setting.
    pub sources: ConfigSources,
}

impl LoadedConfig {
    /// The effective setting of `key`, if the key exists.
    pub fn setting(&self, key: &str) -> Option<&Setting> {
        self.settings
            .binary_search_by(|setting| setting.key.as_str().cmp(key))
            .ok()
            .map(|index| &self.settings[index])
    }
}

impl Config {
    /// Loads from the process: `QCAT_CONFIG`/platform file, `./.env`, the environment.
    pub fn load() -> Result<LoadedConfig, ConfigError> {
        Self::load_from(&ConfigSources::from_process())
    }

    /// Loads from the given sources.
    pub fn load_from(sources: &ConfigSources) -> Result<LoadedConfig, ConfigError> {
        let mut problems = Vec::new();
        let schema = layers::Schema::from_defaults();
        let mut entries = schema.default_entries();
        for name in &sources.invalid_environment {
            problems.push(ConfigProblem {
                key: "(environment)".into(),
                origin: Some(Origin {
                    layer: Layer::Environment,
                    file: None,
                    line: None,
                    variable: Some(name.clone()),
                }),
                problem: format!("the value of {name} is not valid UTF-8"),
                fix: format!("set {name} to UTF-8 text, or unset it"),
            });
        }
        if let Some(file) = &sources.user_file {
            match layers::read_config_text(&file.path) {
                Ok(text) => entries.extend(schema.file_entries(&file.path, &text, &mut problems)),
                Err(read) if read.not_found && !file.required => {}
                Err(read) => problems.push(ConfigProblem {
                    key: "(file)".into(),
                    origin: Some(Origin {
                        layer: Layer::File,
                        file: Some(file.path.display().to_string()),
                        line: None,
                        variable: None,
                    }),
                    problem: read.problem,
                    fix: read.fix,
                }),
            }
        }
        if let Some(path) = &sources.dotenv_file {
            entries.extend(schema.dotenv_entries(path, &mut problems));
        }
        entries.extend(schema.environment_entries(&sources.environment, &mut problems));

        // Group by key, keeping layer order: the last entry wins.
        let mut by_key: BTreeMap<String, Vec<layers::Entry>> = BTreeMap::new();
        for entry in entries {
            by_key.entry(entry.key.clone()).or_default().push(entry);
        }
        let mut merged = toml::Table::new();
        let mut settings = Vec::with_capacity(by_key.len());
        let mut warnings = Vec::new();
        for (key, mut history) in by_key {
            let winner = history.pop().expect("every key has its default");
            layers::insert_path(&mut merged, &key, winner.value.clone());
            let secret = is_secret_key(&key);
            if secret && is_plaintext_secret(&winner.value) {
                let fix = format!(
                    "replace it with the output of `qcatctl secret encrypt --key {key}` or a `secret:NAME` reference"
                );
                // Refused where it would sit in a file; from the environment (a service
                // manager's secret store, a CI variable) it works, with a warning.
                if matches!(winner.origin.layer, Layer::File | Layer::DotEnv) {
                    problems.push(ConfigProblem {
                        key: key.clone(),
                        origin: Some(winner.origin.clone()),
                        problem: "a plaintext secret is stored in a file (a URL's password counts)"
                            .into(),
                        fix,
                    });
                } else if winner.origin.layer == Layer::Environment {
                    warnings.push(ConfigProblem {
                        key: key.clone(),
                        origin: Some(winner.origin.clone()),
                        problem: "a plaintext secret is set in the environment".into(),
                        fix,
                    });
                }
            }
            settings.push(Setting {
                value: display_value(&key, &winner.value),
                secret,
                origin: winner.origin,
                shadowed: history
                    .into_iter()
                    .rev()
                    .map(|entry| Shadowed {
                        value: display_value(&key, &entry.value),
                        origin: entry.origin,
                    })
                    .collect(),
                key,
            });
        }
        let origin_of = |key: &str| -> Option<Origin> {
            settings
                .binary_search_by(|setting| setting.key.as_str().cmp(key))
                .ok()
                .map(|index| settings[index].origin.clone())
        };
        let config = validate::typed(merged, &origin_of, &mut problems);
        if let Some(config) = &config {
            validate::ranges(config, &origin_of, &mut problems);
        }
        match config {
            Some(config) if problems.is_empty() => Ok(LoadedConfig {
                config,
                settings,
                warnings,
                sources: sources.clone(),
            }),
            _ => Err(ConfigError { problems }),
        }
    }
}

/// Parses `text` (as typed into the UI) as the type of `key`'s default: the same rules as
/// an environment variable. The error says what was expected.
pub fn parse_for_key(key: &str, text: &str) -> Result<toml::Value, String> {
    layers::Schema::from_defaults().parse_for_key(key, text)
}

/// Whether `key` exists in the schema (the shipped defaults).
pub fn schema_has_key(key: &str) -> bool {
    layers::Schema::from_defaults().has_key(key)
}

impl Config {
    /// Every secret-bearing setting with its dotted key.
    pub fn secret_settings(&self) -> [(&'static str, &SecretSetting); 5] {
        [
            ("database.url", &self.database.url),
            ("database.password", &self.database.password),
            ("redis.password", &self.redis.password),
            ("jwt.secret_key", &self.jwt.secret_key),
            ("alerting.api_token", &self.alerting.api_token),
        ]
    }
}

/// Whether `key` holds a secret whose value is never shown.
pub fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    last.ends_with("password")
        || last.ends_with("secret")
        || last.ends_with("secret_key")
        || last.ends_with("token")
        || key == "database.url"
}

/// A secret value that is neither empty, an `ENC:` ciphertext nor a `secret:` reference.
/// A URL counts only when it carries a credential.
fn is_plaintext_secret(value: &toml::Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    if text.is_empty() || text.starts_with("ENC:") || text.starts_with("secret:") {
        return false;
    }
    if crate::redact::looks_like_url(text) {
        return crate::redact::url_has_credential(text);
    }
    true
}

/// How a value is shown in `config show` and the Settings view: secrets masked, `ENC:`
/// values by key id only, `secret:NAME` references as they are (a name is not a secret),
/// URLs with every credential removed.
pub fn display_value(key: &str, value: &toml::Value) -> String {
    let text = match value {
        toml::Value::String(text) => text.as_str(),
        other => return other.to_string(),
    };
    if crate::redact::looks_like_url(text) {
        return crate::redact::url(text);
    }
    if !is_secret_key(key) && !text.starts_with("ENC:") {
        return text.to_owned();
    }
    if text.is_empty() || text.starts_with("secret:") {
        return text.to_owned();
    }
    if let Some(rest) = text.strip_prefix("ENC:v1:") {
        let key_id = rest.split(':').next().unwrap_or("?");
        return format!("ENC:v1:{key_id}:<redacted>");
    }
    if text.starts_with("ENC:") {
        return "ENC:<redacted>".into();
    }
    "<redacted>".into()
}
