//! Rotation, compression, retention and the JSON line format, on real files.

use std::io::Write;
use std::time::{Duration, SystemTime};

use qcat_logging::json::JsonLayer;
use qcat_logging::reader::{LogFilter, list_files, read_lines};
use qcat_logging::{RotatingFile, RotationPolicy};
use tracing_subscriber::layer::SubscriberExt;

fn policy(max_bytes: u64, max_backups: usize) -> RotationPolicy {
    RotationPolicy {
        max_bytes,
        max_backups,
        max_age: Duration::from_secs(30 * 86_400),
        compress: true,
        daily: true,
    }
}

#[test]
fn writing_past_max_size_rotates_and_compresses() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = RotatingFile::open(dir.path(), policy(1_000, 10)).unwrap();
    let line = format!("{}\n", "x".repeat(99)); // 100 bytes
    for _ in 0..25 {
        file.write_all(line.as_bytes()).unwrap();
    }
    file.wait_for_maintenance();
    let files = list_files(dir.path());
    let rotated: Vec<_> = files.iter().filter(|f| !f.current).collect();
    // 2500 bytes at 1000 per file: two full files rotated, the rest in the current one.
    assert_eq!(rotated.len(), 2, "{files:?}");
    assert!(
        rotated
            .iter()
            .all(|f| f.compressed && f.name.ends_with(".log.gz"))
    );
    let current = files.iter().find(|f| f.current).unwrap();
    assert!(
        current.bytes <= 1_000,
        "the current file never passes max_size"
    );
    // Every line survives rotation and compression.
    let total: usize = files
        .iter()
        .map(|f| {
            read_lines(dir.path(), &f.name, &LogFilter::default(), usize::MAX)
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(total, 25);
}

#[test]
fn max_backups_prunes_the_oldest_rotated_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = RotatingFile::open(dir.path(), policy(100, 3)).unwrap();
    for index in 0..10 {
        writeln!(file, "{index:0>99}").unwrap();
        file.rotate().unwrap();
    }
    file.wait_for_maintenance();
    let rotated: Vec<_> = list_files(dir.path())
        .into_iter()
        .filter(|f| !f.current)
        .collect();
    assert_eq!(rotated.len(), 3, "{rotated:?}");
    // The newest survive: the last rotated file holds line 9.
    let lines = read_lines(dir.path(), &rotated[0].name, &LogFilter::default(), 10).unwrap();
    assert!(lines[0].message.starts_with("0000"), "{:?}", lines[0]);
    assert!(lines[0].message.ends_with('9'));
}

#[test]
fn max_age_prunes_old_rotated_files() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("qcat-20200101T000000.000Z.log.gz");
    std::fs::write(&old, b"").unwrap();
    let a_year_ago = SystemTime::now() - Duration::from_secs(365 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(a_year_ago)
        .unwrap();
    let mut file = RotatingFile::open(dir.path(), policy(1_000_000, 10)).unwrap();
    writeln!(file, "fresh").unwrap();
    file.rotate().unwrap();
    file.wait_for_maintenance();
    assert!(!old.exists(), "a file older than max_age is deleted");
    assert_eq!(
        list_files(dir.path()).iter().filter(|f| !f.current).count(),
        1
    );
}

#[test]
fn events_are_json_lines_with_span_context_and_error_backtraces() {
    let dir = tempfile::tempdir().unwrap();
    let file = RotatingFile::open(dir.path(), policy(10_000_000, 10)).unwrap();
    let writer = file.clone();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(move || writer.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("backup_job", job_id = 42, kind = "full");
        let _entered = span.enter();
        tracing::info!(chunks = 7, "chunk written");
        tracing::error!(error = "disk full", "backup failed");
    });
    let lines = read_lines(dir.path(), "qcat.log", &LogFilter::default(), 10).unwrap();
    assert_eq!(lines.len(), 2);
    let info = &lines[0].raw;
    assert_eq!(info["level"], "INFO");
    assert_eq!(info["message"], "chunk written");
    assert_eq!(info["fields"]["chunks"], 7);
    assert_eq!(info["spans"][0]["name"], "backup_job");
    assert_eq!(info["spans"][0]["fields"]["job_id"], 42);
    assert!(
        info.get("backtrace").is_none(),
        "only errors carry a backtrace"
    );
    let error = &lines[1].raw;
    assert_eq!(
        error["spans"][0]["fields"]["kind"], "full",
        "errors keep the span context"
    );
    assert!(
        error["backtrace"].as_str().unwrap().contains("logging"),
        "{}",
        error["backtrace"]
    );
}

#[test]
fn the_reader_filters_by_level_target_and_text_and_refuses_other_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = RotatingFile::open(dir.path(), policy(10_000_000, 10)).unwrap();
    let writer = file.clone();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(move || writer.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!(target: "qcat_store", "pool opened");
        tracing::warn!(target: "qcat_alert", "DingTalk over budget");
        tracing::error!(target: "qcat_alert", "SMTP refused");
    });
    let read = |filter: LogFilter| {
        read_lines(dir.path(), "qcat.log", &filter, 100)
            .unwrap()
            .into_iter()
            .map(|line| line.message)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        read(LogFilter {
            min_level: Some("warn".into()),
            ..LogFilter::default()
        }),
        vec!["DingTalk over budget", "SMTP refused"]
    );
    assert_eq!(
        read(LogFilter {
            target: Some("qcat_store".into()),
            ..LogFilter::default()
        }),
        vec!["pool opened"]
    );
    assert_eq!(
        read(LogFilter {
            text: Some("smtp".into()),
            ..LogFilter::default()
        }),
        vec!["SMTP refused"]
    );
    assert!(read_lines(dir.path(), "../../etc/passwd", &LogFilter::default(), 10).is_err());
}
