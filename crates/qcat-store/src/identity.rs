//! A store, once initialised, is never initialised again without being asked to.
//!
//! The data dir remembers the installation id of each store it has used
//! (`store-identity.json`, 0600). On open, a store the data dir remembers must still be
//! there and be the same store: a deleted or emptied SQLite file, or a PostgreSQL database
//! whose schema was dropped, is refused with what is missing and how to restore it — a silent
//! fresh start would lose every user and the audit trail, and hand administration to whoever
//! signs up first. `qcatctl store init --new` is the deliberate way to start anew; the new
//! store's audit trail records it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file name, in the data dir.
pub const FILE_NAME: &str = "store-identity.json";

/// What the data dir remembers of one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    pub installation_id: String,
    pub created_at_ms: i64,
    /// When this data dir first used it.
    pub first_used_ms: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct IdentityFile {
    /// By [`crate::StoreTarget::identity_key`].
    stores: BTreeMap<String, Remembered>,
}

/// The identities a data dir remembers.
#[derive(Debug, Clone)]
pub struct Identities {
    path: PathBuf,
}

impl Identities {
    pub fn in_dir(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(FILE_NAME),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> std::io::Result<IdentityFile> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not valid: {err}", self.path.display()),
                )
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(IdentityFile::default()),
            Err(err) => Err(err),
        }
    }

    fn write(&self, file: &IdentityFile) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
        qcat_core::atomic_file::write(
            &self.path,
            &bytes,
            Some(qcat_core::private_files::FILE_MODE),
        )
    }

    pub fn get(&self, key: &str) -> std::io::Result<Option<Remembered>> {
        Ok(self.read()?.stores.remove(key))
    }

    pub fn remember(&self, key: &str, remembered: Remembered) -> std::io::Result<()> {
        let mut file = self.read()?;
        file.stores.insert(key.to_owned(), remembered);
        self.write(&file)
    }

    pub fn forget(&self, key: &str) -> std::io::Result<Option<Remembered>> {
        let mut file = self.read()?;
        let old = file.stores.remove(key);
        if old.is_some() {
            self.write(&file)?;
        }
        Ok(old)
    }
}

/// How a remembered store was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// The SQLite file does not exist.
    Missing,
    /// The file or database exists but holds no console schema (emptied, truncated to zero,
    /// schema dropped).
    Empty,
    /// It holds another console store.
    Replaced,
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Loss::Missing => "missing",
            Loss::Empty => "empty (no console data in it)",
            Loss::Replaced => "a different store",
        })
    }
}
