//! Retention: which fulls to keep (the newest N, and/or those younger than an age), their
//! dependents going with them, then the packs nothing names collected.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use crate::error::{BackupError, Result};
use crate::repo::manifest::{BackupType, Manifest};
use crate::repo::{GarbageReport, Repository};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep the newest this many fulls.
    pub keep_full: Option<u32>,
    /// Keep fulls younger than this.
    pub max_age: Option<Duration>,
}

impl Retention {
    pub fn is_set(&self) -> bool {
        self.keep_full.is_some() || self.max_age.is_some()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpireReport {
    pub dry_run: bool,
    /// Backups removed (or that would be), oldest first, each full followed by its dependents.
    pub expired: Vec<String>,
    pub kept: Vec<String>,
    pub garbage: GarbageReport,
}

/// The backups `retention` expires. A full is kept when either rule keeps it; the newest
/// full is always kept, so retention never leaves a repository without a restorable full.
pub fn plan(backups: &[Manifest], retention: Retention, now_ms: i64) -> Vec<String> {
    if !retention.is_set() {
        return Vec::new();
    }
    let fulls: Vec<&Manifest> = backups
        .iter()
        .rev()
        .filter(|m| m.kind == BackupType::Full)
        .collect();
    let mut expired_fulls = BTreeSet::new();
    for (newer, full) in fulls.iter().enumerate() {
        if newer == 0 {
            continue;
        }
        let by_count = retention.keep_full.is_some_and(|n| (newer as u32) < n);
        let by_age = retention
            .max_age
            .is_some_and(|age| now_ms - full.finished_ms <= age.as_millis() as i64);
        if !by_count && !by_age {
            expired_fulls.insert(full.id.as_str());
        }
    }
    backups
        .iter()
        .filter(|m| expired_fulls.contains(m.full.as_str()))
        .map(|m| m.id.clone())
        .collect()
}

/// Applies `retention` (under the exclusive lock), then collects garbage. With `dry_run`
/// nothing changes and the report says what would go.
pub fn expire(repo: &Repository, retention: Retention, dry_run: bool) -> Result<ExpireReport> {
    let lock = repo.lock_exclusive("expire")?;
    let backups = repo.backups()?;
    let expired = plan(&backups, retention, qcat_core::time::now_ms());
    let kept = backups
        .iter()
        .filter(|m| !expired.contains(&m.id))
        .map(|m| m.id.clone())
        .collect();
    if dry_run {
        return Ok(ExpireReport {
            dry_run,
            expired,
            kept,
            garbage: GarbageReport::default(),
        });
    }
    // Dependents first: a crash in between leaves a full with fewer dependents, never a
    // dependent without its full.
    for id in expired.iter().rev() {
        repo.unpublish(id, &lock)?;
    }
    let garbage = repo.collect_garbage(&lock)?;
    Ok(ExpireReport {
        dry_run,
        expired,
        kept,
        garbage,
    })
}

/// Removes one backup and whatever depends on it.
pub fn forget(repo: &Repository, id: &str) -> Result<ExpireReport> {
    let lock = repo.lock_exclusive("forget")?;
    let backups = repo.backups()?;
    if !backups.iter().any(|m| m.id == id) {
        return Err(BackupError::UnknownBackup { id: id.into() });
    }
    let mut doomed: BTreeSet<String> = BTreeSet::from([id.to_owned()]);
    // Children in chain order: anything whose parent is doomed is doomed.
    for manifest in &backups {
        if manifest.parent.as_ref().is_some_and(|p| doomed.contains(p)) {
            doomed.insert(manifest.id.clone());
        }
    }
    let expired: Vec<String> = backups
        .iter()
        .filter(|m| doomed.contains(&m.id))
        .map(|m| m.id.clone())
        .collect();
    for id in expired.iter().rev() {
        repo.unpublish(id, &lock)?;
    }
    let garbage = repo.collect_garbage(&lock)?;
    Ok(ExpireReport {
        dry_run: false,
        kept: backups
            .iter()
            .filter(|m| !doomed.contains(&m.id))
            .map(|m| m.id.clone())
            .collect(),
        expired,
        garbage,
    })
}
