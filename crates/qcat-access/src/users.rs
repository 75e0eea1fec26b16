//! Console users: names, argon2id password hashes, the enabled flag, last sign-in.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A user as shown (never with the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub enabled: bool,
    pub created_at_ms: i64,
    pub last_login_ms: Option<i64>,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserInputError {
    #[error(
        "username {0:?} is not valid: use 2 to 32 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
    )]
    Username(String),
    #[error("password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("display name is too long: use at most 100 characters")]
    DisplayName,
}

pub fn check_username(username: &str) -> Result<(), UserInputError> {
    let valid = (2..=32).contains(&username.len())
        && username
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(UserInputError::Username(username.to_owned()))
    }
}

pub fn check_password(password: &str) -> Result<(), UserInputError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(UserInputError::PasswordTooShort)
    } else {
        Ok(())
    }
}

pub fn check_display_name(display_name: &str) -> Result<(), UserInputError> {
    if display_name.chars().count() > 100 {
        Err(UserInputError::DisplayName)
    } else {
        Ok(())
    }
}

/// An argon2id PHC string (salted; the crate's recommended cost: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&qcat_core::random::bytes::<16>())
        .expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

/// Whether `password` matches `hash`. A malformed hash matches nothing.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of a random password, verified against when the username does not exist, so an
/// unknown name takes as long to refuse as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that matches nothing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify_only_the_right_password() {
        let one = hash_password("correct horse battery");
        let two = hash_password("correct horse battery");
        assert!(one.starts_with("$argon2id$"), "{one}");
        assert_ne!(one, two, "each hash has its own salt");
        assert!(verify_password(&one, "correct horse battery"));
        assert!(!verify_password(&one, "correct horse batterY"));
        assert!(!verify_password("not a hash", "anything"));
    }

    #[test]
    fn usernames_and_passwords_are_checked_with_the_fix_in_the_message() {
        assert!(check_username("alice").is_ok());
        assert!(check_username("ops.bot-2").is_ok());
        for bad in ["", "a", "Alice", "-alice", "al ice", &"a".repeat(33)] {
            let err = check_username(bad).unwrap_err();
            assert!(err.to_string().contains("2 to 32 characters"), "{bad:?}");
        }
        assert_eq!(
            check_password("short").unwrap_err(),
            UserInputError::PasswordTooShort
        );
        assert!(check_password("long enough!").is_ok());
    }
}
