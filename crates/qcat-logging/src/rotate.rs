//! A log file that rotates by size and by day, gzips and prunes what it rotated.
//!
//! The current file is `<dir>/qcat.log`. Rotation renames it to
//! `qcat-<UTC timestamp>.log`, opens a fresh one, and hands the rotated file to a background
//! thread that gzips it (`.log.gz`) and then deletes rotated files beyond `max_backups` or
//! older than `max_age` days. Writing never waits for compression.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The name of the file being written.
pub const CURRENT_FILE: &str = "qcat.log";
const ROTATED_PREFIX: &str = "qcat-";

/// The seed's `max_size` (bytes here), `max_backups`, `max_age`, `compress`.
#[derive(Debug, Clone)]
pub struct RotationPolicy {
    pub max_bytes: u64,
    pub max_backups: usize,
    pub max_age: Duration,
    pub compress: bool,
    /// Also rotate when the (UTC) day changes.
    pub daily: bool,
}

/// A cloneable handle to the rotating log file; every clone writes to the same file.
#[derive(Clone)]
pub struct RotatingFile {
    state: Arc<Mutex<State>>,
    maintenance: Sender<Job>,
}

struct State {
    dir: PathBuf,
    file: File,
    size: u64,
    day: jiff::civil::Date,
    policy: RotationPolicy,
}

enum Job {
    Rotated(PathBuf),
    Barrier(Sender<()>),
}

impl RotatingFile {
    /// Opens (appending to) `<dir>/qcat.log`, creating the folder.
    pub fn open(dir: &Path, policy: RotationPolicy) -> std::io::Result<Self> {
        // Logs name users and sources: owner only, like the rest of the data dir.
        qcat_core::private_files::create_dir(dir)?;
        let path = dir.join(CURRENT_FILE);
        let file = qcat_core::private_files::open_append(&path)?;
        let size = file.metadata()?.len();
        let day = file
            .metadata()?
            .modified()
            .ok()
            .and_then(|time| jiff::Timestamp::try_from(time).ok())
            .map(|time| time.to_zoned(jiff::tz::TimeZone::UTC).date())
            .unwrap_or_else(today);
        let (maintenance, jobs) = channel::<Job>();
        let worker_dir = dir.to_owned();
        let worker_policy = policy.clone();
        std::thread::Builder::new()
            .name("qcat-log-maintenance".into())
            .spawn(move || {
                for job in jobs {
                    match job {
                        Job::Rotated(path) => {
                            // NotFound: pruned (beyond max_backups) before its turn came.
                            if worker_policy.compress
                                && let Err(err) = compress(&path)
                                && err.kind() != std::io::ErrorKind::NotFound
                            {
                                eprintln!(
                                    "qcat-logging: cannot compress {}: {err}",
                                    path.display()
                                );
                            }
                            prune(&worker_dir, &worker_policy);
                        }
                        Job::Barrier(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })?;
        Ok(Self {
            state: Arc::new(Mutex::new(State {
                dir: dir.to_owned(),
                file,
                size,
                day,
                policy,
            })),
            maintenance,
        })
    }

    /// Waits until every queued compression and pruning has finished.
    pub fn wait_for_maintenance(&self) {
        let (done, wait) = channel();
        if self.maintenance.send(Job::Barrier(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Rotates now (tests, and the day change).
    pub fn rotate(&self) -> std::io::Result<()> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        self.rotate_locked(&mut state)
    }

    fn rotate_locked(&self, state: &mut State) -> std::io::Result<()> {
        state.file.flush()?;
        state.file.sync_all()?;
        let current = state.dir.join(CURRENT_FILE);
        let rotated = unique_rotated_name(&state.dir);
        std::fs::rename(&current, &rotated)?;
        state.file = qcat_core::private_files::open_append(&current)?;
        state.size = 0;
        state.day = today();
        let _ = self.maintenance.send(Job::Rotated(rotated));
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let too_big = state.size > 0 && state.size + buf.len() as u64 > state.policy.max_bytes;
        let new_day = state.policy.daily && today() != state.day && state.size > 0;
        if too_big || new_day {
            self.rotate_locked(&mut state)?;
        }
        state.file.write_all(buf)?;
        state.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        state.file.flush()
    }
}

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// `qcat-<UTC timestamp to the nanosecond>.log`: names sort in rotation order, which
/// pruning relies on. Two rotations within one nanosecond take the next free instant.
fn unique_rotated_name(dir: &Path) -> PathBuf {
    loop {
        let stamp = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%S%.9fZ")
            .to_string();
        let candidate = dir.join(format!("{ROTATED_PREFIX}{stamp}.log"));
        let mut compressed = candidate.as_os_str().to_owned();
        compressed.push(".gz");
        if !candidate.exists() && !Path::new(&compressed).exists() {
            return candidate;
        }
        std::thread::yield_now();
    }
}

/// `x.log` → `x.log.gz` (written to a temp name first, then renamed), then `x.log` removed.
fn compress(path: &Path) -> std::io::Result<()> {
    let mut gz_name = path.as_os_str().to_owned();
    gz_name.push(".gz");
    let target = PathBuf::from(gz_name);
    let partial = target.with_extension("gz.partial");
    {
        let mut input = File::open(path)?;
        let output = qcat_core::private_files::open_append(&partial)?;
        output.set_len(0)?;
        let mut encoder = flate2::write::GzEncoder::new(output, flate2::Compression::default());
        std::io::copy(&mut input, &mut encoder)?;
        encoder.finish()?.sync_all()?;
    }
    std::fs::rename(&partial, &target)?;
    std::fs::remove_file(path)
}

/// Rotated files, newest first.
pub fn rotated_files(dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    let mut files: Vec<(PathBuf, SystemTime)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with(ROTATED_PREFIX)
                && (name.ends_with(".log") || name.ends_with(".log.gz"))
        })
        .filter_map(|entry| Some((entry.path(), entry.metadata().ok()?.modified().ok()?)))
        .collect();
    // Names carry a sortable UTC timestamp: newest first by name.
    files.sort_by(|a, b| b.0.cmp(&a.0));
    files
}

fn prune(dir: &Path, policy: &RotationPolicy) {
    let now = SystemTime::now();
    for (index, (path, modified)) in rotated_files(dir).into_iter().enumerate() {
        let too_many = index >= policy.max_backups;
        let too_old = now
            .duration_since(modified)
            .map(|age| age > policy.max_age)
            .unwrap_or(false);
        if (too_many || too_old)
            && let Err(err) = std::fs::remove_file(&path)
        {
            eprintln!("qcat-logging: cannot prune {}: {err}", path.display());
        }
    }
}
