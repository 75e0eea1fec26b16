//! The storage suite, run against both backends: the embedded SQLite file and a real
//! PostgreSQL server (started by qcat-testkit when `TEST_POSTGRES_URL` is not set).

use std::time::Duration;

use qcat_store::{Backend, Store, StoreError, StoreOptions, StoreTarget};

fn sqlite_target(dir: &tempfile::TempDir) -> StoreTarget {
    StoreTarget::Sqlite(dir.path().join("qcat.sqlite3"))
}

fn postgres_target() -> StoreTarget {
    StoreTarget::from_setting(&qcat_testkit::test_database_url(), "/unused".into())
        .expect("the test server URL is a postgres URL")
}

/// Runs `suite` once per backend, each on a fresh store.
async fn on_both_backends<F, Fut>(suite: F)
where
    F: Fn(StoreTarget) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = qcat_testkit::temp_data_dir();
    suite(sqlite_target(&dir)).await;
    suite(postgres_target()).await;
}

#[tokio::test]
async fn opening_creates_and_migrates_to_the_latest_schema() {
    on_both_backends(|target| async move {
        let store = Store::open(&target, &StoreOptions::default())
            .await
            .unwrap();
        // A fresh store must end at exactly the newest migration this build ships.
        let applied = store.schema_version().await.unwrap();
        assert!(applied >= 1, "{target:?}: at least the first migration ran");
        assert_eq!(applied, store.known_schema_version(), "{target:?}");
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_remigrate() {
    on_both_backends(|target| async move {
        let first = Store::open(&target, &StoreOptions::default())
            .await
            .unwrap();
        let id = first.installation_id().await.unwrap();
        first.close().await;
        // The installation id is written once; a second open that re-ran migrations or
        // re-created the row would change it.
        let second = Store::open(&target, &StoreOptions::default())
            .await
            .unwrap();
        assert_eq!(second.installation_id().await.unwrap(), id, "{target:?}");
        second.close().await;
    })
    .await;
}

#[tokio::test]
async fn health_reports_a_reachable_store() {
    on_both_backends(|target| async move {
        let store = Store::open(&target, &StoreOptions::default())
            .await
            .unwrap();
        let health = store.health(Duration::from_secs(5)).await;
        assert!(health.reachable, "{target:?}: {:?}", health.error);
        assert!(health.error.is_none());
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_store_from_a_newer_build_is_refused_with_a_clear_error() {
    on_both_backends(|target| async move {
        let store = Store::open(&target, &StoreOptions::default()).await.unwrap();
        // Simulate a newer console having applied a migration this build does not know.
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(9_999_i64)
        .bind("from the future")
        .bind(true)
        .bind(vec![0_u8; 48])
        .bind(1_i64)
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
        let err = Store::open(&target, &StoreOptions::default())
            .await
            .expect_err("a newer schema must not be opened by an older build");
        assert!(matches!(err, StoreError::SchemaTooNew { found: 9_999, .. }), "{err}");
        assert!(err.to_string().contains("upgrade"), "says the fix: {err}");
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_postgres_fails_fast_without_leaking_the_password() {
    // Port 9 on loopback: nothing listens there.
    let target =
        StoreTarget::from_setting("postgres://qcat:hunter2@127.0.0.1:9/qcat", "/unused".into())
            .unwrap();
    let options = StoreOptions {
        connect_timeout: Duration::from_secs(2),
        ..StoreOptions::default()
    };
    let err = Store::open(&target, &options).await.unwrap_err();
    assert_eq!(target.backend(), Backend::Postgres);
    assert_eq!(err.code(), qcat_core::ErrorCode::StorageUnavailable);
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(
        err.to_string().contains("127.0.0.1:9"),
        "names where it tried: {err}"
    );
}

#[tokio::test]
async fn the_sqlite_file_is_created_in_the_given_folder() {
    let dir = qcat_testkit::temp_data_dir();
    let target = sqlite_target(&dir);
    let store = Store::open(&target, &StoreOptions::default())
        .await
        .unwrap();
    assert!(dir.path().join("qcat.sqlite3").exists());
    assert_eq!(store.backend(), Backend::Sqlite);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_begun_to_write_waits_its_turn_instead_of_failing() {
    let dir = qcat_testkit::temp_data_dir();
    let store = Store::open(&sqlite_target(&dir), &StoreOptions::default())
        .await
        .unwrap();
    sqlx::query("CREATE TABLE counter (n BIGINT NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO counter (n) VALUES (0)")
        .execute(store.pool())
        .await
        .unwrap();
    let bump = async |store: &Store| {
        sqlx::query("UPDATE counter SET n = n + 1")
            .execute(store.pool())
            .await
    };

    // Why: a plain transaction that reads, sees another connection commit, then writes,
    // is refused at once — SQLite (WAL) cannot move its snapshot and does not wait.
    let mut reader = store.pool().begin().await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT n FROM counter")
        .fetch_one(&mut *reader)
        .await
        .unwrap();
    bump(&store).await.unwrap();
    let refused = sqlx::query("UPDATE counter SET n = n + 10")
        .execute(&mut *reader)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("locked"), "{refused}");
    drop(reader);

    // Begun to write, it holds the write lock from the start: the other writer waits for
    // its commit (busy_timeout) and both changes land.
    let mut writer = store.begin_write().await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT n FROM counter")
        .fetch_one(&mut *writer)
        .await
        .unwrap();
    let other = {
        let store = store.clone();
        tokio::spawn(async move { bump(&store).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query("UPDATE counter SET n = $1")
        .bind(seen + 10)
        .execute(&mut *writer)
        .await
        .unwrap();
    writer.commit().await.unwrap();
    other.await.unwrap().unwrap();
    let n: i64 = sqlx::query_scalar("SELECT n FROM counter")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        n,
        1 + 10 + 1,
        "the first bump, the writer's +10, the waiting bump"
    );
    store.close().await;
}
