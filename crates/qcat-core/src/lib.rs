//! Foundations every QCAT crate shares and nothing else: the stable error-code table,
//! where the console keeps its data, and configuration. No I/O beyond reading config files
//! and the environment; no async runtime.

pub mod atomic_file;
pub mod config;
pub mod error;
pub mod paths;
pub mod private_files;
pub mod random;
pub mod redact;
pub mod secret;
pub mod text;
pub mod time;

pub use error::ErrorCode;

/// The product version, one value for the console, the CLI and the API.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
