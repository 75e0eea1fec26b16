//! Files only the console's OS user may read: the store (argon2 hashes, the audit trail),
//! the audit spool, exports and logs. Folders are 0700 and files 0600; what is found wider
//! at start is narrowed, and the caller says so in the log (which path, from what mode).

use std::path::Path;

/// Mode of the console's folders.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the console's files.
pub const FILE_MODE: u32 = 0o600;

/// A path whose permissions were narrowed, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrowed {
    pub path: std::path::PathBuf,
    pub was: u32,
    pub now: u32,
}

impl std::fmt::Display for Narrowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} was readable by other local users (mode {:o}); narrowed to {:o}",
            self.path.display(),
            self.was,
            self.now
        )
    }
}

/// Narrows `path` (if it exists) so group and others have no access; `Ok(None)` when it
/// already was private or does not exist.
pub fn narrow(path: &Path, mode: u32) -> std::io::Result<Option<Narrowed>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        if meta.file_type().is_symlink() {
            return Ok(None);
        }
        let was = meta.permissions().mode() & 0o7777;
        if was & 0o077 == 0 {
            return Ok(None);
        }
        let now = was & !0o077 & 0o7777 | (mode & 0o700);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(now))?;
        Ok(Some(Narrowed {
            path: path.to_owned(),
            was,
            now,
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(None)
    }
}

/// Creates the folder `path` (and parents) private to the owner, or narrows it.
pub fn create_dir(path: &Path) -> std::io::Result<Option<Narrowed>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if !path.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(path)?;
            return Ok(None);
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(path)?;
    narrow(path, DIR_MODE)
}

/// Opens `path` for appending, creating it 0600 (a file that exists is narrowed).
pub fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    let file = options.open(path)?;
    narrow(path, FILE_MODE)?;
    Ok(file)
}

/// Creates an empty 0600 file at `path` unless one exists (the store file before SQLite
/// opens it: SQLite gives its `-wal` and `-shm` files the database file's mode).
pub fn create_if_missing(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn wide_paths_are_narrowed_and_reported_private_ones_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("store");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let narrowed = narrow(&file, FILE_MODE).unwrap().expect("0644 is too wide");
        assert_eq!((narrowed.was, narrowed.now), (0o644, 0o600));
        assert_eq!(mode(&file), 0o600);
        assert_eq!(narrow(&file, FILE_MODE).unwrap(), None, "already private");
        let sub = dir.path().join("a/b");
        create_dir(&sub).unwrap();
        assert_eq!(mode(&sub), 0o700);
        let log = sub.join("spool.jsonl");
        drop(open_append(&log).unwrap());
        assert_eq!(mode(&log), 0o600);
    }
}
