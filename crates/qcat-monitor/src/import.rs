//! History from elsewhere, so a baseline can speak on day one: rows of `timestamp,value`
//! (`qcatctl monitor import --format csv`). Timestamps are RFC 3339 (`2026-11-02T09:30:00Z`,
//! any offset) or `YYYY-MM-DD HH:MM:SS` read as UTC; values are numbers. A first line that is
//! not a row is taken as a header. Every bad row is named by its line and field.

use std::collections::BTreeMap;

/// A row that could not be read, or two rows at one time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, {field}: {why}")]
pub struct ImportError {
    pub line: usize,
    /// `timestamp`, `value` or `row`.
    pub field: &'static str,
    pub why: String,
}

/// The rows of a CSV text, sorted by time (milliseconds since the epoch, value).
pub fn parse_csv(text: &str) -> Result<Vec<(i64, f64)>, ImportError> {
    let mut rows: BTreeMap<i64, (usize, f64)> = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((time_text, value_text)) = trimmed.split_once(',') else {
            return Err(ImportError {
                line,
                field: "row",
                why: format!(
                    "{:?} has no comma; write timestamp,value",
                    qcat_core::text::bounded(trimmed, 60)
                ),
            });
        };
        let (time_text, value_text) = (unquote(time_text), unquote(value_text));
        let timestamp = parse_time(time_text);
        let value = value_text.parse::<f64>();
        if line == first_row_line(text) && timestamp.is_none() && value.is_err() {
            continue; // a header such as `timestamp,value`
        }
        let Some(at) = timestamp else {
            return Err(ImportError {
                line,
                field: "timestamp",
                why: format!(
                    "{:?} is neither RFC 3339 (2026-11-02T09:30:00Z) nor YYYY-MM-DD HH:MM:SS (UTC)",
                    qcat_core::text::bounded(time_text, 40)
                ),
            });
        };
        let value = match value {
            Ok(value) if value.is_finite() => value,
            _ => {
                return Err(ImportError {
                    line,
                    field: "value",
                    why: format!(
                        "{:?} is not a finite number",
                        qcat_core::text::bounded(value_text, 40)
                    ),
                });
            }
        };
        if let Some((earlier, _)) = rows.insert(at, (line, value)) {
            return Err(ImportError {
                line,
                field: "timestamp",
                why: format!("the same time as line {earlier}; keep one row per time"),
            });
        }
    }
    Ok(rows
        .into_iter()
        .map(|(at, (_, value))| (at, value))
        .collect())
}

fn unquote(text: &str) -> &str {
    let text = text.trim();
    text.strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(text)
}

/// The number of the first line that is not blank or a comment.
fn first_row_line(text: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        })
        .map_or(0, |index| index + 1)
}

fn parse_time(text: &str) -> Option<i64> {
    if let Ok(at) = text.parse::<jiff::Timestamp>() {
        return Some(at.as_millisecond());
    }
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text)
        .or_else(|_| jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S%.f", text))
        .ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_time_forms_a_header_and_any_order_read_as_sorted_utc_rows() {
        let rows = parse_csv(
            "timestamp,value\n2026-11-02 09:30:01,2.5\n\n# a comment\n2026-11-02T17:30:00+08:00,1\n\"2026-11-02 09:30:02.250\",\"3\"\n",
        )
        .unwrap();
        let at = |text: &str| text.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(
            rows,
            vec![
                (at("2026-11-02T09:30:00Z"), 1.0),
                (at("2026-11-02T09:30:01Z"), 2.5),
                (at("2026-11-02T09:30:02.25Z"), 3.0),
            ],
            "+08:00 is converted, the plain form is UTC, and rows come out in time order"
        );
    }

    #[test]
    fn each_bad_row_is_named_by_line_and_field() {
        let err = parse_csv("2026-11-02 09:30:00,1\n2026-13-02 09:30:00,2\n").unwrap_err();
        assert_eq!((err.line, err.field), (2, "timestamp"), "{err}");
        let err = parse_csv("2026-11-02 09:30:00,1\n2026-11-02 09:31:00,fast\n").unwrap_err();
        assert_eq!((err.line, err.field), (2, "value"), "{err}");
        let err = parse_csv("2026-11-02 09:30:00,1\n2026-11-02 09:30:00,2\n").unwrap_err();
        assert_eq!(
            (err.line, err.field),
            (2, "timestamp"),
            "a repeated time: {err}"
        );
        assert!(
            err.why.contains("line 1"),
            "and it names the first one: {err}"
        );
        let err = parse_csv("2026-11-02 09:30:00 1\n").unwrap_err();
        assert_eq!(err.field, "row", "{err}");
        let err = parse_csv("2026-11-02 09:30:00,inf\n").unwrap_err();
        assert_eq!(err.field, "value", "an infinite value is refused: {err}");
        // Only the first row may be a header: a later unreadable row is an error.
        let err = parse_csv("2026-11-02 09:30:00,1\ntimestamp,value\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }
}
