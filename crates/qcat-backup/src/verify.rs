//! Verification: every chunk read from its pack, decrypted (which authenticates it),
//! decompressed and hashed against its name; a damaged chunk is named with every backup
//! that needs it.

use std::collections::{BTreeMap, BTreeSet};

use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use serde::Serialize;

use crate::error::{BackupError, Result};
use crate::repo::Repository;
use crate::repo::manifest::{ChunkRef, Manifest};
use crate::repo::pack::PackFiles;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DamagedChunk {
    pub chunk: String,
    pub pack: String,
    pub why: String,
    /// Every backup that cannot be restored while this chunk is damaged.
    pub backups: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub backups: u64,
    pub chunks: u64,
    pub bytes: u64,
    pub damaged: Vec<DamagedChunk>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
    }

    /// The backups a damaged chunk makes unrestorable.
    pub fn damaged_backups(&self) -> BTreeSet<&str> {
        self.damaged
            .iter()
            .flat_map(|d| d.backups.iter().map(String::as_str))
            .collect()
    }
}

/// Verifies the chunks of `backups` (all when empty), each distinct chunk once.
pub fn verify(
    repo: &Repository,
    only: &[String],
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<VerifyReport> {
    let _lock = repo.lock_shared("a verify")?;
    let all = repo.backups()?;
    let chosen: Vec<&Manifest> = if only.is_empty() {
        all.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for id in only {
            chosen.push(
                all.iter()
                    .find(|m| &m.id == id)
                    .ok_or_else(|| BackupError::UnknownBackup { id: id.clone() })?,
            );
        }
        chosen
    };
    // Each (pack, offset) once, with the backups that name it; in pack order for the disk.
    let mut needed: BTreeMap<(String, u64), (ChunkRef, BTreeSet<String>)> = BTreeMap::new();
    for manifest in &all {
        for chunk in manifest.chunks() {
            let entry = needed
                .entry((chunk.pack.clone(), chunk.offset))
                .or_insert_with(|| (chunk.clone(), BTreeSet::new()));
            entry.1.insert(manifest.id.clone());
        }
    }
    let chosen_ids: BTreeSet<&str> = chosen.iter().map(|m| m.id.as_str()).collect();
    needed.retain(|_, (_, users)| users.iter().any(|id| chosen_ids.contains(id.as_str())));
    progress.set_total(needed.values().map(|(c, _)| u64::from(c.size)).sum());
    let mut report = VerifyReport {
        backups: chosen.len() as u64,
        ..VerifyReport::default()
    };
    let mut packs = PackFiles::default();
    for (chunk, users) in needed.values() {
        if cancel.is_cancelled() {
            return Err(BackupError::Cancelled);
        }
        match repo.read_chunk(&mut packs, chunk) {
            Ok(_) => {}
            Err(BackupError::Damaged { chunk, pack, why }) => report.damaged.push(DamagedChunk {
                chunk,
                pack,
                why,
                backups: users.iter().cloned().collect(),
            }),
            Err(other) => return Err(other),
        }
        report.chunks += 1;
        report.bytes += u64::from(chunk.size);
        progress.advance(u64::from(chunk.size));
    }
    Ok(report)
}
