//! The store side of the runtime shared by consoles and agents: who is running
//! ([`members`]), who holds each singleton duty ([`leases`]), long actions and their
//! progress ([`jobs`]) and schedules with their runs ([`schedules`]).
//!
//! Times that several hosts compare (lease expiry) come from the store's clock, so a
//! console whose clock is wrong cannot steal or keep a duty.

pub mod jobs;
pub mod leases;
pub mod members;
pub mod schedules;

use crate::{Backend, Store, StoreError};

/// The change-counter topic bumped when a job starts or ends.
pub const JOBS_TOPIC: &str = "jobs";
/// The change-counter topic bumped when a duty changes hands.
pub const DUTIES_TOPIC: &str = "duties";

/// SQL for "now in ms since the epoch" on the store's clock.
pub(crate) fn now_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    }
}

impl Store {
    /// The store's clock (ms since the epoch): the one clock every member agrees on.
    pub async fn clock_ms(&self) -> Result<i64, StoreError> {
        let sql = format!("SELECT {}", now_sql(self.backend()));
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(self.pool())
            .await?)
    }
}
