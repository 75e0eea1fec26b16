//! The rolling z-score a user would write in PromQL instead (GitLab's recipe:
//! `(x - avg_over_time(x[1w])) / stddev_over_time(x[1w])`, alerting past 3σ), kept to
//! compare the baseline against it on the same data with the same `for` duration.

use std::collections::VecDeque;

use super::detect::{Change, Deviation, Runs};
use super::model::MINUTE_MS;

pub const WEEK_MS: i64 = 7 * 86_400_000;

#[derive(Debug, Clone)]
pub struct RollingZScore {
    window_ms: i64,
    values: VecDeque<(i64, f64)>,
    sum: f64,
    sum_squares: f64,
    first_ms: Option<i64>,
    runs: Runs,
}

impl RollingZScore {
    pub fn new(window_ms: i64, threshold: f64, for_ms: i64) -> Self {
        Self {
            window_ms,
            values: VecDeque::new(),
            sum: 0.0,
            sum_squares: 0.0,
            first_ms: None,
            runs: Runs::new(threshold, for_ms),
        }
    }

    /// Scores a value against the window before it (silent until one window has passed),
    /// then adds it to the window.
    pub fn push(&mut self, t_ms: i64, value: f64, changes: &mut Vec<Change>) -> Option<f64> {
        let first = *self.first_ms.get_or_insert(t_ms);
        while self
            .values
            .front()
            .is_some_and(|(t, _)| *t <= t_ms - self.window_ms)
        {
            let (_, old) = self.values.pop_front().expect("a front value");
            self.sum -= old;
            self.sum_squares -= old * old;
        }
        let n = self.values.len() as f64;
        let score = (t_ms - first >= self.window_ms - MINUTE_MS && n >= 2.0).then(|| {
            let mean = self.sum / n;
            let variance = (self.sum_squares / n - mean * mean).max(0.0);
            (value - mean) / variance.sqrt().max(1e-9)
        });
        self.runs.observe(t_ms, score, false, changes);
        self.values.push_back((t_ms, value));
        self.sum += value;
        self.sum_squares += value * value;
        score
    }

    pub fn finish(&mut self, changes: &mut Vec<Change>) -> Option<Deviation> {
        self.runs.finish(changes)
    }
}

/// Replays minute values through a rolling z-score: the deviations it raises.
pub fn replay(
    window_ms: i64,
    threshold: f64,
    for_ms: i64,
    values: &[(i64, f64)],
) -> Vec<Deviation> {
    let mut z = RollingZScore::new(window_ms, threshold, for_ms);
    let mut changes = Vec::new();
    for (t, value) in values {
        z.push(*t, *value, &mut changes);
    }
    let open = z.finish(&mut changes);
    super::detect::ended(changes, open)
}
