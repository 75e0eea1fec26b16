//! The sources a backup reads and a restore writes.

pub mod files;
pub mod postgres;
pub mod redis;
