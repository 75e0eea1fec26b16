//! Progress of a job: done / total in a unit, the phase, the rate and the time left,
//! published at most ten times a second however often the job advances.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The fastest a job's progress reaches its watchers.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// One progress report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressReport {
    pub done: u64,
    /// None while the total is unknown.
    pub total: Option<u64>,
    /// What is counted: `entries`, `bytes`, `chunks`…
    pub unit: &'static str,
    pub phase: String,
    /// Units per second since the job started.
    pub rate: f64,
    /// Seconds left at that rate, when the total is known and the rate is not zero.
    pub eta_secs: Option<f64>,
}

type Sink = Arc<dyn Fn(ProgressReport) + Send + Sync>;

struct State {
    done: u64,
    total: Option<u64>,
    phase: String,
    last_sent: Option<Instant>,
}

/// Counts a job's progress and hands reports to `sink`, throttled. Cheap to clone.
#[derive(Clone)]
pub struct Progress {
    unit: &'static str,
    started: Instant,
    state: Arc<Mutex<State>>,
    sink: Sink,
}

impl Progress {
    pub fn new(unit: &'static str, sink: impl Fn(ProgressReport) + Send + Sync + 'static) -> Self {
        Self {
            unit,
            started: Instant::now(),
            state: Arc::new(Mutex::new(State {
                done: 0,
                total: None,
                phase: String::new(),
                last_sent: None,
            })),
            sink: Arc::new(sink),
        }
    }

    /// A progress that reports nowhere (callers that do not watch).
    pub fn silent(unit: &'static str) -> Self {
        Self::new(unit, |_| {})
    }

    pub fn set_total(&self, total: u64) {
        self.update(|state| state.total = Some(total), false);
    }

    /// Names the phase (always reported at once: phases change rarely).
    pub fn phase(&self, phase: impl Into<String>) {
        let phase = phase.into();
        self.update(|state| state.phase = phase, true);
    }

    pub fn advance(&self, by: u64) {
        self.update(|state| state.done += by, false);
    }

    pub fn set_done(&self, done: u64) {
        self.update(|state| state.done = done, false);
    }

    /// Sends the final state, whatever the throttle says.
    pub fn finish(&self) {
        self.update(|_| {}, true);
    }

    /// The state now (what the next report will say).
    pub fn report(&self) -> ProgressReport {
        let state = self.lock();
        self.report_of(&state)
    }

    fn update(&self, change: impl FnOnce(&mut State), force: bool) {
        let report = {
            let mut state = self.lock();
            change(&mut state);
            let now = Instant::now();
            let due = state
                .last_sent
                .is_none_or(|sent| now.duration_since(sent) >= MIN_INTERVAL);
            if !(force || due) {
                return;
            }
            state.last_sent = Some(now);
            self.report_of(&state)
        };
        (self.sink)(report);
    }

    fn report_of(&self, state: &State) -> ProgressReport {
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            state.done as f64 / elapsed
        } else {
            0.0
        };
        let eta_secs = match state.total {
            Some(total) if rate > 0.0 => Some(total.saturating_sub(state.done) as f64 / rate),
            _ => None,
        };
        ProgressReport {
            done: state.done,
            total: state.total,
            unit: self.unit,
            phase: state.phase.clone(),
            rate,
            eta_secs,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hot_loop_reports_at_most_ten_times_a_second() {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let seen = reports.clone();
        let progress = Progress::new("entries", move |report| seen.lock().unwrap().push(report));
        progress.set_total(1_000_000);
        let started = Instant::now();
        let mut n = 0;
        while started.elapsed() < Duration::from_millis(350) {
            progress.advance(1);
            n += 1;
        }
        progress.finish();
        let reports = reports.lock().unwrap();
        // 350 ms at 10 Hz: the first report, at most three more, and the final one.
        assert!(
            reports.len() <= 6,
            "{} reports for {n} advances",
            reports.len()
        );
        let last = reports.last().unwrap();
        assert_eq!(last.done, n, "the final report carries the final count");
        assert!(last.eta_secs.is_some() && last.rate > 0.0, "{last:?}");
    }
}
