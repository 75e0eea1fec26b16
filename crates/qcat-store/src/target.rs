//! Which backend a store lives on, and how to reach it without leaking credentials.

use std::path::PathBuf;

use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to open the store.
#[derive(Clone)]
pub enum StoreTarget {
    /// The embedded default: a SQLite file, created if missing.
    Sqlite(PathBuf),
    /// Team mode: a `postgres://` (or `postgresql://`) URL, possibly with a password.
    Postgres(String),
}

impl std::fmt::Debug for StoreTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StoreTarget({}: {})",
            self.backend(),
            self.display_location()
        )
    }
}

impl StoreTarget {
    /// The target the `database.url` setting selects: empty means the SQLite file given.
    pub fn from_setting(url: &str, sqlite_file: PathBuf) -> Result<Self, StoreError> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(StoreTarget::Sqlite(sqlite_file));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url::Url::parse(url).map_err(|err| {
                StoreError::InvalidUrl(format!(
                    "{err}; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
                ))
            })?;
            return Ok(StoreTarget::Postgres(url.to_owned()));
        }
        Err(StoreError::InvalidUrl(
            "only postgres:// URLs are supported; leave it empty for the embedded SQLite store"
                .into(),
        ))
    }

    pub fn backend(&self) -> Backend {
        match self {
            StoreTarget::Sqlite(_) => Backend::Sqlite,
            StoreTarget::Postgres(_) => Backend::Postgres,
        }
    }

    /// A path, or the URL with any password replaced, suitable for logs and the UI.
    pub fn display_location(&self) -> String {
        match self {
            StoreTarget::Sqlite(path) => path.display().to_string(),
            StoreTarget::Postgres(url) => redact_url(url),
        }
    }

    pub(crate) fn connect_url(&self) -> Result<String, StoreError> {
        match self {
            StoreTarget::Sqlite(path) => Ok(SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .to_url_lossy()
                .to_string()),
            StoreTarget::Postgres(url) => Ok(url.clone()),
        }
    }
}

/// Drops the password (and any `password=` query parameter) from a URL.
fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<unparseable URL>".into();
    };
    if url.password().is_some() {
        let _ = url.set_password(None);
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| !key.eq_ignore_ascii_case("password"))
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    url.set_query(None);
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_setting_selects_the_embedded_file() {
        let target = StoreTarget::from_setting("  ", "/d/qcat.sqlite3".into()).unwrap();
        assert_eq!(target.backend(), Backend::Sqlite);
    }

    #[test]
    fn passwords_never_reach_the_display_location() {
        // The location is shown in the status bar, logs and errors.
        let target = StoreTarget::from_setting(
            "postgres://qcat:hunter2@db.local:5433/qcat?password=hunter3&sslmode=require",
            "/unused".into(),
        )
        .unwrap();
        let shown = target.display_location();
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(
            shown.contains("db.local:5433/qcat"),
            "keeps what helps diagnosis: {shown}"
        );
        assert!(!format!("{target:?}").contains("hunter2"));
    }

    #[test]
    fn other_schemes_are_refused_with_the_fix() {
        let err = StoreTarget::from_setting("mysql://h/db", "/unused".into())
            .unwrap_err()
            .to_string();
        assert!(err.contains("postgres://"), "{err}");
    }

    #[test]
    fn sqlite_paths_with_spaces_survive_the_url_round_trip() {
        // macOS puts app data under "Application Support".
        let target = StoreTarget::Sqlite("/Users/a/Application Support/q#1.sqlite3".into());
        let url = target.connect_url().unwrap();
        let back: SqliteConnectOptions = url.parse().expect("our own URL parses");
        assert_eq!(
            back.get_filename(),
            std::path::Path::new("/Users/a/Application Support/q#1.sqlite3")
        );
    }
}
