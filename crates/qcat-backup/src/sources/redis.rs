//! Redis, key by key: every db is walked with `SCAN`; each key is read with `DUMP` (its value
//! in Redis' own serialization, every type) and `PTTL`, and written as a `RESTORE key ttl
//! payload REPLACE ABSTTL` command in RESP, so the stream is what `redis-cli --pipe` replays.
//! Consistency: each key is read atomically, but the walk is not a snapshot — a key written
//! during the walk may or may not be in the backup (as with any SCAN); an RDB snapshot is
//! point-in-time but restores only by replacing a server's whole dataset.

use std::io::Write;

use qcat_core::secret::Secret;
use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use serde::Serialize;

use crate::backup::BackupWriter;
use crate::error::{BackupError, Result};
use crate::repo::Repository;
use crate::repo::manifest::{Manifest, SourceRecord, TableCount};

pub const KEYS_STREAM: &str = "keys";
pub const RESP_FORMAT: &str = "redis-resp";
/// Keys read per SCAN step and per pipeline of DUMP/PTTL.
const BATCH: usize = 500;

/// A Redis server to read or write: a URL without password, the password apart.
#[derive(Clone)]
pub struct RedisConnection {
    url: url::Url,
    password: Option<Secret<String>>,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisConnection({})", self.display())
    }
}

impl RedisConnection {
    pub fn new(url: &str, password: Option<Secret<String>>) -> Result<Self> {
        let invalid = |why: &str| BackupError::Invalid {
            field: "url".into(),
            why: format!("{why}; write redis://HOST:PORT/DB"),
        };
        let mut url = url::Url::parse(url).map_err(|_| invalid("not a URL"))?;
        if url.scheme() != "redis" {
            return Err(invalid("not a redis:// URL (TLS is not supported yet)"));
        }
        let mut password = password;
        if let Some(inline) = url.password() {
            password.get_or_insert(Secret::new(inline.to_owned()));
            let _ = url.set_password(None);
        }
        Ok(Self { url, password })
    }

    pub fn display(&self) -> String {
        self.url.to_string()
    }

    /// The db the URL names, if it names one.
    pub fn db(&self) -> Option<u32> {
        self.url.path().trim_start_matches('/').parse().ok()
    }

    /// Whether both name the same server (host and port), whatever the db.
    pub fn same_server(&self, other: &RedisConnection) -> bool {
        self.url.host_str() == other.url.host_str()
            && self.url.port().unwrap_or(6379) == other.url.port().unwrap_or(6379)
    }

    /// Keys in `db` (`DBSIZE`). Blocking.
    pub fn key_count(&self, db: u32) -> Result<u64> {
        let mut con = self.connect()?;
        redis::cmd("SELECT")
            .arg(db)
            .query::<()>(&mut con)
            .map_err(|err| self.failure("SELECT", &err))?;
        redis::cmd("DBSIZE")
            .query(&mut con)
            .map_err(|err| self.failure("DBSIZE", &err))
    }

    fn failure(&self, step: &str, err: &redis::RedisError) -> BackupError {
        BackupError::Source(format!("{} ({step}): {err}", self.display()))
    }

    fn connect(&self) -> Result<redis::Connection> {
        let mut info = redis::IntoConnectionInfo::into_connection_info(self.url.as_str())
            .map_err(|err| self.failure("read the URL", &err))?;
        if let Some(password) = &self.password {
            let settings = info
                .redis_settings()
                .clone()
                .set_password(password.expose());
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info).map_err(|err| self.failure("connect", &err))?;
        client
            .get_connection_with_timeout(std::time::Duration::from_secs(10))
            .map_err(|err| self.failure("connect", &err))
    }
}

fn resp_command(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
}

/// `INFO keyspace` → the dbs that hold keys.
fn dbs_with_keys(info: &str) -> Vec<u32> {
    info.lines()
        .filter_map(|line| line.strip_prefix("db")?.split(':').next()?.parse().ok())
        .collect()
}

fn server_version(info: &str) -> String {
    info.lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// Backs up every key of every db into `writer`. Blocking.
pub fn backup(
    writer: &mut BackupWriter<'_>,
    name: &str,
    environment: &str,
    connection: &RedisConnection,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<SourceRecord> {
    let mut con = connection.connect()?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut con)
        .map_err(|err| connection.failure("INFO", &err))?;
    let version = server_version(&info);
    let keyspace: String = redis::cmd("INFO")
        .arg("keyspace")
        .query(&mut con)
        .map_err(|err| connection.failure("INFO keyspace", &err))?;
    let dbs = dbs_with_keys(&keyspace);
    progress.phase(format!("{name}: keys"));
    let (reader, mut pipe) = std::io::pipe().map_err(BackupError::io("pipe"))?;
    let (stream, counts) = std::thread::scope(|scope| {
        let producer = scope.spawn(move || -> Result<Vec<TableCount>> {
            let mut counts = Vec::new();
            for db in dbs {
                redis::cmd("SELECT")
                    .arg(db)
                    .query::<()>(&mut con)
                    .map_err(|err| connection.failure("SELECT", &err))?;
                let mut out = Vec::new();
                resp_command(&mut out, &[b"SELECT", db.to_string().as_bytes()]);
                let mut written = 0_u64;
                let mut cursor: u64 = 0;
                loop {
                    if cancel.is_cancelled() {
                        return Err(BackupError::Cancelled);
                    }
                    let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(BATCH)
                        .query(&mut con)
                        .map_err(|err| connection.failure("SCAN", &err))?;
                    if !keys.is_empty() {
                        let mut pipeline = redis::pipe();
                        for key in &keys {
                            pipeline.cmd("DUMP").arg(key).cmd("PTTL").arg(key);
                        }
                        let answers: Vec<redis::Value> = pipeline
                            .query(&mut con)
                            .map_err(|err| connection.failure("DUMP", &err))?;
                        let now_ms = qcat_core::time::now_ms();
                        for (key, pair) in keys.iter().zip(answers.chunks(2)) {
                            let (redis::Value::BulkString(payload), redis::Value::Int(pttl)) =
                                (&pair[0], &pair[1])
                            else {
                                continue; // gone between SCAN and DUMP
                            };
                            if *pttl == -2 {
                                continue;
                            }
                            // Absolute expiry, so a restore later does not extend a TTL.
                            let expiry = if *pttl > 0 { now_ms + pttl } else { 0 };
                            let expiry = expiry.to_string();
                            if *pttl > 0 {
                                resp_command(
                                    &mut out,
                                    &[
                                        b"RESTORE",
                                        key,
                                        expiry.as_bytes(),
                                        payload,
                                        b"REPLACE",
                                        b"ABSTTL",
                                    ],
                                );
                            } else {
                                resp_command(
                                    &mut out,
                                    &[b"RESTORE", key, b"0", payload, b"REPLACE"],
                                );
                            }
                            written += 1;
                        }
                        pipe.write_all(&out).map_err(BackupError::io("pipe"))?;
                        out.clear();
                    }
                    cursor = next;
                    if cursor == 0 {
                        break;
                    }
                }
                pipe.write_all(&out).map_err(BackupError::io("pipe"))?;
                counts.push(TableCount {
                    schema: format!("db{db}"),
                    name: "keys".into(),
                    rows: written,
                });
            }
            drop(pipe);
            Ok(counts)
        });
        let stream = writer.add_stream(KEYS_STREAM, RESP_FORMAT, reader, progress, cancel);
        (
            stream,
            producer.join().expect("the key reader does not panic"),
        )
    });
    let counts = counts?;
    let stream = stream?;
    Ok(SourceRecord {
        name: name.to_owned(),
        kind: "redis".into(),
        environment: environment.to_owned(),
        location: connection.display(),
        database: counts
            .iter()
            .map(|c| c.schema.clone())
            .collect::<Vec<_>>()
            .join(","),
        server_version: version,
        tool_version: String::new(),
        consistency: "per key: each key read atomically with DUMP while SCAN walks the keyspace; keys written during the walk may or may not be included".into(),
        items: counts.iter().map(|c| c.rows).sum(),
        streams: vec![stream],
        tables: counts,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisRestoreReport {
    pub location: String,
    /// Keys written per target db.
    pub restored: Vec<(u32, u64)>,
    /// Keys in the backup (per db), for the caller to compare.
    pub expected: Vec<(u32, u64)>,
    pub passed: bool,
}

/// Replays the RESP commands into a connection, pipelined, mapping dbs.
struct Replayer<'c> {
    con: &'c mut redis::Connection,
    target_db: Option<u32>,
    buffer: Vec<u8>,
    pending: redis::Pipeline,
    queued: usize,
    current_db: u32,
    restored: std::collections::BTreeMap<u32, u64>,
    error: Option<String>,
}

impl Replayer<'_> {
    /// One complete RESP array command at the front of `buffer`, if there is one.
    fn take_command(&mut self) -> Option<Vec<Vec<u8>>> {
        let data = &self.buffer;
        let mut at = 0;
        let line = |from: usize| -> Option<(usize, &[u8])> {
            let end = data[from..].windows(2).position(|w| w == b"\r\n")? + from;
            Some((end + 2, &data[from..end]))
        };
        let (next, header) = line(at)?;
        let count: usize = std::str::from_utf8(header.strip_prefix(b"*")?)
            .ok()?
            .parse()
            .ok()?;
        at = next;
        let mut parts = Vec::with_capacity(count);
        for _ in 0..count {
            let (next, len) = line(at)?;
            let len: usize = std::str::from_utf8(len.strip_prefix(b"$")?)
                .ok()?
                .parse()
                .ok()?;
            if data.len() < next + len + 2 {
                return None;
            }
            parts.push(data[next..next + len].to_vec());
            at = next + len + 2;
        }
        self.buffer.drain(..at);
        Some(parts)
    }

    fn flush(&mut self) {
        if self.queued == 0 || self.error.is_some() {
            return;
        }
        if let Err(err) = self.pending.query::<()>(self.con) {
            self.error = Some(err.to_string());
        }
        self.pending = redis::pipe();
        self.queued = 0;
    }

    fn apply(&mut self, parts: Vec<Vec<u8>>) {
        let Some(verb) = parts.first() else { return };
        if verb.as_slice() == b"SELECT" {
            self.flush();
            let db: u32 = std::str::from_utf8(&parts[1])
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            self.current_db = self.target_db.unwrap_or(db);
            self.pending.cmd("SELECT").arg(self.current_db).ignore();
            self.queued += 1;
            return;
        }
        let mut cmd = redis::cmd(std::str::from_utf8(verb).unwrap_or("RESTORE"));
        for part in &parts[1..] {
            cmd.arg(part.as_slice());
        }
        self.pending.add_command(cmd).ignore();
        self.queued += 1;
        *self.restored.entry(self.current_db).or_default() += 1;
        if self.queued >= BATCH {
            self.flush();
        }
    }
}

impl Write for Replayer<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        while let Some(parts) = self.take_command() {
            self.apply(parts);
        }
        if let Some(err) = &self.error {
            return Err(std::io::Error::other(err.clone()));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Replayer::flush(self);
        match &self.error {
            Some(err) => Err(std::io::Error::other(err.clone())),
            None => Ok(()),
        }
    }
}

/// Restores a Redis source of `manifest` into `target` (into `target_db` when given, else
/// each key into its own db). Every chunk is checked before the first key is written.
/// Blocking.
pub fn restore(
    repo: &Repository,
    manifest: &Manifest,
    source: &str,
    target: &RedisConnection,
    target_db: Option<u32>,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<RedisRestoreReport> {
    let (record, stream) = manifest.restorable(source, RESP_FORMAT, "a Redis backup")?;
    progress.phase(format!("{source}: check"));
    progress.set_total(stream.size * 2);
    crate::restore::check_stream(repo, stream, progress, cancel)?;
    let mut con = target.connect()?;
    progress.phase(format!("{source}: restore keys"));
    let mut replayer = Replayer {
        con: &mut con,
        target_db,
        buffer: Vec::new(),
        pending: redis::pipe(),
        queued: 0,
        current_db: target_db.unwrap_or(0),
        restored: Default::default(),
        error: None,
    };
    crate::restore::write_stream(repo, stream, &mut replayer, progress, cancel).map_err(|err| {
        match err {
            BackupError::Source(why) => {
                BackupError::Source(format!("restoring into {}: {why}", target.display()))
            }
            other => other,
        }
    })?;
    Write::flush(&mut replayer).map_err(|err| {
        BackupError::Source(format!("restoring into {}: {err}", target.display()))
    })?;
    let restored: Vec<(u32, u64)> = replayer.restored.into_iter().collect();
    let mut expected: std::collections::BTreeMap<u32, u64> = Default::default();
    for table in &record.tables {
        let db = table.schema.trim_start_matches("db").parse().unwrap_or(0);
        *expected.entry(target_db.unwrap_or(db)).or_default() += table.rows;
    }
    let expected: Vec<(u32, u64)> = expected.into_iter().collect();
    Ok(RedisRestoreReport {
        location: target.display(),
        passed: restored == expected,
        restored,
        expected,
    })
}
