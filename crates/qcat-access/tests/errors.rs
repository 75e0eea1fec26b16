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
        let writer = AuditWriter::start(store.clone(), WriterOptions::default(), None);
        let access = AccessControl::open(store.clone(), writer, settings())
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
        let cause = match &err {
            AccessError::Unrecorded { refusal, .. } => refusal.as_ref(),
            other => other,
        };
        let source = std::error::Error::source(cause).map(ToString::to_string);
        assert!(
            matches!(cause, AccessError::Storage(sqlx::Error::PoolClosed)),
            "{cause:?} (source {source:?})"
        );
    })
    .await;
}
