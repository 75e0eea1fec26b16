//! Writing a backup: streams cut into content-defined chunks, each new chunk compressed and
//! sealed on every core, appended to this backup's packs; the manifest published last.

use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use sha2::{Digest, Sha256};

use crate::error::{BackupError, Result};
use crate::repo::crypto::ChunkId;
use crate::repo::manifest::{BackupStats, BackupType, ChunkRef, Manifest, SourceRecord, Stream};
use crate::repo::pack::{PACK_TARGET, PackWriter};
use crate::repo::{FORMAT, RepoLock, Repository};

/// zstd level 3: several times faster than pg_dump's zlib at a similar ratio.
const ZSTD_LEVEL: i32 = 3;

/// What a backup builds on, found from the published backups.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The type actually taken: a diff or incr with no full to build on becomes a full
    /// (as pgBackRest does), and says so.
    pub kind: BackupType,
    pub promoted: bool,
    pub parent: Option<String>,
    pub full: Option<String>,
    /// The backups whose chunks this one may reuse.
    pub members: Vec<String>,
}

impl Chain {
    pub fn plan(backups: &[Manifest], wanted: BackupType) -> Chain {
        let by_id: HashMap<&str, &Manifest> = backups.iter().map(|m| (m.id.as_str(), m)).collect();
        let newest_full = backups.iter().rev().find(|m| m.kind == BackupType::Full);
        let parent = match wanted {
            BackupType::Full => None,
            BackupType::Diff => newest_full,
            BackupType::Incr => newest_full.and(backups.last()),
        };
        let Some(parent) = parent else {
            return Chain {
                kind: BackupType::Full,
                promoted: wanted != BackupType::Full,
                parent: None,
                full: None,
                members: Vec::new(),
            };
        };
        let mut members = vec![parent.id.clone()];
        if wanted == BackupType::Incr {
            let mut at = parent;
            while let Some(up) = at.parent.as_deref().and_then(|id| by_id.get(id)) {
                members.push(up.id.clone());
                at = up;
            }
        }
        Chain {
            kind: wanted,
            promoted: false,
            parent: Some(parent.id.clone()),
            full: Some(parent.full.clone()),
            members,
        }
    }
}

pub struct BackupWriter<'r> {
    repo: &'r Repository,
    lock: RepoLock,
    id: String,
    label: String,
    chain: Chain,
    started_ms: i64,
    reusable: HashMap<ChunkId, ChunkRef>,
    stored: HashMap<ChunkId, ChunkRef>,
    pack: Option<PackWriter>,
    sources: Vec<SourceRecord>,
    stats: BackupStats,
}

impl<'r> BackupWriter<'r> {
    /// Takes the repository's exclusive lock and plans the chain.
    pub fn start(repo: &'r Repository, wanted: BackupType, label: &str) -> Result<Self> {
        let lock = repo.lock_exclusive("a backup")?;
        let backups = repo.backups()?;
        let chain = Chain::plan(&backups, wanted);
        let mut reusable = HashMap::new();
        for manifest in backups.iter().filter(|m| chain.members.contains(&m.id)) {
            for chunk in manifest.chunks() {
                reusable.entry(chunk.id).or_insert_with(|| chunk.clone());
            }
        }
        let started_ms = qcat_core::time::now_ms();
        Ok(Self {
            repo,
            lock,
            // Sortable by time, unique by the random tail.
            id: format!(
                "{}-{}",
                format_id_time(started_ms),
                qcat_core::random::hex_id(3)
            ),
            label: label.to_owned(),
            chain,
            started_ms,
            reusable,
            stored: HashMap::new(),
            pack: None,
            sources: Vec::new(),
            stats: BackupStats::default(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Cuts `reader` into chunks and stores the new ones. Reports bytes read to `progress`;
    /// stops with `Cancelled` when `cancel` fires.
    pub fn add_stream(
        &mut self,
        name: &str,
        format: &str,
        reader: impl Read + Send,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<Stream> {
        let params = self.repo.chunker();
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let keys = self.repo.keys().clone();
        let (work_tx, work_rx) = mpsc::sync_channel::<(ChunkId, Vec<u8>)>(workers * 2);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (sealed_tx, sealed_rx) = mpsc::sync_channel::<(ChunkId, u32, Vec<u8>)>(workers * 2);
        let repo = self.repo;
        let mut pack = self.pack.take();
        let mut order: Vec<ChunkId> = Vec::new();
        let mut hasher = Sha256::new();
        let mut size = 0_u64;

        let outcome: Result<HashMap<ChunkId, ChunkRef>> = std::thread::scope(|scope| {
            for _ in 0..workers {
                let work_rx = Arc::clone(&work_rx);
                let sealed_tx = sealed_tx.clone();
                let keys = keys.clone();
                scope.spawn(move || {
                    loop {
                        let next = work_rx.lock().expect("no worker panics holding it").recv();
                        let Ok((id, data)) = next else { break };
                        let packed = zstd::bulk::compress(&data, ZSTD_LEVEL)
                            .expect("zstd compresses an in-memory buffer");
                        let blob = keys.seal(&id.0, &packed);
                        if sealed_tx.send((id, data.len() as u32, blob)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(sealed_tx);
            let writer = scope.spawn(
                move || -> Result<(HashMap<ChunkId, ChunkRef>, Option<PackWriter>)> {
                    let mut placed = HashMap::new();
                    for (id, size, blob) in sealed_rx {
                        if pack.as_ref().is_some_and(|p| p.len() >= PACK_TARGET) {
                            pack.take().expect("checked").finish(repo)?;
                        }
                        if pack.is_none() {
                            pack = Some(PackWriter::create(repo)?);
                        }
                        let current = pack.as_mut().expect("created above");
                        let offset = current.append(&blob)?;
                        placed.insert(
                            id,
                            ChunkRef {
                                id,
                                pack: current.name().to_owned(),
                                offset,
                                length: blob.len() as u32,
                                size,
                            },
                        );
                    }
                    Ok((placed, pack))
                },
            );

            let mut queued: std::collections::HashSet<ChunkId> = Default::default();
            let chunker = fastcdc::v2020::StreamCDC::new(
                reader,
                params.min_size,
                params.avg_size,
                params.max_size,
            );
            let mut failure = None;
            for chunk in chunker {
                if cancel.is_cancelled() {
                    failure = Some(BackupError::Cancelled);
                    break;
                }
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(err) => {
                        failure = Some(BackupError::Source(format!("reading {name}: {err}")));
                        break;
                    }
                };
                hasher.update(&chunk.data);
                size += chunk.data.len() as u64;
                progress.advance(chunk.data.len() as u64);
                let id = keys.chunk_id(&chunk.data);
                order.push(id);
                if self.reusable.contains_key(&id)
                    || self.stored.contains_key(&id)
                    || !queued.insert(id)
                {
                    continue;
                }
                if work_tx.send((id, chunk.data)).is_err() {
                    break;
                }
            }
            drop(work_tx);
            let (placed, pack_back) = match writer.join().expect("the pack writer does not panic") {
                Ok(done) => done,
                Err(err) => return Err(failure.unwrap_or(err)),
            };
            self.pack = pack_back;
            match failure {
                Some(err) => Err(err),
                None => Ok(placed),
            }
        });
        let placed = outcome?;
        for (id, chunk) in placed {
            self.stats.stored_bytes += u64::from(chunk.length);
            self.stats.new_chunks += 1;
            self.stored.insert(id, chunk);
        }
        let mut chunks = Vec::with_capacity(order.len());
        for id in order {
            let chunk = self
                .stored
                .get(&id)
                .or_else(|| self.reusable.get(&id))
                .expect("every chunk was stored or is reusable")
                .clone();
            chunks.push(chunk);
        }
        self.stats.chunks += chunks.len() as u64;
        self.stats.logical_bytes += size;
        Ok(Stream {
            name: name.to_owned(),
            format: format.to_owned(),
            size,
            sha256: hex::encode(hasher.finalize()),
            chunks,
        })
    }

    pub fn add_source(&mut self, source: SourceRecord) {
        self.sources.push(source);
    }

    /// Syncs the last pack and publishes the manifest: the backup now exists.
    pub fn commit(mut self) -> Result<Manifest> {
        if let Some(pack) = self.pack.take() {
            if pack.is_empty() {
                pack.abandon();
            } else {
                pack.finish(self.repo)?;
            }
        }
        let distinct: std::collections::HashSet<ChunkId> = self
            .sources
            .iter()
            .flat_map(|s| s.streams.iter())
            .flat_map(|s| s.chunks.iter().map(|c| c.id))
            .collect();
        self.stats.reused_chunks = distinct
            .iter()
            .filter(|id| !self.stored.contains_key(id))
            .count() as u64;
        let manifest = Manifest {
            format: FORMAT,
            id: self.id.clone(),
            label: self.label.clone(),
            kind: self.chain.kind,
            parent: self.chain.parent.clone(),
            full: self.chain.full.clone().unwrap_or_else(|| self.id.clone()),
            started_ms: self.started_ms,
            finished_ms: qcat_core::time::now_ms(),
            host: hostname(),
            console_version: env!("CARGO_PKG_VERSION").to_owned(),
            sources: std::mem::take(&mut self.sources),
            stats: self.stats.clone(),
        };
        self.repo.publish(&manifest, &self.lock)?;
        Ok(manifest)
    }

    /// Gives up: the unfinished pack goes; finished ones wait for garbage collection.
    pub fn abandon(mut self) {
        if let Some(pack) = self.pack.take() {
            pack.abandon();
        }
    }
}

fn format_id_time(ms: i64) -> String {
    // YYYYMMDDTHHMMSSZ in UTC: readable in listings and sortable as text.
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_utc_times() {
        assert_eq!(format_id_time(0), "19700101T000000Z");
        // 2026-12-02 05:40:31 UTC.
        assert_eq!(format_id_time(1_796_190_031_000), "20261202T054031Z");
    }
}
