//! Master key rotation: a new key becomes current, every `ENC:` value in the user's config
//! file is re-encrypted under it (the old file kept as `<file>.bak`), and the file store of
//! named secrets is re-encrypted. Older keys stay available by id, so a crash at any step
//! leaves every value decryptable.

use std::path::{Path, PathBuf};

use crate::cipher::{self, CipherError, MasterKey};
use crate::keys::{Keyring, KeyringError};
use crate::named::{self, NamedSecretError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub old_key: String,
    pub new_key: String,
    pub config_values: usize,
    pub named_secrets: usize,
    pub backup: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML ({detail}); fix it with `qcatctl config check` first")]
    Parse { path: PathBuf, detail: String },
    #[error("nothing was changed: {0}")]
    Decrypt(#[from] CipherError),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error(transparent)]
    Named(#[from] NamedSecretError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub fn rotate(
    keys: &mut Keyring,
    config_file: Option<&Path>,
) -> Result<RotationReport, RotateError> {
    let old_key = keys.current().id().to_owned();
    let new_key = MasterKey::generate();
    // Everything is decrypted and re-encrypted in memory first: a value that does not
    // decrypt stops the rotation before anything is written.
    let rewritten = match config_file {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path).map_err(|source| RotateError::Read {
                path: path.to_owned(),
                source,
            })?;
            let mut document: toml_edit::DocumentMut =
                text.parse()
                    .map_err(|err: toml_edit::TomlError| RotateError::Parse {
                        path: path.to_owned(),
                        detail: err.message().to_owned(),
                    })?;
            let count = reencrypt_table(document.as_table_mut(), "", keys.all(), &new_key)?;
            Some((path, text, document.to_string(), count))
        }
        _ => None,
    };
    keys.promote(new_key)?;
    let mut report = RotationReport {
        old_key,
        new_key: keys.current().id().to_owned(),
        config_values: 0,
        named_secrets: 0,
        backup: None,
    };
    if let Some((path, old_text, new_text, count)) = rewritten
        && count > 0
    {
        let backup = backup_path(path);
        write_atomically(&backup, &old_text)?;
        write_atomically(path, &new_text)?;
        report.config_values = count;
        report.backup = Some(backup);
    }
    report.named_secrets = named::reencrypt_file(keys)?;
    tracing::info!(
        old_key = %report.old_key,
        new_key = %report.new_key,
        config_values = report.config_values,
        named_secrets = report.named_secrets,
        "master key rotated"
    );
    Ok(report)
}

fn reencrypt_table(
    table: &mut toml_edit::Table,
    prefix: &str,
    keys: &[MasterKey],
    new_key: &MasterKey,
) -> Result<usize, CipherError> {
    let mut count = 0;
    for (name, item) in table.iter_mut() {
        let path = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        match item {
            toml_edit::Item::Table(inner) => count += reencrypt_table(inner, &path, keys, new_key)?,
            toml_edit::Item::Value(toml_edit::Value::String(text))
                if text.value().starts_with("ENC:") =>
            {
                let plain = cipher::decrypt(keys, &path, text.value())?;
                let decor = text.decor().clone();
                let mut replacement =
                    toml_edit::Formatted::new(new_key.encrypt(&path, plain.expose()));
                *replacement.decor_mut() = decor;
                *text = replacement;
                count += 1;
            }
            _ => {}
        }
    }
    Ok(count)
}

fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

fn write_atomically(path: &Path, text: &str) -> Result<(), RotateError> {
    qcat_core::atomic_file::write(path, text.as_bytes(), Some(0o600)).map_err(|source| {
        RotateError::Write {
            path: path.to_owned(),
            source,
        }
    })
}
