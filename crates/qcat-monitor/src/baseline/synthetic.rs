//! Synthetic minute series with the patterns a trading desk's metrics have — a trading
//! day (Shanghai sessions, quiet nights and weekends, a burst at each opening), a smooth
//! daily wave, a steady latency — with noise and injected anomalies whose times are known.
//! Days and hours are Shanghai's (the desk's zone). Deterministic for a seed; used by the baseline's tests and benchmarks.

use super::model::MINUTE_MS;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Request rate of a trading application: sessions 09:30–11:30 and 13:00–15:00
    /// Shanghai time on weekdays (a burst in each session's first 15 minutes), 3 % of the
    /// level at night, 1 % at weekends.
    TradingDay,
    /// A smooth daily wave (±40 %) with weekends at 60 %.
    DailyWave,
    /// A level that does not follow the clock (a latency quantile).
    Steady,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnomalyKind {
    /// The value × `factor` for the whole duration.
    Step,
    /// The value × `factor`, usually short.
    Spike,
    /// From × 1 to × `factor` linearly over the duration.
    Drift,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub start_ms: i64,
    pub duration_ms: i64,
    pub factor: f64,
}

impl Anomaly {
    pub fn end_ms(&self) -> i64 {
        self.start_ms + self.duration_ms
    }

    fn factor_at(&self, t_ms: i64) -> f64 {
        if t_ms < self.start_ms || t_ms >= self.end_ms() {
            return 1.0;
        }
        match self.kind {
            AnomalyKind::Step | AnomalyKind::Spike => self.factor,
            AnomalyKind::Drift => {
                let share = (t_ms - self.start_ms) as f64 / self.duration_ms as f64;
                1.0 + (self.factor - 1.0) * share
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Series {
    pub shape: Shape,
    pub level: f64,
    /// σ of the noise as a share of the value.
    pub noise: f64,
    pub seed: u64,
    pub anomalies: Vec<Anomaly>,
}

impl Series {
    /// The series' value at a minute without noise or anomalies.
    pub fn expected(&self, t_ms: i64) -> f64 {
        // The desk's clock: Shanghai is UTC+8 all year.
        let local = t_ms + 8 * HOUR_MS;
        let weekday = (local.div_euclid(DAY_MS) + 3) % 7; // 0 = Monday
        let time_of_day = local.rem_euclid(DAY_MS);
        match self.shape {
            Shape::TradingDay => {
                if weekday >= 5 {
                    return self.level * 0.01;
                }
                let sessions = [(9 * 60 + 30, 11 * 60 + 30), (13 * 60, 15 * 60)];
                let minute = time_of_day / MINUTE_MS;
                for (open, close) in sessions {
                    if (open..close).contains(&minute) {
                        let since_open = (minute - open) as f64;
                        let burst = if since_open < 15.0 {
                            1.0 + 0.8 * (1.0 - since_open / 15.0)
                        } else {
                            1.0
                        };
                        return self.level * burst;
                    }
                }
                self.level * 0.03
            }
            Shape::DailyWave => {
                let phase = time_of_day as f64 / DAY_MS as f64;
                let wave = 1.0 + 0.4 * (2.0 * std::f64::consts::PI * phase).sin();
                let weekend = if weekday >= 5 { 0.6 } else { 1.0 };
                self.level * wave * weekend
            }
            Shape::Steady => self.level,
        }
    }

    /// Minute values from `start_ms` for `days`, with noise and the anomalies.
    pub fn generate(&self, start_ms: i64, days: i64) -> Vec<(i64, f64)> {
        let mut rng = Rng(self.seed.max(1));
        let minutes = days * DAY_MS / MINUTE_MS;
        (0..minutes)
            .map(|minute| {
                let t = start_ms + minute * MINUTE_MS;
                let factor: f64 = self.anomalies.iter().map(|a| a.factor_at(t)).product();
                let noise = 1.0 + self.noise * rng.normal();
                (t, (self.expected(t) * factor * noise).max(0.0))
            })
            .collect()
    }
}

/// Six anomalies of every kind at pseudo-random times in weeks 2–4 after `start_ms`, one
/// per 3.5-day stretch so two never overlap: steps up and down, two spikes, a drift, a
/// small step. The detection-quality test and benchmark score both detectors on these.
pub fn injected(seed: u64, start_ms: i64) -> Vec<Anomaly> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |range: i64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % range as u64) as i64
    };
    let kinds = [
        (AnomalyKind::Step, 2 * HOUR_MS, 1.3),
        (AnomalyKind::Step, 2 * HOUR_MS, 0.7),
        (AnomalyKind::Spike, 15 * MINUTE_MS, 2.0),
        (AnomalyKind::Spike, 20 * MINUTE_MS, 1.5),
        (AnomalyKind::Drift, 8 * HOUR_MS, 1.6),
        (AnomalyKind::Step, HOUR_MS, 1.25),
    ];
    kinds
        .iter()
        .enumerate()
        .map(|(i, (kind, duration_ms, factor))| {
            let stretch = 7 * DAY_MS + i as i64 * (3 * DAY_MS + 12 * HOUR_MS);
            let start =
                start_ms + stretch + next(3 * DAY_MS - *duration_ms) / MINUTE_MS * MINUTE_MS;
            Anomaly {
                kind: *kind,
                start_ms: start,
                duration_ms: *duration_ms,
                factor: *factor,
            }
        })
        .collect()
}

/// How a detector did on series with known anomalies.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quality {
    pub anomalies: usize,
    /// Anomalies overlapped by an event (within `for` after their end).
    pub found: usize,
    /// Events from `scored_from_ms` on that overlap no anomaly.
    pub false_alarms: usize,
}

impl Quality {
    /// Adds one series' result.
    pub fn score(
        &mut self,
        anomalies: &[Anomaly],
        deviations: &[super::detect::Deviation],
        for_ms: i64,
        scored_from_ms: i64,
    ) {
        let overlaps = |d: &super::detect::Deviation, a: &Anomaly| {
            let end = d.end_ms.unwrap_or(i64::MAX);
            d.start_ms < a.end_ms() + for_ms && end > a.start_ms
        };
        self.anomalies += anomalies.len();
        self.found += anomalies
            .iter()
            .filter(|a| deviations.iter().any(|d| overlaps(d, a)))
            .count();
        self.false_alarms += deviations
            .iter()
            .filter(|d| d.start_ms >= scored_from_ms)
            .filter(|d| !anomalies.iter().any(|a| overlaps(d, a)))
            .count();
    }
}

/// xorshift64* with Box–Muller normals: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next(), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}
