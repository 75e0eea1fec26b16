//! Change counters on both backends: a conditional bump refuses a stale writer, and a
//! watcher sees a committed bump.

use std::time::Duration;

use qcat_store::changes::{bump, bump_from};
use qcat_store::{Store, StoreOptions, StoreTarget};

async fn stores() -> (tempfile::TempDir, Vec<Store>) {
    let dir = qcat_testkit::temp_data_dir();
    let sqlite = Store::open(
        &StoreTarget::Sqlite(dir.path().join("qcat.sqlite3")),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    let postgres = Store::open(
        &StoreTarget::from_setting(&qcat_testkit::test_database_url(), "unused".into()).unwrap(),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    (dir, vec![sqlite, postgres])
}

#[tokio::test]
async fn a_conditional_bump_refuses_a_writer_that_read_an_old_version() {
    let (_dir, stores) = stores().await;
    for store in stores {
        let backend = store.backend();
        let mut tx = store.pool().begin().await.unwrap();
        assert!(
            bump_from(&mut tx, backend, "things", 0).await.unwrap(),
            "first writer"
        );
        tx.commit().await.unwrap();
        // A second writer that decided on version 0 is too late.
        let mut tx = store.pool().begin().await.unwrap();
        assert!(
            !bump_from(&mut tx, backend, "things", 0).await.unwrap(),
            "{backend}"
        );
        drop(tx);
        assert_eq!(store.change_version("things").await.unwrap(), 1);
        let mut tx = store.pool().begin().await.unwrap();
        assert!(bump_from(&mut tx, backend, "things", 1).await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(store.change_version("things").await.unwrap(), 2);
        store.close().await;
    }
}

#[tokio::test]
async fn a_watcher_sees_a_committed_bump_and_not_a_rolled_back_one() {
    let (_dir, stores) = stores().await;
    for store in stores {
        let (mut watcher, follower) = store.follow(&["things"]).await.unwrap();
        let follower = tokio::spawn(follower);
        let mut tx = store.pool().begin().await.unwrap();
        bump(&mut tx, store.backend(), "things").await.unwrap();
        drop(tx); // rolled back
        let mut tx = store.pool().begin().await.unwrap();
        bump(&mut tx, store.backend(), "things").await.unwrap();
        tx.commit().await.unwrap();
        tokio::time::timeout(Duration::from_secs(1), watcher.changed())
            .await
            .expect("seen within a second")
            .unwrap();
        assert_eq!(watcher.borrow()[0], 1, "only the committed bump counts");
        drop(watcher);
        follower.abort();
        store.close().await;
    }
}
