//! Test support (feature `testing`): one suite, run on both backends.

use crate::{Store, StoreOptions, StoreTarget};

/// Runs `suite` on a fresh SQLite file, then on a fresh database of the test PostgreSQL.
pub async fn on_both_backends<F, Fut>(suite: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = qcat_testkit::temp_data_dir();
    let sqlite = Store::open(
        &StoreTarget::Sqlite(dir.path().join("qcat.sqlite3")),
        &StoreOptions::default(),
    )
    .await
    .expect("a SQLite store opens in a temp dir");
    suite(sqlite.clone()).await;
    sqlite.close().await;
    let postgres = open_postgres().await;
    suite(postgres.clone()).await;
    postgres.close().await;
}

/// A store on a fresh database of the test PostgreSQL.
pub async fn open_postgres() -> Store {
    let url = qcat_testkit::test_database_url();
    Store::open(
        &StoreTarget::from_setting(&url, "unused".into()).expect("the test URL is valid"),
        &StoreOptions::default(),
    )
    .await
    .expect("the test PostgreSQL is reachable")
}
