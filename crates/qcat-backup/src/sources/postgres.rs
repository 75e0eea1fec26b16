//! PostgreSQL, logically: `pg_dump --format=custom --compress=0` streamed into the chunker
//! (the repository compresses; a compressed archive would defeat deduplication), inside a
//! snapshot exported by a repeatable-read transaction that also counts every table's rows,
//! so the counts describe exactly what was dumped. Restores reassemble the archive, which
//! the stock `pg_restore` reads, and run it with parallel jobs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use qcat_core::secret::Secret;
use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use crate::backup::BackupWriter;
use crate::error::{BackupError, Result};
use crate::repo::Repository;
use crate::repo::manifest::{Manifest, SourceRecord, TableCount};

mod load;

pub const DUMP_STREAM: &str = "dump";
pub const DUMP_FORMAT: &str = "pg_dump-custom";

/// A PostgreSQL database to read or write: a URL without password, and the password apart.
#[derive(Clone)]
pub struct PostgresConnection {
    url: url::Url,
    password: Option<Secret<String>>,
}

impl std::fmt::Debug for PostgresConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresConnection({})", self.display())
    }
}

impl PostgresConnection {
    pub fn new(url: &str, password: Option<Secret<String>>) -> Result<Self> {
        let invalid = |why: &str| BackupError::Invalid {
            field: "url".into(),
            why: format!("{why}; write postgres://USER@HOST:PORT/DATABASE"),
        };
        let mut url = url::Url::parse(url).map_err(|_| invalid("not a URL"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(invalid("not a postgres:// URL"));
        }
        let mut password = password;
        if let Some(inline) = url.password() {
            // A password in the URL is taken out at once, so it is never shown or logged.
            let decoded = percent_decode(inline);
            password.get_or_insert(Secret::new(decoded));
            let _ = url.set_password(None);
        }
        Ok(Self { url, password })
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> Self {
        let mut url = self.url.clone();
        url.set_path(&format!("/{database}"));
        Self {
            url,
            password: self.password.clone(),
        }
    }

    /// Whether both name the same server (host and port), whatever the database.
    pub fn same_server(&self, other: &PostgresConnection) -> bool {
        self.url.host_str() == other.url.host_str()
            && self.url.port_or_known_default().unwrap_or(5432)
                == other.url.port_or_known_default().unwrap_or(5432)
    }

    pub fn database(&self) -> String {
        let path = self.url.path().trim_start_matches('/');
        if path.is_empty() {
            self.url.username().to_owned()
        } else {
            percent_decode(path)
        }
    }

    /// Where, without credentials.
    pub fn display(&self) -> String {
        self.url.to_string()
    }

    fn options(&self) -> Result<PgConnectOptions> {
        let mut options =
            PgConnectOptions::from_str(self.url.as_str()).map_err(|err| BackupError::Invalid {
                field: "url".into(),
                why: format!("not a PostgreSQL URL: {err}"),
            })?;
        if let Some(password) = &self.password {
            options = options.password(password.expose());
        }
        Ok(options.application_name("qcat-backup"))
    }

    pub async fn connect(&self) -> Result<PgConnection> {
        PgConnection::connect_with(&self.options()?)
            .await
            .map_err(|err| self.failure("connect", &err))
    }

    fn failure(&self, step: &str, err: &sqlx::Error) -> BackupError {
        // sqlx's messages carry no password (it is never in the URL we hold).
        BackupError::Source(format!("{} ({step}): {err}", self.display()))
    }

    /// A libpq command's connection: the URL as `--dbname`, the password in `PGPASSWORD`
    /// (never on the command line, where `ps` shows it).
    fn apply(&self, command: &mut Command) {
        command.arg(format!("--dbname={}", self.url));
        command.env_remove("PGPASSWORD");
        if let Some(password) = &self.password {
            command.env("PGPASSWORD", password.expose());
        }
        command.env("PGCONNECT_TIMEOUT", "15");
    }
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// pg_dump and pg_restore of one major version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub major: u32,
    pub pg_dump: PathBuf,
    pub pg_restore: PathBuf,
    pub version: String,
}

impl Tools {
    /// The client tools of the server's major version: in `bin_dir` when given, else in
    /// Debian's `/usr/lib/postgresql/<major>/bin`, else on PATH. A different major is
    /// refused: pg_dump refuses newer servers, and an archive from a newer pg_dump may not
    /// restore into this server.
    pub fn for_server(major: u32, bin_dir: Option<&Path>) -> Result<Tools> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = bin_dir {
            candidates.push(dir.to_owned());
        }
        candidates.push(PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")));
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
        let mut found = Vec::new();
        for dir in candidates {
            let pg_dump = dir.join("pg_dump");
            let pg_restore = dir.join("pg_restore");
            if !pg_dump.is_file() || !pg_restore.is_file() {
                continue;
            }
            let Some(version) = tool_version(&pg_dump) else {
                continue;
            };
            let tool_major = version
                .split_whitespace()
                .find_map(|word| word.split('.').next()?.parse::<u32>().ok())
                .unwrap_or(0);
            if tool_major == major {
                return Ok(Tools {
                    major,
                    pg_dump,
                    pg_restore,
                    version,
                });
            }
            found.push(format!("{tool_major} at {}", dir.display()));
        }
        let seen = if found.is_empty() {
            "none found".to_owned()
        } else {
            format!("found {}", found.join(", "))
        };
        Err(BackupError::Refused(format!(
            "the server runs PostgreSQL {major} but pg_dump/pg_restore {major} are not installed ({seen}); install them (Debian/Ubuntu: apt install postgresql-client-{major}) or set backup.pg_bin_dir to their folder"
        )))
    }
}

fn tool_version(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// What the server says about itself.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub major: u32,
    pub version: String,
}

pub async fn server_info(
    connection: &mut PgConnection,
) -> std::result::Result<ServerInfo, sqlx::Error> {
    let (num, version): (String, String) = sqlx::query_as(
        "SELECT current_setting('server_version_num'), current_setting('server_version')",
    )
    .fetch_one(&mut *connection)
    .await?;
    Ok(ServerInfo {
        major: num.parse::<u32>().unwrap_or(0) / 10000,
        version,
    })
}

const TABLES: &str = "SELECT n.nspname::text, c.relname::text FROM pg_class c \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
    ORDER BY 1, 2";

/// Every user table's row count, in the caller's transaction (its snapshot).
pub async fn count_rows(
    connection: &mut PgConnection,
) -> std::result::Result<Vec<TableCount>, sqlx::Error> {
    let tables: Vec<(String, String)> = sqlx::query_as(TABLES).fetch_all(&mut *connection).await?;
    let mut counts = Vec::with_capacity(tables.len());
    for (schema, name) in tables {
        let (rows,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM ONLY {}.{}",
            quote_ident(&schema),
            quote_ident(&name)
        )))
        .fetch_one(&mut *connection)
        .await?;
        counts.push(TableCount {
            schema,
            name,
            rows: rows as u64,
        });
    }
    Ok(counts)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Backs up one PostgreSQL database into `writer`. Blocking: call it where blocking is
/// allowed (a `spawn_blocking` thread); `handle` runs the SQL.
#[allow(clippy::too_many_arguments)]
pub fn backup(
    handle: &tokio::runtime::Handle,
    writer: &mut BackupWriter<'_>,
    name: &str,
    environment: &str,
    connection: &PostgresConnection,
    bin_dir: Option<&Path>,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<SourceRecord> {
    let mut conn = handle.block_on(connection.connect())?;
    let fail = |step: &str| {
        let connection = connection.clone();
        let step = step.to_owned();
        move |err: sqlx::Error| connection.failure(&step, &err)
    };
    let info = handle
        .block_on(server_info(&mut conn))
        .map_err(fail("read the version"))?;
    let tools = Tools::for_server(info.major, bin_dir)?;
    let (snapshot, estimate) = handle
        .block_on(async {
            sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut conn)
                .await?;
            let (snapshot,): (String,) = sqlx::query_as("SELECT pg_export_snapshot()")
                .fetch_one(&mut conn)
                .await?;
            let (estimate,): (Option<i64>,) = sqlx::query_as(
                "SELECT sum(pg_table_size(c.oid))::bigint FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_one(&mut conn)
            .await?;
            Ok::<_, sqlx::Error>((snapshot, estimate.unwrap_or(0).max(1) as u64))
        })
        .map_err(fail("export a snapshot"))?;
    progress.phase(format!("{name}: pg_dump"));
    progress.set_total(estimate);

    let mut command = Command::new(&tools.pg_dump);
    command.args([
        "--format=custom",
        "--compress=0",
        "--no-password",
        &format!("--snapshot={snapshot}"),
    ]);
    connection.apply(&mut command);
    let (mut child, stderr_reader) = spawn_tool(&mut command, Stdio::piped())?;
    let stdout = child.stdout.take().expect("piped");

    // Counts run in the snapshot's transaction while pg_dump streams.
    let (stream, counts) = std::thread::scope(|scope| {
        let counter = scope.spawn(|| handle.block_on(count_rows(&mut conn)));
        let stream = writer.add_stream(DUMP_STREAM, DUMP_FORMAT, stdout, progress, cancel);
        (stream, counter.join().expect("counting does not panic"))
    });
    if stream.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|err| BackupError::Source(format!("pg_dump: {err}")))?;
    let errors = stderr_reader.join().unwrap_or_default();
    let _ = handle.block_on(async { sqlx::query("COMMIT").execute(&mut conn).await });
    let stream = stream?;
    if !status.success() {
        return Err(BackupError::Source(format!(
            "pg_dump of {} failed ({status}): {}",
            connection.display(),
            last_lines(&errors)
        )));
    }
    let tables = counts.map_err(fail("count rows"))?;
    Ok(SourceRecord {
        name: name.to_owned(),
        kind: "postgres".into(),
        environment: environment.to_owned(),
        location: connection.display(),
        database: connection.database(),
        server_version: info.version,
        tool_version: tools.version,
        consistency: "one snapshot: the dump and the row counts read the same transaction (pg_export_snapshot)".into(),
        items: tables.iter().map(|t| t.rows).sum(),
        streams: vec![stream],
        tables,
    })
}

/// Starts a client tool (no stdin) with its stderr collected on a thread: its last lines
/// explain a failure.
fn spawn_tool(
    command: &mut Command,
    stdout: Stdio,
) -> Result<(std::process::Child, std::thread::JoinHandle<String>)> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| {
            BackupError::Source(format!(
                "cannot run {}: {err}",
                command.get_program().to_string_lossy()
            ))
        })?;
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    Ok((child, reader))
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(5)..];
    qcat_core::text::escape_controls(&tail.join(" | ")).into_owned()
}

/// How a restore meets its target database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A database that does not exist yet: created, then restored into.
    New,
    /// The existing database: objects the archive holds are dropped and re-created
    /// (`--clean --if-exists`). The caller asks for typed confirmation and takes a safety
    /// backup first.
    Overwrite,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableCheck {
    pub schema: String,
    pub name: String,
    pub expected: u64,
    pub found: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    pub database: String,
    pub location: String,
    pub bytes: u64,
    pub tables: Vec<TableCheck>,
    /// Tables whose row count differs from the manifest (or that are missing).
    pub mismatches: u64,
    /// Scratch databases killed restores had left on the server, dropped first.
    #[serde(default)]
    pub swept: Vec<String>,
}

impl RestoreReport {
    pub fn passed(&self) -> bool {
        self.mismatches == 0
    }
}

/// Whether the connection's database exists (asked of the server's `postgres` database).
pub async fn database_exists(connection: &PostgresConnection) -> Result<bool> {
    let admin = connection.with_database("postgres");
    let mut conn = admin.connect().await?;
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(connection.database())
        .fetch_one(&mut conn)
        .await
        .map_err(|err| admin.failure("look for the database", &err))
}

/// Drops the connection's database (a drill's scratch copy), asked of the server's
/// `postgres` database; sessions still on it are ended first.
pub async fn drop_database(connection: &PostgresConnection) -> Result<()> {
    let admin = connection.with_database("postgres");
    let mut conn = admin.connect().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(&connection.database())
    )))
    .execute(&mut conn)
    .await
    .map_err(|err| admin.failure("drop the scratch database", &err))?;
    Ok(())
}

const MARKER_PREFIX: &str = "qcat-backup: restore of ";
/// A new database is created as `<prefix><ms>_<hex>`, marked, then renamed: it holds the
/// scratch name only for those three statements.
const SCRATCH_PREFIX: &str = "qcat_restoring_";
/// A scratch name older than this belongs to a restore that was killed.
const SCRATCH_STALE_MS: i64 = 60 * 60 * 1000;
/// Restore drills restore into `<prefix><source>_<ms>` and drop it when done; one older than
/// a day was left by a killed drill.
pub const DRILL_PREFIX: &str = "qcat_drill_";
const DRILL_STALE_MS: i64 = 24 * 60 * 60 * 1000;

/// Drops the scratch databases killed restores and drills left (their names say when they
/// were made); returns their names.
async fn sweep_scratch(conn: &mut PgConnection) -> std::result::Result<Vec<String>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) OR starts_with(datname, $2)",
    )
    .bind(SCRATCH_PREFIX)
    .bind(DRILL_PREFIX)
    .fetch_all(&mut *conn)
    .await?;
    let now = qcat_core::time::now_ms();
    let mut swept = Vec::new();
    for name in names {
        let stale = if let Some(rest) = name.strip_prefix(SCRATCH_PREFIX) {
            rest.split_once('_')
                .and_then(|(ms, _)| ms.parse::<i64>().ok())
                .is_some_and(|ms| now - ms > SCRATCH_STALE_MS)
        } else {
            name.rsplit_once('_')
                .and_then(|(_, ms)| ms.parse::<i64>().ok())
                .is_some_and(|ms| now - ms > DRILL_STALE_MS)
        };
        if stale {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&name)
            )))
            .execute(&mut *conn)
            .await?;
            tracing::warn!(database = %name, "dropped a scratch database a killed restore left");
            swept.push(name);
        }
    }
    Ok(swept)
}

/// The database's "restore in progress" marker, left by a restore that did not finish.
pub async fn unfinished_restore(connection: &PostgresConnection) -> Result<Option<String>> {
    let mut conn = connection.connect().await?;
    let comment: Option<String> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(|err| connection.failure("read the restore marker", &err))?;
    Ok(comment.filter(|c| c.starts_with(MARKER_PREFIX)))
}

/// Restores `source` of `manifest` into `target`. Checks every chunk into a scratch file
/// first (a damaged backup is refused before the target is touched), then creates the
/// database if asked, marks it as being restored, runs `pg_restore --jobs`, compares the
/// row counts and clears the mark. Blocking, like [`backup`].
#[allow(clippy::too_many_arguments)]
pub fn restore(
    handle: &tokio::runtime::Handle,
    repo: &Repository,
    manifest: &Manifest,
    source: &str,
    target: &PostgresConnection,
    placement: Placement,
    jobs: u32,
    bin_dir: Option<&Path>,
    scratch: &Path,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<RestoreReport> {
    let (record, stream) = manifest.restorable(source, DUMP_FORMAT, "a PostgreSQL backup")?;
    let database = target.database();
    let admin = target.with_database("postgres");
    let mut admin_conn = handle.block_on(admin.connect())?;
    let info = handle
        .block_on(server_info(&mut admin_conn))
        .map_err(|err| admin.failure("read the version", &err))?;
    let tools = Tools::for_server(info.major, bin_dir)?;
    let exists: bool = handle
        .block_on(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&database)
                .fetch_one(&mut admin_conn),
        )
        .map_err(|err| admin.failure("look for the database", &err))?;
    match (placement, exists) {
        (Placement::New, true) => {
            return Err(BackupError::Refused(format!(
                "database {database:?} exists already on {}; choose a new name, or restore onto it with confirmation",
                admin.display()
            )));
        }
        (Placement::Overwrite, false) => {
            return Err(BackupError::Refused(format!(
                "database {database:?} does not exist on {}; restore it as a new database",
                admin.display()
            )));
        }
        _ => {}
    }

    // 1. Reassemble and check, before anything touches the target.
    progress.phase(format!("{source}: check and reassemble"));
    progress.set_total(stream.size * 2);
    qcat_core::private_files::create_dir(scratch).map_err(BackupError::io(scratch))?;
    let archive = tempfile::Builder::new()
        .prefix("qcat-restore-")
        .suffix(".dump")
        .tempfile_in(scratch)
        .map_err(BackupError::io(scratch))?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, archive.as_file());
        crate::restore::write_stream(repo, stream, &mut out, progress, cancel)?;
        std::io::Write::flush(&mut out).map_err(BackupError::io(archive.path()))?;
    }

    // 2. Create (new) and mark the target: a kill from here on leaves the mark behind.
    //    Scratch databases killed restores left on the server go first.
    let swept = if placement == Placement::New {
        handle
            .block_on(sweep_scratch(&mut admin_conn))
            .map_err(|err| admin.failure("drop stale scratch databases", &err))?
    } else {
        Vec::new()
    };
    let marker = format!(
        "{MARKER_PREFIX}{} started {}",
        manifest.id,
        qcat_core::time::now_ms()
    );
    handle
        .block_on(async {
            if placement == Placement::New {
                // Created under a scratch name, marked, then renamed: a kill at any point
                // leaves the target either absent or marked, never there unmarked.
                // The name carries its creation time, so a later restore can tell a
                // scratch database a killed restore left from one being renamed now.
                let scratch = format!(
                    "{SCRATCH_PREFIX}{}_{}",
                    qcat_core::time::now_ms(),
                    qcat_core::random::hex_id(6)
                );
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {}",
                    quote_ident(&scratch)
                )))
                .execute(&mut admin_conn)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "COMMENT ON DATABASE {} IS {}",
                    quote_ident(&scratch),
                    quote_literal(&marker)
                )))
                .execute(&mut admin_conn)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    quote_ident(&scratch),
                    quote_ident(&database)
                )))
                .execute(&mut admin_conn)
                .await?;
                return Ok(());
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "COMMENT ON DATABASE {} IS {}",
                quote_ident(&database),
                quote_literal(&marker)
            )))
            .execute(&mut admin_conn)
            .await
            .map(drop)
        })
        .map_err(|err| admin.failure("create the database", &err))?;

    // 3. pg_restore with parallel jobs; into a new database, table data through our own
    //    COPY streams, a large table spread over every connection.
    progress.phase(format!("{source}: pg_restore"));
    let jobs_arg = format!("--jobs={}", jobs.max(1));
    match placement {
        Placement::New => load::restore_new(
            handle,
            &tools,
            target,
            archive.path(),
            jobs,
            progress,
            cancel,
        )?,
        Placement::Overwrite => load::run(
            &tools,
            target,
            &[&jobs_arg, "--clean", "--if-exists"],
            None,
            archive.path(),
            cancel,
        )?,
    }
    progress.set_done(stream.size * 2);

    // 4. Compare the row counts with the manifest, then clear the mark.
    progress.phase(format!("{source}: check row counts"));
    let found = handle.block_on(async {
        let mut conn = target.connect().await?;
        count_rows(&mut conn)
            .await
            .map_err(|err| target.failure("count rows", &err))
    })?;
    let mut tables = Vec::new();
    for table in &record.tables {
        let found_rows = found
            .iter()
            .find(|f| f.schema == table.schema && f.name == table.name)
            .map(|f| f.rows);
        tables.push(TableCheck {
            schema: table.schema.clone(),
            name: table.name.clone(),
            expected: table.rows,
            found: found_rows,
        });
    }
    let mismatches = tables
        .iter()
        .filter(|t| t.found != Some(t.expected))
        .count() as u64;
    handle
        .block_on(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "COMMENT ON DATABASE {} IS NULL",
                quote_ident(&database)
            )))
            .execute(&mut admin_conn),
        )
        .map_err(|err| admin.failure("clear the restore mark", &err))?;
    Ok(RestoreReport {
        database,
        location: target.display(),
        bytes: stream.size,
        tables,
        mismatches,
        swept,
    })
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
