//! The outbox on both backends: an enqueued key is one row however often it is enqueued;
//! a due row is claimed by one sender at a time; a sender that dies mid-attempt leaves the
//! row claimable again once its claim runs out (at least once); retries are scheduled,
//! dead letters kept and queued again on request; a deposed leader's writes are refused.

use qcat_alert::outbox::{self, Fence, OutboxRow, OutboxState, Outcome};
use qcat_store::runtime::leases;

fn row(key: &str, due_ms: i64) -> OutboxRow {
    OutboxRow {
        key: key.into(),
        receiver: "desk".into(),
        integration: "dingtalk_configs[0]".into(),
        payload: "{}".into(),
        state: OutboxState::Queued,
        attempts: 0,
        due_ms,
        created_ms: due_ms,
        sent_ms: None,
        last_error: None,
    }
}

#[tokio::test]
async fn notifications_are_enqueued_once_claimed_once_and_never_lost() {
    qcat_store::testing::on_both_backends(|store| async move {
        let lease = leases::claim(&store, "delivery", "sender-1", 60_000, false)
            .await
            .unwrap()
            .expect("the duty is free");
        let fence = Fence {
            duty: "delivery",
            holder: "sender-1".into(),
            token: lease.token,
        };
        // The same key twice (a re-evaluation, a restart) is one notification.
        assert_eq!(
            outbox::enqueue(&store, &[row("n1", 1_000), row("n2", 1_000)])
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            outbox::enqueue(&store, &[row("n1", 1_000)]).await.unwrap(),
            0
        );

        // Claimed for an attempt: a second claim in the meantime gets nothing.
        let first = outbox::claim_due(&store, &fence, 2_000, 32_000, 10)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].attempts, 1);
        assert!(
            outbox::claim_due(&store, &fence, 3_000, 33_000, 10)
                .await
                .unwrap()
                .unwrap()
                .is_empty()
        );

        // n1 is sent; the sender dies before settling n2. Once its claim runs out, n2 is
        // claimed again (at least once).
        assert!(
            outbox::settle(&store, &fence, "n1", &Outcome::Sent, 4_000)
                .await
                .unwrap()
        );
        let again = outbox::claim_due(&store, &fence, 32_000, 62_000, 10)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            again.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            ["n2"]
        );
        assert_eq!(again[0].attempts, 2);

        // A failure is tried again when due; then it is a dead letter, kept with its error.
        outbox::settle(
            &store,
            &fence,
            "n2",
            &Outcome::Retry {
                due_ms: 40_000,
                error: "HTTP 503".into(),
            },
            33_000,
        )
        .await
        .unwrap();
        assert!(
            outbox::claim_due(&store, &fence, 39_000, 69_000, 10)
                .await
                .unwrap()
                .unwrap()
                .is_empty()
        );
        let due = outbox::claim_due(&store, &fence, 40_000, 70_000, 10)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(due.len(), 1);
        outbox::settle(
            &store,
            &fence,
            "n2",
            &Outcome::Dead {
                error: "sign not match".into(),
            },
            41_000,
        )
        .await
        .unwrap();
        let dead = outbox::list(&store, OutboxState::Dead, 10).await.unwrap();
        assert_eq!(dead[0].last_error.as_deref(), Some("sign not match"));
        assert_eq!(
            outbox::list(&store, OutboxState::Sent, 10).await.unwrap()[0].key,
            "n1"
        );

        // "Retry now" queues the dead letter again.
        assert!(outbox::retry_dead(&store, "n2", 50_000).await.unwrap());
        let retried = outbox::claim_due(&store, &fence, 50_000, 80_000, 10)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(retried[0].key, "n2");

        // Another process took the duty: the old holder's writes are refused.
        leases::release(&store, "delivery", "sender-1")
            .await
            .unwrap();
        leases::claim(&store, "delivery", "sender-2", 60_000, false)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !outbox::settle(&store, &fence, "n2", &Outcome::Sent, 51_000)
                .await
                .unwrap()
        );
        assert!(
            outbox::claim_due(&store, &fence, 90_000, 120_000, 10)
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}
