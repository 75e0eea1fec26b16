//! Series identity and selection: a series is a metric name and its labels
//! (`pg_connections{state="active",target="db1"}`, labels sorted); a selector is a name and
//! label matchers with Prometheus' operators (`=`, `!=`, and fully anchored `=~`, `!~`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A series' identity. Its [`SeriesKey::canonical`] text is the key it is stored under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl SeriesKey {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            labels: BTreeMap::new(),
        }
    }

    pub fn with(mut self, label: &str, value: impl Into<String>) -> Self {
        self.labels.insert(label.to_owned(), value.into());
        self
    }

    /// `name{a="x",b="y"}` with Prometheus' escapes; the name alone without labels.
    pub fn canonical(&self) -> String {
        let mut text = self.name.clone();
        if self.labels.is_empty() {
            return text;
        }
        text.push('{');
        for (at, (label, value)) in self.labels.iter().enumerate() {
            if at > 0 {
                text.push(',');
            }
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = write!(text, "{label}=\"{escaped}\"");
        }
        text.push('}');
        text
    }
}

#[derive(Debug, Clone)]
pub enum MatchOp {
    Equal(String),
    NotEqual(String),
    Regex(regex::Regex),
    NotRegex(regex::Regex),
}

impl MatchOp {
    fn matches(&self, value: &str) -> bool {
        match self {
            MatchOp::Equal(want) => value == want,
            MatchOp::NotEqual(want) => value != want,
            MatchOp::Regex(regex) => regex.is_match(value),
            MatchOp::NotRegex(regex) => !regex.is_match(value),
        }
    }
}

/// Which series a query reads: a metric name and label matchers. A missing label matches
/// as the empty string, as in Prometheus.
#[derive(Debug, Clone)]
pub struct Selector {
    pub name: String,
    pub matchers: Vec<(String, MatchOp)>,
}

impl Selector {
    pub fn name(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            matchers: Vec::new(),
        }
    }

    pub fn equal(mut self, label: &str, value: impl Into<String>) -> Self {
        self.matchers
            .push((label.to_owned(), MatchOp::Equal(value.into())));
        self
    }

    pub fn matches(&self, key: &SeriesKey) -> bool {
        key.name == self.name
            && self.matchers.iter().all(|(label, op)| {
                op.matches(key.labels.get(label).map(String::as_str).unwrap_or(""))
            })
    }

    /// Parses `name`, `name{label="value",…}` with `=`, `!=`, `=~`, `!~`.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let text = text.trim();
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(text.len());
        let name = &text[..name_end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "`{text}` must start with a metric name, e.g. app_requests_total or \
                 pg_connections{{state=\"active\"}}"
            ));
        }
        let mut selector = Selector::name(name);
        let mut rest = text[name_end..].trim_start();
        if rest.is_empty() {
            return Ok(selector);
        }
        rest = rest.strip_prefix('{').ok_or_else(|| {
            format!("after the name `{name}` only `{{label=\"value\"}}` may follow")
        })?;
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                if !after.trim().is_empty() {
                    return Err(format!("unexpected `{}` after the matchers", after.trim()));
                }
                return Ok(selector);
            }
            let label_end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let label = &rest[..label_end];
            if label.is_empty() {
                return Err(format!("expected a label name in `{text}`"));
            }
            rest = rest[label_end..].trim_start();
            let (op, after) = ["=~", "!~", "!=", "="]
                .iter()
                .find_map(|op| rest.strip_prefix(op).map(|after| (*op, after)))
                .ok_or_else(|| format!("label {label}: expected =, !=, =~ or !~"))?;
            let after = after
                .trim_start()
                .strip_prefix('"')
                .ok_or_else(|| format!("label {label}: the value must be in double quotes"))?;
            let close = find_closing_quote(after)
                .ok_or_else(|| format!("label {label}: the value's closing quote is missing"))?;
            let value = after[..close].replace("\\\"", "\"").replace("\\\\", "\\");
            rest = after[close + 1..].trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest);
            let anchored = |value: &str| {
                regex::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|err| format!("label {label}: the regex does not compile: {err}"))
            };
            let op = match op {
                "=" => MatchOp::Equal(value),
                "!=" => MatchOp::NotEqual(value),
                "=~" => MatchOp::Regex(anchored(&value)?),
                _ => MatchOp::NotRegex(anchored(&value)?),
            };
            selector.matchers.push((label.to_owned(), op));
        }
    }
}

fn find_closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(at),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keys_sort_and_escape_labels() {
        let key = SeriesKey::new("m").with("z", "1").with("a", "say \"hi\"\n");
        assert_eq!(key.canonical(), "m{a=\"say \\\"hi\\\"\\n\",z=\"1\"}");
        assert_eq!(SeriesKey::new("up").canonical(), "up");
    }

    #[test]
    fn selectors_match_like_prometheus() {
        let key = SeriesKey::new("http_requests_total")
            .with("code", "500")
            .with("path", "/order/submit");
        let cases = [
            ("http_requests_total", true),
            ("http_requests_total{code=\"500\"}", true),
            ("http_requests_total{code!=\"500\"}", false),
            ("http_requests_total{code=~\"5..\"}", true),
            ("http_requests_total{code=~\"5\"}", false), // anchored: "5" is not "500"
            ("http_requests_total{path!~\"/order/.*\"}", false),
            ("http_requests_total{missing=\"\"}", true),
            ("other", false),
        ];
        for (text, want) in cases {
            assert_eq!(Selector::parse(text).unwrap().matches(&key), want, "{text}");
        }
    }

    #[test]
    fn bad_selectors_say_what_to_write() {
        for (text, needle) in [
            ("", "must start with a metric name"),
            ("m{a=1}", "double quotes"),
            ("m{a~\"1\"}", "expected =, !=, =~ or !~"),
            ("m{a=~\"(\"}", "does not compile"),
            ("m{a=\"1}", "closing quote"),
        ] {
            let err = Selector::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
