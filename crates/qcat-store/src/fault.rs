//! What a storage failure means, in words, with the fix. sqlx reports "pool timed out
//! while waiting for an open connection" or a bare SQLite code; an operator needs "the
//! store file is damaged", "the disk is full", "connection refused at db:5432".

use std::io::ErrorKind;

/// The kind of a storage failure, for callers that branch (and for tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Not a database, or corrupted.
    Damaged,
    ReadOnly,
    DiskFull,
    /// A write to the disk failed (SQLite's I/O error on write, sync or growing a file):
    /// in practice a full or failing disk.
    WriteFailed,
    /// The file or its folder cannot be opened.
    CannotOpen,
    /// Nothing listens at the address.
    Refused,
    /// No answer in time (connecting, or a frozen server).
    TimedOut,
    /// A lock held by another session was waited for longer than `lock_timeout_secs`.
    LockTimeout,
    /// A statement ran longer than `statement_timeout_secs`.
    StatementTimeout,
    /// Another process holds the SQLite write lock longer than the busy timeout.
    Busy,
    /// The server refused the user or password.
    Credentials,
    /// The database named does not exist on the server.
    NoDatabase,
    /// The server closed the connection (restart, shutdown, network).
    Closed,
    /// The SQLite file was deleted or replaced under a running process.
    Moved,
}

/// A storage failure explained: its kind and a message with the fix, never a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub message: String,
}

/// Explains `err` for the store at `location` (a path, or a URL without credentials);
/// `None` when it is none of the failures above (the caller shows sqlx's text).
pub fn explain(err: &sqlx::Error, location: &str) -> Option<Fault> {
    let kind = kind_of(err)?;
    let message = match kind {
        FaultKind::Damaged => format!(
            "the store file {location} is damaged (it is not a SQLite database, or it is corrupted): restore it from a backup, or move it away and start anew with `qcatctl store init --new`"
        ),
        FaultKind::ReadOnly => format!(
            "the store at {location} is read-only: make the file and its folder writable by this user (or remount the filesystem read-write)"
        ),
        FaultKind::DiskFull => format!(
            "the disk holding the store at {location} is full: free space on it, then retry"
        ),
        FaultKind::WriteFailed => format!(
            "the disk holding the store at {location} could not be written (it is full or failing): free space on it or check the disk, then retry"
        ),
        FaultKind::CannotOpen => format!(
            "cannot open the store file {location}: check that its folder exists and this user may write there"
        ),
        FaultKind::Refused => format!(
            "connection refused at {}: is PostgreSQL running and listening there? (check database.url or database.host/port)",
            address_of(location)
        ),
        FaultKind::TimedOut => format!(
            "no answer from the store at {location} in time: the server may be frozen, overloaded or unreachable (database.connect_timeout_secs, database.command_timeout_secs)"
        ),
        FaultKind::LockTimeout => format!(
            "gave up waiting for a lock held by another session on {location} (database.lock_timeout_secs): find the session holding it (pg_stat_activity) or retry later"
        ),
        FaultKind::StatementTimeout => format!(
            "a query on {location} ran longer than database.statement_timeout_secs and was cancelled: retry, or raise the timeout if the store is large"
        ),
        FaultKind::Busy => format!(
            "the store file {location} stayed locked by another process (another console or qcatctl) for longer than database.lock_timeout_secs: retry when it is done"
        ),
        FaultKind::Credentials => format!(
            "PostgreSQL at {location} refused the user or password: check database.user and database.password (or the URL)"
        ),
        FaultKind::NoDatabase => format!(
            "the database in {location} does not exist on that server: create it (createdb) or fix database.name / the URL"
        ),
        FaultKind::Moved => format!(
            "the store file {location} was deleted or replaced while this process had it open: stop the console and start it again (it refuses a store that is gone and says how to restore it)"
        ),
        FaultKind::Closed => format!(
            "the connection to the store at {location} was closed (server restarted or network lost): retry"
        ),
    };
    Some(Fault { kind, message })
}

/// `host:port` of a URL location, or the location itself.
fn address_of(location: &str) -> String {
    url::Url::parse(location)
        .ok()
        .and_then(|url| {
            let host = url.host_str()?.to_owned();
            Some(format!("{host}:{}", url.port().unwrap_or(5432)))
        })
        .unwrap_or_else(|| location.to_owned())
}

fn kind_of(err: &sqlx::Error) -> Option<FaultKind> {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            database_code(&code).or_else(|| {
                // SQLite reports the primary code in the low byte of an extended code.
                code.parse::<u32>()
                    .ok()
                    .and_then(|code| sqlite_code(code & 0xff))
            })
        }
        sqlx::Error::Io(io) => io_kind(io.kind()),
        sqlx::Error::PoolTimedOut => Some(FaultKind::TimedOut),
        sqlx::Error::PoolClosed => Some(FaultKind::Closed),
        _ => None,
    }
}

fn database_code(code: &str) -> Option<FaultKind> {
    Some(match code {
        // SQLITE_READONLY_DBMOVED: the file was unlinked or renamed under us.
        "1032" => FaultKind::Moved,
        // SQLITE_IOERR_WRITE, _FSYNC, _TRUNCATE, _SHMSIZE, _SHMMAP: a write that did not land.
        "778" | "1034" | "1546" | "4874" | "5386" => FaultKind::WriteFailed,
        // PostgreSQL SQLSTATEs.
        "57014" => FaultKind::StatementTimeout,
        "55P03" => FaultKind::LockTimeout,
        "53100" => FaultKind::DiskFull,
        "25006" => FaultKind::ReadOnly,
        "28P01" | "28000" => FaultKind::Credentials,
        "3D000" => FaultKind::NoDatabase,
        "57P01" | "57P02" | "57P03" | "08006" | "08003" => FaultKind::Closed,
        _ => return None,
    })
}

fn sqlite_code(primary: u32) -> Option<FaultKind> {
    Some(match primary {
        5 | 6 => FaultKind::Busy,
        8 => FaultKind::ReadOnly,
        10 => return None, // SQLITE_IOERR: the extended code says more; see the text
        11 | 26 => FaultKind::Damaged,
        13 => FaultKind::DiskFull,
        14 => FaultKind::CannotOpen,
        _ => return None,
    })
}

fn io_kind(kind: ErrorKind) -> Option<FaultKind> {
    Some(match kind {
        ErrorKind::ConnectionRefused => FaultKind::Refused,
        ErrorKind::TimedOut => FaultKind::TimedOut,
        ErrorKind::StorageFull => FaultKind::DiskFull,
        ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => FaultKind::ReadOnly,
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => FaultKind::Closed,
        _ => return None,
    })
}

/// The message for `err`: its explanation, or sqlx's text when it is none of the known faults.
pub fn describe(err: &sqlx::Error, location: &str) -> String {
    explain(err, location).map_or_else(
        || format!("a query on {location} failed: {err}"),
        |fault| fault.message,
    )
}
