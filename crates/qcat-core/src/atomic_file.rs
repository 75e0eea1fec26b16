//! Writing a file so that readers (and a crash) see the old content or the new, never a mix:
//! a synced temp file in the same folder, renamed over the target. The one way files are
//! replaced in this project.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes`. Keeps the permissions of an existing file; a new file gets
/// `new_mode` (unix) or the platform default.
pub fn write(path: &Path, bytes: &[u8], new_mode: Option<u32>) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".qcat-write-");
    #[cfg(unix)]
    if let Some(mode) = new_mode {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = new_mode;
    let mut file = builder.tempfile_in(dir)?;
    if let Ok(metadata) = std::fs::metadata(path) {
        file.as_file().set_permissions(metadata.permissions())?;
    }
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    // The rename itself is durable only once the folder is synced.
    #[cfg(unix)]
    if let Ok(folder) = std::fs::File::open(dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_keeps_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        write(&path, b"a = 1\n", Some(0o600)).unwrap();
        write(&path, b"a = 2\n", None).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a = 2\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "a replaced file keeps its mode");
        }
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp file is left behind");
    }
}
