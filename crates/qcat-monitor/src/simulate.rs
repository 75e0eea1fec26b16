//! A simulated QCAT trading application for demos and tests: what its `/metrics` would
//! serve. Requests per endpoint with a trading-day pattern (Shanghai hours: quiet at night,
//! peaks at the opening of each session), lognormal latencies in a histogram, a small share
//! of errors, orders and trades, an in-flight gauge. Time can run faster (`time_scale`: a
//! day in 24 h / scale). Incidents can be injected: a latency step, an error burst, an
//! outage (the endpoint answers 503); and a release can make requests slower for good
//! ([`Simulator::set_release`]: a regression to find against a named baseline). [`history`]
//! gives the series the collector would have stored over a past period (the demo's
//! backfill, tests).
//!
//! Deterministic for a seed: the same seed and the same scrape times give the same text.

use std::fmt::Write as _;

/// Latency bucket bounds (seconds), as a Go client's defaults.
const BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The endpoints: path, method, share of requests, median latency (s).
const ENDPOINTS: [(&str, &str, f64, f64); 5] = [
    ("/order/submit", "POST", 0.25, 0.018),
    ("/order/cancel", "POST", 0.10, 0.012),
    ("/market/quote", "GET", 0.45, 0.004),
    ("/account/positions", "GET", 0.15, 0.030),
    ("/risk/check", "POST", 0.05, 0.045),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentKind {
    /// Every latency ×8.
    Latency,
    /// 15 % of requests fail with 500.
    Errors,
    /// `/metrics` answers 503.
    Outage,
}

impl IncidentKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "latency" => Some(Self::Latency),
            "errors" | "error-burst" => Some(Self::Errors),
            "outage" => Some(Self::Outage),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Errors => "errors",
            Self::Outage => "outage",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Incident {
    pub kind: IncidentKind,
    pub until_ms: i64,
}

pub struct Simulator {
    rng: u64,
    scale: f64,
    /// Real and simulated time at start.
    started_ms: i64,
    simulated_start_ms: i64,
    /// Real time the state was last advanced to.
    advanced_ms: i64,
    /// Requests that did not yet make a whole request (fractions carry over).
    carry: f64,
    requests: Vec<[f64; 3]>,
    /// Per endpoint: bucket counts (not cumulative), sum, count.
    latency: Vec<([f64; 11], f64, f64)>,
    orders: [f64; 4],
    order_latency: ([f64; 11], f64, f64),
    trades: f64,
    in_flight: f64,
    pub incidents: Vec<Incident>,
    /// Base request rate at the busiest time of day (per second).
    pub peak_rate: f64,
    /// Per endpoint, its latencies are multiplied by this (1.0: as released; 1.2: a
    /// release 20 % slower there).
    latency_factors: [f64; ENDPOINTS.len()],
    /// At most this many requests are drawn per advance; the rest are counted with the
    /// drawn ones' outcomes (a long pause, or a history made quickly).
    pub max_draws: f64,
}

/// Codes a request ends with, in the `requests` arrays' order.
const CODES: [&str; 3] = ["200", "400", "500"];
const ORDER_STATES: [(&str, &str); 4] = [
    ("buy", "filled"),
    ("sell", "filled"),
    ("buy", "rejected"),
    ("sell", "rejected"),
];

impl Simulator {
    pub fn new(seed: u64, time_scale: f64, now_ms: i64) -> Self {
        Self {
            rng: seed.max(1),
            scale: time_scale.max(1.0),
            started_ms: now_ms,
            simulated_start_ms: now_ms,
            advanced_ms: now_ms,
            carry: 0.0,
            requests: vec![[0.0; 3]; ENDPOINTS.len()],
            latency: vec![([0.0; 11], 0.0, 0.0); ENDPOINTS.len()],
            orders: [0.0; 4],
            order_latency: ([0.0; 11], 0.0, 0.0),
            trades: 0.0,
            in_flight: 0.0,
            incidents: Vec::new(),
            peak_rate: 200.0,
            latency_factors: [1.0; ENDPOINTS.len()],
            max_draws: 20_000.0,
        }
    }

    /// A release from now on: every latency of `endpoint` (a path such as `/order/submit`;
    /// `None`: every endpoint) × `factor`.
    pub fn set_release(&mut self, endpoint: Option<&str>, factor: f64) -> Result<(), String> {
        if !(factor.is_finite() && (0.1..=100.0).contains(&factor)) {
            return Err("the latency factor is a number from 0.1 to 100 (1.2: 20 % slower)".into());
        }
        match endpoint {
            None => self.latency_factors = [factor; ENDPOINTS.len()],
            Some(path) => {
                let index = ENDPOINTS
                    .iter()
                    .position(|(p, ..)| *p == path)
                    .ok_or_else(|| {
                        let known: Vec<&str> = ENDPOINTS.iter().map(|(p, ..)| *p).collect();
                        format!(
                            "no endpoint {path:?}; the simulator serves {}",
                            known.join(", ")
                        )
                    })?;
                self.latency_factors[index] = factor;
            }
        }
        Ok(())
    }

    /// Starts an incident lasting `duration_ms` of real time.
    pub fn inject(&mut self, kind: IncidentKind, now_ms: i64, duration_ms: i64) {
        self.incidents.retain(|incident| incident.kind != kind);
        self.incidents.push(Incident {
            kind,
            until_ms: now_ms + duration_ms,
        });
    }

    fn active(&self, kind: IncidentKind, now_ms: i64) -> bool {
        self.incidents
            .iter()
            .any(|incident| incident.kind == kind && now_ms < incident.until_ms)
    }

    /// The simulated wall-clock time for a real time.
    pub fn simulated_ms(&self, now_ms: i64) -> i64 {
        self.simulated_start_ms + ((now_ms - self.started_ms) as f64 * self.scale) as i64
    }

    /// Share of the peak rate at a simulated time: a trading day in Shanghai (UTC+8),
    /// sessions 09:30–11:30 and 13:00–15:00 with bursts at each open, a quiet night.
    pub fn day_shape(simulated_ms: i64) -> f64 {
        let hour = ((simulated_ms / 1000 + 8 * 3600).rem_euclid(86_400)) as f64 / 3600.0;
        let session = |open: f64, close: f64| {
            if hour < open || hour > close {
                0.0
            } else {
                // A burst after the open that settles, and a pick-up before the close.
                let since = hour - open;
                0.7 + 0.3 * (-since * 3.0).exp() + 0.15 * ((hour - close + 0.5).max(0.0) * 2.0)
            }
        };
        let trading = session(9.5, 11.5).max(session(13.0, 15.0));
        let evening = if (15.0..21.0).contains(&hour) {
            0.15
        } else {
            0.0
        };
        (0.03 + trading + evening).min(1.0)
    }

    fn random(&mut self) -> f64 {
        // xorshift64*: plenty for a simulation, reproducible for a seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        // Box–Muller.
        let (u, v) = (self.random().max(1e-12), self.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    fn observe(buckets: &mut ([f64; 11], f64, f64), value: f64) {
        let slot = BOUNDS
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(BOUNDS.len());
        buckets.0[slot] += 1.0;
        buckets.1 += value;
        buckets.2 += 1.0;
    }

    /// Advances the counters to `now_ms` (real time).
    pub fn advance(&mut self, now_ms: i64) {
        let elapsed = (now_ms - self.advanced_ms).max(0) as f64 / 1000.0;
        self.advanced_ms = self.advanced_ms.max(now_ms);
        if elapsed == 0.0 {
            return;
        }
        let shape = Self::day_shape(self.simulated_ms(now_ms));
        let rate = self.peak_rate * shape * (1.0 + 0.1 * self.normal()).max(0.2);
        let slow = if self.active(IncidentKind::Latency, now_ms) {
            8.0
        } else {
            1.0
        };
        let error_share = if self.active(IncidentKind::Errors, now_ms) {
            0.15
        } else {
            0.002
        };
        let wanted = rate * elapsed + self.carry;
        // At most `max_draws` per scrape: a long pause between scrapes is summarised.
        let count = wanted.floor().min(self.max_draws.max(1.0));
        self.carry = wanted - wanted.floor();
        let weight = (wanted.floor() / count.max(1.0)).max(1.0);
        for _ in 0..count as usize {
            let pick = self.random();
            let mut cumulative = 0.0;
            let mut endpoint = ENDPOINTS.len() - 1;
            for (index, (_, _, share, _)) in ENDPOINTS.iter().enumerate() {
                cumulative += share;
                if pick < cumulative {
                    endpoint = index;
                    break;
                }
            }
            let median = ENDPOINTS[endpoint].3
                * slow
                * self.latency_factors[endpoint]
                * (1.0 + 0.5 * (1.0 - shape));
            let latency = median * (0.6 * self.normal()).exp();
            let outcome = self.random();
            let code = if outcome < error_share {
                2
            } else if outcome < error_share + 0.01 {
                1
            } else {
                0
            };
            self.requests[endpoint][code] += weight;
            for _ in 0..weight as usize {
                Self::observe(&mut self.latency[endpoint], latency);
            }
            if endpoint == 0 {
                let side = usize::from(self.random() < 0.5);
                let state = if code == 0 { side } else { side + 2 };
                self.orders[state] += weight;
                Self::observe(&mut self.order_latency, latency * 1.4);
                if code == 0 && self.random() < 0.6 {
                    self.trades += weight;
                }
            }
        }
        self.in_flight = (rate * 0.02 * slow * (1.0 + 0.3 * self.normal()))
            .max(0.0)
            .round();
    }

    /// The `/metrics` text at `now_ms`; `None` during an outage.
    pub fn render(&mut self, now_ms: i64) -> Option<String> {
        self.advance(now_ms);
        if self.active(IncidentKind::Outage, now_ms) {
            return None;
        }
        let mut out = String::with_capacity(16 * 1024);
        let _ = writeln!(
            out,
            "# HELP qcat_http_requests_total HTTP requests handled, by endpoint and status code."
        );
        let _ = writeln!(out, "# TYPE qcat_http_requests_total counter");
        for (index, (path, method, _, _)) in ENDPOINTS.iter().enumerate() {
            for (code, count) in CODES.iter().zip(self.requests[index]) {
                let _ = writeln!(
                    out,
                    "qcat_http_requests_total{{method=\"{method}\",path=\"{path}\",code=\"{code}\"}} {count}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP qcat_http_request_duration_seconds Time to answer an HTTP request."
        );
        let _ = writeln!(out, "# TYPE qcat_http_request_duration_seconds histogram");
        for (index, (path, _, _, _)) in ENDPOINTS.iter().enumerate() {
            write_histogram(
                &mut out,
                "qcat_http_request_duration_seconds",
                &format!("path=\"{path}\","),
                &self.latency[index],
            );
        }
        let _ = writeln!(
            out,
            "# HELP qcat_http_requests_in_flight Requests being handled now."
        );
        let _ = writeln!(out, "# TYPE qcat_http_requests_in_flight gauge");
        let _ = writeln!(out, "qcat_http_requests_in_flight {}", self.in_flight);
        let _ = writeln!(
            out,
            "# HELP qcat_orders_total Orders submitted, by side and outcome."
        );
        let _ = writeln!(out, "# TYPE qcat_orders_total counter");
        for ((side, status), count) in ORDER_STATES.iter().zip(self.orders) {
            let _ = writeln!(
                out,
                "qcat_orders_total{{side=\"{side}\",status=\"{status}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP qcat_order_latency_seconds Time from order submission to the exchange's acknowledgement."
        );
        let _ = writeln!(out, "# TYPE qcat_order_latency_seconds histogram");
        write_histogram(
            &mut out,
            "qcat_order_latency_seconds",
            "",
            &self.order_latency,
        );
        let _ = writeln!(out, "# HELP qcat_trades_total Trades executed.");
        let _ = writeln!(out, "# TYPE qcat_trades_total counter");
        let _ = writeln!(out, "qcat_trades_total {}", self.trades);
        let _ = writeln!(
            out,
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds."
        );
        let _ = writeln!(out, "# TYPE process_start_time_seconds gauge");
        let _ = writeln!(out, "process_start_time_seconds {}", self.started_ms / 1000);
        Some(out)
    }
}

fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    (counts, sum, count): &([f64; 11], f64, f64),
) {
    let mut cumulative = 0.0;
    for (index, bound) in BOUNDS.iter().enumerate() {
        cumulative += counts[index];
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
    let trimmed = labels.trim_end_matches(',');
    let braces = if trimmed.is_empty() {
        String::new()
    } else {
        format!("{{{trimmed}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {sum}");
    let _ = writeln!(out, "{name}_count{braces} {count}");
}

/// The application's derived series (`app_*`, labelled `target=TARGET`) as the collector
/// would have stored them, one reading every `step_ms` over `[from_ms, until_ms)` (the
/// first reading only starts the counters). `before_step` runs before each reading, to
/// change the simulator mid-way (a release). Only derived series: the raw counters of a
/// made-up past would be a counter reset next to a live target's.
pub fn history(
    simulator: &mut Simulator,
    target: &str,
    from_ms: i64,
    until_ms: i64,
    step_ms: i64,
    mut before_step: impl FnMut(&mut Simulator, i64),
) -> Vec<(crate::tsdb::SeriesKey, Vec<(i64, f64)>)> {
    let mut scrapes = crate::collect::Scrapes::default();
    let mut series: std::collections::BTreeMap<String, (crate::tsdb::SeriesKey, Vec<(i64, f64)>)> =
        std::collections::BTreeMap::new();
    let mut at = from_ms - step_ms;
    while at < until_ms {
        before_step(simulator, at);
        if let Some(text) = simulator.render(at)
            && let Ok(mut reading) = scrapes.read(&text, at)
        {
            crate::collect::label_with_target(&mut reading, target);
            for (key, t, value) in reading.samples {
                if t >= from_ms && key.name.starts_with("app_") {
                    series
                        .entry(key.canonical())
                        .or_insert_with(|| (key, Vec::new()))
                        .1
                        .push((t, value));
                }
            }
        }
        at += step_ms;
    }
    series.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{parse, quantile::histograms};

    #[test]
    fn the_output_parses_and_counters_only_grow() {
        let start = 1_767_240_000_000; // a weekday, 12:00 Shanghai
        let mut simulator = Simulator::new(7, 1.0, start);
        let first = parse(&simulator.render(start + 1000).unwrap()).unwrap();
        let second = parse(&simulator.render(start + 11_000).unwrap()).unwrap();
        assert_eq!(first.len(), second.len(), "the same families each scrape");
        let total = |families: &[crate::exposition::Family]| -> f64 {
            families[0].samples.iter().map(|s| s.value).sum()
        };
        assert!(total(&second) > total(&first), "requests keep arriving");
        assert!(
            histograms(&second)
                .iter()
                .all(|h| h.count.unwrap_or(0.0) >= 0.0)
        );
    }

    #[test]
    fn a_latency_incident_raises_the_quantiles_and_an_outage_serves_nothing() {
        let start = 1_767_231_000_000; // 09:30 Shanghai: the morning open
        let mut simulator = Simulator::new(11, 1.0, start);
        simulator.render(start);
        let p99 = |sim: &mut Simulator, at: i64| {
            let before = histograms(&parse(&sim.render(at).unwrap()).unwrap());
            let after = histograms(&parse(&sim.render(at + 10_000).unwrap()).unwrap());
            let submit = |hs: &[crate::exposition::quantile::Histogram]| {
                hs.iter()
                    .find(|h| h.labels.get("path").map(String::as_str) == Some("/order/submit"))
                    .unwrap()
                    .buckets
                    .clone()
            };
            let grown: Vec<(f64, f64)> = submit(&before)
                .iter()
                .zip(submit(&after))
                .map(|((bound, a), (_, b))| (*bound, b - a))
                .collect();
            crate::exposition::quantile::bucket_quantile(0.99, grown)
        };
        let calm = p99(&mut simulator, start + 10_000);
        simulator.inject(IncidentKind::Latency, start + 30_000, 60_000);
        let slow = p99(&mut simulator, start + 40_000);
        assert!(slow > calm * 3.0, "latency step: P99 {calm} → {slow}");
        simulator.inject(IncidentKind::Outage, start + 60_000, 5_000);
        assert!(
            simulator.render(start + 61_000).is_none(),
            "an outage answers nothing"
        );
        assert!(
            simulator.render(start + 66_000).is_some(),
            "and ends on time"
        );
    }
}
