//! Backups beside the tools an operator would otherwise run, on one pgbench database in one
//! run (a private cluster that syncs to disk like production):
//!
//! 1. Full backup time: ours (pg_dump custom format uncompressed → chunks → zstd → AES-GCM)
//!    against `pg_dump -Fc` to a file, and against `pg_dump -Fc -Z0 | restic backup --stdin`.
//! 2. After 1 % of the rows change: the bytes an incremental stores, as a fraction of the
//!    full, against what restic adds for the same second dump. Twice: the changed rows
//!    together (a day's rows corrected), and spread through the table (every 100th row).
//! 3. Restore into a new database: ours (check and reassemble on every core, schema and
//!    indexes by `pg_restore`, table data over 2 COPY connections, a large table split over
//!    both) against `pg_restore --jobs 2` of the `-Fc` file.
//! 4. Verify throughput: every chunk decrypted and hashed, against `restic check --read-data`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use qcat_backup::sources::postgres::{self, Placement, PostgresConnection};
use qcat_backup::{BackupType, BackupWriter, Repository};
use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;

fn run(command: &mut Command) {
    let out = command.output().expect("the program runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn psql(url: &str, sql: &str) {
    run(Command::new("psql").args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]));
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            dir_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn with_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{database}"),
        None => url.to_owned(),
    }
}

fn restic(repo: &Path) -> Command {
    let mut command = Command::new("restic");
    command
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", "bench-password")
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .arg("--quiet");
    command
}

/// `pg_dump -Fc -Z0 | restic backup --stdin`; returns the seconds it took.
fn restic_backup(url: &str, repo: &Path) -> f64 {
    let started = Instant::now();
    let mut dump = Command::new(qcat_testkit::postgres_program("pg_dump"))
        .args(["--format=custom", "--compress=0", url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = dump.stdout.take().unwrap();
    let status = restic(repo)
        .args(["backup", "--stdin", "--stdin-filename", "db.dump"])
        .stdin(stdout)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success() && dump.wait().unwrap().success());
    started.elapsed().as_secs_f64()
}

fn our_backup(
    handle: &tokio::runtime::Handle,
    repo: &Repository,
    kind: BackupType,
    source: &PostgresConnection,
) -> (f64, qcat_backup::Manifest) {
    let started = Instant::now();
    let mut writer = BackupWriter::start(repo, kind, "bench").unwrap();
    let record = postgres::backup(
        handle,
        &mut writer,
        "bench",
        "production",
        source,
        None,
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )
    .unwrap();
    writer.add_source(record);
    let manifest = writer.commit().unwrap();
    (started.elapsed().as_secs_f64(), manifest)
}

fn main() {
    let scale: u32 = std::env::args()
        .skip_while(|arg| arg != "--scale")
        .nth(1)
        .map_or(50, |text| text.parse().expect("--scale N"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let handle = runtime.handle().clone();
    let url = qcat_testkit::durable_database_url();
    let database = url.rsplit('/').next().unwrap().to_owned();
    println!("pgbench -i -s {scale} …");
    run(
        Command::new(qcat_testkit::postgres_program("pgbench")).args([
            "-i",
            "-q",
            "-s",
            &scale.to_string(),
            &url,
        ]),
    );
    psql(&url, "VACUUM ANALYZE");
    let work = tempfile_dir();
    let source = PostgresConnection::new(&url, None).unwrap();
    let master = qcat_secrets::MasterKey::generate();
    let repo = Repository::init(&work.join("repo"), &master).unwrap();

    // 1. Full backups. Each timed step starts after a CHECKPOINT, so none pays for the
    // dirty pages the step before it left (the cluster syncs to disk).
    // Timings on a durable cluster vary by a second from run to run (checkpoints, WAL):
    // ours and pg_dump alternate ROUNDS times and the medians are compared.
    let dump_file = work.join("db.dump");
    let mut ours_times = Vec::new();
    let mut pg_dump_times = Vec::new();
    let mut full = None;
    for _ in 0..ROUNDS {
        psql(&url, "CHECKPOINT");
        let (took, manifest) = our_backup(&handle, &repo, BackupType::Full, &source);
        ours_times.push(took);
        full.get_or_insert(manifest);
        psql(&url, "CHECKPOINT");
        let started = Instant::now();
        run(Command::new(qcat_testkit::postgres_program("pg_dump"))
            .args(["--format=custom", "-f"])
            .arg(&dump_file)
            .arg(&url));
        pg_dump_times.push(started.elapsed().as_secs_f64());
    }
    let full = full.expect("ROUNDS > 0");
    let ours_full = median(&mut ours_times);
    let pg_dump_fc = median(&mut pg_dump_times);
    let restic_repo = work.join("restic");
    run(restic(&restic_repo).arg("init"));
    psql(&url, "CHECKPOINT");
    let restic_full = restic_backup(&url, &restic_repo);
    let restic_after_full = dir_size(&restic_repo);
    println!(
        "\nfull backup of {:.0} MiB (pg_dump archive, uncompressed):",
        mib(full.stats.logical_bytes)
    );
    println!(
        "  ours            {ours_full:7.2} s, {:7.1} MiB stored   (median of {ROUNDS}: {})",
        mib(full.stats.stored_bytes),
        seconds(&ours_times)
    );
    println!(
        "  pg_dump -Fc     {pg_dump_fc:7.2} s, {:7.1} MiB file   → ours / pg_dump -Fc = {:.2}×   (median of {ROUNDS}: {})",
        mib(std::fs::metadata(&dump_file).unwrap().len()),
        ours_full / pg_dump_fc,
        seconds(&pg_dump_times)
    );
    println!(
        "  pg_dump | restic {restic_full:6.2} s, {:7.1} MiB repo   → ours / restic = {:.2}×",
        mib(restic_after_full),
        ours_full / restic_full
    );

    // 2. 1 % of the rows changed: together, then spread.
    let accounts = u64::from(scale) * 100_000;
    let mut restic_before = restic_after_full;
    for (what, predicate) in [
        ("together (aid ≤ 1 %)", format!("aid <= {}", accounts / 100)),
        ("spread (every 100th aid)", "aid % 100 = 7".to_owned()),
    ] {
        psql(
            &url,
            &format!("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE {predicate}"),
        );
        let (_, incr) = our_backup(&handle, &repo, BackupType::Incr, &source);
        restic_backup(&url, &restic_repo);
        let restic_now = dir_size(&restic_repo);
        let restic_added = restic_now - restic_before;
        restic_before = restic_now;
        println!("\n1 % of the rows updated, {what}:");
        println!(
            "  ours: incremental stores {:7.2} MiB = {:5.2} % of the full",
            mib(incr.stats.stored_bytes),
            incr.stats.stored_bytes as f64 / full.stats.stored_bytes as f64 * 100.0
        );
        println!(
            "  restic adds        {:7.2} MiB = {:5.2} % of its first backup   → ours / restic = {:.2}×",
            mib(restic_added),
            restic_added as f64 / restic_after_full as f64 * 100.0,
            incr.stats.stored_bytes as f64 / restic_added.max(1) as f64
        );
    }

    // 3. Restore with 2 parallel jobs, alternating, ROUNDS times; each copy dropped before
    // the next round.
    let admin = with_database(&url, "postgres");
    let mut ours_times = Vec::new();
    let mut stock_times = Vec::new();
    for round in 0..ROUNDS {
        let ours_name = format!("{database}_ours");
        let ours_target = PostgresConnection::new(&with_database(&url, &ours_name), None).unwrap();
        psql(&url, "CHECKPOINT");
        let started = Instant::now();
        // Where the time goes (first round): each phase printed with the second it began.
        let phases = {
            let last = std::sync::Mutex::new(String::new());
            Progress::new("bytes", move |report| {
                let mut last = last.lock().unwrap();
                if round == 0 && report.phase != *last {
                    println!(
                        "  {:6.2} s  {}",
                        started.elapsed().as_secs_f64(),
                        report.phase
                    );
                    *last = report.phase.clone();
                }
            })
        };
        if round == 0 {
            println!("\nour restore's phases:");
        }
        let report = postgres::restore(
            &handle,
            &repo,
            &full,
            "bench",
            &ours_target,
            Placement::New,
            2,
            None,
            &work.join("scratch"),
            &phases,
            &CancellationToken::new(),
        )
        .unwrap();
        ours_times.push(started.elapsed().as_secs_f64());
        assert!(report.passed(), "{report:?}");
        let stock_name = format!("{database}_stock");
        psql(&admin, &format!("CREATE DATABASE {stock_name}"));
        psql(&url, "CHECKPOINT");
        let started = Instant::now();
        run(Command::new(qcat_testkit::postgres_program("pg_restore"))
            .args(["--jobs=2", "-d", &with_database(&url, &stock_name)])
            .arg(&dump_file));
        stock_times.push(started.elapsed().as_secs_f64());
        psql(&admin, &format!("DROP DATABASE {ours_name}"));
        psql(&admin, &format!("DROP DATABASE {stock_name}"));
    }
    let ours_restore = median(&mut ours_times);
    let stock_restore = median(&mut stock_times);
    println!("\nrestore into a new database, 2 parallel jobs (medians of {ROUNDS}):");
    println!(
        "  ours (check + reassemble + load)       {ours_restore:6.2} s   ({})",
        seconds(&ours_times)
    );
    println!(
        "  pg_restore of the -Fc file            {stock_restore:6.2} s   → ours / pg_restore = {:.2}×   ({})",
        ours_restore / stock_restore,
        seconds(&stock_times)
    );

    // 4. Verify everything.
    let started = Instant::now();
    let verified = qcat_backup::verify::verify(
        &repo,
        &[],
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )
    .unwrap();
    let ours_verify = started.elapsed().as_secs_f64();
    assert!(verified.is_clean());
    let started = Instant::now();
    run(restic(&restic_repo).args(["check", "--read-data"]));
    let restic_check = started.elapsed().as_secs_f64();
    let restic_data = restic_before;
    println!("\nverify every chunk:");
    let ours_stored = repo.stored_bytes().unwrap();
    println!(
        "  ours                       {:7.1} MiB of repo  in {ours_verify:5.2} s = {:6.1} MiB/s of stored bytes ({:.1} MiB/s of chunk content)",
        mib(ours_stored),
        mib(ours_stored) / ours_verify,
        mib(verified.bytes) / ours_verify
    );
    println!(
        "  restic check --read-data   {:7.1} MiB of repo  in {restic_check:5.2} s = {:6.1} MiB/s of stored bytes   → ours / restic = {:.2}×",
        mib(restic_data),
        mib(restic_data) / restic_check,
        (mib(ours_stored) / ours_verify) / (mib(restic_data) / restic_check)
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// How many times each timed comparison runs.
const ROUNDS: usize = 3;

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn seconds(times: &[f64]) -> String {
    times
        .iter()
        .map(|t| format!("{t:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("qcat-bench-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
