//! Secrets for QCAT Console.
//!
//! - [`cipher`]: `ENC:v1:<key-id>:<base64(nonce ‖ ciphertext ‖ tag)>`, AES-256-GCM with a
//!   random 96-bit nonce and the config key path as associated data, so a value cannot be
//!   moved to another key.
//! - [`keys`]: the 256-bit master key: from `QCAT_MASTER_KEY_FILE` (refused unless 0600),
//!   `QCAT_MASTER_KEY`, or the OS keychain, where it is created on first use. Keys are kept
//!   by id, so a value encrypted under an older key still decrypts during a rotation.
//! - [`named`]: named secrets (`secret:smtp_password`) in the keychain, or in an encrypted
//!   file next to the key file on servers without one.
//! - [`rotate`]: key rotation that re-encrypts every `ENC:` value of the user's config file.

pub mod cipher;
pub mod keys;
pub mod named;
pub mod rotate;

pub use cipher::{CipherError, MasterKey};
pub use keys::{KeySource, Keyring, KeyringError};

/// The keychain service name every entry of the console lives under.
pub const KEYCHAIN_SERVICE: &str = "qcat-console";
