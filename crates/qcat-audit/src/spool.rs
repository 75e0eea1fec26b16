//! The local spool that makes queued audit events crash-safe.
//!
//! With `async_mode`, a caller does not wait for the store: [`crate::AuditWriter::submit`]
//! appends the event to this process's spool (a JSON-lines file, synced) and returns; the
//! writer stores it with the next batch and then tells the spool, which deletes a segment
//! once every event in it is stored. A process killed in between leaves its segments
//! behind; the next writer to start on the same data dir finds them (their owner's lock is
//! free) and stores every event not already in the log (each carries an id).
//!
//! Layout: `<dir>/<owner>.lock` (held locked for the owner's life) and
//! `<dir>/<owner>-<segment>.jsonl`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::event::AuditEvent;

/// A segment is closed and a new one started beyond this size.
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

struct Current {
    segment: u64,
    file: File,
    bytes: u64,
    /// Events appended but not yet stored, per segment.
    outstanding: BTreeMap<u64, usize>,
    /// Lines written so far (each line's ticket is the count after writing it).
    written: u64,
}

/// This process's spool.
pub struct Spool {
    dir: PathBuf,
    owner: String,
    /// Held (locked) until the process ends; a free lock marks an orphaned spool.
    _lock: File,
    current: Mutex<Current>,
    /// Tickets known synced. Held while syncing, so concurrent appends share one fsync
    /// (group commit): whoever syncs covers every line written before it started.
    synced: Mutex<u64>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A new event id.
pub fn new_event_id() -> String {
    qcat_core::random::hex_id(16)
}

fn segment_path(dir: &Path, owner: &str, segment: u64) -> PathBuf {
    dir.join(format!("{owner}-{segment:08}.jsonl"))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Spool {
    /// Creates `dir` if needed (0700; queued events are audit entries) and a spool owned by
    /// this process.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        if let Some(narrowed) = qcat_core::private_files::create_dir(dir)? {
            tracing::warn!("{narrowed}");
        }
        let owner = qcat_core::random::hex_id(8);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{owner}.lock")))?;
        lock.lock()?;
        let file = Self::create_segment(dir, &owner, 0)?;
        Ok(Self {
            dir: dir.to_owned(),
            owner,
            _lock: lock,
            current: Mutex::new(Current {
                segment: 0,
                file,
                bytes: 0,
                outstanding: BTreeMap::new(),
                written: 0,
            }),
            synced: Mutex::new(0),
        })
    }

    fn create_segment(dir: &Path, owner: &str, segment: u64) -> std::io::Result<File> {
        let mut options = OpenOptions::new();
        options.create_new(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(qcat_core::private_files::FILE_MODE);
        }
        let file = options.open(segment_path(dir, owner, segment))?;
        sync_dir(dir)?;
        Ok(file)
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `event` (which carries its id) and returns, once it is synced, the segment
    /// it is in. Blocking (fsync); concurrent callers share syncs.
    pub fn append(&self, event: &AuditEvent) -> std::io::Result<u64> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let (segment, ticket) = {
            let mut current = self.lock_current();
            if current.bytes >= SEGMENT_BYTES {
                // Everything in the closing segment is synced before the next one starts.
                current.file.sync_data()?;
                let next = current.segment + 1;
                current.file = Self::create_segment(&self.dir, &self.owner, next)?;
                current.segment = next;
                current.bytes = 0;
            }
            current.file.write_all(&line)?;
            current.bytes += line.len() as u64;
            current.written += 1;
            let segment = current.segment;
            *current.outstanding.entry(segment).or_default() += 1;
            (segment, current.written)
        };
        let mut synced = self
            .synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *synced < ticket {
            let (file, written) = {
                let current = self.lock_current();
                (current.file.try_clone()?, current.written)
            };
            file.sync_data()?;
            *synced = written;
        }
        Ok(segment)
    }

    /// Marks `count` events of `segment` stored; deletes a closed segment with nothing
    /// left, and empties the current one when all of it is stored.
    pub fn stored(&self, segment: u64, count: usize) {
        let mut current = self.lock_current();
        let left = current.outstanding.entry(segment).or_default();
        *left = left.saturating_sub(count);
        if *left > 0 {
            return;
        }
        current.outstanding.remove(&segment);
        let result = if segment == current.segment {
            current.bytes = 0;
            current
                .file
                .set_len(0)
                .and_then(|()| current.file.sync_all())
        } else {
            std::fs::remove_file(segment_path(&self.dir, &self.owner, segment))
        };
        if let Err(err) = result {
            tracing::warn!(segment, error = %err, "a stored spool segment could not be cleared");
        }
    }

    /// Spools left by processes that ended without storing everything: each owner's
    /// events in order, with the files to delete once they are stored.
    pub fn orphans(&self) -> std::io::Result<Vec<Orphan>> {
        let mut orphans = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(owner) = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_suffix(".lock"))
                .map(str::to_owned)
            else {
                continue;
            };
            if owner == self.owner {
                continue;
            }
            let lock = OpenOptions::new().write(true).open(&path)?;
            if lock.try_lock().is_err() {
                continue; // its owner is alive
            }
            let prefix = format!("{owner}-");
            let mut segments: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|candidate| {
                    candidate
                        .file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".jsonl"))
                })
                .collect();
            segments.sort();
            let mut events = Vec::new();
            for segment in &segments {
                events.extend(read_segment(segment)?);
            }
            orphans.push(Orphan {
                events,
                files: segments.into_iter().chain([path]).collect(),
                _lock: lock,
            });
        }
        Ok(orphans)
    }
}

impl Drop for Spool {
    /// A spool with nothing outstanding leaves no files behind; otherwise they stay for the
    /// next writer to store.
    fn drop(&mut self) {
        let current = self.lock_current();
        if current.outstanding.values().all(|left| *left == 0) {
            let _ = std::fs::remove_file(segment_path(&self.dir, &self.owner, current.segment));
            let _ = std::fs::remove_file(self.dir.join(format!("{}.lock", self.owner)));
        }
    }
}

/// A dead process's spool.
pub struct Orphan {
    pub events: Vec<AuditEvent>,
    files: Vec<PathBuf>,
    /// Held while the orphan is replayed, so two new writers do not both take it.
    _lock: File,
}

impl Orphan {
    /// Deletes the orphan's files once its events are stored.
    pub fn remove(self) -> std::io::Result<()> {
        for file in &self.files {
            std::fs::remove_file(file)?;
        }
        Ok(())
    }
}

/// The events of one segment. A torn last line (the process died mid-write, before the
/// append returned) is skipped: that event was never reported submitted.
fn read_segment(path: &Path) -> std::io::Result<Vec<AuditEvent>> {
    let reader = std::io::BufReader::new(File::open(path)?);
    let mut events = Vec::new();
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(event) => events.push(event),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "skipping a torn spool line")
            }
        }
    }
    Ok(events)
}
