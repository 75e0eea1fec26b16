//! Tiers and their rows. Raw rows carry one value; rollup rows (1 m, 1 h) carry min, max,
//! sum, count and last of the rows below them, so averages and rollups of rollups are
//! exact up to float addition.

/// The storage tiers, finest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    Raw = 0,
    Minute = 1,
    Hour = 2,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Raw, Tier::Minute, Tier::Hour];

    pub fn from_index(index: i64) -> Option<Tier> {
        Tier::ALL.get(usize::try_from(index).ok()?).copied()
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::Minute => "1m",
            Tier::Hour => "1h",
        }
    }

    pub fn fields(self) -> usize {
        match self {
            Tier::Raw => 1,
            _ => ROLLUP_FIELDS,
        }
    }

    /// The width of one row of this tier in ms (raw: none).
    pub fn period_ms(self) -> Option<i64> {
        match self {
            Tier::Raw => None,
            Tier::Minute => Some(60_000),
            Tier::Hour => Some(3_600_000),
        }
    }

    /// The tier this one rolls up into.
    pub fn next(self) -> Option<Tier> {
        match self {
            Tier::Raw => Some(Tier::Minute),
            Tier::Minute => Some(Tier::Hour),
            Tier::Hour => None,
        }
    }

    /// Rows per chunk before it is closed: small enough that rewriting the open chunk at
    /// each flush stays cheap, large enough that a row's own overhead is a small share.
    pub fn chunk_rows(self) -> usize {
        240
    }
}

pub const ROLLUP_FIELDS: usize = 5;

/// Min, max, sum, count, last of some raw samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregate {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: f64,
    pub last: f64,
}

impl Aggregate {
    pub fn from_fields(fields: &[f64]) -> Aggregate {
        if fields.len() == 1 {
            let value = fields[0];
            return Aggregate {
                min: value,
                max: value,
                sum: value,
                count: 1.0,
                last: value,
            };
        }
        Aggregate {
            min: fields[0],
            max: fields[1],
            sum: fields[2],
            count: fields[3],
            last: fields[4],
        }
    }

    pub fn fields(&self) -> [f64; ROLLUP_FIELDS] {
        [self.min, self.max, self.sum, self.count, self.last]
    }

    pub fn avg(&self) -> f64 {
        self.sum / self.count
    }

    /// Folds `other` (later in time) into `self`.
    pub fn merge(&mut self, other: &Aggregate) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
        self.last = other.last;
    }
}

/// Rolls `rows` (timestamp and aggregate, in time order) into buckets of `period_ms` that
/// end at or before `until_ms`, skipping NaN (a stale or failed read is not a value).
/// Returns the rollup rows (stamped with their bucket's start) and how many input rows
/// they used.
pub fn roll(
    rows: &[(i64, Aggregate)],
    period_ms: i64,
    until_ms: i64,
) -> (Vec<(i64, Aggregate)>, usize) {
    let mut out: Vec<(i64, Aggregate)> = Vec::new();
    let mut used = 0;
    for (timestamp, aggregate) in rows {
        let bucket = timestamp.div_euclid(period_ms) * period_ms;
        if bucket + period_ms > until_ms {
            break;
        }
        used += 1;
        if aggregate.min.is_nan() {
            continue;
        }
        match out.last_mut() {
            Some((start, current)) if *start == bucket => current.merge(aggregate),
            _ => out.push((bucket, *aggregate)),
        }
    }
    (out, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_close_only_when_their_period_has_passed() {
        let rows: Vec<(i64, Aggregate)> = (0..150)
            .map(|s| (s * 1000, Aggregate::from_fields(&[s as f64])))
            .collect();
        let (rollups, used) = roll(&rows, 60_000, 130_000);
        assert_eq!(
            rollups.len(),
            2,
            "minutes 0 and 1 have ended by 130 s, minute 2 not"
        );
        assert_eq!(used, 120, "minute 2's rows wait for the next pass");
        let first = rollups[0].1;
        assert_eq!(
            (first.min, first.max, first.count, first.last),
            (0.0, 59.0, 60.0, 59.0)
        );
        assert_eq!(first.avg(), 29.5);
    }

    #[test]
    fn rollups_of_rollups_equal_rollups_of_raw() {
        let rows: Vec<(i64, Aggregate)> = (0..7200)
            .map(|s| (s * 1000, Aggregate::from_fields(&[((s * 37) % 101) as f64])))
            .collect();
        let (minutes, _) = roll(&rows, 60_000, 7_200_000);
        let (hours_from_minutes, _) = roll(&minutes, 3_600_000, 7_200_000);
        let (hours_from_raw, _) = roll(&rows, 3_600_000, 7_200_000);
        assert_eq!(
            hours_from_minutes, hours_from_raw,
            "integers add exactly in any order"
        );
    }
}
