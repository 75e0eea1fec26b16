//! Writing a backup: streams cut into content-defined chunks, each new chunk compressed and
//! sealed on every core, appended to this backup's packs; the manifest published last.

use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;

use crate::error::{BackupError, Result};
use crate::repo::crypto::ChunkId;
use crate::repo::manifest::{BackupStats, BackupType, ChunkRef, Manifest, SourceRecord, Stream};
use crate::repo::pack::{PACK_TARGET, PackWriter};
use crate::repo::{FORMAT, RepoLock, Repository};

/// zstd level 3 unless told otherwise (`backup.compression_level`): several times faster
/// than pg_dump's zlib at a similar ratio.
pub const DEFAULT_LEVEL: i32 = 3;

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

/// A stream's chunks in cut order (id, plain length).
type Order = Vec<(ChunkId, u32)>;
/// Where each chunk this stream stored went.
type Placed = HashMap<ChunkId, ChunkRef>;

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
    level: i32,
}

impl<'r> BackupWriter<'r> {
    /// The zstd level new chunks are compressed at (1 to 19).
    pub fn compression(mut self, level: i32) -> Self {
        self.level = level.clamp(1, 19);
        self
    }

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
            level: DEFAULT_LEVEL,
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
    ///
    /// This thread only cuts (FastCDC); every core names each chunk (HMAC-SHA256), and
    /// compresses and seals the ones no earlier chunk of the chain or of this backup has;
    /// one thread appends them to the pack. The stream is the chunks in their cut order.
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
        let (work_tx, work_rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(workers * 4);
        let work_rx = Arc::new(Mutex::new(work_rx));
        // (position, id, plain length, sealed blob when the chunk is new)
        let (named_tx, named_rx) =
            mpsc::sync_channel::<(usize, ChunkId, u32, Option<Vec<u8>>)>(workers * 4);
        let repo = self.repo;
        let reusable = &self.reusable;
        let already: &HashMap<ChunkId, ChunkRef> = &self.stored;
        let claimed = Mutex::new(std::collections::HashSet::<ChunkId>::new());
        let level = self.level;
        let mut pack = self.pack.take();
        let mut size = 0_u64;

        let outcome: Result<(Order, Placed)> = std::thread::scope(|scope| {
            for _ in 0..workers {
                let work_rx = Arc::clone(&work_rx);
                let named_tx = named_tx.clone();
                let keys = keys.clone();
                let claimed = &claimed;
                scope.spawn(move || {
                    loop {
                        let next = work_rx.lock().expect("no worker panics holding it").recv();
                        let Ok((position, data)) = next else { break };
                        let id = keys.chunk_id(&data);
                        let new = !reusable.contains_key(&id)
                            && !already.contains_key(&id)
                            && claimed
                                .lock()
                                .expect("no worker panics holding it")
                                .insert(id);
                        let blob = new.then(|| {
                            let packed = zstd::bulk::compress(&data, level)
                                .expect("zstd compresses an in-memory buffer");
                            keys.seal(&id.0, &packed)
                        });
                        if named_tx
                            .send((position, id, data.len() as u32, blob))
                            .is_err()
                        {
                            break;
                        }
                    }
                });
            }
            drop(named_tx);
            let writer = scope.spawn(move || -> Result<(Order, Placed, Option<PackWriter>)> {
                let mut placed = HashMap::new();
                let mut order: Vec<Option<(ChunkId, u32)>> = Vec::new();
                for (position, id, size, blob) in named_rx {
                    if order.len() <= position {
                        order.resize(position + 1, None);
                    }
                    order[position] = Some((id, size));
                    let Some(blob) = blob else { continue };
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
                let order = order
                    .into_iter()
                    .map(|one| one.expect("every position was named"))
                    .collect();
                Ok((order, placed, pack))
            });

            let chunker = fastcdc::v2020::StreamCDC::new(
                reader,
                params.min_size,
                params.avg_size,
                params.max_size,
            );
            let mut failure = None;
            for (position, chunk) in chunker.enumerate() {
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
                size += chunk.data.len() as u64;
                progress.advance(chunk.data.len() as u64);
                if work_tx.send((position, chunk.data)).is_err() {
                    break;
                }
            }
            drop(work_tx);
            let (order, placed, pack_back) =
                match writer.join().expect("the pack writer does not panic") {
                    Ok(done) => done,
                    Err(err) => return Err(failure.unwrap_or(err)),
                };
            self.pack = pack_back;
            match failure {
                Some(err) => Err(err),
                None => Ok((order, placed)),
            }
        });
        let (order, placed) = outcome?;
        for (id, chunk) in placed {
            self.stats.stored_bytes += u64::from(chunk.length);
            self.stats.new_chunks += 1;
            self.stored.insert(id, chunk);
        }
        let mut chunks = Vec::with_capacity(order.len());
        for (id, _) in order {
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
