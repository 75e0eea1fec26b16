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
