//! Where the master key lives, and finding every key an `ENC:` value may name.
//!
//! Precedence: `QCAT_MASTER_KEY_FILE` (a 0600 file, for servers), then `QCAT_MASTER_KEY`
//! (base64 in the environment, for containers; logged as a warning), then the OS keychain
//! (macOS Keychain, Windows Credential Manager, Secret Service on Linux), where a key is
//! created on first use. Every source keeps older keys next to the current one, by id, so
//! values encrypted before a rotation still decrypt.

use std::io::Write;
use std::path::{Path, PathBuf};

use qcat_core::secret::Secret;

use crate::KEYCHAIN_SERVICE;
use crate::cipher::MasterKey;

pub const KEY_FILE_ENV: &str = "QCAT_MASTER_KEY_FILE";
pub const KEY_ENV: &str = "QCAT_MASTER_KEY";

/// The keychain entry listing key ids, current first (`id,id,…`).
const KEY_INDEX_ENTRY: &str = "master-key";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Environment,
    Keychain,
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "key file {} ({KEY_FILE_ENV})", path.display()),
            KeySource::Environment => write!(f, "the {KEY_ENV} environment variable"),
            KeySource::Keychain => f.write_str("the OS keychain"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "the master key file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    FileTooOpen { path: PathBuf, mode: u32 },
    #[error("cannot read the master key file {path}: {source}; check {KEY_FILE_ENV}")]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{what} does not hold a base64 256-bit key; create one with `qcatctl key init --to-file PATH`"
    )]
    BadKey { what: String },
    #[error(
        "the OS keychain is not available ({detail}); on a server create a key file with `qcatctl key init --to-file PATH` and set {KEY_FILE_ENV} to it"
    )]
    KeychainUnavailable { detail: String },
    #[error(
        "the OS keychain is locked ({detail}); unlock it (log in to the desktop session) and retry"
    )]
    KeychainLocked { detail: String },
    #[error(
        "the master key {id} is missing from {store}; restore it, or re-create the encrypted values"
    )]
    KeyMissing { id: String, store: KeySource },
    #[error("{path} exists already; refusing to overwrite a master key (move it away first)")]
    WouldOverwrite { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where to look for the master key; [`KeyOptions::from_process`] reads the environment.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    pub key_file: Option<PathBuf>,
    pub key_env: Option<Secret<String>>,
    /// Keychain service name; tests use their own so they never touch the user's entries.
    pub keychain_service: Option<String>,
}

impl KeyOptions {
    pub fn from_process() -> Self {
        Self {
            key_file: std::env::var_os(KEY_FILE_ENV)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from),
            key_env: std::env::var(KEY_ENV)
                .ok()
                .filter(|value| !value.is_empty())
                .map(Secret::new),
            keychain_service: None,
        }
    }

    fn service(&self) -> &str {
        self.keychain_service.as_deref().unwrap_or(KEYCHAIN_SERVICE)
    }
}

/// The master keys available to this process: the current one first.
#[derive(Debug, Clone)]
pub struct Keyring {
    source: KeySource,
    keys: Vec<MasterKey>,
    service: String,
}

impl Keyring {
    /// Loads the keys; in the keychain, creates a key when there is none yet.
    pub fn load_or_create(options: &KeyOptions) -> Result<Self, KeyringError> {
        if let Some(path) = &options.key_file {
            let keys = read_key_file(path)?;
            return Ok(Self {
                source: KeySource::File(path.clone()),
                keys,
                service: options.service().to_owned(),
            });
        }
        if let Some(text) = &options.key_env {
            tracing::warn!(
                "the master key comes from the {KEY_ENV} environment variable; prefer the OS keychain or a 0600 key file"
            );
            let key =
                MasterKey::from_base64(text.expose()).ok_or_else(|| KeyringError::BadKey {
                    what: KEY_ENV.into(),
                })?;
            return Ok(Self {
                source: KeySource::Environment,
                keys: vec![key],
                service: options.service().to_owned(),
            });
        }
        let service = options.service().to_owned();
        let ids = match keychain_get(&service, KEY_INDEX_ENTRY)? {
            Some(index) => index
                .expose()
                .split(',')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
            None => Vec::new(),
        };
        if ids.is_empty() {
            let key = MasterKey::generate();
            keychain_set(&service, &entry_for(key.id()), key.to_base64().expose())?;
            keychain_set(&service, KEY_INDEX_ENTRY, key.id())?;
            tracing::info!(key_id = key.id(), "created a master key in the OS keychain");
            return Ok(Self {
                source: KeySource::Keychain,
                keys: vec![key],
                service,
            });
        }
        let mut keys = Vec::with_capacity(ids.len());
        for id in ids {
            let text = keychain_get(&service, &entry_for(&id))?.ok_or_else(|| {
                KeyringError::KeyMissing {
                    id: id.clone(),
                    store: KeySource::Keychain,
                }
            })?;
            keys.push(MasterKey::from_base64(text.expose()).ok_or_else(|| {
                KeyringError::BadKey {
                    what: format!("keychain entry {}", entry_for(&id)),
                }
            })?);
        }
        Ok(Self {
            source: KeySource::Keychain,
            keys,
            service,
        })
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The key new values are encrypted with.
    pub fn current(&self) -> &MasterKey {
        &self.keys[0]
    }

    /// Every key, current first, for decryption.
    pub fn all(&self) -> &[MasterKey] {
        &self.keys
    }

    pub(crate) fn service(&self) -> &str {
        &self.service
    }

    /// Stores `key` as the new current key, keeping the older ones for decryption.
    pub fn promote(&mut self, key: MasterKey) -> Result<(), KeyringError> {
        let mut keys = vec![key];
        keys.extend(self.keys.iter().cloned());
        match &self.source {
            KeySource::File(path) => write_key_file(path, &keys, true)?,
            KeySource::Keychain => {
                keychain_set(
                    &self.service,
                    &entry_for(keys[0].id()),
                    keys[0].to_base64().expose(),
                )?;
                let index: Vec<&str> = keys.iter().map(MasterKey::id).collect();
                keychain_set(&self.service, KEY_INDEX_ENTRY, &index.join(","))?;
            }
            KeySource::Environment => {
                return Err(KeyringError::BadKey {
                    what: format!(
                        "{KEY_ENV} cannot be rotated in place: set it to the new key yourself"
                    ),
                });
            }
        }
        self.keys = keys;
        Ok(())
    }
}

fn entry_for(id: &str) -> String {
    format!("master-key:{id}")
}

/// Reads a key file: one base64 key per line, current first. Refused unless only the owner
/// can read it.
fn read_key_file(path: &Path) -> Result<Vec<MasterKey>, KeyringError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = std::fs::metadata(path).map_err(|source| KeyringError::FileUnreadable {
            path: path.to_owned(),
            source,
        })?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyringError::FileTooOpen {
                path: path.to_owned(),
                mode,
            });
        }
    }
    let text = std::fs::read_to_string(path).map_err(|source| KeyringError::FileUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let keys: Option<Vec<MasterKey>> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(MasterKey::from_base64)
        .collect();
    match keys {
        Some(keys) if !keys.is_empty() => Ok(keys),
        _ => Err(KeyringError::BadKey {
            what: path.display().to_string(),
        }),
    }
}

/// Writes a key file atomically with mode 0600 (created that way, never widened).
pub(crate) fn write_key_file(
    path: &Path,
    keys: &[MasterKey],
    overwrite: bool,
) -> Result<(), KeyringError> {
    if !overwrite && path.exists() {
        return Err(KeyringError::WouldOverwrite {
            path: path.to_owned(),
        });
    }
    let write_err = |source| KeyringError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".qcat-key-")
        .permissions(owner_only())
        .tempfile_in(dir)
        .map_err(write_err)?;
    writeln!(
        file,
        "# QCAT Console master keys, current first. Keep this file private (0600)."
    )
    .map_err(write_err)?;
    for key in keys {
        writeln!(file, "{}", key.to_base64().expose()).map_err(write_err)?;
    }
    file.as_file().sync_all().map_err(write_err)?;
    if overwrite {
        file.persist(path).map_err(|err| write_err(err.error))?;
    } else {
        file.persist_noclobber(path)
            .map_err(|err| write_err(err.error))?;
    }
    Ok(())
}

/// Creates a new key file holding one fresh key; refuses to overwrite.
pub fn init_key_file(path: &Path) -> Result<MasterKey, KeyringError> {
    let key = MasterKey::generate();
    write_key_file(path, std::slice::from_ref(&key), false)?;
    Ok(key)
}

fn owner_only() -> std::fs::Permissions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(0o600)
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(".")
            .map(|m| m.permissions())
            .unwrap_or_else(|_| unreachable!())
    }
}

pub(crate) fn keychain_get(
    service: &str,
    user: &str,
) -> Result<Option<Secret<String>>, KeyringError> {
    let entry = keyring::Entry::new(service, user).map_err(keychain_error)?;
    match entry.get_password() {
        Ok(text) => Ok(Some(Secret::new(text))),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(err) => Err(keychain_error(err)),
    }
}

pub(crate) fn keychain_set(service: &str, user: &str, value: &str) -> Result<(), KeyringError> {
    let entry = keyring::Entry::new(service, user).map_err(keychain_error)?;
    entry.set_password(value).map_err(keychain_error)?;
    // Read back: a store that accepts writes but keeps nothing must not pass silently.
    match entry.get_password() {
        Ok(stored) if stored == value => Ok(()),
        Ok(_) | Err(_) => Err(KeyringError::KeychainUnavailable {
            detail: "a value written to it could not be read back".into(),
        }),
    }
}

fn keychain_error(err: keyring::Error) -> KeyringError {
    match err {
        keyring::Error::NoStorageAccess(inner) => KeyringError::KeychainLocked {
            detail: inner.to_string(),
        },
        other => KeyringError::KeychainUnavailable {
            detail: other.to_string(),
        },
    }
}
