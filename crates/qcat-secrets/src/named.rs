//! Named secrets (`secret:smtp_password` in config): typed once into the UI or
//! `qcatctl secret set NAME`, never read back by a person. They live in the OS keychain; when
//! the master key comes from a key file (servers without a keychain) they live encrypted in
//! `<key file>.secrets`, written atomically with mode 0600.

use std::collections::BTreeMap;
use std::path::PathBuf;

use qcat_core::secret::Secret;

use crate::cipher::{self, CipherError};
use crate::keys::{KeySource, Keyring, KeyringError, keychain_get, keychain_set};

/// The keychain entry listing the names (names are not secret; values are).
const NAMES_ENTRY: &str = "secret-names";

#[derive(Debug, thiserror::Error)]
pub enum NamedSecretError {
    #[error("secret name {0:?} is not allowed; use letters, digits, '_', '-' or '.' (at most 64)")]
    BadName(String),
    #[error("no secret named {0:?}; set it with `qcatctl secret set {0}`")]
    Missing(String),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error("the secrets file {path} is damaged: {detail}")]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn check_name(name: &str) -> Result<(), NamedSecretError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(NamedSecretError::BadName(name.to_owned()))
    }
}

/// Stores `value` under `name`, replacing any earlier value.
pub fn set(keys: &Keyring, name: &str, value: &Secret<String>) -> Result<(), NamedSecretError> {
    check_name(name)?;
    match keys.source() {
        KeySource::File(path) => {
            let path = file_for(path);
            let mut all = read_file(&path)?;
            all.insert(
                name.to_owned(),
                keys.current().encrypt(&aad(name), value.expose()),
            );
            write_file(&path, &all)
        }
        KeySource::Keychain | KeySource::Environment => {
            keychain_set(keys.service(), &aad(name), value.expose())?;
            let mut names = names_in_keychain(keys)?;
            if !names.iter().any(|known| known == name) {
                names.push(name.to_owned());
                names.sort();
                keychain_set(keys.service(), NAMES_ENTRY, &names.join(","))?;
            }
            Ok(())
        }
    }
}

/// The value of `name`.
pub fn get(keys: &Keyring, name: &str) -> Result<Secret<String>, NamedSecretError> {
    check_name(name)?;
    match keys.source() {
        KeySource::File(path) => {
            let all = read_file(&file_for(path))?;
            let value = all
                .get(name)
                .ok_or_else(|| NamedSecretError::Missing(name.to_owned()))?;
            Ok(cipher::decrypt(keys.all(), &aad(name), value)?)
        }
        KeySource::Keychain | KeySource::Environment => keychain_get(keys.service(), &aad(name))?
            .ok_or_else(|| NamedSecretError::Missing(name.to_owned())),
    }
}

/// The names of all named secrets (never their values).
pub fn list(keys: &Keyring) -> Result<Vec<String>, NamedSecretError> {
    match keys.source() {
        KeySource::File(path) => Ok(read_file(&file_for(path))?.into_keys().collect()),
        KeySource::Keychain | KeySource::Environment => Ok(names_in_keychain(keys)?),
    }
}

/// Re-encrypts the file store under the current key (after a rotation).
pub(crate) fn reencrypt_file(keys: &Keyring) -> Result<usize, NamedSecretError> {
    let KeySource::File(path) = keys.source() else {
        return Ok(0);
    };
    let path = file_for(path);
    let all = read_file(&path)?;
    let mut out = BTreeMap::new();
    for (name, value) in &all {
        let plain = cipher::decrypt(keys.all(), &aad(name), value)?;
        out.insert(
            name.clone(),
            keys.current().encrypt(&aad(name), plain.expose()),
        );
    }
    if !out.is_empty() {
        write_file(&path, &out)?;
    }
    Ok(out.len())
}

fn aad(name: &str) -> String {
    format!("secret:{name}")
}

fn names_in_keychain(keys: &Keyring) -> Result<Vec<String>, KeyringError> {
    Ok(keychain_get(keys.service(), NAMES_ENTRY)?
        .map(|names| {
            names
                .expose()
                .split(',')
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}

fn file_for(key_file: &std::path::Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".secrets");
    PathBuf::from(name)
}

fn read_file(path: &PathBuf) -> Result<BTreeMap<String, String>, NamedSecretError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|err| NamedSecretError::Damaged {
            path: path.clone(),
            detail: err.to_string(),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(err) => Err(NamedSecretError::Damaged {
            path: path.clone(),
            detail: err.to_string(),
        }),
    }
}

fn write_file(
    path: &std::path::Path,
    all: &BTreeMap<String, String>,
) -> Result<(), NamedSecretError> {
    let text = serde_json::to_string_pretty(all).expect("a map of strings serializes");
    qcat_core::atomic_file::write(path, text.as_bytes(), Some(0o600)).map_err(|source| {
        NamedSecretError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}
