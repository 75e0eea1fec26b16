//! Credentials inside URLs, found and removed wherever a URL is shown (config views, store
//! locations, errors, logs). A PostgreSQL URL can carry a password in its user info and as
//! `?password=` (or `sslpassword=`); a Redis URL as `redis://:PASSWORD@host` or
//! `?password=`; a webhook URL as `?access_token=`, `?token=`, `?key=`.

/// Query parameters whose value is a credential (compared without case).
const SECRET_PARAMETERS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "sslpassword",
    "token",
    "access_token",
    "secret",
    "key",
    "api_key",
    "apikey",
    "auth",
    "sign",
];

const HIDDEN: &str = "redacted";

/// Whether `text` is written as a URL (`scheme://…`), credentials or not.
pub fn looks_like_url(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

fn is_secret_parameter(name: &str) -> bool {
    SECRET_PARAMETERS
        .iter()
        .any(|secret| secret.eq_ignore_ascii_case(name))
}

/// Whether the URL carries a password or a credential parameter. An unparseable URL counts,
/// since nobody can tell what it hides.
pub fn url_has_credential(text: &str) -> bool {
    match url::Url::parse(text) {
        Ok(url) => {
            url.password().is_some()
                || url
                    .query_pairs()
                    .any(|(name, _)| is_secret_parameter(&name))
        }
        Err(_) => true,
    }
}

/// The URL with its password and credential parameters replaced by `redacted`; a URL that
/// does not parse is not shown at all (its text could be anything).
pub fn url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return "<unparseable URL, not shown>".into();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some(HIDDEN));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_secret_parameter(&name) {
                    HIDDEN.to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.set_query(None);
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_credential_form_is_removed() {
        // Each of these is a way a PostgreSQL or Redis client accepts a password.
        let cases = [
            "postgres://qcat:hunter2@db:5432/qcat",
            "postgresql://qcat@db/qcat?password=hunter2&sslmode=require",
            "postgres://db/qcat?sslpassword=hunter2",
            "postgres://db/qcat?PassWord=hunter2",
            "redis://:hunter2@cache:6379/0",
            "rediss://default:hunter2@cache:6380",
            "redis://cache:6379/?password=hunter2",
            "https://oapi.dingtalk.com/robot/send?access_token=hunter2",
        ];
        for case in cases {
            let shown = url(case);
            assert!(!shown.contains("hunter2"), "{case} shown as {shown}");
            assert!(url_has_credential(case), "{case} carries a credential");
        }
        // What helps diagnosis stays.
        assert_eq!(
            url("postgresql://qcat@db/qcat?password=x&sslmode=require"),
            "postgresql://qcat@db/qcat?password=redacted&sslmode=require"
        );
        assert!(!url_has_credential("postgres://qcat@db:5432/qcat"));
        assert!(url_has_credential("postgres://qcat:pw@[bad"));
        assert_eq!(
            url("postgres://qcat:pw@[bad"),
            "<unparseable URL, not shown>"
        );
    }

    #[test]
    fn only_scheme_urls_look_like_urls() {
        assert!(looks_like_url("postgres://h/db"));
        assert!(looks_like_url("redis+unix:///tmp/r.sock"));
        assert!(!looks_like_url("127.0.0.1:6379"));
        assert!(!looks_like_url("a plain ://value"));
    }
}
