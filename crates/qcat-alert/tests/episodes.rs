//! Writing alert episodes on both backends: a post of many alerts, and a post that names
//! the same alert twice (Prometheus re-sending within one batch), keep one row per
//! episode with what was said last.

use qcat_alert::state::{self, Episode};

fn episode(n: usize, starts_ms: i64, ends_ms: i64) -> Episode {
    Episode {
        fingerprint: format!("fp-{n}"),
        source: "api".into(),
        labels: [("alertname".to_owned(), format!("Alert{n}"))].into(),
        annotations: [("summary".to_owned(), format!("ends {ends_ms}"))].into(),
        generator_url: String::new(),
        starts_ms,
        ends_ms: Some(ends_ms),
        updated_ms: starts_ms,
        flapping: false,
    }
}

#[tokio::test]
async fn a_large_post_and_a_repeated_alert_keep_one_row_each_with_the_last_word() {
    qcat_store::testing::on_both_backends(|store| async move {
        // More alerts than one statement carries, so the rows span statements.
        let mut post: Vec<Episode> = (0..450).map(|n| episode(n, 1_000, 50_000)).collect();
        // Alert 7 again a little later in the same post, renewed: the later end wins.
        // PostgreSQL refuses one statement that updates a row twice, so this also shows
        // the repeat is folded before it reaches the store.
        post.insert(9, episode(7, 1_000, 90_000));
        state::upsert_episodes(&store, &post).await.unwrap();

        let open = state::firing(&store, 2_000).await.unwrap();
        assert_eq!(open.len(), 450, "one row per fingerprint and start");
        let seven = open.iter().find(|e| e.fingerprint == "fp-7").unwrap();
        assert_eq!(seven.ends_ms, Some(90_000), "the later mention's end");
        assert_eq!(seven.annotations["summary"], "ends 90000");

        // A second post renews some of them: same rows, new ends.
        let renewal: Vec<Episode> = (0..10).map(|n| episode(n, 1_000, 120_000)).collect();
        state::upsert_episodes(&store, &renewal).await.unwrap();
        let open = state::firing(&store, 100_000).await.unwrap();
        assert_eq!(
            open.len(),
            10,
            "at 100 000 ms only the ten renewed episodes still fire"
        );
        assert!(open.iter().all(|e| e.ends_ms == Some(120_000)));
    })
    .await;
}
