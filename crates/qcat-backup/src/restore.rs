//! Reading a backup back: a stream reassembled chunk by chunk, each one authenticated and
//! hashed, the whole checked against the manifest's length.

use std::io::Write;

use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;

use crate::error::{BackupError, Result};
use crate::repo::Repository;
use crate::repo::manifest::Stream;
use crate::repo::pack::PackFiles;

/// Writes `stream` to `out`. Fails on the first damaged chunk, before writing it.
pub fn write_stream(
    repo: &Repository,
    stream: &Stream,
    out: &mut impl Write,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<()> {
    let mut packs = PackFiles::default();
    let mut written = 0_u64;
    for chunk in &stream.chunks {
        if cancel.is_cancelled() {
            return Err(BackupError::Cancelled);
        }
        let plain = repo.read_chunk(&mut packs, chunk)?;
        written += plain.len() as u64;
        out.write_all(&plain)
            .map_err(|err| BackupError::Source(format!("writing {}: {err}", stream.name)))?;
        progress.advance(plain.len() as u64);
    }
    if written != stream.size {
        return Err(BackupError::Damaged {
            chunk: "(all)".into(),
            pack: "(several)".into(),
            why: format!(
                "the reassembled {} has {written} bytes, the manifest says {}",
                stream.name, stream.size
            ),
        });
    }
    Ok(())
}

/// Checks every chunk of `stream` without writing anything: a restore's first step, so a
/// damaged backup is refused before the target is touched.
pub fn check_stream(
    repo: &Repository,
    stream: &Stream,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<()> {
    write_stream(repo, stream, &mut std::io::sink(), progress, cancel)
}
