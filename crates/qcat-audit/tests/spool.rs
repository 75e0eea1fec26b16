//! The spool behind `async_mode`, on SQLite and PostgreSQL: a submitted event is in the
//! spool before `submit` returns, and events a dead process left there are stored exactly
//! once by the next writer.

use std::time::Duration;

use qcat_audit::query::{AuditFilter, count};
use qcat_audit::spool::{Spool, new_event_id};
use qcat_audit::verify::verify;
use qcat_audit::{AuditEvent, AuditWriter, Outcome, WriterOptions, chain};
use qcat_store::testing::on_both_backends;

fn event(n: usize) -> AuditEvent {
    let mut event = AuditEvent::new(
        "-",
        "access.denied",
        format!("command:c{n}"),
        "test:spool",
        Outcome::Denied,
    );
    event.id = Some(new_event_id());
    event
}

/// Never flushes by itself within a test: only a waiting caller or a flush writes.
fn slow() -> WriterOptions {
    WriterOptions {
        batch_timeout: Duration::from_secs(3600),
        ..WriterOptions::default()
    }
}

fn spooled_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .map(|path| std::fs::metadata(path).unwrap().len())
        .sum()
}

#[tokio::test]
async fn submit_returns_once_the_event_is_in_the_spool_and_storing_empties_it() {
    on_both_backends(|store| async move {
        let dir = qcat_testkit::temp_data_dir();
        let writer = AuditWriter::start(
            store.clone(),
            slow(),
            Some(Spool::open(dir.path()).unwrap()),
            &qcat_runtime::Tasks::default(),
        );
        writer.submit(event(1)).await.unwrap();
        // Not in the store yet (the batch waits), but already on disk.
        assert_eq!(count(&store, &AuditFilter::default()).await.unwrap(), 0);
        assert!(
            spooled_bytes(dir.path()) > 0,
            "the event is in the spool file"
        );
        writer.flush().await.unwrap();
        assert_eq!(count(&store, &AuditFilter::default()).await.unwrap(), 1);
        assert_eq!(
            spooled_bytes(dir.path()),
            0,
            "a stored event leaves the spool"
        );
    })
    .await;
}

#[tokio::test]
async fn a_dead_processes_spool_is_stored_once_by_the_next_writer() {
    on_both_backends(|store| async move {
        let dir = qcat_testkit::temp_data_dir();
        let events: Vec<AuditEvent> = (0..50).map(event).collect();
        {
            // The dead process: everything spooled, the first ten also stored (it was
            // killed after a batch committed but before the spool was told).
            let spool = Spool::open(dir.path()).unwrap();
            for event in &events {
                spool.append(event).unwrap();
            }
            let mut tx = store.pool().begin().await.unwrap();
            chain::append(&mut tx, &events[..10]).await.unwrap();
            tx.commit().await.unwrap();
            // Dropping the spool releases its lock, as the process's death would.
        }
        let writer = AuditWriter::start(
            store.clone(),
            slow(),
            Some(Spool::open(dir.path()).unwrap()),
            &qcat_runtime::Tasks::default(),
        );
        writer.flush().await.unwrap();
        assert_eq!(
            count(&store, &AuditFilter::default()).await.unwrap(),
            50,
            "every spooled event stored, none twice"
        );
        assert!(verify(&store).await.is_ok());
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left.len(),
            2,
            "only the new writer's lock and segment remain: {left:?}"
        );
    })
    .await;
}

#[test]
fn a_live_processes_spool_is_left_alone() {
    let dir = qcat_testkit::temp_data_dir();
    let live = Spool::open(dir.path()).unwrap();
    live.append(&event(1)).unwrap();
    let other = Spool::open(dir.path()).unwrap();
    assert!(
        other.orphans().unwrap().is_empty(),
        "a spool whose owner holds its lock is not an orphan"
    );
    drop(live);
    assert_eq!(other.orphans().unwrap().len(), 1);
}
