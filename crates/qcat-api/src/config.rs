//! Configuration entry points that work without opening the store: what `qcatctl config
//! show|check` and the Settings screen use.

use qcat_core::config::{Config, ConfigSources};

use crate::dto::{ConfigProblem, ConfigView};

/// The result of checking a configuration: every problem (fatal) and warning.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ConfigCheck {
    pub ok: bool,
    pub problems: Vec<ConfigProblem>,
    pub warnings: Vec<ConfigProblem>,
}

/// Loads the layers and returns the effective configuration, or every problem found.
pub fn effective_config(sources: &ConfigSources) -> Result<ConfigView, ConfigCheck> {
    match Config::load_from(sources) {
        Ok(loaded) => Ok(ConfigView::from(&loaded)),
        Err(err) => Err(ConfigCheck {
            ok: false,
            problems: err.problems.iter().map(ConfigProblem::from).collect(),
            warnings: Vec::new(),
        }),
    }
}

/// Checks the layers: `ok` is false when any problem was found.
pub fn check_config(sources: &ConfigSources) -> ConfigCheck {
    match Config::load_from(sources) {
        Ok(loaded) => ConfigCheck {
            ok: true,
            problems: Vec::new(),
            warnings: loaded.warnings.iter().map(ConfigProblem::from).collect(),
        },
        Err(check) => ConfigCheck {
            ok: false,
            problems: check.problems.iter().map(ConfigProblem::from).collect(),
            warnings: Vec::new(),
        },
    }
}

/// Like [`check_config`], and also decrypts every `ENC:` value and resolves every
/// `secret:` reference, so a tampered value or a wrong key is reported against its key.
pub fn check_config_and_secrets(
    sources: &ConfigSources,
    keys: Result<&qcat_secrets::Keyring, &crate::ApiError>,
) -> ConfigCheck {
    match Config::load_from(sources) {
        Ok(loaded) => {
            let problems = crate::secrets::check_secrets(&loaded, keys);
            ConfigCheck {
                ok: problems.is_empty(),
                problems,
                warnings: loaded.warnings.iter().map(ConfigProblem::from).collect(),
            }
        }
        Err(_) => check_config(sources),
    }
}
