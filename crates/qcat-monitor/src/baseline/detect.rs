//! Deviation events from a series' minute values, live or replayed: each value is scored
//! against the profile learned from the values before it (so history replayed gives the
//! events the live system would have raised), and a run of scores past the threshold in
//! one direction becomes an event once it has lasted the `for` duration.
//!
//! A run ends when the score comes back inside the exit threshold (¾ of the threshold,
//! so a value hovering at the edge does not open and close events minute by minute), turns
//! the other way, the series goes quiet for longer than [`GAP_MS`], or a masked period
//! (incident, maintenance) begins. Masked values teach the profile nothing.

use serde::Serialize;

use super::model::{Expected, MINUTE_MS, Model};

/// Longer than this without a value ends a run: a gap is not a deviation.
pub const GAP_MS: i64 = 5 * MINUTE_MS;
/// A run continues while its score stays past this share of the threshold.
const EXIT_SHARE: f64 = 0.75;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The zone whose days and hours the profile follows.
    pub zone: jiff::tz::TimeZone,
    /// Occurrences kept per half hour of the week.
    pub weeks: usize,
    /// History learned before the baseline speaks.
    pub min_history_ms: i64,
    /// Robust units (≈ σ) a value must stray to count as deviating.
    pub threshold: f64,
    /// How long a deviation must last before it is an event.
    pub for_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            zone: jiff::tz::TimeZone::UTC,
            weeks: 4,
            min_history_ms: 7 * 86_400_000,
            threshold: 4.0,
            for_ms: 5 * MINUTE_MS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Above,
    Below,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }
}

/// A deviation that lasted its `for` duration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Deviation {
    pub start_ms: i64,
    /// When it ended; `None` while it lasts.
    pub end_ms: Option<i64>,
    /// When it became an event (start + `for`).
    pub raised_ms: i64,
    pub peak_score: f64,
    pub direction: Direction,
}

/// One scored value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    pub t_ms: i64,
    pub value: f64,
    pub expected: Option<Expected>,
}

impl Evaluation {
    pub fn score(&self) -> Option<f64> {
        self.expected.map(|expected| expected.score(self.value))
    }
}

/// What a pushed value changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// A run reached its `for` duration.
    Raised(Deviation),
    /// A raised deviation ended.
    Ended(Deviation),
}

#[derive(Debug, Clone)]
struct Run {
    start_ms: i64,
    last_ms: i64,
    direction: Direction,
    peak: f64,
    raised: bool,
}

impl Run {
    fn deviation(&self, end_ms: Option<i64>, for_ms: i64) -> Deviation {
        Deviation {
            start_ms: self.start_ms,
            end_ms,
            raised_ms: self.start_ms + for_ms,
            peak_score: self.peak,
            direction: self.direction,
        }
    }
}

/// Runs of scores past a threshold, turned into deviations once they last `for_ms`; shared
/// by the baseline and by the rolling z-score it is compared with.
#[derive(Debug, Clone)]
pub struct Runs {
    threshold: f64,
    for_ms: i64,
    run: Option<Run>,
    /// A raised run that came back inside the band, with when: it ends for good once it
    /// stays inside for `for_ms`, and resumes if it strays the same way before that (a
    /// slow drift wobbling around the threshold is one event, not five).
    closing: Option<(Run, i64)>,
    last_ms: Option<i64>,
}

impl Runs {
    pub fn new(threshold: f64, for_ms: i64) -> Self {
        Self {
            threshold,
            for_ms,
            run: None,
            closing: None,
            last_ms: None,
        }
    }

    /// The deviation in progress (or back inside the band for less than `for_ms`), if it
    /// has been raised.
    pub fn ongoing(&self) -> Option<Deviation> {
        self.run
            .as_ref()
            .filter(|run| run.raised)
            .or(self.closing.as_ref().map(|(run, _)| run))
            .map(|run| run.deviation(None, self.for_ms))
    }

    /// One minute: its score (`None` while the model learns), or masked.
    pub fn observe(
        &mut self,
        t_ms: i64,
        score: Option<f64>,
        masked: bool,
        changes: &mut Vec<Change>,
    ) {
        if let Some(last) = self.last_ms
            && t_ms - last > GAP_MS
        {
            self.end_run(last + MINUTE_MS, changes);
            self.settle(changes);
        }
        self.last_ms = Some(t_ms);
        if self
            .closing
            .as_ref()
            .is_some_and(|(_, since)| t_ms - since >= self.for_ms)
        {
            self.settle(changes);
        }
        let Some(score) = score.filter(|_| !masked) else {
            self.end_run(t_ms, changes);
            self.settle(changes);
            return;
        };
        let threshold = self.threshold;
        let direction = if score >= 0.0 {
            Direction::Above
        } else {
            Direction::Below
        };
        let continues = self
            .run
            .as_ref()
            .is_some_and(|run| run.direction == direction && score.abs() >= threshold * EXIT_SHARE);
        if continues {
            let run = self.run.as_mut().expect("a run continues");
            run.last_ms = t_ms;
            if score.abs() > run.peak.abs() {
                run.peak = score;
            }
        } else {
            self.end_run(t_ms, changes);
            if score.abs() >= threshold {
                self.run = match self.closing.take() {
                    Some((mut resumed, _)) if resumed.direction == direction => {
                        resumed.last_ms = t_ms;
                        if score.abs() > resumed.peak.abs() {
                            resumed.peak = score;
                        }
                        Some(resumed)
                    }
                    other => {
                        self.closing = other;
                        self.settle(changes);
                        Some(Run {
                            start_ms: t_ms,
                            last_ms: t_ms,
                            direction,
                            peak: score,
                            raised: false,
                        })
                    }
                };
            }
        }
        let for_ms = self.for_ms;
        if let Some(run) = self.run.as_mut()
            && !run.raised
            && run.last_ms + MINUTE_MS - run.start_ms >= for_ms
        {
            run.raised = true;
            changes.push(Change::Raised(run.deviation(None, for_ms)));
        }
    }

    /// A run stops; a raised one waits in `closing` for `for_ms` before it has ended.
    fn end_run(&mut self, end_ms: i64, changes: &mut Vec<Change>) {
        if let Some(run) = self.run.take()
            && run.raised
        {
            self.settle(changes);
            self.closing = Some((run, end_ms));
        }
    }

    /// The end of a replay: a deviation back inside the band has ended; one still out is
    /// returned open.
    pub fn finish(&mut self, changes: &mut Vec<Change>) -> Option<Deviation> {
        self.settle(changes);
        self.ongoing()
    }

    /// The closing deviation has ended, at the time it came back inside the band.
    fn settle(&mut self, changes: &mut Vec<Change>) {
        if let Some((run, end_ms)) = self.closing.take() {
            changes.push(Change::Ended(run.deviation(Some(end_ms), self.for_ms)));
        }
    }
}

#[derive(Debug, Clone)]
pub struct Detector {
    settings: Settings,
    model: Model,
    runs: Runs,
    last_ms: Option<i64>,
}

impl Detector {
    pub fn new(settings: Settings) -> Self {
        Self {
            model: Model::new(
                settings.weeks,
                settings.min_history_ms,
                settings.zone.clone(),
            ),
            runs: Runs::new(settings.threshold, settings.for_ms),
            last_ms: None,
            settings,
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// For ending the half hour being filled at a later time ([`Model::advance`]).
    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The deviation in progress, if it has been raised.
    pub fn ongoing(&self) -> Option<Deviation> {
        self.runs.ongoing()
    }

    /// See [`Runs::finish`].
    pub fn finish(&mut self, changes: &mut Vec<Change>) -> Option<Deviation> {
        self.runs.finish(changes)
    }

    /// Scores one minute's value against what came before, then learns it (unless
    /// `masked`). Values must come in time order; an older or repeated minute is ignored.
    pub fn push(
        &mut self,
        t_ms: i64,
        value: f64,
        masked: bool,
        changes: &mut Vec<Change>,
    ) -> Evaluation {
        if self.last_ms.is_some_and(|last| t_ms <= last) || !value.is_finite() {
            return Evaluation {
                t_ms,
                value,
                expected: None,
            };
        }
        self.last_ms = Some(t_ms);
        self.model.advance(t_ms);
        let expected = self.model.expect(t_ms);
        if !masked {
            self.model.learn(t_ms, value);
        }
        self.runs.observe(
            t_ms,
            expected.map(|expected| expected.score(value)),
            masked,
            changes,
        );
        Evaluation {
            t_ms,
            value,
            expected,
        }
    }
}

/// Replays minute values (time order) through a fresh detector: every evaluation and the
/// deviations raised, the last one open if it lasts to the end. `masked` says which times
/// belong to an incident or maintenance window.
pub fn replay(
    settings: &Settings,
    values: &[(i64, f64)],
    masked: impl Fn(i64) -> bool,
) -> (Vec<Evaluation>, Vec<Deviation>) {
    let mut detector = Detector::new(settings.clone());
    let mut changes = Vec::new();
    let evaluations = values
        .iter()
        .map(|(t, value)| detector.push(*t, *value, masked(*t), &mut changes))
        .collect();
    let open = detector.finish(&mut changes);
    (evaluations, ended(changes, open))
}

/// The deviations that ended, in order, then the one still open.
pub fn ended(changes: Vec<Change>, open: Option<Deviation>) -> Vec<Deviation> {
    changes
        .into_iter()
        .filter_map(|change| match change {
            Change::Ended(deviation) => Some(deviation),
            Change::Raised(_) => None,
        })
        .chain(open)
        .collect()
}
