//! Data crossing the API boundary. These types own the wire format (serde, camelCase) and
//! generate the UI's TypeScript (`ui/src/lib/gen/api.ts`); domain types stay free of it.

use serde::Serialize;
use ts_rs::TS;

use crate::ApiError;

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub version: String,
    pub data_dir: String,
    pub data_dir_source: DataDirSource,
    pub environment: Environment,
    pub uptime_secs: u64,
    /// The operating system's UI language as a BCP 47 tag (`zh-CN`, `en-US`), when known.
    /// The UI follows it unless the user picked a language.
    pub system_locale: Option<String>,
    pub master_key: MasterKeyStatus,
}

/// Where the master key comes from, or why there is none.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MasterKeyStatus {
    /// e.g. `the OS keychain`, `key file /etc/qcat/master.key (QCAT_MASTER_KEY_FILE)`.
    pub source: Option<String>,
    pub key_id: Option<String>,
    pub error: Option<ApiError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DataDirSource {
    Environment,
    Platform,
    Explicit,
}

impl From<qcat_core::paths::DataDirSource> for DataDirSource {
    fn from(source: qcat_core::paths::DataDirSource) -> Self {
        use qcat_core::paths::DataDirSource as Core;
        match source {
            Core::Environment => DataDirSource::Environment,
            Core::Platform => DataDirSource::Platform,
            Core::Explicit => DataDirSource::Explicit,
        }
    }
}

/// dev / staging / production, shown as a colour wherever a target is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl From<qcat_core::config::Environment> for Environment {
    fn from(environment: qcat_core::config::Environment) -> Self {
        use qcat_core::config::Environment as Core;
        match environment {
            Core::Development => Environment::Development,
            Core::Staging => Environment::Staging,
            Core::Production => Environment::Production,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StorageBackend {
    Sqlite,
    Postgres,
}

impl From<qcat_store::Backend> for StorageBackend {
    fn from(backend: qcat_store::Backend) -> Self {
        match backend {
            qcat_store::Backend::Sqlite => StorageBackend::Sqlite,
            qcat_store::Backend::Postgres => StorageBackend::Postgres,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StorageHealth {
    /// Open and answering.
    Healthy,
    /// Opened earlier, but the last probe got no answer.
    Unreachable,
    /// Could not be opened at all (bad URL, refused, schema too new).
    Failed,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StorageStatus {
    pub backend: StorageBackend,
    /// A file path, or a URL without its password.
    pub location: String,
    pub health: StorageHealth,
    pub round_trip_ms: Option<f64>,
    pub schema_version: Option<i64>,
    pub known_schema_version: Option<i64>,
    pub error: Option<ApiError>,
}

/// Which configuration layer a value came from, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ConfigLayer {
    Defaults,
    File,
    Dotenv,
    Environment,
}

impl From<qcat_core::config::Layer> for ConfigLayer {
    fn from(layer: qcat_core::config::Layer) -> Self {
        use qcat_core::config::Layer;
        match layer {
            Layer::Defaults => ConfigLayer::Defaults,
            Layer::File => ConfigLayer::File,
            Layer::DotEnv => ConfigLayer::Dotenv,
            Layer::Environment => ConfigLayer::Environment,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConfigOrigin {
    pub layer: ConfigLayer,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub variable: Option<String>,
    /// The whole origin in words, e.g. `config file at /etc/qcat.toml:4`.
    pub description: String,
}

impl From<&qcat_core::config::Origin> for ConfigOrigin {
    fn from(origin: &qcat_core::config::Origin) -> Self {
        Self {
            layer: origin.layer.into(),
            file: origin.file.clone(),
            line: origin.line.and_then(|line| u32::try_from(line).ok()),
            variable: origin.variable.clone(),
            description: origin.to_string(),
        }
    }
}

/// A value a higher layer overrode.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ShadowedValue {
    pub value: String,
    pub origin: ConfigOrigin,
}

/// One key of the effective configuration. `value` is already masked for secrets.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSetting {
    pub key: String,
    pub section: String,
    pub value: String,
    pub secret: bool,
    pub origin: ConfigOrigin,
    pub shadowed: Vec<ShadowedValue>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConfigProblem {
    pub key: String,
    pub origin: Option<ConfigOrigin>,
    pub problem: String,
    pub fix: String,
}

impl From<&qcat_core::config::ConfigProblem> for ConfigProblem {
    fn from(problem: &qcat_core::config::ConfigProblem) -> Self {
        Self {
            key: problem.key.clone(),
            origin: problem.origin.as_ref().map(ConfigOrigin::from),
            problem: problem.problem.clone(),
            fix: problem.fix.clone(),
        }
    }
}

/// The effective configuration: every key with provenance, and the warnings.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConfigView {
    pub settings: Vec<ConfigSetting>,
    pub warnings: Vec<ConfigProblem>,
}

impl From<&qcat_core::config::LoadedConfig> for ConfigView {
    fn from(loaded: &qcat_core::config::LoadedConfig) -> Self {
        Self {
            settings: loaded
                .settings
                .iter()
                .map(|setting| ConfigSetting {
                    key: setting.key.clone(),
                    section: setting.key.split('.').next().unwrap_or_default().to_owned(),
                    value: setting.value.clone(),
                    secret: setting.secret,
                    origin: ConfigOrigin::from(&setting.origin),
                    shadowed: setting
                        .shadowed
                        .iter()
                        .map(|shadowed| ShadowedValue {
                            value: shadowed.value.clone(),
                            origin: ConfigOrigin::from(&shadowed.origin),
                        })
                        .collect(),
                })
                .collect(),
            warnings: loaded.warnings.iter().map(ConfigProblem::from).collect(),
        }
    }
}
