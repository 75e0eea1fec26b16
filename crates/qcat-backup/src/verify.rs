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
    let (chunks, users): (Vec<ChunkRef>, Vec<&BTreeSet<String>>) = needed
        .values()
        .map(|(chunk, users)| (chunk.clone(), users))
        .unzip();
    let mut next = users.iter();
    crate::restore::open_each_in_order(repo, &chunks, cancel, |chunk, opened| {
        let users = next.next().expect("one user set per chunk");
        match opened {
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
        Ok(())
    })?;
    // Every pack read through without damage counts for coverage (a verify of chosen
    // backups may read only part of a pack, so only a verify of everything counts).
    if !only.is_empty() {
        return Ok(report);
    }
    let mut state = VerifyState::load(repo);
    let damaged: BTreeSet<&str> = report.damaged.iter().map(|d| d.pack.as_str()).collect();
    let now = qcat_core::time::now_ms();
    for (pack, _) in needed.keys() {
        if damaged.contains(pack.as_str()) {
            state.packs.remove(pack);
        } else {
            state.packs.insert(pack.clone(), now);
        }
    }
    state.save(repo)?;
    Ok(report)
}

/// When each pack was last read through and found whole: `verify-state.json` in the
/// repository (pack names and times only, nothing of the content). Written by full and
/// rolling verifications; read for coverage.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifyState {
    /// Pack name → milliseconds since the epoch of its last clean verification.
    pub packs: BTreeMap<String, i64>,
}

const STATE_FILE: &str = "verify-state.json";

impl VerifyState {
    pub fn load(repo: &Repository) -> VerifyState {
        std::fs::read(repo.root().join(STATE_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save(&self, repo: &Repository) -> Result<()> {
        let path = repo.root().join(STATE_FILE);
        let bytes = serde_json::to_vec(self).expect("the state serializes");
        qcat_core::atomic_file::write(&path, &bytes, Some(0o600)).map_err(BackupError::io(&path))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    /// Share (0 to 1) of the repository's stored bytes in packs verified in the window.
    pub share: f64,
    pub window_days: u32,
    pub verified_bytes: u64,
    pub total_bytes: u64,
}

/// How much of the repository was verified in the last `window_days`.
pub fn coverage(repo: &Repository, window_days: u32) -> Result<Coverage> {
    let state = VerifyState::load(repo);
    let since = qcat_core::time::now_ms() - i64::from(window_days) * 86_400_000;
    let mut coverage = Coverage {
        window_days,
        ..Coverage::default()
    };
    for pack in repo.pack_names()? {
        let size = std::fs::metadata(repo.pack_path(&pack))
            .map(|m| m.len())
            .unwrap_or(0);
        coverage.total_bytes += size;
        if state.packs.get(&pack).is_some_and(|at| *at >= since) {
            coverage.verified_bytes += size;
        }
    }
    coverage.share = if coverage.total_bytes == 0 {
        1.0
    } else {
        coverage.verified_bytes as f64 / coverage.total_bytes as f64
    };
    Ok(coverage)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingReport {
    pub report: VerifyReport,
    pub packs_verified: u64,
    pub coverage: Coverage,
}

/// Verifies whole packs, least recently verified first, until `budget` is spent (a pack
/// started is finished; a budget above zero verifies at least one). Damage is reported like [`verify`]; clean packs are recorded.
pub fn rolling(
    repo: &Repository,
    budget: std::time::Duration,
    window_days: u32,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<RollingReport> {
    let started = std::time::Instant::now();
    let lock = repo.lock_shared("a rolling verify")?;
    let all = repo.backups()?;
    let mut by_pack: BTreeMap<String, Vec<(ChunkRef, BTreeSet<String>)>> = BTreeMap::new();
    let mut users: BTreeMap<(String, u64), BTreeSet<String>> = BTreeMap::new();
    for manifest in &all {
        for chunk in manifest.chunks() {
            users
                .entry((chunk.pack.clone(), chunk.offset))
                .or_default()
                .insert(manifest.id.clone());
        }
    }
    for manifest in &all {
        for chunk in manifest.chunks() {
            let key = (chunk.pack.clone(), chunk.offset);
            let Some(needing) = users.remove(&key) else {
                continue;
            };
            by_pack
                .entry(chunk.pack.clone())
                .or_default()
                .push((chunk.clone(), needing));
        }
    }
    let mut state = VerifyState::load(repo);
    let mut order: Vec<(i64, String)> = by_pack
        .keys()
        .map(|pack| (state.packs.get(pack).copied().unwrap_or(0), pack.clone()))
        .collect();
    order.sort();
    let mut report = RollingReport {
        report: VerifyReport {
            backups: all.len() as u64,
            ..VerifyReport::default()
        },
        ..RollingReport::default()
    };
    for (_, pack) in order {
        // A budget that is not zero always verifies at least one pack, so a short budget
        // still makes progress; a pack started is finished.
        let spent = report.packs_verified > 0 && started.elapsed() >= budget;
        if budget.is_zero() || spent || cancel.is_cancelled() {
            break;
        }
        let mut clean = true;
        let (chunks, needing): (Vec<ChunkRef>, Vec<&BTreeSet<String>>) = by_pack[&pack]
            .iter()
            .map(|(chunk, needing)| (chunk.clone(), needing))
            .unzip();
        let mut next = needing.iter();
        crate::restore::open_each_in_order(repo, &chunks, cancel, |chunk, opened| {
            let needing = next.next().expect("one user set per chunk");
            match opened {
                Ok(_) => {}
                Err(BackupError::Damaged { chunk, pack, why }) => {
                    clean = false;
                    report.report.damaged.push(DamagedChunk {
                        chunk,
                        pack,
                        why,
                        backups: needing.iter().cloned().collect(),
                    });
                }
                Err(other) => return Err(other),
            }
            report.report.chunks += 1;
            report.report.bytes += u64::from(chunk.size);
            progress.advance(u64::from(chunk.size));
            Ok(())
        })?;
        report.packs_verified += 1;
        if clean {
            state.packs.insert(pack, qcat_core::time::now_ms());
        } else {
            state.packs.remove(&pack);
        }
    }
    // Forget packs that no longer exist (expired and collected).
    let present = repo.pack_names()?;
    state.packs.retain(|pack, _| present.contains(pack));
    state.save(repo)?;
    drop(lock);
    report.coverage = coverage(repo, window_days)?;
    Ok(report)
}
