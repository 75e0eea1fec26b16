//! Restoring into a new database faster than `pg_restore --jobs`: its sections run as it
//! runs them (pre-data, then data, then post-data with `--jobs`), but table data goes
//! through our own COPY streams. `pg_restore --jobs` loads each table on one connection,
//! so one large table (the usual case: an orders or trades table) loads on one core; here a
//! table that grows past [`SPLIT_AFTER`] is spread over every connection, rows cut only at
//! line ends (COPY's text format escapes newlines inside values, so a line is a row).
//! Small tables go whole to the connections in turn. The data comes from
//! `pg_restore --data-only -f -` of the same archive, so pg_restore still decodes it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use tokio::sync::mpsc;

use super::{PostgresConnection, Tools, last_lines, spawn_tool};
use crate::error::{BackupError, Result};

/// A table's rows go to one connection until this many bytes, then to all of them.
const SPLIT_AFTER: usize = 16 << 20;
/// Rows are handed to a connection in batches of about this size.
const BATCH: usize = 256 << 10;

/// What a connection does next, in order.
enum Op {
    /// A session setting from pg_restore's output (`SET …`, `SELECT pg_catalog.set_config`).
    Exec(String),
    Begin(String),
    Rows(Vec<u8>),
    End,
}

/// Restores `archive` into the (new, empty) database `target` with `jobs` connections.
pub(super) fn restore_new(
    handle: &tokio::runtime::Handle,
    tools: &Tools,
    target: &PostgresConnection,
    archive: &Path,
    jobs: u32,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<()> {
    let jobs = jobs.clamp(1, 16) as usize;
    let list = list_entries(tools, archive)?;
    let work = tempfile::tempdir().map_err(|err| BackupError::Source(err.to_string()))?;
    let (tables, others): (Vec<&str>, Vec<&str>) = list
        .lines()
        .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
        .partition(|line| line.contains(" TABLE DATA "));
    let tables_list = work.path().join("tables.list");
    let others_list = work.path().join("others.list");
    std::fs::write(&tables_list, tables.join("\n"))
        .map_err(|err| BackupError::Source(err.to_string()))?;
    std::fs::write(&others_list, others.join("\n"))
        .map_err(|err| BackupError::Source(err.to_string()))?;

    progress.phase("pg_restore: schema".to_string());
    run(
        tools,
        target,
        &["--section=pre-data"],
        None,
        archive,
        cancel,
    )?;
    if !tables.is_empty() {
        progress.phase(format!("table data on {jobs} connections"));
        load_tables(
            handle,
            tools,
            target,
            archive,
            &tables_list,
            jobs,
            progress,
            cancel,
        )?;
    }
    // Sequence values and large objects: the rest of the data section.
    if !others.is_empty() {
        run(
            tools,
            target,
            &["--section=data"],
            Some(&others_list),
            archive,
            cancel,
        )?;
    }
    progress.phase("pg_restore: indexes and constraints".to_string());
    run(
        tools,
        target,
        &["--section=post-data", &format!("--jobs={jobs}")],
        None,
        archive,
        cancel,
    )
}

/// `pg_restore -l`: the archive's table of contents, one entry per line.
fn list_entries(tools: &Tools, archive: &Path) -> Result<String> {
    let out = Command::new(&tools.pg_restore)
        .arg("--list")
        .arg(archive)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| {
            BackupError::Source(format!("cannot run {}: {err}", tools.pg_restore.display()))
        })?;
    if !out.status.success() {
        return Err(BackupError::Source(format!(
            "pg_restore --list failed: {}",
            last_lines(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| BackupError::Source("pg_restore --list printed non-UTF-8".into()))
}

/// Runs pg_restore into `target` (with `--use-list` when given) and waits, killing it on
/// cancel.
pub(super) fn run(
    tools: &Tools,
    target: &PostgresConnection,
    args: &[&str],
    list: Option<&Path>,
    archive: &Path,
    cancel: &CancellationToken,
) -> Result<()> {
    let mut command = Command::new(&tools.pg_restore);
    command
        .args(["--exit-on-error", "--no-password"])
        .args(args);
    if let Some(list) = list {
        command.arg(format!("--use-list={}", list.display()));
    }
    target.apply(&mut command);
    command.arg(archive);
    let (mut child, errors) = spawn_tool(&mut command, Stdio::null())?;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|err| BackupError::Source(format!("pg_restore: {err}")))?
        {
            break status;
        }
        if cancel.is_cancelled() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BackupError::Cancelled);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        return Err(BackupError::Source(format!(
            "pg_restore {} into {} failed ({status}); the database is half restored and marked so: {}",
            args.join(" "),
            target.display(),
            last_lines(&errors)
        )));
    }
    Ok(())
}

/// Reads every table's COPY block from `pg_restore --data-only -f -` and feeds the
/// connections.
#[allow(clippy::too_many_arguments)]
fn load_tables(
    handle: &tokio::runtime::Handle,
    tools: &Tools,
    target: &PostgresConnection,
    archive: &Path,
    list: &Path,
    jobs: usize,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<()> {
    // Every connection first, so a refused connection fails before any data moves.
    let mut queues = Vec::with_capacity(jobs);
    let mut workers = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let conn = handle.block_on(target.connect())?;
        let (send, receive) = mpsc::channel::<Op>(8);
        queues.push(send);
        let target = target.clone();
        workers.push(handle.spawn(connection(conn, receive, target)));
    }
    let mut command = Command::new(&tools.pg_restore);
    command
        .args(["--data-only", "--no-password", "--file=-"])
        .arg(format!("--use-list={}", list.display()))
        .arg(archive);
    let (mut child, errors) = spawn_tool(&mut command, Stdio::piped())?;
    let stdout = child.stdout.take().expect("piped");
    let fed = feed(
        BufReader::with_capacity(1 << 20, stdout),
        &queues,
        progress,
        cancel,
    );
    if fed.is_err() {
        let _ = child.kill();
    }
    drop(queues);
    let status = child.wait();
    let errors = errors.join().unwrap_or_default();
    // A connection's own error says more than "its queue closed".
    let mut first_failure = None;
    for worker in workers {
        let outcome = handle
            .block_on(worker)
            .map_err(|err| BackupError::Source(format!("a COPY connection stopped: {err}")))
            .and_then(|done| done);
        if let Err(err) = outcome {
            first_failure.get_or_insert(err);
        }
    }
    if let Some(err) = first_failure {
        return Err(err);
    }
    fed?;
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(BackupError::Source(format!(
            "pg_restore --data-only failed ({status}): {}",
            last_lines(&errors)
        ))),
        Err(err) => Err(BackupError::Source(format!("pg_restore: {err}"))),
    }
}

/// Splits the SQL stream into ops: settings to every connection, each COPY block to one
/// connection (the next in turn) until it passes [`SPLIT_AFTER`], then round-robin to all.
fn feed(
    mut reader: impl BufRead,
    queues: &[mpsc::Sender<Op>],
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<()> {
    let closed = || BackupError::Source("a COPY connection stopped".into());
    let send = |queue: &mpsc::Sender<Op>, op: Op| queue.blocking_send(op).map_err(|_| closed());
    let mut line = Vec::new();
    let mut next_table = 0;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|err| BackupError::Source(format!("reading pg_restore: {err}")))?
            == 0
        {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let statement = text.trim_end();
        if statement.is_empty() || statement.starts_with("--") || statement.starts_with('\\') {
            // Comments, and psql's \restrict / \unrestrict (not SQL).
            continue;
        }
        if statement.starts_with("SET ") || statement.starts_with("SELECT pg_catalog.set_config(") {
            for queue in queues {
                send(queue, Op::Exec(statement.to_owned()))?;
            }
            continue;
        }
        if !(statement.starts_with("COPY ") && statement.ends_with("FROM stdin;")) {
            return Err(BackupError::Source(format!(
                "unexpected statement in pg_restore's data output: {}",
                qcat_core::text::bounded(statement, 120)
            )));
        }
        // One table's rows.
        let copy = statement.to_owned();
        let first = next_table % queues.len();
        next_table += 1;
        send(&queues[first], Op::Begin(copy.clone()))?;
        let mut active = vec![first];
        let mut turn = 0;
        let mut sent = 0_usize;
        let mut batch = Vec::with_capacity(BATCH + 64 * 1024);
        loop {
            if cancel.is_cancelled() {
                return Err(BackupError::Cancelled);
            }
            let start = batch.len();
            let read = reader
                .read_until(b'\n', &mut batch)
                .map_err(|err| BackupError::Source(format!("reading pg_restore: {err}")))?;
            let end_of_block = read == 0 || &batch[start..] == b"\\.\n";
            if end_of_block {
                batch.truncate(start);
            }
            if batch.len() >= BATCH || (end_of_block && !batch.is_empty()) {
                if active.len() == 1 && sent >= SPLIT_AFTER && queues.len() > 1 {
                    // A large table: every other connection joins in.
                    for other in (0..queues.len()).filter(|i| *i != first) {
                        send(&queues[other], Op::Begin(copy.clone()))?;
                        active.push(other);
                    }
                }
                sent += batch.len();
                progress.advance(batch.len() as u64);
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH + 64 * 1024));
                send(&queues[active[turn % active.len()]], Op::Rows(full))?;
                turn += 1;
            }
            if end_of_block {
                for one in &active {
                    send(&queues[*one], Op::End)?;
                }
                if read == 0 {
                    return Err(BackupError::Source(format!(
                        "pg_restore's data output ended inside {copy}"
                    )));
                }
                break;
            }
        }
    }
}

/// One connection: runs its ops in order.
async fn connection(
    mut conn: sqlx::postgres::PgConnection,
    mut ops: mpsc::Receiver<Op>,
    target: PostgresConnection,
) -> Result<()> {
    while let Some(op) = ops.recv().await {
        match op {
            Op::Exec(statement) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await
                    .map_err(|err| target.failure("apply a session setting", &err))?;
            }
            Op::Begin(statement) => {
                let mut copy = conn
                    .copy_in_raw(&statement)
                    .await
                    .map_err(|err| target.failure("start COPY", &err))?;
                loop {
                    match ops.recv().await {
                        Some(Op::Rows(rows)) => {
                            copy.send(rows)
                                .await
                                .map_err(|err| target.failure("COPY rows", &err))?;
                        }
                        Some(Op::End) => {
                            copy.finish()
                                .await
                                .map_err(|err| target.failure("finish COPY", &err))?;
                            break;
                        }
                        // The feeder stopped (an error elsewhere, or cancel; it reports
                        // that): the COPY is abandoned, which rolls it back.
                        None => return Ok(()),
                        Some(_) => {
                            return Err(BackupError::Source(
                                "a statement arrived inside a COPY (a bug in the loader)".into(),
                            ));
                        }
                    }
                }
            }
            Op::Rows(_) | Op::End => {
                return Err(BackupError::Source(
                    "rows arrived outside a COPY (a bug in the loader)".into(),
                ));
            }
        }
    }
    Ok(())
}
