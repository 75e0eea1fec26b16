use std::path::PathBuf;

use qcat_core::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a backup repository (no repository.json); choose the repository's folder, or create one with `qcatctl backup init`"
    )]
    NotARepository { path: PathBuf },
    #[error("{path} holds files already; a new repository needs an empty or missing folder")]
    NotEmpty { path: PathBuf },
    #[error(
        "{path}: repository format {found} is newer than this build reads ({supported}); update QCAT Console to read it"
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{path}: {why}; the repository description is damaged (restore it from a copy)")]
    BadDescription { path: PathBuf, why: String },
    #[error(
        "the repository key is encrypted under master key {key_id}, which is not available here; restore that master key (its key file, QCAT_MASTER_KEY or the keychain entry)"
    )]
    MissingKey { key_id: String },
    #[error(
        "the repository key does not open with master key {key_id}: the key is another installation's with the same id, or repository.json was altered"
    )]
    WrongKey { key_id: String },
    #[error(
        "the repository is locked by {holder}; wait for it to finish (a crashed holder's lock ends with its process)"
    )]
    Locked { holder: String },
    #[error("no backup {id} in the repository; `qcatctl backup list` shows them")]
    UnknownBackup { id: String },
    #[error("backup {id}: {why}")]
    BadManifest { id: String, why: String },
    #[error(
        "chunk {chunk} in pack {pack} is damaged ({why}); run `qcatctl backup verify` to see every backup that needs it"
    )]
    Damaged {
        chunk: String,
        pack: String,
        why: String,
    },
    #[error("{0}")]
    Source(String),
    #[error("{0}")]
    Refused(String),
    #[error("{field}: {why}")]
    Invalid { field: String, why: String },
    #[error("cancelled")]
    Cancelled,
}

impl BackupError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| BackupError::Io { path, source }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            BackupError::Io { .. } => ErrorCode::StorageUnavailable,
            BackupError::NotARepository { .. } | BackupError::UnknownBackup { .. } => {
                ErrorCode::NotFound
            }
            BackupError::NotEmpty { .. } | BackupError::Locked { .. } => ErrorCode::Conflict,
            BackupError::NewerFormat { .. } => ErrorCode::StorageSchema,
            BackupError::BadDescription { .. }
            | BackupError::BadManifest { .. }
            | BackupError::Damaged { .. } => ErrorCode::Damaged,
            BackupError::MissingKey { .. } | BackupError::WrongKey { .. } => {
                ErrorCode::SecretsUnavailable
            }
            BackupError::Source(_) => ErrorCode::SourceUnavailable,
            BackupError::Refused(_) => ErrorCode::Conflict,
            BackupError::Invalid { .. } => ErrorCode::InvalidInput,
            BackupError::Cancelled => ErrorCode::Cancelled,
        }
    }
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;
