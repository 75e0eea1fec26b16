//! Backups for QCAT Console.
//!
//! - [`repo`]: the repository folder (docs/backup-format.md): keys wrapped by the master key,
//!   packs of sealed zstd chunks, encrypted manifests published atomically, the lock,
//!   garbage collection.
//! - [`backup`]: writing a backup — FastCDC chunks named by a keyed hash, new chunks
//!   compressed and sealed on every core, full / diff / incr chains with pgBackRest's
//!   semantics.
//! - [`restore`]: streams reassembled and checked chunk by chunk.
//! - [`verify`]: every chunk authenticated and hashed; damage named with the backups it hurts.
//! - [`sources`]: what is backed up and restored (PostgreSQL through pg_dump / pg_restore;
//!   Redis key by key as RESP `RESTORE` commands).

pub mod backup;
pub mod error;
pub mod expire;
pub mod repo;
pub mod restore;
pub mod sources;
pub mod verify;

pub use backup::{BackupWriter, Chain};
pub use error::BackupError;
pub use repo::Repository;
pub use repo::manifest::{BackupType, Manifest};
