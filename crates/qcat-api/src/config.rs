//! Configuration entry points that work without opening the store: what `qcatctl config
//! show|check` and the Settings screen use.

use qcat_core::config::Config;
pub use qcat_core::config::{ConfigSources, UserFile};

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

/// What a settings change did, for the caller's confirmation and (with access control) the
/// audit record's before/after.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SettingChange {
    pub key: String,
    /// The value the user file held before (masked like everywhere), if it set the key.
    pub before: Option<String>,
    pub after: String,
    /// The user config file written.
    pub file: String,
    /// The running console keeps its loaded configuration; the change applies at restart.
    pub restart_required: bool,
}

/// Sets `key` to `text` in the user's config file (created if missing), after checking that
/// the whole configuration with the change is still valid. The file is replaced atomically
/// and keeps its comments and layout. Secret-bearing keys are refused: they are set with
/// `qcatctl secret encrypt` or as named secrets.
pub fn set_setting(
    sources: &ConfigSources,
    key: &str,
    text: &str,
) -> Result<SettingChange, crate::ApiError> {
    let mut changes = set_settings(sources, &[(key, text)])?;
    Ok(changes.remove(0))
}

/// Sets several keys in one write: validated together (a change that is only valid with
/// another, like a schedule and its sources, is one step) and replaced atomically, so the
/// file never holds half of them.
pub fn set_settings(
    sources: &ConfigSources,
    entries: &[(&str, &str)],
) -> Result<Vec<SettingChange>, crate::ApiError> {
    use qcat_core::ErrorCode;
    use qcat_core::config::{
        UserFile, display_value, is_secret_key, parse_for_key, platform_config_file,
    };

    let mut parsed = Vec::with_capacity(entries.len());
    for &(key, text) in entries {
        if is_secret_key(key) {
            return Err(crate::ApiError::new(
                ErrorCode::InvalidInput,
                format!(
                    "{key} holds a secret: store it as a named secret and set {key} to secret:NAME in the config file, or use `qcatctl secret encrypt --key {key}`"
                ),
            ));
        }
        let value = parse_for_key(key, text)
            .map_err(|message| crate::ApiError::new(ErrorCode::InvalidInput, message))?;
        parsed.push((key, text, value));
    }
    let path = match &sources.user_file {
        Some(file) => file.path.clone(),
        None => platform_config_file().ok_or_else(|| {
            crate::ApiError::new(
                ErrorCode::InvalidConfig,
                "no config file location: set QCAT_CONFIG to the file settings should be saved in",
            )
        })?,
    };
    let original = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => {
            return Err(crate::ApiError::new(
                ErrorCode::InvalidConfig,
                format!("cannot read {}: {err}", path.display()),
            ));
        }
    };
    let mut document: toml_edit::DocumentMut =
        original.parse().map_err(|err: toml_edit::TomlError| {
            crate::ApiError::new(
                ErrorCode::InvalidConfig,
                format!(
                    "{} is not valid TOML ({}); fix it first (`qcatctl config check`)",
                    path.display(),
                    err.message()
                ),
            )
        })?;
    let mut befores = Vec::with_capacity(parsed.len());
    for (key, _, value) in &parsed {
        let (section, name) = key.split_once('.').expect("schema keys have a section");
        if !document.contains_table(section) {
            document[section] = toml_edit::table();
        }
        let before = document[section]
            .get(name)
            .and_then(|item| item.as_value())
            .map(|value| match value.as_str() {
                Some(text) => text.to_owned(),
                None => {
                    let mut bare = value.clone();
                    bare.decor_mut().clear();
                    bare.to_string()
                }
            });
        befores.push(before);
        document[section][name] = toml_edit::value(to_edit_value(value));
    }
    let candidate = document.to_string();

    // Validate the configuration as it would load with the new file, every layer included.
    let scratch = tempfile::NamedTempFile::new()
        .map_err(|err| crate::ApiError::internal_in("set_setting", &err))?;
    std::fs::write(scratch.path(), &candidate)
        .map_err(|err| crate::ApiError::internal_in("set_setting", &err))?;
    let mut trial = sources.clone();
    trial.user_file = Some(UserFile {
        path: scratch.path().to_owned(),
        required: true,
    });
    if let Err(err) = Config::load_from(&trial) {
        let problems: Vec<String> = err
            .problems
            .iter()
            .map(|problem| format!("{}: {}; fix: {}", problem.key, problem.problem, problem.fix))
            .collect();
        let asked: Vec<String> = parsed
            .iter()
            .map(|(key, text, _)| format!("{key} = {text:?}"))
            .collect();
        return Err(crate::ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "{} would make the configuration invalid: {}",
                asked.join(", "),
                problems.join("; ")
            ),
        ));
    }
    qcat_core::atomic_file::write(&path, candidate.as_bytes(), Some(0o600)).map_err(|err| {
        crate::ApiError::new(
            ErrorCode::InvalidConfig,
            format!(
                "cannot write {}: {err}; check the folder's permissions",
                path.display()
            ),
        )
    })?;
    Ok(parsed
        .into_iter()
        .zip(befores)
        .map(|((key, _, value), before)| {
            tracing::info!(key, file = %path.display(), "setting saved");
            SettingChange {
                key: key.to_owned(),
                before: before.map(|text| display_value(key, &toml::Value::String(text))),
                after: display_value(key, &value),
                file: path.display().to_string(),
                restart_required: true,
            }
        })
        .collect())
}

fn to_edit_value(value: &toml::Value) -> toml_edit::Value {
    match value {
        toml::Value::String(text) => text.as_str().into(),
        toml::Value::Integer(number) => (*number).into(),
        toml::Value::Float(number) => (*number).into(),
        toml::Value::Boolean(flag) => (*flag).into(),
        toml::Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(to_edit_value(item));
            }
            toml_edit::Value::Array(array)
        }
        other => other.to_string().as_str().into(),
    }
}
