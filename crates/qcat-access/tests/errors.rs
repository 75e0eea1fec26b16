//! Errors keep their cause (issue #8, finding 18): a programming error is `internal`, not a
//! storage outage; a store failure carries sqlx's error as its source, not a flattened
//! string; a wrong current password is wrong input, not a missing permission.

use std::time::Duration;

use qcat_access::control::{AccessControl, AccessError, AuthSettings};
use qcat_access::throttle::ThrottleSettings;
use qcat_audit::{AuditWriter, WriterOptions};
use qcat_core::ErrorCode;
use qcat_store::testing::on_both_backends;

fn settings() -> AuthSettings {
    AuthSettings {
        session_idle: Duration::from_secs(600),
        session_max: Duration::from_secs(3600),
        throttle: ThrottleSettings::uniform(5, Duration::from_secs(60), Duration::from_secs(60)),
    }
}

#[tokio::test]
async fn each_failure_keeps_its_kind_and_cause() {
    on_both_backends(|store| async move {
        // Refusals are stored before they are returned (no spool to fall back on).
        let options = WriterOptions {
            async_mode: false,
            ..WriterOptions::default()
        };
        let writer = AuditWriter::start(
            store.clone(),
            options,
            None,
            &qcat_runtime::Tasks::default(),
        );
        let access = AccessControl::open(
            store.clone(),
            writer,
            settings(),
            &qcat_runtime::Tasks::default(),
        )
        .await
        .unwrap();
        access
            .create_first_admin("root", "", "root password 1", "test")
            .await
            .unwrap();
        let (token, _) = access
            .login("root", "root password 1", "test", "test")
            .await
            .unwrap();
        // A command checking a permission the catalog lacks is a bug in the console.
        let err = access
            .authorize(Some(&token), Some("nope:nothing"), "made_up", "test")
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Internal, "{err}");
        assert!(err.to_string().contains("not in the catalog"), "{err}");
        // A store failure is a storage error whose source is the sqlx error itself.
        store.close().await;
        let err = access
            .login("root", "root password 1", "test", "test")
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::StorageUnavailable, "{err}");
        // Its refusal could not be audited either (the store is the trail): the caller is
        // told both, so nobody believes the refusal is on record.
        assert!(
            err.to_string()
                .contains("could not be written to the audit trail"),
            "{err}"
        );
        let AccessError::Unrecorded { refusal, .. } = &err else {
            panic!("{err:?}")
        };
        let cause = refusal.as_ref();
        let source = std::error::Error::source(cause).map(ToString::to_string);
        assert!(
            matches!(cause, AccessError::Storage(sqlx::Error::PoolClosed)),
            "{cause:?} (source {source:?})"
        );
    })
    .await;
}

#[tokio::test]
async fn throttle_rows_that_throttle_nothing_any_more_are_deleted() {
    // Issue #8, finding 15: every name tried left a row for ever.
    use qcat_access::throttle::{charge, clean_up, settle};
    on_both_backends(|store| async move {
        let settings =
            ThrottleSettings::uniform(100, Duration::from_secs(3), Duration::from_millis(100));
        for n in 0..20 {
            let attempt = charge(&store, &settings, Some(&format!("name{n}")), "test:place")
                .await
                .unwrap()
                .expect("far below the limits");
            settle(&store, &settings, attempt, false).await.unwrap();
        }
        let rows = || async {
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_throttle")
                .fetch_one(store.pool())
                .await
                .unwrap();
            count
        };
        assert_eq!(
            rows().await,
            41,
            "a pair and a user row per name, one for the place"
        );
        assert_eq!(
            clean_up(&store, &settings).await.unwrap(),
            0,
            "all still counting"
        );
        tokio::time::sleep(Duration::from_millis(3200)).await;
        assert_eq!(clean_up(&store, &settings).await.unwrap(), 41);
        assert_eq!(rows().await, 0);
        store.close().await;
    })
    .await;
}
