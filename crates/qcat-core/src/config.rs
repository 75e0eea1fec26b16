//! Configuration: shipped defaults (`config/default.toml`, embedded) overlaid by `QCAT_`
//! environment variables, then validated into [`Config`].
//!
//! Loading has two stages (raw → validated): layers are merged as TOML tables keyed by the
//! shipped defaults, so an override can only name a key that exists, and the merged table is
//! then deserialized with unknown keys denied.

use serde::Deserialize;

/// The shipped defaults, embedded so the binary runs with nothing else installed.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Environment variables that steer the process rather than name a config key.
const PROCESS_VARIABLES: &[&str] = &["QCAT_DATA_DIR", "QCAT_CONFIG", "QCAT_USER", "QCAT_PASSWORD"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub app: AppConfig,
    pub database: DatabaseConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub name: String,
    pub environment: Environment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Development,
    Staging,
    Production,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Empty for the embedded SQLite file; otherwise a `postgres://` URL. May hold a
    /// password, so this struct's Debug prints the URL redacted.
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field(
                "url",
                &if self.url.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("max_connections", &self.max_connections)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key}: {problem} (from {layer}); {fix}")]
    Invalid {
        key: String,
        layer: String,
        problem: String,
        fix: String,
    },
}

impl Config {
    /// Defaults overlaid by the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from_env(std::env::vars())
    }

    /// Defaults overlaid by the given `(name, value)` pairs (the environment in production,
    /// a fixed list in tests).
    pub fn load_from_env(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table = DEFAULT_TOML
            .parse()
            .expect("the embedded default config is valid TOML");
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix("QCAT_") else {
                continue;
            };
            if PROCESS_VARIABLES.contains(&name.as_str()) {
                continue;
            }
            let path = env_key_path(rest, &table).ok_or_else(|| ConfigError::Invalid {
                key: name.clone(),
                layer: "environment".into(),
                problem: "names no configuration key".into(),
                fix: "check the spelling against config/default.toml (QCAT_SECTION__KEY or QCAT_SECTION_KEY) or unset it".into(),
            })?;
            set_from_text(&mut table, &path, &value, &name)?;
        }
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|err: toml::de::Error| ConfigError::Invalid {
                    key: "(merged configuration)".into(),
                    layer: "defaults + environment".into(),
                    problem: err.message().to_owned(),
                    fix: "correct the value named above".into(),
                })?;
        Ok(config)
    }
}

/// Maps the part after `QCAT_` to a key path that exists in `table`: `DATABASE__URL` (any
/// depth, `__` separated) or the seed's `DATABASE_URL` (first word is the section).
fn env_key_path(rest: &str, table: &toml::Table) -> Option<Vec<String>> {
    let lower = rest.to_ascii_lowercase();
    let path: Vec<String> = if lower.contains("__") {
        lower.split("__").map(str::to_owned).collect()
    } else {
        let (section, key) = lower.split_once('_')?;
        vec![section.to_owned(), key.to_owned()]
    };
    let mut node = table;
    for (index, part) in path.iter().enumerate() {
        let value = node.get(part)?;
        if index + 1 == path.len() {
            return (!value.is_table()).then_some(path);
        }
        node = value.as_table()?;
    }
    None
}

/// Parses `text` as the type the default at `path` has, and stores it.
fn set_from_text(
    table: &mut toml::Table,
    path: &[String],
    text: &str,
    variable: &str,
) -> Result<(), ConfigError> {
    let (last, parents) = path.split_last().expect("key paths are never empty");
    let mut node = table;
    for part in parents {
        node = node
            .get_mut(part)
            .and_then(toml::Value::as_table_mut)
            .expect("env_key_path only returns existing paths");
    }
    let slot = node
        .get_mut(last)
        .expect("env_key_path only returns existing paths");
    let invalid = |expected: &str| ConfigError::Invalid {
        key: path.join("."),
        layer: format!("environment variable {variable}"),
        problem: format!("expected {expected}, got {:?}", redact_for_message(text)),
        fix: format!("set {variable} to {expected}"),
    };
    *slot = match slot {
        toml::Value::String(_) => toml::Value::String(text.to_owned()),
        toml::Value::Integer(_) => {
            toml::Value::Integer(text.trim().parse().map_err(|_| invalid("a whole number"))?)
        }
        toml::Value::Float(_) => {
            toml::Value::Float(text.trim().parse().map_err(|_| invalid("a number"))?)
        }
        toml::Value::Boolean(_) => toml::Value::Boolean(match text.trim() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(invalid("true or false")),
        }),
        other => {
            return Err(ConfigError::Invalid {
                key: path.join("."),
                layer: format!("environment variable {variable}"),
                problem: format!("a {} cannot be set from the environment", other.type_str()),
                fix: "set it in the config file instead".into(),
            });
        }
    };
    Ok(())
}

/// Values in messages are shortened so a secret pasted into the wrong variable is not echoed.
fn redact_for_message(text: &str) -> String {
    if text.chars().count() <= 3 {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(3).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_alone_give_the_embedded_sqlite_setup() {
        // With nothing set the console must run on the embedded store.
        let config = Config::load_from_env(env(&[])).unwrap();
        assert!(config.database.url.is_empty());
        assert_eq!(config.app.environment, Environment::Development);
    }

    #[test]
    fn both_env_spellings_reach_the_same_key() {
        // The seed spells QCAT_DATABASE_URL; the nested form is QCAT_DATABASE__URL.
        for name in ["QCAT_DATABASE__URL", "QCAT_DATABASE_URL"] {
            let config = Config::load_from_env(env(&[(name, "postgres://h/db")])).unwrap();
            assert_eq!(config.database.url, "postgres://h/db", "via {name}");
        }
    }

    #[test]
    fn numbers_are_parsed_by_the_default_type() {
        let config =
            Config::load_from_env(env(&[("QCAT_DATABASE__MAX_CONNECTIONS", "3")])).unwrap();
        assert_eq!(config.database.max_connections, 3);
    }

    #[test]
    fn a_bad_number_names_key_variable_and_fix() {
        let err = Config::load_from_env(env(&[("QCAT_DATABASE__MAX_CONNECTIONS", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("database.max_connections"), "{err}");
        assert!(err.contains("QCAT_DATABASE__MAX_CONNECTIONS"), "{err}");
        assert!(err.contains("whole number"), "{err}");
    }

    #[test]
    fn an_unknown_variable_is_reported_not_ignored() {
        // A typo in a variable name must not silently fall back to the default.
        let err = Config::load_from_env(env(&[("QCAT_DATABSE__URL", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("QCAT_DATABSE__URL"), "{err}");
    }

    #[test]
    fn process_variables_are_not_config_keys() {
        assert!(Config::load_from_env(env(&[("QCAT_DATA_DIR", "/tmp/x")])).is_ok());
    }

    #[test]
    fn a_bad_enum_value_is_an_error() {
        let err = Config::load_from_env(env(&[("QCAT_APP__ENVIRONMENT", "prod")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("production"),
            "lists the accepted values: {err}"
        );
    }

    #[test]
    fn debug_output_never_shows_the_database_url() {
        // The URL may embed a password.
        let config =
            Config::load_from_env(env(&[("QCAT_DATABASE__URL", "postgres://u:hunter2@h/db")]))
                .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
