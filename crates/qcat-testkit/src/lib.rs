//! Hermetic test fixtures shared by every crate's tests: a temporary data dir per test and a
//! real, throwaway PostgreSQL server per test process with a fresh database per test.
//!
//! When `TEST_POSTGRES_URL` names a server (as `scripts/test.sh` does, to start one cluster
//! for the whole run) databases are created there; otherwise the first test that asks starts
//! a private cluster with the system's PostgreSQL binaries, as the `postgres` user when run as
//! root (initdb refuses root), and a watchdog stops it when the test process exits.

mod keychain;
mod postgres;
mod redis;
mod robots;

pub use keychain::SecretService;
pub use postgres::{
    PASSWORD_CLUSTER_PASSWORD, PostgresServer, durable_database_url, postgres_program,
    test_database_url,
};
pub use redis::RedisServer;
pub use robots::{RobotCredentials, Robots};

/// A fresh, empty data dir that is deleted when dropped. Tests pass its path explicitly and
/// never resolve the user's real data dir.
pub fn temp_data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("qcat-test-data-")
        .tempdir()
        .expect("the system temp dir is writable")
}
