//! One series' learned profile: what a value is expected to be at a time of the week, and
//! how far it usually strays.
//!
//! The week is cut into half-hour slots (hour of day × day of week, at half-hour grain so
//! a session that opens at :30 has its own slot). Every completed half hour of minute
//! values becomes one *occurrence*: its median and spread. A slot keeps its last `weeks`
//! occurrences, so an update is O(1) per sample (the half hour's values are summarised
//! once, when it ends) and memory is fixed per series. The expected value at `t` is read
//! only from completed occurrences before `t`: the model is causal by construction.
//!
//! While history is short the profile falls back: the slot on that day of the week once
//! it has 3 occurrences (a median of fewer is an average, and one bad week would move
//! it), else the slot on days of the same type (weekday or weekend), the slot on any day,
//! then every occurrence seen (flat). Slots are in the desk's time zone
//! (`runtime.time_zone`), so its weekend is the weekend and a session opening is one slot.

use std::collections::VecDeque;

use serde::Serialize;

pub const MINUTE_MS: i64 = 60_000;
pub const SLOT_MINUTES: i64 = 30;
pub const SLOT_MS: i64 = SLOT_MINUTES * MINUTE_MS;
pub const SLOTS_PER_DAY: usize = (86_400_000 / SLOT_MS) as usize;
pub const SLOTS_PER_WEEK: usize = SLOTS_PER_DAY * 7;
/// A half hour with fewer minute values than this is not learned from (a gap, a restart).
pub const MIN_VALUES_PER_OCCURRENCE: usize = 10;
/// 1.4826 × MAD estimates σ for normal data; (p90 − p10) / 2.563 does too, and stays
/// honest for sparse series whose MAD is 0 (an error count that is mostly zero).
const MAD_TO_SIGMA: f64 = 1.4826;
const P10_P90_TO_SIGMA: f64 = 2.563;
/// The band is never narrower than this share of the expected level: a flat series would
/// otherwise call every rounding difference a deviation.
pub const RELATIVE_FLOOR: f64 = 0.02;

/// How the expected value was found (the most specific level with enough history).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Level {
    /// This half hour on this day of the week.
    Weekly,
    /// This half hour on days of the same type (Monday–Friday, or the weekend).
    DayType,
    /// This half hour on any day.
    Daily,
    /// Every half hour seen.
    Flat,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Weekly => "weekly",
            Level::DayType => "dayType",
            Level::Daily => "daily",
            Level::Flat => "flat",
        }
    }
}

/// The expected value and its scale at one time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Expected {
    pub median: f64,
    /// One robust unit (≈ σ): a value `k` units away scores `k`.
    pub scale: f64,
    pub level: Level,
}

impl Expected {
    pub fn score(&self, value: f64) -> f64 {
        (value - self.median) / self.scale
    }
}

#[derive(Debug, Clone, Copy)]
struct Occurrence {
    median: f32,
    spread: f32,
}

#[derive(Debug, Clone)]
pub struct Model {
    zone: jiff::tz::TimeZone,
    weeks: usize,
    min_history_slots: usize,
    /// Per slot of the week, its newest occurrences (oldest first).
    slots: Vec<VecDeque<Occurrence>>,
    /// The half hour being filled: its slot index since the epoch and its minute values.
    current: Option<(i64, Vec<f32>)>,
    /// Half hours learned (each completed occurrence once).
    learned: usize,
    last_minute: Option<i64>,
    /// The last answer of [`Model::expect`] and the half hour and learning it was for: the
    /// expected value changes only when a half hour is learned, so the 29 other minutes of
    /// a half hour reuse it.
    cached: std::cell::Cell<Option<(i64, usize, Expected)>>,
}

impl Model {
    /// `weeks` occurrences are kept per slot; the model speaks once `min_history_ms` of
    /// half hours have been learned.
    pub fn new(weeks: usize, min_history_ms: i64, zone: jiff::tz::TimeZone) -> Self {
        Self {
            zone,
            weeks: weeks.max(1),
            min_history_slots: ((min_history_ms + SLOT_MS - 1) / SLOT_MS).max(1) as usize,
            slots: vec![VecDeque::new(); SLOTS_PER_WEEK],
            current: None,
            learned: 0,
            last_minute: None,
            cached: std::cell::Cell::new(None),
        }
    }

    /// Learns one minute's value (`t_ms` is the minute's start). Minutes must come in
    /// time order; a repeated or older minute is ignored.
    pub fn learn(&mut self, t_ms: i64, value: f64) {
        let minute = t_ms.div_euclid(MINUTE_MS);
        if self.last_minute.is_some_and(|last| minute <= last) || !value.is_finite() {
            return;
        }
        self.last_minute = Some(minute);
        let slot = self.local_slot(t_ms);
        match &mut self.current {
            Some((current, values)) if *current == slot => values.push(value as f32),
            _ => {
                self.close_current();
                self.current = Some((slot, vec![value as f32]));
            }
        }
    }

    /// Ends the half hour being filled if `t_ms` is past it (so a quiet series' last half
    /// hour is learned before a later evaluation).
    pub fn advance(&mut self, t_ms: i64) {
        if self
            .current
            .as_ref()
            .is_some_and(|(slot, _)| self.local_slot(t_ms) > *slot)
        {
            self.close_current();
        }
    }

    fn close_current(&mut self) {
        let Some((slot, mut values)) = self.current.take() else {
            return;
        };
        if values.len() < MIN_VALUES_PER_OCCURRENCE {
            return;
        }
        let median = median_in_place(&mut values);
        let spread = spread(&mut values, median);
        let ring = &mut self.slots[slot_of_week(slot)];
        if ring.len() == self.weeks {
            ring.pop_front();
        }
        ring.push_back(Occurrence {
            median: median as f32,
            spread: spread as f32,
        });
        self.learned += 1;
    }

    /// Share of the minimum history learned, 0..=1.
    pub fn learning(&self) -> f64 {
        (self.learned as f64 / self.min_history_slots as f64).min(1.0)
    }

    pub fn is_ready(&self) -> bool {
        self.learned >= self.min_history_slots
    }

    /// The expected value at `t_ms`, from occurrences completed before it; `None` while
    /// learning.
    pub fn expect(&self, t_ms: i64) -> Option<Expected> {
        if !self.is_ready() {
            return None;
        }
        let local = self.local_slot(t_ms);
        if let Some((slot, learned, expected)) = self.cached.get()
            && slot == local
            && learned == self.learned
        {
            return Some(expected);
        }
        let expected = self.expect_uncached(local);
        self.cached.set(Some((local, self.learned, expected)));
        Some(expected)
    }

    fn expect_uncached(&self, local_slot: i64) -> Expected {
        let slot = slot_of_week(local_slot);
        let day = slot / SLOTS_PER_DAY;
        let half_hour = slot % SLOTS_PER_DAY;
        let own = &self.slots[slot];
        if own.len() >= 3 {
            return summarise(own.iter(), Level::Weekly);
        }
        let same_type: Vec<Occurrence> = (0..7)
            .filter(|other| is_weekend(*other) == is_weekend(day))
            .flat_map(|other| {
                self.slots[other * SLOTS_PER_DAY + half_hour]
                    .iter()
                    .copied()
            })
            .collect();
        if !same_type.is_empty() {
            return summarise(same_type.iter(), Level::DayType);
        }
        let any_day: Vec<Occurrence> = (0..7)
            .flat_map(|other| {
                self.slots[other * SLOTS_PER_DAY + half_hour]
                    .iter()
                    .copied()
            })
            .collect();
        if !any_day.is_empty() {
            return summarise(any_day.iter(), Level::Daily);
        }
        summarise(self.slots.iter().flatten(), Level::Flat)
    }

    /// The half hour `t_ms` falls in, counted since the epoch on the zone's clock.
    fn local_slot(&self, t_ms: i64) -> i64 {
        let offset_ms = jiff::Timestamp::from_millisecond(t_ms)
            .map_or(0, |t| self.zone.to_offset(t).seconds() as i64 * 1000);
        (t_ms + offset_ms).div_euclid(SLOT_MS)
    }

    /// Bytes this model holds (for the memory benchmark).
    pub fn heap_bytes(&self) -> usize {
        let slots: usize = self
            .slots
            .iter()
            .map(|ring| ring.capacity() * std::mem::size_of::<Occurrence>())
            .sum();
        let current = self
            .current
            .as_ref()
            .map_or(0, |(_, values)| values.capacity() * 4);
        slots + current + self.slots.capacity() * std::mem::size_of::<VecDeque<Occurrence>>()
    }
}

/// Day 0 of the slot index is the epoch's weekday, Thursday; slots are renumbered so day 0
/// is Monday.
fn slot_of_week(slot_since_epoch: i64) -> usize {
    let monday_offset = 3 * SLOTS_PER_DAY as i64;
    (slot_since_epoch + monday_offset).rem_euclid(SLOTS_PER_WEEK as i64) as usize
}

fn is_weekend(day: usize) -> bool {
    day >= 5
}

/// The median of the occurrences' medians; the scale combines the typical spread within a
/// half hour with how much the half hour moves from week to week.
fn summarise<'a>(occurrences: impl Iterator<Item = &'a Occurrence>, level: Level) -> Expected {
    let mut medians = Vec::new();
    let mut spreads = Vec::new();
    for occurrence in occurrences {
        medians.push(occurrence.median);
        spreads.push(occurrence.spread);
    }
    let median = median_in_place(&mut medians);
    let within = median_in_place(&mut spreads);
    let between = if medians.len() >= 3 {
        let mut deviations: Vec<f32> = medians
            .iter()
            .map(|m| (*m as f64 - median).abs() as f32)
            .collect();
        median_in_place(&mut deviations) * MAD_TO_SIGMA
    } else {
        0.0
    };
    let scale = (within * within + between * between)
        .sqrt()
        .max(RELATIVE_FLOOR * median.abs())
        .max(1e-9);
    Expected {
        median,
        scale,
        level,
    }
}

fn median_in_place(values: &mut [f32]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
    let upper = *upper as f64;
    if values.len() % 2 == 1 {
        return upper;
    }
    let lower = values[..mid].iter().copied().fold(f32::MIN, f32::max) as f64;
    (lower + upper) / 2.0
}

/// σ estimated robustly: the larger of 1.4826 × MAD and (p90 − p10) / 2.563.
fn spread(values: &mut [f32], median: f64) -> f64 {
    let n = values.len();
    let p10 = {
        let (_, v, _) = values.select_nth_unstable_by(n / 10, f32::total_cmp);
        *v as f64
    };
    let p90 = {
        let (_, v, _) = values.select_nth_unstable_by((n * 9) / 10, f32::total_cmp);
        *v as f64
    };
    let mut deviations: Vec<f32> = values
        .iter()
        .map(|v| (*v as f64 - median).abs() as f32)
        .collect();
    let mad = median_in_place(&mut deviations);
    (mad * MAD_TO_SIGMA).max((p90 - p10) / P10_P90_TO_SIGMA)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    /// 2026-11-02 00:00 UTC, a Monday.
    const MONDAY: i64 = 1_793_577_600_000;

    #[test]
    fn slots_start_the_week_on_monday() {
        // The weekday fallback depends on knowing which days are the weekend.
        assert_eq!(slot_of_week(MONDAY / SLOT_MS), 0);
        assert_eq!(
            slot_of_week((MONDAY + 5 * DAY) / SLOT_MS) / SLOTS_PER_DAY,
            5,
            "Saturday"
        );
    }

    #[test]
    fn the_model_is_silent_until_its_minimum_history_then_falls_back_by_level() {
        let mut model = Model::new(4, DAY, jiff::tz::TimeZone::UTC);
        for minute in 0..(DAY / MINUTE_MS - 1) {
            model.learn(MONDAY + minute * MINUTE_MS, 10.0 + (minute % 3) as f64);
        }
        // The last half hour is still being filled: 47 of the 48 needed.
        assert!(model.expect(MONDAY + DAY).is_none());
        assert!((model.learning() - 47.0 / 48.0).abs() < 1e-9);
        model.advance(MONDAY + DAY);
        let tuesday = model.expect(MONDAY + DAY).expect("a day learned");
        // One Monday seen: Tuesday's half hour falls back to weekdays.
        assert_eq!(tuesday.level, Level::DayType);
        assert_eq!(tuesday.median, 11.0);
        let saturday = model.expect(MONDAY + 5 * DAY).expect("a day learned");
        // No weekend seen yet: the same half hour on any day.
        assert_eq!(saturday.level, Level::Daily);
    }

    #[test]
    fn a_half_hour_with_too_few_values_is_not_learned() {
        // A restart or a gap leaves a partial half hour: it must not count as history.
        let mut model = Model::new(4, SLOT_MS, jiff::tz::TimeZone::UTC);
        for minute in 0..5 {
            model.learn(MONDAY + minute * MINUTE_MS, 1.0);
        }
        model.advance(MONDAY + SLOT_MS);
        assert_eq!(model.learning(), 0.0);
    }
}
