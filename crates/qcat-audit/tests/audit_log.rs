//! The audit log in a real store, on SQLite and on PostgreSQL: the writer, the chain,
//! tampering of each kind, retention, queries and export.

use std::time::Duration;

use qcat_audit::query::{AuditFilter, ExportFormat, count, export, page};
use qcat_audit::retention::prune;
use qcat_audit::verify::{VerifyError, verify};
use qcat_audit::{AuditEvent, AuditWriter, Outcome, WriterOptions};
use qcat_store::Store;
use qcat_store::testing::on_both_backends;

fn event(n: usize) -> AuditEvent {
    AuditEvent::new(
        if n.is_multiple_of(2) { "alice" } else { "bob" },
        if n.is_multiple_of(3) {
            "rbac.role.grant"
        } else {
            "auth.login"
        },
        format!("role:r{n}"),
        "cli:test@host",
        if n.is_multiple_of(5) {
            Outcome::Denied
        } else {
            Outcome::Ok
        },
    )
    .change(
        Some(serde_json::json!({ "n": n })),
        Some(serde_json::json!({ "n": n + 1 })),
    )
}

async fn write(store: &Store, events: usize) {
    let writer = AuditWriter::start(
        store.clone(),
        WriterOptions::default(),
        None,
        &qcat_runtime::Tasks::default(),
    );
    for n in 1..=events {
        writer.submit(event(n)).await.unwrap();
    }
    writer.flush().await.unwrap();
}

fn broken_at(result: Result<qcat_audit::verify::Verified, VerifyError>) -> i64 {
    match result {
        Err(VerifyError::Broken(broken)) => broken.seq,
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[tokio::test]
async fn a_written_chain_verifies_and_keeps_every_event_in_order() {
    on_both_backends(|store| async move {
        write(&store, 250).await;
        let verified = verify(&store).await.unwrap();
        assert_eq!(verified.entries, 250, "every submitted event is in the log");
        assert_eq!(
            (verified.first_seq, verified.last_seq),
            (Some(1), Some(250))
        );
        let newest = page(&store, &AuditFilter::default(), None, 1)
            .await
            .unwrap();
        assert_eq!(
            newest[0].target, "role:r250",
            "submission order is chain order"
        );
    })
    .await;
}

#[tokio::test]
async fn record_returns_only_after_the_entry_is_durable_without_waiting_for_the_timeout() {
    on_both_backends(|store| async move {
        let writer = AuditWriter::start(
            store.clone(),
            WriterOptions {
                batch_timeout: Duration::from_secs(3600),
                ..WriterOptions::default()
            },
            None,
            &qcat_runtime::Tasks::default(),
        );
        // With an hour-long batch timeout this would hang if record waited for a full batch.
        let seq = tokio::time::timeout(Duration::from_secs(10), writer.record(event(1)))
            .await
            .expect("a waiting caller triggers the write")
            .unwrap();
        let stored = page(&store, &AuditFilter::default(), None, 10)
            .await
            .unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0].seq, seq,
            "the returned sequence number is the stored entry"
        );
    })
    .await;
}

#[tokio::test]
async fn a_changed_entry_is_named() {
    on_both_backends(|store| async move {
        write(&store, 20).await;
        sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 7")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(broken_at(verify(&store).await), 7);
    })
    .await;
}

#[tokio::test]
async fn a_changed_entry_with_a_recomputed_hash_is_named_by_its_successor() {
    on_both_backends(|store| async move {
        write(&store, 20).await;
        // A careful forger recomputes the row's own hash; the next row still points at
        // the old one.
        let mut entry = page(&store, &AuditFilter::default(), Some(8), 1)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(entry.seq, 7);
        entry.outcome = "ok".into();
        entry.detail = "nothing to see".into();
        let forged = qcat_audit::chain::entry_hash(&entry);
        sqlx::query("UPDATE audit_log SET detail = $1, hash = $2 WHERE seq = 7")
            .bind(&entry.detail)
            .bind(&forged)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(broken_at(verify(&store).await), 8);
    })
    .await;
}

#[tokio::test]
async fn a_deleted_entry_is_named() {
    on_both_backends(|store| async move {
        write(&store, 20).await;
        sqlx::query("DELETE FROM audit_log WHERE seq = 12")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(broken_at(verify(&store).await), 12);
        // Deleting the newest entries is caught by the chain's head.
        sqlx::query("DELETE FROM audit_log WHERE seq >= 12")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(broken_at(verify(&store).await), 12);
    })
    .await;
}

#[tokio::test]
async fn an_entry_slipped_in_after_the_head_is_named() {
    on_both_backends(|store| async move {
        write(&store, 5).await;
        // A copy of entry 5 as entry 6, without moving the chain's head.
        sqlx::query(
            "INSERT INTO audit_log (seq, at_ms, actor, action, target, source, result, detail, \
             before_json, after_json, prev_hash, hash) SELECT 6, at_ms, actor, action, target, \
             source, result, detail, before_json, after_json, hash, hash FROM audit_log WHERE seq = 5",
        )
        .execute(store.pool())
        .await
        .unwrap();
        assert_eq!(broken_at(verify(&store).await), 6);
    })
    .await;
}

#[tokio::test]
async fn reordered_entries_are_named() {
    on_both_backends(|store| async move {
        write(&store, 20).await;
        // Swap the contents of entries 4 and 5 (keeping each row's seq).
        for (from, to) in [(4, -1), (5, 4), (-1, 5)] {
            sqlx::query("UPDATE audit_log SET seq = $2 WHERE seq = $1")
                .bind(from)
                .bind(to)
                .execute(store.pool())
                .await
                .unwrap();
        }
        assert_eq!(broken_at(verify(&store).await), 4);
    })
    .await;
}

#[tokio::test]
async fn retention_leaves_a_chain_that_still_verifies_and_a_forged_cut_does_not() {
    on_both_backends(|store| async move {
        write(&store, 30).await;
        // Everything written so far is older than a cutoff in the future.
        let cutoff = qcat_audit::now_ms() + 1;
        let writer = AuditWriter::start(
            store.clone(),
            WriterOptions::default(),
            None,
            &qcat_runtime::Tasks::default(),
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        let marker = prune(&store, cutoff, "test").await.unwrap().unwrap();
        assert_eq!(marker.up_to_seq, 30);
        assert_eq!(marker.pruned, 30);
        writer.record(event(31)).await.unwrap();
        let verified = verify(&store).await.unwrap();
        assert_eq!(verified.checkpoint_seq, Some(30));
        assert_eq!(
            verified.entries, 2,
            "the pruning entry and the new one remain"
        );

        // Deleting the first kept entries and moving the checkpoint to match is caught: no
        // pruning entry in the chain confirms the forged checkpoint.
        write(&store, 5).await;
        let hash: String = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = 33")
            .fetch_one(store.pool())
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit_log WHERE seq <= 33")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, at_ms, pruned) VALUES (33, $1, 0, 3)",
        )
        .bind(hash)
        .execute(store.pool())
        .await
        .unwrap();
        assert_eq!(broken_at(verify(&store).await), 34);
    })
    .await;
}

#[tokio::test]
async fn queries_filter_page_and_count() {
    on_both_backends(|store| async move {
        write(&store, 300).await;
        let alice = AuditFilter {
            actor: Some("alice".into()),
            ..AuditFilter::default()
        };
        assert_eq!(count(&store, &alice).await.unwrap(), 150);
        // Paging newest-first with a keyset cursor visits every match exactly once.
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let entries = page(&store, &alice, before, 64).await.unwrap();
            let Some(last) = entries.last() else { break };
            before = Some(last.seq);
            seen.extend(entries.iter().map(|entry| entry.seq));
        }
        assert_eq!(seen.len(), 150);
        assert!(
            seen.windows(2).all(|pair| pair[0] > pair[1]),
            "newest first"
        );

        let denied_grants = AuditFilter {
            action: Some("rbac.*".into()),
            outcome: Some(Outcome::Denied),
            ..AuditFilter::default()
        };
        // Multiples of 15 up to 300.
        assert_eq!(count(&store, &denied_grants).await.unwrap(), 20);
        let target = AuditFilter {
            target: Some("r29".into()),
            ..AuditFilter::default()
        };
        // r29 and r290..r299.
        assert_eq!(count(&store, &target).await.unwrap(), 11);
        let underscore = AuditFilter {
            target: Some("role_".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            count(&store, &underscore).await.unwrap(),
            0,
            "_ in a filter is a literal underscore, not a wildcard"
        );
    })
    .await;
}

#[tokio::test]
async fn export_writes_every_matching_entry_as_csv_and_json() {
    on_both_backends(|store| async move {
        write(&store, 40).await;
        let mut csv = Vec::new();
        let written = export(&store, &AuditFilter::default(), ExportFormat::Csv, &mut csv)
            .await
            .unwrap();
        assert_eq!(written, 40);
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 40);
        assert_eq!(&rows[0][0], "1", "oldest first");
        assert_eq!(&rows[0][9], r#"{"n":2}"#, "after is the stored JSON");

        let mut json = Vec::new();
        export(
            &store,
            &AuditFilter::default(),
            ExportFormat::Json,
            &mut json,
        )
        .await
        .unwrap();
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&json).unwrap();
        assert_eq!(parsed.len(), 40);
        assert_eq!(parsed[39]["seq"], 40);
    })
    .await;
}

#[tokio::test]
async fn a_break_early_in_a_long_trail_or_a_cancel_ends_the_walk() {
    // The pages are read ahead into a channel of two; a walk that stops early (a break on
    // the first page, or a cancel) must not leave the reader waiting on a full channel.
    on_both_backends(|store| async move {
        let events: Vec<AuditEvent> = (1..=5_000).map(event).collect();
        for _ in 0..5 {
            let mut tx = store.pool().begin().await.unwrap();
            qcat_audit::chain::append(&mut tx, &events).await.unwrap();
            tx.commit().await.unwrap();
        }
        let cancel = qcat_runtime::CancellationToken::new();
        cancel.cancel();
        let cancelled = tokio::time::timeout(
            Duration::from_secs(30),
            qcat_audit::verify::verify_with(
                &store,
                &qcat_runtime::progress::Progress::silent("entries"),
                &cancel,
            ),
        )
        .await
        .expect("a cancelled walk ends");
        assert!(matches!(cancelled, Err(VerifyError::Cancelled { .. })));
        sqlx::query("UPDATE audit_log SET target = 'role:forged' WHERE seq = 2")
            .execute(store.pool())
            .await
            .unwrap();
        let broken = tokio::time::timeout(Duration::from_secs(30), verify(&store))
            .await
            .expect("a walk that finds a break ends");
        match broken {
            Err(VerifyError::Broken(broken)) => assert_eq!(broken.seq, 2),
            other => panic!("expected the break at entry 2: {other:?}"),
        }
        store.close().await;
    })
    .await;
}
