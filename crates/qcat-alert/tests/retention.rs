//! Pruning the alert history on both backends: what ended before the cutoff goes, what is
//! still firing, still queued or still in force stays whatever its age.

use qcat_alert::outbox::{self, Fence, OutboxRow, OutboxState, Outcome};
use qcat_alert::retention;
use qcat_alert::state::{self, Episode, NflogEntry, Recorded, StoredSilence};
use qcat_audit::{AuditEvent, Outcome as AuditOutcome};
use qcat_store::runtime::leases;

const DAY_MS: i64 = 86_400_000;
/// "Now" in this test: far enough from 0 for 90 days of history before it.
const NOW: i64 = 200 * DAY_MS;
const CUTOFF: i64 = NOW - 90 * DAY_MS;

fn episode(name: &str, starts_ms: i64, ends_ms: Option<i64>) -> Episode {
    Episode {
        fingerprint: format!("fp-{name}"),
        source: "api".into(),
        labels: [("alertname".to_owned(), name.to_owned())].into(),
        annotations: Default::default(),
        generator_url: String::new(),
        starts_ms,
        ends_ms,
        updated_ms: ends_ms.unwrap_or(starts_ms),
        flapping: false,
    }
}

fn notification(key: &str, created_ms: i64) -> OutboxRow {
    OutboxRow {
        key: key.into(),
        receiver: "desk".into(),
        integration: "webhook_configs[0]".into(),
        payload: "{}".into(),
        state: OutboxState::Queued,
        attempts: 0,
        due_ms: created_ms,
        created_ms,
        sent_ms: None,
        last_error: None,
    }
}

fn silence(id: &str, starts_ms: i64, ends_ms: i64) -> StoredSilence {
    StoredSilence {
        id: id.into(),
        matchers: "alertname=\"x\"".into(),
        starts_ms,
        ends_ms,
        created_by: "ops".into(),
        comment: "maintenance".into(),
        created_ms: starts_ms,
    }
}

fn told(group: &str, notified_ms: i64) -> Recorded {
    Recorded {
        receiver: "desk".into(),
        group_key: group.into(),
        entry: NflogEntry {
            digest: "d".into(),
            firing: vec![],
            seq: notified_ms,
            notified_ms,
        },
        rows: vec![],
    }
}

#[tokio::test]
async fn history_older_than_the_retention_is_forgotten_and_nothing_unsaid_is() {
    qcat_store::testing::on_both_backends(|store| async move {
        let lease = leases::claim(&store, "alerting", "node-1", 60_000, false)
            .await
            .unwrap()
            .expect("the duty is free");
        let fence = Fence {
            duty: "alerting",
            holder: "node-1".into(),
            token: lease.token,
        };
        let old = CUTOFF - DAY_MS;
        let recent = CUTOFF + DAY_MS;

        state::upsert_episodes(
            &store,
            &[
                episode("old-resolved", old - DAY_MS, Some(old)),
                // Started long ago and firing still: the firing list needs it.
                episode("old-firing", old - DAY_MS, None),
                // Started before the cutoff, resolved after it: history inside the window.
                episode("long-resolved", old, Some(recent)),
            ],
        )
        .await
        .unwrap();

        outbox::enqueue(
            &store,
            &[
                notification("old-sent", old),
                notification("old-dead", old),
                notification("old-queued", old),
                notification("recent-sent", recent),
            ],
        )
        .await
        .unwrap();
        outbox::claim_due(&store, &fence, recent, recent + 30_000, 10)
            .await
            .unwrap()
            .unwrap();
        for (key, outcome) in [
            ("old-sent", Outcome::Sent),
            (
                "old-dead",
                Outcome::Dead {
                    error: "HTTP 400".into(),
                },
            ),
            (
                "old-queued",
                Outcome::Retry {
                    due_ms: NOW,
                    error: "HTTP 503".into(),
                },
            ),
            ("recent-sent", Outcome::Sent),
        ] {
            assert!(
                outbox::settle(&store, &fence, key, &outcome, recent)
                    .await
                    .unwrap()
            );
        }

        for stored in [
            silence("ended-long-ago", old - DAY_MS, old),
            // Made before the cutoff for a long maintenance that is still on.
            silence("still-on", old, NOW + DAY_MS),
        ] {
            let event =
                AuditEvent::new("ops", "alert.silence", &stored.id, "test", AuditOutcome::Ok);
            state::add_silence(&store, &stored, event).await.unwrap();
        }

        assert!(
            state::record_notifications(
                &store,
                &fence,
                &[told("g-old", old), told("g-recent", recent)]
            )
            .await
            .unwrap()
        );

        let pruned = retention::prune(&store, CUTOFF).await.unwrap();
        // One of each kind ended before the cutoff (two notifications: sent and dead).
        assert_eq!(
            pruned,
            retention::Pruned {
                episodes: 1,
                notifications: 2,
                silences: 1,
                nflog: 1,
            }
        );

        let history: Vec<String> = state::history(&store, 0, NOW, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.labels["alertname"].clone())
            .collect();
        assert!(!history.contains(&"old-resolved".to_owned()), "{history:?}");
        assert!(history.contains(&"long-resolved".to_owned()), "{history:?}");
        let firing = state::firing(&store, NOW).await.unwrap();
        assert_eq!(firing.len(), 1, "the old alert still firing is kept");

        let mut kept: Vec<String> = outbox::recent(&store, 0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.key)
            .collect();
        kept.sort();
        // A queued notification is never forgotten, however old: it is still to be said.
        assert_eq!(kept, ["old-queued", "recent-sent"]);

        let silences: Vec<String> = state::silences(&store, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(silences, ["still-on"]);

        let log = state::nflogs(
            &store,
            &[
                ("desk".to_owned(), "g-old".to_owned()),
                ("desk".to_owned(), "g-recent".to_owned()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(log.len(), 1);
        assert!(log.contains_key(&("desk".to_owned(), "g-recent".to_owned())));

        // Pruning again finds nothing more.
        assert_eq!(retention::prune(&store, CUTOFF).await.unwrap().total(), 0);
    })
    .await;
}
