//! Alertmanager's time intervals (`time_intervals`), the recurring times a route's
//! `mute_time_intervals` silence it or its `active_time_intervals` let it speak: each
//! interval lists `times` (`start_time`–`end_time`, minutes of the day, the end
//! excluded), `weekdays` (`monday:friday`), `days_of_month` (`1:5`, negatives count from
//! the month's end), `months` (`may:august` or numbers) and `years`, in a `location`
//! (a tz database name; UTC when absent). A field left out matches everything; an
//! instant is in the interval when every field it gives matches.

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

#[derive(Debug, Clone)]
pub struct TimeInterval {
    /// Minutes of the day, `[start, end)`.
    times: Vec<(i32, i32)>,
    /// Monday = 1 … Sunday = 7, inclusive ranges.
    weekdays: Vec<(i32, i32)>,
    days_of_month: Vec<(i32, i32)>,
    months: Vec<(i32, i32)>,
    years: Vec<(i32, i32)>,
    zone: TimeZone,
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn strings(value: &serde_json::Value, field: &str) -> Result<Vec<String>, String> {
    match value {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(text) => Ok(text.clone()),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                _ => Err(format!("{field}: each entry is text like 'monday:friday'")),
            })
            .collect(),
        _ => Err(format!("{field}: give a list")),
    }
}

/// `a:b` or `a` as an inclusive range, each end read by `one`.
fn ranges(
    value: &serde_json::Value,
    field: &str,
    one: impl Fn(&str) -> Option<i32>,
    hint: &str,
) -> Result<Vec<(i32, i32)>, String> {
    strings(value, field)?
        .iter()
        .map(|text| {
            let (start, end) = text.split_once(':').unwrap_or((text, text));
            match (one(start.trim()), one(end.trim())) {
                (Some(a), Some(b)) => Ok((a, b)),
                _ => Err(format!("{field}: {text:?} is not a range; write {hint}")),
            }
        })
        .collect()
}

fn named(names: &[&str], text: &str) -> Option<i32> {
    let lower = text.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .map(|i| i as i32 + 1)
        .or_else(|| {
            lower
                .parse()
                .ok()
                .filter(|n| (1..=names.len() as i32).contains(n))
        })
}

fn minutes(text: &str) -> Option<i32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 1440).then_some(h * 60 + m)
}

impl TimeInterval {
    /// One entry of a named interval's `time_intervals` list; `place` names it in errors.
    pub fn parse(value: &serde_json::Value, place: &str) -> Result<Self, String> {
        let field = |name: &str| value.get(name).cloned().unwrap_or_default();
        if let Some(object) = value.as_object() {
            for key in object.keys() {
                if ![
                    "times",
                    "weekdays",
                    "days_of_month",
                    "months",
                    "years",
                    "location",
                ]
                .contains(&key.as_str())
                {
                    return Err(format!("{place}.{key}: not a field of a time interval"));
                }
            }
        }
        let mut times = Vec::new();
        if let serde_json::Value::Array(list) = field("times") {
            for (i, entry) in list.iter().enumerate() {
                let read = |name: &str| entry.get(name).and_then(|v| v.as_str()).and_then(minutes);
                match (read("start_time"), read("end_time")) {
                    (Some(start), Some(end)) if start < end => times.push((start, end)),
                    _ => {
                        return Err(format!(
                            "{place}.times[{i}]: give start_time and end_time as HH:MM, the start before the end"
                        ));
                    }
                }
            }
        }
        let weekdays = ranges(
            &field("weekdays"),
            &format!("{place}.weekdays"),
            |t| named(&WEEKDAYS, t),
            "monday:friday",
        )?;
        let days_of_month = ranges(
            &field("days_of_month"),
            &format!("{place}.days_of_month"),
            |t| {
                t.parse::<i32>()
                    .ok()
                    .filter(|d| *d != 0 && (-31..=31).contains(d))
            },
            "1:5 or -3:-1",
        )?;
        let months = ranges(
            &field("months"),
            &format!("{place}.months"),
            |t| named(&MONTHS, t),
            "may:august or 1:3",
        )?;
        let years = ranges(
            &field("years"),
            &format!("{place}.years"),
            |t| t.parse().ok(),
            "2026:2027",
        )?;
        let zone = match field("location").as_str() {
            None | Some("") | Some("UTC") => TimeZone::UTC,
            Some("Local") => TimeZone::system(),
            Some(name) => TimeZone::get(name).map_err(|_| {
                format!(
                    "{place}.location: {name:?} is not a time zone; write one like Asia/Shanghai"
                )
            })?,
        };
        Ok(Self {
            times,
            weekdays,
            days_of_month,
            months,
            years,
            zone,
        })
    }

    /// Whether the instant `ms` falls in the interval.
    pub fn contains(&self, ms: i64) -> bool {
        let Ok(at) = Timestamp::from_millisecond(ms) else {
            return false;
        };
        let local = at.to_zoned(self.zone.clone());
        let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
        let weekday = match local.weekday() {
            Weekday::Monday => 1,
            Weekday::Tuesday => 2,
            Weekday::Wednesday => 3,
            Weekday::Thursday => 4,
            Weekday::Friday => 5,
            Weekday::Saturday => 6,
            Weekday::Sunday => 7,
        };
        let day = i32::from(local.day());
        let days_in_month = i32::from(local.days_in_month());
        let in_any = |list: &[(i32, i32)], value: i32| {
            list.is_empty() || list.iter().any(|(a, b)| (*a..=*b).contains(&value))
        };
        let day_matches = self.days_of_month.is_empty()
            || self.days_of_month.iter().any(|(a, b)| {
                // Negative days count back from the month's last (-1).
                let resolve = |d: i32| if d < 0 { days_in_month + 1 + d } else { d };
                (resolve(*a)..=resolve(*b)).contains(&day)
            });
        (self.times.is_empty() || self.times.iter().any(|(a, b)| (*a..*b).contains(&minute)))
            && in_any(&self.weekdays, weekday)
            && day_matches
            && in_any(&self.months, i32::from(local.month()))
            && in_any(&self.years, i32::from(local.year()))
    }
}

/// Whether `ms` is in any of the intervals.
pub fn any_contains(intervals: &[TimeInterval], ms: i64) -> bool {
    intervals.iter().any(|i| i.contains(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn weekday_nights_in_shanghai_and_the_months_last_days() {
        let nights = TimeInterval::parse(
            &serde_json::json!({
                "times": [{"start_time": "18:00", "end_time": "24:00"}],
                "weekdays": ["monday:friday"],
                "location": "Asia/Shanghai"
            }),
            "time_intervals[0]",
        )
        .unwrap();
        // 2026-12-07 is a Monday; 11:00 UTC is 19:00 in Shanghai.
        assert!(nights.contains(at("2026-12-07T11:00:00Z")));
        // 09:00 UTC is 17:00 there: before the interval.
        assert!(!nights.contains(at("2026-12-07T09:00:00Z")));
        // Saturday evening is not a weekday.
        assert!(!nights.contains(at("2026-12-12T11:00:00Z")));

        let month_end = TimeInterval::parse(
            &serde_json::json!({"days_of_month": ["-2:-1"], "months": ["february"]}),
            "x",
        )
        .unwrap();
        // 2028 is a leap year: its February ends on the 29th.
        assert!(month_end.contains(at("2028-02-28T12:00:00Z")));
        assert!(!month_end.contains(at("2028-02-27T12:00:00Z")));
        assert!(!month_end.contains(at("2028-03-31T12:00:00Z")));

        let err =
            TimeInterval::parse(&serde_json::json!({"weekdays": ["someday"]}), "t[0]").unwrap_err();
        assert!(err.starts_with("t[0].weekdays: \"someday\""), "{err}");
    }
}
