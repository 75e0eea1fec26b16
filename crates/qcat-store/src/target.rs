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

    /// How the data dir remembers this store ([`crate::identity`]): the file, or the
    /// server and database (never credentials).
    pub fn identity_key(&self) -> String {
        match self {
            StoreTarget::Sqlite(path) => format!("sqlite:{}", path.display()),
            StoreTarget::Postgres(url) => match url::Url::parse(url) {
                Ok(url) => format!(
                    "postgres://{}:{}{}",
                    url.host_str().unwrap_or(""),
                    url.port().unwrap_or(5432),
                    url.path()
                ),
                Err(_) => redact_url(url),
            },
        }
    }

    /// The URL sqlx connects with. The file is never created here (`Store::open` creates a
    /// new store's file itself, private); PostgreSQL sessions get the configured timeouts.
    pub(crate) fn connect_url(&self, options: &crate::StoreOptions) -> Result<String, StoreError> {
        match self {
            StoreTarget::Sqlite(path) => Ok(SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(false)
                .to_url_lossy()
                .to_string()),
            StoreTarget::Postgres(url) => {
                let mut url =
                    url::Url::parse(url).map_err(|err| StoreError::InvalidUrl(format!("{err}")))?;
                let settings = format!(
                    "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
                    crate::millis(options.statement_timeout),
                    crate::millis(options.lock_timeout),
                    crate::millis(options.idle_in_transaction_timeout),
                );
                // Settings the operator put in the URL's `options` come after ours and win.
                let theirs: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(key, value)| (key.into_owned(), value.into_owned()))
                    .collect();
                let existing = theirs
                    .iter()
                    .find(|(key, _)| key == "options")
                    .map(|(_, value)| value.clone());
                url.set_query(None);
                {
                    let mut query = url.query_pairs_mut();
                    for (key, value) in theirs.iter().filter(|(key, _)| key != "options") {
                        query.append_pair(key, value);
                    }
                    let options = match existing {
                        Some(existing) => format!("{settings} {existing}"),
                        None => settings,
                    };
                    query.append_pair("options", &options);
                }
                Ok(url.to_string())
            }
        }
    }
}

/// Every credential removed from a URL (one rule for the whole console).
fn redact_url(raw: &str) -> String {
    qcat_core::redact::url(raw)
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
        let url = target.connect_url(&crate::StoreOptions::default()).unwrap();
        let back: SqliteConnectOptions = url.parse().expect("our own URL parses");
        assert_eq!(
            back.get_filename(),
            std::path::Path::new("/Users/a/Application Support/q#1.sqlite3")
        );
    }
}
