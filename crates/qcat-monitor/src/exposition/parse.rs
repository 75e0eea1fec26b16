//! The text format parser: `# HELP`, `# TYPE`, other comments, and sample lines
//! `name{label="value",…} value [timestamp_ms]`. Every error names its line and what was
//! expected there, so a broken exporter can be fixed from the message alone.

use std::collections::{BTreeMap, HashMap};

use super::{Family, FamilyKind, Sample, parse_float};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number in the scrape.
    pub line: usize,
    pub message: String,
}

/// Parses a whole scrape. Families come in the order they first appear; a sample line
/// belongs to the family whose `# TYPE` names it, or whose histogram/summary suffix it
/// carries (`x_bucket` under `# TYPE x histogram`), else to an untyped family of its own.
pub fn parse(text: &str) -> Result<Vec<Family>, ParseError> {
    let mut families: Vec<Building> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (number, raw_line) in text.split('\n').enumerate() {
        let line_number = number + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let fail = |message: String| ParseError {
            line: line_number,
            message,
        };
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.trim_start_matches([' ', '\t']);
            let (keyword, rest) = split_token(comment);
            if keyword != "HELP" && keyword != "TYPE" {
                continue; // an ordinary comment
            }
            let (name, rest) = split_token(rest);
            if !is_metric_name(name) {
                return Err(fail(format!(
                    "`# {keyword}` needs a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), found {}",
                    quote(name)
                )));
            }
            let slot = family_slot(&mut families, &mut index, name);
            let family = &mut families[slot];
            if keyword == "HELP" {
                if family.family.help.is_some() {
                    return Err(fail(format!("a second `# HELP` for {name}")));
                }
                family.family.help = Some(unescape_help(rest).map_err(fail)?);
            } else {
                let kind_text = rest.trim_matches([' ', '\t']);
                let kind = FamilyKind::parse(kind_text).ok_or_else(|| {
                    fail(format!(
                        "`# TYPE {name}` must be counter, gauge, histogram, summary or \
                         untyped, found {}",
                        quote(kind_text)
                    ))
                })?;
                if family.declared {
                    return Err(fail(format!("a second `# TYPE` for {name}")));
                }
                if !family.family.samples.is_empty() {
                    return Err(fail(format!(
                        "`# TYPE {name}` comes after samples of {name}: it must precede them"
                    )));
                }
                family.declared = true;
                family.family.kind = kind;
            }
            continue;
        }
        let sample = parse_sample(trimmed).map_err(fail)?;
        let slot = match owner(&families, &index, &sample.name) {
            Some(slot) => slot,
            None => family_slot(&mut families, &mut index, &sample.name),
        };
        families[slot].family.samples.push(sample);
    }
    Ok(families
        .into_iter()
        .map(|building| building.family)
        .collect())
}

/// A family while its lines are read: `declared` once its `# TYPE` was seen.
struct Building {
    family: Family,
    declared: bool,
}

impl std::ops::Deref for Building {
    type Target = Family;
    fn deref(&self) -> &Family {
        &self.family
    }
}

fn family_slot(
    families: &mut Vec<Building>,
    index: &mut HashMap<String, usize>,
    name: &str,
) -> usize {
    if let Some(slot) = index.get(name) {
        return *slot;
    }
    families.push(Building {
        family: Family {
            name: name.to_owned(),
            kind: FamilyKind::Untyped,
            help: None,
            samples: Vec::new(),
        },
        declared: false,
    });
    index.insert(name.to_owned(), families.len() - 1);
    families.len() - 1
}

/// The family a sample named `name` belongs to, if one is declared for it.
fn owner(families: &[Building], index: &HashMap<String, usize>, name: &str) -> Option<usize> {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some(slot) = index.get(base)
            && families[*slot].kind.suffixes().contains(&suffix)
        {
            return Some(*slot);
        }
    }
    index.get(name).copied()
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!(
            "a sample must start with a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), found {}",
            quote(first_token(line))
        ));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    let after_name = rest.trim_start_matches([' ', '\t']);
    if let Some(inside) = after_name.strip_prefix('{') {
        rest = parse_labels(inside, name, &mut labels)?;
    }
    if !rest.starts_with([' ', '\t']) {
        return Err(format!(
            "{name}: expected a space and the value after the {}, found {}",
            if labels.is_empty() { "name" } else { "labels" },
            quote(first_token(rest))
        ));
    }
    let mut fields = rest.split([' ', '\t']).filter(|field| !field.is_empty());
    let value_text = fields
        .next()
        .ok_or_else(|| format!("{name}: the value is missing"))?;
    let value = parse_float(value_text).ok_or_else(|| {
        format!(
            "{name}: the value must be a number, NaN, +Inf or -Inf, found {}",
            quote(value_text)
        )
    })?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            format!(
                "{name}: the timestamp must be whole milliseconds since 1970, found {}",
                quote(text)
            )
        })?),
    };
    if let Some(extra) = fields.next() {
        return Err(format!(
            "{name}: unexpected {} after the value and timestamp",
            quote(extra)
        ));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Reads `label="value",…}` (the `{` already consumed) and returns what follows the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    metric: &str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let label = &rest[..name_end];
        if !is_label_name(label) {
            return Err(format!(
                "{metric}: expected a label name ([a-zA-Z_][a-zA-Z0-9_]*) or `}}`, found {}",
                quote(first_token(rest))
            ));
        }
        rest = rest[name_end..].trim_start_matches([' ', '\t']);
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("{metric}: expected `=` after label {label}"))?
            .trim_start_matches([' ', '\t']);
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("{metric}: the value of label {label} must be quoted"))?;
        let (value, after) = unescape_label_value(rest)
            .map_err(|message| format!("{metric}: label {label}: {message}"))?;
        if labels.insert(label.to_owned(), value).is_some() {
            return Err(format!("{metric}: label {label} appears twice"));
        }
        rest = after.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(format!(
                "{metric}: expected `,` or `}}` after label {label}, found {}",
                quote(first_token(rest))
            ));
        }
    }
}

/// A quoted label value's text up to its closing quote: `\\`, `\"` and `\n` are the only
/// escapes, as in Prometheus.
fn unescape_label_value(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[at + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, other)) => {
                    return Err(format!(
                        "invalid escape `\\{other}` (only \\\\, \\\" and \\n are allowed)"
                    ));
                }
                None => break,
            },
            c => value.push(c),
        }
    }
    Err("the quoted value is not closed with `\"`".to_owned())
}

fn unescape_help(text: &str) -> Result<String, String> {
    let text = text.strip_prefix([' ', '\t']).unwrap_or(text);
    let mut help = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            help.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => help.push('\\'),
            Some('n') => help.push('\n'),
            Some(other) => {
                return Err(format!(
                    "invalid escape `\\{other}` in `# HELP` (only \\\\ and \\n are allowed)"
                ));
            }
            None => help.push('\\'),
        }
    }
    Ok(help)
}

fn split_token(text: &str) -> (&str, &str) {
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    (&text[..end], text[end..].trim_start_matches([' ', '\t']))
}

fn first_token(text: &str) -> &str {
    let text = text.trim_start_matches([' ', '\t']);
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    let token = &text[..end];
    // Long garbage is cut so the message stays one readable line.
    match token.char_indices().nth(40) {
        Some((at, _)) => &token[..at],
        None => token,
    }
}

fn quote(text: &str) -> String {
    if text.is_empty() {
        "nothing".to_owned()
    } else {
        // Debug escapes keep control characters from the scrape out of the terminal.
        format!(
            "`{}`",
            text.chars()
                .flat_map(char::escape_debug)
                .collect::<String>()
        )
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_family_collects_its_suffixed_samples() {
        let text = "# HELP http_request_duration_seconds Time \\\\ spent.\\nIn seconds.\n\
                    # TYPE http_request_duration_seconds histogram\n\
                    http_request_duration_seconds_bucket{le=\"0.1\",path=\"/a\"} 3\n\
                    http_request_duration_seconds_bucket{le=\"+Inf\",path=\"/a\"} 5 1700000000000\n\
                    http_request_duration_seconds_sum{path=\"/a\"} 1.5\n\
                    http_request_duration_seconds_count{path=\"/a\"} 5\n\
                    other_total 7\n";
        let families = parse(text).unwrap();
        assert_eq!(
            families.len(),
            2,
            "the undeclared sample forms its own family"
        );
        let histogram = &families[0];
        assert_eq!(histogram.kind, FamilyKind::Histogram);
        assert_eq!(
            histogram.help.as_deref(),
            Some("Time \\ spent.\nIn seconds."),
            "HELP escapes are read"
        );
        assert_eq!(
            histogram.samples.len(),
            4,
            "bucket, sum and count belong to it"
        );
        assert_eq!(histogram.samples[1].value, 5.0);
        assert_eq!(histogram.samples[1].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(families[1].kind, FamilyKind::Untyped);
    }

    #[test]
    fn label_values_keep_escaped_quotes_commas_and_braces() {
        let families = parse("m{a=\"x\\\"y\",b=\"1,2}\",c=\"line\\nbreak\",} NaN\n").unwrap();
        let sample = &families[0].samples[0];
        assert_eq!(sample.labels["a"], "x\"y");
        assert_eq!(
            sample.labels["b"], "1,2}",
            "a comma and brace inside quotes are text"
        );
        assert_eq!(sample.labels["c"], "line\nbreak");
        assert!(sample.value.is_nan());
    }

    #[test]
    fn special_values_parse_as_prometheus_does() {
        let families = parse("a +Inf\nb -Inf\nc nan\nd 1e3\ne .5\n").unwrap();
        let values: Vec<f64> = families.iter().map(|f| f.samples[0].value).collect();
        assert_eq!(values[0], f64::INFINITY);
        assert_eq!(values[1], f64::NEG_INFINITY);
        assert!(values[2].is_nan());
        assert_eq!(values[3], 1000.0);
        assert_eq!(values[4], 0.5);
    }

    #[test]
    fn every_malformed_line_names_its_number_and_problem() {
        let cases = [
            ("ok 1\n9bad 1\n", 2, "metric name"),
            ("m{a=1} 2\n", 1, "must be quoted"),
            ("m{a=\"1\" b=\"2\"} 3\n", 1, "expected `,` or `}`"),
            ("m{a=\"1} 2\n", 1, "not closed"),
            ("m{a=\"\\t\"} 2\n", 1, "invalid escape"),
            ("m{a=\"1\",a=\"2\"} 3\n", 1, "appears twice"),
            ("m one\n", 1, "must be a number"),
            ("m 1 soon\n", 1, "timestamp"),
            ("m 1 2 3\n", 1, "unexpected"),
            ("m\n", 1, "expected a space and the value"),
            ("# TYPE m widget\n", 1, "must be counter"),
            ("# TYPE m gauge\n# TYPE m gauge\n", 2, "second `# TYPE`"),
            ("m 1\n# TYPE m gauge\n", 2, "comes after samples"),
            ("# HELP m a\n# HELP m b\n", 2, "second `# HELP`"),
        ];
        for (text, line, needle) in cases {
            let error = parse(text).expect_err(text);
            assert_eq!(error.line, line, "{text:?} fails on line {line}: {error}");
            assert!(
                error.to_string().contains(needle),
                "{text:?}: {error} should say {needle:?}"
            );
        }
    }

    #[test]
    fn comments_blank_lines_and_crlf_are_tolerated() {
        let families = parse("# just a comment\r\n\r\n  m 1\r\n").unwrap();
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].samples[0].value, 1.0);
    }
}
