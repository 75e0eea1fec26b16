//! Secret entry points: encrypting a value for a config key, named secrets, master keys.
//! The UI and the CLI can set secrets; nothing here returns a stored secret's value.

use std::path::Path;

use qcat_core::ErrorCode;
use qcat_core::config::{ConfigSources, SecretSetting, is_secret_key};
pub use qcat_core::secret::Secret;
pub use qcat_secrets::keys::KeyOptions;
use qcat_secrets::keys::init_key_file;
use qcat_secrets::named::NamedSecretError;
use qcat_secrets::rotate::{RotateError, RotationReport};
use qcat_secrets::{CipherError, Keyring, KeyringError, cipher, named, rotate};

use crate::ApiError;

impl From<KeyringError> for ApiError {
    fn from(err: KeyringError) -> Self {
        let code = match err {
            KeyringError::WouldOverwrite { .. } => ErrorCode::Conflict,
            KeyringError::KeychainUnavailable { .. } | KeyringError::KeychainLocked { .. } => {
                ErrorCode::SecretsUnavailable
            }
            _ => ErrorCode::InvalidConfig,
        };
        ApiError::new(code, err.to_string())
    }
}

impl From<CipherError> for ApiError {
    fn from(err: CipherError) -> Self {
        ApiError::new(ErrorCode::InvalidConfig, err.to_string())
    }
}

impl From<NamedSecretError> for ApiError {
    fn from(err: NamedSecretError) -> Self {
        match err {
            NamedSecretError::Keyring(inner) => inner.into(),
            NamedSecretError::Cipher(inner) => inner.into(),
            NamedSecretError::BadName(_) => ApiError::new(ErrorCode::InvalidInput, err.to_string()),
            NamedSecretError::Missing(_) => ApiError::new(ErrorCode::NotFound, err.to_string()),
            NamedSecretError::Damaged { .. } | NamedSecretError::Write { .. } => {
                ApiError::new(ErrorCode::SecretsUnavailable, err.to_string())
            }
        }
    }
}

impl From<RotateError> for ApiError {
    fn from(err: RotateError) -> Self {
        match err {
            RotateError::Keyring(inner) => inner.into(),
            RotateError::Named(inner) => inner.into(),
            other => ApiError::new(ErrorCode::InvalidConfig, other.to_string()),
        }
    }
}

/// The plaintext of a secret setting: `ENC:` values are decrypted, `secret:NAME` read from
/// the named-secret store, anything else (from the environment) used as it is.
pub(crate) fn resolve(
    keys: Result<&Keyring, &ApiError>,
    key: &str,
    setting: &SecretSetting,
) -> Result<Secret<String>, ApiError> {
    let raw = setting.raw();
    if raw.starts_with("ENC:") {
        let keys = keys.map_err(|err| needs_key(key, err))?;
        return Ok(cipher::decrypt(keys.all(), key, raw)?);
    }
    if let Some(name) = raw.strip_prefix("secret:") {
        let keys = keys.map_err(|err| needs_key(key, err))?;
        return Ok(named::get(keys, name)?);
    }
    Ok(Secret::new(raw.to_owned()))
}

fn needs_key(key: &str, err: &ApiError) -> ApiError {
    ApiError::new(
        err.code,
        format!(
            "{key} is encrypted but no master key is available: {}",
            err.message
        ),
    )
}

/// Encrypts `plaintext` for the config key `key`, which must be a secret-bearing key of the
/// schema (the key path is bound into the ciphertext).
pub fn encrypt_for_key(
    keys: &Keyring,
    key: &str,
    plaintext: &Secret<String>,
) -> Result<String, ApiError> {
    if !qcat_core::config::schema_has_key(key) {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("--key {key}: no such configuration key; see `qcatctl config show`"),
        ));
    }
    if !is_secret_key(key) {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "--key {key}: not a secret-bearing key; only keys such as database.password are encrypted"
            ),
        ));
    }
    if plaintext.expose().is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "the value to encrypt is empty; pipe it on standard input",
        ));
    }
    Ok(keys.current().encrypt(key, plaintext.expose()))
}

/// Loads the master keys as configured by the process (creating one in the keychain).
pub fn load_keys(options: &KeyOptions) -> Result<Keyring, ApiError> {
    Ok(Keyring::load_or_create(options)?)
}

pub fn set_named(keys: &Keyring, name: &str, value: &Secret<String>) -> Result<(), ApiError> {
    if value.expose().is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "the secret is empty; pipe it on standard input",
        ));
    }
    Ok(named::set(keys, name, value)?)
}

pub fn list_named(keys: &Keyring) -> Result<Vec<String>, ApiError> {
    Ok(named::list(keys)?)
}

/// Creates a new master key in a 0600 file; refuses to overwrite. Returns the key id.
pub fn init_key(path: &Path) -> Result<String, ApiError> {
    Ok(init_key_file(path)?.id().to_owned())
}

/// Rotates the master key and re-encrypts the user's config file.
pub fn rotate_key(keys: &mut Keyring, sources: &ConfigSources) -> Result<RotationReport, ApiError> {
    let file = sources.user_file.as_ref().map(|file| file.path.as_path());
    Ok(rotate::rotate(keys, file)?)
}

/// Every secret setting whose `ENC:`/`secret:` value cannot be resolved, as config problems.
pub fn check_secrets(
    loaded: &qcat_core::config::LoadedConfig,
    keys: Result<&Keyring, &ApiError>,
) -> Vec<crate::dto::ConfigProblem> {
    let mut problems = Vec::new();
    for (key, setting) in loaded.config.secret_settings() {
        let raw = setting.raw();
        if !(raw.starts_with("ENC:") || raw.starts_with("secret:")) {
            continue;
        }
        if let Err(err) = resolve(keys, key, setting) {
            problems.push(crate::dto::ConfigProblem {
                key: key.to_owned(),
                origin: loaded
                    .setting(key)
                    .map(|setting| crate::dto::ConfigOrigin::from(&setting.origin)),
                // The cipher's message starts with the key, which the problem names already.
                problem: err
                    .message
                    .strip_prefix(&format!("{key}: "))
                    .unwrap_or(&err.message)
                    .to_owned(),
                // A `secret:NAME` reference is fixed by storing the secret; an ENC: value by
                // encrypting it again.
                fix: match raw.strip_prefix("secret:") {
                    Some(name) => {
                        format!("store it: echo -n VALUE | qcatctl --user ADMIN secret set {name}")
                    }
                    None => {
                        format!("re-encrypt it: echo -n VALUE | qcatctl secret encrypt --key {key}")
                    }
                },
            });
        }
    }
    problems
}

/// A secret typed into the UI. The value deserializes straight into a [`Secret`]: it has no
/// Serialize and prints `<redacted>`, so it cannot be echoed back or logged.
#[derive(Debug, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct NamedSecretInput {
    pub name: String,
    #[ts(type = "string")]
    pub value: SecretText,
}

/// Deserializes from a string into a [`Secret`].
pub struct SecretText(pub Secret<String>);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> serde::Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| SecretText(Secret::new(text)))
    }
}

impl crate::Api {
    pub(crate) fn keys(&self) -> Result<&Keyring, ApiError> {
        self.inner.keys.as_ref().map_err(Clone::clone)
    }

    /// Stores a named secret (write-only: there is no way to read it back through the API).
    /// The audit entry names the secret, never its value; done once the entry is durable.
    pub async fn set_named_secret(
        &self,
        slot: &crate::SessionSlot,
        input: NamedSecretInput,
    ) -> Result<(), ApiError> {
        let proof = self.guard(slot, "set_named_secret").await?;
        let name = input.name.trim().to_owned();
        let api = self.clone();
        let stored_name = name.clone();
        // The keychain is reached over D-Bus or a platform API: blocking work.
        let result = tokio::task::spawn_blocking(move || {
            set_named(api.keys()?, &stored_name, &input.value.0)
        })
        .await
        .map_err(|err| ApiError::internal_in("set_named_secret", &err))?;
        let target = format!("secret:{name}");
        let event = match &result {
            Ok(()) => proof
                .event("secrets.set", target, qcat_audit::Outcome::Ok)
                .detail("value replaced (not recorded)"),
            Err(err) => proof
                .event("secrets.set", target, qcat_audit::Outcome::Failed)
                .detail(err.message.clone()),
        };
        self.access()?.audit().record(event).await?;
        result?;
        tracing::info!(name = %name, "named secret stored");
        Ok(())
    }

    /// The names of the named secrets.
    pub async fn named_secrets(&self, slot: &crate::SessionSlot) -> Result<Vec<String>, ApiError> {
        self.guard(slot, "named_secrets").await?;
        let api = self.clone();
        tokio::task::spawn_blocking(move || list_named(api.keys()?))
            .await
            .map_err(|err| ApiError::internal_in("named_secrets", &err))?
    }

    /// Makes a new master key current and re-encrypts the user config file (`qcatctl key
    /// rotate`); audited with the old and new key ids.
    pub async fn rotate_master_key(
        &self,
        slot: &crate::SessionSlot,
    ) -> Result<RotationReport, ApiError> {
        let proof = self.guard(slot, "rotate_master_key").await?;
        let options = self.inner.config.keys.clone();
        let sources = self.inner.config.config.sources.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut keys = load_keys(&options)?;
            rotate_key(&mut keys, &sources)
        })
        .await
        .map_err(|err| ApiError::internal_in("rotate_master_key", &err))?;
        let event = match &result {
            Ok(report) => proof
                .event("secrets.rotate_key", "master-key", qcat_audit::Outcome::Ok)
                .change(
                    Some(serde_json::json!({ "keyId": report.old_key })),
                    Some(serde_json::json!({ "keyId": report.new_key })),
                ),
            Err(err) => proof
                .event(
                    "secrets.rotate_key",
                    "master-key",
                    qcat_audit::Outcome::Failed,
                )
                .detail(err.message.clone()),
        };
        self.access()?.audit().record(event).await?;
        result
    }
}
