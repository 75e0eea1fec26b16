//! Alert rules and their states, as pure functions of what was observed — so the live
//! evaluator and the "when would it have fired over the last 24 h" preview are the same
//! code.
//!
//! A rule watches a condition per series (one alert per label set, identified by its
//! fingerprint): a threshold (`above`/`below` a value), the absence of data, or an open
//! baseline deviation. While the condition holds the alert is *pending*; once it has held
//! for the rule's `for` duration it *fires*; when the condition stops holding a firing alert
//! is *resolved* (a pending one simply stops). An alert that changes state `flap_changes`
//! times within `flap_window` is *flapping*: it is held firing — one notification, not one
//! per flip — until it has stayed calm for a whole window. `cooldown` keeps a resolved
//! alert from notifying again too soon after it last did.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::Labels;
use crate::notify::fingerprint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "INFO" => Some(Self::Info),
            "WARNING" => Some(Self::Warning),
            "ERROR" => Some(Self::Error),
            "CRITICAL" => Some(Self::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// The value is above (`true`) or below (`false`) the threshold.
    Threshold { above: bool, value: f64 },
    /// No value has been seen.
    Absent,
    /// A baseline deviation is open (the observation's value is its score).
    Deviation,
}

impl Condition {
    /// Whether an observation meets the condition (`None`: no value this round).
    pub fn holds(&self, value: Option<f64>) -> bool {
        match (self, value) {
            (
                Condition::Threshold {
                    above: true,
                    value: limit,
                },
                Some(v),
            ) => v > *limit,
            (
                Condition::Threshold {
                    above: false,
                    value: limit,
                },
                Some(v),
            ) => v < *limit,
            (Condition::Threshold { .. }, None) => false,
            (Condition::Absent, value) => value.is_none(),
            (Condition::Deviation, value) => value.is_some(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub condition: Condition,
    pub for_duration: Duration,
    pub severity: Severity,
    /// Added to every alert's labels (with `alertname` and `severity`).
    pub labels: Labels,
    pub annotations: Labels,
    pub runbook_url: String,
    pub cooldown: Duration,
    /// State changes within `flap_window` that make an alert flapping (0: never).
    pub flap_changes: u32,
    pub flap_window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Inactive,
    Pending { since_ms: i64 },
    Firing { since_ms: i64 },
}

/// One alert of a rule (one label set).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    pub labels: Labels,
    pub fingerprint: String,
    pub phase: Phase,
    /// Times the alert fired or resolved, within the flap window.
    changes: VecDeque<i64>,
    pub flapping: bool,
    /// While flapping: whether the condition held at the last evaluation (each change of
    /// it counts as a flip).
    underlying: bool,
    pub last_notified_ms: Option<i64>,
    /// When the series last had a value (an absence rule needs to remember it).
    pub last_seen_ms: i64,
}

/// A series not seen for this long (and at rest) is forgotten.
pub const FORGET_AFTER_MS: i64 = 86_400_000;

/// What an evaluation changed, for notifications and history.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Started firing (or, when `flapping`, started being held as flapping).
    Fired {
        fingerprint: String,
        labels: Labels,
        since_ms: i64,
        flapping: bool,
        /// False while `cooldown` since the last notification has not passed.
        notify: bool,
    },
    Resolved {
        fingerprint: String,
        labels: Labels,
        since_ms: i64,
        at_ms: i64,
    },
}

/// A rule's alerts and how they change.
#[derive(Debug, Clone)]
pub struct Evaluator {
    pub rule: Rule,
    pub alerts: BTreeMap<String, AlertState>,
}

impl Evaluator {
    pub fn new(rule: Rule) -> Self {
        Self {
            rule,
            alerts: BTreeMap::new(),
        }
    }

    /// Takes up an alert that was firing before a restart or failover (from its stored
    /// episode), so it goes on firing instead of starting a new episode.
    pub fn restore_firing(&mut self, labels: Labels, since_ms: i64, now_ms: i64) {
        let key = fingerprint(&labels);
        self.alerts.insert(
            key.clone(),
            AlertState {
                labels,
                fingerprint: key,
                phase: Phase::Firing { since_ms },
                changes: VecDeque::new(),
                flapping: false,
                underlying: true,
                last_notified_ms: Some(since_ms),
                last_seen_ms: now_ms,
            },
        );
    }

    /// The labels an alert of this rule carries for a series' labels.
    fn alert_labels(&self, series: &Labels) -> Labels {
        let mut labels = series.clone();
        labels.extend(self.rule.labels.clone());
        labels.insert("alertname".into(), self.rule.name.clone());
        labels.insert("severity".into(), self.rule.severity.as_str().into());
        labels
    }

    /// One round: every series' observation at `now_ms` (`None`: no value). Series the
    /// rule saw before and that are not observed now count as `None`.
    pub fn evaluate(
        &mut self,
        now_ms: i64,
        observations: &[(Labels, Option<f64>)],
    ) -> Vec<Transition> {
        let mut seen: BTreeMap<String, (Labels, Option<f64>)> = BTreeMap::new();
        for (series, value) in observations {
            let labels = self.alert_labels(series);
            seen.insert(fingerprint(&labels), (labels, *value));
        }
        for (key, state) in &self.alerts {
            seen.entry(key.clone())
                .or_insert_with(|| (state.labels.clone(), None));
        }
        let mut transitions = Vec::new();
        for (key, (labels, value)) in seen {
            let holds = self.rule.condition.holds(value);
            let state = self
                .alerts
                .entry(key.clone())
                .or_insert_with(|| AlertState {
                    labels: labels.clone(),
                    fingerprint: key.clone(),
                    phase: Phase::Inactive,
                    changes: VecDeque::new(),
                    flapping: false,
                    underlying: false,
                    last_notified_ms: None,
                    last_seen_ms: now_ms,
                });
            if value.is_some() {
                state.last_seen_ms = now_ms;
            }
            step(&self.rule, state, holds, now_ms, &mut transitions);
        }
        self.alerts.retain(|_, state| {
            state.phase != Phase::Inactive
                || !state.changes.is_empty()
                || now_ms - state.last_seen_ms < FORGET_AFTER_MS
        });
        transitions
    }
}

fn step(rule: &Rule, state: &mut AlertState, holds: bool, now_ms: i64, out: &mut Vec<Transition>) {
    let window = rule.flap_window.as_millis() as i64;
    while state.changes.front().is_some_and(|t| now_ms - t >= window) {
        state.changes.pop_front();
    }
    // A flapping alert is held firing until a whole window passes without a change.
    if state.flapping {
        if state.changes.is_empty() && !holds {
            if let Phase::Firing { since_ms } = state.phase {
                out.push(Transition::Resolved {
                    fingerprint: state.fingerprint.clone(),
                    labels: state.labels.clone(),
                    since_ms,
                    at_ms: now_ms,
                });
            }
            state.flapping = false;
            state.phase = Phase::Inactive;
        } else if state.underlying != holds {
            // Keep counting flips of the underlying condition: it must settle to end.
            state.changes.push_back(now_ms);
            state.underlying = holds;
        }
        return;
    }
    match (state.phase, holds) {
        (Phase::Inactive, true) => {
            state.phase = Phase::Pending { since_ms: now_ms };
            fire_if_due(rule, state, now_ms, out);
        }
        (Phase::Pending { .. }, true) => fire_if_due(rule, state, now_ms, out),
        (Phase::Pending { .. }, false) => state.phase = Phase::Inactive,
        (Phase::Firing { since_ms }, false) => {
            state.phase = Phase::Inactive;
            state.changes.push_back(now_ms);
            out.push(Transition::Resolved {
                fingerprint: state.fingerprint.clone(),
                labels: state.labels.clone(),
                since_ms,
                at_ms: now_ms,
            });
        }
        (Phase::Firing { .. }, true) | (Phase::Inactive, false) => {}
    }
}

fn fire_if_due(rule: &Rule, state: &mut AlertState, now_ms: i64, out: &mut Vec<Transition>) {
    let Phase::Pending { since_ms } = state.phase else {
        return;
    };
    if now_ms - since_ms < rule.for_duration.as_millis() as i64 {
        return;
    }
    state.phase = Phase::Firing { since_ms: now_ms };
    state.changes.push_back(now_ms);
    let flapping = rule.flap_changes > 0 && state.changes.len() >= rule.flap_changes as usize;
    let cooled = state
        .last_notified_ms
        .is_none_or(|last| now_ms - last >= rule.cooldown.as_millis() as i64);
    if flapping {
        state.flapping = true;
        state.underlying = true;
    }
    if cooled {
        state.last_notified_ms = Some(now_ms);
    }
    out.push(Transition::Fired {
        fingerprint: state.fingerprint.clone(),
        labels: state.labels.clone(),
        since_ms: now_ms,
        flapping,
        notify: cooled,
    });
}

/// A rule's annotations with `{{ labels.x }}` and `{{ value }}` filled in (Prometheus'
/// `$labels` and `$value`); an annotation that does not render is kept as written.
pub fn render_annotations(annotations: &Labels, labels: &Labels, value: Option<f64>) -> Labels {
    let mut environment = minijinja::Environment::new();
    environment.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    let context = minijinja::context! {
        labels => minijinja::value::Serde(labels),
        value => value,
    };
    annotations
        .iter()
        .map(|(name, text)| {
            let rendered = environment
                .render_str(text, context.clone())
                .unwrap_or_else(|_| text.clone());
            (name.clone(), rendered)
        })
        .collect()
}

/// When the rule would have fired over a history of one series (values in time order,
/// `None` for a round without data): each firing's start and end (`None` while it lasts).
pub fn preview(
    rule: &Rule,
    series: &Labels,
    values: &[(i64, Option<f64>)],
) -> Vec<(i64, Option<i64>)> {
    let mut evaluator = Evaluator::new(rule.clone());
    let mut firings: Vec<(i64, Option<i64>)> = Vec::new();
    for (t, value) in values {
        for transition in evaluator.evaluate(*t, &[(series.clone(), *value)]) {
            match transition {
                Transition::Fired { since_ms, .. } => firings.push((since_ms, None)),
                Transition::Resolved { at_ms, .. } => {
                    if let Some(last) = firings.last_mut() {
                        last.1 = Some(at_ms);
                    }
                }
            }
        }
    }
    firings
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    fn rule(for_minutes: u64) -> Rule {
        Rule {
            name: "HighErrorRate".into(),
            condition: Condition::Threshold {
                above: true,
                value: 0.05,
            },
            for_duration: Duration::from_secs(for_minutes * 60),
            severity: Severity::Critical,
            labels: Labels::new(),
            annotations: Labels::new(),
            runbook_url: "docs/runbook.md#high-error-rate".into(),
            cooldown: Duration::ZERO,
            flap_changes: 0,
            flap_window: Duration::from_secs(600),
        }
    }

    fn series(target: &str) -> Labels {
        [("target".to_owned(), target.to_owned())]
            .into_iter()
            .collect()
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved() {
        let mut evaluator = Evaluator::new(rule(2));
        let mut at = |minute: i64, value: f64| {
            evaluator.evaluate(minute * MINUTE, &[(series("a"), Some(value))])
        };
        assert!(at(0, 0.01).is_empty());
        assert!(at(1, 0.10).is_empty(), "pending: not two minutes yet");
        assert!(at(2, 0.10).is_empty(), "one minute of pending");
        let fired = at(3, 0.10);
        assert!(
            matches!(&fired[..], [Transition::Fired { notify: true, flapping: false, labels, .. }]
            if labels["alertname"] == "HighErrorRate" && labels["severity"] == "critical" && labels["target"] == "a")
        );
        assert!(at(4, 0.10).is_empty(), "still firing: no new transition");
        let resolved = at(5, 0.01);
        assert!(
            matches!(&resolved[..], [Transition::Resolved { since_ms, at_ms, .. }] if *since_ms == 3 * MINUTE && *at_ms == 5 * MINUTE)
        );
    }

    #[test]
    fn a_short_spike_only_pends_and_absence_is_a_condition_of_its_own() {
        let mut evaluator = Evaluator::new(rule(5));
        for minute in 0..3 {
            assert!(
                evaluator
                    .evaluate(minute * MINUTE, &[(series("a"), Some(0.2))])
                    .is_empty()
            );
        }
        assert!(
            evaluator
                .evaluate(3 * MINUTE, &[(series("a"), Some(0.0))])
                .is_empty(),
            "never fired"
        );

        let mut absent = rule(0);
        absent.condition = Condition::Absent;
        let mut evaluator = Evaluator::new(absent);
        assert!(
            evaluator
                .evaluate(0, &[(series("a"), Some(1.0))])
                .is_empty()
        );
        // The series stops reporting: with `for` 0 it fires at once.
        assert!(matches!(
            evaluator.evaluate(MINUTE, &[])[..],
            [Transition::Fired { .. }]
        ));
    }

    #[test]
    fn a_flapping_alert_is_held_and_notifies_once() {
        let mut flappy = rule(0);
        flappy.flap_changes = 3;
        flappy.flap_window = Duration::from_secs(600);
        let mut evaluator = Evaluator::new(flappy);
        let mut fired = 0;
        let mut resolved = 0;
        // Over, under, over, under… every minute for ten minutes.
        for minute in 0..10 {
            let value = if minute % 2 == 0 { 0.2 } else { 0.0 };
            for transition in evaluator.evaluate(minute * MINUTE, &[(series("a"), Some(value))]) {
                match transition {
                    Transition::Fired { .. } => fired += 1,
                    Transition::Resolved { .. } => resolved += 1,
                }
            }
        }
        // Fired, resolved, fired (third change: now flapping and held).
        assert_eq!((fired, resolved), (2, 1));
        assert!(evaluator.alerts.values().next().unwrap().flapping);
        // Calm for a whole window: resolved once, no longer flapping.
        let mut later = Vec::new();
        for minute in 10..25 {
            later.extend(evaluator.evaluate(minute * MINUTE, &[(series("a"), Some(0.0))]));
        }
        assert!(
            matches!(&later[..], [Transition::Resolved { .. }]),
            "{later:?}"
        );
    }

    #[test]
    fn cooldown_keeps_a_quick_refire_quiet_and_the_preview_lists_firings() {
        let mut cooled = rule(0);
        cooled.cooldown = Duration::from_secs(600);
        let mut evaluator = Evaluator::new(cooled.clone());
        let notify_flags: Vec<bool> = [0.2, 0.0, 0.2]
            .iter()
            .enumerate()
            .flat_map(|(minute, value)| {
                evaluator.evaluate(minute as i64 * MINUTE, &[(series("a"), Some(*value))])
            })
            .filter_map(|t| match t {
                Transition::Fired { notify, .. } => Some(notify),
                Transition::Resolved { .. } => None,
            })
            .collect();
        assert_eq!(
            notify_flags,
            [true, false],
            "the re-fire two minutes later is quiet"
        );

        let history: Vec<(i64, Option<f64>)> = (0..30)
            .map(|minute| {
                (
                    minute * MINUTE,
                    Some(if (10..15).contains(&minute) {
                        0.2
                    } else {
                        0.01
                    }),
                )
            })
            .collect();
        assert_eq!(
            preview(&rule(2), &series("a"), &history),
            [(12 * MINUTE, Some(15 * MINUTE))]
        );
    }
}
