//! When scheduled work runs: cron expressions (croner) or fixed intervals, evaluated in a
//! configured time zone, with jitter and a policy for runs missed while nothing was running.
//!
//! This module only computes times; the store-backed loop that fires them (a singleton duty
//! in team mode) lives in `qcat-api`. Cron times are wall-clock times in the zone: across a
//! spring-forward gap a fixed time that does not exist runs at the first instant after the
//! gap, and across a fall-back fold a fixed time that happens twice runs once (croner's
//! OCPS 1.4 semantics); an interval is elapsed time and ignores the wall clock.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

/// What to do at start (or on taking over the scheduler) when a run was due while no
/// process ran the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedRun {
    /// Run once now, however many runs were missed.
    RunOnce,
    /// Wait for the next regular time.
    Skip,
}

impl FromStr for MissedRun {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "run_once" => Ok(Self::RunOnce),
            "skip" => Ok(Self::Skip),
            other => Err(ScheduleError(format!(
                "missed-run policy {other:?}: use run_once or skip"
            ))),
        }
    }
}

impl fmt::Display for MissedRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RunOnce => "run_once",
            Self::Skip => "skip",
        })
    }
}

/// A schedule that cannot be understood, in words that name the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

#[derive(Debug, Clone)]
enum Timing {
    Cron(Box<croner::Cron>),
    Every(Duration),
}

/// A parsed schedule: its timing, zone, jitter and missed-run policy.
#[derive(Debug, Clone)]
pub struct Schedule {
    name: String,
    spec: String,
    timing: Timing,
    zone: TimeZone,
    zone_name: String,
    jitter: Duration,
    missed: MissedRun,
}

/// The shortest interval a schedule may have (a tighter loop is a task, not a schedule).
const MIN_EVERY: Duration = Duration::from_secs(1);

impl Schedule {
    /// Parses `spec`: a five-field cron expression (or six with seconds first; `@hourly`,
    /// `@daily`… too) or `@every <duration>` (`@every 1h`, `@every 90s`). `zone` is an IANA
    /// name (`Europe/London`), `UTC`, or `local` for the system's zone.
    pub fn parse(
        name: &str,
        spec: &str,
        zone: &str,
        jitter: Duration,
        missed: MissedRun,
    ) -> Result<Self, ScheduleError> {
        let spec = spec.trim();
        let timing = if let Some(every) = spec.strip_prefix("@every") {
            let period = humantime_like(every.trim()).ok_or_else(|| {
                ScheduleError(format!(
                    "schedule {name}: {spec:?} is not an interval; write e.g. \"@every 1h\" or \"@every 90s\""
                ))
            })?;
            if period < MIN_EVERY {
                return Err(ScheduleError(format!(
                    "schedule {name}: {spec:?} is shorter than one second"
                )));
            }
            Timing::Every(period)
        } else {
            let cron = croner::parser::CronParser::builder()
                .seconds(croner::parser::Seconds::Optional)
                .build()
                .parse(spec)
                .map_err(|err| {
                    ScheduleError(format!(
                        "schedule {name}: {spec:?} is not a cron expression ({err}); write five fields \"minute hour day month weekday\", e.g. \"0 3 * * *\", or \"@every 1h\""
                    ))
                })?;
            Timing::Cron(Box::new(cron))
        };
        let (zone, zone_name) = time_zone(zone)
            .map_err(|message| ScheduleError(format!("schedule {name}: {message}")))?;
        Ok(Self {
            name: name.to_owned(),
            spec: spec.to_owned(),
            timing,
            zone,
            zone_name,
            jitter,
            missed,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn spec(&self) -> &str {
        &self.spec
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    pub fn jitter(&self) -> Duration {
        self.jitter
    }

    pub fn missed(&self) -> MissedRun {
        self.missed
    }

    /// The first regular time strictly after `after` (without jitter), or None when the
    /// expression never matches again.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        match &self.timing {
            Timing::Every(period) => after.checked_add(signed(*period)).ok(),
            Timing::Cron(cron) => cron
                .find_next_occurrence(&after.to_zoned(self.zone.clone()), false)
                .ok()
                .map(|zoned| zoned.timestamp()),
        }
    }

    /// The shortest time between consecutive runs among the next few (jitter must stay
    /// below it, or runs would overtake each other); None when it never runs again.
    pub fn shortest_gap(&self, from: Timestamp) -> Option<Duration> {
        let mut previous = self.next_after(from)?;
        let mut shortest: Option<Duration> = None;
        for _ in 0..8 {
            let Some(next) = self.next_after(previous) else {
                break;
            };
            let gap = Duration::try_from(next.duration_since(previous)).unwrap_or(Duration::ZERO);
            shortest = Some(shortest.map_or(gap, |known| known.min(gap)));
            previous = next;
        }
        shortest
    }

    /// The regular run that follows the one at `regular`, with this schedule's jitter for
    /// that run added. Jitter is derived from the name and the regular time, so every
    /// process computes the same instant for the same run.
    pub fn with_jitter(&self, regular: Timestamp) -> Timestamp {
        if self.jitter.is_zero() {
            return regular;
        }
        let spread = self.jitter.as_millis().max(1) as u64;
        let offset = fnv1a(self.name.as_bytes(), regular.as_millisecond()) % spread;
        regular
            .checked_add(jiff::SignedDuration::from_millis(offset as i64))
            .unwrap_or(regular)
    }

    /// What to run at `now`, given the regular time of the last run (None: never ran, so
    /// nothing was missed and the first run is the next regular time).
    pub fn plan(&self, last_regular: Option<Timestamp>, now: Timestamp) -> Plan {
        let due = last_regular.and_then(|last| self.next_after(last));
        match due {
            Some(due) if self.with_jitter(due) > now => Plan {
                missed: None,
                next: Some(due),
            },
            // Due while nothing ran it: once now or not at all, then the regular rhythm.
            Some(due) => Plan {
                missed: (self.missed == MissedRun::RunOnce).then_some(due),
                next: self.next_after(now),
            },
            None => Plan {
                missed: None,
                next: self.next_after(now),
            },
        }
    }
}

/// The outcome of [`Schedule::plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// A missed run to make now (its regular time), per the missed-run policy.
    pub missed: Option<Timestamp>,
    /// The next regular time (without jitter).
    pub next: Option<Timestamp>,
}

/// Resolves a zone setting: an IANA name, `UTC`, or `local`.
pub fn time_zone(name: &str) -> Result<(TimeZone, String), String> {
    match name {
        "local" => {
            let zone = TimeZone::system();
            let label = zone.iana_name().unwrap_or("local").to_owned();
            Ok((zone, label))
        }
        "UTC" | "utc" => Ok((TimeZone::UTC, "UTC".to_owned())),
        other => TimeZone::get(other)
            .map(|zone| (zone, other.to_owned()))
            .map_err(|_| {
                format!(
                    "time zone {other:?} is unknown; use an IANA name such as \"Asia/Shanghai\" or \"Europe/London\", \"UTC\", or \"local\""
                )
            }),
    }
}

fn signed(duration: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(duration).unwrap_or(jiff::SignedDuration::MAX)
}

/// `90s`, `5m`, `1h30m`, `2d`: the units operators write in schedules.
fn humantime_like(text: &str) -> Option<Duration> {
    let span: jiff::Span = text.parse().ok()?;
    let duration = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .ok()?;
    Duration::try_from(duration).ok()
}

fn fnv1a(bytes: &[u8], salt: i64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes.iter().chain(salt.to_le_bytes().iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn daily(spec: &str, zone: &str) -> Schedule {
        Schedule::parse("test", spec, zone, Duration::ZERO, MissedRun::Skip).unwrap()
    }

    fn runs(schedule: &Schedule, from: &str, count: usize) -> Vec<String> {
        let mut now = at(from);
        let mut out = Vec::new();
        for _ in 0..count {
            now = schedule.next_after(now).unwrap();
            out.push(now.to_string());
        }
        out
    }

    #[test]
    fn london_spring_forward_runs_a_skipped_time_right_after_the_gap() {
        // 2026-03-29: clocks go from 01:00 GMT to 02:00 BST; 01:30 does not exist that day.
        let schedule = daily("30 1 * * *", "Europe/London");
        assert_eq!(
            runs(&schedule, "2026-03-27T12:00:00Z", 3),
            [
                "2026-03-28T01:30:00Z", // 01:30 GMT
                "2026-03-29T01:00:00Z", // the gap: first instant after it, 02:00 BST
                "2026-03-30T00:30:00Z", // 01:30 BST
            ]
        );
    }

    #[test]
    fn london_fall_back_runs_a_repeated_time_once() {
        // 2026-10-25: clocks go from 02:00 BST back to 01:00 GMT; 01:30 happens twice.
        let schedule = daily("30 1 * * *", "Europe/London");
        assert_eq!(
            runs(&schedule, "2026-10-23T12:00:00Z", 3),
            [
                "2026-10-24T00:30:00Z", // 01:30 BST
                "2026-10-25T00:30:00Z", // the first 01:30 (BST), not again at 01:30 GMT
                "2026-10-26T01:30:00Z", // 01:30 GMT
            ]
        );
    }

    #[test]
    fn an_hourly_cron_across_the_fold_runs_each_real_hour() {
        // Minute 15 of every hour: the repeated hour 01:xx happens twice on the wall clock,
        // and both are real hours of elapsed time, so both run (an interval-like job).
        let schedule = daily("15 * * * *", "Europe/London");
        assert_eq!(
            runs(&schedule, "2026-10-24T23:30:00Z", 3),
            [
                "2026-10-25T00:15:00Z", // 01:15 BST
                "2026-10-25T01:15:00Z", // 01:15 GMT
                "2026-10-25T02:15:00Z", // 02:15 GMT
            ]
        );
    }

    #[test]
    fn shanghai_has_no_dst_and_runs_at_utc_plus_eight_all_year() {
        let schedule = daily("0 9 * * 1-5", "Asia/Shanghai");
        // Friday 2026-03-27, then Monday 2026-03-30 (the weekend skipped), 09:00 CST.
        assert_eq!(
            runs(&schedule, "2026-03-27T00:00:00Z", 2),
            ["2026-03-27T01:00:00Z", "2026-03-30T01:00:00Z"]
        );
        let october = runs(&schedule, "2026-10-23T00:00:00Z", 2);
        assert_eq!(october, ["2026-10-23T01:00:00Z", "2026-10-26T01:00:00Z"]);
    }

    #[test]
    fn intervals_are_elapsed_time_across_dst() {
        let schedule = daily("@every 1h", "Europe/London");
        assert_eq!(
            runs(&schedule, "2026-03-29T00:30:00Z", 2),
            ["2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"]
        );
    }

    #[test]
    fn a_missed_run_is_made_once_or_skipped_by_policy() {
        let once =
            Schedule::parse("m", "0 3 * * *", "UTC", Duration::ZERO, MissedRun::RunOnce).unwrap();
        let skip =
            Schedule::parse("m", "0 3 * * *", "UTC", Duration::ZERO, MissedRun::Skip).unwrap();
        // Last ran on the 1st; the console was off until the 4th at noon: three runs missed.
        let last = at("2026-12-01T03:00:00Z");
        let now = at("2026-12-04T12:00:00Z");
        let plan = once.plan(Some(last), now);
        assert_eq!(
            plan.missed,
            Some(at("2026-12-02T03:00:00Z")),
            "run once, not three times"
        );
        assert_eq!(plan.next, Some(at("2026-12-05T03:00:00Z")));
        let plan = skip.plan(Some(last), now);
        assert_eq!(plan.missed, None);
        assert_eq!(plan.next, Some(at("2026-12-05T03:00:00Z")));
        // Nothing missed: the next regular time, no catch-up.
        let plan = once.plan(Some(at("2026-12-04T03:00:00Z")), now);
        assert_eq!(plan.missed, None);
        assert_eq!(plan.next, Some(at("2026-12-05T03:00:00Z")));
    }

    #[test]
    fn jitter_is_bounded_and_the_same_in_every_process() {
        let schedule = Schedule::parse(
            "maintenance",
            "@every 1h",
            "UTC",
            Duration::from_secs(300),
            MissedRun::Skip,
        )
        .unwrap();
        let regular = at("2026-12-01T03:00:00Z");
        let jittered = schedule.with_jitter(regular);
        assert!(jittered >= regular && jittered < at("2026-12-01T03:05:00Z"));
        assert_eq!(jittered, schedule.with_jitter(regular), "deterministic");
    }

    #[test]
    fn the_shortest_gap_is_what_jitter_must_stay_below() {
        let hourly = daily("@every 1h", "UTC");
        assert_eq!(
            hourly.shortest_gap(at("2026-12-01T00:00:00Z")),
            Some(Duration::from_secs(3600))
        );
        // Weekdays at 09:00: the shortest gap is a day (the weekend's is longer).
        let weekdays = daily("0 9 * * 1-5", "UTC");
        assert_eq!(
            weekdays.shortest_gap(at("2026-12-01T00:00:00Z")),
            Some(Duration::from_secs(86_400))
        );
    }

    #[test]
    fn bad_schedules_name_the_fix() {
        let err = Schedule::parse(
            "backup",
            "61 * * * *",
            "UTC",
            Duration::ZERO,
            MissedRun::Skip,
        )
        .unwrap_err();
        assert!(err.to_string().contains("schedule backup"), "{err}");
        assert!(err.to_string().contains("\"0 3 * * *\""), "{err}");
        let err = Schedule::parse(
            "backup",
            "@every soon",
            "UTC",
            Duration::ZERO,
            MissedRun::Skip,
        )
        .unwrap_err();
        assert!(err.to_string().contains("@every 1h"), "{err}");
        let err = Schedule::parse(
            "backup",
            "@daily",
            "Mars/Olympus",
            Duration::ZERO,
            MissedRun::Skip,
        )
        .unwrap_err();
        assert!(err.to_string().contains("Asia/Shanghai"), "{err}");
    }
}
