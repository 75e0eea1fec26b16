//! Where the console keeps its data: the platform's app-data location, or `QCAT_DATA_DIR`.
//!
//! Tests always set an explicit temporary data dir (see `qcat-testkit`); CI additionally
//! points the platform location at a sentinel folder and fails if anything appears there.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The environment variable that overrides the platform data dir.
pub const DATA_DIR_ENV: &str = "QCAT_DATA_DIR";

/// Where a [`DataDir`] came from, shown in `qcatctl status` and the About dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataDirSource {
    /// `QCAT_DATA_DIR` was set.
    Environment,
    /// The operating system's per-user application data folder.
    Platform,
    /// Given by the caller (tests, `--data-dir`).
    Explicit,
}

/// The folder holding the embedded database, logs and the local backup repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    path: PathBuf,
    source: DataDirSource,
}

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(
        "cannot find a home folder to keep the console's data in; set {DATA_DIR_ENV} to a writable folder"
    )]
    NoPlatformDir,
    #[error("{DATA_DIR_ENV} is set but empty; unset it or point it at a writable folder")]
    EmptyOverride,
    #[error(
        "cannot create the data dir {path}: {source}; check its permissions or set {DATA_DIR_ENV}"
    )]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DataDir {
    /// `QCAT_DATA_DIR` when set, else the platform location
    /// (`~/.local/share/qcat-console` on Linux, `~/Library/Application Support/dev.qcat.console`
    /// on macOS, `%APPDATA%\qcat\console\data` on Windows).
    pub fn resolve() -> Result<Self, DataDirError> {
        Self::resolve_from(std::env::var_os(DATA_DIR_ENV))
    }

    fn resolve_from(override_value: Option<std::ffi::OsString>) -> Result<Self, DataDirError> {
        if let Some(value) = override_value {
            if value.is_empty() {
                return Err(DataDirError::EmptyOverride);
            }
            return Ok(Self {
                path: PathBuf::from(value),
                source: DataDirSource::Environment,
            });
        }
        let dirs = directories::ProjectDirs::from("dev", "qcat", "qcat-console")
            .ok_or(DataDirError::NoPlatformDir)?;
        Ok(Self {
            path: dirs.data_dir().to_path_buf(),
            source: DataDirSource::Platform,
        })
    }

    /// A data dir chosen by the caller.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            source: DataDirSource::Explicit,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn source(&self) -> DataDirSource {
        self.source
    }

    /// Creates the folder (and parents) if missing, private to the OS user (0700); a
    /// folder found open to others is narrowed, and that is returned for the log.
    pub fn ensure_exists(&self) -> Result<Option<crate::private_files::Narrowed>, DataDirError> {
        crate::private_files::create_dir(&self.path).map_err(|source| DataDirError::Create {
            path: self.path.clone(),
            source,
        })
    }

    /// The embedded SQLite database used when no `database.url` is configured.
    pub fn sqlite_file(&self) -> PathBuf {
        self.path.join("qcat.sqlite3")
    }

    /// Rotated JSON log files.
    pub fn logs_dir(&self) -> PathBuf {
        self.path.join("logs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_override_wins_over_platform() {
        // QCAT_DATA_DIR is how tests and servers keep data away from the user's folder.
        let dir = DataDir::resolve_from(Some("/tmp/qcat-here".into())).unwrap();
        assert_eq!(dir.path(), Path::new("/tmp/qcat-here"));
        assert_eq!(dir.source(), DataDirSource::Environment);
    }

    #[test]
    fn empty_override_is_an_error_naming_the_variable() {
        // An empty value is almost always a broken script; silently using the platform
        // folder would write somewhere the operator did not intend.
        let err = DataDir::resolve_from(Some("".into())).unwrap_err();
        assert!(err.to_string().contains(DATA_DIR_ENV), "{err}");
    }

    #[test]
    fn files_live_inside_the_data_dir() {
        let dir = DataDir::at("/srv/qcat");
        assert!(dir.sqlite_file().starts_with("/srv/qcat"));
        assert!(dir.logs_dir().starts_with("/srv/qcat"));
    }
}
