//! Console users: names, argon2id password hashes, the enabled flag, last sign-in.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted: far beyond any passphrase, far below what would let a caller
/// make the console hash megabytes per attempt.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest display name accepted.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

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
    #[error("password is too long: use at most {MAX_PASSWORD_CHARS} characters")]
    PasswordTooLong,
    #[error(
        "password is only spaces: use at least {MIN_PASSWORD_CHARS} characters that are not all blank"
    )]
    PasswordBlank,
    #[error(
        "password contains a control character (such as NUL, a tab or a line break): use printable characters only"
    )]
    PasswordControl,
    #[error(
        "display name is not valid: use at most {MAX_DISPLAY_NAME_CHARS} printable characters (no control characters or line breaks)"
    )]
    DisplayName,
    #[error(
        "description is not valid: use at most 200 printable characters (no line breaks or control characters)"
    )]
    RoleDescription,
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
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(UserInputError::PasswordTooShort)
    } else if chars > MAX_PASSWORD_CHARS {
        Err(UserInputError::PasswordTooLong)
    } else if password.chars().any(char::is_control) {
        Err(UserInputError::PasswordControl)
    } else if password.trim().is_empty() {
        Err(UserInputError::PasswordBlank)
    } else {
        Ok(())
    }
}

pub fn check_display_name(display_name: &str) -> Result<(), UserInputError> {
    if display_name.chars().count() > MAX_DISPLAY_NAME_CHARS
        || qcat_core::text::has_control(display_name)
    {
        Err(UserInputError::DisplayName)
    } else {
        Ok(())
    }
}

/// Whether a sign-in password could be one this console accepted: longer ones are refused
/// without hashing, so nobody can make every attempt cost megabytes of work.
pub fn plausible_password(password: &str) -> bool {
    password.len() <= MAX_PASSWORD_CHARS * 4
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

/// An argon2id hash with the same parameters as every stored hash, verified against when
/// the username does not exist, so an unknown name costs exactly what a wrong password does.
/// A constant: built on first use it would make each process's first unknown name cost a
/// hash more than a known one (a test checks its parameters match [`hash_password`]'s).
pub const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$cWNhdC1kZWNveS1zYWx0IQ$Hovq6yagfDjckp/Ey1v4KMsB2EKK3JwPnHojYAkiTz0";

/// [`hash_password`] off the async workers (argon2 takes tens of milliseconds by design).
pub async fn hash_password_blocking(password: &str) -> Result<String, tokio::task::JoinError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password)).await
}

/// [`verify_password`] off the async workers.
pub async fn verify_password_blocking(
    hash: String,
    password: &str,
) -> Result<bool, tokio::task::JoinError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || verify_password(&hash, &password)).await
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
        // Ten blanks or ten NULs are ten characters, and no password.
        assert_eq!(
            check_password(&" ".repeat(10)).unwrap_err(),
            UserInputError::PasswordBlank
        );
        assert_eq!(
            check_password(&"\0".repeat(10)).unwrap_err(),
            UserInputError::PasswordControl
        );
        assert_eq!(
            check_password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).unwrap_err(),
            UserInputError::PasswordTooLong
        );
        assert!(check_password(&"é".repeat(MAX_PASSWORD_CHARS)).is_ok());
        assert!(check_display_name("Rita \u{1b}[2J").is_err());
    }

    #[test]
    fn the_decoy_hash_costs_what_a_stored_hash_costs() {
        // Same algorithm, version and cost parameters as hash_password, or an unknown name
        // would be refused faster (or slower) than a wrong password.
        let stored = hash_password("some password");
        let params = |hash: &str| {
            let parsed = PasswordHash::new(hash).unwrap();
            (
                parsed.algorithm.to_string(),
                parsed.version,
                parsed.params.to_string(),
            )
        };
        assert_eq!(params(DECOY_HASH), params(&stored));
        assert!(!verify_password(DECOY_HASH, "some password"));
    }
}
