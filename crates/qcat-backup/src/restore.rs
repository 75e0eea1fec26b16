//! Reading a backup back: a stream reassembled chunk by chunk, each one authenticated and
//! hashed, the whole checked against the manifest's length.

use std::io::Write;

use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;

use crate::error::{BackupError, Result};
use crate::repo::Repository;
use crate::repo::manifest::{ChunkRef, Stream};
use crate::repo::pack::PackFiles;

/// Writes `stream` to `out`. Fails on the first damaged chunk, before writing it.
pub fn write_stream(
    repo: &Repository,
    stream: &Stream,
    out: &mut impl Write,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<()> {
    let mut written = 0_u64;
    open_in_order(repo, &stream.chunks, cancel, |_, plain| {
        written += plain.len() as u64;
        out.write_all(&plain)
            .map_err(|err| BackupError::Source(format!("writing {}: {err}", stream.name)))?;
        progress.advance(plain.len() as u64);
        Ok(())
    })?;
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

/// Opens `chunks` on every core and hands each to `sink` in their order; stops at the first
/// damaged chunk (or error from `sink`, or cancel).
pub fn open_in_order(
    repo: &Repository,
    chunks: &[ChunkRef],
    cancel: &CancellationToken,
    mut sink: impl FnMut(&ChunkRef, Vec<u8>) -> Result<()>,
) -> Result<()> {
    open_each_in_order(repo, chunks, cancel, |chunk, opened| sink(chunk, opened?))
}

/// Opens `chunks` (read, authenticate, decompress, hash) on every core and hands each
/// outcome to `sink` in their order; `sink` decides whether damage stops it. Chunk `k` is
/// opened by worker `k % n` and taken from that worker's short queue, so the order needs no
/// reassembly buffer and memory stays bounded.
pub fn open_each_in_order(
    repo: &Repository,
    chunks: &[ChunkRef],
    cancel: &CancellationToken,
    mut sink: impl FnMut(&ChunkRef, Result<Vec<u8>>) -> Result<()>,
) -> Result<()> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8)
        .min(chunks.len().max(1));
    std::thread::scope(|scope| {
        let queues: Vec<_> = (0..workers)
            .map(|first| {
                let (send, receive) = std::sync::mpsc::sync_channel::<Result<Vec<u8>>>(4);
                scope.spawn(move || {
                    let mut packs = PackFiles::default();
                    for chunk in chunks.iter().skip(first).step_by(workers) {
                        // A closed queue means the reader stopped: so does this worker.
                        if send.send(repo.read_chunk(&mut packs, chunk)).is_err() {
                            return;
                        }
                    }
                });
                receive
            })
            .collect();
        for (index, chunk) in chunks.iter().enumerate() {
            if cancel.is_cancelled() {
                return Err(BackupError::Cancelled);
            }
            let opened = queues[index % workers]
                .recv()
                .map_err(|_| BackupError::Source("a chunk reader stopped".into()))?;
            sink(chunk, opened)?;
        }
        Ok(())
    })
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
