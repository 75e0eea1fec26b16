//! Folders (the console's configuration folder and any configured): a tar stream (POSIX
//! ustar/GNU long names) with each file's mode and mtime, one top-level folder per source
//! folder named after its index and last component (`0-qcat-console/…`). Restores into an
//! empty folder, modes and mtimes kept. `tar -xf` reads the stream as it is.

use std::path::{Path, PathBuf};

use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use serde::Serialize;

use crate::backup::BackupWriter;
use crate::error::{BackupError, Result};
use crate::repo::Repository;
use crate::repo::manifest::{Manifest, SourceRecord, TableCount};

pub const FILES_STREAM: &str = "files";
pub const TAR_FORMAT: &str = "tar";

/// The name a folder has inside the stream.
fn entry_root(index: usize, folder: &Path) -> String {
    let last = folder
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into());
    format!("{index}-{last}")
}

/// Backs up `folders` (skipping `exclude`, e.g. the repository itself) into `writer`.
pub fn backup(
    writer: &mut BackupWriter<'_>,
    name: &str,
    environment: &str,
    folders: &[PathBuf],
    exclude: &[PathBuf],
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<SourceRecord> {
    for folder in folders {
        if !folder.is_dir() {
            return Err(BackupError::Invalid {
                field: "backup.folders".into(),
                why: format!(
                    "{} is not a folder; fix the path or remove it",
                    folder.display()
                ),
            });
        }
    }
    progress.phase(format!("{name}: files"));
    let (reader, pipe) = std::io::pipe().map_err(BackupError::io("pipe"))?;
    let (stream, counts) = std::thread::scope(|scope| {
        let producer = scope.spawn(move || -> Result<Vec<TableCount>> {
            let mut tar = tar::Builder::new(pipe);
            tar.mode(tar::HeaderMode::Complete);
            tar.follow_symlinks(false);
            let mut counts = Vec::new();
            for (index, folder) in folders.iter().enumerate() {
                let root = entry_root(index, folder);
                let mut files = 0_u64;
                for entry in walk(folder, exclude)? {
                    if cancel.is_cancelled() {
                        return Err(BackupError::Cancelled);
                    }
                    let relative = entry.strip_prefix(folder).expect("walked under the folder");
                    let inside = Path::new(&root).join(relative);
                    tar.append_path_with_name(&entry, &inside)
                        .map_err(BackupError::io(&entry))?;
                    if std::fs::symlink_metadata(&entry).is_ok_and(|meta| meta.is_file()) {
                        files += 1;
                    }
                }
                counts.push(TableCount {
                    schema: root,
                    name: folder.display().to_string(),
                    rows: files,
                });
            }
            tar.finish().map_err(BackupError::io("tar"))?;
            Ok(counts)
        });
        let stream = writer.add_stream(FILES_STREAM, TAR_FORMAT, reader, progress, cancel);
        (
            stream,
            producer.join().expect("the tar writer does not panic"),
        )
    });
    let counts = counts?;
    let stream = stream?;
    Ok(SourceRecord {
        name: name.to_owned(),
        kind: "files".into(),
        environment: environment.to_owned(),
        location: folders
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        database: String::new(),
        server_version: String::new(),
        tool_version: String::new(),
        consistency: "file by file: a file changed while it is read is taken as read".into(),
        items: counts.iter().map(|c| c.rows).sum(),
        streams: vec![stream],
        tables: counts,
    })
}

/// Every path under `folder` (folders before what they hold, sorted), skipping `exclude`.
fn walk(folder: &Path, exclude: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![folder.to_owned()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(BackupError::io(&dir))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| !exclude.iter().any(|skip| path.starts_with(skip)))
            .collect();
        entries.sort();
        for path in entries.into_iter().rev() {
            let meta = std::fs::symlink_metadata(&path).map_err(BackupError::io(&path))?;
            if meta.is_dir() {
                stack.push(path.clone());
            }
            if meta.is_dir() || meta.is_file() || meta.file_type().is_symlink() {
                out.push(path);
            }
        }
    }
    // Parents before children, so a restore creates folders before their files.
    out.sort();
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilesRestoreReport {
    pub folder: String,
    pub files: u64,
    pub expected: u64,
    pub passed: bool,
}

/// Restores a files source of `manifest` into `into` (missing or empty), modes and mtimes
/// kept. Every chunk is checked first. Blocking.
pub fn restore(
    repo: &Repository,
    manifest: &Manifest,
    source: &str,
    into: &Path,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<FilesRestoreReport> {
    let (record, stream) = manifest.restorable(source, TAR_FORMAT, "a files backup")?;
    if into.exists()
        && std::fs::read_dir(into)
            .map_err(BackupError::io(into))?
            .next()
            .is_some()
    {
        return Err(BackupError::Refused(format!(
            "{} is not empty; restore files into a new or empty folder",
            into.display()
        )));
    }
    progress.set_total(stream.size * 2);
    crate::restore::check_stream(repo, stream, progress, cancel)?;
    std::fs::create_dir_all(into).map_err(BackupError::io(into))?;
    let (reader, mut pipe) = std::io::pipe().map_err(BackupError::io("pipe"))?;
    let (written, extracted) = std::thread::scope(|scope| {
        let extractor = scope.spawn(move || -> Result<u64> {
            let mut archive = tar::Archive::new(reader);
            archive.set_preserve_permissions(true);
            archive.set_preserve_mtime(true);
            archive.set_overwrite(false);
            let mut files = 0;
            for entry in archive.entries().map_err(BackupError::io("tar"))? {
                let mut entry = entry.map_err(BackupError::io("tar"))?;
                if entry.header().entry_type().is_file() {
                    files += 1;
                }
                // `unpack_in` refuses paths that would leave `into` (`..`, absolute).
                entry.unpack_in(into).map_err(BackupError::io(into))?;
            }
            Ok(files)
        });
        let written = crate::restore::write_stream(repo, stream, &mut pipe, progress, cancel);
        drop(pipe);
        (
            written,
            extractor.join().expect("the tar reader does not panic"),
        )
    });
    // Damage or a cancel explains a cut-off archive better than the tar reader's error.
    let files = match (written, extracted) {
        (Err(err @ (BackupError::Damaged { .. } | BackupError::Cancelled)), _) => return Err(err),
        (_, Err(err)) | (Err(err), _) => return Err(err),
        (Ok(()), Ok(files)) => files,
    };
    Ok(FilesRestoreReport {
        folder: into.display().to_string(),
        files,
        expected: record.items,
        passed: files == record.items,
    })
}
