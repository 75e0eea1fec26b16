//! Alert rules through the API: a rule's definition ([`RuleSpec`]) checked field by field,
//! stored and audited (saved against the version the editor saw), removed, and previewed
//! over the last 24 hours of stored data through the same evaluator the duty runs (when it
//! would have fired, and for how long).

use std::collections::BTreeMap;
use std::time::Duration;

use qcat_alert::Labels;
use qcat_alert::config::parse_duration;
use qcat_alert::rules::{Condition, Rule, Severity};
use qcat_audit::event::Outcome;
use qcat_monitor::tsdb::Selector;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{invalid, state_error};
use crate::access::SessionSlot;
use crate::{Api, ApiError};

/// The events a rule can watch.
pub const EVENTS: [&str; 6] = [
    "target_down",
    "backup_failed",
    "no_good_backup",
    "verify_damage",
    "audit_chain_break",
    "notifications_failing",
];

/// A rule as the editor and `qcatctl alert rules` write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RuleSpec {
    /// A name of letters, digits and `_` (it becomes the `alertname` label).
    pub name: String,
    /// `threshold`, `absence`, `deviation` or `event`.
    pub kind: String,
    /// A series selector (`app_error_ratio`, `app_endpoint_latency_seconds{quantile="0.99"}`)
    /// for threshold, absence and deviation rules.
    #[serde(default)]
    pub series: String,
    /// `>` or `<` (threshold rules).
    #[serde(default)]
    pub op: String,
    /// The threshold; for `no_good_backup`, the hours without a good backup.
    #[serde(default)]
    pub value: f64,
    /// One of [`EVENTS`] (event rules).
    #[serde(default)]
    pub event: String,
    /// How long the condition must hold before the alert fires (`0s`, `2m`).
    #[serde(rename = "for", default = "zero")]
    pub for_duration: String,
    /// `info`, `warning`, `error` or `critical`.
    pub severity: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`… (the runbook link goes in `runbookUrl`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub runbook_url: String,
    /// The least time between two notifications of one alert.
    #[serde(default = "zero")]
    pub cooldown: String,
    /// State changes within `flapWindow` that make an alert flapping (0: never).
    #[serde(default)]
    pub flap_changes: u32,
    #[serde(default = "ten_minutes")]
    pub flap_window: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn zero() -> String {
    "0s".into()
}

fn ten_minutes() -> String {
    "10m".into()
}

fn yes() -> bool {
    true
}

/// Where a rule's observations come from.
#[derive(Debug, Clone)]
pub enum RuleSource {
    /// A stored series' latest value (threshold), or its absence.
    Series(Selector),
    /// Open baseline deviations of the selected series.
    Deviations(Selector),
    /// An event (see [`EVENTS`]) with its parameter.
    Event(String, f64),
}

/// A checked rule: the evaluator's rule and where its data comes from.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: Rule,
    pub source: RuleSource,
}

fn duration(field: &str, text: &str) -> Result<Duration, ApiError> {
    parse_duration(text.trim()).ok_or_else(|| {
        invalid(
            field,
            format!("{text:?} is not a duration; write it like 0s, 30s, 5m or 1h"),
        )
    })
}

impl RuleSpec {
    /// Checks every field; the first problem is named with its fix.
    pub fn compile(&self) -> Result<CompiledRule, ApiError> {
        let name = self.name.trim();
        if name.is_empty()
            || name.len() > 80
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(invalid(
                "name",
                format!(
                    "{:?} is not a rule name; use letters, digits and '_' (not first), at most 80, e.g. HighErrorRate",
                    qcat_core::text::bounded(name, 80)
                ),
            ));
        }
        let severity = Severity::parse(&self.severity).ok_or_else(|| {
            invalid(
                "severity",
                format!("{:?}: use info, warning, error or critical", self.severity),
            )
        })?;
        let selector = |kind: &str| -> Result<Selector, ApiError> {
            if self.series.trim().is_empty() {
                return Err(invalid(
                    "series",
                    format!(
                        "a {kind} rule watches a series; give a selector such as app_error_ratio"
                    ),
                ));
            }
            Selector::parse(&self.series)
                .map_err(|why| invalid("series", format!("{:?}: {why}", self.series)))
        };
        let (condition, source) = match self.kind.as_str() {
            "threshold" => {
                let above = match self.op.as_str() {
                    ">" => true,
                    "<" => false,
                    other => {
                        return Err(invalid("op", format!("{other:?}: use > or <")));
                    }
                };
                if !self.value.is_finite() {
                    return Err(invalid("value", "give a finite number"));
                }
                (
                    Condition::Threshold {
                        above,
                        value: self.value,
                    },
                    RuleSource::Series(selector("threshold")?),
                )
            }
            "absence" => (Condition::Absent, RuleSource::Series(selector("absence")?)),
            "deviation" => (
                Condition::Deviation,
                RuleSource::Deviations(selector("deviation")?),
            ),
            "event" => {
                if !EVENTS.contains(&self.event.as_str()) {
                    return Err(invalid(
                        "event",
                        format!("{:?}: use one of {}", self.event, EVENTS.join(", ")),
                    ));
                }
                if self.event == "no_good_backup" && (self.value.is_nan() || self.value <= 0.0) {
                    return Err(invalid(
                        "value",
                        "give the hours without a good backup that raise the alert, e.g. 26",
                    ));
                }
                (
                    Condition::Deviation,
                    RuleSource::Event(self.event.clone(), self.value),
                )
            }
            other => {
                return Err(invalid(
                    "kind",
                    format!("{other:?}: use threshold, absence, deviation or event"),
                ));
            }
        };
        for (label, _) in self.labels.iter().chain(&self.annotations) {
            qcat_alert::matcher::Matcher::new(label, qcat_alert::matcher::MatchOp::Equal, "")
                .map_err(|err| invalid("labels", err.0))?;
        }
        let mut annotations: Labels = self
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !self.runbook_url.trim().is_empty() {
            let url = self.runbook_url.trim();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid(
                    "runbookUrl",
                    format!("{url:?} is not a link; give an http(s):// address"),
                ));
            }
            annotations.insert("runbook_url".into(), url.to_owned());
        }
        Ok(CompiledRule {
            rule: Rule {
                name: name.to_owned(),
                condition,
                for_duration: duration("for", &self.for_duration)?,
                severity,
                labels: self
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                annotations,
                runbook_url: self.runbook_url.trim().to_owned(),
                cooldown: duration("cooldown", &self.cooldown)?,
                flap_changes: self.flap_changes,
                flap_window: duration("flapWindow", &self.flap_window)?,
            },
            source,
        })
    }
}

/// A stored rule.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    pub rule: RuleSpec,
    #[ts(type = "number")]
    pub version: i64,
    pub updated_by: String,
    #[ts(type = "number")]
    pub updated_ms: i64,
    /// Its alerts firing now.
    pub firing: u32,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RuleSaveInput {
    pub rule: RuleSpec,
    /// The version the editor opened; 0 for a new rule; absent: whatever is stored.
    #[ts(type = "number | null")]
    pub seen_version: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RuleNameInput {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RulePreviewInput {
    pub rule: RuleSpec,
    /// How far back (default 24).
    #[serde(default)]
    pub hours: Option<u32>,
}

/// One firing the preview found.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PreviewFiring {
    #[ts(type = "number")]
    pub start_ms: i64,
    /// `null`: still firing at the end of the window.
    #[ts(type = "number | null")]
    pub end_ms: Option<i64>,
}

/// One series of the preview: its minute values and when the rule would have fired.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PreviewSeries {
    pub series: String,
    #[ts(type = "Array<[number, number | null]>")]
    pub points: Vec<(i64, Option<f64>)>,
    pub firings: Vec<PreviewFiring>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RulePreview {
    #[ts(type = "number")]
    pub from_ms: i64,
    #[ts(type = "number")]
    pub to_ms: i64,
    /// At most 20 series (the ones that would have fired first).
    pub series: Vec<PreviewSeries>,
    /// Firings over every matched series.
    pub total_firings: u32,
    /// Series the selector matched.
    pub matched: u32,
    /// Why there is nothing to replay (event rules).
    pub note: Option<String>,
}

const MINUTE_MS: i64 = 60_000;

impl Api {
    /// Every rule with its version and how many of its alerts fire now.
    pub async fn alert_rules(&self, slot: &SessionSlot) -> Result<Vec<RuleView>, ApiError> {
        self.guard(slot, "alert_rules").await?;
        let store = self.store()?;
        let now = qcat_core::time::now_ms();
        let firing = qcat_alert::state::firing(store, now)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        let rules = qcat_alert::state::rules(store)
            .await
            .map_err(|err| ApiError::store_failure(&err))?;
        Ok(rules
            .into_iter()
            .filter_map(|stored| {
                let rule: RuleSpec = serde_json::from_str(&stored.definition).ok()?;
                let source = format!("rule:{}", stored.name);
                Some(RuleView {
                    firing: firing.iter().filter(|e| e.source == source).count() as u32,
                    rule,
                    version: stored.version,
                    updated_by: stored.updated_by,
                    updated_ms: stored.updated_ms,
                })
            })
            .collect())
    }

    /// Saves a rule (checked first, every problem named), audited.
    pub async fn alert_rule_save(
        &self,
        slot: &SessionSlot,
        input: RuleSaveInput,
    ) -> Result<RuleView, ApiError> {
        let proof = self.guard(slot, "alert_rule_save").await?;
        let target = format!("alert:rule:{}", input.rule.name.trim());
        let result = async {
            let compiled = input.rule.compile()?;
            let mut rule = input.rule.clone();
            rule.name = compiled.rule.name.clone();
            let definition = serde_json::to_string(&rule)
                .map_err(|err| ApiError::internal_in("alert_rule_save", &err))?;
            let event = proof.event(
                "alert.rule.save",
                format!("alert:rule:{}", rule.name),
                Outcome::Ok,
            );
            let version = qcat_alert::state::save_rule(
                self.store()?,
                &rule.name,
                &definition,
                input.seen_version,
                event,
            )
            .await
            .map_err(state_error)?;
            self.inner.alert.wake.notify_one();
            Ok(RuleView {
                rule,
                version,
                updated_by: String::new(),
                updated_ms: qcat_core::time::now_ms(),
                firing: 0,
            })
        }
        .await;
        self.audit_refusal(&proof, "alert.rule.save", &target, result)
            .await
    }

    pub async fn alert_rule_remove(
        &self,
        slot: &SessionSlot,
        input: RuleNameInput,
    ) -> Result<(), ApiError> {
        let proof = self.guard(slot, "alert_rule_remove").await?;
        let target = format!("alert:rule:{}", input.name.trim());
        let result = async {
            let event = proof.event(
                "alert.rule.remove",
                format!("alert:rule:{}", input.name),
                Outcome::Ok,
            );
            qcat_alert::state::remove_rule(self.store()?, input.name.trim(), event)
                .await
                .map_err(state_error)?;
            self.inner.alert.wake.notify_one();
            Ok(())
        }
        .await;
        self.audit_refusal(&proof, "alert.rule.remove", &target, result)
            .await
    }

    /// When a rule would have fired over the last hours (24 by default): each matched
    /// series' minute values replayed through the rule's evaluator — `for`, flap damping
    /// and all — or, for a deviation rule, the stored deviation events.
    pub async fn alert_rule_preview(
        &self,
        slot: &SessionSlot,
        input: RulePreviewInput,
    ) -> Result<RulePreview, ApiError> {
        self.guard(slot, "alert_rule_preview").await?;
        let compiled = input.rule.compile()?;
        let hours = i64::from(input.hours.unwrap_or(24).clamp(1, 24 * 7));
        let now = qcat_core::time::now_ms();
        let to_ms = now.div_euclid(MINUTE_MS) * MINUTE_MS;
        let from_ms = to_ms - hours * 3_600_000;
        let mut preview = RulePreview {
            from_ms,
            to_ms,
            series: Vec::new(),
            total_firings: 0,
            matched: 0,
            note: None,
        };
        let selector = match &compiled.source {
            RuleSource::Series(selector) | RuleSource::Deviations(selector) => selector.clone(),
            RuleSource::Event(..) => {
                preview.note = Some(
                    "an event rule has no stored series to replay; it fires when the event happens"
                        .into(),
                );
                return Ok(preview);
            }
        };
        let metrics = self.metrics().await?;
        let found = metrics
            .series(&selector)
            .await
            .map_err(crate::monitor::metric_error)?;
        preview.matched = found.len() as u32;
        let deviations = match &compiled.source {
            RuleSource::Deviations(_) => Some(
                qcat_monitor::baseline::store::deviations(
                    self.store()?,
                    from_ms,
                    to_ms,
                    None,
                    10_000,
                )
                .await
                .map_err(|err| ApiError::store_failure(&err))?,
            ),
            _ => None,
        };
        let mut all = Vec::new();
        for info in &found {
            let means = metrics
                .minute_means(info, from_ms, to_ms)
                .await
                .map_err(crate::monitor::metric_error)?;
            let by_minute: BTreeMap<i64, f64> = means.into_iter().collect();
            let key = info.key.canonical();
            let values: Vec<(i64, Option<f64>)> = (0..hours * 60)
                .map(|i| {
                    let t = from_ms + i * MINUTE_MS;
                    let value = match &deviations {
                        // A deviation rule holds while a stored event of the series is open.
                        Some(events) => events
                            .iter()
                            .find(|d| {
                                d.series == key
                                    && d.deviation.raised_ms <= t
                                    && d.deviation.end_ms.is_none_or(|end| t < end)
                            })
                            .map(|d| d.deviation.peak_score),
                        None => by_minute.get(&t).copied(),
                    };
                    (t, value)
                })
                .collect();
            let labels: Labels = info
                .key
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let firings = qcat_alert::rules::preview(&compiled.rule, &labels, &values);
            preview.total_firings += firings.len() as u32;
            let points = values
                .iter()
                .map(|(t, _)| (*t, by_minute.get(t).copied()))
                .collect();
            all.push(PreviewSeries {
                series: key,
                points,
                firings: firings
                    .into_iter()
                    .map(|(start_ms, end_ms)| PreviewFiring { start_ms, end_ms })
                    .collect(),
            });
        }
        // The series that fired first come first; then by name.
        all.sort_by_key(|s| {
            (
                s.firings.first().map_or(i64::MAX, |f| f.start_ms),
                s.series.clone(),
            )
        });
        all.truncate(20);
        preview.series = all;
        Ok(preview)
    }
}
