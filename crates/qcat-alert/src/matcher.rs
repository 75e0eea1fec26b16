//! Label matchers as Alertmanager writes them: `name="value"`, `name!=value`,
//! `name=~"regex"`, `name!~regex`, alone or as a list `{a="1", b=~"x|y"}`. Values may be
//! quoted (with `\"`, `\\` and `\n` escapes) or bare; a regex is anchored at both ends
//! (`^(?:regex)$`). An alert without the label matches as if its value were empty.

use crate::Labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// The anchored regex, for `=~` and `!~`.
    regex: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.op, &self.value) == (&other.name, other.op, &other.value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatcherError(pub String);

/// Label names as Alertmanager's classic parser accepts them.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, MatcherError> {
        if !valid_name(name) {
            return Err(MatcherError(format!(
                "{name:?} is not a label name (letters, digits, _ and :, not starting with a digit)"
            )));
        }
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(regex::Regex::new(&format!("^(?:{value})$")).map_err(|err| {
                    MatcherError(format!(
                        "{name}{}{value:?}: not a regex ({err})",
                        op.as_str()
                    ))
                })?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Whether `labels` satisfy this matcher (a missing label is `""`).
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|re| re.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|re| re.is_match(value)),
        }
    }

    /// One matcher: `name op value`, whitespace around each part allowed.
    pub fn parse(text: &str) -> Result<Self, MatcherError> {
        let text = text.trim();
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(text.len());
        let (name, rest) = text.split_at(name_end);
        let rest = rest.trim_start();
        let (op, raw) = [
            ("=~", MatchOp::Regex),
            ("!~", MatchOp::NotRegex),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ]
        .into_iter()
        .find_map(|(token, op)| rest.strip_prefix(token).map(|raw| (op, raw.trim())))
        .ok_or_else(|| {
            MatcherError(format!(
                "{text:?} is not a matcher: write name=\"value\" (or !=, =~, !~)"
            ))
        })?;
        Self::new(name, op, &unquote(raw, text)?)
    }

    /// A list: `{a="1", b=~"x"}` or `a="1", b=~"x"` (commas inside quotes are values).
    pub fn parse_list(text: &str) -> Result<Vec<Self>, MatcherError> {
        let trimmed = text.trim();
        let inner = match trimmed.strip_prefix('{') {
            Some(rest) => rest.strip_suffix('}').ok_or_else(|| {
                MatcherError(format!(
                    "{text:?}: a list that opens with {{ must close with }}"
                ))
            })?,
            None => trimmed,
        };
        let mut parts = Vec::new();
        let (mut start, mut quoted, mut escaped) = (0, false, false);
        for (index, c) in inner.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    parts.push(&inner[start..index]);
                    start = index + 1;
                }
                _ => {}
            }
        }
        parts.push(&inner[start..]);
        parts
            .into_iter()
            .filter(|part| !part.trim().is_empty())
            .map(Self::parse)
            .collect()
    }
}

/// A value as written: quoted (escapes `\"`, `\\`, `\n`; another escape is kept as written)
/// or bare (a `"` inside it is refused, as Alertmanager refuses it).
fn unquote(raw: &str, whole: &str) -> Result<String, MatcherError> {
    let (body, quoted) = match raw.strip_prefix('"') {
        Some(rest) => (rest, true),
        None => (raw, false),
    };
    let mut value = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    let mut closed = !quoted;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => value.push('\n'),
                Some(escaped @ ('"' | '\\')) => value.push(escaped),
                Some(other) => {
                    value.push('\\');
                    value.push(other);
                }
                None => value.push('\\'),
            },
            '"' if quoted && chars.peek().is_none() => closed = true,
            '"' => {
                return Err(MatcherError(format!(
                    "{whole:?}: the value has an unescaped double quote; quote it as \"…\" and escape inner quotes as \\\""
                )));
            }
            other => value.push(other),
        }
    }
    if !closed {
        return Err(MatcherError(format!(
            "{whole:?}: the value's opening quote is never closed"
        )));
    }
    Ok(value)
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// Whether every matcher matches.
pub fn all_match(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_the_forms_alertmanager_accepts() {
        let m = Matcher::parse(r#" severity = "critical" "#).unwrap();
        assert_eq!(
            (m.name.as_str(), m.op, m.value.as_str()),
            ("severity", MatchOp::Equal, "critical")
        );
        assert_eq!(Matcher::parse("team!=db").unwrap().op, MatchOp::NotEqual);
        let escaped = Matcher::parse(r#"msg="a \"b\" \\ c\n""#).unwrap();
        assert_eq!(escaped.value, "a \"b\" \\ c\n");
        let list = Matcher::parse_list(r#"{a="1,2", b=~"x|y", c!~z}"#).unwrap();
        assert_eq!(
            list.len(),
            3,
            "the comma inside quotes belongs to the value"
        );
        assert_eq!(list[0].value, "1,2");
        // Refused with the reason, as Alertmanager refuses them.
        assert!(Matcher::parse(r#"a="unclosed"#).is_err());
        assert!(Matcher::parse(r#"a=x"y"#).is_err());
        assert!(Matcher::parse("1a=b").is_err());
        assert!(Matcher::parse("a=~(").is_err());
        assert!(Matcher::parse("just text").is_err());
    }

    #[test]
    fn regexes_are_anchored_and_missing_labels_are_empty() {
        let re = Matcher::parse("service=~foo|bar").unwrap();
        assert!(re.matches(&labels(&[("service", "foo")])));
        assert!(
            !re.matches(&labels(&[("service", "foobar")])),
            "anchored at both ends"
        );
        // An absent label is "": a!="x" matches it, a="" matches it, a=~".+" does not.
        let none = labels(&[]);
        assert!(Matcher::parse("a!=x").unwrap().matches(&none));
        assert!(Matcher::parse(r#"a="""#).unwrap().matches(&none));
        assert!(!Matcher::parse("a=~.+").unwrap().matches(&none));
        assert!(Matcher::parse("a!~.+").unwrap().matches(&none));
    }
}
